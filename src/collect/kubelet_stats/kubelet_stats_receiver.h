// KubeletStatsReceiver: the node agent's kubelet metrics. Every interval it
// GETs /stats/summary from this node's kubelet over HTTPS (libcurl through
// k8s::HttpClient: the service account's bearer token, the cluster CA, or
// insecure_skip_verify when explicitly asked), maps it (SummaryMapper) and
// hands the points to otel_metrics_gauge / otel_metrics_sum.
//
// Composition ids: with `resolve` on, each pod's composition id comes from
// the shared CompositionResolver (the pod's krateo.io/composition-id label,
// else its owner chain), cached by pod uid, exactly as for events and logs.
// The API client is built on the first scrape that needs it and retried on
// a later one when no cluster is reachable (pods then go without an id).
//
// Failures: a kubelet that cannot be reached or answers non-2xx, or a body
// that is not a Summary, fails that scrape (counted, logged); the next
// scrape tries again.
//
// Threading: one ScrapeLoop thread does the request, the mapping and the
// resolver calls; start()/shutdown() on the main thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "collect/composition/composition_resolver.h"
#include "collect/kubelet_stats/summary_mapper.h"
#include "collect/scrape/scrape_loop.h"
#include "common/component.h"
#include "common/config_table.h"
#include "common/metrics.h"
#include "k8s/cluster_config.h"
#include "pipeline/pipeline.h"

namespace kobs::k8s {
class ApiClient;
class HttpClient;
}  // namespace kobs::k8s

namespace kobs::collect::kubelet_stats {

struct KubeletStatsOptions {
  std::string endpoint;                // "https://10.0.0.5:10250"
  std::filesystem::path token_file;    // bearer token (re-read when it changes); empty: none
  std::filesystem::path ca_file;       // CA bundle of the kubelet's serving cert; empty: system trust store
  bool insecure_skip_verify = false;
  MapperOptions mapper;
  std::chrono::milliseconds interval{60000};
  bool start_jitter = true;
  std::chrono::milliseconds request_timeout{10000};
  bool resolve = false;
  std::function<k8s::ClusterConfig()> cluster;  // for the resolver; throws when none is configured
  composition::ResolverOptions resolver;
};

std::vector<config::KeySpec> configKeys();
KubeletStatsOptions optionsFromConfig(const config::Values& values);

class KubeletStatsReceiver : public Component {
 public:
  KubeletStatsReceiver(KubeletStatsOptions options, pipeline::Pipeline& pipeline, metrics::Registry* registry);
  ~KubeletStatsReceiver() override;

  std::string_view name() const override { return "kubelet_stats"; }
  void start() override;
  void shutdown(std::chrono::steady_clock::time_point deadline) override;

  const scrape::ScrapeLoop& loop() const { return *loop_; }
  uint64_t pointsAccepted() const { return accepted_.load(); }

 private:
  void scrapeOnce();
  std::string lookupComposition(const PodRef& pod);

  KubeletStatsOptions options_;
  pipeline::Pipeline& pipeline_;
  std::unique_ptr<k8s::HttpClient> http_;
  SummaryMapper mapper_;
  std::unique_ptr<k8s::ApiClient> api_;
  std::unique_ptr<composition::CompositionResolver> resolver_;
  std::chrono::steady_clock::time_point next_api_attempt_{};
  std::atomic<uint64_t> accepted_{0};
  metrics::Counter* points_ = nullptr;
  metrics::Counter* dropped_ = nullptr;
  std::unique_ptr<scrape::ScrapeLoop> loop_;
};

}  // namespace kobs::collect::kubelet_stats
