#include "collect/k8s_events/events_receiver.h"

#include <algorithm>
#include <map>
#include <system_error>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/logging.h"

namespace kobs::collect::k8s_events {
namespace {

using Clock = std::chrono::steady_clock;

int64_t wallNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view typeName(k8s::WatchEventType t) {
  switch (t) {
    case k8s::WatchEventType::kAdded: return "ADDED";
    case k8s::WatchEventType::kModified: return "MODIFIED";
    case k8s::WatchEventType::kDeleted: return "DELETED";
    default: return "UNKNOWN";
  }
}

// The dedup key: the event's uid, or namespace/name when a (broken) object has none.
std::string keyOf(const ParsedEvent& e) { return e.uid.empty() ? e.ns + "/" + e.name : e.uid; }

}  // namespace

struct EventsReceiver::Watch {
  std::string key;  // "*" or the namespace
  std::string ns;
  EventMapper mapper;
  std::unique_ptr<k8s::ListWatcher> watcher;
  explicit Watch(const MappingOptions& m) : mapper(m) {}
};

EventsReceiver::EventsReceiver(ReceiverOptions options, pipeline::Pipeline& pipeline, store::IStore& store,
                               metrics::Registry* metrics)
    : options_(std::move(options)), pipeline_(pipeline), store_(store) {
  auto log = logging::get("k8s.events");
  checkpoint_file_ = options_.state_dir / "checkpoint.json";
  std::error_code ec;
  std::filesystem::create_directories(options_.state_dir, ec);
  if (ec) throw Exception(ErrorCode::kIo, "cannot create {}: {}", options_.state_dir.string(), ec.message());
  CheckpointState initial;
  try {
    if (auto cp = loadCheckpoint(checkpoint_file_)) {
      initial = std::move(*cp);
      log->info("checkpoint loaded: {} watches, {} live events", initial.resume.size(), initial.events.size());
    }
  } catch (const Exception& e) {
    // Without it the store query at recovery still prevents duplicates of
    // recent rows; keep the file for inspection.
    auto aside = checkpoint_file_;
    aside += ".corrupt";
    std::filesystem::rename(checkpoint_file_, aside, ec);
    log->error("checkpoint unreadable ({}); set aside as {}, starting as on first start", e.what(), aside.string());
  }
  ledger_ = std::make_shared<EventLedger>(std::move(initial));
  if (options_.resolve) {
    // api_ is set by connect() before any watcher (the only caller) starts.
    resolver_ = std::make_unique<composition::CompositionResolver>(
        [this](const composition::ObjectRef& r) { return api_->getObject(r.api_version, r.kind, r.ns, r.name); },
        options_.resolver);
  }
  if (metrics) registerMetrics(*metrics);
}

EventsReceiver::~EventsReceiver() { shutdown(Clock::now() + std::chrono::seconds(1)); }

void EventsReceiver::start() {
  if (started_ || shut_down_) return;
  started_ = true;
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

bool EventsReceiver::sleepFor(std::stop_token& stop, std::chrono::milliseconds d) {
  std::unique_lock lock(cv_mutex_);
  cv_.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

int64_t EventsReceiver::observedNow() {
  // Strictly increasing, so the rows after a checkpoint are exactly those
  // with a later Timestamp (recovery's store query relies on it).
  int64_t now = wallNowNs();
  int64_t prev = last_observed_.load();
  int64_t next;
  do {
    next = std::max(now, prev + 1);
  } while (!last_observed_.compare_exchange_weak(prev, next));
  return next;
}

bool EventsReceiver::connect() {
  auto log = logging::get("k8s.events");
  try {
    auto config = options_.cluster();
    auto api = std::make_unique<k8s::ApiClient>(config);
    k8s::ListOptions probe;
    probe.limit = 1;
    api->list(k8s::coreEvents(), options_.namespaces.empty() ? "" : options_.namespaces.front(), probe);
    log->info("connected to Kubernetes API {} ({})", config.server, config.source);
    api_ = std::move(api);
    if (options_.leader.enabled) elector_ = std::make_unique<LeaderElector>(*api_, options_.leader);
    connected_ = true;
    return true;
  } catch (const std::exception& e) {
    if (!hint_logged_) {
      hint_logged_ = true;
      log->warn(
          "no Kubernetes cluster reachable ({}). Point kobs at one with --set k8s.kubeconfig=/path/to/kubeconfig, "
          "the KUBECONFIG environment variable, or run it in a cluster with a service account; or try the built-in "
          "demo: make run ARGS=--demo. kobs keeps serving and retries in the background.",
          e.what());
    } else {
      log->debug("Kubernetes API still unreachable: {}", e.what());
    }
    return false;
  }
}

void EventsReceiver::run(std::stop_token stop) {
  auto log = logging::get("k8s.events");
  auto backoff = options_.backoff_initial;
  while (!stop.stop_requested() && !connect()) {
    if (!sleepFor(stop, backoff)) return;
    backoff = std::min(backoff * 2, std::max(options_.backoff_max, options_.backoff_initial));
  }
  backoff = options_.backoff_initial;
  while (!stop.stop_requested()) {
    const bool want = !elector_ || elector_->tick();
    leading_ = elector_ ? want : true;
    if (!want && state_ != State::kIdle) {
      stopWatchers();
      state_ = State::kIdle;
    }
    if (want && state_ == State::kIdle) state_ = State::kRecovering;
    if (state_ == State::kRecovering) {
      if (recover()) {
        startWatchers();
        state_ = State::kWatching;
        backoff = options_.backoff_initial;
      } else {
        persistCheckpoint(false);
        if (!sleepFor(stop, backoff)) break;
        backoff = std::min(backoff * 2, std::max(options_.backoff_max, options_.backoff_initial));
        continue;
      }
    }
    if (state_ == State::kWatching) {
      auto oldest = ledger_->oldestPending();
      if (oldest && Clock::now() - *oldest > options_.stall_timeout && pipeline_.buffer().pendingBatches() == 0) {
        ++stats_.stalls;
        log->warn("{} rows waited more than {} ms for their commit with the disk buffer empty: presumed lost, "
                  "recovering from the checkpoint",
                  ledger_->pending(), options_.stall_timeout.count());
        stopWatchers();
        ledger_->dropInFlight();
        state_ = State::kRecovering;
        continue;
      }
    }
    if (Clock::now() - last_prune_ > std::chrono::minutes(1)) {
      last_prune_ = Clock::now();
      ledger_->pruneOlderThan(wallNowNs() - std::chrono::nanoseconds(options_.max_age).count());
    }
    persistCheckpoint(false);
    if (!sleepFor(stop, options_.tick)) break;
  }
}

bool EventsReceiver::recover() {
  auto log = logging::get("k8s.events");
  // (1) Rows of a previous run still in the disk buffer reach the store
  // first: every batch appended before recovery began must be committed.
  // (Not "buffer empty": other producers may keep it busy for ever.)
  auto& buffer = pipeline_.buffer();
  if (!drain_target_) {
    for (;;) {
      const uint64_t c1 = buffer.committedSeq();
      const uint64_t pending = buffer.pendingBatches();
      if (buffer.committedSeq() == c1) {
        drain_target_ = c1 + pending;
        break;
      }
    }
  }
  const auto wait_until = Clock::now() + std::chrono::seconds(1);
  while (buffer.committedSeq() < *drain_target_ && Clock::now() < wait_until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (buffer.committedSeq() < *drain_target_) {
    log->debug("recovery: waiting for the disk buffer to replay (committed {} of {})", buffer.committedSeq(),
               *drain_target_);
    return false;
  }
  // (2) The pairs stored after the checkpoint's newest applied row.
  int64_t since = ledger_->committedObservedNs();
  if (since == 0) since = wallNowNs() - std::chrono::nanoseconds(options_.max_age).count();
  since -= std::chrono::nanoseconds(options_.recovery_margin).count();
  const std::string table =
      store::quoteIdentifier(store_.database()) + "." + store::quoteIdentifier(pipeline_.logs().encoder().table());
  const std::string sql = fmt::format(
      "SELECT LogAttributes['k8s.event.uid'], JSONExtractString(Body, 'object', 'metadata', 'resourceVersion'), "
      "toUnixTimestamp64Nano(Timestamp), LogAttributes['{}'] FROM {} "
      "WHERE ResourceAttributes['telemetry.source'] = 'k8s-events' "
      "AND Timestamp >= fromUnixTimestamp64Nano(toInt64({}))",
      kWatchAttribute, table, since);
  store::QueryResult result;
  try {
    result = store_.query(sql, "TabSeparated");
  } catch (const std::exception& e) {
    log->warn("recovery: cannot query the store for stored events ({}); retrying", e.what());
    return false;
  }
  uint64_t pairs = 0;
  // Per watch key: the newest resourceVersion of a watch row, and whether
  // some rows' versions could not be ordered (then the store says nothing).
  std::map<std::string, std::pair<std::string, bool>> newest;
  std::string_view data = result.data;
  while (!data.empty()) {
    auto nl = data.find('\n');
    auto line = data.substr(0, nl);
    data = nl == std::string_view::npos ? std::string_view{} : data.substr(nl + 1);
    auto t1 = line.find('\t');
    auto t2 = t1 == std::string_view::npos ? t1 : line.find('\t', t1 + 1);
    auto t3 = t2 == std::string_view::npos ? t2 : line.find('\t', t2 + 1);
    if (t3 == std::string_view::npos) continue;
    std::string uid(line.substr(0, t1)), rv(line.substr(t1 + 1, t2 - t1 - 1));
    if (uid.empty() || rv.empty()) continue;
    int64_t t = std::atoll(std::string(line.substr(t2 + 1, t3 - t2 - 1)).c_str());
    ledger_->addStored(uid, rv, t);
    ++pairs;
    const std::string_view watch = line.substr(t3 + 1);
    if (watch.empty()) continue;
    auto& [best, opaque] = newest[std::string(watch)];
    if (best.empty()) {
      best = rv;
    } else if (auto c = compareResourceVersions(rv, best)) {
      if (*c > 0) best = rv;
    } else {
      opaque = true;
    }
  }
  // (3) Resume each watch after the newest of its rows the store holds, when
  // the checkpoint is older. Rows of one watch become durable in the order
  // they were added (one batcher, a FIFO disk buffer, all of it replayed in
  // step 1), so every notification of that watch up to the newest stored row
  // is stored or was skipped on purpose. This is what a run that died before
  // its checkpoint caught up leaves behind.
  std::vector<std::string> keys;
  if (options_.namespaces.empty()) keys.emplace_back("*");
  for (const auto& ns : options_.namespaces) keys.push_back(ns);
  for (const auto& [watch, v] : newest) {
    // Rows of a watch this configuration does not run vouch for nothing here.
    if (std::find(keys.begin(), keys.end(), watch) == keys.end()) continue;
    const auto& [rv, opaque] = v;
    if (opaque) {
      log->warn("recovery: watch {} rows carry resourceVersions that do not compare as numbers; resuming from the "
                "checkpoint only",
                watch);
      continue;
    }
    const std::string before = ledger_->resumeVersion(watch);
    if (ledger_->raiseResume(watch, rv))
      log->info("recovery: watch {} resumes after resourceVersion {} found in the store (checkpoint: {})", watch, rv,
                before.empty() ? "none" : before);
  }
  drain_target_.reset();
  ++stats_.recoveries;
  stats_.recovered_pairs += pairs;
  log->info("recovery: disk buffer drained, {} stored notifications found since the checkpoint", pairs);
  return true;
}

void EventsReceiver::startWatchers() {
  std::vector<std::pair<std::string, std::string>> keys;  // (key, ns)
  if (options_.namespaces.empty()) keys.emplace_back("*", "");
  for (const auto& ns : options_.namespaces) keys.emplace_back(ns, ns);
  std::lock_guard lock(watchers_mutex_);
  for (const auto& [key, ns] : keys) {
    auto w = std::make_unique<Watch>(options_.mapping);
    w->key = key;
    w->ns = ns;
    k8s::ListWatcherOptions lo;
    lo.resource = k8s::coreEvents();
    lo.ns = ns;
    lo.resume_resource_version = ledger_->resumeVersion(key);
    lo.watch_timeout_seconds = options_.watch_timeout_seconds;
    lo.backoff_initial = options_.backoff_initial;
    lo.backoff_max = options_.backoff_max;
    lo.max_line_bytes = options_.max_line_bytes;
    Watch* wp = w.get();
    k8s::ListWatcherHandlers h;
    h.on_list = [this, wp](std::vector<std::string>& items, const std::string& rv, k8s::ListReason reason) {
      onList(*wp, items, rv, reason);
    };
    h.on_event = [this, wp](k8s::WatchEventType t, std::string_view obj, std::string_view rv) {
      onEvent(*wp, t, obj, rv);
    };
    h.on_bookmark = [this, wp](std::string_view rv) { onBookmark(*wp, rv); };
    w->watcher = std::make_unique<k8s::ListWatcher>(*api_, lo, std::move(h));
    w->watcher->start();
    watchers_.push_back(std::move(w));
  }
  watching_ = true;
}

void EventsReceiver::stopWatchers() {
  std::vector<std::unique_ptr<Watch>> old;
  {
    std::lock_guard lock(watchers_mutex_);
    old.swap(watchers_);
  }
  for (auto& w : old) w->watcher->stop();
  std::lock_guard lock(watchers_mutex_);
  for (auto& w : old) {
#define KOBS_RETIRE(name, help) retired_.name += w->watcher->stats().name.load();
    KOBS_LIST_WATCHER_COUNTERS(KOBS_RETIRE)
#undef KOBS_RETIRE
  }
  watching_ = false;
}

uint64_t EventsReceiver::watcherStat(std::atomic<uint64_t> k8s::ListWatcherStats::* field) const {
  std::lock_guard lock(watchers_mutex_);
  uint64_t total = (retired_.*field).load();
  for (const auto& w : watchers_) total += (w->watcher->stats().*field).load();
  return total;
}

void EventsReceiver::persistCheckpoint(bool force) {
  // The control thread and the watcher threads (after a list) both write.
  std::lock_guard lock(checkpoint_mutex_);
  if (!force && Clock::now() - last_checkpoint_ < options_.checkpoint_interval) return;
  last_checkpoint_ = Clock::now();
  auto json = force ? std::optional<std::string>(ledger_->checkpointJson()) : ledger_->checkpointIfDirty();
  if (!json) return;
  try {
    writeFileAtomically(checkpoint_file_, *json);
    ++stats_.checkpoint_writes;
  } catch (const std::exception& e) {
    ++stats_.checkpoint_errors;
    logging::get("k8s.events")->error("cannot write checkpoint: {}", e.what());
  }
}

void EventsReceiver::emit(Watch& w, std::string_view type, std::string_view object, const ParsedEvent& e,
                          const std::string& resume_rv) {
  std::string id;
  if (resolver_) {
    composition::ObjectRef ref{e.involved.api_version, e.involved.kind, e.involved.ns.empty() ? e.ns : e.involved.ns,
                               e.involved.name, e.involved.uid};
    id = resolver_->resolve(ref);
  }
  const int64_t observed = observedNow();
  auto record = w.mapper.toRecord(type, object, e, observed, id);
  // A row from the watch stream says where that watch may resume once the
  // row is durable (its resourceVersion is the watch's position): recovery
  // reads the newest one back from the store. List rows say nothing (a list
  // is in no version order; onList() records its version instead).
  if (!resume_rv.empty()) record.attributes.emplace_back(std::string(kWatchAttribute), w.key);
  LedgerEntry entry;
  entry.watch = w.key;
  entry.uid = keyOf(e);
  entry.rv = e.resource_version;
  entry.resume_rv = resume_rv;
  entry.last_time_ns = e.last_time_ns ? e.last_time_ns : observed;
  entry.observed_ns = observed;
  entry.deleted = type == "DELETED";
  const uint64_t ticket = ledger_->begin(std::move(entry));
  try {
    pipeline_.logs().add(record, [ledger = ledger_, ticket](bool ok) { ledger->complete(ticket, ok); });
  } catch (...) {
    ++stats_.add_failures;
    ledger_->abort(ticket);
    throw;  // the ListWatcher backs off and delivers this notification again
  }
  ++stats_.rows_added;
}

void EventsReceiver::onList(Watch& w, std::vector<std::string>& items, const std::string& rv,
                            k8s::ListReason reason) {
  const int64_t min_time = wallNowNs() - std::chrono::nanoseconds(options_.max_age).count();
  for (const auto& item : items) {
    ++stats_.notifications;
    const ParsedEvent* e = nullptr;
    try {
      e = &w.mapper.parse(item);
    } catch (const Exception&) {
      ++stats_.bad_objects;
      continue;
    }
    if (e->last_time_ns != 0 && e->last_time_ns < min_time) {
      ++stats_.skipped_old;
      continue;
    }
    const std::string key = keyOf(*e);
    if (ledger_->seen(key, e->resource_version)) {
      ++stats_.duplicates;
      continue;
    }
    // A known uid with a new version changed while we were not watching.
    emit(w, ledger_->knownUid(key) ? "MODIFIED" : "ADDED", item, *e, {});
  }
  // The watch starts from `rv` only once the list's rows (and any row added
  // before them) are in the disk buffer and `rv` is in the checkpoint: a
  // crash after this point resumes after the list instead of listing again,
  // which would keep only each event's newest version. flush() throws when
  // the buffer stays full; the ListWatcher then lists again (items already
  // added are in flight, so not added twice).
  pipeline_.logs().flush();
  LedgerEntry end;
  end.watch = w.key;
  end.resume_rv = rv;
  ledger_->marker(std::move(end));
  ledger_->raiseResume(w.key, rv);
  persistCheckpoint(true);
  logging::get("k8s.events")
      ->info("{} list of {} ({} items at resourceVersion {})", k8s::listReasonName(reason),
             w.ns.empty() ? "all namespaces" : w.ns, items.size(), rv);
}

void EventsReceiver::onEvent(Watch& w, k8s::WatchEventType type, std::string_view object, std::string_view rv) {
  ++stats_.notifications;
  const ParsedEvent* e = nullptr;
  try {
    e = &w.mapper.parse(object);
  } catch (const Exception&) {
    ++stats_.bad_objects;
    LedgerEntry skip;
    skip.watch = w.key;
    skip.resume_rv = std::string(rv);
    ledger_->marker(std::move(skip));
    return;
  }
  const std::string key = keyOf(*e);
  LedgerEntry marker;
  marker.watch = w.key;
  marker.uid = key;
  marker.resume_rv = std::string(rv);
  if (type == k8s::WatchEventType::kDeleted && !options_.store_deleted) {
    ++stats_.skipped_deleted;
    marker.deleted = true;
    ledger_->marker(std::move(marker));
    return;
  }
  if (ledger_->seen(key, e->resource_version)) {
    ++stats_.duplicates;
    ledger_->marker(std::move(marker));
    return;
  }
  emit(w, typeName(type), object, *e, std::string(rv));
}

void EventsReceiver::onBookmark(Watch& w, std::string_view rv) {
  LedgerEntry m;
  m.watch = w.key;
  m.resume_rv = std::string(rv);
  ledger_->marker(std::move(m));
}

void EventsReceiver::shutdown(Clock::time_point deadline) {
  if (shut_down_) return;
  shut_down_ = true;
  if (thread_.joinable()) {
    thread_.request_stop();
    cv_.notify_all();
    thread_.join();
  }
  stopWatchers();
  if (elector_) elector_->release();
  // Let our rows commit (half the time left at most: the pipeline needs the
  // rest), so the checkpoint written below is as fresh as it can be.
  if (ledger_->pending() > 0) {
    try {
      pipeline_.logs().flush();
    } catch (const std::exception&) {
    }
    auto until = Clock::now() + (deadline - Clock::now()) / 2;
    while (ledger_->pending() > 0 && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (started_) persistCheckpoint(true);
}

void EventsReceiver::registerMetrics(metrics::Registry& m) {
  const metrics::Labels l = {{"component", "k8s_events"}};
  auto c = [&](const char* name, const char* help, std::function<double()> f) { m.counterCallback(name, help, f, l); };
  c("kobs_k8s_events_notifications_total", "Watch notifications and list items received.",
    [this] { return double(stats_.notifications.load()); });
  c("kobs_k8s_events_rows_stored_total", "Event rows committed to the store.",
    [l = ledger_] { return double(l->counts().rows_committed); });
  c("kobs_k8s_events_rows_lost_total", "Event rows the store rejected for good (dead-lettered).",
    [l = ledger_] { return double(l->counts().rows_lost); });
  c("kobs_k8s_events_duplicates_suppressed_total", "Notifications already stored or in flight, not stored again.",
    [this] { return double(stats_.duplicates.load()); });
  m.counterCallback("kobs_k8s_events_skipped_total", "Notifications deliberately not stored.",
                    [this] { return double(stats_.skipped_old.load()); }, {{"component", "k8s_events"}, {"reason", "too_old"}});
  m.counterCallback("kobs_k8s_events_skipped_total", "Notifications deliberately not stored.",
                    [this] { return double(stats_.skipped_deleted.load()); }, {{"component", "k8s_events"}, {"reason", "deleted"}});
  m.counterCallback("kobs_k8s_events_skipped_total", "Notifications deliberately not stored.",
                    [this] { return double(stats_.bad_objects.load()); }, {{"component", "k8s_events"}, {"reason", "bad_object"}});
  c("kobs_k8s_events_recoveries_total", "Recoveries (start, leadership, stall): buffer drained, store queried.",
    [this] { return double(stats_.recoveries.load()); });
  c("kobs_k8s_events_watch_restarts_total", "Watches re-opened after a normal end, timeout or error.",
    [this] { return double(watcherStat(&k8s::ListWatcherStats::watch_restarts)); });
  c("kobs_k8s_events_relists_total", "Lists forced by 410 Gone.",
    [this] { return double(watcherStat(&k8s::ListWatcherStats::relists)); });
  c("kobs_k8s_events_bad_lines_total", "Truncated, non-JSON or oversize watch lines skipped.", [this] {
    return double(watcherStat(&k8s::ListWatcherStats::bad_lines) + watcherStat(&k8s::ListWatcherStats::oversize_lines));
  });
  c("kobs_k8s_events_error_notifications_total", "ERROR watch notifications (other than 410) skipped.",
    [this] { return double(watcherStat(&k8s::ListWatcherStats::error_events)); });
  c("kobs_k8s_api_calls_total", "Kubernetes API calls (lists, watches, lookups).", [this] {
    return double(watcherStat(&k8s::ListWatcherStats::api_calls) +
                  (resolver_ ? resolver_->stats().api_calls.load() : 0));
  });
  c("kobs_k8s_api_errors_total", "Failed Kubernetes API calls.", [this] {
    return double(watcherStat(&k8s::ListWatcherStats::errors) + (resolver_ ? resolver_->stats().api_errors.load() : 0));
  });
  m.gaugeCallback("kobs_k8s_events_leader", "1 when this replica watches events (leader, or no election).",
                  [this] { return leading_ && watching_ ? 1.0 : 0.0; }, l);
  m.gaugeCallback("kobs_k8s_events_tracked", "Live events whose stored versions the checkpoint tracks.",
                  [l = ledger_] { return double(l->storedEvents()); }, {{"component", "k8s_events"}});
  const metrics::Labels r = {{"component", "composition_resolver"}};
  m.counterCallback("kobs_composition_cache_hits_total", "Composition lookups answered by the cache.",
                    [this] { return resolver_ ? double(resolver_->stats().cache_hits.load()) : 0.0; }, r);
  m.counterCallback("kobs_composition_cache_misses_total", "Composition lookups that needed the API.",
                    [this] { return resolver_ ? double(resolver_->stats().cache_misses.load()) : 0.0; }, r);
  m.gaugeCallback("kobs_composition_cache_hit_ratio", "Cache hits / lookups since start.",
                  [this] { return resolver_ ? resolver_->hitRatio() : 0.0; }, r);
  m.gaugeCallback("kobs_composition_cache_entries", "Entries in the composition cache.",
                  [this] { return resolver_ ? double(resolver_->cacheSize()) : 0.0; }, r);
  m.counterCallback("kobs_composition_api_calls_total", "GETs of involved objects and their owners.",
                    [this] { return resolver_ ? double(resolver_->stats().api_calls.load()) : 0.0; }, r);
  m.counterCallback("kobs_composition_api_errors_total", "GETs that failed (the event is stored without an id).",
                    [this] { return resolver_ ? double(resolver_->stats().api_errors.load()) : 0.0; }, r);
  m.counterCallback("kobs_composition_budget_exhausted_total", "Lookups skipped: the per-second API budget was spent.",
                    [this] { return resolver_ ? double(resolver_->stats().budget_exhausted.load()) : 0.0; }, r);
}

}  // namespace kobs::collect::k8s_events
