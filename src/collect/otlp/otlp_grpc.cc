// OTLP/gRPC: the three Export services on gRPC's callback API, the same
// outcomes as OTLP/HTTP as status codes.
//
// Threading: gRPC's own threads run Export(), which only checks the token
// and posts the call to a pool of otlp.http_workers threads (mapping and the
// batcher's add() may wait on a full buffer, so never on a gRPC thread). The
// call is finished from the durable callback (the pipeline's flusher), never
// waited for by any thread. CallGate holds the unfinished calls so stop()
// can finish those the pipeline never answers, before the server goes.
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include <condition_variable>
#include <mutex>
#include <unordered_map>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "collect/otlp/otlp_transport.h"
#include "common/error.h"
#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace kobs::collect::otlp {
namespace {

namespace pb = opentelemetry::proto::collector;

bool authorized(const Receiver& r, grpc::CallbackServerContext* ctx) {
  if (r.options().tokens.empty()) return true;
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return false;
  return r.authorized(std::string_view(it->second.data(), it->second.size()));
}

// The status for an outcome other than accepted. UNAVAILABLE carries a
// google.rpc.RetryInfo in grpc-status-details-bin, which OTLP exporters honour.
grpc::Status statusFor(int retry_after_seconds, const Outcome& o) {
  switch (o.kind) {
    case Outcome::kMalformed: return {grpc::StatusCode::INVALID_ARGUMENT, o.message};
    case Outcome::kTooLarge: return {grpc::StatusCode::RESOURCE_EXHAUSTED, o.message};
    case Outcome::kBufferFull:
    case Outcome::kShuttingDown: {
      google::rpc::Status st;
      st.set_code(int(grpc::StatusCode::UNAVAILABLE));
      st.set_message(o.message);
      google::rpc::RetryInfo info;
      info.mutable_retry_delay()->set_seconds(retry_after_seconds);
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

// The calls not finished yet. A call is finished exactly once: by its
// outcome, or by close() (server stop) with UNAVAILABLE.
class CallGate {
 public:
  // False once closing: the caller finishes the call itself.
  bool hold(grpc::ServerUnaryReactor* call) {
    std::lock_guard lock(mutex_);
    if (closing_) return false;
    calls_.emplace(call, nullptr);
    return true;
  }
  // Finishes `call` if it still waits; `fill` writes the response first (the
  // response message lives until Finish).
  void finish(grpc::ServerUnaryReactor* call, const grpc::Status& status, const std::function<void()>& fill = {}) {
    std::lock_guard lock(mutex_);
    if (calls_.erase(call) == 0) return;
    if (fill) fill();
    call->Finish(status);
    if (calls_.empty()) drained_.notify_all();
  }
  // Refuses new calls; waits until the held ones are finished or `deadline`.
  void stopTaking(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    closing_ = true;
    drained_.wait_until(lock, deadline, [&] { return calls_.empty(); });
  }
  // Finishes what is left (their records may still be stored; the client
  // retries, at least once).
  void finishAll(const grpc::Status& status) {
    std::lock_guard lock(mutex_);
    for (auto& [call, _] : calls_) call->Finish(status);
    calls_.clear();
  }

 private:
  std::mutex mutex_;
  std::condition_variable drained_;
  bool closing_ = false;
  std::unordered_map<grpc::ServerUnaryReactor*, void*> calls_;
};

struct Shared {
  Receiver& receiver;
  boost::asio::thread_pool& pool;
  std::shared_ptr<CallGate> gate;
};

// One Export: check, post to the pool, finish from the outcome.
template <typename Request, typename Response, typename Partial>
grpc::ServerUnaryReactor* exportCall(Shared& s, Signal signal, grpc::CallbackServerContext* ctx, const Request* req,
                                     Response* resp, void (Partial::*set_count)(int64_t)) {
  auto* call = ctx->DefaultReactor();
  if (!authorized(s.receiver, ctx)) {
    s.receiver.countRefused(signal, "grpc", "unauthorized");
    call->Finish({grpc::StatusCode::UNAUTHENTICATED, "missing or invalid bearer token"});
    return call;
  }
  if (!s.gate->hold(call)) {
    s.receiver.countRefused(signal, "grpc", "shutting_down");
    Outcome o;
    o.kind = Outcome::kShuttingDown;
    o.message = "kobs is shutting down";
    call->Finish(statusFor(s.receiver.options().retry_after_seconds, o));
    return call;
  }
  boost::asio::post(s.pool, [&receiver = s.receiver, gate = s.gate, call, req, resp, set_count, peer = ctx->peer()] {
    receiver.ingest(
        *req,
        [gate, call, resp, set_count, retry = receiver.options().retry_after_seconds](Outcome o) {
          if (o.kind != Outcome::kAccepted) return gate->finish(call, statusFor(retry, o));
          gate->finish(call, grpc::Status::OK, [&] {
            if (o.rejected.count) fillPartial(o.rejected, resp->mutable_partial_success(), set_count);
          });
        },
        peer);
  });
  return call;
}

class LogsService final : public pb::logs::v1::LogsService::CallbackService {
 public:
  explicit LogsService(Shared& s) : s_(s) {}
  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* ctx, const pb::logs::v1::ExportLogsServiceRequest* req,
                                   pb::logs::v1::ExportLogsServiceResponse* resp) override {
    return exportCall(s_, Signal::kLogs, ctx, req, resp, &pb::logs::v1::ExportLogsPartialSuccess::set_rejected_log_records);
  }

 private:
  Shared& s_;
};

class TraceService final : public pb::trace::v1::TraceService::CallbackService {
 public:
  explicit TraceService(Shared& s) : s_(s) {}
  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* ctx,
                                   const pb::trace::v1::ExportTraceServiceRequest* req,
                                   pb::trace::v1::ExportTraceServiceResponse* resp) override {
    return exportCall(s_, Signal::kTraces, ctx, req, resp, &pb::trace::v1::ExportTracePartialSuccess::set_rejected_spans);
  }

 private:
  Shared& s_;
};

class MetricsService final : public pb::metrics::v1::MetricsService::CallbackService {
 public:
  explicit MetricsService(Shared& s) : s_(s) {}
  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* ctx,
                                   const pb::metrics::v1::ExportMetricsServiceRequest* req,
                                   pb::metrics::v1::ExportMetricsServiceResponse* resp) override {
    return exportCall(s_, Signal::kMetrics, ctx, req, resp,
                      &pb::metrics::v1::ExportMetricsPartialSuccess::set_rejected_data_points);
  }

 private:
  Shared& s_;
};

}  // namespace

