// Two alert replicas electing through a real coordination.k8s.io/v1 Lease on
// the real kube-apiserver (tests/support/real_apiserver), posting to one
// loopback receiver. The replicas are AlertService + AlertLease pairs in this
// process over one embedded store, each with its own state dir: two kobs
// processes cannot share an embedded store, and the machine's
// clickhouse-server (18.16) is too old for the schema, so the store is the
// one shared part and everything else is per replica, as in split mode.
//   - the leader is killed (its lease abandoned, not released): the other
//     takes over, resumes from alert_history and does not re-post the firing;
//     it posts the resolution once;
//   - the leader's cycle outlasts renew_deadline while its API connection is
//     cut (TcpRelay): the other replica takes over and posts; the old leader
//     drops its cycle uncommitted and posts nothing;
//   - a leader killed for good (its state dir gone) between deciding a
//     firing and posting it: the replica taking over finds the decision in
//     alert_history (Notified = 2, no delivery mark) and posts it once;
//   - a leader cut off after deciding a notification it could not deliver
//     posts nothing while another replica leads; the new leader delivers it
//     (same Idempotency-Key), and the old one, leading again, drops it from
//     its outbox (the delivery mark is in alert_history) and posts nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <thread>

#include "alert/alert_service.h"
#include "app/alert_lease.h"
#include "k8s/cluster_config.h"
#include "store/schema/schema_manager.h"
#include "support/embedded_store.h"
#include "support/real_apiserver.h"
#include "support/tcp_relay.h"
#include "support/temp_dir.h"
#include "webhook_receiver.h"

KOBS_REAL_APISERVER_ENVIRONMENT();

namespace kobs::alert {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using kobs::testing::RealApiServer;
using testing::WebhookReceiver;

RealApiServer& kube() { return kobs::testing::RealApiServerEnvironment::server(); }

constexpr int64_t kT0 = 1764500000 - 1764500000 % 3600;

bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 90s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

// The real store with a gate on the rule's evaluation query: while closed,
// that query waits, so a cycle lasts as long as the test wants. Everything
// else goes straight through (a fault injector around the real store).
class GatedStore final : public store::IStore {
 public:
  explicit GatedStore(store::IStore& inner) : inner_(inner) {}
  void close() {
    std::lock_guard l(m_);
    open_ = false;
  }
  void open() {
    {
      std::lock_guard l(m_);
      open_ = true;
    }
    cv_.notify_all();
  }
  int waiting() const { return waiting_.load(); }

  std::string_view kind() const override { return inner_.kind(); }
  const std::string& database() const override { return inner_.database(); }
  void execute(std::string_view sql, const store::Settings& s) override { inner_.execute(sql, s); }
  store::QueryResult query(std::string_view sql, std::string_view format, const store::Settings& s) override {
    if (sql.find("GROUP BY __w") != std::string_view::npos) {
      std::unique_lock l(m_);
      ++waiting_;
      cv_.wait(l, [this] { return open_; });
      --waiting_;
    }
    return inner_.query(sql, format, s);
  }
  store::InsertResult insert(const store::InsertRequest& r) override { return inner_.insert(r); }
  void ping() override { inner_.ping(); }

