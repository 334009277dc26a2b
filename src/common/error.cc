#include "common/error.h"

namespace kobs {

std::string_view errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "OK";
    case ErrorCode::kBadConfig: return "BAD_CONFIG";
    case ErrorCode::kBadArguments: return "BAD_ARGUMENTS";
    case ErrorCode::kIo: return "IO_ERROR";
    case ErrorCode::kCorruptData: return "CORRUPT_DATA";
    case ErrorCode::kLibraryLoad: return "LIBRARY_LOAD";
    case ErrorCode::kStoreUnavailable: return "STORE_UNAVAILABLE";
    case ErrorCode::kStoreQuery: return "STORE_QUERY";
    case ErrorCode::kStoreAuth: return "STORE_AUTH";
    case ErrorCode::kStoreShortWrite: return "STORE_SHORT_WRITE";
    case ErrorCode::kStoreTimeout: return "STORE_TIMEOUT";
    case ErrorCode::kSchemaMismatch: return "SCHEMA_MISMATCH";
    case ErrorCode::kBufferFull: return "BUFFER_FULL";
    case ErrorCode::kShuttingDown: return "SHUTTING_DOWN";
    case ErrorCode::kBadInput: return "BAD_INPUT";
    case ErrorCode::kNotFound: return "NOT_FOUND";
    case ErrorCode::kUnauthorized: return "UNAUTHORIZED";
    case ErrorCode::kApiUnavailable: return "API_UNAVAILABLE";
    case ErrorCode::kApiRejected: return "API_REJECTED";
    case ErrorCode::kInternal: return "INTERNAL";
  }
  return "UNKNOWN";
}

bool isRetryable(ErrorCode code) {
  switch (code) {
    case ErrorCode::kStoreUnavailable:
    case ErrorCode::kStoreTimeout:
    case ErrorCode::kStoreShortWrite:
    case ErrorCode::kBufferFull:
    case ErrorCode::kApiUnavailable:
    // Not done because the process is stopping: the work stays where it is
    // (disk buffer, checkpoint) and is done after the restart, never set aside.
    case ErrorCode::kShuttingDown:
      return true;
    default:
      return false;
  }
}

int httpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return 200;
    case ErrorCode::kBadArguments:
    case ErrorCode::kBadInput: return 400;
    case ErrorCode::kUnauthorized:
    case ErrorCode::kStoreAuth: return 401;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kBufferFull: return 429;
    case ErrorCode::kStoreUnavailable:
    case ErrorCode::kStoreTimeout:
    case ErrorCode::kShuttingDown:
    case ErrorCode::kApiUnavailable: return 503;
    case ErrorCode::kApiRejected: return 502;
    default: return 500;
  }
}

void Exception::addContext(std::string_view context) {
  full_ = fmt::format("{}: {}", context, what());
}

}  // namespace kobs
