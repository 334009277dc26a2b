// EventsReceiver: Kubernetes Events → otel_logs, each notification stored
// exactly once across restarts, crashes (SIGKILL), 410 Gone and API server
// restarts.
//
// Flow (one ListWatcher per watched namespace, or one for all):
//   notification → parse (simdjson) → dedup → resolve composition id
//     → map (contract §1) → pipeline.logs().add(row, commit callback)
//   commit callback → EventLedger (in order) → checkpoint file (control thread)
//
// Exactly-once, and why it holds. A notification is identified by (event
// uid, object resourceVersion): the API server gives every change of an
// object a new resourceVersion, so two notifications with the same pair are
// the same notification. kobs stores a notification iff its pair is in no
// row of otel_logs yet. The receiver keeps
//   S: pairs known to be in the store      (persisted in the checkpoint)
//   P: pairs added to the pipeline, not yet committed  (memory only)
//   R: per watch, a resume version such that every notification at or
//      before it is in S or was skipped on purpose       (persisted)
// and adds a notification only when its pair is in neither S nor P.
//   - S and R advance only from the pipeline's commit callbacks, applied in
//     add order (EventLedger), so after a crash the persisted (R, S) is a
//     consistent prefix: nothing at or before R is missing from the store.
//   - Rows after that prefix may be lost (still in the batcher's memory) or
//     in the store (appended to the write-ahead disk buffer, whose replay
//     re-inserts them with their dedup token, so each lands once). Which
//     ones is not known from the checkpoint. So before watching, recovery
//     (1) waits until every batch in the disk buffer when recovery began is
//     committed (replay done), then
//     (2) queries the store for the pairs of k8s-events rows whose
//     Timestamp is at or after the checkpoint's newest applied observed time
//     minus a margin (observed times are assigned in add order and made
//     strictly increasing), and adds them to S. Now S holds every stored
//     pair that a resumed watch or relist can send again.
//     (3) raises each watch's R to the newest resourceVersion among that
//     watch's rows in the store (rows from the watch stream carry the watch
//     key in LogAttributes[kWatchAttribute]; a watch row's version is the
//     watch's position). A run can die before its checkpoint catches up
//     (a crash loop: every run shorter than batch age + commit + checkpoint
//     interval); without (3) each restart would list again, and a list
//     carries only each event's newest version, so the updates in between
//     would be lost. Why the store's newest row is a valid R: one watch's
//     rows go through one batcher and a FIFO disk buffer in the order they
//     were added, and (1) replayed all of the buffer, so the stored rows of a
//     run are a prefix of what it added (a replayed batch lands even when a
//     crash cut its first insert inside the store: a gap there would pass R
//     over lost rows; see store/embedded/dedup_log_repair.h); every notification of the watch
//     before the newest stored row was stored or skipped on purpose. The
//     versions are compared as decimal integers (etcd revisions, which is
//     what kube-apiserver returns); the API calls them opaque, so rows whose
//     versions are not numbers leave R to the checkpoint.
//   - A list's version becomes R (and is written to the checkpoint) as soon
//     as the list's rows are in the disk buffer, before the watch starts:
//     R only needs "durable", since (1) drains the buffer before any watch
//     starts from R.
//   - The watch then resumes after R: the server re-sends every change after
//     R, the ones in S are skipped (counted as duplicates), the lost ones are
//     stored. Only if R is too old (410) does it list again: the relist's
//     items are checked against S the same way: an item whose uid is known
//     but whose version is new is stored as MODIFIED (its count went up),
//     unknown ones as ADDED.
//   - S is pruned only where no re-send can reach: versions of one uid at or
//     before R except the newest (a relist shows only the newest), uids whose
//     DELETED was applied, and events whose last time is older than max_age
//     (relists skip those items too, with the same clock, so a pruned event
//     is never re-stored).
// On first start (no checkpoint) the live list is stored once, minus events
// older than max_age, after the same store query over max_age (rows another
// replica or an earlier lost checkpoint stored are not stored again).
// Limits: a dead-lettered batch (rejected by the store for good) is lost and
// counted; after a leader failover, rows still in the old leader's disk
// buffer are invisible to the new leader's query (at-least-once there);
// events older than max_age that happened while kobs was down are skipped.
// If rows vanish inside the pipeline without a callback (the batcher dropped
// an open batch because the buffer stayed full), the receiver notices its
// oldest row has waited stall_timeout while the buffer is drained, and
// recovers as after a crash.
//
// Without a reachable cluster the receiver logs one line explaining how to
// point kobs at one (or to try --demo) and keeps retrying with backoff;
// start() never throws for that.
//
// Threading: a control thread (connect, leader election, recovery,
// checkpoint writes, stall checks) plus one ListWatcher thread per watched
// namespace; handlers run on the watcher threads, commit callbacks on the
// pipeline's sender thread (they touch only the EventLedger).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "collect/composition/composition_resolver.h"
#include "collect/k8s_events/event_ledger.h"
#include "collect/k8s_events/event_mapping.h"
#include "collect/k8s_events/leader_elector.h"
#include "common/component.h"
#include "common/metrics.h"
#include "k8s/api_client.h"
#include "k8s/list_watcher.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

