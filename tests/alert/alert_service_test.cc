// AlertService over the embedded store, posting to a real loopback webhook
// receiver. Time is driven by the test (options.clock), so 1-minute windows
// are evaluated without waiting; the store, the HTTP posts, the state file
// and alert_history are real.
#include "alert/alert_service.h"

#include <atomic>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "support/embedded_store.h"
#include "store/schema/schema_manager.h"
#include "support/temp_dir.h"
#include "webhook_receiver.h"

namespace kobs::alert {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using nlohmann::json;
using testing::WebhookReceiver;

constexpr int64_t kT0 = 1764500000 - 1764500000 % 3600;  // an aligned hour

class AlertServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto name = std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
    db_ = "alert_" + name;
    store_ = kobs::testing::openEmbeddedStore(db_);
    store::schema::SchemaOptions so;
    so.database = db_;
    so.krateo_events = false;
    auto schema = store::schema::SchemaManager::apply(*store_, so);
    tables_.logs = schema.table(store::schema::TableKind::kLogs).table;
    tables_.traces = schema.table(store::schema::TableKind::kTraces).table;
    now_ = kT0;
  }

  void writeFile(const std::string& name, const std::string& text) {
    std::ofstream(dir_.path() / name) << text;
  }

  // A slack channel "hook" and a webhook channel "generic", both at `url`.
  std::string channels(const std::string& url) {
    writeFile("url", url + "\n");
    auto f = (dir_.path() / "url").string();
    return "channels:\n  hook:\n    type: slack\n    url_file: " + f +
           "\n  generic:\n    type: webhook\n    url_file: " + f + "\n    headers: {X-Team: infra}\n";
  }

  std::string podRule(const std::string& name, const std::string& extra = "", const std::string& channel = "hook") {
    return "  - name: " + name +
           "\n    source: events\n    where: \"ResourceAttributes['k8s.object.kind'] = 'Pod' AND SeverityText = "
           "'Warning'\"\n    interval: 1m\n    threshold: 2\n    thresholdType: above_exclusive\n    groupBy: "
           "[k8s.namespace.name, k8s.pod.name]\n    channels: [" +
           channel + "]\n" + extra;
  }

  std::unique_ptr<AlertService> service(const std::string& rules_yaml, std::function<bool()> is_leader = {},
                                        bool load = true) {
    writeFile("rules.yaml", rules_yaml);
    AlertOptions o;
    o.rules_path = dir_.path() / "rules.yaml";
    o.state_dir = dir_.path() / "state";
    o.tables = tables_;
    o.settle_delay = std::chrono::milliseconds(0);
    o.retry_initial = std::chrono::seconds(1);
    o.retry_max = std::chrono::seconds(4);
    o.max_attempts = 5;
    o.post.timeout = post_timeout_;
    o.clock = [this] { return SysClock::time_point(std::chrono::seconds(now_.load())); };
    o.is_leader = std::move(is_leader);
    o.watermark = watermark_;
    o.max_state_series = max_state_series_;
    o.tick = std::chrono::milliseconds(20);
    auto s = std::make_unique<AlertService>(o, *store_, &registry_);
    if (load) s->load();
    return s;
  }

  // `n` Warning events of pod ns/pod in the window starting at `window_start`.
  void events(int64_t window_start, int n, const std::string& ns = "demo", const std::string& pod = "a",
              const std::string& type = "Warning") {
    if (n == 0) return;
    std::string values;
    for (int i = 0; i < n; ++i) {
      if (i) values += ",";
      values += fmt::format(
          "(toDateTime64({}.{:03d}, 9), '{}', 'event {}', map('telemetry.source', 'k8s-events', "
          "'k8s.namespace.name', '{}', 'k8s.pod.name', '{}', 'k8s.object.kind', 'Pod'))",
          window_start + 1 + i, i, type, i, ns, pod);
    }
    store_->execute(fmt::format("INSERT INTO `{}`.`{}` (Timestamp, SeverityText, Body, ResourceAttributes) VALUES {}",
                                db_, tables_.logs, values));
  }

  // Evaluates the window starting at `window_start` (the clock moves to its end) and delivers.
  AlertService::CycleResult step(AlertService& s, int64_t window_start) {
    now_ = window_start + 60;
    auto r = s.evaluateDue();
    s.dispatchDue();
    return r;
  }

  std::string notified(const std::string& rule) {
    return store_
        ->query(fmt::format("SELECT groupArray((Notified, State)) FROM (SELECT Notified, State FROM "
                            "`{}`.alert_history WHERE Rule = '{}' ORDER BY WindowStart, GroupKey, Notified)",
                            db_, rule),
                "TabSeparated")
        .data;
  }

  std::string historyStates(const std::string& rule) {
    return store_
        ->query(fmt::format("SELECT groupArray(State) FROM (SELECT State FROM `{}`.alert_history WHERE Rule = '{}' "
                            "AND Notified != 1 ORDER BY WindowStart, GroupKey)",
                            db_, rule),
                "TabSeparated")
        .data;
  }

  kobs::testing::TempDir dir_;
  std::string db_;
  std::unique_ptr<store::EmbeddedStore> store_;
  SourceTables tables_;
  std::atomic<int64_t> now_{0};
  // options.watermark (the in-process disk buffer's delivered time) when set; max_state_series.
  std::function<std::optional<SysClock::time_point>()> watermark_;
  size_t max_state_series_ = 1000;
  std::chrono::milliseconds post_timeout_{10000};
  metrics::Registry registry_;
};

