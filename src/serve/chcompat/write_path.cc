#include "serve/chcompat/write_path.h"

#include <atomic>
#include <chrono>

#include <fmt/format.h>

#include "common/error.h"
#include "common/logging.h"
#include "serve/chcompat/clickhouse_endpoint.h"
#include "serve/chcompat/credentials.h"
#include "store/clickhouse/body_codec.h"
#include "store/schema/table_layout.h"

namespace kobs::serve::chcompat {
namespace {

constexpr int kTooLargeStringSize = 131;
constexpr int kReadonly = 164;
constexpr int kTooManySimultaneousQueries = 202;
constexpr int kCannotDecompress = 271;
constexpr int kQueryWasCancelled = 394;
constexpr int kAccessDenied = 497;
constexpr int kAuthenticationFailed = 516;
constexpr int kUnknownException = 1000;
constexpr const char* kInsertsHelp =
    "Inserts taken by the ClickHouse-compatible endpoint's write path, by outcome (stored, deduplicated: a replayed "
    "token, failed: the store refused).";
// How much of a body a request may start with before claims() gives up
// finding its first word (a statement, never rows, starts the body).
constexpr size_t kClassifyPrefix = 4096;

// URL parameters an insert or a schema statement may carry: the protocol's
// and the two settings kobs's store sends with a deduplication token (the
// embedded store sets both itself).
bool isAllowedParam(const std::string& name) {
  static const char* kNames[] = {"query", "database", "query_id", "user", "password", "default_format",
                                 "insert_deduplication_token", "deduplicate_blocks_in_dependent_materialized_views",
                                 "wait_end_of_query", "send_progress_in_http_headers"};
  if (name.empty()) return true;
  for (const char* n : kNames)
    if (name == n) return true;
  return false;
}

std::string nextQueryId() {
  static std::atomic<uint64_t> counter{0};
  const auto now = std::chrono::system_clock::now().time_since_epoch().count();
  return fmt::format("kobs-w-{:x}-{}", now, counter.fetch_add(1));
}

int httpStatus(int code) {
  switch (code) {
    case 73: return 400;                              // UNKNOWN_FORMAT
    case kTooLargeStringSize: return 413;
    case kTooManySimultaneousQueries: return 429;
    case kQueryWasCancelled: return 503;
    default: return ClickHouseEndpoint::httpStatusFor(code);
  }
}

http::Response error(int code, const std::string& text, const std::string& query_id) {
  auto r = http::Response::text(httpStatus(code), text + "\n");
  r.headers.set("Content-Type", "text/plain; charset=UTF-8");
  r.headers.set("X-ClickHouse-Exception-Code", std::to_string(code));
  if (!query_id.empty()) r.headers.set("X-ClickHouse-Query-Id", query_id);
  return r;
}

std::string chText(int code, const std::string& name, const std::string& message) {
  return fmt::format("Code: {}. DB::Exception: {}. ({})", code, message, name);
}

http::Response ok(const std::string& query_id, uint64_t rows, uint64_t bytes, std::chrono::nanoseconds elapsed) {
  auto r = http::Response::text(200, "");
  r.headers.set("Content-Type", "text/plain; charset=UTF-8");
  r.headers.set("X-ClickHouse-Query-Id", query_id);
  r.headers.set("X-ClickHouse-Timezone", "UTC");
  r.headers.set("X-ClickHouse-Summary",
                fmt::format(R"({{"read_rows":"{0}","read_bytes":"{1}","written_rows":"{0}","written_bytes":"{1}",)"
                            R"("total_rows_to_read":"0","result_rows":"{0}","result_bytes":"{1}","elapsed_ns":"{2}"}})",
                            rows, bytes, elapsed.count()));
  return r;
}

// The ClickHouse message of a store exception ("Code: 16. DB::Exception: ...").
std::string storeMessage(const Exception& e) {
  std::string what = e.what();
  if (auto pos = what.find("Code: "); pos != std::string::npos) what = what.substr(pos);
  if (auto q = what.rfind(" [query: "); q != std::string::npos) what.resize(q);
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.pop_back();
  return what;
}

}  // namespace

const std::vector<std::string>& WritePath::refusalReasons() {
  static const std::vector<std::string> kReasons = {"auth",     "syntax",    "statement", "table",
                                                    "database", "format",    "setting",   "too_large",
                                                    "encoding", "busy",      "schema",    "stopping"};
  return kReasons;
}

WritePath::WritePath(store::IStore& writer, store::IStore& reader, WritePathOptions options)
    : writer_(writer),
      reader_(reader),
      options_(std::move(options)),
      users_(options_.users_file.empty()
                 ? throw Exception(ErrorCode::kBadConfig,
                                   "the ClickHouse-compatible endpoint's write path needs a users file "
                                   "(serve.clickhouse_write.users_file): who may write")
                 : options_.users_file),
      own_registry_(options_.metrics ? nullptr : std::make_unique<metrics::Registry>()),
      registry_(options_.metrics ? *options_.metrics : *own_registry_),
      stored_(registry_.counter("kobs_clickhouse_write_inserts_total", kInsertsHelp, {{"outcome", "stored"}})),
      deduplicated_(registry_.counter("kobs_clickhouse_write_inserts_total", kInsertsHelp, {{"outcome", "deduplicated"}})),
      failed_(registry_.counter("kobs_clickhouse_write_inserts_total", kInsertsHelp, {{"outcome", "failed"}})),
      rows_(registry_.counter("kobs_clickhouse_write_rows_total",
                              "Rows the write path stored (deduplicated replays not counted).")),
      bytes_(registry_.counter("kobs_clickhouse_write_bytes_total",
                               "Row bytes (decompressed) of the inserts the write path stored.")),
      schema_statements_(registry_.counter("kobs_clickhouse_write_schema_statements_total",
                                           "Agents' CREATE ... IF NOT EXISTS / dedup-window ALTER statements taken "
                                           "as already done.")),
      queued_gauge_(registry_.gauge("kobs_clickhouse_write_queued_bytes", "Row bytes waiting for the write path's writer.")) {
  if (options_.max_body_bytes == 0 || options_.max_queued_bytes < options_.max_body_bytes)
    throw Exception(ErrorCode::kBadConfig,
                    "serve.clickhouse_write.max_queued_bytes ({}) must be at least max_body_bytes ({}), and both above 0",
                    options_.max_queued_bytes, options_.max_body_bytes);
  for (const auto& reason : refusalReasons())
    refused_[reason] = &registry_.counter("kobs_clickhouse_write_refused_total",
                                          "Requests the write path refused, by reason (auth: credentials; "
                                          "statement, table, database, format, setting: not allowed; too_large, "
                                          "encoding: the body; busy: queue full; schema: an object the central "
                                          "store lacks; stopping).",
                                          {{"reason", reason}});
}

WritePath::~WritePath() { stop(); }

void WritePath::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void WritePath::stop() {
  std::deque<Job> left;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    left.swap(queue_);
    queued_bytes_ = 0;
    queued_gauge_.set(0);
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& job : left) {
    refused_.at("stopping")->inc();
    job.responder->send(error(kQueryWasCancelled,
                             chText(kQueryWasCancelled, "QUERY_WAS_CANCELLED", "kobs is shutting down; send it again"),
                             job.query_id));
  }
}

