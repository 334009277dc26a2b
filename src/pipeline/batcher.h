// Batcher<Record>: encodes records into the open batch of one table and seals
// it into the disk buffer when it reaches max_rows or max_bytes, when no
// record has arrived for `linger` while the sender has at most one batch in
// hand, or when it is older than max_age (the pipeline's flusher calls
// sealIfDue). So a lone record waits a few milliseconds, not max_age; under
// load the sender is busy, batches grow while it inserts (as in a group
// commit) and max_age is only the cap. A batch a seal listener kept items of
// (kobs all's events, published once durable) is sealed after the linger
// even then; the sender merges it with the batches waiting beside it.
//
// A producer's add() lands whole in one batch, and its commit callback runs
// once that batch is in the store: producers (the k8s events receiver, OTLP)
// advance their own checkpoints or answer their clients only then. Records an
// add() accepted are never dropped by the batcher: a batch the disk buffer
// cannot take yet stays open, and further adds are refused (kBufferFull)
// until it fits. A seal that fails is logged and counted by cause: a full
// buffer (the store is not keeping up) and a disk error (ENOSPC, EIO; the
// disk buffer rolled the append back) are told apart, and add() refuses with
// the cause's own code (kBufferFull or kIo).
//
// A producer that answers a client (OTLP) may also pass a durable callback:
// it runs once the batch holding its records is in the disk buffer (written
// and fsync'd per buffer.fsync), so the client is answered only when a
// kill -9 can no longer lose what it was told is accepted. An add() with a
// durable callback asks for its batch to be sealed soon (the durable-waiter
// hook wakes the pipeline's flusher, which calls flushDurableWaiters): the
// requests that arrive while one seal writes and fsyncs share the next one.
// When that batch cannot enter the buffer within full_wait (full, or a disk
// error), the waiting add()s are withdrawn: their rows are taken out of the
// batch and their callbacks told false, so the client can be refused (503)
// and retry without the records being stored twice. Adds without a durable
// callback are never withdrawn.
//
// A seal listener (kobs all's stream feed) sees each record as it is
// encoded and keeps what it needs of it; the batcher then gives each sealed
// batch that kept items an ingest time (Unix ns, never decreasing; shared by
// the batches sealed while the sender is busy) before the append, stores it in
// the batch's header (the sender passes it with the insert), and hands the
// kept items with it to the listener once the batch is durable, and again
// when the batch is committed or set aside. So a reader can publish rows
// with the cursor the store will give them, before the store has them.
//
// Threading: thread-safe; add() encodes under the batcher's mutex, so
// concurrent producers of one table serialise (encoding runs at >1M rows/s).
// Durable callbacks run on the sealing thread under that mutex: they must
// not block nor call back into the batcher (post the answer elsewhere).
#pragma once

#include <algorithm>
#include <atomic>
#include <climits>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "common/error.h"
#include "common/logging.h"
#include "pipeline/disk_buffer.h"
#include "pipeline/record.h"
#include "pipeline/table_encoder.h"

