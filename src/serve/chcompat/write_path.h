// The write path of the ClickHouse-compatible endpoint: kobs as the central
// store for node agents. A `kobs collect` with store.kind=clickhouse pointed
// at a central kobs's :8123 writes through it into the embedded store, with
// its sender, disk buffer and deduplication tokens unchanged. Off by default
// (serve.clickhouse_write.enabled).
//
// What it takes (POST only, from users of its own users file; users_file.h):
//   - INSERT INTO [db.]<table> (cols) FORMAT RowBinary in the `query` URL
//     parameter with the rows as the body (gzip or zstd by Content-Encoding,
//     at most max_body_bytes once decompressed), into the tables listed in
//     the options (the OpenTelemetry tables kobs's pipeline writes). URL
//     parameters: the protocol's (database, query_id, credentials) and
//     insert_deduplication_token / deduplicate_blocks_in_dependent_
//     materialized_views; any other setting is refused. A token already
//     stored (a replayed batch) stores nothing and answers written_rows 0.
//   - the agent's schema step: CREATE ... IF NOT EXISTS of an object that
//     exists, and ALTER TABLE ... MODIFY SETTING non_replicated_deduplication_
//     window = N on a table that has a window, answered 200 without running
//     anything (the central kobs owns its schema); otherwise refused.
// Everything else stays with the read-only side (and is refused there as
// before). Queries (SELECT version(), system.tables, ...) go to the read
// side, which also lets this path's users in.
//
// Answers as ClickHouse does: 200 with X-ClickHouse-Summary ({"written_rows":
// "N", ...}), X-ClickHouse-Query-Id and X-ClickHouse-Timezone; failures with
// "Code: N. DB::Exception: ..." and X-ClickHouse-Exception-Code: 516 (HTTP
// 401) for credentials, 497 ACCESS_DENIED (403) for a statement, table or
// database not allowed, 164 READONLY for a setting, 73 UNKNOWN_FORMAT (400)
// for another format, 131 (413) for a body over the limit, 202 TOO_MANY_
// SIMULTANEOUS_QUERIES (429) when max_queued_bytes are waiting, 394 when
// stopping, and the store's own code for an insert that fails. An agent's
// store retries 429/202/394 and keeps the batch in its disk buffer.
//
// Threading: handle() runs on the HTTP server's worker pool (after the body
// was read by the io thread, so a slow client holds no worker): it checks,
// decompresses and queues, then returns; one writer thread inserts the
// queued batches in order through the store (the embedded store's writer
// connection, the one whose inserts are serialised, which is what lets it
// tell a deduplicated insert apart) and answers through the Responder.
// Schema statements are answered on the worker (they only read). Counters
// are atomics; claims() and authenticates() are thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "common/metrics.h"
#include "http/router.h"
#include "serve/chcompat/users_file.h"
#include "serve/chcompat/write_statement.h"
#include "store/store.h"

namespace kobs::serve::chcompat {

struct WritePathOptions {
  std::string database = "default";       // the only database written
  std::set<std::string> tables;           // tables an INSERT may name
  std::string users_file;                 // required: who may write
  size_t max_body_bytes = 64 << 20;       // one insert's rows, decompressed
  size_t max_queued_bytes = 256 << 20;    // rows waiting for the writer; beyond: 202 (retry)
  metrics::Registry* metrics = nullptr;   // optional
};

class WritePath {
 public:
  // `writer` takes the inserts (the process's embedded store); `reader`
  // answers the schema checks. Both must outlive this. Throws kBadConfig
  // without a loadable users file.
  WritePath(store::IStore& writer, store::IStore& reader, WritePathOptions options);
  ~WritePath();
  WritePath(const WritePath&) = delete;
  WritePath& operator=(const WritePath&) = delete;

  void start();
  // Answers what is still queued with 394 (the agents retry), joins the
  // writer. Idempotent.
  void stop();

  // A POST whose statement is an INSERT, CREATE or ALTER.
  bool claims(const http::Request& request) const;
  // The request carries the credentials of one of this path's users.
  bool authenticates(const http::Request& request);
  // Answers through `responder`, now or from the writer thread.
  void handle(const http::Request& request, http::Responder responder);

  // Refusal reasons, the label values of kobs_clickhouse_write_refused_total.
  static const std::vector<std::string>& refusalReasons();

 private:
  struct Job {
    std::string table;
    std::vector<std::string> columns;
    std::string body;
    std::string token;
    std::string query_id;
    std::optional<http::Responder> responder;  // always set once queued
  };

  void run();
  void insert(Job& job);
  http::Response refuse(const std::string& reason, int code, const std::string& text);
  http::Response schemaStatement(const WriteStatement& statement, const std::string& query_id);

  store::IStore& writer_;
  store::IStore& reader_;
  const WritePathOptions options_;
  UsersFile users_;

  std::unique_ptr<metrics::Registry> own_registry_;  // when the options bring none
  metrics::Registry& registry_;
  metrics::Counter& stored_;
  metrics::Counter& deduplicated_;
  metrics::Counter& failed_;
  metrics::Counter& rows_;
  metrics::Counter& bytes_;
  metrics::Counter& schema_statements_;
  metrics::Gauge& queued_gauge_;
  std::map<std::string, metrics::Counter*> refused_;  // fixed after construction

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  size_t queued_bytes_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kobs::serve::chcompat
