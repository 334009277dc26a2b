#include "k8s/list_watcher.h"

#include "common/logging.h"

namespace kobs::k8s {

std::string_view listReasonName(ListReason reason) {
  switch (reason) {
    case ListReason::kInitial: return "initial";
    case ListReason::kExpired: return "expired";
    case ListReason::kResumeExpired: return "resume_expired";
  }
  return "unknown";
}

ListWatcher::ListWatcher(ApiClient& api, ListWatcherOptions options, ListWatcherHandlers handlers)
    : api_(api), options_(std::move(options)), handlers_(std::move(handlers)) {
  std::lock_guard lock(mutex_);
  resource_version_ = options_.resume_resource_version;
}

ListWatcher::~ListWatcher() { stop(); }

void ListWatcher::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void ListWatcher::stop() {
  std::jthread thread;
  {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable()) return;
    thread_.request_stop();
    // stop() from a handler must not join its own thread.
    if (thread_.get_id() == std::this_thread::get_id()) return;
    thread = std::move(thread_);
  }
  thread.join();
}

std::string ListWatcher::resourceVersion() const {
  std::lock_guard lock(mutex_);
  return resource_version_;
}

void ListWatcher::setResourceVersion(std::string_view rv) {
  std::lock_guard lock(mutex_);
  resource_version_ = rv;
}

bool ListWatcher::sleepBackoff(std::stop_token& stop, std::chrono::milliseconds& backoff) {
  // Full jitter in [backoff/2, backoff]: replicas that failed together retry apart.
  std::uniform_int_distribution<int64_t> dist(backoff.count() / 2, std::max<int64_t>(backoff.count(), 1));
  auto delay = std::chrono::milliseconds(dist(rng_));
  backoff = std::min(backoff * 2, options_.backoff_max);
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, stop, delay, [] { return false; });
  return !stop.stop_requested();
}

void ListWatcher::run(std::stop_token stop) {
  auto log = logging::get("k8s.listwatch");
  const std::string what = resourcePath(options_.resource, options_.ns);
  std::string rv = resourceVersion();
  bool need_list = rv.empty();
  bool resuming = !rv.empty();
  ListReason reason = ListReason::kInitial;
  auto backoff = options_.backoff_initial;

  while (!stop.stop_requested()) {
    if (need_list) {
      try {
        ListOptions lo;
        lo.label_selector = options_.label_selector;
        lo.field_selector = options_.field_selector;
        ListResult all;
        all.resource_version = api_.listPages(options_.resource, options_.ns, lo, options_.page_size, [&](ListResult& page) {
          stats_.api_calls.fetch_add(1, std::memory_order_relaxed);
          all.items.insert(all.items.end(), std::make_move_iterator(page.items.begin()),
                           std::make_move_iterator(page.items.end()));
        });
        stats_.lists.fetch_add(1, std::memory_order_relaxed);
        if (reason != ListReason::kInitial) stats_.relists.fetch_add(1, std::memory_order_relaxed);
        log->info("listed {} objects={} resource_version={} reason={}", what, all.items.size(), all.resource_version,
                  listReasonName(reason));
        if (handlers_.on_list) handlers_.on_list(all.items, all.resource_version, reason);
        rv = all.resource_version;
        setResourceVersion(rv);
        need_list = false;
        backoff = options_.backoff_initial;
      } catch (const std::exception& e) {
        stats_.api_calls.fetch_add(1, std::memory_order_relaxed);
        stats_.errors.fetch_add(1, std::memory_order_relaxed);
        log->warn("list {} failed, retrying: {}", what, e.what());
        if (!sleepBackoff(stop, backoff)) return;
        continue;
      }
    }

    WatchOptions wo;
    wo.resource_version = rv;
    wo.label_selector = options_.label_selector;
    wo.field_selector = options_.field_selector;
    wo.timeout_seconds = options_.watch_timeout_seconds;
    wo.idle_timeout = options_.idle_timeout;
    wo.max_line_bytes = options_.max_line_bytes;
    wo.stop = stop;
    stats_.watches.fetch_add(1, std::memory_order_relaxed);
    stats_.api_calls.fetch_add(1, std::memory_order_relaxed);
    WatchResult result;
    bool handler_failed = false;
    auto started = std::chrono::steady_clock::now();
    try {
      result = api_.watch(options_.resource, options_.ns, wo, [&](const WatchEvent& event) {
        if (event.type == WatchEventType::kBookmark) {
          stats_.bookmarks.fetch_add(1, std::memory_order_relaxed);
          if (handlers_.on_bookmark) handlers_.on_bookmark(event.resource_version);
        } else {
          stats_.events.fetch_add(1, std::memory_order_relaxed);
          if (handlers_.on_event) handlers_.on_event(event.type, event.object, event.resource_version);
        }
        // Advanced only once the handler accepted the event.
        if (!event.resource_version.empty()) {
          rv = event.resource_version;
          setResourceVersion(rv);
        }
      });
    } catch (const std::exception& e) {
      handler_failed = true;
      stats_.errors.fetch_add(1, std::memory_order_relaxed);
      log->warn("watch {} handler failed, re-watching from {}: {}", what, rv, e.what());
    }
    stats_.bad_lines.fetch_add(result.bad_lines, std::memory_order_relaxed);
    stats_.oversize_lines.fetch_add(result.oversize_lines, std::memory_order_relaxed);
    stats_.error_events.fetch_add(result.error_events, std::memory_order_relaxed);
    if (result.bad_lines + result.oversize_lines + result.error_events > 0)
      log->warn("watch {} skipped bad_lines={} oversize_lines={} error_events={}", what, result.bad_lines,
                result.oversize_lines, result.error_events);
    if (stop.stop_requested()) return;
    if (handler_failed) {
      stats_.watch_restarts.fetch_add(1, std::memory_order_relaxed);
      if (!sleepBackoff(stop, backoff)) return;
      continue;
    }
    switch (result.outcome) {
      case WatchOutcome::kStopped:
        return;
      case WatchOutcome::kExpired:
        log->info("watch {} from {} expired, relisting: {}", what, rv, result.error);
        need_list = true;
        reason = resuming && stats_.lists.load() == 0 ? ListReason::kResumeExpired : ListReason::kExpired;
        break;
      case WatchOutcome::kClosed:
      case WatchOutcome::kIdleTimeout: {
        stats_.watch_restarts.fetch_add(1, std::memory_order_relaxed);
        bool productive = result.events + result.bookmarks > 0 ||
                          std::chrono::steady_clock::now() - started > std::chrono::seconds(1);
        if (productive) {
          backoff = options_.backoff_initial;
        } else if (!sleepBackoff(stop, backoff)) {
          return;  // a server that closes at once every time must not be hammered
        }
        break;
      }
      case WatchOutcome::kFailed:
        stats_.watch_restarts.fetch_add(1, std::memory_order_relaxed);
        stats_.errors.fetch_add(1, std::memory_order_relaxed);
        log->warn("watch {} failed (HTTP {}), retrying from {}: {}", what, result.http_status, rv, result.error);
        if (!sleepBackoff(stop, backoff)) return;
        break;
    }
  }
}

}  // namespace kobs::k8s
