// A ClickHouse-compatible HTTP endpoint (port 8123) in front of the embedded
// store, for the tools that speak ClickHouse's HTTP interface (the Krateo
// RESTAction, clickhouse clients, the ClickHouse MCP server):
//   GET /ping                         "Ok.\n"
//   GET|POST /?query=...              the query (POST: URL query + "\n" + body,
//                                     as ClickHouse joins them); `database`
//                                     (must be the store's), `default_format`
//                                     (TabSeparated), `query_id`, `param_<x>`
//                                     substituted into {x:Type} placeholders.
//   GET /events?composition_id=ID[&limit=N], GET /events/ID
//                                     the old predefined handler: FORMAT JSON,
//                                     nine String columns, newest first, at
//                                     most 50 rows (`limit` lowers it).
// Read-only by construction: queries run on a chDB connection opened with
// --readonly=1 (EmbeddedStore::openReadOnly), which refuses INSERT, DDL,
// SYSTEM, SET, SETTINGS overrides and file()/url() with code 164 (READONLY),
// as a ClickHouse server does for a readonly user. Any other URL parameter is
// a settings override and is refused with 164 likewise.
// Responses carry X-ClickHouse-Format, X-ClickHouse-Query-Id,
// X-ClickHouse-Timezone and X-ClickHouse-Summary; errors carry
// X-ClickHouse-Exception-Code and ClickHouse's "Code: N. DB::Exception: ..."
// body, with ClickHouse's status mapping (400 syntax/params, 403 readonly,
// 404 unknown table/database, 500 otherwise).
//
// Threading: handlers are blocking routes (worker pool); the store is
// thread-safe.
#pragma once

#include <string>

#include "http/router.h"
#include "store/store.h"

namespace kobs::serve::chcompat {

struct EndpointOptions {
  std::string database = "default";        // the only database served
  std::string events_table = "krateo_events";
  size_t events_limit = 50;
};

class ClickHouseEndpoint {
 public:
  // `readonly` must be a --readonly=1 store (it must outlive the server).
  ClickHouseEndpoint(store::IStore& readonly, EndpointOptions options);

  void addRoutes(http::Router& router);

  // ClickHouse's HTTP status for one of its error codes.
  static int httpStatusFor(int clickhouse_code);
  // The format a query names in a trailing FORMAT clause ("" if none), and
  // the query without it.
  static std::pair<std::string, std::string> splitFormat(const std::string& sql);

 private:
  http::Response query(const http::Request& request);
  http::Response events(const http::Request& request, std::string composition_id);
  http::Response run(const std::string& sql, const std::string& format, const std::string& query_id);
  static http::Response error(int code, const std::string& message);

  store::IStore& store_;
  const EndpointOptions options_;
};

}  // namespace kobs::serve::chcompat
