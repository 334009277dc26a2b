// ApiError: a failed Kubernetes API call, carrying the HTTP status and the
// `reason` of the metav1.Status the server answered with.
//
// Threading: plain value.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"

namespace kobs::k8s {

class ApiError : public Exception {
 public:
  // http_status 0 means the request never got an HTTP answer (connect, TLS, timeout).
  ApiError(ErrorCode code, int http_status, std::string reason, std::string message)
      : Exception(code, std::move(message)), http_status_(http_status), reason_(std::move(reason)) {}

  int httpStatus() const noexcept { return http_status_; }
  // Status.reason: "NotFound", "Conflict", "AlreadyExists", "Expired", "Gone", "Unauthorized", ...
  const std::string& reason() const noexcept { return reason_; }

  bool isNotFound() const noexcept { return http_status_ == 404; }
  bool isConflict() const noexcept { return http_status_ == 409; }
  // The resourceVersion (or continue token) is older than the server keeps: relist.
  bool isGone() const noexcept { return http_status_ == 410 || reason_ == "Expired" || reason_ == "Gone"; }

 private:
  int http_status_;
  std::string reason_;
};

// Builds the error for a non-2xx answer: code from the status, reason and
// message from the body when it is a metav1.Status, `what` as context.
ApiError apiErrorFromResponse(int http_status, std::string_view body, std::string_view what);

// ErrorCode for an HTTP status of the API server.
ErrorCode errorCodeForHttpStatus(int http_status);

}  // namespace kobs::k8s
