#include "k8s/api_error.h"

#include <nlohmann/json.hpp>

namespace kobs::k8s {

ErrorCode errorCodeForHttpStatus(int http_status) {
  if (http_status == 401 || http_status == 403) return ErrorCode::kUnauthorized;
  if (http_status == 404) return ErrorCode::kNotFound;
  if (http_status == 429 || http_status >= 500 || http_status == 0) return ErrorCode::kApiUnavailable;
  return ErrorCode::kApiRejected;
}

ApiError apiErrorFromResponse(int http_status, std::string_view body, std::string_view what) {
  std::string reason;
  std::string message;
  // Error path only, so the convenient parser is fine; a non-Status body
  // (a proxy's HTML page) is quoted, shortened.
  auto status = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (status.is_object() && status.value("kind", "") == "Status") {
    reason = status.value("reason", "");
    message = status.value("message", "");
  } else {
    message = std::string(body.substr(0, 200));
  }
  return ApiError(errorCodeForHttpStatus(http_status), http_status, reason,
                  fmt::format("{}: HTTP {} {}: {}", what, http_status, reason, message));
}

}  // namespace kobs::k8s
