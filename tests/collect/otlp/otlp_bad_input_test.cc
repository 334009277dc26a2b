// Bad OTLP/HTTP input: each request gets the right status and body, is
// counted, stores nothing, and the receiver keeps serving (a good request
// right after is stored). Plus the other refusals: 415, 405, 401 (auth), 503
// with Retry-After on a full disk buffer, and CORS.
#include <gtest/gtest.h>
#include <zlib.h>

#include "collect/otlp/otlp_fixture.h"
#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "store/clickhouse/body_codec.h"
#include "store/clickhouse/http_store.h"

#include <set>
#include <thread>

namespace kobs::collect::otlp {
namespace {

namespace pb = opentelemetry::proto;
using store::schema::Variant;

const char* kProto = "Content-Type: application/x-protobuf";
const char* kJson = "Content-Type: application/json";

std::string goodLogs(const std::string& body = "ok") {
  pb::collector::logs::v1::ExportLogsServiceRequest req;
  auto* rl = req.add_resource_logs();
  auto* a = rl->mutable_resource()->add_attributes();
  a->set_key("service.name");
  a->mutable_value()->set_string_value("bad-input-test");
  auto* lr = rl->add_scope_logs()->add_log_records();
  lr->set_time_unix_nano(1700000000000000000ull);
  lr->mutable_body()->set_string_value(body);
  return req.SerializeAsString();
}

// gzip of `n` zero bytes, compressed as a stream (the bytes never exist at once).
std::string gzipZeros(size_t n) {
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
  std::string out;
  std::string zeros(1 << 20, '\0');
  char buf[1 << 16];
  size_t left = n;
  while (true) {
    size_t chunk = std::min(left, zeros.size());
    zs.next_in = reinterpret_cast<Bytef*>(zeros.data());
    zs.avail_in = uInt(chunk);
    left -= chunk;
    int flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
    int ret;
    do {
      zs.next_out = reinterpret_cast<Bytef*>(buf);
      zs.avail_out = sizeof buf;
      ret = deflate(&zs, flush);
      out.append(buf, sizeof buf - zs.avail_out);
    } while (zs.avail_out == 0);
    if (flush == Z_FINISH && ret == Z_STREAM_END) break;
  }
  deflateEnd(&zs);
  return out;
}

class OtlpBadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<testing::OtlpStack>("otlp_bad", Variant::kClickStack);
    for (auto k : store::schema::allTableKinds())
      stack_->store->execute("TRUNCATE TABLE IF EXISTS `otlp_bad`.`" + stack_->table(k) + "`");
  }

  double refused(const std::string& signal, const std::string& outcome) {
    return stack_->metric("kobs_otlp_requests_total{signal=\"" + signal + "\",transport=\"http\",outcome=\"" + outcome + "\"}");
  }

  // The request is refused with `status`, counted under `outcome`, nothing
  // is stored, and a good request afterwards still works.
  void expectRefused(const std::string& path, const std::string& body, std::vector<std::string> headers, int status,
                     const std::string& outcome, const std::string& signal = "logs") {
    const double before = refused(signal, outcome);
    auto r = stack_->post(path, body, headers);
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(refused(signal, outcome), before + 1) << outcome;
    // The error body is a google.rpc.Status in the request's encoding.
    const bool json = !headers.empty() && headers[0] == kJson;
    if (json) {
      auto j = nlohmann::json::parse(r.body);
      EXPECT_TRUE(j.contains("message")) << r.body;
    } else {
      google::rpc::Status st;
      EXPECT_TRUE(st.ParseFromString(r.body)) << r.body;
      EXPECT_FALSE(st.message().empty());
    }
    stack_->drain();
    EXPECT_EQ(stack_->totalRows(), 0u) << "a refused request stored rows";
    auto ok = stack_->post("/v1/logs", goodLogs(), {kProto});
    EXPECT_EQ(ok.status, 200) << "the receiver stopped serving after " << outcome;
    stack_->drain();
    EXPECT_EQ(stack_->totalRows(), 1u);
    stack_->store->execute("TRUNCATE TABLE `otlp_bad`.`" + stack_->table(store::schema::TableKind::kLogs) + "`");
  }

