// Steps 1 and 3 of runProcess(): the main listener, then (once the store is
// there) the event feed and the ClickHouse-compatible read endpoint.
#include <algorithm>
#include <iostream>

#include "alert/alert_config.h"
#include "app/component_options.h"
#include "app/process_parts.h"
#include "http/health_routes.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_options.h"

namespace kobs::app {

void Process::startMainListener() {
  http::Router router;
  http::addHealthRoutes(router, &registry_, [this] { return readiness_.check(); });
  status_page_ = std::make_unique<status::StatusPage>(
      registry_, status::PageInfo{KOBS_VERSION, roleName(options_.role), std::chrono::steady_clock::now(),
                                  [this] { return announced(); }});
  status_page_->addRoutes(router);
  // The frontend API (old sse-proxy routes) in the roles that serve; it
  // answers 503 until attached to the feed (startEventFeed).
  authenticator_ = serve::auth::Authenticator::create(config_.serve.auth);
  if (serving()) {
    events_api_ = std::make_unique<serve::events::EventsApi>(eventsApiOptions(config_), authenticator_.get());
    events_api_->addRoutes(router);
  }
  http_ = std::make_unique<http::Server>(listenerOptions(config_, config_.listen, "", &registry_), std::move(router));
  http_->start();
  std::cout << "kobs listening on " << listenerUrl(config_.listen, http_->port()) << "  (/healthz /readyz /metrics)"
            << std::endl;
  announce("status, health, metrics" + std::string(serving() ? ", /events, /notifications" : ""),
           listenerUrl(config_.listen, http_->port()));
}

void Process::announce(std::string what, std::string where) {
  std::lock_guard lock(announced_mutex_);
  announced_.emplace_back(std::move(what), std::move(where));
}

std::vector<std::pair<std::string, std::string>> Process::announced() const {
  std::lock_guard lock(announced_mutex_);
  return announced_;
}

void Process::startEventFeed() {
  if (!serving()) return;
  event_reader_ =
      std::make_unique<serve::events::EventReader>(*store_, config_.schema.database, config_.schema.events_table);
  event_feed_ = std::make_unique<serve::events::EventFeed>(*event_reader_, feedOptions(config_));
  event_feed_->start();
  {
    const auto& st = event_feed_->stats();
    registry_.counterCallback("kobs_events_feed_published_total", "Events published to the streams.",
                              [&st] { return double(st.published.load()); });
    registry_.counterCallback("kobs_events_feed_published_local_total",
                              "Events published when their batch was durable, before the store had them (kobs all).",
                              [&st] { return double(st.published_local.load()); });
    registry_.counterCallback("kobs_events_feed_late_total", "Events published below a stream's position (late rows).",
                              [&st] { return double(st.late.load()); });
    registry_.counterCallback("kobs_events_feed_polls_total", "Tail queries of the store.",
                              [&st] { return double(st.polls.load()); });
    registry_.counterCallback("kobs_events_feed_errors_total", "Tail queries that failed (retried).",
                              [&st] { return double(st.errors.load()); });
  }
  events_api_->attach(*event_reader_, *event_feed_);
  // The alerts topic: from the evaluator itself when it runs here
  // (startAlerts), else from the alert_history another process writes.
  const bool alerts_here = options_.role == Role::kAll && alert::alertsConfigured(config_.values);
  events_api_->alertStream()->attach(*store_, config_.schema.database, config_.values.str("alert.history_table"),
                                     !alerts_here);
}

void Process::startClickHouseEndpoint() {
  auto* embedded = dynamic_cast<store::EmbeddedStore*>(store_.get());
  if (config_.serve.clickhouse_write.enabled && (!serving() || config_.serve.clickhouse_listen.empty() || !embedded))
    log_->warn("serve.clickhouse_write.enabled has no effect here: the write path runs in kobs all / kobs serve "
               "with the embedded store and serve.clickhouse_listen set");
  if (!serving() || config_.serve.clickhouse_listen.empty()) return;
  // Served from a read-only session of the embedded store; a ClickHouse
  // server is its own endpoint.
  if (!embedded) return;
  // readonly=2: the endpoint's checker (store/sql_guard) vets every setting
  // a client sends; readonly=1 would refuse even the harmless ones.
  readonly_store_ = embedded->openReadOnly(2, 2);
  auto ch_options = clickhouseEndpointOptions(config_);
  ch_options.metrics = &registry_;
  // Active compositions' pages from the :8080 API's memory (attached above, in startEventFeed).
  ch_options.recent = events_api_->recent();
  const auto& write = config_.serve.clickhouse_write;
  if (write.enabled) {
    // Node agents write through the embedded store's own writer connection,
    // serialised with this process's inserts (see write_path.h).
    serve::chcompat::WritePathOptions wo;
    wo.database = config_.schema.database;
    for (auto kind : {store::schema::TableKind::kLogs, store::schema::TableKind::kTraces,
                      store::schema::TableKind::kMetricsGauge, store::schema::TableKind::kMetricsSum,
                      store::schema::TableKind::kMetricsHistogram,
                      store::schema::TableKind::kMetricsExponentialHistogram,
                      store::schema::TableKind::kMetricsSummary})
      wo.tables.insert(store::schema::tableName(config_.schema, kind));
    wo.users_file = write.users_file;
    wo.max_body_bytes = write.max_body_bytes;
    wo.max_queued_bytes = write.max_queued_bytes;
    wo.metrics = &registry_;
    ch_writer_ = std::make_unique<serve::chcompat::WritePath>(*store_, *readonly_store_, std::move(wo));
    ch_writer_->start();
    ch_options.writer = ch_writer_.get();
  }
  ch_endpoint_ = std::make_unique<serve::chcompat::ClickHouseEndpoint>(*readonly_store_, std::move(ch_options));
  http::Router router;
  ch_endpoint_->addRoutes(router);
  auto listener = clickhouseListenerOptions(config_);
  // A compressed insert body may come close to its decompressed bound.
  if (write.enabled) listener.body_limit = std::max<size_t>(listener.body_limit, write.max_body_bytes);
  ch_server_ = std::make_unique<http::Server>(listener, std::move(router));
  ch_server_->start();
  log_->info("ClickHouse-compatible read-only endpoint on port {}", ch_server_->port());
  const auto ch_host = http::parseListenAddress(config_.serve.clickhouse_listen).host;
  if (config_.serve.clickhouse_users_file.empty() && ch_host != "127.0.0.1" && ch_host != "localhost" &&
      ch_host != "::1")
    log_->warn("the ClickHouse-compatible endpoint lets anyone who reaches it read every table: set "
               "serve.clickhouse_users_file, bind it to 127.0.0.1 or restrict it with a NetworkPolicy (README)");
  // On stdout like the main listener's line, so scripts and tests find the port.
  std::cout << "kobs ClickHouse-compatible endpoint on "
            << listenerUrl(config_.serve.clickhouse_listen, ch_server_->port())
            << (write.enabled ? "  (read-only; inserts from node agents)" : "  (read-only)") << std::endl;
  announce(write.enabled ? "ClickHouse-compatible endpoint (read-only; inserts from node agents)"
                         : "ClickHouse-compatible endpoint (read-only)",
           listenerUrl(config_.serve.clickhouse_listen, ch_server_->port()));
}

}  // namespace kobs::app
