#include "app/process.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include "app/store_factory.h"
#include "collect/collector_registry.h"
#include "common/error.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "k8s/api_client.h"
#include "k8s/cluster_config.h"
#include "pipeline/targets.h"
#include "serve/auth/authenticator.h"
#include "serve/chcompat/clickhouse_endpoint.h"
#include "serve/events/event_feed.h"
#include "serve/events/event_reader.h"
#include "serve/events/events_api.h"
#include "http/health_routes.h"
#include "http/http_server.h"
#include "serve/auth/access_review.h"
#include "serve/auth/clientconfig_check.h"
#include "serve/presenter/event_namespaces.h"
#include "serve/presenter/presenter_api.h"
#include "serve/presenter/presenter_head.h"
#include "serve/presenter/presenter_reader.h"
#include "store/schema/schema_manager.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/ddl.h"

namespace kobs::app {
namespace {

using Clock = std::chrono::steady_clock;

// Waits for SIGTERM/SIGINT on its own thread (blocked everywhere else, so no
// handler runs in an arbitrary thread) and reports it through a flag.
class SignalWaiter {
 public:
  SignalWaiter() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);  // inherited by threads started after this
    thread_ = std::thread([this] {
      int sig = 0;
      sigwait(&set_, &sig);
      {
        std::lock_guard lock(mutex_);
        signal_ = sig;
      }
      cv_.notify_all();
    });
  }
  ~SignalWaiter() {
    if (thread_.joinable()) {
      if (!stopped()) pthread_kill(thread_.native_handle(), SIGTERM);
      thread_.join();
    }
  }
  bool stopped() {
    std::lock_guard lock(mutex_);
    return signal_ != 0;
  }
  // True when a signal arrived within `d`.
  bool waitFor(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, d, [&] { return signal_ != 0; });
  }
  int signal() {
    std::lock_guard lock(mutex_);
    return signal_;
  }

 private:
  sigset_t set_{};
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int signal_ = 0;
};

constexpr std::string_view kDroppedHelp =
    "Records not stored, by component and reason (rejected_by_store: set aside in the dead-letter folder; "
    "buffer_full: refused to the producer).";

// Prometheus series over the pipeline's own counters, read at scrape time.
void registerPipelineMetrics(metrics::Registry& m, pipeline::Pipeline& p) {
  auto& buffer = p.buffer();
  const auto& sender = p.sender();
  m.gaugeCallback("kobs_buffer_pending_bytes", "Bytes in the disk buffer not yet committed to the store.",
                  [&buffer] { return double(buffer.pendingBytes()); });
  m.gaugeCallback("kobs_buffer_pending_batches", "Batches in the disk buffer not yet committed to the store.",
                  [&buffer] { return double(buffer.pendingBatches()); });
  m.counterCallback("kobs_buffer_recovered_batches_total", "Batches found in the disk buffer at start and replayed.",
                    [&buffer] { return double(buffer.stats().recovered_batches.load()); });
  m.counterCallback("kobs_buffer_torn_records_total", "Torn records truncated from the disk buffer's tail at start.",
                    [&buffer] { return double(buffer.stats().torn_tail_truncations.load()); });
  m.counterCallback("kobs_buffer_corrupt_records_total", "Disk buffer records that failed their checksum.",
                    [&buffer] { return double(buffer.stats().corrupt_records.load()); });
  m.counterCallback("kobs_records_out_total", "Records committed to the store.",
                    [&sender] { return double(sender.stats().rows_committed.load()); }, {{"component", "sender"}});
  m.counterCallback("kobs_records_dropped_total", kDroppedHelp,
                    [&sender] { return double(sender.stats().rows_dead_lettered.load()); },
                    {{"component", "sender"}, {"reason", "rejected_by_store"}});
  m.counterCallback("kobs_store_insert_retries_total", "Insert attempts retried after a retryable failure.",
                    [&sender] { return double(sender.stats().retries.load()); });
  auto batcher = [&](const std::string& table, const pipeline::BatcherStats& s) {
    m.counterCallback("kobs_records_in_total", "Records accepted into a batch.",
                      [&s] { return double(s.records_in.load()); }, {{"component", "batcher"}, {"table", table}});
    m.counterCallback("kobs_records_dropped_total", kDroppedHelp,
                      [&s] { return double(s.records_rejected.load()); },
                      {{"component", "batcher"}, {"reason", "buffer_full"}, {"table", table}});
  };
  batcher(p.logs().encoder().table(), p.logs().stats());
  if (auto* t = p.traces()) batcher(t->encoder().table(), t->stats());
  for (auto type : {pipeline::MetricType::kGauge, pipeline::MetricType::kSum, pipeline::MetricType::kHistogram,
                    pipeline::MetricType::kExponentialHistogram, pipeline::MetricType::kSummary})
    if (auto* b = p.metrics(type)) batcher(b->encoder().table(), b->stats());
}

