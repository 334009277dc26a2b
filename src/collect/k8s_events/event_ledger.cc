#include "collect/k8s_events/event_ledger.h"

#include <algorithm>

namespace kobs::collect::k8s_events {

EventLedger::EventLedger(CheckpointState initial) : state_(std::move(initial)) {}

bool EventLedger::seen(const std::string& uid, const std::string& rv) const {
  std::lock_guard lock(mutex_);
  auto it = state_.events.find(uid);
  if (it != state_.events.end()) {
    const auto& rvs = it->second.resource_versions;
    if (std::find(rvs.begin(), rvs.end(), rv) != rvs.end()) return true;
  }
  return in_flight_.count(pairKey(uid, rv)) > 0;
}

bool EventLedger::knownUid(const std::string& uid) const {
  std::lock_guard lock(mutex_);
  return state_.events.count(uid) > 0;
}

std::string EventLedger::resumeVersion(const std::string& watch) const {
  std::lock_guard lock(mutex_);
  auto it = state_.resume.find(watch);
  return it == state_.resume.end() ? std::string() : it->second;
}

uint64_t EventLedger::begin(LedgerEntry entry) {
  std::lock_guard lock(mutex_);
  entry.stores_row = true;
  in_flight_.insert(pairKey(entry.uid, entry.rv));
  uint64_t t = next_ticket_++;
  queue_.push_back(Slot{t, std::move(entry), false, false, std::chrono::steady_clock::now()});
  return t;
}

void EventLedger::complete(uint64_t ticket, bool committed) {
  std::lock_guard lock(mutex_);
  committed ? ++counts_.rows_committed : ++counts_.rows_lost;
  auto it = std::lower_bound(queue_.begin(), queue_.end(), ticket,
                             [](const Slot& s, uint64_t t) { return s.ticket < t; });
  if (it == queue_.end() || it->ticket != ticket) {
    auto z = zombies_.find(ticket);
    if (z != zombies_.end()) {
      if (committed) recordStoredLocked(z->second.uid, z->second.rv, z->second.last_time_ns, {});
      zombies_.erase(z);
      dirty_ = true;
    }
    return;
  }
  it->done = true;
  it->committed = committed;
  applyLocked();
}

void EventLedger::abort(uint64_t ticket) {
  std::lock_guard lock(mutex_);
  auto it = std::lower_bound(queue_.begin(), queue_.end(), ticket,
                             [](const Slot& s, uint64_t t) { return s.ticket < t; });
  if (it == queue_.end() || it->ticket != ticket) return;
  in_flight_.erase(pairKey(it->entry.uid, it->entry.rv));
  queue_.erase(it);
  applyLocked();
}

void EventLedger::marker(LedgerEntry entry) {
  std::lock_guard lock(mutex_);
  entry.stores_row = false;
  queue_.push_back(Slot{next_ticket_++, std::move(entry), true, false, std::chrono::steady_clock::now()});
  applyLocked();
}

void EventLedger::applyLocked() {
  while (!queue_.empty() && queue_.front().done) {
    Slot s = std::move(queue_.front());
    queue_.pop_front();
    if (s.entry.stores_row) in_flight_.erase(pairKey(s.entry.uid, s.entry.rv));
    applyOneLocked(s.entry, s.committed);
  }
}

bool EventLedger::raiseResumeLocked(const std::string& watch, const std::string& rv) {
  if (rv.empty()) return false;
  auto& current = state_.resume[watch];
  if (!current.empty()) {
    auto c = compareResourceVersions(rv, current);
    if (c && *c <= 0) return false;
  }
  if (current == rv) return false;
  current = rv;
  dirty_ = true;
  return true;
}

bool EventLedger::raiseResume(const std::string& watch, const std::string& rv) {
  std::lock_guard lock(mutex_);
  return raiseResumeLocked(watch, rv);
}

void EventLedger::applyOneLocked(const LedgerEntry& e, bool row_committed) {
  raiseResumeLocked(e.watch, e.resume_rv);
  state_.committed_observed_ns = std::max(state_.committed_observed_ns, e.observed_ns);
  if (e.stores_row && row_committed) recordStoredLocked(e.uid, e.rv, e.last_time_ns, state_.resume[e.watch]);
  if (e.deleted && !e.uid.empty()) state_.events.erase(e.uid);
  dirty_ = true;
}

void EventLedger::recordStoredLocked(const std::string& uid, const std::string& rv, int64_t time_ns,
                                     const std::string& resume_rv) {
  auto& se = state_.events[uid];
  auto& rvs = se.resource_versions;
  if (std::find(rvs.begin(), rvs.end(), rv) == rvs.end()) rvs.push_back(rv);
  se.last_time_ns = std::max(se.last_time_ns, time_ns);
  if (rvs.size() < 2) return;
  // Only versions the watch could still send again are kept: those after the
  // resume version (a restart replays them) and the newest (a relist shows it).
  // Opaque (non-numeric) versions cannot be ordered: keep the newest only.
  std::string newest = rvs.front();
  bool numeric = true;
  for (const auto& v : rvs) {
    auto c = compareResourceVersions(v, newest);
    if (!c) numeric = false;
    else if (*c > 0) newest = v;
  }
  if (!numeric) {
    rvs = {rv};
    return;
  }
  std::erase_if(rvs, [&](const std::string& v) {
    if (v == newest) return false;
    auto c = resume_rv.empty() ? std::optional<int>(1) : compareResourceVersions(v, resume_rv);
    return c && *c <= 0;
  });
}

void EventLedger::addStored(const std::string& uid, const std::string& rv, int64_t time_ns) {
  std::lock_guard lock(mutex_);
  auto& se = state_.events[uid];
  if (std::find(se.resource_versions.begin(), se.resource_versions.end(), rv) == se.resource_versions.end())
    se.resource_versions.push_back(rv);
  se.last_time_ns = std::max(se.last_time_ns, time_ns);
  dirty_ = true;
}

size_t EventLedger::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

std::optional<std::chrono::steady_clock::time_point> EventLedger::oldestPending() const {
  std::lock_guard lock(mutex_);
  if (queue_.empty()) return std::nullopt;
  return queue_.front().began;
}

void EventLedger::dropInFlight() {
  std::lock_guard lock(mutex_);
  for (auto& s : queue_)
    if (s.entry.stores_row && !s.done) zombies_.emplace(s.ticket, std::move(s.entry));
  queue_.clear();
  in_flight_.clear();
}

size_t EventLedger::pruneOlderThan(int64_t min_time_ns) {
  std::lock_guard lock(mutex_);
  size_t n = std::erase_if(state_.events, [&](const auto& kv) { return kv.second.last_time_ns < min_time_ns; });
  if (n) dirty_ = true;
  return n;
}

size_t EventLedger::storedEvents() const {
  std::lock_guard lock(mutex_);
  return state_.events.size();
}

LedgerCounts EventLedger::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

std::optional<std::string> EventLedger::checkpointIfDirty() {
  std::lock_guard lock(mutex_);
  if (!dirty_) return std::nullopt;
  dirty_ = false;
  return checkpointToJson(state_);
}

std::string EventLedger::checkpointJson() const {
  std::lock_guard lock(mutex_);
  return checkpointToJson(state_);
}

int64_t EventLedger::committedObservedNs() const {
  std::lock_guard lock(mutex_);
  return state_.committed_observed_ns;
}

}  // namespace kobs::collect::k8s_events
