// AlertService: the `alert` role. Loads the rules (rules.h), evaluates them
// over the store in aligned [start, end) windows, keeps per-group state,
// writes every evaluation to the alert_history table, and delivers
// notifications through a persisted outbox.
//
// Evaluation (evaluateDue(), one cycle):
//   - a rule's windows are multiples of its interval since the epoch (UTC);
//     a window is due once its end is behind the watermark: now less
//     settle_delay, and no later than what the in-process disk buffer has
//     delivered (options.watermark), so rows still in flight never count as
//     a quiet window. Late windows (kobs down, store behind) are evaluated in
//     order when they become due, up to max_catchup_windows.
//   - one query per rule per cycle covers all its due windows and all groups
//     (GROUP BY window, groupBy...), so 1,000 rules cost 1,000 queries a
//     minute however many groups they have.
//   - per group: breach -> streak+1, PENDING until numConsecutiveWindows,
//     then ALERT (notify once); no breach -> OK (notify the resolution when
//     the alert had fired). INSUFFICIENT_DATA while the source has no row up
//     to the window's end, or for a non-count value with no matching row.
//     DISABLED for `enabled: false`. A silenced rule records states but does
//     not announce new alerts (a resolution of an announced one still goes).
//   - the cycle's history rows go to the store first (with a content-derived
//     insert_deduplication_token), then state and new notifications are
//     saved in one atomic file; only then may they be sent. A crash before
//     the save re-evaluates the same windows and decides the same ids.
// The outbox in the store: a decided notification's history row has
// Notified = 2 (decided, not yet delivered). Once every channel's
// notification of it left the outbox (delivered, or dead-lettered) a second
// row with Notified = 1 marks it done (the mark waits in the state file until
// the store has it). A leader, new or restarted, reads the decisions without
// a mark (recoverUndelivered()) when it takes the lease and after each cycle,
// and delivers those not in its own outbox or delivered list, rendered again
// from the rule, with the same Idempotency-Key: a leader killed for good
// between deciding and delivering loses nothing. A kill between the POST and
// the mark sends it again with the same key (the receiver drops it).
// Delivery (dispatchDue(), its own thread): oldest first, one group's
// notifications in order; 2xx delivered, 5xx/408/429/network errors retried
// with exponential backoff and full jitter, 3xx (redirects refused) and
// other 4xx or too many attempts dead-lettered to <state_dir>/dead/ and
// counted. Idempotency-Key is the notification id, stable across restarts.
//
// Leader election (options.is_leader): a cycle whose replica lost the lease
// while evaluating is dropped before anything is written (counted), and the
// dispatcher posts only while leading: notifications decided by a replica
// that lost the lease wait in its outbox until it leads again, and are
// dropped then if another leader delivered them meanwhile (their mark is in
// alert_history; the dispatcher waits for that check after every loss of
// the lease). A replica taking the lease resumes from alert_history
// (resume_from_history): what the previous leader evaluated and announced is
// not evaluated or posted again, and what it decided but did not deliver is.
//
// Reload: requestReload() (SIGHUP) or a change of the rules file or
// directory reloads the rules on the evaluator thread; a set that does not
// load or bind is refused (logged, counted) and the old one kept. State is
// kept by rule name.
//
// Threading: start() runs two threads: the evaluator (ticks, reloads,
// evaluates when options.is_leader() says so) and the dispatcher. The
// persisted state is guarded by one mutex. evaluateDue() and dispatchDue()
// may also be called directly (tests, bench) when the threads are not
// started. requestReload() is safe from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "alert/rules.h"
#include "alert/state.h"
#include "alert/webhook_client.h"
#include "common/component.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "store/schema/schema_options.h"
#include "store/store.h"

namespace kobs::alert {

using SysClock = std::chrono::system_clock;

// A group firing (state "ALERT") or resolved ("OK"), as announced to the
// rule's channels and recorded in alert_history with Notified = 2 (decided),
// then 1 (delivered).
struct Announcement {
  std::string rule;
  std::string group;  // alert_history's GroupKey ("col=value, ...")
  std::string state;
  int64_t window_start = 0, window_end = 0;  // epoch seconds
  std::optional<double> value;
};

struct AlertOptions {
  std::filesystem::path rules_path;  // file or directory
  std::filesystem::path state_dir;   // <data_dir>/alert
  SourceTables tables;
  std::string history_table = "alert_history";
  // Database, cluster mode and dedup window, as for the telemetry tables
  // (the history table follows them); database is the store's.
  store::schema::SchemaOptions schema;
  std::chrono::seconds interval_override{0};  // > 0: every rule's interval (tests, demos)
  std::chrono::milliseconds tick{5000};
  std::chrono::milliseconds settle_delay{10000};
  int max_catchup_windows = 60;
  std::string link_url;
  PostOptions post;
  std::chrono::milliseconds retry_initial{1000};
  std::chrono::milliseconds retry_max{300000};
  int max_attempts = 20;
  size_t max_state_series = 1000;
  size_t max_sample_rows = 5;
  // Now (tests drive it); default the system clock.
  std::function<SysClock::time_point()> clock;
  // Rows accepted before this time are in the store (the in-process disk
  // buffer); nullopt: no bound beyond settle_delay.
  std::function<std::optional<SysClock::time_point>()> watermark;
  // Evaluate and post only while this replica leads (the Lease); default:
  // always. Asked by both threads (before a cycle, before committing it,
  // before every POST): cheap and thread-safe.
  std::function<bool()> is_leader;
  // On taking the lease, adopt from alert_history what another replica
  // evaluated after this one's saved state (next window, group states and
  // what was announced), so the new leader neither re-posts nor re-fires.
  bool resume_from_history = false;
  // Called (evaluator thread) for each announcement once its cycle is
  // committed: the frontend's SSE topic in the same process.
  std::function<void(const Announcement&)> on_announce;
};

class AlertService final : public Component {
 public:
  AlertService(AlertOptions options, store::IStore& store, metrics::Registry* registry);
  ~AlertService() override;

