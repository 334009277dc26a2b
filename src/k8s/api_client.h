// ApiClient: the Kubernetes REST calls kobs needs, on top of HttpClient —
// list (one page, or all pages), watch (streamed, decoded by WatchDecoder),
// GET/POST/PUT/DELETE of one object, and GET of any object by
// apiVersion+kind through discovery.
//
// Objects cross this interface as raw JSON text exactly as the server sent
// it; callers parse what they need.
//
// Threading: thread-safe; calls may run concurrently (a watch in one thread,
// lookups in others). watch() blocks its caller until the stream ends or the
// stop token fires.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "k8s/api_error.h"
#include "k8s/cluster_config.h"
#include "k8s/discovery.h"
#include "k8s/http_client.h"
#include "k8s/resource.h"
#include "k8s/watch_decoder.h"

namespace kobs::k8s {

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;                   // page size; 0: no paging
  std::string continue_token;
  std::string resource_version;        // "" (most recent, quorum read), "0" (any), or a version
  std::string resource_version_match;  // "", "NotOlderThan", "Exact"
};

struct ListResult {
  std::vector<std::string> items;      // raw JSON of each object
  std::string resource_version;        // the list's metadata.resourceVersion: watch from here
  std::string continue_token;          // empty on the last page
  int64_t remaining_item_count = -1;   // -1 when the server did not say
};

struct WatchOptions {
  std::string resource_version;        // start after this version; "" = from now (with synthetic ADDEDs)
  std::string label_selector;
  std::string field_selector;
  bool allow_bookmarks = true;
  int timeout_seconds = 300;           // server-side: the server ends the watch after this
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(0);  // client-side; 0: timeout_seconds + 30 s
  size_t max_line_bytes = WatchDecoder::kDefaultMaxLineBytes;
  std::stop_token stop;
};

enum class WatchOutcome : uint8_t {
  kClosed = 0,       // the server ended the stream normally: watch again from last_resource_version
  kExpired = 1,      // 410 Gone / Expired (HTTP or ERROR event): relist
  kStopped = 2,      // the stop token fired
  kIdleTimeout = 3,  // nothing (not even a bookmark) arrived for idle_timeout
  kFailed = 4,       // transport error or an HTTP error status (see http_status, error)
};

std::string_view watchOutcomeName(WatchOutcome outcome);

struct WatchResult {
  WatchOutcome outcome = WatchOutcome::kClosed;
  int http_status = 0;
  std::string error;                   // human-readable cause for kExpired/kFailed
  std::string last_resource_version;   // of the last event or bookmark handed out ("" if none)
  uint64_t events = 0;                 // ADDED/MODIFIED/DELETED handed to the handler
  uint64_t bookmarks = 0;
  uint64_t error_events = 0;           // ERROR events other than 410 (skipped, the watch goes on)
  uint64_t bad_lines = 0;              // truncated / non-JSON / unknown type, skipped
  uint64_t oversize_lines = 0;         // longer than max_line_bytes, skipped
};

// Receives ADDED/MODIFIED/DELETED and BOOKMARK; ERROR events never reach it.
using WatchHandler = std::function<void(const WatchEvent&)>;

class ApiClient {
 public:
  explicit ApiClient(ClusterConfig config, HttpOptions http_options = {}, DiscoveryOptions discovery_options = {});
  ~ApiClient();

  // One page. Throws ApiError (isGone() when a continue token or version expired).
  ListResult list(const ResourceRef& ref, std::string_view ns, const ListOptions& options = {});
  // All pages, `page_size` objects at a time; the result carries the first
  // page's resourceVersion (all pages are one consistent snapshot).
  ListResult listAll(const ResourceRef& ref, std::string_view ns, ListOptions options = {}, int64_t page_size = 500);
  // Same, handing out each page instead of collecting (large collections).
  std::string listPages(const ResourceRef& ref, std::string_view ns, ListOptions options, int64_t page_size,
                        const std::function<void(ListResult& page)>& on_page);

  WatchResult watch(const ResourceRef& ref, std::string_view ns, const WatchOptions& options,
                    const WatchHandler& handler);

  // nullopt on 404; other failures throw ApiError.
  std::optional<std::string> get(const ResourceRef& ref, std::string_view ns, std::string_view name);
  // Any object by apiVersion and kind (resource found through discovery);
  // nullopt when the object or its kind does not exist.
  std::optional<std::string> getObject(std::string_view api_version, std::string_view kind, std::string_view ns,
                                       std::string_view name);
  // POST / PUT (with metadata.resourceVersion for optimistic concurrency) / DELETE.
  // Return the object the server stored. 409 throws ApiError with isConflict().
  std::string create(const ResourceRef& ref, std::string_view ns, std::string_view object_json);
  std::string update(const ResourceRef& ref, std::string_view ns, std::string_view name, std::string_view object_json);
  void remove(const ResourceRef& ref, std::string_view ns, std::string_view name);

  Discovery& discovery() { return *discovery_; }
  HttpClient& http() { return *http_; }

  uint64_t apiCalls() const { return http_->requests(); }
  uint64_t apiErrors() const { return errors_.load(std::memory_order_relaxed); }

 private:
  std::string checked(HttpResponse response, std::string_view what);

  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<Discovery> discovery_;
  std::atomic<uint64_t> errors_{0};
};

}  // namespace kobs::k8s