namespace kobs::pipeline {

// The defaults, also the config table's (app/config.cc formats these).
inline constexpr size_t kDefaultBatchMaxRows = 10000;
inline constexpr size_t kDefaultBatchMaxBytes = 2u << 20;

struct BatcherOptions {
  size_t max_rows = kDefaultBatchMaxRows;
  size_t max_bytes = kDefaultBatchMaxBytes;
  std::chrono::milliseconds max_age{1000};
  // Sealed once no record has been added for this long, if the sender has at
  // most one batch in hand (sealing more would only queue it; waiting lets it grow).
  std::chrono::milliseconds linger{5};
  std::chrono::milliseconds full_wait{5000};  // how long add()/flush() may wait on a full disk buffer
};

struct BatcherStats {
  std::atomic<uint64_t> records_in{0};
  std::atomic<uint64_t> batches_sealed{0};
  // Refused to the producer (an exception from add(), or a waiting add taken
  // out): not lost here; the producer keeps and offers them again or refuses
  // its own client.
  std::atomic<uint64_t> records_rejected{0};       // refused because the buffer stayed full
  std::atomic<uint64_t> records_rejected_disk{0};  // refused because the disk failed the last seal
  std::atomic<uint64_t> records_abandoned{0};      // accepted, then given up at shutdown: lost
  std::atomic<uint64_t> seal_failures_full{0};     // seals the buffer refused for lack of space
  std::atomic<uint64_t> seal_failures_disk{0};     // seals that failed on a disk error
  std::atomic<uint64_t> seal_failures_other{0};
};

// The partition day (days since 1970-01-01) of a record's row timestamp; the
// sender splits a batch by it when ClickHouse refuses one that spans too many
// partitions. Matches the Timestamp column each encoder writes.
inline int32_t partitionDay(int64_t unix_nano) {
  constexpr int64_t kDay = 86400LL * 1000000000LL;
  return static_cast<int32_t>(unix_nano >= 0 ? unix_nano / kDay : (unix_nano - kDay + 1) / kDay);
}
// A record's row timestamp (Unix ns), as the Timestamp column each encoder writes.
inline int64_t rowTimeNs(const LogRecord& r) { return r.time_unix_nano ? r.time_unix_nano : r.observed_time_unix_nano; }
inline int64_t rowTimeNs(const Span& r) { return r.start_time_unix_nano; }
inline int64_t rowTimeNs(const MetricPoint& r) { return r.time_unix_nano; }
inline int64_t rowTimeNs(const LogRecordRef& r) {
  return r.time_unix_nano ? r.time_unix_nano : r.observed_time_unix_nano;
}
inline int64_t rowTimeNs(const SpanRef& r) { return r.start_time_unix_nano; }
inline int32_t partitionDay(const LogRecord& r) { return partitionDay(rowTimeNs(r)); }
inline int32_t partitionDay(const Span& r) { return partitionDay(rowTimeNs(r)); }
inline int32_t partitionDay(const MetricPoint& r) { return partitionDay(rowTimeNs(r)); }
inline int32_t partitionDay(const LogRecordRef& r) { return partitionDay(rowTimeNs(r)); }
inline int32_t partitionDay(const SpanRef& r) { return partitionDay(rowTimeNs(r)); }

// true: the records are in the disk buffer; false: they were withdrawn (the
// buffer refused their batch for full_wait) or given up (abandon() at
// shutdown), and will not be stored.
using DurableCallback = std::function<void(bool durable)>;

// What a seal listener kept of one sealed batch (see above).
struct SealedItems {
  int64_t ingest_ns = 0;
  std::vector<std::shared_ptr<const void>> items;  // what tap() returned, in row order
};

template <typename Record>
struct SealListener {
  // Producer's thread, under the batcher's lock: what to keep of a record
  // (null: nothing). Must not block nor throw.
  std::function<std::shared_ptr<const void>(const Record&)> tap;
  // Sealing thread, under the batcher's lock, once the batch is in the disk
  // buffer (only batches that kept items). Must not block.
  std::function<void(std::shared_ptr<const SealedItems>)> durable;
  // Sender thread: the batch was committed (true) or set aside (false). May
  // come before durable() for the same batch.
  std::function<void(const SealedItems&, bool committed)> done;
};

template <typename Record>
class Batcher {
 public:
  Batcher(std::shared_ptr<const TableEncoder<Record>> encoder, DiskBuffer& buffer, BatcherOptions options)
      : encoder_(std::move(encoder)), buffer_(buffer), options_(options) {}

  // Encodes `records` into the open batch; once it returns, the records are
  // accepted and their callback will run. Throws kBufferFull (nothing
  // accepted) when an earlier full batch still cannot enter the disk buffer
  // within full_wait: that is the back-pressure producers see. When it
  // throws, neither callback is kept.
  void add(std::span<const Record> records, CommitCallback on_commit = {}, DurableCallback on_durable = {}) {
    add(records, *encoder_, std::move(on_commit), std::move(on_durable));
  }

