#include "http/health_routes.h"

#include <atomic>
#include <mutex>

#include <gtest/gtest.h>

#include "common/metrics.h"
#include "support/http_client.h"
#include "http/http_server.h"

namespace kobs::http {
namespace {

using testing::Client;
using testing::url;

TEST(HealthRoutes, HealthzReadyzAndMetrics) {
  metrics::Registry registry;
  auto& requests = registry.counter("kobs_test_requests_total", "Requests.", {{"component", "test"}});
  requests.inc(3);
  std::mutex mutex;
  Readiness state{false, "store unreachable: connection refused"};

  Router router;
  addHealthRoutes(router, &registry, [&] {
    std::lock_guard lock(mutex);
    return state;
  });
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  Server server(o, std::move(router));
  server.start();
  Client c;

  auto health = c.fetch(url(server.port(), "/healthz"));
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok");

  auto notready = c.fetch(url(server.port(), "/readyz"));
  EXPECT_EQ(notready.status, 503);
  EXPECT_EQ(notready.body, "store unreachable: connection refused");
  {
    std::lock_guard lock(mutex);
    state = Readiness{true, ""};
  }
  auto ready = c.fetch(url(server.port(), "/readyz"));
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ready");

  auto m = c.fetch(url(server.port(), "/metrics"));
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(m.body,
            "# HELP kobs_test_requests_total Requests.\n"
            "# TYPE kobs_test_requests_total counter\n"
            "kobs_test_requests_total{component=\"test\"} 3\n");
  requests.inc();
  EXPECT_NE(c.fetch(url(server.port(), "/metrics")).body.find("} 4\n"), std::string::npos);
}

TEST(HealthRoutes, WithoutRegistryOrCheck) {
  Router router;
  addHealthRoutes(router, nullptr, nullptr);
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  Server server(o, std::move(router));
  server.start();
  Client c;
  EXPECT_EQ(c.fetch(url(server.port(), "/readyz")).status, 200);
  EXPECT_EQ(c.fetch(url(server.port(), "/metrics")).status, 404);
}

TEST(HealthRoutes, EmptyReasonStillExplains) {
  Router router;
  addHealthRoutes(router, nullptr, [] { return Readiness{false, ""}; });
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  Server server(o, std::move(router));
  server.start();
  auto res = Client().fetch(url(server.port(), "/readyz"));
  EXPECT_EQ(res.status, 503);
  EXPECT_EQ(res.body, "not ready");
}

}  // namespace
}  // namespace kobs::http
