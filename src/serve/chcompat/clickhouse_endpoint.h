// A ClickHouse-compatible HTTP endpoint (port 8123) in front of the embedded
// store, for the tools that speak ClickHouse's HTTP interface (the Krateo
// RESTAction, clickhouse clients, the ClickHouse MCP server):
//   GET /ping                         "Ok.\n" (no authentication, as ClickHouse)
//   GET|POST /?query=...              the query (POST: URL query + "\n" + body,
//                                     as ClickHouse joins them); `database`
//                                     (must be the store's), `default_format`
//                                     (TabSeparated), `query_id`, `param_<x>`
//                                     substituted into {x:Type} placeholders.
//   GET /events?composition_id=ID[&limit=N], GET /events/ID
//                                     the old predefined handler: FORMAT JSON,
//                                     nine String columns, newest first, at
//                                     most 50 rows (`limit` lowers it).
//                                     With EndpointOptions::recent, a page of
//                                     a recently active composition comes
//                                     from memory: the same meta, data and
//                                     rows as the store's, statistics of its
//                                     own (nothing read from storage).
// Read-only by checking, not by trust: every statement goes through
// store/sql_guard (one SELECT / WITH / SHOW / DESCRIBE / EXISTS / EXPLAIN, no
// INTO OUTFILE, no table function reaching files, URLs, servers or programs,
// only allow-listed SETTINGS) before it reaches the store, which is also a
// --readonly=1 chDB connection (EmbeddedStore::openReadOnly). URL parameters
// other than the protocol's (ClickHouse's reserved names, param_*) are
// settings: the same allow-list applies; accepted ones are added to the
// statement's SETTINGS, except the HTTP-level ones this endpoint handles
// (add_http_cors_header) or has no use for (compression, progress headers).
// Refusals answer 164 READONLY (62 SYNTAX_ERROR for text that does not
// parse or holds several statements) and count in
// kobs_clickhouse_endpoint_refused_total{reason}.
//
// Authentication (when `users_file` is set; see users_file.h): credentials
// as ClickHouse takes them over HTTP, in one of three ways: basic auth,
// X-ClickHouse-User/X-ClickHouse-Key headers, or `user`/`password` URL
// parameters; none means user `default` with no password. A failure answers
// 516 AUTHENTICATION_FAILED (HTTP 401) and counts as reason="auth".
//
// With a write path (EndpointOptions::writer, off by default), POST requests
// holding INSERT, CREATE or ALTER go to it instead (see write_path.h), and
// its users may also read.
//
// Responses carry X-ClickHouse-Format, X-ClickHouse-Query-Id,
// X-ClickHouse-Timezone and X-ClickHouse-Summary; errors carry
// X-ClickHouse-Exception-Code and ClickHouse's "Code: N. DB::Exception: ..."
// body, with ClickHouse's status mapping (400 syntax/params, 401 auth, 403
// readonly, 404 unknown table/database, 500 otherwise).
//
// Threading: handlers are blocking routes (worker pool), except /events
// pages held in memory, answered on the io thread; the store, the users
// file, the counters and RecentEvents::page are thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "http/router.h"
#include "serve/chcompat/users_file.h"
#include "serve/events/recent_events.h"
#include "store/store.h"

namespace kobs::serve::chcompat {

class WritePath;

struct EndpointOptions {
  std::string database = "default";        // the only database served
  std::string events_table = "krateo_events";
  size_t events_limit = 50;
  std::string users_file;                  // empty: no authentication
  metrics::Registry* metrics = nullptr;    // refusal counters (optional)
  // The authenticated write path for node agents (write_path.h); null: off,
  // every write refused as READONLY. Must outlive the endpoint.
  WritePath* writer = nullptr;
  // The :8080 API's newest rows of active compositions (events_api.h); null:
  // every /events page from the store. Must outlive the endpoint.
  const events::RecentEvents* recent = nullptr;
};

class ClickHouseEndpoint {
 public:
  // `readonly` must be a --readonly=1 store (it must outlive the server).
  // Throws kBadConfig when the users file cannot be loaded.
  ClickHouseEndpoint(store::IStore& readonly, EndpointOptions options);

  void addRoutes(http::Router& router);

  // ClickHouse's HTTP status for one of its error codes.
  static int httpStatusFor(int clickhouse_code);

 private:
  http::Response query(const http::Request& request);
  // kMemory (on the io thread): the page from options_.recent, an answer
  // that needs no store, or nullopt; kStore: from the store, always answers.
  enum class Source { kMemory, kStore };
  std::optional<http::Response> events(const http::Request& request, std::string composition_id, Source source);
  http::Response run(const std::string& sql, const std::string& format, const std::string& query_id);
  // nullopt when the request may go on; else the 516 answer.
  std::optional<http::Response> authenticate(const http::Request& request);
  http::Response refused(const std::string& reason, int code, const std::string& text);
  static http::Response error(int code, const std::string& message);

  store::IStore& store_;
  const EndpointOptions options_;
  std::unique_ptr<UsersFile> users_;
  std::map<std::string, metrics::Counter*> refusals_;  // by reason (null without a registry); fixed after construction
};

}  // namespace kobs::serve::chcompat
