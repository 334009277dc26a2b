// OTLP/gRPC: the three Export services on gRPC's synchronous server (its own
// thread pool, bounded), the same outcomes as OTLP/HTTP as status codes.
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include "collect/otlp/otlp_transport.h"
#include "common/error.h"
#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace kobs::collect::otlp {
namespace {

namespace pb = opentelemetry::proto::collector;

bool authorized(const Receiver& r, grpc::ServerContext* ctx) {
  if (r.options().tokens.empty()) return true;
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return false;
  return r.authorized(std::string_view(it->second.data(), it->second.size()));
}

// The status for an outcome other than accepted. UNAVAILABLE carries a
// google.rpc.RetryInfo in grpc-status-details-bin, which OTLP exporters honour.
grpc::Status statusFor(const Receiver& r, const Outcome& o) {
  switch (o.kind) {
    case Outcome::kMalformed: return {grpc::StatusCode::INVALID_ARGUMENT, o.message};
    case Outcome::kTooLarge: return {grpc::StatusCode::RESOURCE_EXHAUSTED, o.message};
    case Outcome::kBufferFull:
    case Outcome::kShuttingDown: {
      google::rpc::Status st;
      st.set_code(int(grpc::StatusCode::UNAVAILABLE));
      st.set_message(o.message);
      google::rpc::RetryInfo info;
      info.mutable_retry_delay()->set_seconds(r.options().retry_after_seconds);
      st.add_details()->PackFrom(info);
      return {grpc::StatusCode::UNAVAILABLE, o.message, st.SerializeAsString()};
    }
    default: return {grpc::StatusCode::INTERNAL, o.message};
  }
}

template <typename Partial>
void fillPartial(const Rejections& rej, Partial* p, void (Partial::*set_count)(int64_t)) {
  (p->*set_count)(int64_t(rej.count));
  p->set_error_message(rej.message);
}

class LogsService final : public pb::logs::v1::LogsService::Service {
 public:
  explicit LogsService(Receiver& r) : r_(r) {}
  grpc::Status Export(grpc::ServerContext* ctx, const pb::logs::v1::ExportLogsServiceRequest* req,
                      pb::logs::v1::ExportLogsServiceResponse* resp) override {
    if (!authorized(r_, ctx)) {
      r_.countRefused(Signal::kLogs, "grpc", "unauthorized");
      return {grpc::StatusCode::UNAUTHENTICATED, "missing or invalid bearer token"};
    }
    auto o = r_.ingest(*req);
    if (o.kind != Outcome::kAccepted) return statusFor(r_, o);
    if (o.rejected.count)
      fillPartial(o.rejected, resp->mutable_partial_success(),
                  &pb::logs::v1::ExportLogsPartialSuccess::set_rejected_log_records);
    return grpc::Status::OK;
  }

 private:
  Receiver& r_;
};

class TraceService final : public pb::trace::v1::TraceService::Service {
 public:
  explicit TraceService(Receiver& r) : r_(r) {}
  grpc::Status Export(grpc::ServerContext* ctx, const pb::trace::v1::ExportTraceServiceRequest* req,
                      pb::trace::v1::ExportTraceServiceResponse* resp) override {
    if (!authorized(r_, ctx)) {
      r_.countRefused(Signal::kTraces, "grpc", "unauthorized");
      return {grpc::StatusCode::UNAUTHENTICATED, "missing or invalid bearer token"};
    }
    auto o = r_.ingest(*req);
    if (o.kind != Outcome::kAccepted) return statusFor(r_, o);
    if (o.rejected.count)
      fillPartial(o.rejected, resp->mutable_partial_success(),
                  &pb::trace::v1::ExportTracePartialSuccess::set_rejected_spans);
    return grpc::Status::OK;
  }

 private:
  Receiver& r_;
};

class MetricsService final : public pb::metrics::v1::MetricsService::Service {
 public:
  explicit MetricsService(Receiver& r) : r_(r) {}
  grpc::Status Export(grpc::ServerContext* ctx, const pb::metrics::v1::ExportMetricsServiceRequest* req,
                      pb::metrics::v1::ExportMetricsServiceResponse* resp) override {
    if (!authorized(r_, ctx)) {
      r_.countRefused(Signal::kMetrics, "grpc", "unauthorized");
      return {grpc::StatusCode::UNAUTHENTICATED, "missing or invalid bearer token"};
    }
    auto o = r_.ingest(*req);
    if (o.kind != Outcome::kAccepted) return statusFor(r_, o);
    if (o.rejected.count)
      fillPartial(o.rejected, resp->mutable_partial_success(),
                  &pb::metrics::v1::ExportMetricsPartialSuccess::set_rejected_data_points);
    return grpc::Status::OK;
  }

 private:
  Receiver& r_;
};

}  // namespace

struct GrpcServer::Impl {
  LogsService logs;
  TraceService traces;
  MetricsService metrics;
  std::unique_ptr<grpc::Server> server;
  explicit Impl(Receiver& r) : logs(r), traces(r), metrics(r) {}
};

GrpcServer::GrpcServer(Receiver& receiver, const std::string& listen) : impl_(std::make_unique<Impl>(receiver)) {
  auto addr = http::parseListenAddress(listen);
  std::string host = addr.host.empty() ? "0.0.0.0" : addr.host;
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(host + ":" + std::to_string(addr.port), grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&impl_->logs);
  builder.RegisterService(&impl_->traces);
  builder.RegisterService(&impl_->metrics);
  // gRPC checks the limit on the decompressed message too.
  builder.SetMaxReceiveMessageSize(int(std::min<size_t>(receiver.options().max_request_bytes, INT32_MAX)));
  grpc::ResourceQuota quota("kobs-otlp");
  quota.SetMaxThreads(int(std::max<size_t>(2, receiver.options().http_workers + 2)));
  builder.SetResourceQuota(quota);
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || port == 0)
    throw Exception(ErrorCode::kBadConfig, "otlp.grpc_listen: cannot listen on {}", listen);
  port_ = uint16_t(port);
}

GrpcServer::~GrpcServer() { stop(std::chrono::steady_clock::now()); }

void GrpcServer::stop(std::chrono::steady_clock::time_point deadline) {
  if (!impl_->server) return;
  impl_->server->Shutdown(std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(
                              std::max(std::chrono::steady_clock::duration::zero(), deadline - std::chrono::steady_clock::now())));
  impl_->server->Wait();
  impl_->server.reset();
}

}  // namespace kobs::collect::otlp
