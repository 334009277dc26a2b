// Pipeline: the write path every receiver shares.
//
//   receiver --records--> Batcher<T> (encode, per table) --batch--> DiskBuffer (WAL)
//            --> StoreSender (insert with dedup token, retry) --> IStore
//                 '--> commit callbacks back to the receiver
//
// Lifecycle (the OTel Collector's contract): construct, start() returns at
// once; shutdown(deadline) is idempotent: it seals open batches, then lets
// the sender drain the buffer until the deadline; whatever is left stays in
// the buffer and is replayed at the next start.
//
// Threading: batchers are thread-safe; one flusher thread seals batches when
// they fall due (linger, age, full: see Batcher), and at once when a producer
// waits for its records to be durable (Batcher's durable callback); it
// sleeps until the nearest deadline and is woken when a batch opens, a
// producer waits or the sender commits; the sender's writer threads
// (SenderOptions::writers, one by default) insert.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/batcher.h"
#include "pipeline/disk_buffer.h"
#include "pipeline/otel_encoders.h"
#include "pipeline/store_sender.h"
#include "store/store.h"

namespace kobs::pipeline {

// Where each kind of record goes: the table and its columns as the server has them.
struct TableTarget {
  std::string table;
  std::vector<ColumnSpec> columns;
};

struct PipelineTargets {
  TableTarget logs;
  TableTarget traces;
  std::map<MetricType, TableTarget> metrics;  // absent types are not collected
};

struct PipelineOptions {
  DiskBufferOptions buffer;
  BatcherOptions batch;
  SenderOptions sender;
  // How soon the flusher looks again at an open batch it could not seal.
  std::chrono::milliseconds flush_tick{100};
};

class Pipeline {
 public:
  // Builds encoders for the targets (throws kSchemaMismatch naming a missing
  // column or an unwritable type) and opens the disk buffer (replaying it).
  Pipeline(store::IStore& store, const PipelineTargets& targets, PipelineOptions options,
           StoreSender::LatencyObserver observe_latency = {});
  ~Pipeline();

  void start();
  void shutdown(std::chrono::steady_clock::time_point deadline);

  Batcher<LogRecord>& logs() { return *logs_; }
  Batcher<Span>* traces() { return traces_.get(); }
  Batcher<MetricPoint>* metrics(MetricType type);
  // Encoders of the logs' and traces' batchers for borrowed records
  // (record_ref.h), for Batcher::add(records, encoder, ...). Null without traces.
  const LogRefEncoder& logRefEncoder() const { return *log_ref_encoder_; }
  const SpanRefEncoder* spanRefEncoder() const { return span_ref_encoder_.get(); }

  // Seals every open batch now.
  void flush();

  // See StoreSender::addCommitListener; call before start().
  void addCommitListener(StoreSender::CommitListener listener) { sender_->addCommitListener(std::move(listener)); }
  // See StoreSender::setWriterStores (sender.writers > 1); call before start().
  void setWriterStores(std::vector<store::IStore*> stores) { sender_->setWriterStores(std::move(stores)); }

  DiskBuffer& buffer() { return *buffer_; }
  const StoreSender& sender() const { return *sender_; }

 private:
  void flushLoop();
  void wakeFlusher();

  std::unique_ptr<DiskBuffer> buffer_;
  std::unique_ptr<StoreSender> sender_;
  std::unique_ptr<const LogRefEncoder> log_ref_encoder_;
  std::unique_ptr<const SpanRefEncoder> span_ref_encoder_;
  std::unique_ptr<Batcher<LogRecord>> logs_;
  std::unique_ptr<Batcher<Span>> traces_;
  std::map<MetricType, std::unique_ptr<Batcher<MetricPoint>>> metrics_;
  PipelineOptions options_;
  std::thread flusher_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;  // a batch opened, a producer waits, or a batch was committed since the flusher looked
  bool shut_down_ = false;
};

}  // namespace kobs::pipeline
