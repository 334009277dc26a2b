#include "collect/otlp/otlp_receiver.h"

#include <fstream>
#include <iostream>

#include "collect/otlp/otlp_transport.h"
#include "collect/otlp/otlp_k8s.h"
#include "collect/otlp/otlp_wire.h"
#include "common/error.h"
#include "common/logging.h"

namespace kobs::collect::otlp {

using config::KeySpec;
using config::KeyType;

std::vector<config::KeySpec> configKeys() {
  return {
      {"otlp.http_listen", KeyType::kString, ":4318", "Address of the OTLP/HTTP receiver (POST /v1/traces, /v1/logs, /v1/metrics). Empty: off.", {"KOBS_OTLP_HTTP_LISTEN"}},
      {"otlp.grpc_listen", KeyType::kString, ":4317", "Address of the OTLP/gRPC receiver (the three Export services). Empty: off.", {"KOBS_OTLP_GRPC_LISTEN"}},
      {"otlp.max_request_bytes", KeyType::kBytes, "16MiB", "Largest OTLP request, compressed and decompressed (HTTP 413, gRPC RESOURCE_EXHAUSTED beyond it).", {}},
      {"otlp.http_workers", KeyType::kInt, "2", "Threads decoding OTLP/HTTP requests.", {}},
      {"otlp.cors_allowed_origins", KeyType::kStringList, "", "Origins allowed to send OTLP/HTTP from a browser (CORS); `*` allows any. Empty: no CORS headers.", {"KOBS_OTLP_CORS_ALLOWED_ORIGINS"}},
      {"otlp.auth", KeyType::kBool, "false", "Require `Authorization: Bearer <token>` on OTLP requests, with a token from auth.tokens_file.", {"KOBS_OTLP_AUTH"}},
      {"otlp.retry_after", KeyType::kDuration, "5s", "Retry-After (HTTP) / RetryInfo (gRPC) sent when the disk buffer is full.", {}},
      {"otlp.k8s_attributes", KeyType::kBool, "false", "Add the sending pod's k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.node.name, owner workload and krateo.io/composition-id to OTLP resources (pod found by k8s.pod.uid or the source IP; cluster-wide pod watch, k8s.* and composition.* keys).", {"KOBS_OTLP_K8S_ATTRIBUTES"}},
      {"otlp.k8s_attributes_grace", KeyType::kDuration, "30s", "How long a deleted pod still matches its IP or uid for otlp.k8s_attributes.", {}},
  };
}

ReceiverOptions optionsFromConfig(const config::Values& v) {
  ReceiverOptions o;
  o.http_listen = v.str("otlp.http_listen");
  o.grpc_listen = v.str("otlp.grpc_listen");
  o.max_request_bytes = size_t(v.bytes("otlp.max_request_bytes"));
  o.http_workers = size_t(std::max<int64_t>(1, v.integer("otlp.http_workers")));
  o.cors_allowed_origins = v.list("otlp.cors_allowed_origins");
  o.retry_after_seconds = int(std::max<int64_t>(1, v.duration("otlp.retry_after").count() / 1000));
  o.k8s_attributes = v.boolean("otlp.k8s_attributes");
  o.k8s_grace = v.duration("otlp.k8s_attributes_grace");
  if (o.k8s_attributes) o.k8s_pods = k8s_pods::optionsFromConfig(v);
  if (v.boolean("otlp.auth")) {
    const auto& path = v.str("auth.tokens_file");
    if (path.empty())
      throw Exception(ErrorCode::kBadConfig, "otlp.auth is on but auth.tokens_file is empty: no token could match");
    std::ifstream in(path);
    if (!in) throw Exception(ErrorCode::kBadConfig, "otlp.auth: cannot read auth.tokens_file {}", path);
    std::string line;
    while (std::getline(in, line)) {
      auto b = line.find_first_not_of(" \t\r");
      auto e = line.find_last_not_of(" \t\r");
      if (b == std::string::npos || line[b] == '#') continue;
      o.tokens.insert(line.substr(b, e - b + 1));
    }
    if (o.tokens.empty()) throw Exception(ErrorCode::kBadConfig, "otlp.auth: auth.tokens_file {} holds no token", path);
  }
  return o;
}

struct Receiver::SignalCounters {
  metrics::Counter* received = nullptr;
  metrics::Counter* accepted = nullptr;
  metrics::Counter* rejected_no_data = nullptr;
  metrics::Counter* rejected_no_table = nullptr;
  metrics::Counter* rejected_buffer_full = nullptr;
};

Receiver::Receiver(ReceiverOptions options, pipeline::Pipeline& pipeline, metrics::Registry& metrics)
    : options_(std::move(options)), pipeline_(pipeline), metrics_(metrics) {
  for (auto s : {Signal::kTraces, Signal::kLogs, Signal::kMetrics}) {
    auto c = std::make_unique<SignalCounters>();
    std::string sig(signalName(s));
    c->received = &metrics_.counter("kobs_otlp_records_received_total", "OTLP records (spans, log records, data points) decoded.", {{"signal", sig}});
    c->accepted = &metrics_.counter("kobs_otlp_records_accepted_total", "OTLP records handed to the pipeline.", {{"signal", sig}});
    const char* help = "OTLP records refused, by reason (no_data: a metric without points; no_table: the table "
                       "is not there; buffer_full: the disk buffer is full).";
    c->rejected_no_data = &metrics_.counter("kobs_otlp_records_rejected_total", help, {{"signal", sig}, {"reason", "no_data"}});
    c->rejected_no_table = &metrics_.counter("kobs_otlp_records_rejected_total", help, {{"signal", sig}, {"reason", "no_table"}});
    c->rejected_buffer_full = &metrics_.counter("kobs_otlp_records_rejected_total", help, {{"signal", sig}, {"reason", "buffer_full"}});
    counters_.push_back(std::move(c));
  }
}

Receiver::~Receiver() { shutdown(std::chrono::steady_clock::now()); }

Receiver::SignalCounters& Receiver::counters(Signal s) { return *counters_[size_t(s)]; }

metrics::Counter& Receiver::requests(Signal s, std::string_view transport, std::string_view outcome) {
  // The registry returns the existing series for a known label set.
  return metrics_.counter("kobs_otlp_requests_total", "OTLP export requests, by signal, transport and outcome.",
                          {{"signal", std::string(signalName(s))},
                           {"transport", std::string(transport)},
                           {"outcome", std::string(outcome)}});
}

void Receiver::countRefused(Signal signal, std::string_view transport, std::string_view outcome) {
  requests(signal, transport, outcome).inc();
}

bool Receiver::authorized(std::string_view header) const {
  if (options_.tokens.empty()) return true;
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size()) return false;
  for (size_t i = 0; i < kBearer.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != std::tolower(static_cast<unsigned char>(kBearer[i])))
      return false;
  return options_.tokens.find(header.substr(kBearer.size())) != options_.tokens.end();
}

