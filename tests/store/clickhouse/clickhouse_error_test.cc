#include <gtest/gtest.h>

#include "store/clickhouse/clickhouse_error.h"

namespace kobs::store::clickhouse {
namespace {

TEST(ClickhouseError, ParsesBothBodyStyles) {
  EXPECT_EQ(parseExceptionCode("Code: 60, e.displayText() = DB::Exception: Table default.nope doesn't exist."), 60);
  EXPECT_EQ(parseExceptionCode("Code: 62. DB::Exception: Syntax error: failed at position 1"), 62);
  EXPECT_EQ(parseExceptionCode("no code here"), 0);
  EXPECT_EQ(parseExceptionCode(""), 0);
}

TEST(ClickhouseError, AuthFailureNamesUserAndUrl) {
  auto e = errorFromResponse({.http_status = 401,
                              .body = "Code: 193, e.displayText() = DB::Exception: Wrong password for user default",
                              .user = "default",
                              .url = "http://127.0.0.1:8123",
                              .what = "ping"});
  EXPECT_EQ(e.code(), ErrorCode::kStoreAuth);
  EXPECT_EQ(e.clickhouseCode(), 193);
  EXPECT_NE(std::string(e.what()).find("authentication failed for user 'default' at http://127.0.0.1:8123"),
            std::string::npos)
      << e.what();
}

TEST(ClickhouseError, AuthCodeWinsOverStatusAndHeaderWinsOverBody) {
  auto e = errorFromResponse({.http_status = 500, .exception_code_header = "516", .body = "Code: 1. whatever"});
  EXPECT_EQ(e.code(), ErrorCode::kStoreAuth);
  EXPECT_EQ(e.clickhouseCode(), 516);
  EXPECT_EQ(errorFromResponse({.http_status = 403, .body = "forbidden"}).code(), ErrorCode::kStoreAuth);
}

TEST(ClickhouseError, SqlErrorsAreQueryErrorsEvenOn5xx) {
  auto e = errorFromResponse({.http_status = 500, .body = "Code: 115, e.displayText() = DB::Exception: Unknown setting"});
  EXPECT_EQ(e.code(), ErrorCode::kStoreQuery);
  EXPECT_EQ(e.clickhouseCode(), 115);
  EXPECT_EQ(errorFromResponse({.http_status = 404, .body = "Code: 60. DB::Exception: no table"}).code(),
            ErrorCode::kStoreQuery);
}

TEST(ClickhouseError, TransientServerCodesAreUnavailable) {
  auto e = errorFromResponse({.http_status = 500, .body = "Code: 252. DB::Exception: Too many parts"});
  EXPECT_EQ(e.code(), ErrorCode::kStoreUnavailable);
  EXPECT_EQ(e.clickhouseCode(), 252);
}

TEST(ClickhouseError, BareStatusesMapByClass) {
  EXPECT_EQ(errorFromResponse({.http_status = 503, .body = "Service Unavailable"}).code(), ErrorCode::kStoreUnavailable);
  EXPECT_EQ(errorFromResponse({.http_status = 502}).code(), ErrorCode::kStoreUnavailable);
  EXPECT_EQ(errorFromResponse({.http_status = 429}).code(), ErrorCode::kStoreUnavailable);
  EXPECT_EQ(errorFromResponse({.http_status = 408}).code(), ErrorCode::kStoreTimeout);
  EXPECT_EQ(errorFromResponse({.http_status = 404, .body = "not found"}).code(), ErrorCode::kStoreQuery);
  EXPECT_EQ(errorFromResponse({.http_status = 503}).clickhouseCode(), 0);
}

TEST(ClickhouseError, HugeBodiesAreCutInTheMessage) {
  std::string body = "Code: 62. " + std::string(100000, 'x');
  auto e = errorFromResponse({.http_status = 400, .body = body});
  EXPECT_LT(std::string(e.what()).size(), 2000u);
}

}  // namespace
}  // namespace kobs::store::clickhouse