// The presenter's Kubernetes API client, built on first use: the cluster may
// be unreachable when kobs starts, and each failed attempt is tried again on
// the next request (which fails closed meanwhile). Short timeouts: the calls
// run on a request's path.
class LazyApiClient {
 public:
  explicit LazyApiClient(k8s::ResolveOptions options) : options_(std::move(options)) {}
  k8s::ApiClient& get() {
    std::lock_guard lock(mutex_);
    if (!client_) {
      k8s::HttpOptions http;
      http.connect_timeout = std::chrono::seconds(2);
      http.request_timeout = std::chrono::seconds(5);
      client_ = std::make_unique<k8s::ApiClient>(k8s::resolveClusterConfig(options_), http);
    }
    return *client_;
  }

 private:
  const k8s::ResolveOptions options_;
  std::mutex mutex_;
  std::unique_ptr<k8s::ApiClient> client_;
};

}  // namespace

int runProcess(const KobsConfig& config, const RunOptions& options) {
  auto log = logging::get("kobs");
  SignalWaiter signals;
  metrics::Registry registry;
  auto& insert_latency = registry.histogram("kobs_store_insert_duration_seconds",
                                            "Time to insert one batch into the store.",
                                            metrics::Histogram::defaultSecondsBuckets());

  // Readiness: the store answered, the schema is applied, and every part of
  // this role has started.
  std::atomic<bool> schema_ready{false};
  std::atomic<bool> started{false};
  std::mutex state_mutex;
  std::string not_ready_reason = "starting";
  std::unique_ptr<store::IStore> store;

  http::Router router;
  http::addHealthRoutes(router, &registry, [&]() -> http::Readiness {
    if (!schema_ready) {
      std::lock_guard lock(state_mutex);
      return {false, not_ready_reason};
    }
    if (!started) return {false, "starting receivers and listeners"};
    try {
      store->ping();
      return {true, ""};
    } catch (const std::exception& e) {
      return {false, std::string("store unreachable: ") + e.what()};
    }
  });
  // The frontend API (old sse-proxy routes) in the roles that serve.
  const bool serving = options.role != Role::kCollect && config.schema.krateo_events;
  auto authenticator = serve::auth::Authenticator::create(config.serve.auth);
  std::unique_ptr<serve::events::EventsApi> events_api;
  if (serving) {
    serve::events::EventsApiOptions eo;
    eo.allow_origin = config.serve.allow_origin;
    eo.max_limit = config.serve.events_max_limit;
    eo.sse.keepalive = config.serve.sse_keepalive;
    eo.sse.retry = config.serve.sse_retry;
    events_api = std::make_unique<serve::events::EventsApi>(eo, authenticator.get());
    events_api->addRoutes(router);
  }
  http::ServerOptions http_options;
  http_options.listen = config.listen;
  http_options.stream_limits.max_queued_frames = config.serve.sse_queue_frames;
  http_options.stream_limits.max_queued_bytes = config.serve.sse_queue_bytes;
  http_options.metrics = &registry;
  http::Server http(http_options, std::move(router));
  http.start();
  std::cout << "kobs listening on http://" << (http::parseListenAddress(config.listen).host.empty()
                                                  ? std::string("0.0.0.0")
                                                  : http::parseListenAddress(config.listen).host)
            << ":" << http.port() << "  (/healthz /readyz /metrics)" << std::endl;

  // The store and its schema, retried until they work or we are told to stop:
  // a ClickHouse server that starts after kobs is normal in a cluster.
  store::schema::Schema schema;
  auto backoff = std::chrono::milliseconds(500);
  while (!signals.stopped()) {
    try {
      if (!store) store = openStore(config);
      schema = store::schema::SchemaManager::apply(*store, config.schema);
      schema_ready = true;
      break;
    } catch (const Exception& e) {
      // A schema that cannot hold kobs's rows, or a bad config, does not fix itself.
      if (e.code() == ErrorCode::kSchemaMismatch || e.code() == ErrorCode::kBadConfig ||
          e.code() == ErrorCode::kLibraryLoad) {
        log->error("cannot start: {}", e.what());
        http.stop(std::chrono::seconds(1));
        return 2;
      }
      {
        std::lock_guard lock(state_mutex);
        not_ready_reason = e.what();
      }
      log->warn("store not ready ({}); retrying in {} ms", e.what(), backoff.count());
      signals.waitFor(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(30000));
    }
  }
  if (signals.stopped()) {
    http.stop(std::chrono::seconds(1));
    return 0;
  }
  log->info("store {} ready; schema applied in database {} (created {} objects)", store->kind(), store->database(),
            schema.created.size());

  // Events feed and the ClickHouse-compatible endpoint, once the store is there.
  std::unique_ptr<serve::events::EventReader> event_reader;
  std::unique_ptr<serve::events::EventFeed> event_feed;
  std::unique_ptr<store::IStore> readonly_store;
  std::unique_ptr<serve::chcompat::ClickHouseEndpoint> ch_endpoint;
  std::unique_ptr<http::Server> ch_server;
  if (serving) {
    event_reader = std::make_unique<serve::events::EventReader>(*store, config.schema.database, config.schema.events_table);
    event_feed = std::make_unique<serve::events::EventFeed>(
        *event_reader, serve::events::FeedOptions{.poll_interval = config.serve.sse_poll_interval,
                                                  .lookback = config.serve.sse_lookback});
    event_feed->start();
    events_api->attach(*event_reader, *event_feed);
    auto* embedded = dynamic_cast<store::EmbeddedStore*>(store.get());
    if (embedded && !config.serve.clickhouse_listen.empty()) {
      readonly_store = embedded->openReadOnly(2);
      ch_endpoint = std::make_unique<serve::chcompat::ClickHouseEndpoint>(
          *readonly_store, serve::chcompat::EndpointOptions{.database = config.schema.database,
                                                            .events_table = config.schema.events_table});
      http::Router ch_router;
      ch_endpoint->addRoutes(ch_router);
      http::ServerOptions ch_options;
      ch_options.listen = config.serve.clickhouse_listen;
      ch_options.name = "clickhouse";
      ch_server = std::make_unique<http::Server>(ch_options, std::move(ch_router));
      ch_server->start();
      log->info("ClickHouse-compatible read-only endpoint on port {}", ch_server->port());
      // On stdout like the main listener's line, so scripts and tests find the port.
      const auto ch_host = http::parseListenAddress(config.serve.clickhouse_listen).host;
      std::cout << "kobs ClickHouse-compatible endpoint on http://" << (ch_host.empty() ? std::string("0.0.0.0") : ch_host)
                << ":" << ch_server->port() << "  (read-only)" << std::endl;
    }
  }

  // The events-presenter API (the current Krateo frontend) on its own
  // listener: its paths and event name collide with the old API's. Declared
  // after the feed so that, whatever way this function ends, the listener and
  // the API's subscription go before the feed does.
  std::unique_ptr<serve::presenter::PresenterReader> presenter_reader;
  std::unique_ptr<serve::presenter::PresenterHead> presenter_head;
  std::unique_ptr<LazyApiClient> presenter_kube;
  std::unique_ptr<serve::auth::ClientConfigCheck> presenter_clientconfig;
  std::unique_ptr<serve::auth::NamespaceAuthorizer> presenter_authorizer;
  std::unique_ptr<serve::presenter::EventNamespaces> presenter_namespaces;
  std::unique_ptr<serve::presenter::PresenterApi> presenter_api;
  std::unique_ptr<http::Server> presenter_server;
  if (serving && !config.serve.presenter_listen.empty()) {
    presenter_reader = std::make_unique<serve::presenter::PresenterReader>(
        *store, config.schema.database, config.schema.events_table, config.serve.cluster_name);
    if (config.serve.presenter_head_events > 0) {
      // Loads in the background; until then the reader pages from the store.
      presenter_head = std::make_unique<serve::presenter::PresenterHead>(
          *presenter_reader, *event_feed, serve::presenter::HeadOptions{.capacity = config.serve.presenter_head_events});
      presenter_head->start();
      presenter_reader->setHead(presenter_head.get());
      const auto* head = presenter_head.get();
      registry.gaugeCallback("kobs_presenter_head_events", "Events the presenter holds in memory for /events.",
                             [head] { return double(head->size()); });
      registry.gaugeCallback("kobs_presenter_head_ready", "1 once the presenter's in-memory head has loaded.",
                             [head] { return head->ready() ? 1.0 : 0.0; });
      registry.counterCallback("kobs_presenter_head_rows_applied_total", "Rows applied to the presenter's head.",
                               [head] { return double(head->stats().applied.load()); });
      registry.counterCallback("kobs_presenter_head_evictions_total", "Events pushed out of the presenter's head.",
                               [head] { return double(head->stats().evicted.load()); });
      registry.counterCallback("kobs_presenter_head_errors_total",
                               "Failed store queries of the presenter's head (retried).",
                               [head] { return double(head->stats().errors.load()); });
    }
    serve::presenter::PresenterApiOptions po;
    po.default_limit = config.serve.presenter_default_limit;
    po.max_limit = config.serve.presenter_max_limit;
    po.sse.keepalive = config.serve.presenter_keepalive;
    po.sse.retry = config.serve.sse_retry;
    // Optional access checks against the Kubernetes API (the same cluster
    // the events receiver watches: k8s.kubeconfig / k8s.context).
    const auto& v = config.values;
    serve::presenter::PresenterAccess access;
    if (v.boolean("presenter.require_clientconfig") || v.boolean("presenter.authorize_namespaces")) {
      k8s::ResolveOptions ro;
      ro.kubeconfig = v.str("k8s.kubeconfig");
      ro.context = v.str("k8s.context");
      presenter_kube = std::make_unique<LazyApiClient>(ro);
      serve::auth::ApiClientSource source = [kube = presenter_kube.get()]() -> k8s::ApiClient& { return kube->get(); };
      const auto ttl = v.duration("presenter.authz_cache_ttl");
      const auto size = size_t(std::max<int64_t>(1, v.integer("presenter.authz_cache_size")));
      if (v.boolean("presenter.require_clientconfig")) {
        presenter_clientconfig = std::make_unique<serve::auth::ClientConfigCheck>(
            source,
            serve::auth::ClientConfigOptions{.ns = v.str("presenter.clientconfig_namespace"), .ttl = ttl, .max_entries = size},
            &registry);
        access.clientconfig = presenter_clientconfig.get();
      }
      if (v.boolean("presenter.authorize_namespaces")) {
        presenter_authorizer = std::make_unique<serve::auth::NamespaceAuthorizer>(
            source, serve::auth::AccessReviewOptions{.ttl = ttl, .max_entries = size}, &registry);
        presenter_namespaces = std::make_unique<serve::presenter::EventNamespaces>(
            *store, config.schema.database, config.schema.events_table, ttl);
        access.authorizer = presenter_authorizer.get();
        access.namespaces = presenter_namespaces.get();
      }
      log->info("presenter access checks: clientconfig {}, namespace scoping {}",
                access.clientconfig ? "on (namespace " + v.str("presenter.clientconfig_namespace") + ")" : "off",
                access.authorizer ? "on" : "off");
    }
    presenter_api = std::make_unique<serve::presenter::PresenterApi>(po, authenticator.get(), access);
    presenter_api->attach(*presenter_reader, *event_feed);
    http::Router presenter_router;
    presenter_api->addRoutes(presenter_router);
    http::ServerOptions po_http;
    po_http.listen = config.serve.presenter_listen;
    po_http.name = "presenter";
    po_http.stream_limits = http_options.stream_limits;
    po_http.metrics = &registry;
    presenter_server = std::make_unique<http::Server>(po_http, std::move(presenter_router));
    presenter_server->start();
    const auto host = http::parseListenAddress(config.serve.presenter_listen).host;
    std::cout << "kobs events-presenter API on http://" << (host.empty() ? std::string("0.0.0.0") : host) << ":"
              << presenter_server->port() << "  (/events /notifications)" << std::endl;
  }

  std::unique_ptr<pipeline::Pipeline> pipe;
  std::vector<std::unique_ptr<Component>> collectors;
  if (options.role != Role::kServe) {
    pipe = std::make_unique<pipeline::Pipeline>(*store, pipeline::targetsFromSchema(schema), config.pipeline,
                                                [&insert_latency](double s) { insert_latency.observe(s); });
    registerPipelineMetrics(registry, *pipe);
    if (event_feed) {
      // kobs all: push events as soon as their batch is committed.
      pipe->addCommitListener([feed = event_feed.get(), logs = schema.table(store::schema::TableKind::kLogs).table](
                                  const std::string& table, uint64_t) {
        if (table == logs) feed->wake();
      });
    }
    pipe->start();
    collect::CollectorContext ctx{config.values, *pipe, *store, registry, config.data_dir, options.demo};
    for (const auto& factory : collect::registerCollectors()) {
      auto c = factory.create(ctx);
      if (!c) continue;
      c->start();
      log->info("collector {} started", c->name());
      collectors.push_back(std::move(c));
    }
  }

  started = true;
  while (!signals.waitFor(std::chrono::seconds(3600))) {
  }
  log->info("signal {} received; shutting down (deadline {} ms)", signals.signal(), config.shutdown_timeout.count());
  const auto deadline = Clock::now() + config.shutdown_timeout;
  // Receivers first, then the pipeline flushes to the store, then the listener.
  for (auto it = collectors.rbegin(); it != collectors.rend(); ++it) (*it)->shutdown(deadline);
  if (pipe) pipe->shutdown(deadline - std::chrono::milliseconds(500));
  http.stop(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max(Clock::duration(std::chrono::milliseconds(100)), deadline - Clock::now())));
  if (presenter_server) presenter_server->stop(std::chrono::milliseconds(500));
  presenter_api.reset();
  if (presenter_head) presenter_head->stop();
  // The listeners are down, so no stream still refers to the feed.
  if (ch_server) ch_server->stop(std::chrono::milliseconds(500));
  events_api.reset();
  if (event_feed) event_feed->stop();
  log->info("stopped");
  return 0;
}

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