std::string slackText(const testing::ReceivedPost& p) {
  return json::parse(p.body)["blocks"][0]["text"]["text"].get<std::string>();
}

TEST_F(AlertServiceTest, FiresOnceWithHyperdxSlackTextsAndResolves) {
  WebhookReceiver rx;
  auto s = service(channels(rx.url()) + "rules:\n" + podRule("pod-warnings"));
  events(kT0 - 60, 1);  // the source has rows before the first window
  events(kT0, 3);
  events(kT0 + 60, 4);
  step(*s, kT0);
  ASSERT_EQ(rx.posts().size(), 1u);
  auto p = rx.posts()[0];
  EXPECT_EQ(p.content_type, "application/json");
  EXPECT_THAT(p.idempotency_key, StartsWith("kobs-"));
  auto j = json::parse(p.body);
  EXPECT_EQ(j["text"], "🚨 Alert for \"pod-warnings\" - 3 lines found");
  EXPECT_EQ(j["blocks"][0]["type"], "section");
  EXPECT_EQ(j["blocks"][0]["text"]["type"], "mrkdwn");
  auto text = slackText(p);
  EXPECT_THAT(text, StartsWith("*🚨 Alert for \"pod-warnings\" - 3 lines found*\n"));
  EXPECT_THAT(text, HasSubstr("Group: \"k8s.namespace.name=demo, k8s.pod.name=a\"\n"));
  EXPECT_THAT(text, HasSubstr("3 lines found, which exceeds the threshold of 2 lines\n"));
  EXPECT_THAT(text, HasSubstr("Time Range (UTC): ["));
  EXPECT_THAT(text, HasSubstr("```\n"));
  EXPECT_THAT(text, HasSubstr("event 2"));  // a sample row
  ASSERT_EQ(s->groupState("pod-warnings", {"demo", "a"})->state, AlertState::kAlert);

  step(*s, kT0 + 60);  // still in breach: no second message
  EXPECT_EQ(rx.posts().size(), 1u);

  step(*s, kT0 + 120);  // quiet: resolved
  ASSERT_EQ(rx.posts().size(), 2u);
  auto r = json::parse(rx.posts()[1].body);
  EXPECT_EQ(r["text"], "✅ Alert for \"pod-warnings\" - 0 lines found");
  EXPECT_THAT(slackText(rx.posts()[1]), HasSubstr("The alert has been resolved.\nTime Range (UTC): ["));
  EXPECT_NE(rx.posts()[1].idempotency_key, p.idempotency_key);
  EXPECT_FALSE(s->groupState("pod-warnings", {"demo", "a"}).has_value());  // plainly OK again

  EXPECT_EQ(historyStates("pod-warnings"), "['ALERT','ALERT','OK']\n");
  // Each decision is a row with Notified = 2 (the outbox), then one with 1 once delivered.
  EXPECT_EQ(notified("pod-warnings"), "[(1,'ALERT'),(2,'ALERT'),(0,'ALERT'),(1,'OK'),(2,'OK')]\n");
  auto metrics = registry_.renderPrometheus();
  EXPECT_THAT(metrics, HasSubstr("kobs_alert_state{rule=\"pod-warnings\",group=\"k8s.namespace.name=demo, "
                                 "k8s.pod.name=a\"} 0"));
  EXPECT_THAT(metrics, HasSubstr("kobs_alert_notifications_total{outcome=\"delivered\"} 2"));
  EXPECT_THAT(metrics, HasSubstr("kobs_alert_evaluations_total{outcome=\"ok\"} 3"));
}

