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
//   state.json               {"version":1,"instance":"<hex>","committed_seq":N[,"group_last":M]
//                            [,"groups":[[first,last],...]]}, written tmp+fsync+rename; group_last
//                            names the last batch of the oldest group handed out for one insert and
//                            not committed yet, groups every such range when several are in flight
//                            (see nextGroup)
//   wal-<first seq>.seg      records: magic "KOBW", version, seq, header and body lengths, checksum
//                            (CRC-32C from v4, zlib's CRC-32 before), header, body; one pwritev each
//   spare-segment            a committed segment kept to be written over by the next one (its
//                            pages are in the page cache); cut to its records when sealed
// A torn record at the tail of the newest segment (a crash mid-append) is
// truncated away; a corrupt record elsewhere ends that segment's replay and
// is counted (the segment is kept as *.corrupt for inspection).
//
// A failed append (ENOSPC, EIO, a failed fsync) never leaves a partial record
// in front of later ones: the segment is truncated back to its last good
// record, or, when that fails too or the fsync failed (the kernel may have
// dropped the dirty pages), sealed so the next append starts a new segment.
// The append then throws kIo naming the cause; nothing acknowledged is lost.
//
// Threading: all methods are thread-safe. Appends are serialised by their own
// mutex and write and fsync outside the state mutex, so next(), commit() and
// the stats getters (/metrics) never wait behind disk I/O; commit() writes
// state.json outside it too. append() blocks while the buffer is at its byte
// bound (back-pressure), up to the caller's wait. Commit callbacks run on the
// thread that calls commit() (the sender), outside every lock.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/progress.h"

namespace kobs::pipeline {

enum class FsyncPolicy { kAlways, kInterval, kNever };

// The defaults, also the config table's (app/config.cc formats these), so a
// Pipeline built in code and one built from the config start alike.
inline constexpr uint64_t kDefaultBufferMaxBytes = 512ull << 20;
inline constexpr uint64_t kDefaultSegmentBytes = 64ull << 20;
inline constexpr uint64_t kDefaultMemoryCacheBytes = 8ull << 20;

struct DiskBufferOptions {
  std::filesystem::path dir;
  uint64_t max_bytes = kDefaultBufferMaxBytes;               // bound on bytes not yet committed
  uint64_t segment_bytes = kDefaultSegmentBytes;             // a new segment file starts past this size
  uint64_t memory_cache_bytes = kDefaultMemoryCacheBytes;    // bodies kept in memory; older ones are re-read from disk
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  std::chrono::milliseconds fsync_interval{1000};
};

// What a batch is: the insert it stands for, minus the rows.
struct BatchHeader {
  std::string table;
  std::vector<std::string> columns;
  std::string format = "RowBinary";
  uint64_t rows = 0;
  // Optional, filled by the batcher so the sender can split a batch the store
  // refuses whole: where each row ends in the body, and each row's partition
  // day (days since 1970-01-01 of its timestamp; every kobs table partitions
  // by day or by a coarser unit). Empty in records written before v2.
  std::vector<uint32_t> row_ends;
  std::vector<int32_t> row_days;
  // When not 0: the ingest time (Unix ns) the batcher assigned before the
  // append; the sender passes it with the insert (store/schema/krateo_events.h),
  // so a replay gives the rows the cursor they were published with. 0 in
  // records written before v3 and for batches a seal listener kept nothing
  // of. The view reads one ingest time per insert, so nextGroup puts only
  // batches with the same one (or none) into a group, which carries it.
  int64_t ingest_ns = 0;
};

// One batch, or a group of consecutive batches merged into one insert
// (nextGroup): seq..last_seq, their rows concatenated in order.
struct BufferedBatch {
  uint64_t seq = 0;
  uint64_t last_seq = 0;  // == seq for a single batch
  BatchHeader header;
  std::string body;
  bool recovered = false;  // found in the log at start (any of the group): it may already be in the store
  // Set when the body could not be read back from disk (I/O error, checksum
  // mismatch): body is empty and the sender decides what to do.
  std::string read_error;
};

// How far nextGroup() merges: consecutive batches for the same table,
// columns and format while the group stays within both bounds. 0 rows: one
// batch per group.
struct GroupLimits {
  uint64_t max_rows = 0;
  uint64_t max_bytes = 0;
  // A group that could still grow (it reaches the newest batch, below both
  // bounds) is handed out only once its first batch is this old: a trickle
  // of small batches becomes fewer, larger inserts (each insert is a part
  // per table for the store to write and merge). 0: handed out at once.
  std::chrono::milliseconds linger{0};
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
  std::atomic<uint64_t> append_errors{0};     // appends that failed on I/O (rolled back)
  std::atomic<uint64_t> sealed_segments{0};   // segments closed early after an I/O error
  std::atomic<uint64_t> commit_errors{0};     // state.json writes that failed (commit retried)
  std::atomic<uint64_t> read_errors{0};       // bodies that could not be read back
};

class DiskBuffer {
 public:
  explicit DiskBuffer(DiskBufferOptions options);
  ~DiskBuffer();
  DiskBuffer(const DiskBuffer&) = delete;
  DiskBuffer& operator=(const DiskBuffer&) = delete;

