// The shipped default rule (deploy/alert-rules/default.yaml, unchanged) in a
// real `kobs all --demo`: the demo's crash-looping Pod emits BackOff
// Warnings, the rule fires to a Slack-compatible loopback receiver. The
// receiver holds its reply to that POST and kobs is killed with SIGKILL while
// it waits (mid-alert, mid-delivery), then restarted on the same data dir
// without the demo (the Warnings stop): the firing is posted again with the
// same Idempotency-Key (one delivery per key; never a second alert), and the
// resolution arrives once. alert.interval_override=90s keeps the run short: the
// demo emits a BackOff every 20 s, so a 90 s window holds 4 or 5, above 2
// whatever the phase (a 1-minute window holds 2 to 4 under scheduling jitter).
#include <signal.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/temp_dir.h"
#include "webhook_receiver.h"

namespace kobs::alert {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::unique_ptr<kobs::testing::ChildProcess> startKobs(const std::filesystem::path& data, bool demo,
                                                      const std::filesystem::path& log) {
  auto bin = (kobs::testing::binaryDir() / "src/app/kobs").string();
  auto rules = (kobs::testing::sourceDir() / "deploy/alert-rules/default.yaml").string();
  std::string cmd = "exec '" + bin + "' all " + (demo ? "--demo " : "") + "--data-dir '" + data.string() +
                    "' --set http.listen=127.0.0.1:0 --set otlp.http_listen=127.0.0.1:0 --set "
                    "otlp.grpc_listen=127.0.0.1:0 --set serve.clickhouse_listen= --set mcp.listen= --set alert.rules_file='" +
                    rules +
                    "' --set alert.interval_override=90s --set alert.tick=250ms --set alert.settle_delay=2s "
                    "--set alert.retry_initial=200ms >>'" + log.string() + "' 2>&1";
  return std::make_unique<kobs::testing::ChildProcess>(std::vector<std::string>{"/bin/sh", "-c", cmd});
}

bool waitForLog(const std::filesystem::path& log, const std::string& needle, std::chrono::seconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (readFile(log).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

size_t countWith(const std::vector<testing::ReceivedPost>& posts, const std::string& needle) {
  size_t n = 0;
  for (const auto& p : posts) n += p.body.find(needle) != std::string::npos;
  return n;
}

TEST(AlertDefaultRule, FiresOnDemoWarningsSurvivesKill9AndResolvesOnce) {
  testing::WebhookReceiver rx;
  ::setenv("KOBS_ALERT_SLACK_WEBHOOK_URL", rx.url().c_str(), 1);
  kobs::testing::TempDir dir;
  auto log = dir.path() / "kobs.log";
  const std::string pod = "k8s.pod.name=fireworks-demo-backend-7f9c8d6b5-r2t8w";
  rx.hold();
  {
    auto kobs = startKobs(dir.path() / "data", true, log);
    ASSERT_TRUE(rx.waitFor([&](const auto& posts) { return countWith(posts, "🚨") > 0; }, std::chrono::seconds(400)))
        << readFile(log);
    kobs->kill(SIGKILL);  // mid-alert: the firing POST has no reply yet
    kobs->wait();
  }
  rx.release();
  auto fired = rx.posts();
  ASSERT_EQ(fired.size(), 1u);
  auto j = json::parse(fired[0].body);
  EXPECT_THAT(j["text"].get<std::string>(), HasSubstr("🚨 Alert for \"pod-warning-events\" - "));
  EXPECT_THAT(j["blocks"][0]["text"]["text"].get<std::string>(), HasSubstr(pod));
  EXPECT_THAT(j["blocks"][0]["text"]["text"].get<std::string>(), HasSubstr("k8s.namespace.name=demo-system"));

  auto kobs = startKobs(dir.path() / "data", false, log);
  ASSERT_TRUE(rx.waitFor([&](const auto& posts) { return countWith(posts, "✅") > 0; }, std::chrono::seconds(400)))
      << readFile(log);
  // SIGHUP reloads the rules without stopping the process.
  ::kill(kobs->pid(), SIGHUP);
  EXPECT_TRUE(waitForLog(log, "alert rules reloaded", std::chrono::seconds(60)));
  std::this_thread::sleep_for(std::chrono::seconds(2));  // a late duplicate would show up here
  auto posts = rx.posts();
  // The unanswered firing went again after the restart, with its key.
  ASSERT_EQ(countWith(posts, "🚨"), 2u);
  for (const auto& p : posts)
    if (p.body.find("🚨") != std::string::npos) {
      EXPECT_EQ(p.idempotency_key, fired[0].idempotency_key);
    }
  EXPECT_EQ(countWith(posts, "✅"), 1u);
  EXPECT_EQ(rx.distinctKeys(), 2u);  // one firing, one resolution
  EXPECT_THAT(posts.back().body, HasSubstr("The alert has been resolved."));
  EXPECT_THAT(posts.back().body, HasSubstr(pod));
  kobs->kill(SIGTERM);
  int st = kobs->wait();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << readFile(log);
  // No webhook URL in the logs: it is a secret.
  EXPECT_EQ(readFile(log).find(rx.url()), std::string::npos);
}

}  // namespace
}  // namespace kobs::alert