  std::unique_ptr<testing::OtlpStack> stack_;
};

TEST_F(OtlpBadInputTest, MalformedProtobufIs400) {
  expectRefused("/v1/logs", std::string("\x0a\xff\xff\xff\xff\x0f garbage", 15), {kProto}, 400, "malformed");
  expectRefused("/v1/traces", "\x0a\x05\x0a\x03", {kProto}, 400, "malformed", "traces");  // truncated message
}

TEST_F(OtlpBadInputTest, MalformedJsonIs400) {
  expectRefused("/v1/logs", R"({"resourceLogs":[{"scopeLogs":[)", {kJson}, 400, "malformed");
  expectRefused("/v1/metrics", R"([1,2,3])", {kJson}, 400, "malformed", "metrics");
  // A field of the wrong type.
  expectRefused("/v1/logs", R"({"resourceLogs":"no"})", {kJson}, 400, "malformed");
}

TEST_F(OtlpBadInputTest, TruncatedAndCorruptGzipAre400) {
  auto gz = store::compressBody(store::BodyCompression::kGzip, goodLogs(std::string(5000, 'x')), 6);
  expectRefused("/v1/logs", gz.substr(0, gz.size() / 2), {kProto, "Content-Encoding: gzip"}, 400, "malformed");
  expectRefused("/v1/logs", "not gzip at all", {kProto, "Content-Encoding: gzip"}, 400, "malformed");
  auto zs = store::compressBody(store::BodyCompression::kZstd, goodLogs(std::string(5000, 'y')), 3);
  expectRefused("/v1/logs", zs.substr(0, zs.size() - 4), {kProto, "Content-Encoding: zstd"}, 400, "malformed");
}

TEST_F(OtlpBadInputTest, GzipBombIs413NotAnOutOfMemory) {
  // 256 MiB of zeros in about 250 KB: refused once 16 MiB (the default limit)
  // is decompressed, long before the rest.
  auto bomb = gzipZeros(size_t(256) << 20);
  ASSERT_LT(bomb.size(), size_t(1) << 20);
  expectRefused("/v1/logs", bomb, {kProto, "Content-Encoding: gzip"}, 413, "too_large");
}

TEST_F(OtlpBadInputTest, HundredMegabyteBodyIs413) {
  // Refused by the server while reading (the body limit is otlp.max_request_bytes), counted there.
  auto count413 = [&] { return stack_->metric("kobs_http_requests_total{server=\"otlp\",code=\"4xx\"}"); };
  const double before = count413();
  auto r = stack_->post("/v1/logs", std::string(100u << 20, 'a'), {kProto});
  // The server answers 413 and closes; curl may report the closed upload instead of the answer.
  if (r.status != 0) {
    EXPECT_EQ(r.status, 413);
  }
  EXPECT_EQ(count413(), before + 1);
  stack_->drain();
  EXPECT_EQ(stack_->totalRows(), 0u);
  EXPECT_EQ(stack_->post("/v1/logs", goodLogs(), {kProto}).status, 200);
}