  // The same for another record shape with an encoder of the same table and
  // the same columns (borrowed records, record_ref.h: the views must stay
  // valid until add() returns, as encoding happens inside it).
  template <typename Other>
  void add(std::span<const Other> records, const TableEncoder<Other>& encoder, CommitCallback on_commit = {},
           DurableCallback on_durable = {}) {
    if (encoder.columns() != encoder_->columns())
      throw Exception(ErrorCode::kInternal, "an encoder for {} with other columns than the batcher's", encoder_->table());
    bool wake = false, opened = false;
    {
      std::lock_guard lock(mutex_);
      const bool was_empty = rows_ == 0, had_tapped = !tapped_.empty();
      addLocked(records, encoder, std::move(on_commit), std::move(on_durable));
      wake = !waiters_.empty() && !durable_wake_sent_ && durable_wake_;
      if (wake) durable_wake_sent_ = true;
      // The first kept item makes the batch due after the linger (sealIfDue):
      // the flusher is told as for a new batch.
      opened = (was_empty && rows_ > 0) || (!had_tapped && !tapped_.empty() && seal_listener_.durable);
      opened = opened && on_open_;
    }
    if (wake) durable_wake_();
    else if (opened) on_open_();
  }

  void add(const Record& record, CommitCallback on_commit = {}, DurableCallback on_durable = {}) {
    add(std::span<const Record>(&record, 1), std::move(on_commit), std::move(on_durable));
  }

  // Called (outside the batcher's lock) when the open batch gets its first
  // durable waiter; the pipeline sets it to wake its flusher. Set before use.
  void setDurableWaiterHook(std::function<void()> hook) { durable_wake_ = std::move(hook); }

  // Seals the open batch if a producer waits for it to be durable; never
  // throws. When the buffer refuses it, waiters older than full_wait are
  // withdrawn (see above) and the rest of the batch stays open.
  void flushDurableWaiters() {
    std::lock_guard lock(mutex_);
    durable_wake_sent_ = false;
    if (waiters_.empty() || trySealLocked(std::chrono::milliseconds(0))) return;
    withdrawLocked(std::chrono::steady_clock::now() - options_.full_wait);
  }

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

  // Seals the open batch when it is due: full, older than max_age, or (when
  // `sender_idle`) no record added for `linger`. Returns when it is next due
  // (time_point::max() when no batch is open; `now + retry` after a failed
  // seal). Never throws.
  std::chrono::steady_clock::time_point sealIfDue(std::chrono::steady_clock::time_point now, bool sender_idle,
                                                  std::chrono::milliseconds retry) {
    std::lock_guard lock(mutex_);
    if (rows_ == 0) return std::chrono::steady_clock::time_point::max();
    const auto aged = opened_ + options_.max_age, lingered = last_add_ + options_.linger;
    // A batch a seal listener kept items of is published once durable: it is
    // sealed after the linger even while the sender is busy (the sender takes
    // it in one insert with the batches waiting beside it; see sealLocked).
    const bool early = sender_idle || (seal_listener_.durable && !tapped_.empty());
    if (now >= aged || fullLocked() || (early && now >= lingered)) {
      if (trySealLocked(std::chrono::milliseconds(0))) return std::chrono::steady_clock::time_point::max();
      return now + retry;
    }
    return early ? std::min(aged, lingered) : aged;
  }

  // See "seal listener" above. Set before use.
  void setSealListener(SealListener<Record> listener) { seal_listener_ = std::move(listener); }

  // Called (outside the batcher's lock) when a record opens a new batch, so
  // the flusher can sleep until exactly when a batch falls due. Set before use.
  void setOnOpen(std::function<void()> on_open) { on_open_ = std::move(on_open); }

