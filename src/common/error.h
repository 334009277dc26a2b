// kobs error model: one table of stable codes, exceptions that carry a code, a
// message and context added as the stack unwinds (after ClickHouse's
// Exception/addMessage), and one mapping from codes to HTTP statuses.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace kobs {

// Stable numbers: never reuse a retired one.
enum class ErrorCode : uint16_t {
  kOk = 0,
  kBadConfig = 1,          // configuration key missing, unknown or invalid
  kBadArguments = 2,       // invalid argument to a function (programmer or caller error)
  kIo = 3,                 // file system error
  kCorruptData = 4,        // on-disk data failed its checksum or framing
  kLibraryLoad = 5,        // dlopen/dlsym of a shared library failed
  kStoreUnavailable = 10,  // store cannot be reached (network, server down): retryable
  kStoreQuery = 11,        // the store rejected a query (SQL error): not retryable
  kStoreAuth = 12,         // authentication refused
  kStoreShortWrite = 13,   // fewer rows written than sent
  kStoreTimeout = 14,      // request timed out: retryable
  kSchemaMismatch = 20,    // an existing table lacks a column kobs needs
  kBufferFull = 30,        // disk buffer reached its byte bound
  kShuttingDown = 31,      // component is stopping
  kBadInput = 40,          // malformed input from outside (protobuf, JSON, log line)
  kNotFound = 41,
  kUnauthorized = 42,
  kApiUnavailable = 50,    // a remote API (Kubernetes) cannot be reached or answered 5xx/429: retryable
  kApiRejected = 51,       // a remote API refused the request (4xx other than 401/403/404)
  kInternal = 99,
};

std::string_view errorCodeName(ErrorCode code);

// True for failures that may succeed when tried again unchanged.
bool isRetryable(ErrorCode code);

// The HTTP status a server answers with for an error of this code.
int httpStatusFor(ErrorCode code);

class Exception : public std::runtime_error {
 public:
  Exception(ErrorCode code, std::string message) : std::runtime_error(std::move(message)), code_(code) {}

  template <typename... Args>
  Exception(ErrorCode code, fmt::format_string<Args...> fmt, Args&&... args)
      : Exception(code, fmt::format(fmt, std::forward<Args>(args)...)) {}

  ErrorCode code() const noexcept { return code_; }

  // ClickHouse's own exception code when the error came from ClickHouse (0 otherwise).
  int clickhouseCode() const noexcept { return clickhouse_code_; }
  Exception& withClickhouseCode(int code) & { clickhouse_code_ = code; return *this; }
  Exception&& withClickhouseCode(int code) && { clickhouse_code_ = code; return std::move(*this); }

  // Context added while unwinding: "while inserting into otel_logs: <original>".
  const char* what() const noexcept override { return full_.empty() ? std::runtime_error::what() : full_.c_str(); }
  void addContext(std::string_view context);

 private:
  ErrorCode code_;
  int clickhouse_code_ = 0;
  std::string full_;
};

}  // namespace kobs