TEST_F(OtlpBadInputTest, DeepAnyValueNestingIs400) {
  // Protobuf: 200 levels of kvlist in a log body.
  pb::collector::logs::v1::ExportLogsServiceRequest req;
  auto* lr = req.add_resource_logs()->add_scope_logs()->add_log_records();
  auto* v = lr->mutable_body();
  for (int i = 0; i < 200; ++i) {
    auto* kv = v->mutable_kvlist_value()->add_values();
    kv->set_key("k");
    v = kv->mutable_value();
  }
  v->set_string_value("bottom");
  expectRefused("/v1/logs", req.SerializeAsString(), {kProto}, 400, "malformed");
  // 40 levels: parses as protobuf, refused by kobs's own depth limit (32).
  pb::collector::logs::v1::ExportLogsServiceRequest req40;
  auto* v40 = req40.add_resource_logs()->add_scope_logs()->add_log_records()->mutable_body();
  for (int i = 0; i < 40; ++i) v40 = v40->mutable_array_value()->add_values();
  v40->set_int_value(1);
  expectRefused("/v1/logs", req40.SerializeAsString(), {kProto}, 400, "malformed");
  // JSON: 500 levels of arrays.
  std::string json = R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":)";
  for (int i = 0; i < 500; ++i) json += R"({"arrayValue":{"values":[)";
  json += R"({"intValue":1})";
  for (int i = 0; i < 500; ++i) json += "]}}";
  json += "}]}]}]}";
  expectRefused("/v1/logs", json, {kJson}, 400, "malformed");
}

TEST_F(OtlpBadInputTest, InvalidUtf8Is400) {
  pb::collector::logs::v1::ExportLogsServiceRequest req;
  auto* lr = req.add_resource_logs()->add_scope_logs()->add_log_records();
  // Built as bytes, then the field type changed: string fields must be UTF-8.
  lr->mutable_body()->set_bytes_value("\xff\xfe\xfd");
  std::string body = req.SerializeAsString();
  // AnyValue.bytes_value is field 7 (tag 0x3a); string_value is field 1 (tag 0x0a).
  auto pos = body.find(std::string("\x3a\x03\xff\xfe\xfd", 5));
  ASSERT_NE(pos, std::string::npos);
  body[pos] = '\x0a';
  expectRefused("/v1/logs", body, {kProto}, 400, "malformed");
  expectRefused("/v1/logs", "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":{\"stringValue\":\"\xff\xfe\"}}]}]}]}",
                {kJson}, 400, "malformed");
}

TEST_F(OtlpBadInputTest, IdsOfTheWrongLengthAre400) {
  pb::collector::trace::v1::ExportTraceServiceRequest req;
  auto* s = req.add_resource_spans()->add_scope_spans()->add_spans();
  s->set_trace_id(std::string(15, '\x01'));
  s->set_span_id(std::string(8, '\x02'));
  expectRefused("/v1/traces", req.SerializeAsString(), {kProto}, 400, "malformed", "traces");
  s->set_trace_id(std::string(16, '\x01'));
  s->set_span_id(std::string(9, '\x02'));
  expectRefused("/v1/traces", req.SerializeAsString(), {kProto}, 400, "malformed", "traces");
  expectRefused("/v1/traces",
                R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102","spanId":"0102030405060708","name":"x"}]}]}]})",
                {kJson}, 400, "malformed", "traces");
  expectRefused("/v1/traces",
                R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz02030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"}]}]}]})",
                {kJson}, 400, "malformed", "traces");
}

TEST_F(OtlpBadInputTest, WrongContentTypeIs415WrongMethodIs405) {
  expectRefused("/v1/logs", goodLogs(), {"Content-Type: text/plain"}, 415, "unsupported_media_type");
  expectRefused("/v1/logs", goodLogs(), {kProto, "Content-Encoding: br"}, 415, "unsupported_media_type");
  kobs::http::testing::Client c;
  auto r = c.fetch(stack_->url("/v1/logs"));
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.header("allow").find("POST"), std::string::npos);
}

TEST_F(OtlpBadInputTest, EmptyRequestIsAcceptedWithoutPartialSuccess) {
  auto r = stack_->post("/v1/traces", "{}", {kJson});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{}");
  r = stack_->post("/v1/metrics", "", {kProto});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
}

