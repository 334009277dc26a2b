// The operational endpoints every kobs listener can carry:
//   GET /healthz  200 "ok" while the process runs (liveness);
//   GET /readyz   200 "ready", or 503 with the reason the readiness check gave;
//   GET /metrics  the Registry in Prometheus text format 0.0.4.
//
// Threading: the readiness check and metric callbacks run on an io thread per
// request (routes are non-blocking): keep them quick and thread-safe.
#pragma once

#include <functional>
#include <string>

#include "common/metrics.h"
#include "http/router.h"

namespace kobs::http {

struct Readiness {
  bool ready = true;
  std::string reason;  // why not ready ("store unreachable: ...")
};
using ReadinessCheck = std::function<Readiness()>;

// Adds /healthz, /readyz and /metrics to `router`. `registry` must outlive the
// server; null leaves /metrics out. A null `readiness` means always ready.
void addHealthRoutes(Router& router, const metrics::Registry* registry, ReadinessCheck readiness);

}  // namespace kobs::http
