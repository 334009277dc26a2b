// StoreSender: drains the disk buffer into the store, one insert at a time,
// in order. An insert is one batch, or (merge_max_rows > 0) the consecutive
// batches already waiting for the same table merged up to the merge bounds:
// a client that seals one small batch per request (OTLP with durable
// acknowledgement) is then stored in large inserts once the store lags. Each
// insert carries the token kobs-<buffer instance>-<seq> (or -<first>..<last>
// for a group, which the buffer records and replays whole: see
// DiskBuffer::nextGroup), so an insert re-sent after a crash or a lost
// response is deduplicated by ClickHouse (and counted once: a deduplicated
// insert adds nothing to rows_committed).
//
// Every failure is classified (store/error_class.h), logged with the batch,
// table and cause, counted by class, and then:
//   - retry / retry_loud: backoff with full jitter, forever (the batch stays in
//     the buffer; the buffer's bound is the back-pressure). Loud ones (auth,
//     permissions, a missing table, unknown errors) log as errors;
//   - split_by_partition: the batch is split into groups of at most
//     max_partitions_per_insert partition days, each sent with its own
//     derived token (the split is deterministic, so a replay dedups too);
//   - short_write: retried short_write_retries times with the same token
//     (ClickHouse deduplicates the blocks it kept), then, if the store kept
//     none of the part, bisected by rows (each half with a token derived from
//     the batch's and its row range, so a replay dedups) until the rows that
//     will not store are isolated and dead-lettered; if the store kept some,
//     which it cannot name, the part is dead-lettered whole with the count
//     and token of what it holds (a split would store those rows twice);
//   - permanent (malformed data, schema mismatch): dead-lettered.
// A dead-letter copy is written tmp + fsync + rename before the batch is
// committed; a failed write is retried (a full disk holds the queue, which is
// back-pressure, not loss). A failed commit record (state.json) after a
// stored insert is retried on its own, never dead-lettered; the batch's
// callbacks run once it is recorded. A body the buffer cannot read back is
// retried a few times, then counted and reported lost. Nothing thrown on the
// worker thread escapes it.
//
// Threading: `writers` worker threads (default one), started by start(),
// joined by stop(); stop() interrupts any backoff at once. Each takes the
// next range from the buffer under a dispatch lock, inserts it on its store,
// and commits it to the buffer; a failed range k is retried by its writer
// while k+1 may be stored, but the buffer's watermark (what is acknowledged
// and released) waits for k, and a restart replays both with their recorded
// ranges and tokens, so the store drops what it already has. Commit
// listeners are called one at a time, from any writer thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/disk_buffer.h"
#include "store/error_class.h"
#include "store/store.h"

namespace kobs::pipeline {

struct SenderOptions {
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{10000};
  std::filesystem::path dead_letter_dir;  // empty: <buffer dir>/dead
  int short_write_retries = 3;            // attempts of a short-written batch before it is bisected
  size_t max_partitions_per_insert = 50;  // partition days per insert after a too-many-partitions refusal
  int read_retries = 5;                   // re-reads of a body the buffer could not read before it is given up
  // Bounds of one insert made of several waiting batches; 0 rows: one batch per insert.
  uint64_t merge_max_rows = 0;
  uint64_t merge_max_bytes = 0;
  // An insert that could still take more batches waits until its first is
  // this old (GroupLimits::linger); 0: sent at once.
  std::chrono::milliseconds merge_linger{0};
  // Inserts in flight at once, each on its own thread (and connection): the
  // ranges are handed out in order and recorded before they are sent; they
  // commit in any order, and the buffer acknowledges in sequence.
  int writers = 1;
};

struct SenderStats {
  std::atomic<uint64_t> batches_committed{0};
  std::atomic<uint64_t> inserts_committed{0};  // inserts done (stored or set aside), one per batch or group
  std::atomic<uint64_t> batches_merged{0};     // batches that went into an insert with others
  std::atomic<uint64_t> rows_committed{0};  // rows newly stored (deduplicated replays excluded)
  std::atomic<uint64_t> batches_deduplicated{0};
  std::atomic<uint64_t> rows_deduplicated{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> batches_dead_lettered{0};  // batches (or split parts) set aside
  std::atomic<uint64_t> rows_dead_lettered{0};     // rows set aside that the store does not hold
  std::atomic<uint64_t> parts_kept_in_part{0};     // parts set aside whole after the store kept some of their rows
  std::atomic<uint64_t> batches_split{0};
  std::atomic<uint64_t> failures_retry{0};
  std::atomic<uint64_t> failures_retry_loud{0};
  std::atomic<uint64_t> failures_too_many_partitions{0};
  std::atomic<uint64_t> failures_short_write{0};
  std::atomic<uint64_t> failures_permanent{0};
  std::atomic<uint64_t> commit_errors{0};       // state.json writes that failed after a stored insert
  std::atomic<uint64_t> dead_letter_errors{0};  // dead-letter writes that failed (retried)
  std::atomic<uint64_t> read_errors{0};         // batch bodies the buffer could not read back
  std::atomic<uint64_t> batches_unreadable{0};  // given up after read_retries: lost to disk corruption
  std::atomic<uint64_t> rows_unreadable{0};
  std::atomic<uint64_t> internal_errors{0};     // anything else caught on the worker thread
  std::atomic<bool> store_healthy{true};
};

class StoreSender {
 public:
  using LatencyObserver = std::function<void(double seconds)>;

