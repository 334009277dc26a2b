// EventsReceiver against the fake API server, only for what a real
// kube-apiserver cannot be made to send on demand: malformed and truncated
// watch lines, an oversized line and an ERROR notification mid-stream. Every
// other receiver test runs against the real server
// (events_receiver_real_test.cc).
#include <gtest/gtest.h>

#include "events_receiver_harness.h"
#include "support/fake_kube_apiserver.h"

namespace kobs::collect::k8s_events {
namespace {

using nlohmann::json;
using collect::test::waitFor;

class EventsReceiverFakeTest : public test::ReceiverHarness {
 protected:
  static void SetUpTestSuite() { openStore("events_rx_fake"); }
  static void TearDownTestSuite() { closeStore(); }
  void SetUp() override {
    server_.start();
    ReceiverHarness::SetUp();
  }
  ReceiverOptions options() {
    std::string url = server_.url();
    return baseOptions([url] {
      k8s::ClusterConfig c;
      c.server = url;
      c.source = "test";
      return c;
    });
  }
  testing::FakeKubeApiServer server_;
};

// Fake: injects lines a real server never writes.
TEST_F(EventsReceiverFakeTest, BadInputIsCountedAndSkippedAndTheWatchGoesOn) {
  metrics::Registry reg;
  server_.create("events", collect::test::podEvent("demo", "b.0", "p", "pod-x"));
  auto& rx = startReceiver(options(), &reg);
  ASSERT_TRUE(waitRows(1));
  ASSERT_TRUE(waitFor([&] { return server_.openWatches() > 0; }));
  server_.injectRawLine("events", "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"na");  // truncated
  server_.injectRawLine("events", "this is not json");
  server_.injectErrorEvent("events", 500, "InternalError", "etcd hiccup");
  server_.injectRawLine("events", "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"big\"},\"message\":\"" +
                                      std::string(10u << 20, 'x') + "\"}}");
  json odd = collect::test::podEvent("demo", "b.1", "p", "pod-x");
  odd["unknownTopLevel"] = {{"nested", json::array({1, 2, 3})}};
  odd["involvedObject"]["futureField"] = true;
  server_.create("events", odd);
  server_.create("events", collect::test::podEvent("demo", "b.2", "p", "pod-x"));
  ASSERT_TRUE(waitRows(3));
  // The ListWatcher adds a watch's skipped lines to its counters when the watch ends.
  server_.endAllWatches();
  EXPECT_EQ(count("LogAttributes['k8s.event.name'] = 'b.1' AND position(Body, 'unknownTopLevel') > 0"), 1u);
  EXPECT_TRUE(waitFor([&] {
    return rx.watcherStat(&k8s::ListWatcherStats::bad_lines) >= 2 &&
           rx.watcherStat(&k8s::ListWatcherStats::oversize_lines) >= 1 &&
           rx.watcherStat(&k8s::ListWatcherStats::error_events) >= 1;
  }));
  auto text = reg.renderPrometheus();
  EXPECT_NE(text.find("kobs_k8s_events_bad_lines_total{component=\"k8s_events\"} 3"), std::string::npos) << text;
  EXPECT_NE(text.find("kobs_k8s_events_error_notifications_total{component=\"k8s_events\"} 1"), std::string::npos);
  EXPECT_EQ(count(), 3u);
}

}  // namespace
}  // namespace kobs::collect::k8s_events
