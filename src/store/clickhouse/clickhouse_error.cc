#include "store/clickhouse/clickhouse_error.h"

#include <charconv>
#include <string>

#include "store/error_class.h"

namespace kobs::store::clickhouse {
namespace {

int parseInt(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// The server's message, trimmed and bounded so a huge body cannot flood logs.
std::string shortMessage(std::string_view body) {
  constexpr size_t kMax = 1000;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r' || body.back() == ' ')) body.remove_suffix(1);
  std::string out(body.substr(0, kMax));
  if (body.size() > kMax) out += "...";
  return out;
}

}  // namespace

int parseExceptionCode(std::string_view text) {
  auto pos = text.find("Code: ");
  if (pos == std::string_view::npos) return 0;
  return parseInt(text.substr(pos + 6, 12));
}

bool isAuthCode(int code) { return store::isAuthCode(code); }

Exception errorFromResponse(const FailedResponse& r) {
  int code = r.exception_code_header.empty() ? 0 : parseInt(r.exception_code_header);
  if (code == 0) code = parseExceptionCode(r.body);
  std::string message = shortMessage(r.body);

  if (isAuthCode(code) || r.http_status == 401 || r.http_status == 403) {
    return Exception(ErrorCode::kStoreAuth, "ClickHouse authentication failed for user '{}' at {} (HTTP {}): {}", r.user,
                     r.url, r.http_status, message)
        .withClickhouseCode(code);
  }
  if (code != 0) {
    ErrorCode ec = errorCodeFor(code, message);
    return Exception(ec, "ClickHouse at {} failed {} (HTTP {}): {}", r.url, r.what, r.http_status, message)
        .withClickhouseCode(code);
  }
  ErrorCode ec = ErrorCode::kStoreQuery;
  if (r.http_status >= 500 || r.http_status == 429) ec = ErrorCode::kStoreUnavailable;
  else if (r.http_status == 408) ec = ErrorCode::kStoreTimeout;
  return Exception(ec, "ClickHouse at {} answered HTTP {} to {}: {}", r.url, r.http_status, r.what,
                   message.empty() ? std::string("(empty body)") : message);
}

}  // namespace kobs::store::clickhouse