// One request's answer: held open by ingest() itself and by every batch its
// records went into, and sent when the last of them lets go.
class Receiver::Completion : public std::enable_shared_from_this<Completion> {
 public:
  // The counters a late outcome is counted in (the registry outlives the
  // pipeline, whose flusher may run the last callback after the receiver).
  struct Counters {
    metrics::Counter* accepted = nullptr;         // requests
    metrics::Counter* partial = nullptr;          // requests
    metrics::Counter* buffer_full = nullptr;      // requests
    metrics::Counter* records_refused = nullptr;  // records withdrawn
  };
  Completion(Done done, Counters counters) : done_(std::move(done)), counters_(counters) {}

  // Adds `records` to `batcher`, to be waited on until durable. On a throw
  // nothing was accepted and nothing is waited on.
  template <typename Record>
  void add(pipeline::Batcher<Record>& batcher, std::span<const Record> records) {
    add(batcher, records, batcher.encoder());
  }

  // Borrowed records (record_ref.h), encoded by `encoder` inside add().
  template <typename Record, typename View>
  void add(pipeline::Batcher<Record>& batcher, std::span<const View> records,
           const pipeline::TableEncoder<View>& encoder) {
    pending_.fetch_add(1, std::memory_order_relaxed);
    try {
      batcher.add(records, encoder, {}, [self = shared_from_this(), n = records.size()](bool durable) {
        if (!durable) self->lost_records_.fetch_add(n, std::memory_order_relaxed);
        self->arrive(durable);
      });
    } catch (...) {
      arrive(true);  // the callback was not kept
      throw;
    }
  }

