#include <gtest/gtest.h>

#include "common/error.h"
#include "store/clickhouse/retry_policy.h"

namespace kobs::store {
namespace {

using std::chrono::milliseconds;

Exception err(ErrorCode code) { return Exception(code, "x"); }

TEST(RetryPolicy, RetriesOnlyUnavailableAndTimeoutUpToTheLimit) {
  RetryPolicy p({.max_retries = 3});
  EXPECT_TRUE(p.shouldRetry(err(ErrorCode::kStoreUnavailable), 0));
  EXPECT_TRUE(p.shouldRetry(err(ErrorCode::kStoreTimeout), 2));
  EXPECT_FALSE(p.shouldRetry(err(ErrorCode::kStoreTimeout), 3));
  EXPECT_FALSE(p.shouldRetry(err(ErrorCode::kStoreQuery), 0));
  EXPECT_FALSE(p.shouldRetry(err(ErrorCode::kStoreAuth), 0));
  EXPECT_FALSE(p.shouldRetry(err(ErrorCode::kBadConfig), 0));
  // A short write is retryable for the pipeline, but not by resending blindly here.
  EXPECT_FALSE(p.shouldRetry(err(ErrorCode::kStoreShortWrite), 0));
}

TEST(RetryPolicy, ZeroRetriesNeverRetries) {
  RetryPolicy p({.max_retries = 0});
  EXPECT_FALSE(p.shouldRetry(err(ErrorCode::kStoreUnavailable), 0));
}

TEST(RetryPolicy, CapDoublesFromBaseAndStopsAtMax) {
  RetryPolicy p({.max_retries = 10, .backoff_base = milliseconds(100), .backoff_max = milliseconds(1000)});
  EXPECT_EQ(p.backoffCap(0), milliseconds(100));
  EXPECT_EQ(p.backoffCap(1), milliseconds(200));
  EXPECT_EQ(p.backoffCap(2), milliseconds(400));
  EXPECT_EQ(p.backoffCap(3), milliseconds(800));
  EXPECT_EQ(p.backoffCap(4), milliseconds(1000));
  EXPECT_EQ(p.backoffCap(1000), milliseconds(1000));  // no overflow on huge retry numbers
}

TEST(RetryPolicy, FullJitterScalesTheCapByTheRandomDraw) {
  std::vector<double> draws{0.0, 0.5, 0.999, 0.25};
  size_t i = 0;
  RetryPolicy p({.max_retries = 10, .backoff_base = milliseconds(100), .backoff_max = milliseconds(1000)},
                [&] { return draws[i++ % draws.size()]; });
  EXPECT_EQ(p.backoff(0), milliseconds(0));
  EXPECT_EQ(p.backoff(2), milliseconds(200));   // 0.5 * 400
  EXPECT_EQ(p.backoff(5), milliseconds(999));   // 0.999 * 1000 (capped)
  EXPECT_EQ(p.backoff(1), milliseconds(50));    // 0.25 * 200
}

TEST(RetryPolicy, DefaultRngStaysWithinTheCap) {
  RetryPolicy p({.max_retries = 10, .backoff_base = milliseconds(10), .backoff_max = milliseconds(80)});
  bool varied = false;
  auto first = p.backoff(3);
  for (int i = 0; i < 200; ++i) {
    auto b = p.backoff(3);
    EXPECT_GE(b, milliseconds(0));
    EXPECT_LE(b, milliseconds(80));
    varied |= b != first;
  }
  EXPECT_TRUE(varied) << "full jitter should not produce a constant wait";
}

TEST(RetryPolicy, MaxBelowBaseIsRaisedToBase) {
  RetryPolicy p({.max_retries = 1, .backoff_base = milliseconds(300), .backoff_max = milliseconds(10)});
  EXPECT_EQ(p.backoffCap(0), milliseconds(300));
  EXPECT_EQ(p.backoffCap(3), milliseconds(300));
}

}  // namespace
}  // namespace kobs::store