  // Gives up the open batch (shutdown after the buffer refused it): its
  // producers are told through their callbacks (false), and it is counted.
  void abandon() {
    std::lock_guard lock(mutex_);
    if (rows_ == 0) return;
    stats_.records_abandoned += rows_;
    auto callbacks = std::move(callbacks_);
    auto waiters = std::move(waiters_);
    reset();
    for (const auto& w : waiters) {
      w.on_durable(false);
      if (w.on_commit) w.on_commit(false);
    }
    for (const auto& c : callbacks) c(false);
  }

  const BatcherStats& stats() const { return stats_; }
  const TableEncoder<Record>& encoder() const { return *encoder_; }

 private:
  template <typename Other>
  void addLocked(std::span<const Other> records, const TableEncoder<Other>& encoder, CommitCallback on_commit,
                 DurableCallback on_durable) {
    if (fullLocked() && !trySealLocked(options_.full_wait)) {
      if (last_error_code_ == ErrorCode::kBufferFull) stats_.records_rejected += records.size();
      else stats_.records_rejected_disk += records.size();
      throw Exception(last_error_code_, "{} records refused for {}: the open batch cannot be sealed: {}",
                      records.size(), encoder_->table(), last_error_);
    }
    const auto now = std::chrono::steady_clock::now();
    if (rows_ == 0) opened_ = now;
    const size_t rows_before = row_ends_.size(), body_before = body_.size(), tapped_before = tapped_.size();
    try {
      // Per add(): the records (and so their resources) outlive it.
      ResourceCache resources;
      for (const auto& r : records) {
        encoder.encode(r, body_, resources);
        if constexpr (std::is_same_v<Other, Record>)
          if (seal_listener_.tap)
            if (auto item = seal_listener_.tap(r)) {
              tapped_.emplace_back(row_ends_.size(), std::move(item));
              const int64_t t = rowTimeNs(r);
              tapped_min_ts_ = std::min(tapped_min_ts_, t);
              tapped_max_ts_ = std::max(tapped_max_ts_, t);
            }
        row_ends_.push_back(static_cast<uint32_t>(body_.size()));
        row_days_.push_back(partitionDay(r));
      }
    } catch (...) {
      // Nothing of a failed add() is accepted.
      body_.resize(body_before);
      row_ends_.resize(rows_before);
      row_days_.resize(rows_before);
      tapped_.resize(tapped_before);
      throw;
    }
    rows_ += records.size();
    stats_.records_in += records.size();
    if (on_durable)
      waiters_.push_back(Waiter{rows_before, row_ends_.size(), now, std::move(on_durable), std::move(on_commit)});
    else if (on_commit)
      callbacks_.push_back(std::move(on_commit));
    last_add_ = now;
    // A batch that cannot be sealed now stays open (accepted records are never
    // dropped) and is retried by the next add() or the age flusher.
    if (fullLocked()) trySealLocked(std::chrono::milliseconds(0));
  }

  bool fullLocked() const { return rows_ >= options_.max_rows || body_.size() >= options_.max_bytes; }

  bool trySealLocked(std::chrono::milliseconds wait) {
    try {
      sealLocked(wait);
      return true;
    } catch (const std::exception&) {
      return false;  // logged and counted by sealLocked
    }
  }

