// ListWatcher: keeps a caller in step with one resource collection, the way
// client-go's reflector does. It lists (paged), then watches from the list's
// resourceVersion; when a watch ends normally it watches again from the last
// version it handed out; on 410 Gone (HTTP or ERROR event) it relists. It can
// also resume from a stored resourceVersion without listing; if that version
// is too old it relists and says so (ListReason::kResumeExpired), so the
// caller knows the gap must be filled from the list.
//
// Delivery is at least once: a version counts as handed out only after the
// handler returned, and a handler that throws makes the next watch start
// again before that event (after a backoff).
//
// Threading: run() blocks its calling thread; start()/stop() own a worker
// thread for it. Handlers run on that thread, one at a time. stats() and
// resourceVersion() may be read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "k8s/api_client.h"

namespace kobs::k8s {

enum class ListReason : uint8_t {
  kInitial = 0,        // first start, no version to resume from
  kExpired = 1,        // a watch got 410 Gone: events between may be missed, diff against the list
  kResumeExpired = 2,  // the resume version was older than the server keeps
};

std::string_view listReasonName(ListReason reason);

struct ListWatcherOptions {
  ResourceRef resource;
  std::string ns;                       // "" = all namespaces
  std::string label_selector;
  std::string field_selector;
  int64_t page_size = 500;
  std::string resume_resource_version;  // non-empty: watch from here without an initial list
  int watch_timeout_seconds = 300;      // server-side timeout of each watch
  std::chrono::milliseconds idle_timeout{0};  // client-side; 0: watch_timeout_seconds + 30 s
  std::chrono::milliseconds backoff_initial = std::chrono::milliseconds(200);
  std::chrono::milliseconds backoff_max = std::chrono::seconds(30);
  size_t max_line_bytes = WatchDecoder::kDefaultMaxLineBytes;
};

struct ListWatcherHandlers {
  // All objects at `resource_version`; items may be moved from.
  std::function<void(std::vector<std::string>& items, const std::string& resource_version, ListReason reason)> on_list;
  // ADDED / MODIFIED / DELETED; views valid during the call only.
  std::function<void(WatchEventType type, std::string_view object, std::string_view resource_version)> on_event;
  // The collection is at `resource_version` (optional).
  std::function<void(std::string_view resource_version)> on_bookmark;
};

// Counters for /metrics; X-macro so each one is greppable and listed once.
#define KOBS_LIST_WATCHER_COUNTERS(X)                                            \
  X(lists, "completed lists (initial and relists)")                             \
  X(relists, "lists forced by 410 Gone")                                        \
  X(watches, "watch requests opened")                                           \
  X(watch_restarts, "watches re-opened after a normal end, timeout or error")   \
  X(api_calls, "list pages plus watch requests")                                \
  X(errors, "failed lists and watches, and handler failures")                   \
  X(events, "ADDED/MODIFIED/DELETED handed to on_event")                        \
  X(bookmarks, "BOOKMARK events")                                               \
  X(error_events, "ERROR events other than 410, skipped")                       \
  X(bad_lines, "truncated or non-JSON watch lines, skipped")                    \
  X(oversize_lines, "watch lines above max_line_bytes, skipped")

struct ListWatcherStats {
#define KOBS_DECLARE_COUNTER(name, help) std::atomic<uint64_t> name{0};
  KOBS_LIST_WATCHER_COUNTERS(KOBS_DECLARE_COUNTER)
#undef KOBS_DECLARE_COUNTER
};

class ListWatcher {
 public:
  ListWatcher(ApiClient& api, ListWatcherOptions options, ListWatcherHandlers handlers);
  ~ListWatcher();
  ListWatcher(const ListWatcher&) = delete;
  ListWatcher& operator=(const ListWatcher&) = delete;

  // Runs until the token is stopped. Never throws for API failures (they are
  // counted, logged and retried); exceptions from handlers are caught the same way.
  void run(std::stop_token stop);

  // run() on an owned thread. start() twice is a no-op; stop() is idempotent,
  // safe before start(), and returns once the thread has ended.
  void start();
  void stop();

  const ListWatcherStats& stats() const { return stats_; }
  // The last version handed out (list, event or bookmark).
  std::string resourceVersion() const;

 private:
  void setResourceVersion(std::string_view rv);
  bool sleepBackoff(std::stop_token& stop, std::chrono::milliseconds& backoff);

  ApiClient& api_;
  const ListWatcherOptions options_;
  const ListWatcherHandlers handlers_;
  ListWatcherStats stats_;
  mutable std::mutex mutex_;
  std::condition_variable_any wake_;
  std::string resource_version_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::jthread thread_;
};

}  // namespace kobs::k8s
