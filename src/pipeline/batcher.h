// Batcher<Record>: encodes records into the open batch of one table and seals
// it into the disk buffer when it reaches max_rows or max_bytes, or when it
// is older than max_age (the pipeline's flusher calls flushIfOlderThan).
//
// A producer's add() lands whole in one batch, and its commit callback runs
// once that batch is in the store: producers (the k8s events receiver, OTLP)
// advance their own checkpoints or answer their clients only then.
//
// Threading: thread-safe; add() encodes under the batcher's mutex, so
// concurrent producers of one table serialise (encoding runs at >1M rows/s).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "pipeline/disk_buffer.h"
#include "pipeline/table_encoder.h"

namespace kobs::pipeline {

struct BatcherOptions {
  size_t max_rows = 10000;
  size_t max_bytes = 8u << 20;
  std::chrono::milliseconds max_age{1000};
  std::chrono::milliseconds full_wait{5000};  // how long add() may wait on a full disk buffer
};

struct BatcherStats {
  std::atomic<uint64_t> records_in{0};
  std::atomic<uint64_t> batches_sealed{0};
  std::atomic<uint64_t> records_rejected{0};  // refused because the buffer stayed full
};

template <typename Record>
class Batcher {
 public:
  Batcher(std::shared_ptr<const TableEncoder<Record>> encoder, DiskBuffer& buffer, BatcherOptions options)
      : encoder_(std::move(encoder)), buffer_(buffer), options_(options) {}

  // Encodes `records` into the open batch. Throws kBufferFull/kShuttingDown
  // when the batch cannot be sealed; the records are then not accepted.
  void add(std::span<const Record> records, CommitCallback on_commit = {}) {
    std::lock_guard lock(mutex_);
    if (rows_ == 0) opened_ = std::chrono::steady_clock::now();
    const size_t before = body_.size();
    for (const auto& r : records) encoder_->encode(r, body_);
    rows_ += records.size();
    stats_.records_in += records.size();
    if (on_commit) callbacks_.push_back(std::move(on_commit));
    (void)before;
    if (rows_ >= options_.max_rows || body_.size() >= options_.max_bytes) sealLocked();
  }

  void add(const Record& record, CommitCallback on_commit = {}) { add(std::span<const Record>(&record, 1), std::move(on_commit)); }

  // Seals the open batch now (shutdown, tests).
  void flush() {
    std::lock_guard lock(mutex_);
    sealLocked();
  }

  void flushIfOlderThan(std::chrono::steady_clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (rows_ > 0 && now - opened_ >= options_.max_age) sealLocked();
  }

  const BatcherStats& stats() const { return stats_; }
  const TableEncoder<Record>& encoder() const { return *encoder_; }

 private:
  void sealLocked() {
    if (rows_ == 0) return;
    BatchHeader header{encoder_->table(), encoder_->columns(), "RowBinary", rows_};
    CommitCallback cb;
    if (!callbacks_.empty()) {
      cb = [callbacks = std::move(callbacks_)](bool ok) {
        for (const auto& c : callbacks) c(ok);
      };
    }
    try {
      buffer_.append(header, body_, std::move(cb), options_.full_wait);
    } catch (...) {
      // The batch was not accepted: drop it whole and let the producers see the error.
      stats_.records_rejected += rows_;
      reset();
      throw;
    }
    ++stats_.batches_sealed;
    reset();
  }

  void reset() {
    body_.clear();
    if (body_.capacity() > 4 * options_.max_bytes) body_.shrink_to_fit();
    rows_ = 0;
    callbacks_.clear();
  }

  std::shared_ptr<const TableEncoder<Record>> encoder_;
  DiskBuffer& buffer_;
  BatcherOptions options_;
  std::mutex mutex_;
  std::string body_;
  uint64_t rows_ = 0;
  std::vector<CommitCallback> callbacks_;
  std::chrono::steady_clock::time_point opened_{};
  BatcherStats stats_;
};

}  // namespace kobs::pipeline