  void sealLocked(std::chrono::milliseconds wait) {
    if (rows_ == 0) return;
    BatchHeader header{encoder_->table(), encoder_->columns(), "RowBinary", rows_, row_ends_, row_days_};
    // The callbacks move into the buffer only when the append succeeds.
    std::vector<CommitCallback> callbacks = callbacks_;
    for (const auto& w : waiters_)
      if (w.on_commit) callbacks.push_back(w.on_commit);
    std::shared_ptr<SealedItems> sealed;
    // Only a batch with items gets an ingest time. The view reads one per
    // insert, so the disk buffer merges only batches with the same one (or
    // none): while the previous batch with an ingest time waits in the
    // buffer (behind the insert in flight, or under sender.linger), a batch
    // shares its ingest time, so the batches sealed meanwhile go together
    // into one insert (a race with the sender taking it only costs an
    // insert more, with the same ingest time). Only when its kept
    // rows' timestamps all follow the previous batch's: rows sharing an
    // ingest time order by timestamp (the cursor), so the items published
    // in seal order stay in cursor order (the k8s events receiver's
    // timestamps only increase; an OTLP client's may not).
    if (seal_listener_.durable && !tapped_.empty()) {
      const auto now_tp = std::chrono::system_clock::now();
      const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now_tp.time_since_epoch()).count();
      const bool share = last_ingest_ns_ != 0 && buffer_.waitingToBeSent(last_ingest_seq_) &&
                         now_ns - last_ingest_ns_ < std::chrono::nanoseconds(options_.max_age).count() &&
                         tapped_min_ts_ > last_tapped_max_ts_;
      header.ingest_ns = last_ingest_ns_ = share ? last_ingest_ns_ : std::max(now_ns, last_ingest_ns_ + 1);
      last_tapped_max_ts_ = tapped_max_ts_;
      {
        sealed = std::make_shared<SealedItems>();
        sealed->ingest_ns = header.ingest_ns;
        sealed->items.reserve(tapped_.size());
        for (const auto& t : tapped_) sealed->items.push_back(t.second);
        if (seal_listener_.done)
          callbacks.push_back([done = seal_listener_.done, sealed](bool ok) { done(*sealed, ok); });
      }
    }
    CommitCallback cb;
    if (!callbacks.empty())
      cb = [callbacks = std::move(callbacks)](bool ok) {
        for (const auto& c : callbacks) c(ok);
      };
    try {
      const uint64_t seq = buffer_.append(header, std::move(body_), std::move(cb), wait);  // taken only on success
      if (header.ingest_ns != 0) last_ingest_seq_ = seq;
    } catch (const Exception& e) {
      noteSealFailure(e.code(), e.what());
      throw;
    } catch (const std::exception& e) {
      noteSealFailure(ErrorCode::kInternal, e.what());
      throw;
    }
    if (last_error_code_ != ErrorCode::kOk)
      logging::get("batcher")->info("{}: batches enter the disk buffer again", encoder_->table());
    last_error_code_ = ErrorCode::kOk;
    last_error_.clear();
    ++stats_.batches_sealed;
    auto waiters = std::move(waiters_);
    reset();
    if (sealed) seal_listener_.durable(std::move(sealed));
    for (const auto& w : waiters) w.on_durable(true);
  }

  // Counts every failure; logs a change of cause (not each retry of the same one).
  void noteSealFailure(ErrorCode code, std::string message) {
    if (code == ErrorCode::kBufferFull) ++stats_.seal_failures_full;
    else if (code == ErrorCode::kIo) ++stats_.seal_failures_disk;
    else ++stats_.seal_failures_other;
    if (code != last_error_code_) {
      auto log = logging::get("batcher");
      if (code == ErrorCode::kBufferFull)
        log->warn("{}: batch of {} rows waits: disk buffer full (the store is not keeping up): {}",
                  encoder_->table(), rows_, message);
      else
        log->error("{}: batch of {} rows cannot be sealed ({}): {}; kept open and retried", encoder_->table(),
                   rows_, errorCodeName(code), message);
    }
    last_error_code_ = code == ErrorCode::kOk ? ErrorCode::kInternal : code;
    last_error_ = std::move(message);
  }

  void reset() {
    body_.clear();
    if (body_.capacity() > 4 * options_.max_bytes) body_.shrink_to_fit();
    rows_ = 0;
    row_ends_.clear();
    row_days_.clear();
    tapped_.clear();
    tapped_min_ts_ = INT64_MAX;
    tapped_max_ts_ = INT64_MIN;
    callbacks_.clear();
    waiters_.clear();
    durable_wake_sent_ = false;
  }