  // The ingest is done: `outcome` goes out once every batch is durable.
  void release(Outcome outcome) {
    outcome_ = std::move(outcome);
    arrive(true);
  }

 private:
  void arrive(bool durable) {
    if (!durable) lost_.store(true, std::memory_order_relaxed);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (outcome_.kind == Outcome::kAccepted) {
      if (const size_t lost = lost_records_.load(std::memory_order_relaxed); lost > 0 || lost_) {
        // The batcher withdrew them (its batch could not enter the buffer
        // within batch.full_wait) or gave them up at shutdown: nothing of
        // these was stored, so the client may send them again.
        outcome_ = Outcome{};
        outcome_.kind = Outcome::kBufferFull;
        outcome_.message = fmt::format(
            "disk buffer full or failing: {} records were not stored, retry later", lost);
        counters_.buffer_full->inc();
        counters_.records_refused->inc(lost);
      } else {
        (outcome_.rejected.count ? counters_.partial : counters_.accepted)->inc();
      }
    }
    auto done = std::move(done_);
    done(std::move(outcome_));
  }

  Done done_;
  const Counters counters_;
  Outcome outcome_;
  std::atomic<int> pending_{1};  // ingest() itself until release()
  std::atomic<bool> lost_{false};
  std::atomic<size_t> lost_records_{0};
};

void Receiver::run(Signal signal, std::string_view transport, Done done,
                   const std::function<Outcome(Completion&)>& work) {
  auto completion = std::make_shared<Completion>(
      std::move(done), Completion::Counters{&requests(signal, transport, "accepted"),
                                            &requests(signal, transport, "partial"),
                                            &requests(signal, transport, "buffer_full"),
                                            counters(signal).rejected_buffer_full});
  Outcome out;
  if (stopping_) {
    out.kind = Outcome::kShuttingDown;
    out.message = "kobs is shutting down";
    countRefused(signal, transport, "shutting_down");
    return completion->release(std::move(out));
  }
  try {
    out = work(*completion);
  } catch (const Exception& e) {
    out = Outcome{};
    if (e.code() == ErrorCode::kBadInput) {
      out.kind = Outcome::kMalformed;
      out.message = e.what();
      logging::get("otlp")->debug("{} {} request refused: {}", transport, signalName(signal), e.what());
    } else {
      out.kind = Outcome::kInternal;
      out.message = e.what();
      logging::get("otlp")->error("{} {} request failed: {}", transport, signalName(signal), e.what());
    }
  } catch (const std::exception& e) {
    out = Outcome{};
    out.kind = Outcome::kInternal;
    out.message = e.what();
    logging::get("otlp")->error("{} {} request failed: {}", transport, signalName(signal), e.what());
  }
  switch (out.kind) {
    case Outcome::kAccepted: break;  // counted once durable (Completion)
    case Outcome::kMalformed: countRefused(signal, transport, "malformed"); break;
    case Outcome::kBufferFull: countRefused(signal, transport, "buffer_full"); break;
    case Outcome::kInternal: countRefused(signal, transport, "internal"); break;
    default: break;
  }
  completion->release(std::move(out));
}

