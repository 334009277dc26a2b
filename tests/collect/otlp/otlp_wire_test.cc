// The OTLP wire reader (otlp_wire.h): the bodies it takes give byte-identical
// rows to the generated parser's path; the bodies it leaves (malformed, or
// shapes only protobuf's merge rules define) go to the generated parser, which
// refuses the malformed ones. The fuzz target checks the same on random input.
#include <gtest/gtest.h>

#include "collect/otlp/wire_equivalence.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace kobs::collect::otlp {
namespace {

namespace pb = opentelemetry::proto;
using testing::compareLogs;
using testing::compareSpans;
using testing::Encoders;
using KVs = google::protobuf::RepeatedPtrField<pb::common::v1::KeyValue>;

const Encoders& encoders() {
  static const Encoders e;
  return e;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(char(x));
  return s;
}

// Every AnyValue kind, nested arrays and lists, a duplicate key, an empty value.
void everyKind(KVs* a) {
  auto add = [&](const std::string& k) {
    auto* kv = a->Add();
    kv->set_key(k);
    return kv->mutable_value();
  };
  add("service.name")->set_string_value("checkout");
  add("up")->set_bool_value(true);
  add("pid")->set_int_value(-4242);
  add("ratio")->set_double_value(1.5e-7);
  add("raw")->set_bytes_value(bytes({0, 1, 255}));
  auto* arr = add("tags")->mutable_array_value();
  arr->add_values()->set_string_value("a");
  arr->add_values()->mutable_kvlist_value()->add_values()->set_key("inner");
  auto* kvl = add("nested")->mutable_kvlist_value();
  auto* z = kvl->add_values();
  z->set_key("z");
  z->mutable_value()->set_string_value("q\"uote");
  auto* y = kvl->add_values();
  y->set_key("y");
  y->mutable_value()->mutable_array_value()->add_values()->set_double_value(2.5);
  add("empty");
  add("pid")->set_string_value("dup");
  add("unicode")->set_string_value("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
}

pb::collector::logs::v1::ExportLogsServiceRequest richLogs() {
  pb::collector::logs::v1::ExportLogsServiceRequest req;
  auto* rl = req.add_resource_logs();
  everyKind(rl->mutable_resource()->mutable_attributes());
  rl->set_schema_url("https://opentelemetry.io/schemas/1.21.0");
  auto* sl = rl->add_scope_logs();
  sl->mutable_scope()->set_name("scope");
  sl->mutable_scope()->set_version("1.0");
  everyKind(sl->mutable_scope()->mutable_attributes());
  sl->set_schema_url("s");
  auto* l = sl->add_log_records();
  l->set_time_unix_nano(1700000000123456789ull);
  l->set_observed_time_unix_nano(1700000000999999999ull);
  l->set_severity_number(pb::logs::v1::SEVERITY_NUMBER_ERROR);
  l->set_severity_text("ERROR");
  l->mutable_body()->set_string_value(std::string(300, 'x'));
  everyKind(l->mutable_attributes());
  l->set_trace_id(std::string(16, '\x01'));
  l->set_span_id(std::string(8, '\x02'));
  l->set_flags(0x301);
  l->set_event_name("ev");
  auto* l2 = sl->add_log_records();  // no time, a kvlist body
  l2->set_observed_time_unix_nano(1700000002000000000ull);
  everyKind(l2->mutable_body()->mutable_kvlist_value()->mutable_values());
  sl->add_log_records()->mutable_body()->set_int_value(7);  // nothing but a body
  sl->add_log_records();                                     // empty
  // A second resource without resource or scope messages.
  req.add_resource_logs()->add_scope_logs()->add_log_records()->mutable_body()->set_bytes_value("b");
  return req;
}

pb::collector::trace::v1::ExportTraceServiceRequest richSpans() {
  pb::collector::trace::v1::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  everyKind(rs->mutable_resource()->mutable_attributes());
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("scope");
  for (int k = 0; k < 8; ++k) {
    auto* s = ss->add_spans();
    s->set_trace_id(std::string(16, char(k + 1)));
    s->set_span_id(std::string(8, char(k + 2)));
    if (k % 2) s->set_parent_span_id(std::string(8, char(k + 3)));
    s->set_trace_state("k=v");
    s->set_name("GET /x");
    s->set_kind(static_cast<pb::trace::v1::Span::SpanKind>(k));  // 6 and 7: out of range
    s->set_start_time_unix_nano(1700000000000000000ull + k);
    s->set_end_time_unix_nano(k == 3 ? 1 : 1700000001000000000ull);  // 3: ends before it starts
    everyKind(s->mutable_attributes());
    for (int e = 0; e < k % 3; ++e) {
      auto* ev = s->add_events();
      ev->set_time_unix_nano(1700000000500000000ull + e);
      ev->set_name("event");
      everyKind(ev->mutable_attributes());
    }
    if (k % 2) {
      auto* lk = s->add_links();
      lk->set_trace_id(std::string(16, '\x09'));
      lk->set_span_id(std::string(8, '\x08'));
      lk->set_trace_state("x=y");
      everyKind(lk->mutable_attributes());
    }
    s->mutable_status()->set_code(static_cast<pb::trace::v1::Status::StatusCode>(k % 4));
    s->mutable_status()->set_message("m");
  }
  return req;
}

TEST(OtlpWire, RichLogsGiveTheRowsOfTheGeneratedParser) {
  const auto c = compareLogs(encoders(), richLogs().SerializeAsString());
  EXPECT_TRUE(c.read);
  EXPECT_EQ(c.records, 5u);
  EXPECT_EQ(c.error, "");
}

TEST(OtlpWire, RichSpansGiveTheRowsOfTheGeneratedParser) {
  const auto c = compareSpans(encoders(), richSpans().SerializeAsString());
  EXPECT_TRUE(c.read);
  EXPECT_EQ(c.records, 8u);
  EXPECT_EQ(c.error, "");
}

TEST(OtlpWire, FieldOrderAndUnknownFieldsDoNotMatter) {
  auto req = richLogs();
  auto* rl = req.mutable_resource_logs(0);
  // The resource after the scopes, the schema first: serialize the parts by hand.
  pb::logs::v1::ResourceLogs resource_only, scopes_only;
  *resource_only.mutable_resource() = rl->resource();
  *scopes_only.mutable_scope_logs() = rl->scope_logs();
  pb::logs::v1::ResourceLogs schema_only;
  schema_only.set_schema_url(rl->schema_url());
  const std::string unknown = bytes({0xB8, 0x3E, 0x05, 0x9D, 0x3F, 1, 2, 3, 4});  // fields 999 (varint), 1011 (fixed32)
  const std::string rl_bytes =
      schema_only.SerializeAsString() + scopes_only.SerializeAsString() + unknown + resource_only.SerializeAsString();
  std::string body;
  body.push_back(0x0A);
  for (size_t n = rl_bytes.size(); ; n >>= 7) {
    body.push_back(char((n & 0x7F) | (n >= 0x80 ? 0x80 : 0)));
    if (n < 0x80) break;
  }
  body += rl_bytes + unknown;
  const auto c = compareLogs(encoders(), body);
  EXPECT_TRUE(c.read);
  EXPECT_EQ(c.records, 4u);
  EXPECT_EQ(c.error, "");
}

// Each of these goes to the generated parser, which refuses it (kBadInput).
TEST(OtlpWire, MalformedBodiesAreLeftToTheGeneratedParser) {
  std::vector<std::pair<std::string, std::string>> cases;
  const auto good = richLogs().SerializeAsString();
  cases.emplace_back("truncated", good.substr(0, good.size() - 3));
  auto utf8 = richLogs();
  utf8.mutable_resource_logs(0)->mutable_scope_logs(0)->mutable_log_records(0)->set_severity_text("bad \xC0\xAF");
  cases.emplace_back("overlong UTF-8", utf8.SerializeAsString());
  auto surrogate = richLogs();
  surrogate.mutable_resource_logs(0)->mutable_resource()->mutable_attributes(0)->set_key("\xED\xA0\x80");
  cases.emplace_back("surrogate", surrogate.SerializeAsString());
  auto id = richLogs();
  id.mutable_resource_logs(0)->mutable_scope_logs(0)->mutable_log_records(0)->set_trace_id("short");
  cases.emplace_back("trace id of 5 bytes", id.SerializeAsString());
  auto deep = richLogs();
  auto* v = deep.mutable_resource_logs(0)->mutable_scope_logs(0)->mutable_log_records(0)->mutable_body();
  for (int i = 0; i < kMaxAnyValueDepth + 1; ++i) v = v->mutable_array_value()->add_values();
  v->set_int_value(1);
  cases.emplace_back("AnyValue too deep", deep.SerializeAsString());
  for (const auto& [what, body] : cases) {
    LogRefs refs;
    EXPECT_FALSE(readLogs(body, refs)) << what;
    try {
      decodeLogs(body, Encoding::kProtobuf);
      ADD_FAILURE() << what << ": the generated parser took it";
    } catch (const Exception& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBadInput) << what;
    }
  }
}

// Shapes only protobuf's merge rules define: left to the generated parser, which takes them.
TEST(OtlpWire, MergedMessagesAreLeftToTheGeneratedParser) {
  pb::logs::v1::ResourceLogs r1, r2;
  r1.mutable_resource()->add_attributes()->set_key("a");
  r2.mutable_resource()->add_attributes()->set_key("b");
  r2.add_scope_logs()->add_log_records()->set_severity_text("x");
  const std::string rl = r1.SerializeAsString() + r2.SerializeAsString();  // two resource fields: merged
  std::string body = "\x0A" + std::string(1, char(rl.size())) + rl;
  ASSERT_LT(rl.size(), 128u);
  LogRefs refs;
  EXPECT_FALSE(readLogs(body, refs));
  const auto d = decodeLogs(body, Encoding::kProtobuf);
  ASSERT_EQ(d.records.size(), 1u);
  EXPECT_EQ(d.records[0].resource->attributes.size(), 2u);
}

TEST(OtlpWire, ResourceMapIsEncodedOnceAndServiceNameIsTheFirstString) {
  pb::collector::trace::v1::ExportTraceServiceRequest req;
  auto* a = req.add_resource_spans()->mutable_resource()->mutable_attributes();
  auto* n1 = a->Add();
  n1->set_key("service.name");
  n1->mutable_value()->set_int_value(1);  // not a string: skipped
  auto* n2 = a->Add();
  n2->set_key("service.name");
  n2->mutable_value()->set_string_value("second");
  req.mutable_resource_spans(0)->add_scope_spans()->add_spans()->set_name("s");
  SpanRefs refs;
  ASSERT_TRUE(readSpans(req.SerializeAsString(), refs));
  ASSERT_EQ(refs.spans.size(), 1u);
  EXPECT_EQ(refs.spans[0].resource->service_name, "second");
  EXPECT_EQ(compareSpans(encoders(), req.SerializeAsString()).error, "");
}

}  // namespace
}  // namespace kobs::collect::otlp