  // Appends one batch durably (per the fsync policy) and returns its sequence
  // number. Throws kBufferFull when it cannot fit within `wait`, kShuttingDown
  // after close(), kIo when the disk refused it (rolled back: nothing of it
  // will be replayed, and `on_commit` is not kept).
  // The rvalue form takes the body into the memory cache without a copy when
  // the append succeeds and the cache has room (`body` is then moved from);
  // otherwise `body` is left as it was, so a caller can keep its batch open.
  uint64_t append(const BatchHeader& header, std::string&& body, CommitCallback on_commit = {},
                  std::chrono::milliseconds wait = std::chrono::seconds(5));
  template <class Body>
    requires std::convertible_to<const Body&, std::string_view>
  uint64_t append(const BatchHeader& header, const Body& body, CommitCallback on_commit = {},
                  std::chrono::milliseconds wait = std::chrono::seconds(5)) {
    return append(header, std::string(std::string_view(body)), std::move(on_commit), wait);
  }

  // The oldest batch with seq > after_seq not committed yet; waits up to `wait`.
  std::optional<BufferedBatch> next(uint64_t after_seq, std::chrono::milliseconds wait) {
    return nextGroup(after_seq, {}, wait);
  }

  // The next insert: the oldest batch with seq > after_seq not done yet,
  // followed by the batches right behind it that are already in the buffer
  // for the same table, columns and format, within `limits` (it never waits
  // for more). Exactly once across crashes needs the same group again after
  // any failure, with the same token: a group handed out stays pinned until
  // it is committed (asking again returns the same range), and a group of
  // more than one batch is recorded in state.json before it is returned
  // (throws kIo when that fails; nothing was handed out). After a restart the
  // recorded group is replayed as it was; with none recorded, the first batch
  // after the committed one goes alone, as it may have gone before the crash.
  //
  // Several writers: each asks with after_seq = the last batch handed out to
  // any, and record_single = true, so every range in flight (a lone batch
  // too) is recorded in state.json before it is returned and a restart
  // replays each as it was sent; a group never reaches into a range handed
  // out. The batches commit in any order; the watermark, the callbacks and
  // the release of segments still follow the sequence (see commit()).
  std::optional<BufferedBatch> nextGroup(uint64_t after_seq, GroupLimits limits, std::chrono::milliseconds wait,
                                         bool record_single = false);

  // Marks first..last as done (committed = in the store; false =
  // dead-lettered), persists the committed watermark once every earlier batch
  // is done (one state.json write for the whole group), drops segments wholly
  // behind it, and runs the batches' callbacks in order. Throws kIo when
  // state.json cannot be written: the batches stay marked done and nothing is
  // released, so calling commit() again (or committing a later batch) retries.
  void commit(uint64_t first_seq, uint64_t last_seq, bool committed);
  void commit(uint64_t seq, bool committed = true) { commit(seq, seq, committed); }

  // Wakes waiters and refuses further appends. Idempotent.
  void close();

  // Waits until every appended batch is done, or the deadline passes.
  bool waitDrained(std::chrono::steady_clock::time_point deadline);

