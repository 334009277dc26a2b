#include "http/health_routes.h"

namespace kobs::http {

void addHealthRoutes(Router& router, const metrics::Registry* registry, ReadinessCheck readiness) {
  router.get("/healthz", [](const Request&) { return Response::text(200, "ok"); });
  router.get("/readyz", [readiness = std::move(readiness)](const Request&) {
    Readiness r = readiness ? readiness() : Readiness{};
    if (r.ready) return Response::text(200, "ready");
    return Response::text(503, r.reason.empty() ? "not ready" : r.reason);
  });
  if (registry) {
    router.get("/metrics", [registry](const Request&) {
      Response r;
      r.headers.set("Content-Type", metrics::Registry::kContentType);
      r.body = registry->renderPrometheus();
      return r;
    });
  }
}

}  // namespace kobs::http