  std::string_view name() const override { return "alert"; }
  // Loads the rules (throws kBadConfig naming the rule and column), creates
  // alert_history, reads the saved state, starts both threads.
  void start() override;
  void shutdown(std::chrono::steady_clock::time_point deadline) override;

  // The parts of start(), for tests and the bench that drive the cycles.
  void load();
  // Re-reads the rules; false (and the old rules kept) when they do not load.
  bool reload();
  void requestReload();

  struct CycleResult {
    size_t rules = 0;    // rules with due windows
    size_t windows = 0;  // rule-windows evaluated
    size_t errors = 0;   // rules whose query failed
    size_t notifications = 0;
  };
  CycleResult evaluateDue();
  // Adopts, per rule, the state alert_history holds when it is ahead of the
  // saved one (another replica led meanwhile); returns the rules adopted.
  size_t resumeFromHistory();
  // Sends what is due, then writes the delivery marks; returns how many were attempted.
  size_t dispatchDue();
  // Puts in the outbox every decision in alert_history with no delivery mark
  // that this replica neither holds nor delivered; with drop_marked, also
  // drops outbox entries another replica marked delivered. Looks back a week
  // (taking over, starting), or with recent_only (after each cycle: only a
  // replica that led a moment ago can have decided since) each rule's windows
  // a cycle can decide, its last max_catchup_windows + 1 before the
  // watermark, and at least the last hour. Returns how many notifications
  // were added.
  size_t recoverUndelivered(bool drop_marked, bool recent_only = false);
  // Writes the pending delivery marks; false when the store refused them (kept).
  bool flushMarks();

  size_t outboxSize() const;
  std::shared_ptr<const RuleSet> rules() const;
  // A group's state (tests, metrics); nullopt when the group is plainly OK or unknown.
  std::optional<GroupState> groupState(const std::string& rule, const std::vector<std::string>& values) const;

 private:
  struct Decision;
  struct RuleRun;
  SysClock::time_point now() const;
  void evaluatorLoop();
  void dispatcherLoop();
  bool evaluateRule(const Rule& rule, int64_t watermark_s, RuleRun& run);
  bool sourceHasRowsBefore(const Rule& rule, int64_t end_s);
  std::string sampleRows(const Rule& rule, const std::vector<std::string>& group, int64_t start, int64_t end);
  void writeHistory(const std::vector<std::string>& rows);
  void saveLocked();
  std::string rulesSignature() const;
  void publishState(const Rule& rule, const std::string& key, const std::vector<std::string>& values, AlertState s);
  std::shared_ptr<RuleSet> loadAndBind();
  std::vector<Notification> makeNotifications(const Rule& rule, const RuleSet& rules, const std::string& key,
                                              const std::vector<std::string>& values, bool resolve, int64_t start,
                                              int64_t end, std::optional<double> value);
  void markIfDoneLocked(const Notification& n);
  void deadLetter(const Notification& n);

  AlertOptions options_;
  store::IStore& store_;
  metrics::Registry* registry_;
  std::shared_ptr<spdlog::logger> log_;

  mutable std::mutex rules_mutex_;
  std::shared_ptr<const RuleSet> rules_;
  std::string rules_signature_;
  std::atomic<bool> reload_requested_{false};

  mutable std::mutex state_mutex_;
  PersistedState state_;
  // Sources known to hold rows (evaluator thread only): once a source has a
  // row before a window's end, it has one before every later end.
  std::map<std::string, bool> source_seen_;

  std::mutex series_mutex_;
  std::map<std::pair<std::string, std::string>, metrics::Gauge*> state_series_;

  metrics::Counter* evaluations_ok_ = nullptr;
  metrics::Counter* evaluations_error_ = nullptr;
  metrics::Counter* windows_skipped_ = nullptr;
  metrics::Counter* delivered_ = nullptr;
  metrics::Counter* retried_ = nullptr;
  metrics::Counter* dead_ = nullptr;
  metrics::Counter* reload_ok_ = nullptr;
  metrics::Counter* reload_error_ = nullptr;
  metrics::Counter* series_dropped_ = nullptr;
  metrics::Counter* history_errors_ = nullptr;
  metrics::Counter* lease_lost_cycles_ = nullptr;
  metrics::Counter* resumed_rules_ = nullptr;
  metrics::Counter* recovered_ = nullptr;
  bool was_leading_ = false;  // evaluator thread
  // False after the lease was lost, until the evaluator checked the outbox
  // against alert_history's marks (with resume_from_history): the dispatcher waits.
  std::atomic<bool> outbox_checked_{true};
  std::set<std::string> recover_warned_;  // evaluator thread
  metrics::Histogram* cycle_seconds_ = nullptr;
  std::unique_ptr<metrics::Registry> own_registry_;  // when none is given

  std::mutex loop_mutex_;
  std::condition_variable loop_cv_;
  bool stopping_ = false;
  std::condition_variable dispatch_cv_;
  bool dispatch_wake_ = false;
  std::thread evaluator_, dispatcher_;
};

// The alert_history DDL for `table` in schema.database, in creation order:
// one table on a single node; in cluster mode (schema.cluster) a Replicated
// local table ON CLUSTER and a Distributed table under `table`.
std::vector<std::string> historyTableDdl(const store::schema::SchemaOptions& schema, const std::string& table);

}  // namespace kobs::alert
