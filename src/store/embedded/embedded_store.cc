#include "store/embedded/embedded_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <regex>

#include <fmt/ranges.h>

#include "common/error.h"
#include "common/logging.h"
#include "store/embedded/dedup_log_repair.h"
#include "store/error_class.h"

namespace kobs::store {
namespace {

// "Code: 60. DB::Exception: Table default.x does not exist. (UNKNOWN_TABLE)" -> 60
int parseClickhouseCode(std::string_view message) {
  auto pos = message.find("Code: ");
  if (pos == std::string_view::npos) return 0;
  int code = 0;
  const char* begin = message.data() + pos + 6;
  std::from_chars(begin, message.data() + message.size(), code);
  return code;
}

std::string appendSettings(std::string_view sql, const Settings& settings) {
  std::string out(sql);
  if (settings.empty()) return out;
  out += " SETTINGS ";
  for (size_t i = 0; i < settings.size(); ++i) {
    if (i) out += ", ";
    out += settings[i].first;
    out += " = ";
    out += quoteString(settings[i].second);
  }
  return out;
}

Exception queryError(std::string_view message, std::string_view sql) {
  constexpr size_t kMaxSql = 200;
  std::string shown(sql.substr(0, kMaxSql));
  if (sql.size() > kMaxSql) shown += "...";
  int code = parseClickhouseCode(message);
  // chDB reports the server's codes, so both stores classify alike.
  ErrorCode ec = code != 0 ? errorCodeFor(code, message) : ErrorCode::kStoreQuery;
  return Exception(ec, "embedded ClickHouse: {} [query: {}]", message, shown).withClickhouseCode(code);
}

}  // namespace

// One chDB connection; not thread-safe (callers hold a lock).
class EmbeddedStore::Connection {
 public:
  Connection(std::shared_ptr<chdb::Library> lib, const std::vector<std::string>& args) : lib_(std::move(lib)) {
    std::vector<std::string> argv_storage = args;
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    conn_ = lib_->api().connect(static_cast<int>(argv.size()), argv.data());
    if (conn_ == nullptr || *conn_ == nullptr)
      throw Exception(ErrorCode::kStoreUnavailable, "chDB refused to open a connection (args: {})", fmt::join(args, " "));
  }
  ~Connection() {
    if (conn_) lib_->api().close_conn(conn_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // RAII owner of a chdb_result.
  struct ResultDeleter {
    const chdb::Api* api;
    void operator()(chdb::Result* r) const { if (r) api->destroy_query_result(r); }
  };
  using ResultPtr = std::unique_ptr<chdb::Result, ResultDeleter>;

  QueryResult run(std::string_view sql, std::string_view format) {
    const auto& api = lib_->api();
    ResultPtr result(api.query_n(*conn_, sql.data(), sql.size(), format.data(), format.size()), ResultDeleter{&api});
    if (!result) throw Exception(ErrorCode::kStoreUnavailable, "chDB returned no result");
    if (const char* err = api.result_error(result.get()); err && *err) throw queryError(err, sql);
    QueryResult out;
    if (const char* buf = api.result_buffer(result.get())) out.data.assign(buf, api.result_length(result.get()));
    out.rows_read = api.result_rows_read(result.get());
    out.bytes_read = api.result_bytes_read(result.get());
    out.elapsed_seconds = api.result_elapsed(result.get());
    return out;
  }

  uint64_t streamInsert(std::string_view sql, std::string_view format, std::string_view body) {
    const auto& api = lib_->api();
    struct StreamDeleter {
      const chdb::Api* api;
      void operator()(chdb::InsertStreamImpl* s) const { if (s) api->destroy_insert_stream(s); }
    };
    std::unique_ptr<chdb::InsertStreamImpl, StreamDeleter> stream(
        api.stream_insert_n(*conn_, sql.data(), sql.size(), format.data(), format.size()), StreamDeleter{&api});
    if (const char* err = api.stream_insert_error(stream.get()); err && *err) throw queryError(err, sql);
    // Appended in chunks so the engine can apply back-pressure on huge batches.
    constexpr size_t kChunk = 1 << 20;
    for (size_t off = 0; off < body.size(); off += kChunk) {
      size_t n = std::min(kChunk, body.size() - off);
      if (api.stream_append(stream.get(), body.data() + off, n) != chdb::kSuccess) {
        const char* err = api.stream_insert_error(stream.get());
        throw queryError(err && *err ? err : "stream append failed", sql);
      }
    }
    ResultPtr result(api.stream_done(stream.get()), ResultDeleter{&api});
    if (!result) throw Exception(ErrorCode::kStoreUnavailable, "chDB returned no result for an insert");
    if (const char* err = api.result_error(result.get()); err && *err) throw queryError(err, sql);
    if (const char* err = api.stream_insert_error(stream.get()); err && *err) throw queryError(err, sql);
    return api.result_rows_written(result.get());
  }

 private:
  std::shared_ptr<chdb::Library> lib_;
  chdb::Connection* conn_ = nullptr;
};

// A fixed set of connections handed out one caller at a time.
class EmbeddedStore::Pool {
 public:
  explicit Pool(std::vector<std::unique_ptr<Connection>> conns) : conns_(std::move(conns)) {
    for (auto& c : conns_) free_.push_back(c.get());
  }
  template <typename Fn>
  auto with(Fn&& fn) {
    Connection* c;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return !free_.empty(); });
      c = free_.back();
      free_.pop_back();
    }
    struct Return {
      Pool* pool;
      Connection* c;
      ~Return() {
        { std::lock_guard lock(pool->mutex_); pool->free_.push_back(c); }
        pool->cv_.notify_one();
      }
    } ret{this, c};
    return fn(*c);
  }