  StoreSender(store::IStore& store, DiskBuffer& buffer, SenderOptions options, LatencyObserver observe = {});
  ~StoreSender();

  // Called on a writer thread (one call at a time) after each batch is committed (table, rows):
  // readers that tail the store (SSE) wake up at once instead of polling.
  // Set before start(). A listener that throws is logged and skipped.
  using CommitListener = std::function<void(const std::string& table, uint64_t rows)>;
  void addCommitListener(CommitListener listener) { listeners_.push_back(std::move(listener)); }

  // Stores for writers 2..N (SenderOptions::writers), one each, cycled; none:
  // every writer shares the constructor's store (the HTTP store takes
  // concurrent callers; the embedded store runs one insert per instance at a
  // time, so its writers need their own instances). Set before start().
  void setWriterStores(std::vector<store::IStore*> stores) { writer_stores_ = std::move(stores); }

  void start();
  // Stops after the attempts in flight; remaining batches stay in the buffer.
  void stop();

  const SenderStats& stats() const { return stats_; }
  const SenderOptions& options() const { return options_; }

 private:
  // A run of a batch's rows sent as one insert.
  struct Part {
    std::string body;  // empty with whole=true: the batch's own body
    bool whole = true;
    uint64_t first_row = 0, rows = 0;
    std::vector<uint32_t> row_ends;  // relative to this part's body
    std::vector<int32_t> row_days;
    std::string base_token;  // the batch's token
    std::string day_label;   // "-d<day>" once split by partition
    std::string token;
    std::string label;  // for logs and dead-letter file names: "" or "-r<first>-<end>" / "-d<day>"
  };
  enum class Outcome { kStored, kSetAside, kStopped };
  // What the store kept of a part it short-wrote: at least `rows`, exactly
  // that many unless `unknown`.
  struct Kept {
    uint64_t rows = 0;
    bool unknown = false;
  };

  void run(store::IStore& store);  // one writer
  // true when the batch is done (stored or set aside) and recorded.
  bool process(store::IStore& store, const BufferedBatch& batch);
  Outcome sendPart(store::IStore& store, const BufferedBatch& batch, const Part& part, int depth);
  Outcome splitByPartition(store::IStore& store, const BufferedBatch& batch, const Part& part, int depth);
  Outcome bisect(store::IStore& store, const BufferedBatch& batch, const Part& part, int depth);
  Outcome deadLetterDurably(const BufferedBatch& batch, const Part& part, const std::string& error, Kept kept);
  void writeDeadLetter(const BufferedBatch& batch, const Part& part, const std::string& error, Kept kept);
  bool commitDurably(const BufferedBatch& batch, bool stored);
  bool backoff(std::chrono::milliseconds& current);  // false when stopping
  bool sleepFor(std::chrono::milliseconds d);       // false when stopping
  void countFailure(store::InsertFailure f);

  store::IStore& store_;
  DiskBuffer& buffer_;
  SenderOptions options_;
  LatencyObserver observe_;
  std::vector<store::IStore*> writer_stores_;  // writers 2..N (none: all share store_)
  std::vector<CommitListener> listeners_;
  std::mutex listeners_mutex_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
  std::mutex dispatch_mutex_;              // one writer takes the next range at a time
  std::optional<uint64_t> handed_after_;   // dispatch_mutex_: the last batch handed out to any writer
  SenderStats stats_;
};

}  // namespace kobs::pipeline
