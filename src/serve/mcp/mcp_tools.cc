#include "serve/mcp/mcp_tools.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "common/config_table.h"
#include "common/error.h"
#include "common/logging.h"
#include "common/rfc3339.h"
#include "store/sql_guard/query_params.h"
#include "store/sql_guard/sql_guard.h"
#include "store/sql_guard/sql_lexer.h"

namespace kobs::serve::mcp {
namespace sql_guard = kobs::store::sql_guard;
namespace {

constexpr int kTimeoutExceeded = 159;
constexpr int kQueryWasCancelled = 394;
constexpr int64_t kMaxSafeInteger = 9007199254740991;  // 2^53 - 1: what a JSON reader keeps exactly
constexpr size_t kMaxPageTokens = 100;                 // as the official server's cache

// A failure the agent reads: the result has isError and this text.
struct ToolFailure {
  std::string message;
};

Json textResult(const std::string& text, bool is_error) {
  Json r;
  r["content"] = Json::array({Json{{"type", "text"}, {"text", text}}});
  if (!is_error) r["structuredContent"] = Json{{"result", text}};
  r["isError"] = is_error;
  return r;
}

// Integers beyond 2^53 become decimal strings (the official server does the
// same): JSON readers in JavaScript would round them.
void makeSafe(Json& v) {
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > uint64_t(kMaxSafeInteger)) v = std::to_string(v.get<uint64_t>());
  } else if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i > kMaxSafeInteger || i < -kMaxSafeInteger) v = std::to_string(i);
  } else if (v.is_structured()) {
    for (auto& e : v) makeSafe(e);
  }
}

