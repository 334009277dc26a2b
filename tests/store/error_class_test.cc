// The write path's verdict on each ClickHouse failure (store/error_class.h).
#include "store/error_class.h"

#include <gtest/gtest.h>

#include "store/clickhouse/clickhouse_error.h"

namespace kobs::store {
namespace {

InsertFailure verdict(int code, const std::string& message, long http_status = 500) {
  std::string body = "Code: " + std::to_string(code) + ". DB::Exception: " + message;
  return classifyInsertFailure(clickhouse::errorFromResponse({.http_status = http_status, .body = body}));
}

TEST(ErrorClass, TransientServerStatesAreRetried) {
  EXPECT_EQ(verdict(241, "Memory limit (total) exceeded"), InsertFailure::kRetry);
  EXPECT_EQ(verdict(159, "Timeout exceeded: elapsed 30 seconds"), InsertFailure::kRetry);
  EXPECT_EQ(verdict(209, "Timeout exceeded while reading from socket"), InsertFailure::kRetry);
  EXPECT_EQ(verdict(252, "Too many parts (300). Merges are processing significantly slower than inserts"),
            InsertFailure::kRetry);
  EXPECT_EQ(verdict(242, "Table is in readonly mode"), InsertFailure::kRetry);
  EXPECT_EQ(verdict(999, "Coordination::Exception: Connection loss"), InsertFailure::kRetry);
  EXPECT_EQ(verdict(225, "Cannot use ZooKeeper table engine without ZooKeeper"), InsertFailure::kRetry);
  EXPECT_EQ(verdict(319, "Unknown status of insert"), InsertFailure::kRetry);
  EXPECT_EQ(clickhouse::errorFromResponse({.http_status = 500, .body = "Code: 159. DB::Exception: Timeout"}).code(),
            ErrorCode::kStoreTimeout);
}

TEST(ErrorClass, TooManyPartitionsIsSplitNotRetried) {
  auto e = clickhouse::errorFromResponse(
      {.http_status = 500,
       .body = "Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100). (TOO_MANY_PARTS)"});
  EXPECT_EQ(e.code(), ErrorCode::kStoreQuery) << "the request layer must not resend it unchanged";
  EXPECT_EQ(classifyInsertFailure(e), InsertFailure::kSplitByPartition);
}

TEST(ErrorClass, AuthAfterRotationAndUnknownProblemsAreRetriedLoudly) {
  EXPECT_EQ(verdict(516, "default: Authentication failed", 401), InsertFailure::kRetryLoud);
  EXPECT_EQ(verdict(193, "Wrong password for user default"), InsertFailure::kRetryLoud);
  EXPECT_EQ(verdict(497, "Not enough privileges"), InsertFailure::kRetryLoud);
  EXPECT_EQ(verdict(60, "Table default.otel_logs does not exist"), InsertFailure::kRetryLoud);
  EXPECT_EQ(verdict(4242, "a code kobs does not know"), InsertFailure::kRetryLoud);
  EXPECT_EQ(classifyInsertFailure(Exception(ErrorCode::kIo, "x")), InsertFailure::kRetryLoud);
}

TEST(ErrorClass, OnlyMalformedDataAndSchemaMismatchArePermanent) {
  EXPECT_EQ(verdict(33, "Cannot read all data"), InsertFailure::kPermanent);
  EXPECT_EQ(verdict(53, "Type mismatch"), InsertFailure::kPermanent);
  EXPECT_EQ(verdict(16, "There is no column 'Foo' in table"), InsertFailure::kPermanent);
  EXPECT_EQ(verdict(117, "Incorrect data"), InsertFailure::kPermanent);
  EXPECT_EQ(classifyInsertFailure(Exception(ErrorCode::kStoreShortWrite, "x")), InsertFailure::kShortWrite);
}

TEST(ErrorClass, EmbeddedMessagesClassifyLikeServerResponses) {
  // chDB puts the server's code in its message; the same table applies.
  EXPECT_EQ(errorCodeFor(241, "Code: 241. DB::Exception: Memory limit exceeded"), ErrorCode::kStoreUnavailable);
  EXPECT_EQ(errorCodeFor(252, "Code: 252. DB::Exception: Too many partitions for single INSERT block"),
            ErrorCode::kStoreQuery);
  EXPECT_EQ(errorCodeFor(62, "Code: 62. DB::Exception: Syntax error"), ErrorCode::kStoreQuery);
}

}  // namespace
}  // namespace kobs::store