void Receiver::ingest(Signal signal, std::string_view body, Encoding encoding, std::string_view transport,
                      Done done, std::string_view peer) {
  run(signal, transport, std::move(done), [&](Completion& c) -> Outcome {
    const std::string ip = k8s_ ? peerIp(peer) : std::string();
    switch (signal) {
      // Protobuf logs and traces: the wire reader's borrowed records when it
      // can read the body, the generated parser otherwise (otlp_wire.h).
      case Signal::kLogs: {
        if (encoding == Encoding::kProtobuf) {
          LogRefs refs;
          if (readLogs(body, refs)) {
            if (k8s_) k8s_->enrich(refs.storage, ip);
            return addRecords(Signal::kLogs, pipeline_.logs(), refs.records,
                                                      pipeline_.logRefEncoder(), "log records", c);
          }
        }
        auto d = decodeLogs(body, encoding);
        if (k8s_) k8s_->enrich(d.records, ip);
        return addLogs(d, c);
      }
      case Signal::kTraces: {
        if (encoding == Encoding::kProtobuf && pipeline_.traces()) {
          SpanRefs refs;
          if (readSpans(body, refs)) {
            if (k8s_) k8s_->enrich(refs.storage, ip);
            return addRecords(Signal::kTraces, *pipeline_.traces(), refs.spans,
                                                       *pipeline_.spanRefEncoder(), "spans", c);
          }
        }
        auto d = decodeSpans(body, encoding);
        if (k8s_) k8s_->enrich(d.spans, ip);
        return addSpans(d, c);
      }
      case Signal::kMetrics: {
        auto d = decodeMetrics(body, encoding);
        if (k8s_)
          for (auto& pts : d.points) k8s_->enrich(pts, ip);
        return addMetrics(d, c);
      }
    }
    return {};
  });
}

void Receiver::ingest(const opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest& req, Done done,
                      std::string_view peer) {
  run(Signal::kLogs, "grpc", std::move(done), [&](Completion& c) {
    DecodedLogs d;
    mapLogs(req, d);
    if (k8s_) k8s_->enrich(d.records, peerIp(peer));
    return addLogs(d, c);
  });
}

void Receiver::ingest(const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& req, Done done,
                      std::string_view peer) {
  run(Signal::kTraces, "grpc", std::move(done), [&](Completion& c) {
    DecodedSpans d;
    mapSpans(req, d);
    if (k8s_) k8s_->enrich(d.spans, peerIp(peer));
    return addSpans(d, c);
  });
}

void Receiver::ingest(const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest& req,
                      Done done, std::string_view peer) {
  run(Signal::kMetrics, "grpc", std::move(done), [&](Completion& c) {
    DecodedMetrics d;
    mapMetrics(req, d);
    if (k8s_)
      for (auto& pts : d.points) k8s_->enrich(pts, peerIp(peer));
    return addMetrics(d, c);
  });
}

namespace {
// A full disk buffer, or a disk the buffer cannot write (ENOSPC, EIO: the
// batcher refuses with IO_ERROR): either way nothing was accepted and the
// client should send it again later.
bool isBackPressure(const Exception& e) { return e.code() == ErrorCode::kBufferFull || e.code() == ErrorCode::kIo; }

Outcome bufferFull(size_t n, std::string_view what) {
  Outcome o;
  o.kind = Outcome::kBufferFull;
  o.message = fmt::format("disk buffer full: {} {} not accepted, retry later", n, what);
  return o;
}
}  // namespace

template <typename Record, typename View>
Outcome Receiver::addRecords(Signal signal, pipeline::Batcher<Record>& batcher, const std::vector<View>& records,
                             const pipeline::TableEncoder<View>& encoder, std::string_view what,
                             Completion& completion) {
  auto& c = counters(signal);
  c.received->inc(records.size());
  if (records.empty()) return {};
  try {
    completion.add(batcher, std::span<const View>(records), encoder);
  } catch (const Exception& e) {
    if (!isBackPressure(e)) throw;
    c.rejected_buffer_full->inc(records.size());
    return bufferFull(records.size(), what);
  }
  c.accepted->inc(records.size());
  return {};
}

Outcome Receiver::addLogs(DecodedLogs& d, Completion& completion) {
  auto& c = counters(Signal::kLogs);
  c.received->inc(d.records.size());
  Outcome out;
  out.rejected = std::move(d.rejected);
  if (d.records.empty()) return out;
  try {
    completion.add(pipeline_.logs(), std::span<const pipeline::LogRecord>(d.records));
  } catch (const Exception& e) {
    if (!isBackPressure(e)) throw;
    c.rejected_buffer_full->inc(d.records.size());
    return bufferFull(d.records.size(), "log records");
  }
  c.accepted->inc(d.records.size());
  return out;
}

