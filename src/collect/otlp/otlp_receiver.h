// OTLP receiver: OTLP/HTTP (POST /v1/traces, /v1/logs, /v1/metrics on
// otlp.http_listen, default :4318) and OTLP/gRPC (the three Export services on
// otlp.grpc_listen, default :4317) into the pipeline's OTel tables.
//
// A request is decompressed (gzip, zstd; the decompressed size is bounded by
// max_request_bytes), decoded into arena-allocated protobuf messages, mapped
// into records (otlp_decode.h) and added to the pipeline's batchers. It is
// answered once its records are durable in the disk buffer (the batcher's
// durable callback: written and fsync'd per buffer.fsync), so a kill -9 after
// the answer loses nothing the client was told is accepted; the pipeline
// seals a batch with waiting requests at once, and the requests that arrive
// during one seal share the next fsync. Outcomes:
//   accepted                    200 / OK (partial_success lists rejected records)
//   malformed                   400 / INVALID_ARGUMENT, google.rpc.Status body
//   disk buffer full            503 + Retry-After / UNAVAILABLE + RetryInfo
//   too large                   413 / RESOURCE_EXHAUSTED
//   wrong content type/method   415 / 405 (HTTP only)
//   missing or wrong token      401 / UNAUTHENTICATED (when auth is on)
// Each is counted per signal (kobs_otlp_*; see the constructor).
//
// Threading: the HTTP server's io thread reads requests; decode, map and
// batcher add() run on its worker pool (add() may wait on a full buffer, so
// never on the io thread), and the answer is deferred: no thread waits for
// durability. gRPC uses the callback API: its threads only check the token
// and post the request to the receiver's own pool (otlp.http_workers
// threads), which maps and adds it; the call is finished from the durable
// callback. The completion callbacks passed to ingest() run on the pipeline's
// flusher thread (or the caller's, for a refusal) and must not block.
// Counters are atomics. start()/shutdown() belong to the owning thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "collect/k8s_pods/pod_metadata.h"
#include "collect/otlp/otlp_decode.h"
#include "common/component.h"
#include "common/config_table.h"
#include "common/metrics.h"
#include "pipeline/pipeline.h"

namespace kobs::http {
class Server;
}

namespace kobs::collect::otlp {

class GrpcServer;
class K8sEnricher;

struct ReceiverOptions {
  std::string http_listen = ":4318";  // empty: no OTLP/HTTP
  std::string grpc_listen = ":4317";  // empty: no OTLP/gRPC
  size_t max_request_bytes = 16u << 20;  // compressed and decompressed
  size_t http_workers = 2;
  std::vector<std::string> cors_allowed_origins;  // "*" allows any; empty: no CORS headers
  // Bearer tokens accepted; empty: no authentication.
  std::set<std::string, std::less<>> tokens;
  int retry_after_seconds = 5;  // Retry-After / RetryInfo on a full buffer
  // Kubernetes enrichment (otlp_k8s.h): off unless k8s_attributes.
  bool k8s_attributes = false;
  std::chrono::milliseconds k8s_grace{30000};
  k8s_pods::PodMetadataOptions k8s_pods;
};

// Config keys of the receiver (appended to the collectors' table).
std::vector<config::KeySpec> configKeys();
// Options from resolved config values; reads auth.tokens_file when otlp.auth is on.
ReceiverOptions optionsFromConfig(const config::Values& values);

// One request's outcome, shared by both transports.
struct Outcome {
  enum Kind : uint8_t {
    kAccepted,
    kMalformed,
    kBufferFull,
    kTooLarge,
    kShuttingDown,
    kUnsupported,
    kInternal,
  } kind = kAccepted;
  Rejections rejected;   // kAccepted: what partial_success reports
  std::string message;   // otherwise: why
};

// Runs once with a request's outcome: at once for a refusal, or when every
// accepted record is durable (an accepted request whose records were given up
// at shutdown is reported as kShuttingDown). Must not block.
using Done = std::function<void(Outcome)>;

class Receiver : public Component {
 public:
  // `metrics` must outlive the receiver. Registers:
  //   kobs_otlp_requests_total{signal,transport,outcome}  requests by outcome
  //     (accepted, partial, malformed, too_large, unsupported_media_type,
  //     unauthorized, buffer_full, shutting_down)
  //   kobs_otlp_records_received_total{signal}             records decoded
  //   kobs_otlp_records_accepted_total{signal}             records handed to the pipeline
  //   kobs_otlp_records_rejected_total{signal,reason}      records refused (no_data,
  //     no_table, buffer_full)
  Receiver(ReceiverOptions options, pipeline::Pipeline& pipeline, metrics::Registry& metrics);
  ~Receiver() override;

  std::string_view name() const override { return "otlp"; }
  void start() override;
  void shutdown(std::chrono::steady_clock::time_point deadline) override;

  // Bound ports (after start; 0 when off).
  uint16_t httpPort() const;
  uint16_t grpcPort() const;

  // Decode + map + add (OTLP/HTTP). `body` is uncompressed. `done` may run
  // before or after ingest() returns. `peer`: the client's address, for the
  // Kubernetes enrichment (see peerIp()).
  void ingest(Signal signal, std::string_view body, Encoding encoding, std::string_view transport, Done done,
              std::string_view peer = {});
  // Map + add a request gRPC already parsed.
  void ingest(const opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest& req, Done done,
              std::string_view peer = {});
  void ingest(const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& req, Done done,
              std::string_view peer = {});
  void ingest(const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest& req, Done done,
              std::string_view peer = {});
  // The Kubernetes enrichment's pod watch (null when off), for tests.
  const K8sEnricher* k8sEnricher() const { return k8s_.get(); }
  // Counts a request refused before decoding (HTTP 413/415/401 ...).
  void countRefused(Signal signal, std::string_view transport, std::string_view outcome);
  bool authorized(std::string_view authorization_header) const;
  const ReceiverOptions& options() const { return options_; }
  metrics::Registry& registry() { return metrics_; }

 private:
  struct SignalCounters;
  class Completion;
  SignalCounters& counters(Signal s);
  metrics::Counter& requests(Signal s, std::string_view transport, std::string_view outcome);
  void run(Signal signal, std::string_view transport, Done done, const std::function<Outcome(Completion&)>& work);
  template <typename Record, typename View>
  Outcome addRecords(Signal signal, pipeline::Batcher<Record>& batcher, const std::vector<View>& records,
                     const pipeline::TableEncoder<View>& encoder, std::string_view what, Completion& c);
  Outcome addLogs(DecodedLogs& d, Completion& c);
  Outcome addSpans(DecodedSpans& d, Completion& c);
  Outcome addMetrics(DecodedMetrics& d, Completion& c);

  ReceiverOptions options_;
  pipeline::Pipeline& pipeline_;
  metrics::Registry& metrics_;
  std::vector<std::unique_ptr<SignalCounters>> counters_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<K8sEnricher> k8s_;
  std::unique_ptr<http::Server> http_;
  std::unique_ptr<GrpcServer> grpc_;
  bool shut_down_ = false;
};

}  // namespace kobs::collect::otlp
