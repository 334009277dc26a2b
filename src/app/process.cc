#include "app/process.h"

#include <iostream>

#include "app/lazy_api_client.h"
#include "app/process_parts.h"
#include "app/store_factory.h"
#include "store/schema/ddl.h"
#include "store/schema/schema_manager.h"

namespace kobs::app {

using Clock = std::chrono::steady_clock;

Process::Process(const KobsConfig& config, const RunOptions& options)
    : config_(config),
      options_(options),
      log_(logging::get("kobs")),
      signals_([this](Clock::time_point at) { onSignal(at); }),
      insert_latency_(registry_.histogram("kobs_store_insert_duration_seconds",
                                          "Time to insert one batch into the store.",
                                          metrics::Histogram::defaultSecondsBuckets())) {}

Process::~Process() = default;

int Process::run() {
  startMainListener();
  switch (attachStore()) {
    case Attach::kReady:
      break;
    case Attach::kFatal:
      http_->stop(std::chrono::seconds(1));
      return 2;
    case Attach::kStopped:
      http_->stop(std::chrono::seconds(1));
      return 0;
  }
  // A part that fails to start (a port in use, say) must not leave the
  // parts started before it running while the Process is destroyed: their
  // threads would outlive what they use. Stop them in order, then report.
  try {
    startEventFeed();
    startClickHouseEndpoint();
    startMcp();
    startPresenter();
    startPipeline();
    startAlerts();
    startReceivers();
  } catch (...) {
    log_->error("start failed; stopping what had started");
    shutdown(Clock::now() + config_.shutdown_timeout);
    throw;
  }
  readiness_.started();

  while (!signals_.waitFor(std::chrono::seconds(3600))) {
  }
  log_->info("signal {} received; shutting down (deadline {} ms)", signals_.signal(),
             config_.shutdown_timeout.count());
  shutdown(signals_.signalTime() + config_.shutdown_timeout);
  log_->info("stopped");
  return 0;
}

// The store's calls are cut short: while attaching at once (nothing is held
// yet), once running at the deadline less a margin, so the pipeline may
// still flush to a working store but a hung one cannot hold the process past
// shutdown.timeout (an abandoned insert stays in the disk buffer). The margin
// covers libcurl noticing the stop (about a second) and the listeners' stop.
void Process::onSignal(Clock::time_point at) {
  if (!store_attached_) {
    store_stop_.requestStop();
    return;
  }
  stopStoreBy(at + config_.shutdown_timeout);
}

void Process::stopStoreBy(Clock::time_point deadline) {
  const auto timeout = Clock::duration(config_.shutdown_timeout);
  store_stop_.requestStopAt(deadline - std::min<Clock::duration>(std::chrono::milliseconds(1500), timeout / 2));
}

// Receivers first, then the pipeline flushes to the store, then the
// listeners; the feed last, once no stream refers to it.
void Process::shutdown(Clock::time_point deadline) {
  stopStoreBy(deadline);  // also when no signal came (a part failed to start)
  signals_.setReloadHandler({});
  if (alert_) alert_->shutdown(deadline);
  for (auto it = receivers_.rbegin(); it != receivers_.rend(); ++it) (*it)->shutdown(deadline);
  if (pipeline_) pipeline_->shutdown(deadline - std::chrono::milliseconds(500));
  http_->stop(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max(Clock::duration(std::chrono::milliseconds(100)), deadline - Clock::now())));
  if (presenter_server_) presenter_server_->stop(std::chrono::milliseconds(500));
  presenter_api_.reset();
  if (presenter_head_) presenter_head_->stop();
  if (ch_server_) ch_server_->stop(std::chrono::milliseconds(500));
  if (ch_writer_) ch_writer_->stop();  // after the listener: no new insert comes
  stopMcp();
  events_api_.reset();
  if (event_feed_) event_feed_->stop();
  readiness_.stop();
}

int runProcess(const KobsConfig& config, const RunOptions& options) { return Process(config, options).run(); }

int printSchema(const KobsConfig& config, bool ask_store) {
  store::schema::ServerInfo server = store::schema::parseServerVersion("26.7");
  if (ask_store) {
    auto store = openStore(config);
    server = store::schema::detectServer(*store);
  }
  std::cout << store::schema::printSchema(config.schema, server);
  return 0;
}

int applySchema(const KobsConfig& config) {
  auto store = openStore(config);
  auto schema = store::schema::SchemaManager::apply(*store, config.schema);
  for (const auto& c : schema.created) std::cout << "created " << c << "\n";
  for (const auto& a : schema.altered) std::cout << "set deduplication window on " << a << "\n";
  std::cout << "schema applied in " << store->kind() << " store, database " << config.schema.database << " ("
            << schema.tables.size() << " tables)\n";
  return 0;
}

}  // namespace kobs::app