Outcome Receiver::addSpans(DecodedSpans& d, Completion& completion) {
  auto& c = counters(Signal::kTraces);
  c.received->inc(d.spans.size());
  Outcome out;
  out.rejected = std::move(d.rejected);
  if (d.spans.empty()) return out;
  auto* batcher = pipeline_.traces();
  if (!batcher) {
    c.rejected_no_table->inc(d.spans.size());
    out.rejected.add(d.spans.size(), "kobs has no traces table configured");
    return out;
  }
  try {
    completion.add(*batcher, std::span<const pipeline::Span>(d.spans));
  } catch (const Exception& e) {
    if (!isBackPressure(e)) throw;
    c.rejected_buffer_full->inc(d.spans.size());
    return bufferFull(d.spans.size(), "spans");
  }
  c.accepted->inc(d.spans.size());
  return out;
}

Outcome Receiver::addMetrics(DecodedMetrics& d, Completion& completion) {
  auto& c = counters(Signal::kMetrics);
  const size_t total = d.total();
  c.received->inc(total + d.rejected.count);
  c.rejected_no_data->inc(d.rejected.count);
  Outcome out;
  out.rejected = std::move(d.rejected);
  size_t accepted = 0;
  static constexpr std::string_view kTypeNames[] = {"gauge", "sum", "histogram", "exponential histogram", "summary"};
  for (size_t t = 0; t < d.points.size(); ++t) {
    auto& pts = d.points[t];
    if (pts.empty()) continue;
    auto* batcher = pipeline_.metrics(static_cast<pipeline::MetricType>(t));
    if (!batcher) {
      c.rejected_no_table->inc(pts.size());
      out.rejected.add(pts.size(), fmt::format("kobs has no {} metrics table configured", kTypeNames[t]));
      continue;
    }
    try {
      completion.add(*batcher, std::span<const pipeline::MetricPoint>(pts));
      accepted += pts.size();
    } catch (const Exception& e) {
      if (!isBackPressure(e)) throw;
      c.rejected_buffer_full->inc(pts.size());
      // Nothing of this request accepted yet: the client may retry it whole.
      if (accepted == 0) return bufferFull(total, "data points");
      // Some types are in already: retrying would store them twice, so the
      // rest is reported as rejected instead.
      out.rejected.add(pts.size(), "disk buffer full");
    }
  }
  c.accepted->inc(accepted);
  return out;
}

void Receiver::start() {
  auto log = logging::get("otlp");
  if (options_.k8s_attributes && !k8s_) {
    k8s_ = std::make_unique<K8sEnricher>(options_.k8s_pods, options_.k8s_grace);
    k8s_->start();
    log->info("OTLP Kubernetes enrichment on: resources get their sending pod's attributes");
  }
  if (!options_.http_listen.empty()) {
    http_ = makeHttpServer(*this);
    http_->start();
    const auto host = http::parseListenAddress(options_.http_listen).host;
    log->info("OTLP/HTTP receiver on port {}", http_->port());
    std::cout << "kobs OTLP/HTTP on http://" << (host.empty() ? std::string("0.0.0.0") : host) << ":" << http_->port()
              << "  (/v1/traces /v1/logs /v1/metrics)" << std::endl;
  }
  if (!options_.grpc_listen.empty()) {
    grpc_ = std::make_unique<GrpcServer>(*this, options_.grpc_listen);
    log->info("OTLP/gRPC receiver on port {}", grpc_->port());
    const auto host = http::parseListenAddress(options_.grpc_listen).host;
    std::cout << "kobs OTLP/gRPC on " << (host.empty() ? std::string("0.0.0.0") : host) << ":" << grpc_->port()
              << std::endl;
  }
}

void Receiver::shutdown(std::chrono::steady_clock::time_point deadline) {
  if (shut_down_) return;
  shut_down_ = true;
  auto left = [&] {
    return std::max(std::chrono::milliseconds(100),
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
  };
  if (http_) http_->stop(left());
  if (grpc_) grpc_->stop(std::chrono::steady_clock::now() + left());
  // Both listeners let their in-flight requests finish; anything later is refused.
  stopping_ = true;
  if (k8s_) k8s_->stop();
}

uint16_t Receiver::httpPort() const { return http_ ? http_->port() : 0; }
uint16_t Receiver::grpcPort() const { return grpc_ ? grpc_->port() : 0; }

}  // namespace kobs::collect::otlp
