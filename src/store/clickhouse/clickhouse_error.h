// Turning a failed ClickHouse HTTP exchange into a kobs::Exception.
//
// One place decides the ErrorCode, because the retry policy keys on it:
//   - auth: ClickHouse codes 516/192/193/194, or HTTP 401/403 -> kStoreAuth;
//   - other ClickHouse exceptions by store/error_class.h: transient server
//     states -> kStoreUnavailable / kStoreTimeout (retried per request), the
//     rest -> kStoreQuery (not retried here; the sender decides by code);
//   - no ClickHouse exception: 5xx, 429 -> kStoreUnavailable, 408 -> kStoreTimeout,
//     other 4xx -> kStoreQuery.
// The ClickHouse code comes from the X-ClickHouse-Exception-Code header (newer
// servers) or from the body: "Code: 60. DB::Exception: ..." (newer) or
// "Code: 60, e.displayText() = DB::Exception: ..." (18.x).
//
// Threading: pure functions.
#pragma once

#include <string_view>

#include "common/error.h"

namespace kobs::store::clickhouse {

// The NNN of the first "Code: NNN" in `text`; 0 when there is none.
int parseExceptionCode(std::string_view text);

// True for ClickHouse's authentication failure codes.
bool isAuthCode(int clickhouse_code);

struct FailedResponse {
  long http_status = 0;
  std::string_view exception_code_header;  // X-ClickHouse-Exception-Code, may be empty
  std::string_view body;
  std::string_view user;                   // who we authenticated as, for the message
  std::string_view url;                    // server URL without credentials
  std::string_view what;                   // "query", "insert into t", ... for context
};

Exception errorFromResponse(const FailedResponse& response);

}  // namespace kobs::store::clickhouse