TEST_F(AlertServiceTest, OneQueryServesSeveralGroups) {
  WebhookReceiver rx;
  auto s = service(channels(rx.url()) + "rules:\n" + podRule("pods"));
  events(kT0, 3, "demo", "a");
  events(kT0, 1, "demo", "b");
  events(kT0, 5, "other", "c");
  events(kT0, 9, "demo", "d", "Normal");
  auto r = step(*s, kT0);
  EXPECT_EQ(r.windows, 1u);
  ASSERT_EQ(rx.posts().size(), 2u);
  std::set<std::string> titles;
  for (const auto& p : rx.posts()) titles.insert(slackText(p));
  EXPECT_EQ(rx.distinctKeys(), 2u);
  EXPECT_EQ(s->groupState("pods", {"demo", "a"})->state, AlertState::kAlert);
  EXPECT_EQ(s->groupState("pods", {"other", "c"})->state, AlertState::kAlert);
  EXPECT_FALSE(s->groupState("pods", {"demo", "b"}).has_value());
  EXPECT_FALSE(s->groupState("pods", {"demo", "d"}).has_value());
  auto bodies = rx.posts()[0].body + rx.posts()[1].body;
  EXPECT_THAT(bodies, HasSubstr("k8s.pod.name=a"));
  EXPECT_THAT(bodies, HasSubstr("k8s.pod.name=c"));
  EXPECT_THAT(bodies, HasSubstr("5 lines found"));
}

// Rows still in the disk buffer: a window whose end is past the clock but not
// past the buffer's watermark is not evaluated (it would be a false OK); once
// the rows land and the watermark passes it, it fires.
TEST_F(AlertServiceTest, AWindowWaitsForTheDiskBufferWatermark) {
  WebhookReceiver rx;
  std::atomic<int64_t> delivered{kT0 + 30};  // the buffer has delivered rows up to here
  watermark_ = [&] { return std::optional(SysClock::time_point(std::chrono::seconds(delivered.load()))); };
  auto s = service(channels(rx.url()) + "rules:\n" + podRule("pods"));
  events(kT0 - 60, 1);
  now_ = kT0 + 65;
  s->evaluateDue();
  s->dispatchDue();
  // Only [kT0-1m, kT0), the window before the watermark: its one row is quiet.
  EXPECT_EQ(historyStates("pods"), "['OK']\n");
  events(kT0, 3);  // the in-flight rows land
  delivered = kT0 + 60;
  auto r = s->evaluateDue();
  s->dispatchDue();
  EXPECT_EQ(r.windows, 1u);
  EXPECT_EQ(historyStates("pods"), "['OK','ALERT']\n");
  ASSERT_EQ(rx.posts().size(), 1u);
  EXPECT_THAT(slackText(rx.posts()[0]), HasSubstr("3 lines found"));
}

