// Batcher<Record>: encodes records into the open batch of one table and seals
// it into the disk buffer when it reaches max_rows or max_bytes, or when it
// is older than max_age (the pipeline's flusher calls flushIfOlderThan).
//
// A producer's add() lands whole in one batch, and its commit callback runs
// once that batch is in the store: producers (the k8s events receiver, OTLP)
// advance their own checkpoints or answer their clients only then. Records an
// add() accepted are never dropped by the batcher: a batch the disk buffer
// cannot take yet stays open, and further adds are refused (kBufferFull)
// until it fits.
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

#include "common/error.h"
#include "pipeline/disk_buffer.h"
#include "pipeline/table_encoder.h"

namespace kobs::pipeline {

struct BatcherOptions {
  size_t max_rows = 10000;
  size_t max_bytes = 8u << 20;
  std::chrono::milliseconds max_age{1000};
  std::chrono::milliseconds full_wait{5000};  // how long add()/flush() may wait on a full disk buffer
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

  // Encodes `records` into the open batch; once it returns, the records are
  // accepted and their callback will run. Throws kBufferFull (nothing
  // accepted) when an earlier full batch still cannot enter the disk buffer
  // within full_wait: that is the back-pressure producers see.
  void add(std::span<const Record> records, CommitCallback on_commit = {}) {
    std::lock_guard lock(mutex_);
    if (fullLocked() && !trySealLocked(options_.full_wait)) {
      stats_.records_rejected += records.size();
      throw Exception(ErrorCode::kBufferFull, "disk buffer full: {} records refused for {}", records.size(),
                      encoder_->table());
    }
    if (rows_ == 0) opened_ = std::chrono::steady_clock::now();
    for (const auto& r : records) encoder_->encode(r, body_);
    rows_ += records.size();
    stats_.records_in += records.size();
    if (on_commit) callbacks_.push_back(std::move(on_commit));
    // A batch that cannot be sealed now stays open (accepted records are never
    // dropped) and is retried by the next add() or the age flusher.
    if (fullLocked()) trySealLocked(std::chrono::milliseconds(0));
  }

  void add(const Record& record, CommitCallback on_commit = {}) { add(std::span<const Record>(&record, 1), std::move(on_commit)); }

  // Seals the open batch now (shutdown, tests). Throws when the buffer will
  // not take it; the batch then stays open.
  void flush() {
    std::lock_guard lock(mutex_);
    sealLocked(options_.full_wait);
  }

  // Seals the open batch if it is older than max_age (or full); never throws.
  void flushIfOlderThan(std::chrono::steady_clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (rows_ > 0 && (now - opened_ >= options_.max_age || fullLocked())) trySealLocked(std::chrono::milliseconds(0));
  }

  // Gives up the open batch (shutdown after the buffer refused it): its
  // producers are told through their callbacks (false), and it is counted.
  void abandon() {
    std::lock_guard lock(mutex_);
    if (rows_ == 0) return;
    stats_.records_rejected += rows_;
    auto callbacks = std::move(callbacks_);
    reset();
    for (const auto& c : callbacks) c(false);
  }

  const BatcherStats& stats() const { return stats_; }
  const TableEncoder<Record>& encoder() const { return *encoder_; }

 private:
  bool fullLocked() const { return rows_ >= options_.max_rows || body_.size() >= options_.max_bytes; }

  bool trySealLocked(std::chrono::milliseconds wait) {
    try {
      sealLocked(wait);
      return true;
    } catch (const Exception&) {
      return false;
    }
  }

  void sealLocked(std::chrono::milliseconds wait) {
    if (rows_ == 0) return;
    BatchHeader header{encoder_->table(), encoder_->columns(), "RowBinary", rows_};
    // The callbacks move into the buffer only when the append succeeds.
    std::vector<CommitCallback> callbacks = callbacks_;
    CommitCallback cb;
    if (!callbacks.empty())
      cb = [callbacks = std::move(callbacks)](bool ok) {
        for (const auto& c : callbacks) c(ok);
      };
    buffer_.append(header, body_, std::move(cb), wait);
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
