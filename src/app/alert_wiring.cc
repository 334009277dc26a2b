// Step 6b of runProcess(): the alert evaluator (src/alert/), in `kobs alert`
// and in `kobs all` when alert.rules_file is set. In `kobs all` it also
// knows the disk buffer: a window is evaluated only once the rows accepted
// before its end have left the buffer, so rows in flight are never taken for
// a quiet window. With leader election on, only the replica holding the
// Lease (alert_lease.h) evaluates and posts; on taking the lease it resumes
// from alert_history what the previous leader evaluated and announced.
#include "alert/alert_config.h"
#include "app/alert_lease.h"
#include "app/lazy_api_client.h"
#include "app/process_parts.h"
#include "collect/k8s_events/leader_elector.h"

namespace kobs::app {

AlertLease::AlertLease(std::function<k8s::ApiClient&()> api, collect::k8s_events::LeaderElectionOptions options)
    : api_(std::move(api)), options_(std::move(options)) {
  thread_ = std::thread([this] { run(); });
}

AlertLease::~AlertLease() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AlertLease::abandon() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    release_ = false;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool AlertLease::holds() const {
  return std::chrono::steady_clock::now().time_since_epoch().count() < held_until_ns_.load();
}

void AlertLease::run() {
  auto log = logging::get("alert");
  // Several looks per retry_period: the elector itself paces its API calls.
  const auto pace = std::max(options_.retry_period / 4, std::chrono::milliseconds(50));
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    try {
      if (!elector_) elector_ = std::make_unique<collect::k8s_events::LeaderElector>(api_(), options_);
      const bool leading = elector_->tick();
      held_until_ns_ = leading ? (elector_->renewedAt() + options_.renew_deadline).time_since_epoch().count() : 0;
    } catch (const std::exception& e) {
      // No elector yet (API unreachable at start): not leading.
      log->warn("alert leader election: {}", e.what());
    }
    lock.lock();
    cv_.wait_for(lock, pace, [this] { return stopping_; });
  }
  held_until_ns_ = 0;
  if (release_ && elector_) {
    lock.unlock();
    elector_->release();
  }
}

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
    auto lease = std::make_shared<AlertLease>([kube = alert_kube_.get()]() -> k8s::ApiClient& { return kube->get(); },
                                              lo);
    // The lease lives as long as the service (its options hold this function).
    o.is_leader = [lease] { return lease->holds(); };
    o.resume_from_history = true;
  }
  if (events_api_) {
    // Firing and resolved alerts on /notifications?topic=alerts, at once.
    o.on_announce = [stream = events_api_->alertStream()](const alert::Announcement& a) {
      stream->publish({a.rule, a.group, a.state, a.window_start, a.window_end, a.value});
    };
  }
  alert_ = std::make_unique<alert::AlertService>(std::move(o), *store_, &registry_);
  alert_->start();
  signals_.setReloadHandler([a = alert_.get()] { a->requestReload(); });
  log_->info("alerts evaluating rules from {}", v.str("alert.rules_file"));
}

}  // namespace kobs::app