 private:
  store::IStore& inner_;
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = true;
  std::atomic<int> waiting_{0};
};

class AlertLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto name = std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
    db_ = "alert_lease_" + name;
    store_ = kobs::testing::openEmbeddedStore(db_);
    store::schema::SchemaOptions so;
    so.database = db_;
    auto schema = store::schema::SchemaManager::apply(*store_, so);
    tables_.logs = schema.table(store::schema::TableKind::kLogs).table;
    ns_ = kube().createNamespace("alert-lease");
    now_ = kT0;
  }

  struct Replica {
    std::string name;
    std::unique_ptr<kobs::testing::TcpRelay> relay;
    std::unique_ptr<k8s::ApiClient> api;
    std::shared_ptr<app::AlertLease> lease;
    std::unique_ptr<GatedStore> store;
    std::unique_ptr<metrics::Registry> registry;
    std::unique_ptr<AlertService> service;

    // A killed replica: stops renewing without releasing, and stops.
    void kill() {
      lease->abandon();
      service.reset();
    }
    double counter(const std::string& line) const {
      auto text = "\n" + registry->renderPrometheus();  // a sample line, not the # HELP one
      auto at = text.find("\n" + line + " ");
      return at == std::string::npos ? -1 : std::stod(text.substr(at + line.size() + 2));
    }
  };

  // A replica named `name`, its API calls through a relay the test can cut.
  // threads=false: the service is loaded, not started; the test drives its cycles.
  std::unique_ptr<Replica> replica(const std::string& name, const std::string& rules, bool threads = true) {
    auto r = std::make_unique<Replica>();
    r->name = name;
    r->relay = std::make_unique<kobs::testing::TcpRelay>(kube().port());
    auto cfg = k8s::loadKubeconfig(kube().kubeconfig());
    cfg.server = "https://127.0.0.1:" + std::to_string(r->relay->port());
    k8s::HttpOptions http;
    http.connect_timeout = 1s;
    http.request_timeout = 2s;
    r->api = std::make_unique<k8s::ApiClient>(cfg, http);
    collect::k8s_events::LeaderElectionOptions lo;
    lo.enabled = true;
    lo.lease_name = "kobs-alert";
    lo.lease_namespace = ns_;
    lo.identity = name;
    lo.lease_duration = 4s;
    lo.renew_deadline = 3s;
    lo.retry_period = 500ms;
    r->lease = std::make_shared<app::AlertLease>([api = r->api.get()]() -> k8s::ApiClient& { return *api; }, lo);
    r->store = std::make_unique<GatedStore>(*store_);
    r->registry = std::make_unique<metrics::Registry>();

    std::ofstream(dir_.path() / "rules.yaml") << rules;
    AlertOptions o;
    o.rules_path = dir_.path() / "rules.yaml";
    o.state_dir = dir_.path() / ("state-" + name);
    o.tables = tables_;
    o.settle_delay = 0ms;
    o.retry_initial = 200ms;
    o.retry_max = 500ms;
    o.max_attempts = 1000;
    o.post.timeout = 10s;
    o.tick = 50ms;
    o.clock = [this] { return SysClock::time_point(std::chrono::seconds(now_.load())); };
    o.is_leader = [lease = r->lease] { return lease->holds(); };
    o.resume_from_history = true;
    r->service = std::make_unique<AlertService>(o, *r->store, r->registry.get());
    if (threads)
      r->service->start();
    else
      r->service->load();
    return r;
  }

  std::string rules(const std::string& url) {
    std::ofstream(dir_.path() / "url") << url << "\n";
    return "channels:\n  hook:\n    type: slack\n    url_file: " + (dir_.path() / "url").string() +
           "\nrules:\n  - name: pods\n    source: events\n    where: \"SeverityText = 'Warning'\"\n"
           "    interval: 1m\n    threshold: 2\n    thresholdType: above_exclusive\n"
           "    groupBy: [k8s.namespace.name, k8s.pod.name]\n    channels: [hook]\n";
  }

  void events(int64_t window_start, int n) {
    std::string values;
    for (int i = 0; i < n; ++i)
      values += fmt::format("{}(toDateTime64({}, 9), 'Warning', 'e', map('telemetry.source', 'k8s-events', "
                            "'k8s.namespace.name', 'demo', 'k8s.pod.name', 'a'))",
                            i ? "," : "", window_start + 1 + i);
    store_->execute(fmt::format("INSERT INTO `{}`.`{}` (Timestamp, SeverityText, Body, ResourceAttributes) VALUES {}",
                                db_, tables_.logs, values));
  }

  // Rows of alert_history for windows up to `window_start` (evaluated by someone).
  bool evaluated(int64_t window_start) {
    auto r = store_->query(fmt::format("SELECT count() FROM `{}`.alert_history WHERE WindowStart = toDateTime({})", db_,
                                       window_start),
                           "TabSeparated");
    return r.data != "0\n";
  }

  // alert_history's (Notified, State) rows of the window starting at `window_start`.
  std::string notified(int64_t window_start) {
    return store_
        ->query(fmt::format("SELECT groupArray((Notified, State)) FROM (SELECT Notified, State FROM "
                            "`{}`.alert_history WHERE WindowStart = toDateTime({}) ORDER BY Notified)",
                            db_, window_start),
                "TabSeparated")
        .data;
  }

  std::string holder() {
    auto l = kube().get("/apis/coordination.k8s.io/v1/namespaces/" + ns_ + "/leases/kobs-alert");
    return l["spec"].value("holderIdentity", "");
  }

  static int count(const std::vector<testing::ReceivedPost>& posts, const std::string& what) {
    int n = 0;
    for (const auto& p : posts) n += p.body.find(what) != std::string::npos;
    return n;
  }

  kobs::testing::TempDir dir_;
  std::string db_, ns_;
  std::unique_ptr<store::EmbeddedStore> store_;
  SourceTables tables_;
  std::atomic<int64_t> now_{0};
};