// kobs_alert_state{rule,group} stops at alert.max_state_series series; the
// rest are counted, not exported.
TEST_F(AlertServiceTest, StateSeriesAreBoundedAndTheRestCounted) {
  WebhookReceiver rx;
  max_state_series_ = 1;
  auto s = service(channels(rx.url()) + "rules:\n" + podRule("pods"));
  events(kT0, 3, "demo", "a");
  events(kT0, 5, "other", "c");
  step(*s, kT0);
  ASSERT_EQ(rx.posts().size(), 2u);  // both groups fire: the bound is on /metrics only
  const auto text = registry_.renderPrometheus();
  size_t series = 0;
  for (size_t at = text.find("kobs_alert_state{"); at != std::string::npos; at = text.find("kobs_alert_state{", at + 1))
    ++series;
  EXPECT_EQ(series, 1u);
  EXPECT_THAT(text, HasSubstr("kobs_alert_state_series_dropped_total "));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("kobs_alert_state_series_dropped_total 0")));
}

// The running evaluator notices a changed rules file on its next tick and
// reloads it (no SIGHUP, no reload() call).
TEST_F(AlertServiceTest, AChangedRulesFileIsReloadedByTheRunningEvaluator) {
  WebhookReceiver rx;
  std::atomic<int> asked{0};
  auto s = service(channels(rx.url()) + "rules:\n" + podRule("pods"), [&] {
    ++asked;
    return false;
  }, false);
  s->start();
  while (asked.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(10));  // ticking on the first file
  ASSERT_EQ(s->rules()->rules.size(), 1u);
  writeFile("rules.yaml", channels(rx.url()) + "rules:\n" + podRule("pods") + podRule("pods2"));
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (s->rules()->rules.size() != 2 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(s->rules()->rules.size(), 2u);
  s->shutdown(std::chrono::steady_clock::now());
}

TEST_F(AlertServiceTest, FiresAfterNConsecutiveWindows) {
  WebhookReceiver rx;
  auto s = service(channels(rx.url()) + "rules:\n" + podRule("n3", "    numConsecutiveWindows: 3\n"));
  for (int w = 0; w < 5; ++w) events(kT0 + 60 * w, w == 2 ? 0 : 3);
  step(*s, kT0);
  EXPECT_EQ(s->groupState("n3", {"demo", "a"})->state, AlertState::kPending);
  step(*s, kT0 + 60);
  EXPECT_EQ(s->groupState("n3", {"demo", "a"})->streak, 2);
  step(*s, kT0 + 120);  // the streak breaks
  EXPECT_FALSE(s->groupState("n3", {"demo", "a"}).has_value());
  step(*s, kT0 + 180);
  step(*s, kT0 + 240);
  EXPECT_EQ(rx.posts().size(), 0u);
  EXPECT_EQ(s->groupState("n3", {"demo", "a"})->state, AlertState::kPending);
  events(kT0 + 300, 3);
  step(*s, kT0 + 300);  // third window in a row
  ASSERT_EQ(rx.posts().size(), 1u);
  EXPECT_EQ(s->groupState("n3", {"demo", "a"})->state, AlertState::kAlert);
}

TEST_F(AlertServiceTest, SilencedRuleRecordsButDoesNotNotify) {
  WebhookReceiver rx;
  auto s = service(channels(rx.url()) + "rules:\n" + podRule("quiet", "    silenced: {until: \"2999-01-01T00:00:00Z\"}\n"));
  events(kT0, 4);
  step(*s, kT0);
  EXPECT_EQ(s->groupState("quiet", {"demo", "a"})->state, AlertState::kAlert);
  EXPECT_FALSE(s->groupState("quiet", {"demo", "a"})->fired);
  step(*s, kT0 + 60);
  EXPECT_EQ(rx.posts().size(), 0u);
  EXPECT_EQ(store_->query(fmt::format("SELECT sum(Notified) FROM `{}`.alert_history", db_), "TabSeparated").data, "0\n");
}

TEST_F(AlertServiceTest, BetweenAndNotBetween) {
  WebhookReceiver rx;
  auto base = [&](const std::string& name, const std::string& type) {
    return "  - name: " + name + "\n    source: events\n    interval: 1m\n    threshold: 2\n    thresholdMax: 4\n" +
           "    thresholdType: " + type + "\n    channels: [hook]\n";
  };
  auto s = service(channels(rx.url()) + "rules:\n" + base("in", "between") + base("out", "not_between"));
  events(kT0, 3);
  step(*s, kT0);
  EXPECT_EQ(s->groupState("in", {})->state, AlertState::kAlert);
  EXPECT_EQ(s->groupState("out", {})->state, AlertState::kOk);
  events(kT0 + 60, 6);
  step(*s, kT0 + 60);
  EXPECT_EQ(s->groupState("in", {})->state, AlertState::kOk);
  EXPECT_EQ(s->groupState("out", {})->state, AlertState::kAlert);
  events(kT0 + 120, 4);  // the bound is inside
  step(*s, kT0 + 120);
  EXPECT_EQ(s->groupState("in", {})->state, AlertState::kAlert);
  EXPECT_EQ(s->groupState("out", {})->state, AlertState::kOk);
  ASSERT_EQ(rx.posts().size(), 5u);  // in fires, resolves, fires; out fires, resolves
  EXPECT_THAT(slackText(rx.posts()[0]), HasSubstr("falls between the thresholds of 2 and 4"));
}

TEST_F(AlertServiceTest, InsufficientDataWhileTheSourceIsEmpty) {
  WebhookReceiver rx;
  auto s = service(channels(rx.url()) +
                   "rules:\n  - name: no-spans\n    source: traces\n    interval: 1m\n    threshold: 1\n"
                   "    thresholdType: below\n    channels: [hook]\n" +
                   podRule("pods"));
  step(*s, kT0);
  EXPECT_EQ(s->groupState("no-spans", {})->state, AlertState::kInsufficientData);
  EXPECT_EQ(rx.posts().size(), 0u);
  EXPECT_THAT(registry_.renderPrometheus(), HasSubstr("kobs_alert_state{rule=\"no-spans\",group=\"\"} 3"));
  EXPECT_THAT(historyStates("no-spans"), HasSubstr("INSUFFICIENT_DATA"));
}

TEST_F(AlertServiceTest, RestartNeitherRefiresNorMissesTheResolution) {
  WebhookReceiver rx;
  const auto yaml = channels(rx.url()) + "rules:\n" + podRule("pods");
  events(kT0, 3);
  events(kT0 + 60, 3);
  {
    auto s = service(yaml);
    now_ = kT0 + 60;
    s->evaluateDue();  // decided and saved, never posted: the process "dies" here
    EXPECT_EQ(s->outboxSize(), 1u);
  }
  EXPECT_EQ(rx.posts().size(), 0u);
  {
    auto s = service(yaml);
    s->dispatchDue();  // the saved notification goes, once
    step(*s, kT0 + 60);  // still in breach: nothing new
    EXPECT_EQ(rx.posts().size(), 1u);
  }
  {
    auto s = service(yaml);
    step(*s, kT0 + 120);
    ASSERT_EQ(rx.posts().size(), 2u);
    EXPECT_THAT(slackText(rx.posts()[1]), HasSubstr("The alert has been resolved."));
  }
  EXPECT_EQ(rx.distinctKeys(), 2u);
}

TEST_F(AlertServiceTest, ReceiverDownThenUpDeliversOncePerKey) {
  uint16_t port;
  {
    WebhookReceiver gone;
    port = gone.port();
  }
  auto s = service(channels("http://127.0.0.1:" + std::to_string(port) + "/hook") + "rules:\n" + podRule("pods", "", "generic"));
  events(kT0, 3);
  step(*s, kT0);
  EXPECT_EQ(s->outboxSize(), 1u);  // refused connection: kept for a retry
  EXPECT_THAT(registry_.renderPrometheus(), HasSubstr("kobs_alert_notifications_total{outcome=\"retried\"} 1"));
  WebhookReceiver rx(port);
  rx.setStatus(503);
  now_ += 10;
  s->dispatchDue();
  EXPECT_EQ(rx.posts().size(), 1u);
  EXPECT_EQ(s->outboxSize(), 1u);
  rx.setStatus(200);
  now_ += 10;
  s->dispatchDue();
  now_ += 10;
  s->dispatchDue();
  ASSERT_EQ(rx.posts().size(), 2u);
  EXPECT_EQ(rx.distinctKeys(), 1u);
  EXPECT_EQ(s->outboxSize(), 0u);
  const auto p = rx.posts()[1];
  bool team = false;
  for (const auto& [k, v] : p.headers) team |= k == "X-Team" && v == "infra";
  EXPECT_TRUE(team);
  // HyperDX's default generic body: title | body | link | state | startTime | endTime | eventId
  SCOPED_TRACE(p.body);
  auto text = json::parse(p.body)["text"].get<std::string>();
  EXPECT_THAT(text, StartsWith("🚨 Alert for \"pods\" - 3 lines found | Group: "));
  EXPECT_THAT(text, HasSubstr(fmt::format(" | ALERT | {} | {} | ", kT0 * 1000, (kT0 + 60) * 1000)));
}

// A receiver that takes the POST and never answers: the POST times out
// (alert.webhook_timeout), the notification stays in the outbox for a retry,
// and goes once the receiver answers again, with the same Idempotency-Key.
TEST_F(AlertServiceTest, AnUnansweredPostTimesOutAndIsRetried) {
  WebhookReceiver rx;
  post_timeout_ = std::chrono::milliseconds(1000);
  auto s = service(channels(rx.url()) + "rules:\n" + podRule("pods"));
  events(kT0, 3);
  rx.hold();
  step(*s, kT0);  // returns after the timeout, not when the receiver answers
  EXPECT_EQ(rx.posts().size(), 1u);
  EXPECT_EQ(s->outboxSize(), 1u);
  EXPECT_THAT(registry_.renderPrometheus(), HasSubstr("kobs_alert_notifications_total{outcome=\"retried\"} 1"));
  rx.release();
  now_ += 10;
  s->dispatchDue();
  ASSERT_EQ(rx.posts().size(), 2u);
  EXPECT_EQ(rx.distinctKeys(), 1u);
  EXPECT_EQ(s->outboxSize(), 0u);
}

TEST_F(AlertServiceTest, RedirectIsRefusedAndDeadLettered) {
  WebhookReceiver rx;
  auto s = service(channels(rx.url("/moved")) + "rules:\n" + podRule("pods"));
  events(kT0, 3);
  step(*s, kT0);
  now_ += 100;
  s->dispatchDue();
  ASSERT_EQ(rx.posts().size(), 1u);  // not followed, not retried
  EXPECT_EQ(rx.posts()[0].path, "/moved");
  EXPECT_EQ(s->outboxSize(), 0u);
  EXPECT_THAT(registry_.renderPrometheus(), HasSubstr("kobs_alert_notifications_total{outcome=\"dead_letter\"} 1"));
  size_t dead = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path() / "state" / "dead")) dead += e.is_regular_file();
  EXPECT_EQ(dead, 1u);
}