 private:
  std::vector<std::unique_ptr<Connection>> conns_;
  std::vector<Connection*> free_;
  std::mutex mutex_;
  std::condition_variable cv_;
};

namespace {
// A running engine holds an flock on <path>/status (ClickHouse refuses a
// second server on one path that way); flock locks are per open file, so
// this sees an engine of this process too.
bool engineRunning(const std::filesystem::path& engine_path) {
  const auto status = engine_path / "status";
  int fd = ::open(status.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool locked = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // releases our lock, if we got it
  return locked;
}

std::vector<std::string> connectArgs(const EmbeddedOptions& o, bool readonly) {
  std::vector<std::string> args{"kobs", "--path=" + (std::filesystem::path(o.data_dir) / "clickhouse").string()};
  if (readonly) args.push_back("--readonly=" + std::to_string(o.readonly_level));
  // Server settings come last, after "--" (only the booting connection's count).
  for (auto& a : memoryBudgetArgs(o.max_memory)) args.push_back(std::move(a));
  return args;
}
}  // namespace

std::vector<std::string> memoryBudgetArgs(uint64_t m) {
  if (m == 0) return {};
  std::vector<std::string> out{"--"};
  auto set = [&](const char* name, uint64_t v) { out.push_back(fmt::format("--{}={}", name, v)); };
  set("max_server_memory_usage", m);
  set("mark_cache_size", m / 8);
  set("primary_index_cache_size", m / 16);
  set("index_mark_cache_size", m / 16);
  set("text_index_postings_cache_size", m / 16);
  set("text_index_header_cache_size", m / 32);
  set("query_condition_cache_size", m / 64);
  set("compiled_expression_cache_size", m / 64);
  set("vector_similarity_index_cache_size", m / 64);
  set("query_cache.max_size_in_bytes", m / 32);
  set("uncompressed_cache_size", 0);
  set("index_uncompressed_cache_size", 0);
  return out;
}

EmbeddedStore::EmbeddedStore(EmbeddedOptions options)
    : options_(std::move(options)), lib_(chdb::Library::load(chdb::resolveLibraryPath(options_.library_path))) {
  const auto engine_path = std::filesystem::path(options_.data_dir) / "clickhouse";
  std::filesystem::create_directories(engine_path);
  // Before the engine boots and loads them: a crash mid-insert can leave a
  // deduplication record for rows that never landed, which would make the
  // disk buffer's replay of that batch a silent no-op (dedup_log_repair.h).
  // Not while an engine already runs on the path (another store of this
  // process): its inserts in flight are not crash leftovers.
  if (!options_.readonly && !engineRunning(engine_path)) {
    for (const auto& r : repairDeduplicationLogs(engine_path))
      logging::get("store")->warn(
          "{}: {} insert(s) were cut by a crash after their deduplication record was written and before their part "
          "landed (parts {}); their records are cancelled so a replay stores them",
          r.table_dir.string(), r.dropped_parts.size(), fmt::join(r.dropped_parts, ", "));
  }
  writer_ = std::make_shared<Connection>(lib_, connectArgs(options_, options_.readonly));
  if (!options_.readonly) writer_->run("CREATE DATABASE IF NOT EXISTS " + quoteIdentifier(options_.database), "TabSeparated");
  writer_->run("USE " + quoteIdentifier(options_.database), "TabSeparated");
  std::vector<std::unique_ptr<Connection>> readers;
  for (int i = 0; i < std::max(1, options_.reader_connections); ++i) {
    readers.push_back(std::make_unique<Connection>(lib_, connectArgs(options_, options_.readonly)));
    readers.back()->run("USE " + quoteIdentifier(options_.database), "TabSeparated");
  }
  readers_ = std::make_unique<Pool>(std::move(readers));
  if (!options_.readonly && options_.stop.canStop()) {
    killer_ = std::make_unique<Connection>(lib_, connectArgs(options_, false));
    tag_prefix_ = fmt::format("kobs-insert-{:x}-", reinterpret_cast<uintptr_t>(this));
    stop_watcher_ = std::jthread([this](std::stop_token st) { watchStop(st); });
  }
  logging::get("store")->info("embedded ClickHouse {} opened at {}/clickhouse (database {})", version(),
                              options_.data_dir, options_.database);
}

void EmbeddedStore::watchStop(std::stop_token st) {
  using namespace std::chrono_literals;
  while (!st.stop_requested() && !options_.stop.stopRequested()) options_.stop.sleepFor(100ms);
  std::mutex m;
  std::condition_variable_any cv;
  bool warned = false;
  // Killed again until it ends: a KILL that came before the insert reached
  // the engine's process list finds nothing.
  while (!st.stop_requested()) {
    std::string tag;
    {
      std::lock_guard lock(inflight_mutex_);
      tag = inflight_tag_;
    }
    if (!tag.empty()) {
      try {
        killer_->run("KILL QUERY WHERE Settings['log_comment'] = " + quoteString(tag) + " ASYNC", "TabSeparated");
      } catch (const std::exception& e) {
        if (!warned)
          logging::get("store")->warn("shutdown: cannot kill the insert in flight ({}): {}", tag, e.what());
        warned = true;
      }
    }
    std::unique_lock lock(m);
    cv.wait_for(lock, st, 100ms, [] { return false; });
  }
}

EmbeddedStore::EmbeddedStore(std::shared_ptr<chdb::Library> lib, EmbeddedOptions options,
                             std::shared_ptr<Connection> writer)
    : options_(std::move(options)), lib_(std::move(lib)), writer_(std::move(writer)) {}

EmbeddedStore::~EmbeddedStore() = default;

std::string EmbeddedStore::version() const { return lib_->api().version(); }

void EmbeddedStore::execute(std::string_view sql, const Settings& settings) {
  std::lock_guard lock(writer_mutex_);
  writer_->run(appendSettings(sql, settings), "TabSeparated");
}

QueryResult EmbeddedStore::query(std::string_view sql, std::string_view format, const Settings& settings) {
  std::string full = appendSettings(sql, settings);
  return readers_->with([&](Connection& c) { return c.run(full, format); });
}

InsertResult EmbeddedStore::insert(const InsertRequest& request) {
  if (options_.stop.stopRequested())
    throw Exception(ErrorCode::kShuttingDown, "insert into {} not started: the store is shutting down", request.table);
  std::string sql = insertStatement(options_.database, request);
  Settings settings = request.settings;
  if (!options_.skip_indexes_on_insert &&
      std::none_of(settings.begin(), settings.end(),
                   [](const auto& s) { return s.first == "materialize_skip_indexes_on_insert"; }))
    settings.emplace_back("materialize_skip_indexes_on_insert", "0");
  if (!request.deduplication_token.empty()) {
    settings.emplace_back("insert_deduplication_token", request.deduplication_token);
    settings.emplace_back("deduplicate_blocks_in_dependent_materialized_views", "1");
  }
  sql = appendSettings(sql, settings);
  // chDB reports the rows it read as written even when ClickHouse dropped the
  // block as a duplicate, so a possible replay is judged by the engine's
  // DuplicatedInsertedBlocks counter around it. The counter is the engine's,
  // shared by every store of the process (the sender's writers each have one),
  // so inserts that may be replays are serialised process-wide: the difference
  // is then this insert's alone (one with a fresh token is never a duplicate).
  const bool check_dedup = request.may_be_duplicate && !request.deduplication_token.empty();
  static std::mutex dedup_check_mutex;  // taken before writer_mutex_
  std::unique_lock<std::mutex> dedup_lock(dedup_check_mutex, std::defer_lock);
  if (check_dedup) dedup_lock.lock();
  auto duplicatedBlocks = [&] {
    auto r = writer_->run("SELECT sum(value) FROM system.events WHERE event = 'DuplicatedInsertedBlocks'",
                          "TabSeparated");
    uint64_t v = 0;
    std::from_chars(r.data.data(), r.data.data() + r.data.size(), v);
    return v;
  };
  uint64_t written, dup_before = 0, dup_after = 0;
  {
    std::lock_guard lock(writer_mutex_);
    // Tagged so the stop watcher can kill it; registered under the lock the
    // watcher reads, after a last look at the stop, so no insert starts
    // unseen once the stop came.
    struct InFlight {
      EmbeddedStore* store;
      ~InFlight() {
        if (!store) return;
        std::lock_guard l(store->inflight_mutex_);
        store->inflight_tag_.clear();
      }
    } in_flight{nullptr};
    if (killer_) {
      // An insert that carries its own log_comment (the events view reads
      // the batch's ingest time from it) is killed by that one: a second
      // log_comment would override it (the last of a setting wins). Inserts
      // run one at a time on the writer, so it names this insert alone.
      auto own = std::find_if(settings.begin(), settings.end(), [](const auto& s) { return s.first == "log_comment"; });
      const std::string tag = own != settings.end() ? own->second : tag_prefix_ + std::to_string(++insert_seq_);
      std::lock_guard l(inflight_mutex_);
      if (options_.stop.stopRequested())
        throw Exception(ErrorCode::kShuttingDown, "insert into {} not started: the store is shutting down",
                        request.table);
      inflight_tag_ = tag;
      in_flight.store = this;
      if (own == settings.end()) {
        sql += (settings.empty() ? " SETTINGS " : ", ");
        sql += "log_comment = " + quoteString(tag);
      }
    }
    try {
      if (check_dedup) dup_before = duplicatedBlocks();
      written = writer_->streamInsert(sql, request.format, request.body);
      if (check_dedup) dup_after = duplicatedBlocks();
    } catch (const Exception& e) {
      if (killer_ && options_.stop.stopRequested())
        throw Exception(ErrorCode::kShuttingDown, "insert into {} cancelled by shutdown: {}", request.table,
                        e.what());
      throw;
    }
  }
  if (dup_after > dup_before) return InsertResult{0, true};
  return checkRowsWritten(request, written);
}

void EmbeddedStore::ping() { query("SELECT 1", "TabSeparated"); }

std::unique_ptr<IStore> EmbeddedStore::openReadOnly(int connections, int level) {
  EmbeddedOptions ro = options_;
  ro.readonly = true;
  ro.readonly_level = level == 2 ? 2 : 1;
  ro.reader_connections = connections;
  auto writer = std::make_shared<Connection>(lib_, connectArgs(ro, true));
  writer->run("USE " + quoteIdentifier(ro.database), "TabSeparated");
  std::unique_ptr<EmbeddedStore> store(new EmbeddedStore(lib_, ro, writer));
  std::vector<std::unique_ptr<Connection>> readers;
  for (int i = 0; i < std::max(1, connections); ++i) {
    readers.push_back(std::make_unique<Connection>(lib_, connectArgs(ro, true)));
    readers.back()->run("USE " + quoteIdentifier(ro.database), "TabSeparated");
  }
  store->readers_ = std::make_unique<Pool>(std::move(readers));
  return store;
}

}  // namespace kobs::store
