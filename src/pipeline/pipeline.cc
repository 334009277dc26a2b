#include "pipeline/pipeline.h"

#include "common/logging.h"

namespace kobs::pipeline {

Pipeline::Pipeline(store::IStore& store, const PipelineTargets& targets, PipelineOptions options,
                   StoreSender::LatencyObserver observe_latency)
    : options_(std::move(options)) {
  // Encoders first: a schema mismatch must stop the start before anything is opened.
  auto log_encoder = std::make_shared<const LogEncoder>(targets.logs.table, targets.logs.columns, logBindings());
  std::shared_ptr<const SpanEncoder> span_encoder;
  if (!targets.traces.table.empty())
    span_encoder = std::make_shared<const SpanEncoder>(targets.traces.table, targets.traces.columns, spanBindings());
  // Borrowed records (the OTLP receiver's) go into the same batches: the same
  // bindings, so the same columns.
  log_ref_encoder_ = std::make_unique<const LogRefEncoder>(targets.logs.table, targets.logs.columns, logRefBindings());
  if (span_encoder)
    span_ref_encoder_ =
        std::make_unique<const SpanRefEncoder>(targets.traces.table, targets.traces.columns, spanRefBindings());
  std::map<MetricType, std::shared_ptr<const MetricEncoder>> metric_encoders;
  for (const auto& [type, target] : targets.metrics)
    metric_encoders[type] = std::make_shared<const MetricEncoder>(target.table, target.columns, metricBindings(type));

  if (options_.sender.dead_letter_dir.empty()) options_.sender.dead_letter_dir = options_.buffer.dir / "dead";
  // Batches waiting behind an insert are merged into the next one up to a full batch's size.
  if (options_.sender.merge_max_rows == 0) {
    options_.sender.merge_max_rows = options_.batch.max_rows;
    options_.sender.merge_max_bytes = options_.batch.max_bytes;
  }
  buffer_ = std::make_unique<DiskBuffer>(options_.buffer);
  sender_ = std::make_unique<StoreSender>(store, *buffer_, options_.sender, std::move(observe_latency));
  logs_ = std::make_unique<Batcher<LogRecord>>(log_encoder, *buffer_, options_.batch);
  if (span_encoder) traces_ = std::make_unique<Batcher<Span>>(span_encoder, *buffer_, options_.batch);
  for (auto& [type, enc] : metric_encoders)
    metrics_[type] = std::make_unique<Batcher<MetricPoint>>(enc, *buffer_, options_.batch);
  // The flusher sleeps until the nearest deadline; it is woken early when a
  // producer waits for durability, when a batch opens (its linger starts),
  // and when a commit may have made the sender idle.
  auto wake = [this] { wakeFlusher(); };
  logs_->setDurableWaiterHook(wake);
  if (traces_) traces_->setDurableWaiterHook(wake);
  for (auto& [_, b] : metrics_) b->setDurableWaiterHook(wake);
  logs_->setOnOpen(wake);
  if (traces_) traces_->setOnOpen(wake);
  for (auto& [_, b] : metrics_) b->setOnOpen(wake);
  sender_->addCommitListener([this](const std::string&, uint64_t) { wakeFlusher(); });
}

void Pipeline::wakeFlusher() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  cv_.notify_all();
}

Pipeline::~Pipeline() { shutdown(std::chrono::steady_clock::now()); }

Batcher<MetricPoint>* Pipeline::metrics(MetricType type) {
  auto it = metrics_.find(type);
  return it == metrics_.end() ? nullptr : it->second.get();
}

void Pipeline::start() {
  sender_->start();
  flusher_ = std::thread([this] { flushLoop(); });
}

void Pipeline::flush() {
  logs_->flush();
  if (traces_) traces_->flush();
  for (auto& [_, b] : metrics_) b->flush();
}

void Pipeline::flushLoop() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    woken_ = false;
    lock.unlock();
    // Batches a producer waits on first (group commit: what arrived during
    // the last seal's write and fsync goes in this one), then the due ones.
    logs_->flushDurableWaiters();
    if (traces_) traces_->flushDurableWaiters();
    for (auto& [_, b] : metrics_) b->flushDurableWaiters();
    const auto now = Clock::now();
    // At most one batch in the sender's hands: sealing one more now does not
    // queue it behind another insert (see Batcher).
    const bool sender_idle = buffer_->pendingBatches() < 2;
    auto next = logs_->sealIfDue(now, sender_idle, options_.flush_tick);
    if (traces_) next = std::min(next, traces_->sealIfDue(now, sender_idle, options_.flush_tick));
    for (auto& [_, b] : metrics_) next = std::min(next, b->sealIfDue(now, sender_idle, options_.flush_tick));
    // While a batch is open, look again at least every flush_tick: durable
    // waiters whose seal the buffer refused are retried then.
    if (next != Clock::time_point::max()) next = std::min(next, now + options_.flush_tick);
    lock.lock();
    if (woken_ || stopping_) continue;
    if (next == Clock::time_point::max()) cv_.wait(lock, [&] { return woken_ || stopping_; });
    else cv_.wait_until(lock, next, [&] { return woken_ || stopping_; });
  }
}

void Pipeline::shutdown(std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard lock(mutex_);
    if (shut_down_) return;
    shut_down_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  auto seal = [&](auto& batcher) {
    try {
      batcher.flush();
    } catch (const std::exception& e) {
      logging::get("pipeline")->error("shutdown: the open batch for {} could not enter the disk buffer and is "
                                      "dropped (counted in kobs_records_dropped_total): {}",
                                      batcher.encoder().table(), e.what());
      batcher.abandon();
    }
  };
  seal(*logs_);
  if (traces_) seal(*traces_);
  for (auto& [_, b] : metrics_) seal(*b);
  if (!buffer_->waitDrained(deadline))
    logging::get("pipeline")->warn("shutdown deadline reached with {} batches not yet in the store; they stay in "
                                   "the disk buffer and are sent at the next start",
                                   buffer_->pendingBatches());
  sender_->stop();
  buffer_->close();
}

}  // namespace kobs::pipeline
