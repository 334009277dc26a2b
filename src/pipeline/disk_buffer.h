// DiskBuffer: the write-ahead log between the batcher and the store.
//
// A producer's batch is appended (and fsync'd per policy) before anything is
// sent; the sender takes batches in order, inserts them with a deduplication
// token derived from the buffer's instance id and the batch's sequence
// number, and commits them here only after the store confirmed the rows. On
// start the log is replayed: every batch not yet committed is sent again with
// the same token, so a batch the store already had is dropped by ClickHouse
// rather than stored twice.
//
// On disk (dir/):
//   state.json               {"version":1,"instance":"<hex>","committed_seq":N}, written tmp+fsync+rename
//   wal-<first seq>.seg      records: magic "KOBW", version, seq, header and body lengths, crc32, header, body
// A torn record at the tail of the newest segment (a crash mid-append) is
// truncated away; a corrupt record elsewhere ends that segment's replay and
// is counted (the segment is kept as *.corrupt for inspection).
//
// Threading: all methods are thread-safe. append() blocks while the buffer is
// at its byte bound (back-pressure), up to the caller's wait. Commit callbacks
// run on the thread that calls commit() (the sender), outside the lock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace kobs::pipeline {

enum class FsyncPolicy { kAlways, kInterval, kNever };

struct DiskBufferOptions {
  std::filesystem::path dir;
  uint64_t max_bytes = 512ull << 20;      // bound on bytes not yet committed
  uint64_t segment_bytes = 64ull << 20;   // a new segment file starts past this size
  uint64_t memory_cache_bytes = 64ull << 20;  // bodies kept in memory; older ones are re-read from disk
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  std::chrono::milliseconds fsync_interval{1000};
};

// What a batch is: the insert it stands for, minus the rows.
struct BatchHeader {
  std::string table;
  std::vector<std::string> columns;
  std::string format = "RowBinary";
  uint64_t rows = 0;
};

struct BufferedBatch {
  uint64_t seq = 0;
  BatchHeader header;
  std::string body;
  bool recovered = false;  // found in the log at start: it may already be in the store
};

// Called once per batch: true when committed to the store, false when it was
// set aside as undeliverable (dead-lettered) or the buffer closed first.
using CommitCallback = std::function<void(bool committed)>;

struct DiskBufferStats {
  std::atomic<uint64_t> appended_batches{0};
  std::atomic<uint64_t> committed_batches{0};
  std::atomic<uint64_t> recovered_batches{0};
  std::atomic<uint64_t> torn_tail_truncations{0};
  std::atomic<uint64_t> corrupt_records{0};
  std::atomic<uint64_t> full_waits{0};
  std::atomic<uint64_t> rejected_full{0};
};

class DiskBuffer {
 public:
  explicit DiskBuffer(DiskBufferOptions options);
  ~DiskBuffer();
  DiskBuffer(const DiskBuffer&) = delete;
  DiskBuffer& operator=(const DiskBuffer&) = delete;

  // Appends one batch durably (per the fsync policy) and returns its sequence
  // number. Throws kBufferFull when it cannot fit within `wait`, kShuttingDown
  // after close().
  uint64_t append(const BatchHeader& header, std::string_view body, CommitCallback on_commit = {},
                  std::chrono::milliseconds wait = std::chrono::seconds(5));

  // The oldest batch with seq > after_seq not committed yet; waits up to `wait`.
  std::optional<BufferedBatch> next(uint64_t after_seq, std::chrono::milliseconds wait);

  // Marks `seq` as done (committed = in the store; false = dead-lettered),
  // persists the committed watermark once every earlier batch is done, drops
  // segments wholly behind it, and runs the batch's callbacks.
  void commit(uint64_t seq, bool committed = true);

  // Wakes waiters and refuses further appends. Idempotent.
  void close();

  // Waits until every appended batch is done, or the deadline passes.
  bool waitDrained(std::chrono::steady_clock::time_point deadline);

  const std::string& instanceId() const { return instance_; }
  uint64_t committedSeq() const;
  uint64_t pendingBytes() const;
  uint64_t pendingBatches() const;
  const DiskBufferStats& stats() const { return stats_; }

 private:
  struct Entry {
    uint64_t seq;
    uint64_t segment;       // first seq of its segment file
    uint64_t offset;        // record start within the segment
    uint64_t record_bytes;  // whole record on disk
    BatchHeader header;
    std::optional<std::string> body;  // cached copy, if within the memory budget
    bool recovered = false;
    bool done = false;
    bool committed = false;  // done because the store has it (not dead-lettered)
    std::vector<CommitCallback> callbacks;
  };
  struct Segment {
    uint64_t first_seq;
    uint64_t last_seq;
    uint64_t bytes;
    std::filesystem::path path;
  };

  void recover();
  void replaySegment(Segment& seg, bool newest);
  void openNewSegment(uint64_t first_seq);
  void persistState(uint64_t committed_seq);
  void dropCommittedSegments();
  std::string readBody(const Entry& e) const;

  DiskBufferOptions options_;
  std::string instance_;
  mutable std::mutex mutex_;
  std::condition_variable space_cv_;
  std::condition_variable data_cv_;
  std::condition_variable drained_cv_;
  std::deque<Entry> entries_;  // uncommitted (or done but behind an undone one), in seq order
  std::map<uint64_t, Segment> segments_;
  int active_fd_ = -1;
  uint64_t active_segment_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t committed_seq_ = 0;
  uint64_t pending_bytes_ = 0;
  uint64_t cached_bytes_ = 0;
  std::chrono::steady_clock::time_point last_sync_{};
  bool closed_ = false;
  DiskBufferStats stats_;
};

}  // namespace kobs::pipeline
