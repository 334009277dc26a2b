// StopSource / StopToken: the shared way a blocking wait honours shutdown.
#include "common/stop.h"

#include <gtest/gtest.h>

#include <thread>

namespace kobs {
namespace {

using namespace std::chrono_literals;
using Clock = StopToken::Clock;

TEST(Stop, DefaultTokenNeverStops) {
  StopToken t;
  EXPECT_FALSE(t.stopRequested());
  EXPECT_FALSE(t.stopTime());
  EXPECT_TRUE(t.sleepFor(1ms));
  EXPECT_EQ(t.remaining(5s), Clock::duration(5s));
}

TEST(Stop, RequestWakesALongSleepOnAnotherThread) {
  StopSource src;
  auto token = src.token();
  std::atomic<int> result{-1};
  std::thread sleeper([&] { result = token.sleepFor(24h) ? 1 : 0; });
  src.requestStop();
  sleeper.join();  // hangs (and the test times out) if the stop is not seen
  EXPECT_EQ(result, 0);
  EXPECT_TRUE(token.stopRequested());
  EXPECT_FALSE(token.sleepFor(24h));
  EXPECT_EQ(token.remaining(5s), Clock::duration::zero());
}

TEST(Stop, AFutureStopIsNotYetRequestedAndBoundsRemaining) {
  StopSource src;
  src.requestStopAt(Clock::now() + 1h);
  auto token = src.token();
  EXPECT_FALSE(token.stopRequested());
  EXPECT_LE(token.remaining(24h), Clock::duration(1h));
  EXPECT_EQ(token.remaining(1s), Clock::duration(1s));
  EXPECT_TRUE(token.sleepFor(1ms));
}

TEST(Stop, TheEarlierRequestWins) {
  StopSource src;
  const auto soon = Clock::now() + 1h;
  src.requestStopAt(soon);
  src.requestStopAt(soon + 1h);
  EXPECT_EQ(src.token().stopTime(), soon);
  src.requestStopAt(Clock::now() - 1s);
  EXPECT_TRUE(src.stopRequested());
}

TEST(Stop, ABroughtForwardStopWakesASleeperWaitingForTheLaterOne) {
  StopSource src;
  src.requestStopAt(Clock::now() + 24h);
  auto token = src.token();
  std::atomic<int> result{-1};
  std::thread sleeper([&] { result = token.sleepFor(48h) ? 1 : 0; });
  src.requestStop();
  sleeper.join();
  EXPECT_EQ(result, 0);
}

}  // namespace
}  // namespace kobs
