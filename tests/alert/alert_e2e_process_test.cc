// Alerts end to end in a real `kobs all` process: its events receiver watches
// the real kube-apiserver (tests/support/real_apiserver) through
// --kubeconfig, the alert evaluator holds its Lease there, the rule (the
// shipped one's `where` and groupBy, threshold 1, 10 s windows through
// alert.interval_override) posts to a loopback generic webhook (its body
// template carries the Idempotency-Key too), and curl reads
// /notifications?topic=alerts from kobs's own listener. Warning events about
// a Pod are created through the API until the firing arrives on the webhook
// and on the stream, then (no more events) the resolution, each exactly once
// (checked after two more windows were evaluated).
#include <signal.h>
#include <strings.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/http_client.h"
#include "support/real_apiserver.h"
#include "support/temp_dir.h"
#include "webhook_receiver.h"

KOBS_REAL_APISERVER_ENVIRONMENT();

namespace kobs::alert {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
namespace ht = kobs::http::testing;

bool waitFor(const std::function<bool()>& pred, std::chrono::seconds timeout = 180s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

size_t countOf(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// curl -N on the alerts topic; every line kept as it comes (a reader thread).
class SseReader {
 public:
  explicit SseReader(const std::string& url)
      : curl_({"/usr/bin/curl", "-sN", "--max-time", "600", url}), thread_([this] {
          for (;;) {
            auto line = curl_.readLine();
            if (line.empty() && feof(curl_.out())) return;
            std::lock_guard l(m_);
            text_ += line + "\n";
          }
        }) {}
  ~SseReader() {
    curl_.kill(SIGTERM);
    thread_.join();
  }
  std::string text() const {
    std::lock_guard l(m_);
    return text_;
  }

 private:
  kobs::testing::ChildProcess curl_;
  mutable std::mutex m_;
  std::string text_;
  std::thread thread_;
};

TEST(AlertEndToEnd, KobsAllPostsFiringAndResolutionOnceToTheWebhookAndTheAlertsStream) {
  auto& kube = kobs::testing::RealApiServerEnvironment::server();
  const std::string ns = kube.createNamespace("alert-e2e");
  kobs::testing::TempDir dir;
  testing::WebhookReceiver rx;
  std::ofstream(dir.path() / "url") << rx.url() << "\n";
  std::ofstream(dir.path() / "rules.yaml")
      << "channels:\n  hook:\n    type: webhook\n    url_file: " << (dir.path() / "url").string()
      << "\n    headers:\n      X-Team: krateo\n"
         "    body: '{\"text\": \"{{title}}\", \"group\": \"{{group}}\", \"state\": \"{{state}}\", "
         "\"key\": \"{{idempotencyKey}}\"}'\n"
         "rules:\n  - name: pod-warnings\n    source: events\n"
         "    where: \"ResourceAttributes['k8s.object.kind'] = 'Pod' AND SeverityText = 'Warning'\"\n"
         "    interval: 1m\n    threshold: 1\n    thresholdType: above\n"
         "    groupBy: [k8s.namespace.name, k8s.pod.name]\n    channels: [hook]\n";

  kobs::testing::ChildProcess kobs(
      {(kobs::testing::binaryDir() / "src/app/kobs").string(), "all", "--data-dir", (dir.path() / "data").string(),
       "--kubeconfig", kube.kubeconfig().string(), "--set", "k8s.events.namespaces=" + ns, "--set",
       "http.listen=127.0.0.1:0", "--set", "otlp.http_listen=", "--set", "otlp.grpc_listen=", "--set",
       "serve.clickhouse_listen=", "--set", "mcp.listen=", "--set", "presenter.listen=", "--set",
       "alert.rules_file=" + (dir.path() / "rules.yaml").string(), "--set", "alert.interval_override=10s", "--set",
       "alert.tick=250ms", "--set", "alert.settle_delay=5s", "--set", "alert.retry_initial=200ms", "--set",
       "alert.leader_election.enabled=true", "--set", "alert.leader_election.lease_namespace=" + ns});
  uint16_t port = 0;
  std::regex listening(R"(kobs listening on http://[0-9.]+:([0-9]+))");
  for (std::string line; port == 0 && !(line = kobs.readLine()).empty();) {
    std::smatch m;
    if (std::regex_search(line, m, listening)) port = uint16_t(std::stoi(m[1]));
  }
  ASSERT_NE(port, 0) << "kobs did not print its listener";
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  ht::Client client;
  auto metric = [&](const std::string& line) -> double {
    auto r = client.fetch(base + "/metrics");
    auto text = "\n" + r.body;
    auto at = text.find("\n" + line + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + line.size() + 2));
  };
  ASSERT_TRUE(waitFor([&] { return client.fetch(base + "/readyz").status == 200; }));

  SseReader sse(base + "/notifications?topic=alerts");
  ASSERT_TRUE(waitFor([&] { return sse.text().find(": connected") != std::string::npos; }));
  // The evaluator leads (the Lease on the real API server) and has run a cycle.
  const std::string evaluated = "kobs_alert_evaluations_total{outcome=\"ok\"}";
  ASSERT_TRUE(waitFor([&] { return metric(evaluated) > 0; }));

  // A Warning every 2 s until the firing arrives: on this loaded machine an
  // event may reach the store after its window was evaluated (settle_delay),
  // and a later window then counts the next one.
  auto pod = kube.createPod(ns, "web-0");
  int created = 0;
  ASSERT_TRUE(waitFor([&] {
    if (!rx.posts().empty()) return true;
    kube.createEvent(ns, "web-0.backoff-" + std::to_string(created++), pod, "BackOff",
                     "Back-off restarting failed container", "Warning");
    std::this_thread::sleep_for(2s);
    return !rx.posts().empty();
  }));
  ASSERT_TRUE(waitFor([&] { return countOf(sse.text(), "\"state\":\"ALERT\"") > 0; }));
  // No more events: a quiet window resolves it.
  ASSERT_TRUE(rx.waitFor([](const auto& p) { return p.size() >= 2; }, 180s));
  ASSERT_TRUE(waitFor([&] { return countOf(sse.text(), "\"state\":\"OK\"") > 0; }));
  // Two more windows evaluated: a late duplicate (a re-decision, a recovered
  // notification, a second publish) would have come by now.
  const double after = metric(evaluated);
  ASSERT_TRUE(waitFor([&] { return metric(evaluated) >= after + 2; }));
  ASSERT_TRUE(waitFor([&] { return metric("kobs_alert_outbox_pending") == 0; }));

  auto posts = rx.posts();
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(rx.distinctKeys(), 2u);
  EXPECT_THAT(nlohmann::json::parse(posts[0].body)["text"].get<std::string>(), HasSubstr("🚨 Alert for \"pod-warnings\""));
  EXPECT_EQ(nlohmann::json::parse(posts[0].body)["state"], "ALERT");
  EXPECT_THAT(nlohmann::json::parse(posts[1].body)["text"].get<std::string>(), HasSubstr("✅ Alert for \"pod-warnings\""));
  EXPECT_EQ(nlohmann::json::parse(posts[1].body)["state"], "OK");
  for (const auto& p : posts) {
    auto j = nlohmann::json::parse(p.body);
    EXPECT_EQ(j["group"], "k8s.namespace.name=" + ns + ", k8s.pod.name=web-0");
    EXPECT_EQ(j["key"], p.idempotency_key);  // the key in the body too, for receivers that read only the body
    EXPECT_EQ(p.content_type, "application/json");
    EXPECT_FALSE(p.idempotency_key.empty());
    bool team = false;
    for (const auto& [k, v] : p.headers) team |= ::strcasecmp(k.c_str(), "X-Team") == 0 && v == "krateo";
    EXPECT_TRUE(team);
  }
  EXPECT_EQ(metric("kobs_alert_notifications_total{outcome=\"delivered\"}"), 2);

  const auto stream = sse.text();
  EXPECT_EQ(countOf(stream, "event: alerts\n"), 2u) << stream;
  EXPECT_EQ(countOf(stream, "\"state\":\"ALERT\""), 1u) << stream;
  EXPECT_EQ(countOf(stream, "\"state\":\"OK\""), 1u) << stream;
  EXPECT_THAT(stream, HasSubstr("\"rule\":\"pod-warnings\",\"group\":\"k8s.namespace.name=" + ns +
                                ", k8s.pod.name=web-0\",\"state\":\"ALERT\""));
  EXPECT_LT(stream.find("\"state\":\"ALERT\""), stream.find("\"state\":\"OK\""));

  kobs.kill(SIGTERM);
  int st = kobs.wait();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

}  // namespace
}  // namespace kobs::alert