  const std::string& instanceId() const { return instance_; }
  uint64_t committedSeq() const;
  uint64_t pendingBytes() const;
  uint64_t pendingBatches() const;
  // True while batch `seq` waits in the buffer and no writer has taken it
  // (a sender lingering over it included): a batch appended now may still
  // go into the same insert.
  bool waitingToBeSent(uint64_t seq) const;
  // How long the oldest batch not yet in the store has waited; 0 when none.
  std::chrono::steady_clock::duration oldestPendingAge() const;
  const DiskBufferStats& stats() const { return stats_; }

 private:
  struct Entry {
    uint64_t seq;
    uint64_t segment;       // first seq of its segment file
    uint64_t offset;        // record start within the segment
    uint64_t record_bytes;  // whole record on disk
    BatchHeader header;
    // The body, if within the memory cache's budget. nextGroup() moves it to
    // the sender (no copy; it leaves the budget); a batch handed out again
    // (a retry after a stop) is read back from disk.
    std::shared_ptr<std::string> body;
    bool recovered = false;
    bool done = false;
    bool committed = false;  // done because the store has it (not dead-lettered)
    std::vector<CommitCallback> callbacks;
    // When it was appended (or found at start): the age of what is unsent.
    std::chrono::steady_clock::time_point appended_at = std::chrono::steady_clock::now();
    uint64_t body_bytes = 0;
  };
  struct Segment {
    uint64_t first_seq;
    uint64_t last_seq;
    uint64_t bytes;
    std::filesystem::path path;
  };

  void recover();
  void replaySegment(Segment& seg, bool newest);
  void openNewSegment(uint64_t first_seq);  // append_mutex_ held
  void sealActiveSegment();                 // append_mutex_ held
  // groups: the ranges in flight recorded for replay (persistedGroupsLocked).
  void persistState(uint64_t committed_seq, const std::vector<std::pair<uint64_t, uint64_t>>& groups);
  std::vector<std::pair<uint64_t, uint64_t>> persistedGroupsLocked(uint64_t committed_seq) const;  // mutex_
  std::vector<std::filesystem::path> dropCommittedSegmentsLocked();
  // The batches from entries_[at] that one insert may take under `limits`
  // (mutex_): [at, end), and whether the run stopped short of the newest
  // batch (a bound, another table, a pinned range), so it cannot grow.
  struct Run {
    size_t end = 0;
    bool closed = false;
  };
  Run mergeableRunLocked(size_t at, GroupLimits limits) const;
  static std::string readBody(const std::filesystem::path& segment, uint64_t offset, uint64_t seq, uint64_t rows);

  DiskBufferOptions options_;
  std::string instance_;
  std::mutex append_mutex_;  // one append at a time; guards active_fd_, active_bytes_, last_sync_
  std::mutex commit_mutex_;  // one state.json writer at a time
  std::mutex spare_mutex_;   // guards spare_ready_ (commit() makes the spare, appends take it)
  bool spare_ready_ = false;
  bool active_recycled_ = false;  // append_mutex_: the active segment was the spare (old content past active_bytes_)
  mutable std::mutex mutex_;
  std::condition_variable space_cv_;
  std::condition_variable data_cv_;
  std::condition_variable drained_cv_;
  std::deque<Entry> entries_;  // uncommitted (or done but behind an undone one), in seq order
  std::map<uint64_t, Segment> segments_;
  int active_fd_ = -1;
  uint64_t active_bytes_ = 0;  // last good offset of the active segment
  std::atomic<uint64_t> active_segment_{0};
  uint64_t next_seq_ = 1;
  std::atomic<uint64_t> committed_seq_{0};
  std::atomic<uint64_t> pending_bytes_{0};
  std::atomic<uint64_t> pending_batches_{0};
  uint64_t cached_bytes_ = 0;
  // The groups handed out and not done yet, by first seq; mutex_.
  // persisted: recorded in state.json (groups of more than one batch, and
  // every group when asked with record_single).
  struct Pin {
    uint64_t first = 0, last = 0;
    bool persisted = false;
  };
  std::map<uint64_t, Pin> pins_;
  std::chrono::steady_clock::time_point last_sync_{};
  bool closed_ = false;
  DiskBufferStats stats_;
  std::optional<ProgressLog> replay_progress_;  // batches found at start, until all are in the store; mutex_
};

}  // namespace kobs::pipeline