TEST_F(AlertServiceTest, UnknownColumnIsRefusedAtLoadWithItsName) {
  WebhookReceiver rx;
  try {
    service(channels(rx.url()) +
            "rules:\n  - name: typo\n    source: logs\n    where: \"SeverityTxt = 'ERROR'\"\n    threshold: 1\n"
            "    interval: 5m\n    channels: [hook]\n");
    FAIL() << "loaded";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadConfig);
    EXPECT_THAT(std::string(e.what()), HasSubstr("rule \"typo\""));
    EXPECT_THAT(std::string(e.what()), HasSubstr("unknown column `SeverityTxt`"));
  }
}

TEST_F(AlertServiceTest, ReloadKeepsState) {
  WebhookReceiver rx;
  auto s = service(channels(rx.url()) + "rules:\n" + podRule("pods"));
  events(kT0, 3);
  events(kT0 + 60, 3);
  step(*s, kT0);
  ASSERT_EQ(rx.posts().size(), 1u);
  // Same rule, new message and threshold; plus a broken rule file later.
  writeFile("rules.yaml", channels(rx.url()) + "rules:\n" + podRule("pods", "    message: \"see runbook\"\n"));
  ASSERT_TRUE(s->reload());
  EXPECT_TRUE(s->groupState("pods", {"demo", "a"})->fired);
  writeFile("rules.yaml", "rules: [{name: broken}]\n");
  EXPECT_FALSE(s->reload());
  ASSERT_EQ(s->rules()->rules.size(), 1u);
  EXPECT_EQ(s->rules()->rules[0].message, "see runbook");
  step(*s, kT0 + 60);
  step(*s, kT0 + 120);
  ASSERT_EQ(rx.posts().size(), 2u);
  EXPECT_THAT(slackText(rx.posts()[1]), HasSubstr("resolved"));
}

