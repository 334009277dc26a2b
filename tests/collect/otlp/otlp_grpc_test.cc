// OTLP/gRPC with gRPC's own C++ client (Debian's libgrpc++): Export for the
// three services, gzip, and the outcomes as status codes: INVALID_ARGUMENT
// for malformed input, RESOURCE_EXHAUSTED over the message size limit,
// UNAVAILABLE with a google.rpc.RetryInfo when the disk buffer is full,
// partial_success for records kobs cannot store.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "collect/otlp/otlp_fixture.h"
#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "store/clickhouse/http_store.h"

namespace kobs::collect::otlp {
namespace {

namespace pb = opentelemetry::proto;
using store::schema::TableKind;
using store::schema::Variant;

std::shared_ptr<grpc::Channel> channel(uint16_t port) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args);
}

pb::collector::logs::v1::ExportLogsServiceRequest logs(size_t n, size_t body_bytes = 10) {
  pb::collector::logs::v1::ExportLogsServiceRequest req;
  auto* sl = req.add_resource_logs()->add_scope_logs();
  for (size_t i = 0; i < n; ++i) {
    auto* lr = sl->add_log_records();
    lr->set_time_unix_nano(1700000000000000000ull + i);
    lr->mutable_body()->set_string_value(std::string(body_bytes, 'x'));
  }
  return req;
}

grpc::Status exportLogs(uint16_t port, const pb::collector::logs::v1::ExportLogsServiceRequest& req,
                        pb::collector::logs::v1::ExportLogsServiceResponse* resp, bool gzip = false) {
  auto stub = pb::collector::logs::v1::LogsService::NewStub(channel(port));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (gzip) ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  return stub->Export(&ctx, req, resp);
}

class OtlpGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ReceiverOptions ro;
    ro.http_listen = "";
    ro.grpc_listen = "127.0.0.1:0";
    ro.max_request_bytes = 1 << 20;
    stack_ = std::make_unique<testing::OtlpStack>("otlp_grpc", Variant::kClickStack, ro);
    for (auto k : store::schema::allTableKinds())
      stack_->store->execute("TRUNCATE TABLE IF EXISTS `otlp_grpc`.`" + stack_->table(k) + "`");
    port_ = stack_->receiver->grpcPort();
    ASSERT_GT(port_, 0);
  }
  double grpcRequests(const std::string& signal, const std::string& outcome) {
    return stack_->metric("kobs_otlp_requests_total{signal=\"" + signal + "\",transport=\"grpc\",outcome=\"" + outcome + "\"}");
  }
  std::unique_ptr<testing::OtlpStack> stack_;
  uint16_t port_ = 0;
};

TEST_F(OtlpGrpcTest, ExportsOfTheThreeServicesAreStoredPlainAndGzip) {
  pb::collector::logs::v1::ExportLogsServiceResponse lresp;
  ASSERT_TRUE(exportLogs(port_, logs(3), &lresp).ok());
  EXPECT_FALSE(lresp.has_partial_success());
  ASSERT_TRUE(exportLogs(port_, logs(2, 5000), &lresp, /*gzip=*/true).ok());

  pb::collector::trace::v1::ExportTraceServiceRequest treq;
  auto* s = treq.add_resource_spans()->add_scope_spans()->add_spans();
  s->set_trace_id(std::string(16, '\x07'));
  s->set_span_id(std::string(8, '\x08'));
  s->set_name("grpc-span");
  s->set_start_time_unix_nano(1700000000000000000ull);
  s->set_end_time_unix_nano(1700000000000000000ull + 42);
  pb::collector::trace::v1::ExportTraceServiceResponse tresp;
  grpc::ClientContext tctx;
  ASSERT_TRUE(pb::collector::trace::v1::TraceService::NewStub(channel(port_))->Export(&tctx, treq, &tresp).ok());

  pb::collector::metrics::v1::ExportMetricsServiceRequest mreq;
  auto* sm = mreq.add_resource_metrics()->add_scope_metrics();
  auto* g = sm->add_metrics();
  g->set_name("g");
  g->mutable_gauge()->add_data_points()->set_as_double(1.5);
  sm->add_metrics()->set_name("empty");  // no data: reported, not stored
  pb::collector::metrics::v1::ExportMetricsServiceResponse mresp;
  grpc::ClientContext mctx;
  ASSERT_TRUE(pb::collector::metrics::v1::MetricsService::NewStub(channel(port_))->Export(&mctx, mreq, &mresp).ok());
  EXPECT_EQ(mresp.partial_success().rejected_data_points(), 1);
  EXPECT_NE(mresp.partial_success().error_message().find("empty"), std::string::npos);

  stack_->drain();
  EXPECT_EQ(stack_->count(TableKind::kLogs), 5u);
  EXPECT_EQ(stack_->count(TableKind::kTraces), 1u);
  EXPECT_EQ(stack_->count(TableKind::kMetricsGauge), 1u);
  auto rows = stack_->rows("SELECT SpanName, Duration FROM `otlp_grpc`.`otel_traces` SETTINGS output_format_json_quote_64bit_integers=0");
  EXPECT_EQ(rows.at(0)["SpanName"], "grpc-span");
  EXPECT_EQ(rows.at(0)["Duration"], 42);
  EXPECT_EQ(grpcRequests("logs", "accepted"), 2);
  EXPECT_EQ(grpcRequests("metrics", "partial"), 1);
}