bool WritePath::claims(const http::Request& request) const {
  if (request.method != "POST") return false;
  auto query = request.queryParam("query");
  if (query && !query->empty()) return isWriteStatement(*query);
  if (request.header("content-encoding")) return false;  // a compressed body holds rows, not a statement
  return isWriteStatement(std::string_view(request.body).substr(0, kClassifyPrefix));
}

bool WritePath::authenticates(const http::Request& request) {
  auto credentials = credentialsOf(request);
  const auto* c = std::get_if<Credentials>(&credentials);
  return c && users_.authenticate(c->user, c->password);
}

http::Response WritePath::refuse(const std::string& reason, int code, const std::string& text) {
  refused_.at(reason)->inc();
  logging::get("chcompat.write")->debug("refused reason={} {}", reason, text);
  return error(code, text, {});
}

void WritePath::handle(const http::Request& request, http::Responder responder) {
  // Credentials first: nothing about the statement is told to a stranger.
  auto credentials = credentialsOf(request);
  if (auto* problem = std::get_if<std::string>(&credentials))
    return responder.send(refuse("auth", kAuthenticationFailed, chText(kAuthenticationFailed, "AUTHENTICATION_FAILED", *problem)));
  const auto& who = std::get<Credentials>(credentials);
  if (!users_.authenticate(who.user, who.password))
    return responder.send(refuse(
        "auth", kAuthenticationFailed,
        chText(kAuthenticationFailed, "AUTHENTICATION_FAILED",
               fmt::format("{}: Authentication failed: password is incorrect, or there is no user with such name",
                           shownUser(who.user)))));

  const std::string query_id(request.queryParam("query_id").value_or(nextQueryId()));
  auto refuseNow = [&](const std::string& reason, int code, const std::string& text) {
    auto r = refuse(reason, code, text);
    r.headers.set("X-ClickHouse-Query-Id", query_id);
    responder.send(std::move(r));
  };
  for (const auto& [k, v] : request.query)
    if (!isAllowedParam(k))
      return refuseNow("setting", kReadonly,
                       chText(kReadonly, "READONLY",
                              fmt::format("Cannot modify '{}' setting on the write path: only insert_deduplication_"
                                          "token and deduplicate_blocks_in_dependent_materialized_views are taken",
                                          k.substr(0, 64))));
  if (auto db = request.queryParam("database"); db && !db->empty() && *db != options_.database)
    return refuseNow("database", kAccessDenied,
                     chText(kAccessDenied, "ACCESS_DENIED",
                            fmt::format("database {} is not written here: only {}", db->substr(0, 64), options_.database)));

  auto query = request.queryParam("query");
  const bool in_url = query && !query->empty();
  std::string_view sql = in_url ? *query : std::string_view(request.body);
  if (!in_url && writeStatementWord(sql.substr(0, kClassifyPrefix)) == "INSERT")
    return refuseNow("format", 73,
                     chText(73, "UNKNOWN_FORMAT",
                            "send INSERT ... FORMAT RowBinary in the `query` URL parameter and the rows as the body"));
  auto parsed = parseWriteStatement(sql);
  if (auto* refusal = std::get_if<WriteRefusal>(&parsed)) return refuseNow(refusal->reason, refusal->code, refusal->text());
  auto& statement = std::get<WriteStatement>(parsed);
  if (!statement.database.empty() && statement.database != options_.database &&
      statement.kind != WriteStatement::Kind::kCreate)
    return refuseNow("database", kAccessDenied,
                     chText(kAccessDenied, "ACCESS_DENIED",
                            fmt::format("database {} is not written here: only {}", statement.database.substr(0, 64),
                                        options_.database)));
  if (statement.kind != WriteStatement::Kind::kInsert) return responder.send(schemaStatement(statement, query_id));

  if (!options_.tables.contains(statement.name))
    return refuseNow("table", kAccessDenied,
                     chText(kAccessDenied, "ACCESS_DENIED",
                            fmt::format("table {} is not written here: only the OpenTelemetry tables kobs's "
                                        "pipeline writes ({})",
                                        statement.name.substr(0, 64), fmt::join(options_.tables, ", "))));
  Job job;
  try {
    job.body = store::decompressBody(request.header("content-encoding").value_or(""), request.body,
                                     options_.max_body_bytes);
  } catch (const store::BodyTooLarge& e) {
    auto r = refuse("too_large", kTooLargeStringSize,
                    chText(kTooLargeStringSize, "TOO_LARGE_STRING_SIZE",
                           fmt::format("insert body over {} bytes decompressed (serve.clickhouse_write.max_body_bytes)",
                                       e.limit)));
    r.headers.set("X-ClickHouse-Query-Id", query_id);
    return responder.send(std::move(r));
  } catch (const store::UnsupportedEncoding& e) {
    return refuseNow("encoding", kCannotDecompress,
                     chText(kCannotDecompress, "CANNOT_DECOMPRESS",
                            fmt::format("Content-Encoding {} is not supported: use gzip or zstd", e.encoding.substr(0, 32))));
  } catch (const Exception& e) {
    return refuseNow("encoding", kCannotDecompress, chText(kCannotDecompress, "CANNOT_DECOMPRESS", e.what()));
  }
  job.table = std::move(statement.name);
  job.columns = std::move(statement.columns);
  job.token = std::string(request.queryParam("insert_deduplication_token").value_or(""));
  job.query_id = query_id;
  job.responder = std::move(responder);
  {
    std::unique_lock lock(mutex_);
    if (stopping_) {
      lock.unlock();
      return refuseNow("stopping", kQueryWasCancelled,
                       chText(kQueryWasCancelled, "QUERY_WAS_CANCELLED", "kobs is shutting down; send it again"));
    }
    if (!queue_.empty() && queued_bytes_ + job.body.size() > options_.max_queued_bytes) {
      lock.unlock();
      auto r = refuse("busy", kTooManySimultaneousQueries,
                      chText(kTooManySimultaneousQueries, "TOO_MANY_SIMULTANEOUS_QUERIES",
                             fmt::format("{} bytes of inserts are waiting for the store "
                                         "(serve.clickhouse_write.max_queued_bytes); send it again later",
                                         queued_bytes_)));
      r.headers.set("X-ClickHouse-Query-Id", query_id);
      r.headers.set("Retry-After", "1");
      return job.responder->send(std::move(r));
    }
    queued_bytes_ += job.body.size();
    queued_gauge_.set(double(queued_bytes_));
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
}

http::Response WritePath::schemaStatement(const WriteStatement& s, const std::string& query_id) {
  auto refuseSchema = [&](const std::string& message) {
    auto r = refuse("schema", kAccessDenied, chText(kAccessDenied, "ACCESS_DENIED", message));
    r.headers.set("X-ClickHouse-Query-Id", query_id);
    return r;
  };
  const std::string database = s.kind == WriteStatement::Kind::kCreate && s.object == "DATABASE" ? s.name
                               : s.database.empty()                                                ? options_.database
                                                                                                   : s.database;
  if (database != options_.database)
    return refuseSchema(fmt::format("database {} is not this store's ({}): point the agent's schema.database at it",
                                    database.substr(0, 64), options_.database));
  try {
    if (s.kind == WriteStatement::Kind::kCreate && s.object != "DATABASE" &&
        !store::schema::tableExists(reader_, database, s.name))
      return refuseSchema(fmt::format(
          "{}.{} does not exist in the central kobs's store, and agents do not create tables there: give the agent "
          "the central kobs's schema.* settings (table names, variant, events table)",
          database, s.name.substr(0, 64)));
    if (s.kind == WriteStatement::Kind::kAlterDeduplicationWindow) {
      auto layout = store::schema::describeTable(reader_, database, s.name);
      if (!layout.exists || (layout.isPlainMergeTree() && layout.deduplication_window == 0))
        return refuseSchema(fmt::format(
            "{}.{} {}: the central kobs sets the deduplication window itself (schema.deduplication_window)", database,
            s.name.substr(0, 64), layout.exists ? "has no deduplication window" : "does not exist"));
    }
  } catch (const Exception& e) {
    const int code = e.clickhouseCode() ? e.clickhouseCode() : kUnknownException;
    return error(code, storeMessage(e), query_id);
  }
  schema_statements_.inc();
  return ok(query_id, 0, 0, std::chrono::nanoseconds(0));
}

void WritePath::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;  // stop() answers what is left
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    insert(job);
    std::lock_guard lock(mutex_);
    queued_bytes_ -= std::min(queued_bytes_, job.body.size());
    queued_gauge_.set(double(queued_bytes_));
  }
}