TEST_F(AlertServiceTest, EvaluatesOnlyWhileLeading) {
  WebhookReceiver rx;
  std::atomic<bool> leading{false};
  std::atomic<int> asked{0};
  auto s = service(channels(rx.url()) + "rules:\n" + podRule("pods"), [&] {
    ++asked;
    return leading.load();
  }, false);
  events(kT0, 3);
  now_ = kT0 + 60;
  s->start();  // the evaluator and dispatcher threads
  while (asked.load() < 5) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(s->groupState("pods", {"demo", "a"}).has_value());  // a follower does not evaluate
  EXPECT_EQ(s->outboxSize(), 0u);
  leading = true;
  EXPECT_TRUE(rx.waitFor([](const auto& p) { return p.size() == 1; }));
  s->shutdown(std::chrono::steady_clock::now());
  EXPECT_EQ(rx.posts().size(), 1u);
}


TEST_F(AlertServiceTest, ANewLeaderResumesFromHistoryWithoutRepostingAndResolvesOnce) {
  WebhookReceiver rx;
  const auto rules = channels(rx.url()) + "rules:\n" + podRule("pods", "    numConsecutiveWindows: 2\n");
  auto a = service(rules);
  events(kT0 - 60, 1);
  for (int w = 0; w < 3; ++w) events(kT0 + 60 * w, 3, "demo", "a");
  events(kT0 + 60, 3, "other", "b");  // b: one breaching window, PENDING
  step(*a, kT0);
  step(*a, kT0 + 60);  // a fires (2 windows)
  ASSERT_EQ(rx.posts().size(), 1u);
  a.reset();

  // Another replica, its own state dir: what `a` evaluated and announced comes from alert_history.
  auto other = dir_.path() / "state";
  std::filesystem::rename(other, dir_.path() / "state-a");
  auto b = service(rules);
  EXPECT_EQ(b->resumeFromHistory(), 1u);
  auto ga = b->groupState("pods", {"demo", "a"});
  ASSERT_TRUE(ga.has_value());
  EXPECT_EQ(ga->state, AlertState::kAlert);
  EXPECT_TRUE(ga->fired);
  EXPECT_EQ(ga->streak, 2);
  auto gb = b->groupState("pods", {"other", "b"});
  ASSERT_TRUE(gb.has_value());
  EXPECT_EQ(gb->state, AlertState::kPending);
  EXPECT_EQ(gb->streak, 1);
  EXPECT_EQ(b->resumeFromHistory(), 0u);  // nothing newer than its own state now

  auto r = step(*b, kT0 + 120);  // still in breach: the window after a's last, not re-posted
  EXPECT_EQ(r.windows, 1u);
  EXPECT_EQ(rx.posts().size(), 1u);
  step(*b, kT0 + 180);  // quiet: resolved once
  ASSERT_EQ(rx.posts().size(), 2u);
  EXPECT_THAT(slackText(rx.posts()[1]), HasSubstr("The alert has been resolved."));
  EXPECT_EQ(historyStates("pods"), "['PENDING','ALERT','PENDING','ALERT','OK']\n");
}

