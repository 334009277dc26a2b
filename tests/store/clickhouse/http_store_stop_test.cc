// HttpStore honours its stop token: against a server that accepts and never
// answers (SilentServer), and in the backoff between retries. No timing
// bounds: each test only finishes if the stop cut the wait short (the
// request timeouts here are an hour).
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "common/error.h"
#include "store/clickhouse/http_store.h"
#include "support/silent_server.h"

namespace kobs::store {
namespace {

using namespace std::chrono_literals;

HttpStoreOptions hungOptions(const std::string& url, const StopToken& stop) {
  HttpStoreOptions o;
  o.url = url;
  o.request_timeout = 1h;
  o.connect_timeout = 1h;
  o.retry = {.max_retries = 1000, .backoff_base = 1h, .backoff_max = 1h};
  o.stop = stop;
  return o;
}

ErrorCode codeOf(std::future<void>& f) {
  try {
    f.get();
  } catch (const Exception& e) {
    return e.code();
  }
  return ErrorCode::kOk;
}

void waitUntil(const std::function<bool()>& done) {
  while (!done()) std::this_thread::sleep_for(5ms);
}

TEST(HttpStoreStop, AStopAbortsARequestTheServerNeverAnswers) {
  testing::SilentServer hung;
  StopSource stop;
  HttpStore store(hungOptions(hung.url(), stop.token()));
  auto call = std::async(std::launch::async, [&] { store.query("SELECT version()", "TabSeparated"); });
  waitUntil([&] { return hung.accepted() > 0; });
  stop.requestStop();
  EXPECT_EQ(codeOf(call), ErrorCode::kShuttingDown);
}

TEST(HttpStoreStop, PingIsAbortedToo) {
  testing::SilentServer hung;
  StopSource stop;
  HttpStore store(hungOptions(hung.url(), stop.token()));
  auto call = std::async(std::launch::async, [&] { store.ping(); });
  waitUntil([&] { return hung.accepted() > 0; });
  stop.requestStop();
  EXPECT_EQ(codeOf(call), ErrorCode::kShuttingDown);
}

TEST(HttpStoreStop, AStoppedStoreSendsNothing) {
  testing::SilentServer hung;
  StopSource stop;
  stop.requestStop();
  HttpStore store(hungOptions(hung.url(), stop.token()));
  try {
    store.execute("SELECT 1");
    FAIL() << "expected kShuttingDown";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kShuttingDown) << e.what();
  }
  EXPECT_EQ(hung.accepted(), 0u);
}

TEST(HttpStoreStop, AStopEndsTheBackoffBetweenRetries) {
  uint16_t closed_port;
  {
    testing::SilentServer gone;  // a port nobody listens on once this goes
    closed_port = gone.port();
  }
  StopSource stop;
  HttpStore store(hungOptions("http://127.0.0.1:" + std::to_string(closed_port), stop.token()));
  auto call = std::async(std::launch::async, [&] { store.execute("SELECT 1"); });
  waitUntil([&] { return store.counters().retries.load() > 0; });  // now in its hour-long backoff
  stop.requestStop();
  EXPECT_EQ(codeOf(call), ErrorCode::kShuttingDown);
}

TEST(HttpStoreStop, AStopSetForLaterBoundsTheRequestTimeout) {
  testing::SilentServer hung;
  StopSource stop;
  stop.requestStopAt(StopToken::Clock::now() + 200ms);
  HttpStore store(hungOptions(hung.url(), stop.token()));
  try {
    store.query("SELECT version()", "TabSeparated");
    FAIL() << "expected kShuttingDown";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kShuttingDown) << e.what();
  }
}

TEST(HttpStoreStop, ShuttingDownIsRetryableSoTheSenderKeepsTheBatch) {
  EXPECT_TRUE(isRetryable(ErrorCode::kShuttingDown));
}

}  // namespace
}  // namespace kobs::store
