// StoreSender: drains the disk buffer into the store, one batch at a time, in
// order. Each insert carries the token kobs-<buffer instance>-<seq>, so a
// batch re-sent after a crash or a lost response is deduplicated by
// ClickHouse. Retryable failures (store down, timeouts, short writes) are
// retried with exponential backoff and jitter until they succeed or the
// sender stops; the batch stays in the buffer meanwhile. A batch the store
// rejects for good (e.g. a type error) is written to <dead_letter_dir> and
// counted, never silently dropped, and the queue moves on.
//
// Threading: one worker thread, started by start(), joined by stop().
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <condition_variable>
#include <thread>
#include <vector>

#include "pipeline/disk_buffer.h"
#include "store/store.h"

namespace kobs::pipeline {

struct SenderOptions {
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{10000};
  std::filesystem::path dead_letter_dir;  // empty: <buffer dir>/dead
};

struct SenderStats {
  std::atomic<uint64_t> batches_committed{0};
  std::atomic<uint64_t> rows_committed{0};
  std::atomic<uint64_t> batches_deduplicated{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> batches_dead_lettered{0};
  std::atomic<uint64_t> rows_dead_lettered{0};
  std::atomic<bool> store_healthy{true};
};

class StoreSender {
 public:
  using LatencyObserver = std::function<void(double seconds)>;

  StoreSender(store::IStore& store, DiskBuffer& buffer, SenderOptions options, LatencyObserver observe = {});
  ~StoreSender();

  // Called on the sender thread after each batch is committed (table, rows):
  // readers that tail the store (SSE) wake up at once instead of polling.
  // Set before start().
  using CommitListener = std::function<void(const std::string& table, uint64_t rows)>;
  void addCommitListener(CommitListener listener) { listeners_.push_back(std::move(listener)); }

  void start();
  // Stops after the batch in flight; remaining batches stay in the buffer.
  void stop();

  const SenderStats& stats() const { return stats_; }

 private:
  void run();
  bool sleepFor(std::chrono::milliseconds d);  // false when stopping
  void deadLetter(const BufferedBatch& batch, const std::exception& error);

  store::IStore& store_;
  DiskBuffer& buffer_;
  SenderOptions options_;
  LatencyObserver observe_;
  std::vector<CommitListener> listeners_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::thread thread_;
  SenderStats stats_;
};

}  // namespace kobs::pipeline