TEST_F(AlertLeaseTest, KilledLeaderIsReplacedWithoutRepostingAndTheResolutionGoesOnce) {
  WebhookReceiver rx;
  events(kT0 - 60, 1);
  events(kT0, 3);
  events(kT0 + 60, 3);
  auto a = replica("replica-a", rules(rx.url()));
  ASSERT_TRUE(waitFor([&] { return a->lease->holds(); }));
  auto b = replica("replica-b", rules(rx.url()));
  now_ = kT0 + 60;
  ASSERT_TRUE(rx.waitFor([](const auto& p) { return p.size() == 1; }));
  EXPECT_EQ(holder(), "replica-a");
  EXPECT_FALSE(b->lease->holds());

  a->kill();
  ASSERT_TRUE(waitFor([&] { return b->lease->holds(); }));
  EXPECT_EQ(holder(), "replica-b");
  now_ = kT0 + 120;  // still in breach
  ASSERT_TRUE(waitFor([&] { return evaluated(kT0 + 60); }));
  EXPECT_EQ(b->counter("kobs_alert_resumed_rules_total"), 1);
  auto g = b->service->groupState("pods", {"demo", "a"});
  ASSERT_TRUE(g.has_value());
  EXPECT_TRUE(g->fired);
  now_ = kT0 + 180;  // quiet: resolved
  ASSERT_TRUE(rx.waitFor([](const auto& p) { return p.size() == 2; }));
  b.reset();
  auto posts = rx.posts();
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(count(posts, "🚨"), 1);
  EXPECT_EQ(count(posts, "The alert has been resolved."), 1);
  EXPECT_NE(posts[0].idempotency_key, posts[1].idempotency_key);
}

TEST_F(AlertLeaseTest, ACycleOutlastingTheLeaseIsDroppedAndOnlyTheNewLeaderPosts) {
  WebhookReceiver rx;
  events(kT0 - 60, 1);
  events(kT0, 3);
  auto a = replica("replica-a", rules(rx.url()));
  ASSERT_TRUE(waitFor([&] { return a->lease->holds(); }));
  auto b = replica("replica-b", rules(rx.url()));
  a->store->close();
  now_ = kT0 + 60;
  ASSERT_TRUE(waitFor([&] { return a->store->waiting() == 1; }));  // a's cycle is under way
  // a cannot renew; its cycle goes on past renew_deadline and lease_duration.
  a->relay->cut();
  ASSERT_TRUE(waitFor([&] { return b->lease->holds(); }));
  EXPECT_FALSE(a->lease->holds());
  ASSERT_TRUE(rx.waitFor([](const auto& p) { return p.size() == 1; }));  // b evaluated and posted
  a->store->open();  // a's cycle ends now, long after it lost the lease
  ASSERT_TRUE(waitFor([&] { return a->counter("kobs_alert_lease_lost_cycles_total") == 1; }));
  EXPECT_EQ(a->service->outboxSize(), 0u);
  // b keeps evaluating: the next window (quiet) resolves the alert, from b.
  now_ = kT0 + 120;
  ASSERT_TRUE(waitFor([&] { return evaluated(kT0 + 60); }));
  a.reset();
  b.reset();
  // b alone posted: the firing, then (the next window is quiet) the resolution.
  EXPECT_EQ(rx.posts().size(), 2u);
  EXPECT_EQ(count(rx.posts(), "🚨"), 1);
  EXPECT_EQ(count(rx.posts(), "The alert has been resolved."), 1);
}

