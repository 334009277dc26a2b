// Step 6b of runProcess(): the alert evaluator (src/alert/), in `kobs alert`
// and in `kobs all` when alert.rules_file is set. In `kobs all` it also
// knows the disk buffer: a window is evaluated only once the rows accepted
// before its end have left the buffer, so rows in flight are never taken for
// a quiet window. With leader election on, only the replica holding the
// Lease evaluates (a pending notification is still delivered by the replica
// that decided it).
#include "alert/alert_config.h"
#include "app/lazy_api_client.h"
#include "app/process_parts.h"
#include "collect/k8s_events/leader_elector.h"

namespace kobs::app {

void Process::startAlerts() {
  const auto& v = config_.values;
  if (options_.role != Role::kAlert && !(options_.role == Role::kAll && alert::alertsConfigured(v))) return;
  if (!alert::alertsConfigured(v))
    throw Exception(ErrorCode::kBadConfig, "alert.rules_file: `kobs alert` needs a rules file or directory");
  auto o = alert::alertOptions(v, config_.data_dir);
  o.schema = config_.schema;
  o.tables.logs = schema_.table(store::schema::TableKind::kLogs).table;
  o.tables.traces = schema_.table(store::schema::TableKind::kTraces).table;
  for (auto [kind, name] : {std::pair{store::schema::TableKind::kMetricsGauge, "gauge"},
                            {store::schema::TableKind::kMetricsSum, "sum"},
                            {store::schema::TableKind::kMetricsHistogram, "histogram"},
                            {store::schema::TableKind::kMetricsExponentialHistogram, "exponential_histogram"},
                            {store::schema::TableKind::kMetricsSummary, "summary"}})
    o.tables.metrics[name] = schema_.table(kind).table;
  if (pipeline_) {
    // Rows accepted before (the last time the buffer was empty) - batch age
    // are in the store; a margin covers the flusher's tick.
    struct Drain {
      std::mutex mutex;
      alert::SysClock::time_point at = alert::SysClock::now();
    };
    auto drain = std::make_shared<Drain>();
    const auto lag = config_.pipeline.batch.max_age + config_.pipeline.flush_tick + std::chrono::seconds(1);
    o.watermark = [p = pipeline_.get(), drain, lag]() -> std::optional<alert::SysClock::time_point> {
      std::lock_guard lock(drain->mutex);
      if (p->buffer().pendingBatches() == 0) drain->at = alert::SysClock::now();
      return drain->at - std::chrono::duration_cast<alert::SysClock::duration>(lag);
    };
  }
  if (v.boolean("alert.leader_election.enabled")) {
    k8s::ResolveOptions ro;
    ro.kubeconfig = v.str("k8s.kubeconfig");
    ro.context = v.str("k8s.context");
    alert_kube_ = std::make_unique<LazyApiClient>(ro);
    collect::k8s_events::LeaderElectionOptions lo;
    lo.enabled = true;
    lo.lease_name = v.str("alert.leader_election.lease_name");
    lo.lease_namespace = v.str("alert.leader_election.lease_namespace");
    lo.identity = collect::k8s_events::defaultIdentity();
    // Built on first use (the API may be down at start); no Lease, no evaluation.
    o.is_leader = [this, lo, elector = std::shared_ptr<collect::k8s_events::LeaderElector>()]() mutable {
      try {
        if (!elector) elector = std::make_shared<collect::k8s_events::LeaderElector>(alert_kube_->get(), lo);
        return elector->tick();
      } catch (const std::exception& e) {
        log_->warn("alert leader election: {}", e.what());
        return false;
      }
    };
  }
  alert_ = std::make_unique<alert::AlertService>(std::move(o), *store_, &registry_);
  alert_->start();
  signals_.setReloadHandler([a = alert_.get()] { a->requestReload(); });
  log_->info("alerts evaluating rules from {}", v.str("alert.rules_file"));
}

}  // namespace kobs::app
