#include "serve/chcompat/clickhouse_endpoint.h"

#include <atomic>
#include <chrono>
#include <regex>

#include <fmt/format.h>

#include "common/error.h"
#include "serve/chcompat/credentials.h"
#include "serve/chcompat/write_path.h"
#include "store/sql_guard/query_params.h"
#include "store/sql_guard/sql_guard.h"
#include "store/sql_guard/sql_lexer.h"

namespace kobs::serve::chcompat {
namespace sql_guard = kobs::store::sql_guard;
namespace {

// ClickHouse error codes this endpoint produces itself.
constexpr int kSyntaxError = 62;
constexpr int kUnknownDatabase = 81;
constexpr int kUnknownQueryParameter = 456;
constexpr int kAuthenticationFailed = 516;

// Settings of ClickHouse's HTTP layer: accepted (when allow-listed) but not
// passed to the store. Compression and progress headers are optional for the
// clients; add_http_cors_header is honoured here.
bool isHttpSetting(std::string_view name) {
  static const char* kNames[] = {"readonly", "wait_end_of_query", "send_progress_in_http_headers",
                                 "http_headers_progress_interval_ms", "enable_http_compression",
                                 "http_zlib_compression_level", "add_http_cors_header",
                                 "cancel_http_readonly_queries_on_client_close"};
  for (const char* n : kNames)
    if (sql_guard::iequals(name, n)) return true;
  return false;
}


// URL parameters that are part of the HTTP protocol, not settings: the names
// ClickHouse's HTTPHandler skips (its reserved_param_names, minus `role`, which
// selects roles this endpoint does not have), query parameters, and an empty
// name (`?&query=...`), which ClickHouse skips too. Everything else is a
// setting, refused as for a readonly=1 user.
bool isProtocolParam(const std::string& name) {
  static const char* kNames[] = {"query", "database", "default_format", "query_id", "session_id", "session_timeout",
                                 "session_check", "compress", "decompress", "user", "password", "quota_key",
                                 "buffer_size", "wait_end_of_query", "stacktrace", "client_protocol_version",
                                 "close_session"};
  if (name.empty()) return true;
  for (const char* n : kNames)
    if (name == n) return true;
  return name.rfind("param_", 0) == 0;
}

// A String value as ClickHouse's JSON formats write it (writeJSONString with
// the default settings): UTF-8 as is; quote, backslash, slash and the C
// escapes escaped; other ASCII controls as \u00XX; U+2028 and U+2029 escaped
// for JavaScript.
void appendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\\': out += "\\\\"; break;
      case '/': out += "\\/"; break;
      case '"': out += "\\\""; break;
      default:
        if (c <= 0x1F) {
          out += fmt::format("\\u00{:02X}", c);
        } else if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(s[i + 2]) == 0xA8 || static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
          out += static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
          i += 2;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

// The old handler's nine columns, in order, with their values in a stored event.
struct EventColumn {
  const char* name;
  const std::string events::StoredEvent::*field;
};
constexpr EventColumn kEventColumns[] = {
    {"obj_name", &events::StoredEvent::obj_name},       {"obj_namespace", &events::StoredEvent::obj_namespace},
    {"obj_uid", &events::StoredEvent::obj_uid},         {"obj_kind", &events::StoredEvent::obj_kind},
    {"reason", &events::StoredEvent::reason},           {"message", &events::StoredEvent::message},
    {"type", &events::StoredEvent::type},               {"eventTime", &events::StoredEvent::event_time},
    {"source_component", &events::StoredEvent::source_component}};

// FORMAT JSON of those columns, laid out as ClickHouse lays it out, with
// statistics of a read that touched no storage.
std::string eventsJson(const std::vector<std::shared_ptr<const events::FeedEvent>>& rows, double elapsed_s) {
  std::string out = "{\n\t\"meta\":\n\t[";
  for (size_t c = 0; c < std::size(kEventColumns); ++c)
    out += fmt::format("{}\n\t\t{{\n\t\t\t\"name\": \"{}\",\n\t\t\t\"type\": \"String\"\n\t\t}}", c ? "," : "",
                       kEventColumns[c].name);
  out += "\n\t],\n\n\t\"data\":\n\t[";
  for (size_t r = 0; r < rows.size(); ++r) {
    out += r ? ",\n\t\t{" : "\n\t\t{";
    for (size_t c = 0; c < std::size(kEventColumns); ++c) {
      out += fmt::format("{}\n\t\t\t\"{}\": ", c ? "," : "", kEventColumns[c].name);
      appendJsonString(out, rows[r]->row.*kEventColumns[c].field);
    }
    out += "\n\t\t}";
  }
  if (rows.empty()) out += "\n";  // ClickHouse's empty data: "[\n\n\t]"
  out += fmt::format("\n\t],\n\n\t\"rows\": {},\n\n\t\"statistics\":\n\t{{\n\t\t\"elapsed\": {},\n\t\t"
                     "\"rows_read\": 0,\n\t\t\"bytes_read\": 0\n\t}}\n}}\n",
                     rows.size(), elapsed_s);
  return out;
}

std::string contentTypeFor(const std::string& format) {
  if (format.rfind("JSON", 0) == 0) return "application/json; charset=UTF-8";
  if (format == "TabSeparated" || format == "TSV" || format.rfind("TabSeparated", 0) == 0 || format.rfind("TSV", 0) == 0)
    return "text/tab-separated-values; charset=UTF-8";
  if (format == "CSV" || format.rfind("CSV", 0) == 0) return "text/csv; charset=UTF-8; header=absent";
  if (format == "RowBinary" || format == "Native" || format == "Parquet" || format == "Arrow" || format.rfind("RowBinary", 0) == 0)
    return "application/octet-stream";
  return "text/plain; charset=UTF-8";
}

std::string nextQueryId() {
  static std::atomic<uint64_t> counter{0};
  const auto now = std::chrono::system_clock::now().time_since_epoch().count();
  return fmt::format("kobs-{:x}-{}", now, counter.fetch_add(1));
}

// The ClickHouse message inside a store exception ("Code: 164. DB::Exception: ...").
std::string clickhouseMessage(const Exception& e) {
  std::string what = e.what();
  auto pos = what.find("Code: ");
  if (pos != std::string::npos) what = what.substr(pos);
  if (auto q = what.rfind(" [query: "); q != std::string::npos) what.resize(q);
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
  return what;
}

// {name:Type} placeholders bound from param_<name> as typed literals.
std::string substituteParams(const std::string& sql, const http::QueryParams& params) {
  return sql_guard::bindQueryParams(
      sql,
      [&](const std::string& name) -> std::optional<sql_guard::ParamValue> {
        for (const auto& [k, v] : params)
          if (k == "param_" + name) return sql_guard::ParamValue{v};
        return std::nullopt;
      },
      [](const std::string& name) {
        throw Exception(ErrorCode::kBadInput, "Substitution `{}` is not set", name)
            .withClickhouseCode(kUnknownQueryParameter);
      });
}

}  // namespace

ClickHouseEndpoint::ClickHouseEndpoint(store::IStore& readonly, EndpointOptions options)
    : store_(readonly), options_(std::move(options)) {
  if (!options_.users_file.empty()) users_ = std::make_unique<UsersFile>(options_.users_file);
  std::vector<std::string> reasons(std::begin(sql_guard::kRefusalReasons), std::end(sql_guard::kRefusalReasons));
  reasons.push_back("auth");
  for (const auto& reason : reasons) {
    refusals_[reason] = options_.metrics
                            ? &options_.metrics->counter("kobs_clickhouse_endpoint_refused_total",
                                                         "Requests the ClickHouse-compatible endpoint refused, by "
                                                         "reason (auth, syntax, multi_statement, statement, "
                                                         "into_outfile, table_function, setting).",
                                                         {{"reason", reason}})
                            : nullptr;  // no registry: not counted
  }
}

int ClickHouseEndpoint::httpStatusFor(int code) {
  switch (code) {
    case 516: case 192: case 193: case 194: return 401;  // authentication
    case 164: case 497: return 403;                      // READONLY, ACCESS_DENIED
    case 60: case 81: case 46: case 47: case 16: return 404;  // unknown table/database/function/identifier/column
    case 62: case 27: case 26: case 6: case 38: case 53: case 70: case 72: case 456: case 457: case 115: case 36:
      return 400;
    case 48: return 501;
    case 159: return 408;
    default: return 500;
  }
}

http::Response ClickHouseEndpoint::error(int code, const std::string& message) {
  std::string body = message.rfind("Code: ", 0) == 0 ? message : fmt::format("Code: {}. DB::Exception: {}", code, message);
  auto r = http::Response::text(httpStatusFor(code), body + "\n");
  r.headers.set("Content-Type", "text/plain; charset=UTF-8");
  r.headers.set("X-ClickHouse-Exception-Code", std::to_string(code));
  return r;
}

http::Response ClickHouseEndpoint::refused(const std::string& reason, int code, const std::string& text) {
  if (auto it = refusals_.find(reason); it != refusals_.end() && it->second) it->second->inc();
  return error(code, text);
}

std::optional<http::Response> ClickHouseEndpoint::authenticate(const http::Request& request) {
  if (!users_) return std::nullopt;
  // An agent of the write path may also read (its store's schema queries).
  if (options_.writer && options_.writer->authenticates(request)) return std::nullopt;
  auto credentials = credentialsOf(request);
  if (auto* problem = std::get_if<std::string>(&credentials))
    return refused("auth", kAuthenticationFailed,
                   fmt::format("Code: 516. DB::Exception: {}. (AUTHENTICATION_FAILED)", *problem));
  const auto& c = std::get<Credentials>(credentials);
  if (users_->authenticate(c.user, c.password)) return std::nullopt;
  return refused("auth", kAuthenticationFailed,
                 fmt::format("Code: 516. DB::Exception: {}: Authentication failed: password is incorrect, or there is "
                             "no user with such name. (AUTHENTICATION_FAILED)",
                             shownUser(c.user)));
}

void ClickHouseEndpoint::addRoutes(http::Router& router) {
  const http::RouteOptions blocking{.blocking = true};
  router.get("/ping", [](const http::Request&) {
    auto r = http::Response::text(200, "Ok.\n");
    r.headers.set("Content-Type", "text/html; charset=UTF-8");
    return r;
  });
  router.get("/replicas_status", [](const http::Request&) { return http::Response::text(200, "Ok.\n"); });
  router.get("/", [this](const http::Request& r) { return query(r); }, blocking);
  if (options_.writer) {
    // INSERT and schema statements go to the write path, which answers from
    // its own writer thread; everything else is a query, as without it.
    router.addDeferred("POST", "/", [this](const http::Request& r, http::Responder responder) {
      if (options_.writer->claims(r)) return options_.writer->handle(r, std::move(responder));
      responder.send(query(r));
    }, blocking);
  } else {
    router.post("/", [this](const http::Request& r) { return query(r); }, blocking);
  }
  // A page held in memory is answered on the io thread (inline_first: the
  // users file check is a SHA-256, the page a shared lock); the rest from
  // the pool, from the store.
  auto memoryFirst = [this](auto composition_of) -> http::InlineHandler {
    if (!options_.recent) return {};
    return [this, composition_of](const http::Request& r) -> std::optional<http::Response> {
      if (auto denied = authenticate(r)) return denied;
      auto c = composition_of(r);
      if (!c) return std::nullopt;
      return events(r, *c, Source::kMemory);
    };
  };
  auto queryComposition = [](const http::Request& r) -> std::optional<std::string> {
    auto c = r.queryParam("composition_id");
    return c ? std::optional<std::string>(std::string(*c)) : std::nullopt;
  };
  auto pathComposition = [](const http::Request& r) { return std::optional<std::string>(r.path_rest); };
  router.get("/events", [this](const http::Request& r) {
    if (auto denied = authenticate(r)) return std::move(*denied);
    auto c = r.queryParam("composition_id");
    if (!c) return error(kUnknownQueryParameter, "Substitution `composition_id` is not set. (UNKNOWN_QUERY_PARAMETER)");
    return *events(r, std::string(*c), Source::kStore);
  }, {.blocking = true, .inline_first = memoryFirst(queryComposition)});
  router.addPrefix("GET", "/events/", [this](const http::Request& r) {
    if (auto denied = authenticate(r)) return std::move(*denied);
    return *events(r, r.path_rest, Source::kStore);
  }, {.blocking = true, .inline_first = memoryFirst(pathComposition)});
}

http::Response ClickHouseEndpoint::run(const std::string& sql, const std::string& format, const std::string& query_id) {
  try {
    auto result = store_.query(sql, format);
    auto r = http::Response::text(200, std::move(result.data));
    r.headers.set("Content-Type", contentTypeFor(format));
    r.headers.set("X-ClickHouse-Format", format);
    r.headers.set("X-ClickHouse-Query-Id", query_id);
    r.headers.set("X-ClickHouse-Timezone", "UTC");
    r.headers.set("X-ClickHouse-Summary",
                  fmt::format(R"({{"read_rows":"{}","read_bytes":"{}","written_rows":"0","written_bytes":"0",)"
                              R"("total_rows_to_read":"{}","result_rows":"0","result_bytes":"0","elapsed_ns":"{}"}})",
                              result.rows_read, result.bytes_read, result.rows_read,
                              uint64_t(result.elapsed_seconds * 1e9)));
    return r;
  } catch (const Exception& e) {
    auto r = error(e.clickhouseCode() ? e.clickhouseCode() : 1000, clickhouseMessage(e));
    r.headers.set("X-ClickHouse-Query-Id", query_id);
    return r;
  }
}

http::Response ClickHouseEndpoint::query(const http::Request& request) {
  if (auto denied = authenticate(request)) return std::move(*denied);
  std::string sql(request.queryParam("query").value_or(""));
  // Clients compress request bodies for inserts (clickhouse-connect's lz4,
  // @clickhouse/client's compression.request); queries come as plain text.
  if (auto encoding = request.header("content-encoding");
      encoding && !encoding->empty() && !sql_guard::iequals(*encoding, "identity") && !request.body.empty()) {
    return refused("statement", 164,
                   fmt::format("Code: 164. DB::Exception: A compressed request body (Content-Encoding: {}) carries "
                               "insert data; this endpoint is read-only and takes queries as plain text. (READONLY)",
                               sql_guard::iequals(*encoding, "gzip") || sql_guard::iequals(*encoding, "lz4") ||
                                       sql_guard::iequals(*encoding, "zstd") || sql_guard::iequals(*encoding, "br") ||
                                       sql_guard::iequals(*encoding, "deflate")
                                   ? std::string(*encoding)
                                   : std::string("other")));
  }
  if (request.method == "POST" && !request.body.empty() && !sql.empty()) {
    // An INSERT names itself in ?query= and sends its data (maybe binary) as
    // the body: judge the statement by the URL part, as ClickHouse parses it.
    auto url_part = sql_guard::checkReadOnly(sql);
    if (!url_part.accepted() && url_part.refusal->reason != "syntax" && url_part.refusal->reason != "multi_statement")
      return refused(url_part.refusal->reason, url_part.refusal->code, url_part.refusal->text());
  }
  if (request.method == "POST" && !request.body.empty()) {
    if (!sql.empty()) sql += "\n";
    sql += request.body;
  }
  const std::string query_id(request.queryParam("query_id").value_or(nextQueryId()));
  // URL parameters that are not the protocol's are settings: allow-listed or refused.
  store::Settings settings;
  bool cors = false;
  for (const auto& [k, v] : request.query) {
    if (isProtocolParam(k)) continue;
    if (auto refusal = sql_guard::checkSetting(k, v)) return refused(refusal->reason, refusal->code, refusal->text());
    if (sql_guard::iequals(k, "add_http_cors_header")) cors = v == "1" || v == "true";
    if (!isHttpSetting(k)) settings.emplace_back(k, v);
  }
  if (auto db = request.queryParam("database"); db && !db->empty() && *db != options_.database)
    return error(kUnknownDatabase, fmt::format("Database {} does not exist. (UNKNOWN_DATABASE)", *db));
  try {
    sql = substituteParams(sql, request.query);
  } catch (const Exception& e) {
    return error(e.clickhouseCode(), std::string(e.what()) + ". (UNKNOWN_QUERY_PARAMETER)");
  }
  auto verdict = sql_guard::checkReadOnly(sql);
  if (!verdict.accepted()) return refused(verdict.refusal->reason, verdict.refusal->code, verdict.refusal->text());
  std::string statement = std::move(verdict.statement.sql);
  if (!settings.empty()) {
    // A new line first: the statement may end in a `--` comment.
    statement += verdict.statement.has_settings_clause ? "\n, " : "\nSETTINGS ";
    for (size_t i = 0; i < settings.size(); ++i)
      statement += fmt::format("{}{} = {}", i ? ", " : "", settings[i].first, store::quoteString(settings[i].second));
  }
  std::string format = !verdict.statement.format.empty()
                           ? verdict.statement.format
                           : std::string(request.queryParam("default_format").value_or("TabSeparated"));
  if (format.empty()) format = "TabSeparated";
  auto response = run(statement, format, query_id);
  if (cors) response.headers.set("Access-Control-Allow-Origin", "*");
  return response;
}

std::optional<http::Response> ClickHouseEndpoint::events(const http::Request& request, std::string composition_id,
                                                         Source source) {
  size_t limit = options_.events_limit;
  if (auto l = request.queryParam("limit"); l && !l->empty()) {
    try {
      limit = std::min(limit, size_t(std::stoull(std::string(*l))));
    } catch (const std::exception&) {
      return error(kSyntaxError, fmt::format("Cannot parse '{}' as limit. (CANNOT_PARSE_TEXT)", *l));
    }
  }
  const std::string query_id(request.queryParam("query_id").value_or(nextQueryId()));
  if (source == Source::kMemory) {
    if (!options_.recent) return std::nullopt;
    const auto start = std::chrono::steady_clock::now();
    if (auto held = options_.recent->page(composition_id, limit, std::nullopt)) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      auto r = http::Response::text(200, eventsJson(*held, elapsed));
      r.headers.set("Content-Type", contentTypeFor("JSON"));
      r.headers.set("X-ClickHouse-Format", "JSON");
      r.headers.set("X-ClickHouse-Query-Id", query_id);
      r.headers.set("X-ClickHouse-Timezone", "UTC");
      r.headers.set("X-ClickHouse-Summary",
                    fmt::format(R"({{"read_rows":"0","read_bytes":"0","written_rows":"0","written_bytes":"0",)"
                                R"("total_rows_to_read":"0","result_rows":"0","result_bytes":"0","elapsed_ns":"{}"}})",
                                uint64_t(elapsed * 1e9)));
      return r;
    }
    return std::nullopt;  // to the store, on the worker pool
  }
  // The old handler's columns, all String, from the composition-keyed table.
  const std::string sql = fmt::format(
      "SELECT CAST(obj_name, 'String') AS obj_name, CAST(obj_namespace, 'String') AS obj_namespace, "
      "CAST(obj_uid, 'String') AS obj_uid, CAST(obj_kind, 'String') AS obj_kind, CAST(reason, 'String') AS reason, "
      "CAST(message, 'String') AS message, CAST(type, 'String') AS type, CAST(event_time, 'String') AS eventTime, "
      "CAST(source_component, 'String') AS source_component "
      "FROM {}.{} WHERE composition_id = {} AND reason != '' ORDER BY ts DESC, row_key DESC LIMIT {}",
      store::quoteIdentifier(options_.database), store::quoteIdentifier(options_.events_table),
      store::quoteString(composition_id), limit);
  return run(sql, "JSON", query_id);
}

}  // namespace kobs::serve::chcompat