struct GrpcServer::Impl {
  explicit Impl(Receiver& r)
      : pool(std::max<size_t>(1, r.options().http_workers)),
        shared{r, pool, std::make_shared<CallGate>()},
        logs(shared),
        traces(shared),
        metrics(shared) {}
  boost::asio::thread_pool pool;
  Shared shared;
  LogsService logs;
  TraceService traces;
  MetricsService metrics;
  std::unique_ptr<grpc::Server> server;
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
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || port == 0)
    throw Exception(ErrorCode::kBadConfig, "otlp.grpc_listen: cannot listen on {}", listen);
  port_ = uint16_t(port);
}

GrpcServer::~GrpcServer() { stop(std::chrono::steady_clock::now()); }

void GrpcServer::stop(std::chrono::steady_clock::time_point deadline) {
  if (!impl_->server) return;
  // New calls are refused, held ones get until the deadline to be durable;
  // the pool then runs dry (nothing in it touches a call after finishing it)
  // and what is still held is finished here, so the server has no call left
  // open when it shuts down.
  impl_->shared.gate->stopTaking(deadline);
  impl_->pool.join();
  Outcome o;
  o.kind = Outcome::kShuttingDown;
  o.message = "kobs shut down before the records were durable: send them again";
  impl_->shared.gate->finishAll(statusFor(impl_->shared.receiver.options().retry_after_seconds, o));
  impl_->server->Shutdown(std::chrono::system_clock::now());
  impl_->server->Wait();
  impl_->server.reset();
}

}  // namespace kobs::collect::otlp