  // Takes the rows of waiters that arrived before `cutoff` out of the open
  // batch and tells them false (last first, so earlier row indexes hold).
  void withdrawLocked(std::chrono::steady_clock::time_point cutoff) {
    std::vector<Waiter> gone;
    for (size_t i = waiters_.size(); i-- > 0;) {
      auto& w = waiters_[i];
      if (w.since > cutoff) continue;
      if (w.first_row == w.end_row) {  // an empty add: nothing to take out
        gone.push_back(std::move(w));
        waiters_.erase(waiters_.begin() + long(i));
        continue;
      }
      const uint32_t body_begin = w.first_row ? row_ends_[w.first_row - 1] : 0;
      const uint32_t body_end = row_ends_[w.end_row - 1];
      const uint32_t bytes = body_end - body_begin;
      const size_t rows = w.end_row - w.first_row;
      body_.erase(body_begin, bytes);
      row_ends_.erase(row_ends_.begin() + long(w.first_row), row_ends_.begin() + long(w.end_row));
      row_days_.erase(row_days_.begin() + long(w.first_row), row_days_.begin() + long(w.end_row));
      for (size_t r = w.first_row; r < row_ends_.size(); ++r) row_ends_[r] -= bytes;
      std::erase_if(tapped_, [&](const auto& t) { return t.first >= w.first_row && t.first < w.end_row; });
      for (auto& t : tapped_)
        if (t.first >= w.end_row) t.first -= rows;
      for (size_t j = i + 1; j < waiters_.size(); ++j) {
        waiters_[j].first_row -= rows;
        waiters_[j].end_row -= rows;
      }
      rows_ -= rows;
      stats_.records_in -= rows;
      if (last_error_code_ == ErrorCode::kIo) stats_.records_rejected_disk += rows;
      else stats_.records_rejected += rows;
      gone.push_back(std::move(w));
      waiters_.erase(waiters_.begin() + long(i));
    }
    if (rows_ == 0) reset();
    for (const auto& w : gone) {
      w.on_durable(false);
      if (w.on_commit) w.on_commit(false);
    }
  }

  std::shared_ptr<const TableEncoder<Record>> encoder_;
  DiskBuffer& buffer_;
  BatcherOptions options_;
  std::mutex mutex_;
  std::string body_;
  uint64_t rows_ = 0;
  std::vector<uint32_t> row_ends_;
  std::vector<int32_t> row_days_;
  std::vector<std::pair<size_t, std::shared_ptr<const void>>> tapped_;  // (row, what the tap kept)
  SealListener<Record> seal_listener_;
  int64_t last_ingest_ns_ = 0;
  uint64_t last_ingest_seq_ = 0;  // the disk buffer's seq of the last batch given an ingest time
  // Row timestamps of the open batch's kept rows (a withdrawal leaves them
  // wider: that only shares less), and of the last batch given an ingest time.
  int64_t tapped_min_ts_ = INT64_MAX, tapped_max_ts_ = INT64_MIN, last_tapped_max_ts_ = INT64_MIN;
  std::vector<CommitCallback> callbacks_;
  // An add() waiting for the open batch to be durable: its rows
  // [first_row, end_row) and its callbacks (its on_commit is kept here so a
  // withdrawal takes it too).
  struct Waiter {
    size_t first_row;
    size_t end_row;
    std::chrono::steady_clock::time_point since;
    DurableCallback on_durable;
    CommitCallback on_commit;
  };
  std::vector<Waiter> waiters_;
  std::function<void()> durable_wake_;
  bool durable_wake_sent_ = false;  // the hook ran for the open batch's waiters; reset by flushDurableWaiters
  ErrorCode last_error_code_ = ErrorCode::kOk;  // cause of the last failed seal (kOk: none)
  std::string last_error_;
  std::chrono::steady_clock::time_point opened_{};
  std::chrono::steady_clock::time_point last_add_{};
  std::function<void()> on_open_;
  BatcherStats stats_;
};

}  // namespace kobs::pipeline