std::optional<std::string> optString(const Json& args, const char* key) {
  auto it = args.find(key);
  if (it == args.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw InvalidParams{fmt::format("argument {} must be a string", key)};
  return it->get<std::string>();
}

std::string requiredString(const Json& args, const char* key) {
  auto v = optString(args, key);
  if (!v) throw InvalidParams{fmt::format("missing required argument {}", key)};
  return *v;
}

// "2026-03-15T10:00:00Z" (RFC 3339) or a duration back from now ("1h", "30m", "7d").
int64_t parseTime(const std::string& text, const char* key) {
  if (auto ns = rfc3339::parseNanos(text)) return *ns;
  if (auto d = config::parseDuration(text)) {
    const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    return now - std::chrono::duration_cast<std::chrono::nanoseconds>(*d).count();
  }
  throw InvalidParams{fmt::format("argument {}: '{}' is neither an RFC 3339 time (2026-03-15T10:00:00Z) nor a "
                                  "duration back from now (1h, 30m, 7d)",
                                  key, text)};
}

std::string timeLiteral(int64_t ns) { return fmt::format("fromUnixTimestamp64Nano(toInt64({}))", ns); }

// ClickHouse's text of a failed query, without kobs's context.
std::string storeMessage(const Exception& e) {
  std::string what = e.what();
  if (auto pos = what.find("Code: "); pos != std::string::npos) what = what.substr(pos);
  if (auto q = what.rfind(" [query: "); q != std::string::npos) what.resize(q);
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
  return what;
}

// {name:Type} placeholders bound from `params` as typed literals (the
// official server binds them server-side; the embedded store has no binding,
// so both stores get literals).
std::string bindParams(const std::string& sql, const Json& params) {
  if (params.is_null()) return sql;
  if (!params.is_object()) throw InvalidParams{"argument params must be an object"};
  return sql_guard::bindQueryParams(
      sql,
      [&](const std::string& name) -> std::optional<sql_guard::ParamValue> {
        auto it = params.find(name);
        if (it == params.end()) return std::nullopt;
        if (it->is_null()) return sql_guard::ParamValue{{}, true};
        return sql_guard::ParamValue{it->is_string() ? it->get<std::string>() : it->dump()};
      },
      [](const std::string& name) {
        throw ToolFailure{fmt::format("Query execution failed: parameter {} is not set", name)};
      });
}

std::string dumpText(const Json& v) { return v.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

std::string randomId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw Exception(ErrorCode::kInternal, "RAND_bytes failed");
  std::string out;
  for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

McpTools::McpTools(store::IStore& readonly, ToolsOptions options, metrics::Registry* metrics)
    : store_(readonly), options_(std::move(options)), tag_prefix_("kobs-mcp-" + randomId().substr(0, 12) + "-") {
  if (metrics) {
    query_seconds_ = &metrics->histogram("kobs_mcp_query_duration_seconds",
                                         "Time of the store queries MCP tools run.",
                                         metrics::Histogram::defaultSecondsBuckets());
    rewritten_ = &metrics->counter("kobs_mcp_queries_rewritten_total",
                                   "MCP queries run through the logs table's materialized lookups or items index.");
    truncated_ = &metrics->counter("kobs_mcp_results_truncated_total",
                                   "Tool results cut at mcp.max_rows or mcp.max_bytes.");
    killed_ = &metrics->counter("kobs_mcp_queries_killed_total",
                                "Queries of cancelled tool calls killed in the store.");
  }
}

Json McpTools::list() const {
  const Json string_or_null = {{"anyOf", Json::array({Json{{"type", "string"}}, Json{{"type", "null"}}})},
                               {"default", nullptr}};
  const Json output = {{"type", "object"},
                       {"properties", {{"result", {{"type", "string"}}}}},
                       {"required", Json::array({"result"})}};
  const Json read_only = {{"readOnlyHint", true}, {"destructiveHint", false}, {"idempotentHint", true},
                          {"openWorldHint", false}};
  auto tool = [&](std::string name, std::string title, std::string description, Json properties,
                  Json required) {
    Json annotations = read_only;
    annotations["title"] = title;
    return Json{{"name", std::move(name)},
                {"title", std::move(title)},
                {"description", std::move(description)},
                {"inputSchema",
                 {{"type", "object"}, {"properties", std::move(properties)}, {"required", std::move(required)},
                  {"additionalProperties", false}}},
                {"outputSchema", output},
                {"annotations", std::move(annotations)}};
  };
  auto described = [&](const char* text) {
    Json j = string_or_null;
    j["description"] = text;
    return j;
  };
  const std::string caps = fmt::format(
      " Results hold at most {} rows and {} bytes of rows; a cut result says \"truncated\": true with "
      "\"total_rows\" (rows before the cut; a lower bound when \"total_rows_exact\" is false). Queries stop after {} "
      "s.",
      options_.max_rows, options_.max_bytes, options_.query_timeout.count() / 1000.0);
  const std::string query_description =
      "Execute SQL queries in ClickHouse (kobs's store), read-only: one SELECT, WITH ... SELECT, SHOW, DESCRIBE, "
      "EXISTS or EXPLAIN statement; anything else (writes, DDL, SYSTEM, KILL, SET, INTO OUTFILE, table functions "
      "reaching files, URLs or other servers, settings outside a short allow-list) is refused. Bind optional params "
      "by name with {name:Type} placeholders, such as {name:String}. Read the resource kobs://schema/otel (or the "
      "prompt kobs_sql_guide) for the tables and the Krateo columns." +
      caps;
  const Json query_properties = {{"query", {{"type", "string"}}},
                                 {"params",
                                  {{"anyOf", Json::array({Json{{"type", "object"}, {"additionalProperties", true}},
                                                          Json{{"type", "null"}}})},
                                   {"default", nullptr}}}};
  Json tools = Json::array();
  tools.push_back(tool("list_databases", "List Databases", "List available ClickHouse databases",
                       Json::object(), Json::array()));
  tools.push_back(tool(
      "list_tables", "List Tables",
      "List available ClickHouse tables in a database, including schema, comment,\nrow count, and column count.\n\n"
      "Integers outside [-9007199254740991, 9007199254740991] in table metadata are\nreturned as decimal strings.\n"
      "Pagination tokens are single-use and retained for up to one hour.",
      Json{{"database", {{"type", "string"}, {"description", "The database to list tables from"}}},
           {"like", described("Optional LIKE pattern to filter table names")},
           {"not_like", described("Optional NOT LIKE pattern to exclude table names")},
           {"page_token", described("Single-use token from a previous call, retained for up to one hour")},
           {"page_size",
            {{"default", 50},
             {"exclusiveMinimum", 0},
             {"type", "integer"},
             {"description", "Number of tables to return per page (default: 50, must be greater than 0)"}}},
           {"include_detailed_columns",
            {{"default", true},
             {"type", "boolean"},
             {"description",
              "Whether to include detailed column metadata (default: True).\nWhen False, the columns array will be "
              "empty but create_table_query still contains\nall column information. This reduces payload size for "
              "large schemas."}}}},
      Json::array({"database"})));
  tools.push_back(tool("run_query", "Run Query", query_description, query_properties, Json::array({"query"})));
  tools.push_back(tool("run_select_query", "Run Select Query",
                       "The old name of run_query (mcp-clickhouse up to 0.2.0). " + query_description,
                       query_properties, Json::array({"query"})));
  tools.push_back(tool(
      "composition_timeline", "Composition Timeline",
      "What happened to one Krateo composition, merged by time: its Kubernetes events, the warning and error logs "
      "of its pods, and its error spans, from " + options_.logs_table + " and " + options_.traces_table +
          ". Columns: time, kind (event|log|span), severity, source, reason, message." + caps,
      Json{{"composition_id", {{"type", "string"}, {"description", "The composition's id (krateo.io/composition-id)"}}},
           {"since",
            {{"type", "string"},
             {"description", "Start: an RFC 3339 time (2026-03-15T10:00:00Z) or a duration back from now (1h, 30m)"}}},
           {"until", described("End (exclusive), as since; default now")}},
      Json::array({"composition_id", "since"})));
  tools.push_back(tool(
      "pod_errors", "Pod Errors",
      "Pods with the most error logs (severity ERROR or worse) and Warning events since a time, per namespace and "
      "pod, with the last one's time and message. Columns: namespace, pod, error_logs, warning_events, total, "
      "last_seen, last_message." + caps,
      Json{{"namespace", described("Only this namespace")},
           {"since",
            {{"type", "string"},
             {"description", "Start: an RFC 3339 time or a duration back from now (1h, 30m)"}}}},
      Json::array({"since"})));
  return tools;
}

Json McpTools::call(const std::string& name, const Json& arguments, CallContext* context) {
  if (!arguments.is_null() && !arguments.is_object()) throw InvalidParams{"arguments must be an object"};
  const Json& args = arguments.is_null() ? Json::object() : arguments;
  auto expectOnly = [&](std::initializer_list<const char*> known) {
    for (auto it = args.begin(); it != args.end(); ++it)
      if (std::none_of(known.begin(), known.end(), [&](const char* k) { return it.key() == k; }))
        throw InvalidParams{fmt::format("unexpected argument {} for tool {}", it.key(), name)};
  };
  try {
    std::string text;
    if (name == "list_databases") {
      expectOnly({});
      text = listDatabases(context);
    } else if (name == "list_tables") {
      expectOnly({"database", "like", "not_like", "page_token", "page_size", "include_detailed_columns"});
      text = listTables(args, context);
    } else if (name == "run_query" || name == "run_select_query") {
      expectOnly({"query", "params"});
      text = runQuery(args, context);
    } else if (name == "composition_timeline") {
      expectOnly({"composition_id", "since", "until"});
      text = compositionTimeline(args, context);
    } else if (name == "pod_errors") {
      expectOnly({"namespace", "since"});
      text = podErrors(args, context);
    } else {
      throw InvalidParams{fmt::format("Unknown tool: '{}'", name)};
    }
    return textResult(text, false);
  } catch (const ToolFailure& f) {
    return textResult(f.message, true);
  } catch (const Exception& e) {
    return textResult(fmt::format("Query execution failed: {}", storeMessage(e)), true);
  }
}

void McpTools::cancel(CallContext& context) {
  context.cancelled_ = true;
  std::string tag;
  {
    std::lock_guard lock(context.mutex_);
    tag = context.running_tag_;
  }
  if (tag.empty()) return;
  try {
    // ASYNC: the canceller does not wait for the query to stop.
    store_.query(fmt::format("KILL QUERY WHERE Settings['log_comment'] = {} ASYNC", store::quoteString(tag)),
                 "TabSeparated", options_.server_store ? store::Settings{{"readonly", "1"}} : store::Settings{});
    if (killed_) killed_->inc();
  } catch (const Exception& e) {
    // The query stops at max_execution_time anyway; say why it did not stop sooner.
    logging::get("mcp")->warn("could not kill the query of a cancelled tool call: {}", e.what());
  }
}

Json McpTools::capped(const std::string& statement, bool has_settings_clause, CallContext* context) {
  if (context && context->cancelled()) throw ToolFailure{"Query cancelled before execution"};
  const std::string tag = tag_prefix_ + std::to_string(query_seq_.fetch_add(1));
  const double timeout_s = std::max<double>(0.001, options_.query_timeout.count() / 1000.0);
  store::Settings settings = {
      {"max_execution_time", fmt::format("{}", timeout_s)},
      {"timeout_overflow_mode", "throw"},
      {"max_result_rows", std::to_string(options_.scan_rows)},
      {"result_overflow_mode", "break"},
      {"output_format_json_quote_64bit_integers", "0"},
      {"output_format_json_quote_decimals", "1"},
      {"log_comment", tag},
  };
  std::string sql = statement;
  store::Settings request_settings;
  if (options_.server_store) {
    request_settings = settings;
    request_settings.insert(request_settings.begin(), {"readonly", "1"});
  } else {
    // A new line first: the statement may end in a `--` comment.
    sql += has_settings_clause ? "\n, " : "\nSETTINGS ";
    for (size_t i = 0; i < settings.size(); ++i)
      sql += fmt::format("{}{} = {}", i ? ", " : "", settings[i].first, store::quoteString(settings[i].second));
  }
  if (context) {
    std::lock_guard lock(context->mutex_);
    context->running_tag_ = tag;
  }
  const auto started = std::chrono::steady_clock::now();
  store::QueryResult result;
  try {
    result = store_.query(sql, "JSONCompactEachRowWithNamesAndTypes", request_settings);
  } catch (const Exception& e) {
    if (context) {
      std::lock_guard lock(context->mutex_);
      context->running_tag_.clear();
    }
    if (query_seconds_)
      query_seconds_->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (e.clickhouseCode() == kTimeoutExceeded)
      throw ToolFailure{fmt::format("Query timed out after {} seconds", timeout_s)};
    if (e.clickhouseCode() == kQueryWasCancelled || (context && context->cancelled()))
      throw ToolFailure{"Query cancelled"};
    throw;
  }
  if (context) {
    std::lock_guard lock(context->mutex_);
    context->running_tag_.clear();
  }
  if (query_seconds_)
    query_seconds_->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());

  // Line 1: names, line 2: types, then one JSON array per row.
  Json columns = Json::array(), rows = Json::array();
  size_t total = 0, kept_bytes = 0, line_no = 0;
  std::string cut_by;
  std::string_view data = result.data;
  while (!data.empty()) {
    const size_t nl = data.find('\n');
    std::string_view line = data.substr(0, nl);
    data = nl == std::string_view::npos ? std::string_view() : data.substr(nl + 1);
    if (line.empty()) continue;
    ++line_no;
    if (line_no == 1) {
      columns = Json::parse(line);
      continue;
    }
    if (line_no == 2) continue;
    ++total;
    if (!cut_by.empty()) continue;
    if (rows.size() >= options_.max_rows) {
      cut_by = "rows";
      continue;
    }
    if (kept_bytes + line.size() > options_.max_bytes) {
      cut_by = "bytes";
      continue;
    }
    kept_bytes += line.size();
    Json row = Json::parse(line);
    makeSafe(row);
    rows.push_back(std::move(row));
  }
  Json out;
  out["columns"] = std::move(columns);
  out["rows"] = std::move(rows);
  out["truncated"] = !cut_by.empty();
  if (!cut_by.empty()) {
    if (truncated_) truncated_->inc();
    out["truncated_by"] = cut_by == "rows" ? fmt::format("max_rows ({})", options_.max_rows)
                                           : fmt::format("max_bytes ({})", options_.max_bytes);
    out["total_rows"] = total;
    out["total_rows_exact"] = total < options_.scan_rows;
  }
  return out;
}

std::string McpTools::listDatabases(CallContext* context) {
  auto r = capped("SHOW DATABASES", false, context);
  Json names = Json::array();
  for (const auto& row : r["rows"]) names.push_back(row.at(0));
  return dumpText(names);
}

std::string McpTools::listTables(const Json& args, CallContext* context) {
  const std::string database = requiredString(args, "database");
  const auto like = optString(args, "like");
  const auto not_like = optString(args, "not_like");
  const auto page_token = optString(args, "page_token");
  int64_t page_size = 50;
  if (auto it = args.find("page_size"); it != args.end() && !it->is_null()) {
    if (!it->is_number_integer()) throw InvalidParams{"argument page_size must be an integer"};
    page_size = it->get<int64_t>();
  }
  if (page_size <= 0) throw ToolFailure{"page_size must be greater than 0"};
  bool detailed = true;
  if (auto it = args.find("include_detailed_columns"); it != args.end() && !it->is_null()) {
    if (!it->is_boolean()) throw InvalidParams{"argument include_detailed_columns must be a boolean"};
    detailed = it->get<bool>();
  }

  std::vector<std::string> names;
  size_t start = 0;
  bool resumed = false;
  if (page_token) {
    std::lock_guard lock(pages_mutex_);
    auto it = pages_.find(*page_token);
    // A token for other filters is ignored (the listing starts over), as the official server does.
    if (it != pages_.end() && it->second.expires > std::chrono::steady_clock::now() &&
        it->second.database == database && it->second.like == like.value_or("") &&
        it->second.not_like == not_like.value_or("") && it->second.include_detailed_columns == detailed) {
      names = std::move(it->second.names);
      start = it->second.start;
      resumed = true;
      pages_.erase(it);
    }
  }
  if (!resumed) {
    std::string sql = "SELECT name FROM system.tables WHERE database = " + store::quoteString(database);
    if (like) sql += " AND name LIKE " + store::quoteString(*like);
    if (not_like) sql += " AND name NOT LIKE " + store::quoteString(*not_like);
    auto r = capped(sql, false, context);
    for (const auto& row : r["rows"]) names.push_back(row.at(0).get<std::string>());
  }
  const size_t end = std::min(names.size(), start + size_t(page_size));
  Json tables = Json::array();
  if (start < end) {
    std::string in;
    for (size_t i = start; i < end; ++i) in += (i > start ? ", " : "") + store::quoteString(names[i]);
    auto t = capped(
        "SELECT database, name, engine, create_table_query, dependencies_database, dependencies_table, engine_full, "
        "sorting_key, primary_key, total_rows, total_bytes, total_bytes_uncompressed, parts, active_parts, "
        "total_marks, comment FROM system.tables WHERE database = " +
            store::quoteString(database) + " AND name IN (" + in + ")",
        false, context);
    std::map<std::string, Json> columns_of;
    if (detailed) {
      auto c = capped(
          "SELECT database, table, name, type AS column_type, default_kind, default_expression, comment FROM "
          "system.columns WHERE database = " +
              store::quoteString(database) + " AND table IN (" + in + ") ORDER BY table, position",
          false, context);
      for (const auto& row : c["rows"]) {
        Json col;
        for (size_t i = 0; i < c["columns"].size(); ++i) col[c["columns"][i].get<std::string>()] = row[i];
        columns_of[row[1].get<std::string>()].push_back(std::move(col));
      }
    }
    for (const auto& row : t["rows"]) {
      Json table;
      for (size_t i = 0; i < t["columns"].size(); ++i) table[t["columns"][i].get<std::string>()] = row[i];
      auto cols = columns_of.find(row[1].get<std::string>());
      table["columns"] = cols == columns_of.end() ? Json::array() : cols->second;
      tables.push_back(std::move(table));
    }
  }
  Json next = nullptr;
  if (end < names.size()) {
    const std::string token = randomId();
    std::lock_guard lock(pages_mutex_);
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(pages_, [&](const auto& p) { return p.second.expires <= now; });
    while (pages_.size() >= kMaxPageTokens) {
      auto oldest = std::min_element(pages_.begin(), pages_.end(), [](const auto& a, const auto& b) {
        return a.second.expires < b.second.expires;
      });
      pages_.erase(oldest);
    }
    const size_t total = names.size();
    pages_[token] = PageState{database, like.value_or(""), not_like.value_or(""), detailed, std::move(names),
                              end, now + std::chrono::hours(1)};
    next = token;
    return dumpText(Json{{"tables", std::move(tables)}, {"next_page_token", next}, {"total_tables", total}});
  }
  return dumpText(Json{{"tables", std::move(tables)}, {"next_page_token", next}, {"total_tables", names.size()}});
}

std::string McpTools::runQuery(const Json& args, CallContext* context) {
  const std::string query = requiredString(args, "query");
  const Json params = args.contains("params") ? args["params"] : Json();
  const std::string bound = bindParams(query, params);
  auto verdict = sql_guard::checkReadOnly(bound);
  if (!verdict.accepted()) throw ToolFailure{"Query execution failed: " + verdict.refusal->text()};
  return dumpText(capped(accelerated(verdict.statement.sql), verdict.statement.has_settings_clause, context));
}

std::string McpTools::accelerated(const std::string& sql) {
  if (!options_.rewrite_queries) return sql;
  std::shared_ptr<const Accelerators> acc;
  {
    std::lock_guard lock(accelerators_mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (!accelerators_ || now - accelerators_loaded_ > std::chrono::minutes(1)) {
      accelerators_loaded_ = now;
      try {
        store::Settings settings;
        if (options_.server_store) settings = {{"readonly", "1"}};
        auto r = store_.query(acceleratorsSql(options_.database, options_.logs_table), "JSONCompactEachRow", settings);
        std::vector<std::array<std::string, 3>> rows;
        std::string_view data = r.data;
        while (!data.empty()) {
          const size_t nl = data.find('\n');
          const std::string_view line = data.substr(0, nl);
          data = nl == std::string_view::npos ? std::string_view() : data.substr(nl + 1);
          if (line.empty()) continue;
          auto row = Json::parse(line);
          rows.push_back({row.at(0).get<std::string>(), row.at(1).get<std::string>(), row.at(2).get<std::string>()});
        }
        auto parsed = parseAccelerators(options_.database, options_.logs_table, rows);
        parsed.default_database = store_.database() == options_.database;
        accelerators_ = std::make_shared<const Accelerators>(std::move(parsed));
      } catch (const std::exception& e) {
        // The query runs as written; the next call after a minute tries again.
        logging::get("mcp")->warn("could not read the accelerators of {}.{}: {}", options_.database,
                                  options_.logs_table, e.what());
        if (!accelerators_) accelerators_ = std::make_shared<const Accelerators>();
      }
    }
    acc = accelerators_;
  }
  const auto rewritten = rewriteForAccelerators(sql, *acc);
  if (!rewritten) return sql;
  // The rewrite only adds column names and has(); vetted again all the same.
  auto verdict = sql_guard::checkReadOnly(*rewritten);
  if (!verdict.accepted()) {
    logging::get("mcp")->warn("rewritten query refused ({}), running it as written", verdict.refusal->text());
    return sql;
  }
  if (rewritten_) rewritten_->inc();
  logging::get("mcp")->debug("query rewritten: {}", verdict.statement.sql);
  return verdict.statement.sql;
}

std::string McpTools::compositionTimeline(const Json& args, CallContext* context) {
  const std::string id = store::quoteString(requiredString(args, "composition_id"));
  const int64_t since = parseTime(requiredString(args, "since"), "since");
  const auto until_text = optString(args, "until");
  const std::string range =
      fmt::format("Timestamp >= {}{}", timeLiteral(since),
                  until_text ? " AND Timestamp < " + timeLiteral(parseTime(*until_text, "until")) : std::string());
  const std::string logs = store::quoteIdentifier(options_.database) + "." + store::quoteIdentifier(options_.logs_table);
  const std::string traces =
      store::quoteIdentifier(options_.database) + "." + store::quoteIdentifier(options_.traces_table);
  // Events carry the id in LogAttributes (and ResourceAttributes); pod logs
  // and spans in ResourceAttributes (pod metadata, OTel resource).
  const std::string sql = fmt::format(
      "SELECT time, kind, severity, source, reason, message FROM ("
      "SELECT Timestamp AS time, 'event' AS kind, CAST(SeverityText, 'String') AS severity, "
      "concat(JSONExtractString(Body, 'object', 'involvedObject', 'kind'), '/', "
      "JSONExtractString(Body, 'object', 'involvedObject', 'namespace'), '/', "
      "JSONExtractString(Body, 'object', 'involvedObject', 'name')) AS source, "
      "JSONExtractString(Body, 'object', 'reason') AS reason, "
      "JSONExtractString(Body, 'object', 'message') AS message FROM {logs} "
      "WHERE ResourceAttributes['telemetry.source'] = 'k8s-events' AND (LogAttributes['krateo.io/composition-id'] = "
      "{id} OR ResourceAttributes['krateo.composition.id'] = {id}) AND {range} "
      "UNION ALL "
      "SELECT Timestamp, 'log', CAST(SeverityText, 'String'), concat(ResourceAttributes['k8s.namespace.name'], '/', "
      "ResourceAttributes['k8s.pod.name'], '/', ResourceAttributes['k8s.container.name']), '', Body FROM {logs} "
      "WHERE ResourceAttributes['telemetry.source'] != 'k8s-events' AND (ResourceAttributes['krateo.composition.id'] "
      "= {id} OR LogAttributes['krateo.io/composition-id'] = {id}) AND (SeverityNumber >= 13 OR upper(SeverityText) "
      "IN ('WARN', 'WARNING', 'ERROR', 'FATAL', 'CRITICAL')) AND {range} "
      "UNION ALL "
      "SELECT Timestamp, 'span', CAST(StatusCode, 'String'), CAST(ServiceName, 'String'), CAST(SpanName, 'String'), "
      "StatusMessage FROM {traces} WHERE ResourceAttributes['krateo.composition.id'] = {id} AND StatusCode IN "
      "('STATUS_CODE_ERROR', 'Error') AND {range}"
      ") ORDER BY time, kind",
      fmt::arg("logs", logs), fmt::arg("traces", traces), fmt::arg("id", id), fmt::arg("range", range));
  return dumpText(capped(sql, false, context));
}

std::string McpTools::podErrors(const Json& args, CallContext* context) {
  const auto ns = optString(args, "namespace");
  const int64_t since = parseTime(requiredString(args, "since"), "since");
  const std::string logs = store::quoteIdentifier(options_.database) + "." + store::quoteIdentifier(options_.logs_table);
  const std::string ns_filter = ns ? " AND ResourceAttributes['k8s.namespace.name'] = " + store::quoteString(*ns) : "";
  const std::string sql = fmt::format(
      "SELECT namespace, pod, countIf(is_log) AS error_logs, countIf(NOT is_log) AS warning_events, count() AS total, "
      "max(ts) AS last_seen, argMax(message, ts) AS last_message FROM ("
      "SELECT ResourceAttributes['k8s.namespace.name'] AS namespace, ResourceAttributes['k8s.pod.name'] AS pod, "
      "true AS is_log, Timestamp AS ts, Body AS message FROM {logs} WHERE ResourceAttributes['k8s.pod.name'] != '' "
      "AND ResourceAttributes['telemetry.source'] != 'k8s-events' AND (SeverityNumber >= 17 OR upper(SeverityText) "
      "IN ('ERROR', 'FATAL', 'CRITICAL')) AND Timestamp >= {since}{ns} "
      "UNION ALL "
      "SELECT JSONExtractString(Body, 'object', 'involvedObject', 'namespace'), "
      "JSONExtractString(Body, 'object', 'involvedObject', 'name'), false, Timestamp, "
      "JSONExtractString(Body, 'object', 'message') FROM {logs} WHERE ResourceAttributes['telemetry.source'] = "
      "'k8s-events' AND JSONExtractString(Body, 'object', 'involvedObject', 'kind') = 'Pod' AND SeverityText = "
      "'Warning' AND Timestamp >= {since}{ns_event}"
      ") GROUP BY namespace, pod ORDER BY total DESC, namespace, pod",
      fmt::arg("logs", logs), fmt::arg("since", timeLiteral(since)), fmt::arg("ns", ns_filter),
      fmt::arg("ns_event", ns ? " AND JSONExtractString(Body, 'object', 'involvedObject', 'namespace') = " +
                                    store::quoteString(*ns)
                              : std::string()));
  return dumpText(capped(accelerated(sql), false, context));
}

std::string McpTools::schemaGuide() const {
  return fmt::format(
      R"(# kobs tables (ClickHouse SQL, database `{db}`)

Run one SELECT (or SHOW/DESCRIBE/EXPLAIN) per call; nothing can be changed.
Times are UTC `DateTime64(9)`; filter on `Timestamp` first (tables are ordered by time within a day).

## `{logs}`: logs and Kubernetes events
- `Timestamp`, `SeverityText` (`INFO`, `ERROR`, ...; for events the Event type `Normal`/`Warning`), `SeverityNumber` (17+ error, 13+ warning), `ServiceName`, `Body` (the line; for events the watch event JSON: `JSONExtractString(Body, 'object', 'message')`).
- `ResourceAttributes` Map: `k8s.namespace.name`, `k8s.pod.name`, `k8s.container.name`, `k8s.node.name`, `k8s.deployment.name`, `krateo.composition.id`; events: `telemetry.source` = `'k8s-events'`, `k8s.event.reason`, `k8s.object.kind`, `k8s.object.name`, `k8s.object.uid`.
- `LogAttributes` Map: `krateo.io/composition-id` (events and pod logs of a composition), `log.iostream` (stdout/stderr).

## `{traces}`: spans
- `Timestamp`, `TraceId`, `SpanId`, `ParentSpanId`, `SpanName`, `SpanKind`, `ServiceName`, `Duration` (nanoseconds, UInt64), `StatusCode` (`STATUS_CODE_ERROR`, ...), `StatusMessage`, `SpanAttributes`, `ResourceAttributes` (with `krateo.composition.id`).

## `{events}`: Kubernetes events by Krateo composition (what the frontend reads)
- `composition_id`, `ts`, `reason`, `message`, `type` (`Normal`/`Warning`), `obj_kind`, `obj_name`, `obj_namespace`, `source_component`, `event_time`.

## Metrics: `otel_metrics_gauge`, `otel_metrics_sum`, `otel_metrics_histogram`, `otel_metrics_exponential_histogram`, `otel_metrics_summary`
- `TimeUnix`, `MetricName`, `Value` (gauge, sum), `Attributes`, `ResourceAttributes`, `ServiceName`.

## Examples
- Pods with the most errors in the last hour:
  `SELECT ResourceAttributes['k8s.pod.name'] AS pod, ResourceAttributes['k8s.namespace.name'] AS ns, count() AS errors FROM {logs} WHERE SeverityText IN ('ERROR','FATAL') AND Timestamp > now() - INTERVAL 1 HOUR GROUP BY pod, ns ORDER BY errors DESC LIMIT 10`
- A composition's events: `SELECT ts, reason, message FROM {events} WHERE composition_id = '<id>' ORDER BY ts DESC LIMIT 50`
- Slow spans: `SELECT TraceId, SpanName, Duration/1e6 AS duration_ms FROM {traces} WHERE ServiceName = 'my-service' AND Duration > 1000000000 ORDER BY Timestamp DESC LIMIT 20`
- The tools composition_timeline and pod_errors answer the two usual questions directly.
)",
      fmt::arg("db", options_.database), fmt::arg("logs", options_.logs_table),
      fmt::arg("traces", options_.traces_table), fmt::arg("events", options_.events_table));
}

Json McpTools::resources() const {
  return Json::array({Json{{"uri", "kobs://schema/otel"},
                           {"name", "otel_schema"},
                           {"title", "kobs tables and Krateo columns"},
                           {"description", "The OpenTelemetry tables kobs writes, the Krateo columns, and example "
                                           "queries: read before writing SQL."},
                           {"mimeType", "text/markdown"}}});
}

std::optional<Json> McpTools::readResource(const std::string& uri) const {
  if (uri != "kobs://schema/otel") return std::nullopt;
  return Json{{"contents", Json::array({Json{{"uri", uri}, {"mimeType", "text/markdown"}, {"text", schemaGuide()}}})}};
}

Json McpTools::prompts() const {
  return Json::array({Json{{"name", "kobs_sql_guide"},
                           {"title", "How to query kobs"},
                           {"description", "The tables kobs writes and the Krateo columns, for writing correct SQL."},
                           {"arguments", Json::array()}}});
}

std::optional<Json> McpTools::getPrompt(const std::string& name) const {
  if (name != "kobs_sql_guide") return std::nullopt;
  return Json{{"description", "The tables kobs writes and the Krateo columns."},
              {"messages", Json::array({Json{{"role", "user"},
                                             {"content", {{"type", "text"}, {"text", schemaGuide()}}}}})}};
}

}  // namespace kobs::serve::mcp
