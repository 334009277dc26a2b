// Step 4 of runProcess(): the events-presenter API (the current Krateo
// frontend) on its own listener: its paths and event name collide with the
// old API's.
#include <iostream>

#include "app/component_options.h"
#include "app/lazy_api_client.h"
#include "app/process_parts.h"

namespace kobs::app {
namespace {

void registerHeadMetrics(metrics::Registry& registry, const serve::presenter::PresenterHead* head) {
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

}  // namespace

void Process::startPresenter() {
  if (!serving() || config_.serve.presenter_listen.empty()) return;
  presenter_reader_ = std::make_unique<serve::presenter::PresenterReader>(
      *store_, config_.schema.database, config_.schema.events_table, config_.serve.cluster_name);
  if (config_.serve.presenter_head_events > 0) {
    // Loads in the background; until then the reader pages from the store.
    presenter_head_ = std::make_unique<serve::presenter::PresenterHead>(*presenter_reader_, *event_feed_,
                                                                        presenterHeadOptions(config_));
    presenter_head_->start();
    presenter_reader_->setHead(presenter_head_.get());
    registerHeadMetrics(registry_, presenter_head_.get());
  }

  // Optional access checks against the Kubernetes API (the same cluster the
  // events receiver watches: k8s.kubeconfig / k8s.context).
  const auto& v = config_.values;
  serve::presenter::PresenterAccess access;
  if (v.boolean("presenter.require_clientconfig") || v.boolean("presenter.authorize_namespaces")) {
    k8s::ResolveOptions ro;
    ro.kubeconfig = v.str("k8s.kubeconfig");
    ro.context = v.str("k8s.context");
    presenter_kube_ = std::make_unique<LazyApiClient>(ro);
    serve::auth::ApiClientSource source = [kube = presenter_kube_.get()]() -> k8s::ApiClient& { return kube->get(); };
    const auto ttl = v.duration("presenter.authz_cache_ttl");
    const auto size = size_t(std::max<int64_t>(1, v.integer("presenter.authz_cache_size")));
    if (v.boolean("presenter.require_clientconfig")) {
      presenter_clientconfig_ = std::make_unique<serve::auth::ClientConfigCheck>(
          source,
          serve::auth::ClientConfigOptions{.ns = v.str("presenter.clientconfig_namespace"), .ttl = ttl,
                                           .max_entries = size},
          &registry_);
      access.clientconfig = presenter_clientconfig_.get();
    }
    if (v.boolean("presenter.authorize_namespaces")) {
      presenter_authorizer_ = std::make_unique<serve::auth::NamespaceAuthorizer>(
          source, serve::auth::AccessReviewOptions{.ttl = ttl, .max_entries = size}, &registry_);
      presenter_namespaces_ = std::make_unique<serve::presenter::EventNamespaces>(
          *store_, config_.schema.database, config_.schema.events_table, ttl);
      access.authorizer = presenter_authorizer_.get();
      access.namespaces = presenter_namespaces_.get();
    }
    log_->info("presenter access checks: clientconfig {}, namespace scoping {}",
               access.clientconfig ? "on (namespace " + v.str("presenter.clientconfig_namespace") + ")" : "off",
               access.authorizer ? "on" : "off");
  }

  presenter_api_ =
      std::make_unique<serve::presenter::PresenterApi>(presenterApiOptions(config_), authenticator_.get(), access);
  presenter_api_->attach(*presenter_reader_, *event_feed_);
  http::Router router;
  presenter_api_->addRoutes(router);
  presenter_server_ = std::make_unique<http::Server>(
      listenerOptions(config_, config_.serve.presenter_listen, "presenter", &registry_), std::move(router));
  presenter_server_->start();
  std::cout << "kobs events-presenter API on " << listenerUrl(config_.serve.presenter_listen, presenter_server_->port())
            << "  (/events /notifications)" << std::endl;
  announce("events-presenter API", listenerUrl(config_.serve.presenter_listen, presenter_server_->port()));
}

}  // namespace kobs::app
