#include "serve/chcompat/clickhouse_endpoint.h"

#include <atomic>
#include <chrono>
#include <regex>

#include <fmt/format.h>

#include "common/error.h"

namespace kobs::serve::chcompat {
namespace {

// ClickHouse error codes this endpoint produces itself.
constexpr int kSyntaxError = 62;
constexpr int kUnknownDatabase = 81;
constexpr int kReadonly = 164;
constexpr int kUnknownQueryParameter = 456;

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

// Replaces {name:Type} with a typed literal from param_<name>.
std::string substituteParams(const std::string& sql, const http::QueryParams& params) {
  static const std::regex placeholder(R"(\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^}]+?)\s*\})");
  std::string out;
  auto begin = std::sregex_iterator(sql.begin(), sql.end(), placeholder);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const std::string name = (*it)[1];
    const std::string type = (*it)[2];
    const std::string* value = nullptr;
    for (const auto& [k, v] : params)
      if (k == "param_" + name) value = &v;
    if (!value)
      throw Exception(ErrorCode::kBadInput, "Substitution `{}` is not set", name).withClickhouseCode(kUnknownQueryParameter);
    out.append(sql, last, size_t(it->position()) - last);
    out += fmt::format("CAST({}, {})", store::quoteString(*value), store::quoteString(type));
    last = size_t(it->position() + it->length());
  }
  out.append(sql, last, std::string::npos);
  return out;
}

}  // namespace

ClickHouseEndpoint::ClickHouseEndpoint(store::IStore& readonly, EndpointOptions options)
    : store_(readonly), options_(std::move(options)) {}

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

std::pair<std::string, std::string> ClickHouseEndpoint::splitFormat(const std::string& sql) {
  static const std::regex trailing(R"(\s+FORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$)", std::regex::icase);
  std::smatch m;
  if (std::regex_search(sql, m, trailing)) return {m[1].str(), sql.substr(0, size_t(m.position(0)))};
  return {"", sql};
}

http::Response ClickHouseEndpoint::error(int code, const std::string& message) {
  std::string body = message.rfind("Code: ", 0) == 0 ? message : fmt::format("Code: {}. DB::Exception: {}", code, message);
  auto r = http::Response::text(httpStatusFor(code), body + "\n");
  r.headers.set("Content-Type", "text/plain; charset=UTF-8");
  r.headers.set("X-ClickHouse-Exception-Code", std::to_string(code));
  return r;
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
  router.post("/", [this](const http::Request& r) { return query(r); }, blocking);
  router.get("/events", [this](const http::Request& r) {
    auto c = r.queryParam("composition_id");
    if (!c) return error(kUnknownQueryParameter, "Substitution `composition_id` is not set. (UNKNOWN_QUERY_PARAMETER)");
    return events(r, std::string(*c));
  }, blocking);
  router.addPrefix("GET", "/events/", [this](const http::Request& r) { return events(r, r.path_rest); }, blocking);
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
  std::string sql(request.queryParam("query").value_or(""));
  if (request.method == "POST" && !request.body.empty()) {
    if (!sql.empty()) sql += "\n";
    sql += request.body;
  }
  const std::string query_id(request.queryParam("query_id").value_or(nextQueryId()));
  for (const auto& [k, v] : request.query)
    if (!isProtocolParam(k))
      return error(kReadonly, fmt::format("Cannot modify '{}' setting in readonly mode. (READONLY)", k));
  if (auto db = request.queryParam("database"); db && !db->empty() && *db != options_.database)
    return error(kUnknownDatabase, fmt::format("Database {} does not exist. (UNKNOWN_DATABASE)", *db));
  size_t first = sql.find_first_not_of(" \t\r\n;");
  if (first == std::string::npos) return error(kSyntaxError, "Empty query. (SYNTAX_ERROR)");
  try {
    sql = substituteParams(sql, request.query);
  } catch (const Exception& e) {
    return error(e.clickhouseCode(), std::string(e.what()) + ". (UNKNOWN_QUERY_PARAMETER)");
  }
  auto [named, stripped] = splitFormat(sql);
  std::string format = !named.empty() ? named : std::string(request.queryParam("default_format").value_or("TabSeparated"));
  if (format.empty()) format = "TabSeparated";
  return run(named.empty() ? sql : stripped, format, query_id);
}

http::Response ClickHouseEndpoint::events(const http::Request& request, std::string composition_id) {
  size_t limit = options_.events_limit;
  if (auto l = request.queryParam("limit"); l && !l->empty()) {
    try {
      limit = std::min(limit, size_t(std::stoull(std::string(*l))));
    } catch (const std::exception&) {
      return error(kSyntaxError, fmt::format("Cannot parse '{}' as limit. (CANNOT_PARSE_TEXT)", *l));
    }
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
  return run(sql, "JSON", std::string(request.queryParam("query_id").value_or(nextQueryId())));
}

}  // namespace kobs::serve::chcompat