TEST_F(OtlpGrpcTest, MalformedIsInvalidArgumentAndNothingIsStored) {
  auto req = logs(1);
  req.mutable_resource_logs(0)->mutable_scope_logs(0)->mutable_log_records(0)->set_trace_id("short");
  pb::collector::logs::v1::ExportLogsServiceResponse resp;
  auto st = exportLogs(port_, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_NE(st.error_message().find("trace_id"), std::string::npos) << st.error_message();
  EXPECT_EQ(grpcRequests("logs", "malformed"), 1);
  stack_->drain();
  EXPECT_EQ(stack_->totalRows(), 0u);
  EXPECT_TRUE(exportLogs(port_, logs(1), &resp).ok()) << "the server stopped serving";
}

TEST_F(OtlpGrpcTest, OverTheSizeLimitIsResourceExhausted) {
  pb::collector::logs::v1::ExportLogsServiceResponse resp;
  auto st = exportLogs(port_, logs(4, 512 * 1024), &resp);  // 2 MiB against a 1 MiB limit
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  // Compressed small, decompressed over the limit: refused all the same.
  st = exportLogs(port_, logs(4, 512 * 1024), &resp, /*gzip=*/true);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  stack_->drain();
  EXPECT_EQ(stack_->totalRows(), 0u);
  EXPECT_TRUE(exportLogs(port_, logs(1), &resp).ok());
}

TEST(OtlpGrpcBackPressure, FullDiskBufferIsUnavailableWithRetryInfo) {
  store::HttpStoreOptions ho;
  ho.url = "http://127.0.0.1:1";  // a real HTTP store with no server behind it
  ho.database = "otlp_grpc_full";
  ho.connect_timeout = std::chrono::milliseconds(200);
  ho.retry.max_retries = 0;
  store::HttpStore unreachable(ho);
  pipeline::PipelineOptions po;
  po.buffer.max_bytes = 64 * 1024;
  po.batch.max_rows = 10;
  po.batch.full_wait = std::chrono::milliseconds(50);
  ReceiverOptions ro;
  ro.http_listen = "";
  ro.grpc_listen = "127.0.0.1:0";
  ro.retry_after_seconds = 3;
  testing::OtlpStack stack("otlp_grpc_full", Variant::kClickStack, ro, po, &unreachable);
  grpc::Status st;
  pb::collector::logs::v1::ExportLogsServiceResponse resp;
  for (int i = 0; i < 1000 && st.ok(); ++i) st = exportLogs(stack.receiver->grpcPort(), logs(5, 2000), &resp);
  ASSERT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(st.error_details()));
  ASSERT_EQ(details.details_size(), 1);
  google::rpc::RetryInfo info;
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.retry_delay().seconds(), 3);
  stack.receiver->shutdown(std::chrono::steady_clock::now());
  stack.pipeline->shutdown(std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
}

}  // namespace
}  // namespace kobs::collect::otlp
