// Alerts on /notifications?topic=alerts, read by curl (a real SSE client)
// from the real HTTP server and EventsApi: an announcement published in
// process (kobs all) and rows of alert_history written by another process
// (split roles: the store tail) arrive as `event: alerts` frames; a
// reconnect with Last-Event-ID gets what came after; the alerts topic mixed
// with others is refused; a stream without the topic never sees an alert.
#include <csignal>
#include <ctime>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "alert/alert_service.h"
#include "http/http_server.h"
#include "serve/events/events_api.h"
#include "support/child_process.h"
#include "support/embedded_store.h"

namespace kobs::alert {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace sa = kobs::serve::alerts;

std::string utc(int64_t s) {
  std::time_t t = s;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

class AlertSseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = kobs::testing::openEmbeddedStore("alert_sse");
    store::schema::SchemaOptions so;
    so.database = "alert_sse";
    for (const auto& sql : historyTableDdl(so, "alert_history")) store_->execute(sql);
    serve::events::EventsApiOptions o;
    o.alerts.poll = std::chrono::milliseconds(100);
    api_ = std::make_unique<serve::events::EventsApi>(o, nullptr);
    http::Router router;
    api_->addRoutes(router);
    http::ServerOptions so2;
    so2.listen = "127.0.0.1:0";
    server_ = std::make_unique<http::Server>(so2, std::move(router));
    server_->start();
  }
  void TearDown() override {
    server_->stop(std::chrono::seconds(1));
    api_.reset();
  }

  // curl -N on the URL; lines read as they come.
  std::unique_ptr<kobs::testing::ChildProcess> curl(const std::string& query, const std::string& last_id = "") {
    std::vector<std::string> args{"/usr/bin/curl", "-sN", "--max-time", "30"};
    if (!last_id.empty()) args.insert(args.end(), {"-H", "Last-Event-ID: " + last_id});
    args.push_back("http://127.0.0.1:" + std::to_string(server_->port()) + "/notifications" + query);
    return std::make_unique<kobs::testing::ChildProcess>(args);
  }
  // Lines up to and including the first one containing `needle`.
  static std::string readUntil(kobs::testing::ChildProcess& c, const std::string& needle) {
    std::string all;
    for (int i = 0; i < 200; ++i) {
      auto line = c.readLine();
      all += line + "\n";
      if (line.find(needle) != std::string::npos) break;
      if (line.empty() && feof(c.out())) break;
    }
    return all;
  }
  void waitStreams(size_t n) {
    for (int i = 0; i < 6000 && api_->alertStream()->streams() < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_GE(api_->alertStream()->streams(), n);
  }

  std::unique_ptr<store::EmbeddedStore> store_;
  std::unique_ptr<serve::events::EventsApi> api_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(AlertSseTest, InProcessAndStoreAnnouncementsReachTheAlertsTopic) {
  auto c = curl("?topic=alerts");
  EXPECT_EQ(c->readLine(), ": connected");
  waitStreams(1);

  // Windows of the last day: the tail reads a day back.
  const int64_t w = ::time(nullptr) / 60 * 60 - 600;
  sa::Announcement fire{"pod-warnings", "k8s.namespace.name=demo, k8s.pod.name=a", "ALERT", w, w + 60, 3};
  api_->alertStream()->publish(fire);
  auto got = readUntil(*c, "id: ");
  EXPECT_THAT(got, HasSubstr("event: alerts\ndata: {\"rule\":\"pod-warnings\",\"group\":\"k8s.namespace.name=demo, "
                             "k8s.pod.name=a\",\"state\":\"ALERT\",\"windowStart\":\"" + utc(w) + "\","
                             "\"windowEnd\":\"" + utc(w + 60) + "\",\"value\":3}\nid: " +
                             sa::announcementId(fire)));

  // Another process (the alert role) writes alert_history: the tail reports its announcements.
  api_->alertStream()->attach(*store_, "alert_sse", "alert_history", true);
  const std::string g = "'pod-warnings', 'k8s.namespace.name=demo, k8s.pod.name=a', ";
  store_->execute(fmt::format("INSERT INTO alert_sse.alert_history VALUES ({0}{1}, {2}, 3, 'ALERT', 1), "  // the same: not sent twice
                              "({0}{2}, {3}, 4, 'ALERT', 0), ({0}{3}, {4}, 0, 'OK', 1)",
                              g, w, w + 60, w + 120, w + 180));
  got = readUntil(*c, "id: ");
  EXPECT_THAT(got, HasSubstr("\"state\":\"OK\""));
  EXPECT_THAT(got, HasSubstr("\"value\":0}"));
  EXPECT_THAT(got, Not(HasSubstr("\"state\":\"ALERT\"")));
  EXPECT_EQ(api_->alertStream()->published(), 2u);

  // A reconnect after the firing gets the resolution only.
  auto again = curl("?topic=alerts", sa::announcementId(fire));
  got = readUntil(*again, "id: ");
  EXPECT_THAT(got, HasSubstr("\"state\":\"OK\""));
  EXPECT_THAT(got, Not(HasSubstr("\"state\":\"ALERT\"")));
}

TEST_F(AlertSseTest, TheAlertsTopicIsAStreamOfItsOwn) {
  kobs::testing::ChildProcess c({"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                 "http://127.0.0.1:" + std::to_string(server_->port()) +
                                     "/notifications?topic=alerts&topic=krateo"});
  EXPECT_EQ(c.readLine(), "400");
  // A stream without the topic (the events stream) gets no alert frame.
  auto events = curl("");
  auto alerts = curl("?topic=alerts");
  EXPECT_EQ(alerts->readLine(), ": connected");
  waitStreams(1);
  api_->alertStream()->publish({"r", "", "ALERT", 60, 120, 1});
  EXPECT_THAT(readUntil(*alerts, "id: "), HasSubstr("event: alerts"));
  events->kill(SIGTERM);
  std::string rest;
  for (std::string l; !(l = events->readLine()).empty() || !feof(events->out());) rest += l + "\n";
  EXPECT_THAT(rest, Not(HasSubstr("alerts")));
}

}  // namespace
}  // namespace kobs::alert
