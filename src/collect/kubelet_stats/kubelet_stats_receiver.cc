#include "collect/kubelet_stats/kubelet_stats_receiver.h"

#include <fstream>
#include <sstream>

#include "collect/scrape/metric_builder.h"
#include "common/error.h"
#include "common/logging.h"
#include "k8s/api_client.h"
#include "k8s/http_client.h"
#include "k8s/token_source.h"

namespace kobs::collect::kubelet_stats {

using config::KeySpec;
using config::KeyType;

std::vector<config::KeySpec> configKeys() {
  return {
      {"kubelet_stats.enabled", KeyType::kBool, "false", "Scrape this node's kubelet /stats/summary (the collector's kubeletstats receiver) into otel_metrics_sum and otel_metrics_gauge (kobs collect on every node).", {"KOBS_KUBELET_STATS_ENABLED"}},
      {"kubelet_stats.endpoint", KeyType::kString, "", "Kubelet URL (empty: https://<kubelet_stats.node_name>:10250).", {"KOBS_KUBELET_ENDPOINT"}},
      {"kubelet_stats.node_name", KeyType::kString, "", "This node's name (downward API spec.nodeName): the default endpoint's host and k8s.node.name.", {"KOBS_NODE_NAME", "NODE_NAME"}},
      {"kubelet_stats.token_file", KeyType::kString, "/var/run/secrets/kubernetes.io/serviceaccount/token", "Bearer token sent to the kubelet (re-read when it changes; empty: none). The service account needs get on nodes/stats.", {}},
      {"kubelet_stats.ca_file", KeyType::kString, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", "CA bundle the kubelet's serving certificate is checked against (empty: the system trust store).", {}},
      {"kubelet_stats.insecure_skip_verify", KeyType::kBool, "false", "Do not verify the kubelet's certificate (kubelets with self-signed serving certificates).", {}},
      {"kubelet_stats.interval", KeyType::kDuration, "60s", "Scrape interval.", {}},
      {"kubelet_stats.start_jitter", KeyType::kBool, "true", "Wait a random part of the interval before the first scrape.", {}},
      {"kubelet_stats.metric_groups", KeyType::kStringList, "node,pod,container,volume", "Which of node, pod, container, volume metrics to emit.", {}},
      {"kubelet_stats.composition", KeyType::kBool, "true", "Resolve each pod's Krateo composition id (composition.* keys; get on pods and their owners).", {}},
  };
}

KubeletStatsOptions optionsFromConfig(const config::Values& v) {
  KubeletStatsOptions o;
  o.mapper.node_name = v.str("kubelet_stats.node_name");
  o.endpoint = v.str("kubelet_stats.endpoint");
  if (o.endpoint.empty()) {
    if (o.mapper.node_name.empty())
      throw Exception(ErrorCode::kBadConfig,
                      "kubelet_stats.enabled needs kubelet_stats.endpoint or kubelet_stats.node_name (NODE_NAME)");
    o.endpoint = "https://" + o.mapper.node_name + ":10250";
  }
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  o.token_file = v.str("kubelet_stats.token_file");
  o.ca_file = v.str("kubelet_stats.ca_file");
  o.insecure_skip_verify = v.boolean("kubelet_stats.insecure_skip_verify");
  o.interval = v.duration("kubelet_stats.interval");
  o.start_jitter = v.boolean("kubelet_stats.start_jitter");
  o.mapper.groups.clear();
  for (const auto& g : v.list("kubelet_stats.metric_groups")) {
    if (g != "node" && g != "pod" && g != "container" && g != "volume")
      throw Exception(ErrorCode::kBadConfig, "kubelet_stats.metric_groups: unknown group '{}'", g);
    o.mapper.groups.insert(g);
  }
  o.resolve = v.boolean("kubelet_stats.composition") && v.boolean("composition.enabled");
  if (o.resolve) {
    k8s::ResolveOptions ro;
    ro.kubeconfig = v.str("k8s.kubeconfig");
    ro.context = v.str("k8s.context");
    o.cluster = [ro] { return k8s::resolveClusterConfig(ro); };
    o.resolver.label_key = v.str("composition.label_key");
    o.resolver.max_owner_depth = int(v.integer("composition.owner_depth"));
    o.resolver.cache_size = size_t(std::max<int64_t>(1, v.integer("composition.cache_size")));
    o.resolver.ttl_found = v.duration("composition.cache_ttl");
    o.resolver.ttl_not_found = v.duration("composition.negative_cache_ttl");
    o.resolver.api_calls_per_second = double(v.integer("composition.api_qps"));
    o.resolver.api_burst = double(v.integer("composition.api_burst"));
  }
  return o;
}

namespace {

std::string readFile(const std::filesystem::path& p, const char* what) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Exception(ErrorCode::kBadConfig, "kubelet_stats: cannot read the {} {}", what, p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

KubeletStatsReceiver::KubeletStatsReceiver(KubeletStatsOptions options, pipeline::Pipeline& pipeline,
                                           metrics::Registry* registry)
    : options_(std::move(options)), pipeline_(pipeline), mapper_(options_.mapper) {
  k8s::ClusterConfig c;
  c.server = options_.endpoint;
  c.insecure_skip_tls_verify = options_.insecure_skip_verify;
  if (!options_.ca_file.empty() && !options_.insecure_skip_verify) c.ca_pem = readFile(options_.ca_file, "CA file");
  if (!options_.token_file.empty()) c.token = std::make_shared<k8s::FileTokenSource>(options_.token_file);
  c.source = "kubelet_stats";
  k8s::HttpOptions ho;
  ho.request_timeout = options_.request_timeout;
  ho.max_idle_handles = 1;
  http_ = std::make_unique<k8s::HttpClient>(std::move(c), ho);
  if (registry) {
    metrics::Labels l{{"component", "kubelet_stats"}};
    points_ = &registry->counter("kobs_metrics_points_total", "Metric data points handed to the pipeline.", l);
    dropped_ = &registry->counter("kobs_metrics_points_dropped_total",
                                  "Metric data points dropped because the disk buffer refused them.", l);
  }
  loop_ = std::make_unique<scrape::ScrapeLoop>(
      scrape::ScrapeLoopOptions{"kubelet_stats", options_.interval, options_.start_jitter}, [this] { scrapeOnce(); },
      registry);
}

KubeletStatsReceiver::~KubeletStatsReceiver() { loop_->stop(); }

void KubeletStatsReceiver::start() {
  logging::get("kubelet_stats")->info("scraping {}/stats/summary every {} ms", options_.endpoint,
                                      options_.interval.count());
  loop_->start();
}

void KubeletStatsReceiver::shutdown(std::chrono::steady_clock::time_point) { loop_->stop(); }

std::string KubeletStatsReceiver::lookupComposition(const PodRef& pod) {
  if (!resolver_) {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_api_attempt_) return {};
    try {
      api_ = std::make_unique<k8s::ApiClient>(options_.cluster());
      resolver_ = std::make_unique<composition::CompositionResolver>(composition::apiFetcher(*api_),
                                                                     options_.resolver);
    } catch (const std::exception& e) {
      next_api_attempt_ = now + std::chrono::minutes(1);
      logging::get("kubelet_stats")->warn("no Kubernetes API for composition ids (retrying in 1 min): {}", e.what());
      return {};
    }
  }
  return resolver_->resolve({"v1", "Pod", pod.ns, pod.name, pod.uid});
}

void KubeletStatsReceiver::scrapeOnce() {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  auto r = http_->request("GET", "/stats/summary");
  if (r.status / 100 != 2)
    throw Exception(ErrorCode::kApiRejected, "GET {}/stats/summary answered {}: {}", options_.endpoint, r.status,
                    r.body.substr(0, 200));
  CompositionLookup lookup;
  if (options_.resolve) lookup = [this](const PodRef& p) { return lookupComposition(p); };
  auto points = mapper_.map(r.body, now, lookup);
  const auto e = scrape::emit(pipeline_, points);
  accepted_ += e.accepted;
  if (points_) points_->inc(e.accepted);
  if (dropped_) dropped_->inc(e.refused + e.no_table);
}

}  // namespace kobs::collect::kubelet_stats