TEST_F(AlertLeaseTest, ALeaderKilledBetweenDecidingAndPostingIsCoveredByTheNextOnce) {
  WebhookReceiver rx;
  events(kT0 - 60, 1);
  events(kT0, 3);
  // a's threads are not started: its cycle is run here, and it dies right
  // after committing it, before any POST (the kill between decide and deliver).
  auto a = replica("replica-a", rules(rx.url()), false);
  ASSERT_TRUE(waitFor([&] { return a->lease->holds(); }));
  auto b = replica("replica-b", rules(rx.url()));
  now_ = kT0 + 60;
  ASSERT_EQ(a->service->evaluateDue().notifications, 1u);
  EXPECT_EQ(notified(kT0), "[(2,'ALERT')]\n");  // decided, not delivered
  a->kill();
  std::filesystem::remove_all(dir_.path() / "state-replica-a");  // for good: its disk is gone too
  ASSERT_TRUE(waitFor([&] { return b->lease->holds(); }));
  ASSERT_TRUE(rx.waitFor([](const auto& p) { return p.size() == 1; }));
  ASSERT_TRUE(waitFor([&] { return notified(kT0) == "[(1,'ALERT'),(2,'ALERT')]\n"; }));  // b marked it
  EXPECT_EQ(b->counter("kobs_alert_notifications_recovered_total"), 1);
  EXPECT_THAT(rx.posts()[0].body, HasSubstr("🚨"));
  EXPECT_THAT(rx.posts()[0].idempotency_key, ::testing::StartsWith("kobs-"));
  // b goes on: the next window is quiet, the resolution goes once.
  now_ = kT0 + 120;
  ASSERT_TRUE(rx.waitFor([](const auto& p) { return p.size() == 2; }));
  ASSERT_TRUE(waitFor([&] { return b->service->outboxSize() == 0; }));
  b.reset();
  auto posts = rx.posts();
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(count(posts, "🚨"), 1);
  EXPECT_EQ(count(posts, "The alert has been resolved."), 1);
}

TEST_F(AlertLeaseTest, ALeaderThatLostTheLeasePostsNothingAndTheNewLeaderDeliversItsDecisionOnce) {
  WebhookReceiver rx;
  rx.setStatus(503);  // the leader decides the firing, cannot deliver it
  events(kT0 - 60, 1);
  events(kT0, 3);
  auto a = replica("replica-a", rules(rx.url()));
  ASSERT_TRUE(waitFor([&] { return a->lease->holds(); }));
  now_ = kT0 + 60;
  ASSERT_TRUE(rx.waitFor([](const auto& p) { return !p.empty(); }));
  a->relay->cut();
  ASSERT_TRUE(waitFor([&] { return !a->lease->holds(); }));
  const size_t refused = rx.posts().size();
  auto b = replica("replica-b", rules(rx.url()));
  ASSERT_TRUE(waitFor([&] { return b->lease->holds(); }));
  rx.setStatus(200);
  // b finds a's decision without a delivery mark and delivers it, with a's key.
  ASSERT_TRUE(waitFor([&] { return notified(kT0) == "[(1,'ALERT'),(2,'ALERT')]\n"; }));
  const size_t delivered = rx.posts().size();
  EXPECT_GT(delivered, refused);
  EXPECT_EQ(rx.distinctKeys(), 1u);
  events(kT0 + 60, 3);
  now_ = kT0 + 120;  // b resumes (a announced the firing) and evaluates the next window: still in breach
  ASSERT_TRUE(waitFor([&] { return evaluated(kT0 + 60); }));
  EXPECT_EQ(a->service->outboxSize(), 1u);  // a holds its undelivered firing, and does not post it
  // b goes away; a leads again, learns from the mark that the firing went, and posts nothing.
  a->relay->restore();
  b->kill();
  ASSERT_TRUE(waitFor([&] { return a->lease->holds() && a->service->outboxSize() == 0; }));
  now_ = kT0 + 180;  // the window at kT0 + 120 has no events: a resolves, once
  ASSERT_TRUE(rx.waitFor([&](const auto& p) { return p.size() == delivered + 1; }));
  a.reset();
  auto posts = rx.posts();
  EXPECT_EQ(posts.size(), delivered + 1);
  EXPECT_EQ(count(posts, "The alert has been resolved."), 1);
  EXPECT_EQ(rx.distinctKeys(), 2u);  // the firing (a's attempts and b's delivery), the resolution
}

}  // namespace
}  // namespace kobs::alert
