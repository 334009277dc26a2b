// EventLedger: which notifications are in the store, which are on their way,
// and how far each watch may resume: the in-memory side of the checkpoint.
//
// Every notification the receiver handles becomes one entry, in the order it
// was handed to the pipeline. Entries complete when the pipeline's commit
// callback fires (rows) or at once (markers: bookmarks, list ends, skipped
// duplicates, unstored DELETEDs), but are APPLIED strictly in order: only
// when every earlier entry is complete does the watch's resume version move
// to the entry's, and its (uid, rv) join the stored set. So the resume
// version never passes a notification that is not in the store yet.
//
//   seen(uid, rv)  stored (applied) or in flight: the receiver skips it.
//
// A watch's resume version only moves forward (raiseResume): it is a lower
// bound ("every notification at or before it is durable"), and several
// sources feed it: applied entries, a list whose rows reached the disk
// buffer, and the newest watch row found in the store at recovery. Numeric
// versions compare as numbers (etcd revisions); two that cannot be compared
// (opaque, as the API allows) keep the newest one reported, as the watch
// order gives it.
//
// Threading: thread-safe; complete() runs on the pipeline's sender thread,
// the rest on the watch and control threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "collect/k8s_events/checkpoint.h"

namespace kobs::collect::k8s_events {

struct LedgerEntry {
  std::string watch;        // resume key ("*" or a namespace)
  std::string uid;          // empty for pure markers
  std::string rv;           // the object's resourceVersion
  std::string resume_rv;    // where the watch may resume once applied; "" keeps it
  int64_t last_time_ns = 0;
  int64_t observed_ns = 0;
  bool stores_row = false;  // a row was added to the pipeline
  bool deleted = false;     // a DELETED notification: forget the uid once applied
};

struct LedgerCounts {
  uint64_t rows_committed = 0;
  uint64_t rows_lost = 0;  // dead-lettered by the pipeline (callback with false)
};

class EventLedger {
 public:
  explicit EventLedger(CheckpointState initial = {});

  bool seen(const std::string& uid, const std::string& rv) const;
  bool knownUid(const std::string& uid) const;
  std::string resumeVersion(const std::string& watch) const;

  // A row for `entry` is about to be added: returns its ticket.
  uint64_t begin(LedgerEntry entry);
  // The row's commit callback.
  void complete(uint64_t ticket, bool committed);
  // The add() threw: the row was not accepted; forget the entry.
  void abort(uint64_t ticket);
  // An entry with no row (bookmark, end of list, duplicate, unstored DELETED).
  void marker(LedgerEntry entry);

  // Pairs found in the store at recovery (rows whose callbacks were lost in a crash).
  void addStored(const std::string& uid, const std::string& rv, int64_t time_ns);

  // Moves `watch`'s resume version to `rv` if that is newer (see above);
  // returns whether it moved. Callers vouch that every notification of the
  // watch at or before `rv` is durable (in the store, or in the disk buffer
  // that recovery drains before a watch starts).
  bool raiseResume(const std::string& watch, const std::string& rv);

  // Entries still waiting for their commit, the oldest one's begin time.
  size_t pending() const;
  std::optional<std::chrono::steady_clock::time_point> oldestPending() const;
  // Drops every in-flight entry (their rows are presumed lost): a late
  // commit still records its pair as stored but moves no resume version.
  void dropInFlight();

  // Forgets events whose last time is older than `min_time_ns`.
  size_t pruneOlderThan(int64_t min_time_ns);

  size_t storedEvents() const;
  LedgerCounts counts() const;
  // Serialised state, and whether anything changed since the last call.
  std::optional<std::string> checkpointIfDirty();
  std::string checkpointJson() const;
  int64_t committedObservedNs() const;

 private:
  struct Slot {
    uint64_t ticket;
    LedgerEntry entry;
    bool done = false;
    bool committed = false;
    std::chrono::steady_clock::time_point began;
  };
  static std::string pairKey(const std::string& uid, const std::string& rv) { return uid + '\n' + rv; }
  void applyLocked();
  void applyOneLocked(const LedgerEntry& e, bool row_committed);
  bool raiseResumeLocked(const std::string& watch, const std::string& rv);
  void recordStoredLocked(const std::string& uid, const std::string& rv, int64_t time_ns,
                          const std::string& resume_rv);

  mutable std::mutex mutex_;
  CheckpointState state_;
  std::deque<Slot> queue_;
  std::unordered_set<std::string> in_flight_;
  std::unordered_map<uint64_t, LedgerEntry> zombies_;  // dropped, commit may still come
  uint64_t next_ticket_ = 1;
  bool dirty_ = false;
  LedgerCounts counts_;
};

}  // namespace kobs::collect::k8s_events