void WritePath::insert(Job& job) {
  const auto started = std::chrono::steady_clock::now();
  store::InsertRequest request;
  request.table = job.table;
  request.columns = job.columns;
  request.format = "RowBinary";
  request.body = job.body;
  request.rows = 0;  // not known without decoding the rows; the store's count is the answer
  request.deduplication_token = job.token;
  // Any insert with a token may be an agent's replay: have the store tell a
  // deduplicated one (it then stores nothing and must answer 0 rows).
  request.may_be_duplicate = !job.token.empty();
  try {
    auto result = writer_.insert(request);
    const auto elapsed = std::chrono::steady_clock::now() - started;
    if (result.deduplicated) {
      deduplicated_.inc();
      job.responder->send(ok(job.query_id, 0, 0, elapsed));
      return;
    }
    stored_.inc();
    rows_.inc(result.rows_written);
    bytes_.inc(job.body.size());
    job.responder->send(ok(job.query_id, result.rows_written, job.body.size(), elapsed));
  } catch (const Exception& e) {
    failed_.inc();
    int code = e.clickhouseCode();
    if (code == 0) code = e.code() == ErrorCode::kShuttingDown ? kQueryWasCancelled : kUnknownException;
    logging::get("chcompat.write")
        ->warn("insert into {} failed code={} query_id={}: {}", job.table, code, job.query_id, e.what());
    const std::string message = storeMessage(e);
    job.responder->send(error(code,
                             message.rfind("Code: ", 0) == 0 ? message
                                                             : chText(code, "UNKNOWN_EXCEPTION", message),
                             job.query_id));
  } catch (const std::exception& e) {
    failed_.inc();
    logging::get("chcompat.write")->error("insert into {} failed: {}", job.table, e.what());
    job.responder->send(error(kUnknownException, chText(kUnknownException, "UNKNOWN_EXCEPTION", e.what()), job.query_id));
  }
}

}  // namespace kobs::serve::chcompat