// A leader that decided a firing and died before posting it, its state dir
// gone with it: the next leader finds the decision (Notified = 2, no mark) in
// alert_history and delivers it once; a replica that comes back with the old
// outbox drops it, as the mark says it went.
TEST_F(AlertServiceTest, ADecisionNotDeliveredByADeadLeaderIsDeliveredOnceByTheNext) {
  WebhookReceiver rx;
  const auto rules = channels(rx.url()) + "rules:\n" + podRule("pods");
  events(kT0 - 60, 1);
  events(kT0, 3);
  auto a = service(rules);
  now_ = kT0 + 60;
  ASSERT_EQ(a->evaluateDue().notifications, 1u);  // decided and committed; never dispatched
  ASSERT_EQ(a->outboxSize(), 1u);
  a.reset();
  std::filesystem::rename(dir_.path() / "state", dir_.path() / "state-a");
  EXPECT_EQ(notified("pods"), "[(2,'ALERT')]\n");

  auto b = service(rules);
  EXPECT_EQ(b->recoverUndelivered(false), 1u);
  EXPECT_EQ(b->recoverUndelivered(false), 0u);  // already in its outbox
  b->dispatchDue();
  ASSERT_EQ(rx.posts().size(), 1u);
  EXPECT_THAT(slackText(rx.posts()[0]), StartsWith("*🚨 Alert for \"pods\" - 3 lines found*\n"));
  EXPECT_THAT(slackText(rx.posts()[0]), HasSubstr("event 2"));  // sample rows read again
  EXPECT_EQ(notified("pods"), "[(1,'ALERT'),(2,'ALERT')]\n");
  EXPECT_EQ(b->recoverUndelivered(false), 0u);  // marked: nothing to recover
  EXPECT_THAT(registry_.renderPrometheus(), HasSubstr("kobs_alert_notifications_recovered_total 1"));
  b.reset();

  // `a` comes back with its outbox: the mark tells it the firing went.
  std::filesystem::rename(dir_.path() / "state", dir_.path() / "state-b");
  std::filesystem::rename(dir_.path() / "state-a", dir_.path() / "state");
  auto a2 = service(rules);
  ASSERT_EQ(a2->outboxSize(), 1u);
  EXPECT_EQ(a2->recoverUndelivered(true), 0u);
  EXPECT_EQ(a2->outboxSize(), 0u);
  a2->dispatchDue();
  EXPECT_EQ(rx.posts().size(), 1u);
}

