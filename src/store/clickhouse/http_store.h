// HttpStore: IStore over ClickHouse's HTTP interface (port 8123), with libcurl.
//
// Wire protocol, as this store speaks it:
//   - ping():    GET  /ping                        -> 200 "Ok.\n" (no auth involved)
//   - execute(): POST /?database=D&<settings>      body: the SQL
//   - query():   POST /?database=D&default_format=F&<settings>   body: the SQL;
//                the response body is the result in format F. A FORMAT clause
//                in the SQL would win over default_format, so do not write one.
//   - insert():  POST /?database=D&query=INSERT INTO `D`.`T` (`c1`, ...) FORMAT RowBinary
//                     [&insert_deduplication_token=K&deduplicate_blocks_in_dependent_materialized_views=1]
//                     &<settings>
//                body: the encoded rows. ClickHouse concatenates `query` and
//                the body, so the rows are streamed straight into the table.
//   - per-query settings are URL parameters (ClickHouse reads every unknown
//     parameter as a setting).
//   - auth: HTTP basic (Authorization header), or X-ClickHouse-User and
//     X-ClickHouse-Key headers; never in the URL, so it is never logged.
//   - bodies above `compress_min_bytes` are sent with Content-Encoding gzip
//     (all versions) or zstd (21.x and newer only).
//   - errors: non-2xx status; the ClickHouse code from X-ClickHouse-Exception-Code
//     (22.x+) or from "Code: NNN" in the body (see clickhouse_error.h).
//   - written rows: the X-ClickHouse-Summary header, JSON whose values are
//     strings: {"read_rows":"0",...,"written_rows":"3",...}. Servers before
//     19.x (Debian's 18.16) do not send it: the row count is then unknown,
//     and checkRowsWritten() is skipped (a 200 is the only proof we get).
//   - ClickHouse may answer 200 and then fail mid-stream while sending a
//     large SELECT result; the exception text then ends the body. This store
//     does not detect that (pass wait_end_of_query=1 as a setting when it matters).
//
// Retries (retry_policy.h): network errors, timeouts, 5xx without a ClickHouse
// exception (a proxy's 503) and a few transient ClickHouse codes are retried
// with full-jitter backoff; SQL errors, auth failures and 4xx never are.
// An insert retried after an attempt that may have committed is checked with
// may_be_duplicate = true, and resent with the same deduplication token, so
// "0 rows written, deduplicated" counts as success. Without a token and on
// servers without deduplication (18.16), such a retry can duplicate a batch.
// ping() is one attempt, never retried. Every call honours options.stop
// (kShuttingDown), so a hung server cannot hold up shutdown.
//
// Threading: all methods are thread-safe. Each call borrows a curl easy handle
// from a pool (created on demand, one per concurrent caller; at most
// `max_idle_handles` kept) so its keep-alive connection is reused by the next
// call. Counters are atomics.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/stop.h"
#include "store/clickhouse/body_codec.h"
#include "store/clickhouse/retry_policy.h"
#include "store/store.h"

namespace kobs::store {

enum class HttpAuthMode : uint8_t {
  kBasic = 0,    // Authorization: Basic (user:password)
  kHeaders = 1,  // X-ClickHouse-User / X-ClickHouse-Key
};

struct HttpStoreOptions {
  std::string url = "http://127.0.0.1:8123";  // scheme://host:port[/path], no credentials
  std::string user = "default";
  std::string password;
  std::string database = "default";
  HttpAuthMode auth = HttpAuthMode::kBasic;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{60000};  // whole request, body upload included
  RetryOptions retry;                                // max_retries, backoff_base, backoff_max
  BodyCompression compression = BodyCompression::kGzip;
  size_t compress_min_bytes = 64 * 1024;             // smaller bodies go uncompressed
  int compression_level = 0;                         // 0: gzip 1, zstd 1 (speed over ratio)
  bool tls_verify = true;                            // verify peer and host for https
  std::string ca_file;                               // extra CA bundle for https; empty: system
  size_t max_idle_handles = 8;                       // idle keep-alive connections kept
  // Shutdown: once it stops, an in-flight request is aborted (within about a
  // second: libcurl's progress callback), no retry or backoff starts, and
  // the call throws kShuttingDown. A stop set for later also bounds each
  // request's timeout. Default: never stops.
  StopToken stop;
};

// Totals since the store was made; read by the metrics exporter.
struct HttpStoreCounters {
  std::atomic<uint64_t> requests{0};             // HTTP attempts sent (retries included)
  std::atomic<uint64_t> retries{0};              // attempts that were retries
  std::atomic<uint64_t> errors{0};               // calls that finally threw
  std::atomic<uint64_t> connections_opened{0};   // new TCP connections (CURLINFO_NUM_CONNECTS)
  std::atomic<uint64_t> bytes_sent{0};           // request body bytes on the wire (after compression)
  std::atomic<uint64_t> rows_inserted{0};        // rows reported written (or sent, when unknown)
};

class HttpStore final : public IStore {
 public:
  // Does not contact the server (call ping() or a query to check it).
  explicit HttpStore(HttpStoreOptions options);
  // For tests: a retry policy with an injected RNG.
  HttpStore(HttpStoreOptions options, RetryPolicy::Rng rng);
  ~HttpStore() override;
  HttpStore(const HttpStore&) = delete;
  HttpStore& operator=(const HttpStore&) = delete;

  std::string_view kind() const override { return "clickhouse"; }
  const std::string& database() const override { return options_.database; }
  void execute(std::string_view sql, const Settings& settings = {}) override;
  QueryResult query(std::string_view sql, std::string_view format, const Settings& settings = {}) override;
  InsertResult insert(const InsertRequest& request) override;
  void ping() override;

  const HttpStoreCounters& counters() const { return counters_; }
  const HttpStoreOptions& options() const { return options_; }

 private:
  class Handle;
  struct Request;
  struct Response;

  // One attempt; throws the mapped Exception on transport errors and non-2xx.
  Response perform(const Request& request);
  // perform() under the retry policy. `on_retry` runs before each retry.
  template <typename OnRetry>
  Response performWithRetries(const Request& request, OnRetry&& on_retry);

  std::unique_ptr<Handle> acquire();
  void release(std::unique_ptr<Handle> handle);

  HttpStoreOptions options_;
  RetryPolicy retry_;
  HttpStoreCounters counters_;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<Handle>> idle_;
  // Set once a server refuses insert_deduplication_token (before 21.x): the
  // token is left out from then on, and replays are no longer deduplicated.
  std::atomic<bool> no_dedup_token_{false};
};

}  // namespace kobs::store