TEST(OtlpReceiverAuth, BearerTokenRequiredWhenConfigured) {
  ReceiverOptions ro;
  ro.tokens = {"s3cret"};
  ro.cors_allowed_origins = {"https://app.example"};
  testing::OtlpStack stack("otlp_auth", Variant::kClickStack, ro);
  auto r = stack.post("/v1/logs", goodLogs(), {kProto});
  EXPECT_EQ(r.status, 401);
  r = stack.post("/v1/logs", goodLogs(), {kProto, "Authorization: Bearer wrong"});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(stack.metric("kobs_otlp_requests_total{signal=\"logs\",transport=\"http\",outcome=\"unauthorized\"}"), 2);
  r = stack.post("/v1/logs", goodLogs(), {kProto, "Authorization: Bearer s3cret", "Origin: https://app.example"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("access-control-allow-origin"), "https://app.example");
  // Preflight from an allowed origin, and none for another.
  kobs::http::testing::Client c;
  kobs::http::testing::CurlRequest pre;
  pre.method = "OPTIONS";
  pre.headers = {"Origin: https://app.example", "Access-Control-Request-Method: POST",
                 "Access-Control-Request-Headers: content-type,authorization"};
  auto p = c.fetch(stack.url("/v1/traces"), pre);
  EXPECT_EQ(p.status, 204);
  EXPECT_EQ(p.header("access-control-allow-origin"), "https://app.example");
  EXPECT_EQ(p.header("access-control-allow-headers"), "content-type,authorization");
  pre.headers = {"Origin: https://evil.example", "Access-Control-Request-Method: POST"};
  p = c.fetch(stack.url("/v1/traces"), pre);
  EXPECT_EQ(p.header("access-control-allow-origin"), "");
}

TEST(OtlpReceiverBackPressure, FullDiskBufferIs503WithRetryAfter) {
  // The pipeline sends to a ClickHouse server that is not there (a real HTTP
  // store on a closed port), so its small disk buffer fills up.
  store::HttpStoreOptions ho;
  ho.url = "http://127.0.0.1:1";
  ho.database = "otlp_full";
  ho.connect_timeout = std::chrono::milliseconds(200);
  ho.retry.max_retries = 0;
  store::HttpStore unreachable(ho);
  pipeline::PipelineOptions po;
  po.buffer.max_bytes = 64 * 1024;
  po.batch.max_rows = 10;
  po.batch.full_wait = std::chrono::milliseconds(50);
  ReceiverOptions ro;
  ro.retry_after_seconds = 7;
  testing::OtlpStack stack("otlp_full", Variant::kClickStack, ro, po, &unreachable);
  int accepted = 0;
  kobs::http::testing::CurlResult r;
  for (int i = 0; i < 1000; ++i) {
    r = stack.post("/v1/logs", goodLogs(std::string(2000, 'z')), {kProto});
    if (r.status != 200) break;
    ++accepted;
  }
  ASSERT_EQ(r.status, 503) << r.body;
  EXPECT_GT(accepted, 0);
  EXPECT_EQ(r.header("retry-after"), "7");
  google::rpc::Status st;
  ASSERT_TRUE(st.ParseFromString(r.body));
  EXPECT_EQ(st.code(), 14);  // UNAVAILABLE
  ASSERT_EQ(st.details_size(), 1);
  google::rpc::RetryInfo info;
  ASSERT_TRUE(st.details(0).UnpackTo(&info));
  EXPECT_EQ(info.retry_delay().seconds(), 7);
  EXPECT_GE(stack.metric("kobs_otlp_requests_total{signal=\"logs\",transport=\"http\",outcome=\"buffer_full\"}"), 1);
  EXPECT_GE(stack.metric("kobs_otlp_records_rejected_total{signal=\"logs\",reason=\"buffer_full\"}"), 1);
  // The store never comes back in this test: do not wait for it at teardown.
  stack.receiver->shutdown(std::chrono::steady_clock::now());
  stack.pipeline->shutdown(std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
}

}  // namespace
}  // namespace kobs::collect::otlp