// The scan after each cycle (recent_only) reads back only the windows a
// cycle can decide: a 1m rule's last max_catchup_windows + 1 minutes (at least
// an hour), an hourly rule's as many hours. Decisions older than that are left
// to the week-long scan on taking the lease.
TEST_F(AlertServiceTest, TheScanAfterACycleReadsOnlyTheWindowsACycleCanDecide) {
  WebhookReceiver rx;
  std::string hourly = podRule("hourly");
  hourly.replace(hourly.find("interval: 1m"), 12, "interval: 1h");
  const auto rules = channels(rx.url()) + "rules:\n" + podRule("pods") + hourly;
  events(kT0 - 60, 1);
  events(kT0, 3);
  auto a = service(rules);
  now_ = kT0 + 60;
  ASSERT_EQ(a->evaluateDue().notifications, 1u);  // pods fires on [kT0, kT0+1m)
  now_ = kT0 + 3600;
  ASSERT_EQ(a->evaluateDue().notifications, 2u);  // pods resolves, hourly fires on [kT0, kT0+1h)
  a.reset();  // decided, committed, never delivered
  std::filesystem::rename(dir_.path() / "state", dir_.path() / "state-a");

  // Right after the cycle, as the next leader's scan would run: all three.
  auto b = service(rules);
  EXPECT_EQ(b->recoverUndelivered(false, true), 3u);
  b.reset();
  std::filesystem::remove_all(dir_.path() / "state");

  // Three hours on: pods' windows are older than its 61 minutes, hourly's within its 61 hours.
  now_ = kT0 + 4 * 3600;
  auto c = service(rules);
  EXPECT_EQ(c->recoverUndelivered(false, true), 1u);
  EXPECT_EQ(c->outboxSize(), 1u);
  EXPECT_EQ(c->recoverUndelivered(false), 2u);  // the week-long scan finds pods' two
  EXPECT_EQ(c->outboxSize(), 3u);
  c->dispatchDue();
  c->dispatchDue();  // pods' resolution goes after its firing, on the next pass
  EXPECT_EQ(rx.posts().size(), 3u);
}

}  // namespace
}  // namespace kobs::alert
