// Step 5 of runProcess(): the pipeline (batchers -> disk buffer -> sender)
// over the store, its metrics, and in `kobs all` the wake-up of the event
// feed when an events batch is committed.
#include "app/process_parts.h"
#include "app/store_factory.h"
#include "pipeline/targets.h"
#include "serve/events/local_event.h"

namespace kobs::app {
namespace {

constexpr std::string_view kDroppedHelp =
    "Records lost, by component and reason (rejected_by_store: set aside in the dead-letter folder; "
    "unreadable: lost to disk corruption in the buffer; abandoned_at_shutdown: accepted, the buffer still full "
    "at shutdown).";
constexpr std::string_view kRefusedHelp =
    "Records a batcher refused to their producer, by reason (buffer_full, disk_error): not lost here; the producer "
    "keeps and offers them again (pod logs, events) or refuses its client (OTLP answers 503/UNAVAILABLE).";

// Prometheus series over the pipeline's own counters, read at scrape time.
void registerPipelineMetrics(metrics::Registry& m, pipeline::Pipeline& p) {
  auto& buffer = p.buffer();
  const auto& sender = p.sender();
  m.gaugeCallback("kobs_buffer_pending_bytes", "Bytes in the disk buffer not yet committed to the store.",
                  [&buffer] { return double(buffer.pendingBytes()); });
  m.gaugeCallback("kobs_buffer_pending_batches", "Batches in the disk buffer not yet committed to the store.",
                  [&buffer] { return double(buffer.pendingBatches()); });
  m.gaugeCallback("kobs_buffer_oldest_pending_age_seconds",
                  "How long the oldest batch not yet committed to the store has waited in the disk buffer.",
                  [&buffer] { return std::chrono::duration<double>(buffer.oldestPendingAge()).count(); });
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
  m.counterCallback("kobs_records_dropped_total", kDroppedHelp,
                    [&sender] { return double(sender.stats().rows_unreadable.load()); },
                    {{"component", "sender"}, {"reason", "unreadable"}});
  m.counterCallback("kobs_records_deduplicated_total",
                    "Records of replayed batches the store already had (not counted in kobs_records_out_total).",
                    [&sender] { return double(sender.stats().rows_deduplicated.load()); });
  const std::pair<const char*, const std::atomic<uint64_t>*> failure_classes[] = {
      {"retry", &sender.stats().failures_retry},
      {"retry_loud", &sender.stats().failures_retry_loud},
      {"split_by_partition", &sender.stats().failures_too_many_partitions},
      {"short_write", &sender.stats().failures_short_write},
      {"permanent", &sender.stats().failures_permanent}};
  for (const auto& [cls, counter] : failure_classes)
    m.counterCallback("kobs_store_insert_failures_total",
                      "Failed insert attempts by what the sender does about them (store/error_class.h).",
                      [counter] { return double(counter->load()); }, {{"class", cls}});
  constexpr std::string_view kSenderErrorsHelp = "Write-path errors on the sender thread other than inserts, by kind.";
  const std::pair<const char*, const std::atomic<uint64_t>*> sender_errors[] = {
      {"commit_record", &sender.stats().commit_errors},
      {"dead_letter_write", &sender.stats().dead_letter_errors},
      {"buffer_read", &sender.stats().read_errors},
      {"internal", &sender.stats().internal_errors}};
  for (const auto& [kind, counter] : sender_errors)
    m.counterCallback("kobs_sender_errors_total", kSenderErrorsHelp, [counter] { return double(counter->load()); },
                      {{"kind", kind}});
  m.counterCallback("kobs_buffer_append_errors_total", "Disk buffer appends that failed on I/O and were rolled back.",
                    [&buffer] { return double(buffer.stats().append_errors.load()); });
  auto batcher = [&](const std::string& table, const pipeline::BatcherStats& s) {
    m.counterCallback("kobs_records_in_total", "Records accepted into a batch.",
                      [&s] { return double(s.records_in.load()); }, {{"component", "batcher"}, {"table", table}});
    m.counterCallback("kobs_records_refused_total", kRefusedHelp,
                      [&s] { return double(s.records_rejected.load()); },
                      {{"component", "batcher"}, {"reason", "buffer_full"}, {"table", table}});
    m.counterCallback("kobs_records_refused_total", kRefusedHelp,
                      [&s] { return double(s.records_rejected_disk.load()); },
                      {{"component", "batcher"}, {"reason", "disk_error"}, {"table", table}});
    m.counterCallback("kobs_records_dropped_total", kDroppedHelp,
                      [&s] { return double(s.records_abandoned.load()); },
                      {{"component", "batcher"}, {"reason", "abandoned_at_shutdown"}, {"table", table}});
    for (auto [cause, counter] : {std::pair{"buffer_full", &s.seal_failures_full},
                                  std::pair{"disk_error", &s.seal_failures_disk},
                                  std::pair{"other", &s.seal_failures_other}})
      m.counterCallback("kobs_batch_seal_failures_total", "Batches that could not enter the disk buffer, by cause.",
                        [counter] { return double(counter->load()); }, {{"table", table}, {"cause", cause}});
  };
  batcher(p.logs().encoder().table(), p.logs().stats());
  if (auto* t = p.traces()) batcher(t->encoder().table(), t->stats());
  for (auto type : {pipeline::MetricType::kGauge, pipeline::MetricType::kSum, pipeline::MetricType::kHistogram,
                    pipeline::MetricType::kExponentialHistogram, pipeline::MetricType::kSummary})
    if (auto* b = p.metrics(type)) batcher(b->encoder().table(), b->stats());
}

}  // namespace

void Process::startPipeline() {
  if (options_.role == Role::kServe || options_.role == Role::kAlert) return;
  pipeline_ = std::make_unique<pipeline::Pipeline>(*store_, pipeline::targetsFromSchema(schema_), config_.pipeline,
                                                   [h = &insert_latency_](double s) { h->observe(s); });
  registerPipelineMetrics(registry_, *pipeline_);
  writer_stores_ = openWriterStores(config_, store_stop_.token());
  std::vector<store::IStore*> writers;
  for (auto& s : writer_stores_) writers.push_back(s.get());
  pipeline_->setWriterStores(std::move(writers));
  if (event_feed_) {
    auto* feed = event_feed_.get();
    const bool durable_publish = schema_.events_ingest_from_insert && config_.values.boolean("serve.publish_when_durable");
    log_->info("events reach the streams {}", durable_publish ? "when their batch is durable in the disk buffer"
                                              : !schema_.events_ingest_from_insert
                                                  ? "after the insert and a tail query (the events view does not take "
                                                    "its ingest time from kobs's inserts)"
                                                  : "after the insert and a tail query (serve.publish_when_durable=false)");
    if (durable_publish) {
      // kobs all: publish events as soon as their batch is durable in the
      // disk buffer, with the cursor the store will give them
      // (serve/events/event_feed.h), once the batches the buffer replays
      // from before a restart are stored.
      const uint64_t recovered_upto = pipeline_->buffer().committedSeq() + pipeline_->buffer().pendingBatches();
      feed->enableLocal([buffer = &pipeline_->buffer(), recovered_upto] {
        return buffer->committedSeq() >= recovered_upto;
      });
      pipeline::SealListener<pipeline::LogRecord> listener;
      listener.tap = [](const pipeline::LogRecord& r) -> std::shared_ptr<const void> {
        return serve::events::localEventFromLog(r);
      };
      auto eventsOf = [](const pipeline::SealedItems& sealed) {
        std::vector<std::shared_ptr<const serve::events::LocalEvent>> events;
        events.reserve(sealed.items.size());
        for (const auto& item : sealed.items)
          events.push_back(std::static_pointer_cast<const serve::events::LocalEvent>(item));
        return events;
      };
      listener.durable = [feed, eventsOf](std::shared_ptr<const pipeline::SealedItems> sealed) {
        feed->publishLocal(sealed->ingest_ns, eventsOf(*sealed));
      };
      listener.done = [feed, eventsOf](const pipeline::SealedItems& sealed, bool) {
        feed->localStored(sealed.ingest_ns, eventsOf(sealed));
      };
      pipeline_->logs().setSealListener(std::move(listener));
    }
    // Otherwise (and for the replayed batches): push events as soon as their
    // batch is committed.
    pipeline_->addCommitListener([feed, logs = schema_.table(store::schema::TableKind::kLogs).table](
                                     const std::string& table, uint64_t) {
      if (table == logs && !feed->localActive()) feed->wake();
    });
  }
  pipeline_->start();
}

}  // namespace kobs::app