namespace kobs::collect::otlp {
namespace {

// FAKE, on purpose: the embedded store cannot be taken down and brought back
// on demand, so this wrapper refuses inserts (as an unreachable server would,
// retryably) while `down` is set and passes everything to the real embedded
// store otherwise.
class SwitchableStore final : public store::IStore {
 public:
  explicit SwitchableStore(store::IStore& real) : real_(real) {}
  std::atomic<bool> down{false};
  std::string_view kind() const override { return real_.kind(); }
  const std::string& database() const override { return real_.database(); }
  void execute(std::string_view sql, const store::Settings& s) override { real_.execute(sql, s); }
  store::QueryResult query(std::string_view sql, std::string_view format, const store::Settings& s) override {
    return real_.query(sql, format, s);
  }
  store::InsertResult insert(const store::InsertRequest& r) override {
    if (down) throw Exception(ErrorCode::kStoreUnavailable, "store switched off by the test");
    return real_.insert(r);
  }
  void ping() override {
    if (down) throw Exception(ErrorCode::kStoreUnavailable, "store switched off by the test");
  }

 private:
  store::IStore& real_;
};

TEST(OtlpReceiverBackPressure, EveryAcceptedRecordIsStoredOnceAfterTheStoreRecovers) {
  auto real = kobs::testing::openEmbeddedStore("otlp_recover");
  store::schema::SchemaOptions so;
  so.database = "otlp_recover";
  store::schema::SchemaManager::apply(*real, so);
  real->execute("TRUNCATE TABLE IF EXISTS `otlp_recover`.`otel_logs`");
  SwitchableStore sw(*real);
  sw.down = true;
  pipeline::PipelineOptions po;
  po.buffer.max_bytes = 64 * 1024;
  po.batch.max_rows = 10;
  po.batch.full_wait = std::chrono::milliseconds(50);
  po.sender.backoff_initial = std::chrono::milliseconds(20);
  po.sender.backoff_max = std::chrono::milliseconds(100);
  testing::OtlpStack stack("otlp_recover", Variant::kClickStack, {}, po, &sw);
  // Each request carries one log whose body names it; send until refused.
  std::set<std::string> accepted;
  std::string refused_body;
  for (int i = 0; i < 1000 && refused_body.empty(); ++i) {
    std::string body = "req-" + std::to_string(i) + "-" + std::string(2000, 'p');
    auto r = stack.post("/v1/logs", goodLogs(body), {kProto});
    if (r.status == 200) accepted.insert(body);
    else if (r.status == 503) refused_body = body;
    else FAIL() << "unexpected status " << r.status << ": " << r.body;
  }
  ASSERT_FALSE(refused_body.empty()) << "the buffer never filled";
  ASSERT_FALSE(accepted.empty());
  // The store comes back; the client retries what was refused, as told.
  sw.down = false;
  kobs::http::testing::CurlResult retry;
  for (int i = 0; i < 600; ++i) {
    retry = stack.post("/v1/logs", goodLogs(refused_body), {kProto});
    if (retry.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the client's own back-off, not a timing assertion
  }
  ASSERT_EQ(retry.status, 200);
  accepted.insert(refused_body);
  stack.drain();
  auto rows = stack.rows("SELECT Body, count() AS n FROM `otlp_recover`.`otel_logs` GROUP BY Body "
                         "SETTINGS output_format_json_quote_64bit_integers=0");
  std::set<std::string> stored;
  for (const auto& r : rows) {
    EXPECT_EQ(r["n"], 1) << "stored twice: " << r["Body"].get<std::string>().substr(0, 12);
    stored.insert(r["Body"].get<std::string>());
  }
  EXPECT_EQ(stored.size(), accepted.size());
  EXPECT_TRUE(stored == accepted) << "every accepted record, and only those, is stored";
}

}  // namespace
}  // namespace kobs::collect::otlp
