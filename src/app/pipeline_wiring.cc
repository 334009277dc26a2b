// Step 5 of runProcess(): the pipeline (batchers -> disk buffer -> sender)
// over the store, its metrics, and in `kobs all` the wake-up of the event
// feed when an events batch is committed.
#include "app/process_parts.h"
#include "pipeline/targets.h"

namespace kobs::app {
namespace {

constexpr std::string_view kDroppedHelp =
    "Records not stored, by component and reason (rejected_by_store: set aside in the dead-letter folder; "
    "buffer_full: refused to the producer).";

// Prometheus series over the pipeline's own counters, read at scrape time.
void registerPipelineMetrics(metrics::Registry& m, pipeline::Pipeline& p) {
  auto& buffer = p.buffer();
  const auto& sender = p.sender();
  m.gaugeCallback("kobs_buffer_pending_bytes", "Bytes in the disk buffer not yet committed to the store.",
                  [&buffer] { return double(buffer.pendingBytes()); });
  m.gaugeCallback("kobs_buffer_pending_batches", "Batches in the disk buffer not yet committed to the store.",
                  [&buffer] { return double(buffer.pendingBatches()); });
  m.counterCallback("kobs_buffer_recovered_batches_total", "Batches found in the disk buffer at start and replayed.",
                    [&buffer] { return double(buffer.stats().recovered_batches.load()); });
  m.counterCallback("kobs_buffer_torn_records_total", "Torn records truncated from the disk buffer's tail at start.",
                    [&buffer] { return double(buffer.stats().torn_tail_truncations.load()); });
  m.counterCallback("kobs_buffer_corrupt_records_total", "Disk buffer records that failed their checksum.",
                    [&buffer] { return double(buffer.stats().corrupt_records.load()); });
  m.counterCallback("kobs_records_out_total", "Records committed to the store.",
                    [&sender] { return double(sender.stats().rows_committed.load()); }, {{"component", "sender"}});
  m.counterCallback("kobs_records_dropped_total", kDroppedHelp,
                    [&sender] { return double(sender.stats().rows_dead_lettered.load()); },
                    {{"component", "sender"}, {"reason", "rejected_by_store"}});
  m.counterCallback("kobs_store_insert_retries_total", "Insert attempts retried after a retryable failure.",
                    [&sender] { return double(sender.stats().retries.load()); });
  auto batcher = [&](const std::string& table, const pipeline::BatcherStats& s) {
    m.counterCallback("kobs_records_in_total", "Records accepted into a batch.",
                      [&s] { return double(s.records_in.load()); }, {{"component", "batcher"}, {"table", table}});
    m.counterCallback("kobs_records_dropped_total", kDroppedHelp,
                      [&s] { return double(s.records_rejected.load()); },
                      {{"component", "batcher"}, {"reason", "buffer_full"}, {"table", table}});
  };
  batcher(p.logs().encoder().table(), p.logs().stats());
  if (auto* t = p.traces()) batcher(t->encoder().table(), t->stats());
  for (auto type : {pipeline::MetricType::kGauge, pipeline::MetricType::kSum, pipeline::MetricType::kHistogram,
                    pipeline::MetricType::kExponentialHistogram, pipeline::MetricType::kSummary})
    if (auto* b = p.metrics(type)) batcher(b->encoder().table(), b->stats());
}

}  // namespace

void Process::startPipeline() {
  if (options_.role == Role::kServe) return;
  pipeline_ = std::make_unique<pipeline::Pipeline>(*store_, pipeline::targetsFromSchema(schema_), config_.pipeline,
                                                   [h = &insert_latency_](double s) { h->observe(s); });
  registerPipelineMetrics(registry_, *pipeline_);
  if (event_feed_) {
    // kobs all: push events as soon as their batch is committed.
    pipeline_->addCommitListener([feed = event_feed_.get(),
                                  logs = schema_.table(store::schema::TableKind::kLogs).table](const std::string& table,
                                                                                                uint64_t) {
      if (table == logs) feed->wake();
    });
  }
  pipeline_->start();
}

}  // namespace kobs::app
