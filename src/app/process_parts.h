// The parts of a running kobs process, one member each, and the steps that
// build them. runProcess() (process.cc) runs the steps in this order:
//
//   1. main listener   /healthz /readyz /metrics and the old frontend API
//                      (listeners.cc), up before the store so probes answer
//   2. store           open it and apply the schema, retried until it works
//                      or a signal arrives (store_attach.cc)
//   3. event feed      and the ClickHouse-compatible read endpoint
//                      (listeners.cc)
//   3b. MCP server     tools for AI agents on mcp.listen (mcp_listener.cc)
//   4. presenter       the events-presenter API on its own listener
//                      (presenter_listener.cc)
//   5. pipeline        batchers -> disk buffer -> sender (pipeline_wiring.cc)
//   6. alerts          the alert evaluator (alert_wiring.cc)
//   7. receivers       the collectors feeding the pipeline (receivers.cc)
//   8. shutdown        alerts and receivers first, then the pipeline flushes, then the
//                      listeners and the feed (process.cc: shutdown())
//
// How each part's options come from the configuration: component_options.h.
//
// Members are declared in build order, so whatever way run() ends, a part is
// destroyed before the parts it refers to (the presenter before the feed, the
// listeners before the store).
//
// Threading: built, run and torn down on the main thread; the parts run
// their own threads (see their headers).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "alert/alert_service.h"
#include "app/config.h"
#include "app/process.h"
#include "app/readiness.h"
#include "app/signal_waiter.h"
#include "app/status/status_page.h"
#include "common/component.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/stop.h"
#include "http/http_server.h"
#include "pipeline/pipeline.h"
#include "serve/auth/access_review.h"
#include "serve/auth/authenticator.h"
#include "serve/auth/clientconfig_check.h"
#include "serve/chcompat/clickhouse_endpoint.h"
#include "serve/chcompat/write_path.h"
#include "serve/events/event_feed.h"
#include "serve/events/event_reader.h"
#include "serve/events/events_api.h"
#include "serve/mcp/mcp_http.h"
#include "serve/mcp/mcp_server.h"
#include "serve/mcp/mcp_tools.h"
#include "serve/presenter/event_namespaces.h"
#include "serve/presenter/presenter_api.h"
#include "serve/presenter/presenter_head.h"
#include "serve/presenter/presenter_reader.h"
#include "store/schema/schema_manager.h"
#include "store/store.h"

namespace kobs::app {

class LazyApiClient;

class Process {
 public:
  Process(const KobsConfig& config, const RunOptions& options);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Builds the parts, waits for SIGTERM/SIGINT, stops; the exit code.
  int run();

 private:
  enum class Attach { kReady, kStopped, kFatal };

  // listeners.cc
  void startMainListener();
  void startEventFeed();
  void startClickHouseEndpoint();
  // mcp_listener.cc
  void startMcp();
  void stopMcp();
  // store_attach.cc
  Attach attachStore();
  // presenter_listener.cc
  void startPresenter();
  // pipeline_wiring.cc
  void startPipeline();
  // alert_wiring.cc
  void startAlerts();
  // receivers.cc
  void startReceivers();
  // process.cc
  void onSignal(std::chrono::steady_clock::time_point at);
  // The store's calls are cut short by `deadline` less a margin.
  void stopStoreBy(std::chrono::steady_clock::time_point deadline);
  void shutdown(std::chrono::steady_clock::time_point deadline);
  // What runs where, for the status page: (what, URL or name). Any thread.
  void announce(std::string what, std::string where);
  std::vector<std::pair<std::string, std::string>> announced() const;

  // The frontend APIs run in the roles that serve, when the events view exists.
  bool serving() const {
    return (options_.role == Role::kAll || options_.role == Role::kServe) && config_.schema.krateo_events;
  }

  const KobsConfig& config_;
  const RunOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  // Cuts the store's blocking calls short: at once while attaching, at the
  // shutdown deadline (less a margin) once running. Set from the signal thread.
  StopSource store_stop_;
  std::atomic<bool> store_attached_{false};
  SignalWaiter signals_;
  metrics::Registry registry_;
  metrics::Histogram& insert_latency_;

  // 2. store (declared before the listener: /readyz reads it)
  std::unique_ptr<store::IStore> store_;
  store::schema::Schema schema_;
  Readiness readiness_;

  mutable std::mutex announced_mutex_;
  std::vector<std::pair<std::string, std::string>> announced_;

  // 1. main listener
  std::unique_ptr<status::StatusPage> status_page_;
  std::unique_ptr<serve::auth::Authenticator> authenticator_;
  std::unique_ptr<serve::events::EventsApi> events_api_;
  std::unique_ptr<http::Server> http_;

  // 3. event feed and the ClickHouse-compatible endpoint
  std::unique_ptr<serve::events::EventReader> event_reader_;
  std::unique_ptr<serve::events::EventFeed> event_feed_;
  std::unique_ptr<store::IStore> readonly_store_;
  std::unique_ptr<serve::chcompat::WritePath> ch_writer_;  // before the endpoint, which points at it
  std::unique_ptr<serve::chcompat::ClickHouseEndpoint> ch_endpoint_;
  std::unique_ptr<http::Server> ch_server_;

  // 3b. MCP server
  std::unique_ptr<store::IStore> mcp_store_;  // null: the server store itself (readonly=1 per query)
  std::unique_ptr<serve::mcp::McpTools> mcp_tools_;
  std::unique_ptr<serve::mcp::McpServer> mcp_server_;
  std::unique_ptr<serve::mcp::McpHttp> mcp_http_;
  std::unique_ptr<http::Server> mcp_listener_;

  // 4. presenter
  std::unique_ptr<serve::presenter::PresenterReader> presenter_reader_;
  std::unique_ptr<serve::presenter::PresenterHead> presenter_head_;
  std::unique_ptr<LazyApiClient> presenter_kube_;
  std::unique_ptr<serve::auth::ClientConfigCheck> presenter_clientconfig_;
  std::unique_ptr<serve::auth::NamespaceAuthorizer> presenter_authorizer_;
  std::unique_ptr<serve::presenter::EventNamespaces> presenter_namespaces_;
  std::unique_ptr<serve::presenter::PresenterApi> presenter_api_;
  std::unique_ptr<http::Server> presenter_server_;

  // 5. pipeline (its writers' stores outlive it)
  std::vector<std::unique_ptr<store::IStore>> writer_stores_;
  std::unique_ptr<pipeline::Pipeline> pipeline_;

  // 6. alerts
  std::unique_ptr<LazyApiClient> alert_kube_;
  std::unique_ptr<alert::AlertService> alert_;

  // 7. receivers
  std::vector<std::unique_ptr<Component>> receivers_;
};

}  // namespace kobs::app
