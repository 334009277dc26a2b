// GET / on the main listener: a small HTML page with what kobs is doing (the
// status model's sections), the version, the role, the listen addresses and
// links to the other endpoints. No JavaScript and no external assets; it
// reloads itself every few seconds (meta refresh). Built only from this
// process's metrics registry, so it never waits on the store.
//
// Threading: render() may run on any HTTP thread; the previous snapshot
// (for rates) is guarded by a mutex held only while it is swapped.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "app/status/status_model.h"
#include "common/metrics.h"
#include "http/router.h"

namespace kobs::app::status {

struct PageInfo {
  std::string version;
  std::string role;
  std::chrono::steady_clock::time_point started;
  // (what, URL) of each listener running now; called per request.
  std::function<std::vector<std::pair<std::string, std::string>>()> listeners;
  int refresh_seconds = 2;
};

class StatusPage {
 public:
  StatusPage(const metrics::Registry& registry, PageInfo info);
  void addRoutes(http::Router& router);
  std::string render();

 private:
  const metrics::Registry& registry_;
  const PageInfo info_;
  std::mutex mutex_;
  std::optional<Snapshot> previous_;  // the newest snapshot at least a second old
};

std::string htmlEscape(std::string_view text);

}  // namespace kobs::app::status
