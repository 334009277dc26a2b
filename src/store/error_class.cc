#include "store/error_class.h"

namespace kobs::store {

bool isAuthCode(int code) {
  // 192 UNKNOWN_USER, 193 WRONG_PASSWORD, 194 REQUIRED_PASSWORD, 516 AUTHENTICATION_FAILED
  return code == 192 || code == 193 || code == 194 || code == 516;
}

bool isTooManyPartitions(int code, std::string_view message) {
  return code == 252 && message.find("Too many partitions") != std::string_view::npos;
}

bool isMalformedDataOrSchemaCode(int code) {
  switch (code) {
    case 6:    // CANNOT_PARSE_TEXT
    case 8:    // THERE_IS_NO_COLUMN
    case 10:   // NOT_FOUND_COLUMN_IN_BLOCK
    case 16:   // NO_SUCH_COLUMN_IN_TABLE
    case 20:   // NUMBER_OF_COLUMNS_DOESNT_MATCH
    case 26:   // CANNOT_PARSE_QUOTED_STRING
    case 27:   // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    case 32:   // ATTEMPT_TO_READ_AFTER_EOF
    case 33:   // CANNOT_READ_ALL_DATA
    case 38:   // CANNOT_PARSE_DATE
    case 41:   // CANNOT_PARSE_DATETIME
    case 43:   // ILLEGAL_TYPE_OF_ARGUMENT
    case 44:   // ILLEGAL_COLUMN
    case 47:   // UNKNOWN_IDENTIFIER
    case 53:   // TYPE_MISMATCH
    case 62:   // SYNTAX_ERROR
    case 69:   // ARGUMENT_OUT_OF_BOUND
    case 70:   // CANNOT_CONVERT_TYPE
    case 72:   // CANNOT_PARSE_NUMBER
    case 73:   // UNKNOWN_FORMAT
    case 117:  // INCORRECT_DATA
    case 128:  // TOO_LARGE_ARRAY_SIZE
    case 131:  // TOO_LARGE_STRING_SIZE
    case 190:  // SIZES_OF_ARRAYS_DONT_MATCH
    case 349:  // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    case 352:  // AMBIGUOUS_COLUMN_NAME
    case 691:  // UNKNOWN_ELEMENT_OF_ENUM
      return true;
    default:
      return false;
  }
}

namespace {

// Server states that pass by themselves: one request may simply be sent again.
bool isTransientCode(int code) {
  switch (code) {
    case 3:    // UNEXPECTED_END_OF_FILE (connection cut mid-body)
    case 23:   // CANNOT_READ_FROM_ISTREAM
    case 24:   // CANNOT_WRITE_TO_OSTREAM
    case 74:   // CANNOT_READ_FROM_FILE_DESCRIPTOR
    case 75:   // CANNOT_WRITE_TO_FILE_DESCRIPTOR
    case 173:  // CANNOT_ALLOCATE_MEMORY
    case 202:  // TOO_MANY_SIMULTANEOUS_QUERIES
    case 203:  // NO_FREE_CONNECTION
    case 210:  // NETWORK_ERROR
    case 225:  // NO_ZOOKEEPER
    case 236:  // ABORTED
    case 241:  // MEMORY_LIMIT_EXCEEDED
    case 242:  // TABLE_IS_READ_ONLY (replica lost Keeper)
    case 243:  // NOT_ENOUGH_SPACE
    case 252:  // TOO_MANY_PARTS (wait for merges; not "too many partitions", see below)
    case 279:  // ALL_CONNECTION_TRIES_FAILED
    case 285:  // TOO_FEW_LIVE_REPLICAS
    case 286:  // UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
    case 289:  // REPLICA_IS_NOT_IN_QUORUM
    case 319:  // UNKNOWN_STATUS_OF_INSERT
    case 394:  // QUERY_WAS_CANCELLED
    case 415:  // ALL_REPLICAS_LOST
    case 425:  // SYSTEM_ERROR
    case 439:  // CANNOT_SCHEDULE_TASK
    case 999:  // KEEPER_EXCEPTION
    case 1000: // POCO_EXCEPTION
      return true;
    default:
      return false;
  }
}

bool isTimeoutCode(int code) {
  return code == 159 /* TIMEOUT_EXCEEDED */ || code == 209 /* SOCKET_TIMEOUT */;
}

}  // namespace

ErrorCode errorCodeFor(int code, std::string_view message) {
  if (isAuthCode(code)) return ErrorCode::kStoreAuth;
  if (isTooManyPartitions(code, message)) return ErrorCode::kStoreQuery;
  if (isTimeoutCode(code)) return ErrorCode::kStoreTimeout;
  if (isTransientCode(code)) return ErrorCode::kStoreUnavailable;
  return ErrorCode::kStoreQuery;
}

InsertFailure classifyInsertFailure(const Exception& e) {
  const int ch = e.clickhouseCode();
  switch (e.code()) {
    case ErrorCode::kStoreUnavailable:
    case ErrorCode::kStoreTimeout:
    case ErrorCode::kShuttingDown:
      return InsertFailure::kRetry;
    case ErrorCode::kStoreShortWrite:
      return InsertFailure::kShortWrite;
    case ErrorCode::kStoreQuery:
      if (isTooManyPartitions(ch, e.what())) return InsertFailure::kSplitByPartition;
      if (isMalformedDataOrSchemaCode(ch)) return InsertFailure::kPermanent;
      if (errorCodeFor(ch, e.what()) != ErrorCode::kStoreQuery) return InsertFailure::kRetry;
      return InsertFailure::kRetryLoud;
    case ErrorCode::kSchemaMismatch:
    case ErrorCode::kBadInput:
      return InsertFailure::kPermanent;
    default:
      // Auth (a rotated password), config, I/O, unknown: never drop the data.
      return InsertFailure::kRetryLoud;
  }
}

std::string_view insertFailureName(InsertFailure f) {
  switch (f) {
    case InsertFailure::kRetry: return "retry";
    case InsertFailure::kRetryLoud: return "retry_loud";
    case InsertFailure::kSplitByPartition: return "split_by_partition";
    case InsertFailure::kShortWrite: return "short_write";
    case InsertFailure::kPermanent: return "permanent";
  }
  return "unknown";
}

}  // namespace kobs::store