namespace kobs::collect::k8s_events {

struct ReceiverOptions {
  std::filesystem::path state_dir;        // checkpoint lives here (<data_dir>/k8s_events)
  std::function<k8s::ClusterConfig()> cluster;  // throws when no cluster is configured
  std::vector<std::string> namespaces;    // empty: all namespaces
  bool store_deleted = false;
  std::chrono::milliseconds max_age = std::chrono::hours(1);
  std::chrono::milliseconds checkpoint_interval = std::chrono::seconds(1);
  std::chrono::milliseconds recovery_margin = std::chrono::minutes(5);
  std::chrono::milliseconds stall_timeout = std::chrono::seconds(60);
  std::chrono::milliseconds tick = std::chrono::milliseconds(200);
  int watch_timeout_seconds = 300;
  std::chrono::milliseconds backoff_initial = std::chrono::milliseconds(200);
  std::chrono::milliseconds backoff_max = std::chrono::seconds(30);
  size_t max_line_bytes = 16u << 20;
  bool resolve = true;
  composition::ResolverOptions resolver;
  MappingOptions mapping;
  LeaderElectionOptions leader;
};

#define KOBS_EVENTS_RECEIVER_COUNTERS(X)                                              \
  X(notifications, "watch notifications and list items received")                     \
  X(rows_added, "rows handed to the pipeline")                                        \
  X(duplicates, "notifications already stored or in flight, skipped")                 \
  X(skipped_old, "list items older than max_age, skipped")                            \
  X(skipped_deleted, "DELETED notifications not stored (k8s.events.store_deleted off)") \
  X(bad_objects, "objects that could not be parsed as an Event, skipped")             \
  X(add_failures, "rows the pipeline refused (buffer full, shutting down)")           \
  X(recoveries, "recoveries (start, leadership, stall): buffer drained, store queried") \
  X(recovered_pairs, "(uid, resourceVersion) pairs found in the store at recovery")  \
  X(stalls, "recoveries forced by rows that never committed")                         \
  X(checkpoint_writes, "checkpoint files written")                                    \
  X(checkpoint_errors, "checkpoint writes that failed")

struct ReceiverStats {
#define KOBS_DECLARE_COUNTER(name, help) std::atomic<uint64_t> name{0};
  KOBS_EVENTS_RECEIVER_COUNTERS(KOBS_DECLARE_COUNTER)
#undef KOBS_DECLARE_COUNTER
};

// LogAttributes key on rows that came from the watch stream (not a list):
// the watch they came from ("*" or its namespace). Recovery resumes each
// watch after the newest such row's resourceVersion.
inline constexpr std::string_view kWatchAttribute = "kobs.k8s_events.watch";

class EventsReceiver final : public Component {
 public:
  // `metrics` may be null (tests). Throws kCorruptData only if... never: a
  // corrupt checkpoint is set aside (renamed *.corrupt) and logged.
  EventsReceiver(ReceiverOptions options, pipeline::Pipeline& pipeline, store::IStore& store,
                 metrics::Registry* metrics);
  ~EventsReceiver() override;

  std::string_view name() const override { return "k8s_events"; }
  void start() override;
  void shutdown(std::chrono::steady_clock::time_point deadline) override;

  const ReceiverStats& stats() const { return stats_; }
  const EventLedger& ledger() const { return *ledger_; }
  // Sum over current and past watchers of one ListWatcher counter.
  uint64_t watcherStat(std::atomic<uint64_t> k8s::ListWatcherStats::* field) const;
  const composition::CompositionResolver* resolver() const { return resolver_.get(); }
  bool connected() const { return connected_; }
  bool watching() const { return watching_; }
  bool leading() const { return leading_; }

 private:
  struct Watch;
  enum class State { kIdle, kRecovering, kWatching };

  void run(std::stop_token stop);
  bool connect();
  bool recover();
  void startWatchers();
  void stopWatchers();
  void persistCheckpoint(bool force);
  bool sleepFor(std::stop_token& stop, std::chrono::milliseconds d);
  int64_t observedNow();

  void onList(Watch& w, std::vector<std::string>& items, const std::string& rv, k8s::ListReason reason);
  void onEvent(Watch& w, k8s::WatchEventType type, std::string_view object, std::string_view rv);
  void onBookmark(Watch& w, std::string_view rv);
  void emit(Watch& w, std::string_view type, std::string_view object, const ParsedEvent& e,
            const std::string& resume_rv);
  void registerMetrics(metrics::Registry& m);

  ReceiverOptions options_;
  pipeline::Pipeline& pipeline_;
  store::IStore& store_;
  std::filesystem::path checkpoint_file_;
  std::shared_ptr<EventLedger> ledger_;
  std::unique_ptr<k8s::ApiClient> api_;
  std::unique_ptr<composition::CompositionResolver> resolver_;
  std::unique_ptr<LeaderElector> elector_;

  mutable std::mutex watchers_mutex_;
  std::vector<std::unique_ptr<Watch>> watchers_;
  k8s::ListWatcherStats retired_;

  std::mutex cv_mutex_;
  std::condition_variable_any cv_;
  std::jthread thread_;
  State state_ = State::kIdle;
  std::atomic<bool> connected_{false};
  std::atomic<bool> watching_{false};
  std::atomic<bool> leading_{false};
  std::atomic<int64_t> last_observed_{0};
  std::mutex checkpoint_mutex_;  // one writer of the checkpoint file at a time
  std::chrono::steady_clock::time_point last_checkpoint_{};
  std::chrono::steady_clock::time_point last_prune_{};
  std::optional<uint64_t> drain_target_;  // buffer seq to wait for at recovery
  bool hint_logged_ = false;
  bool started_ = false;
  bool shut_down_ = false;
  ReceiverStats stats_;
};

}  // namespace kobs::collect::k8s_events
