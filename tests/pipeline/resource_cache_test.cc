// The per-resource cache of the metrics encoder: the cached encoding is the
// same bytes as the plain one, whatever order resources come in (shared,
// interleaved, absent), and a run of records sharing one is encoded once.
#include <gtest/gtest.h>

#include "pipeline/otel_encoders.h"

namespace kobs::pipeline {
namespace {

// The gauge table's columns as ClickStack creates them (types as the server reports them).
std::vector<ColumnSpec> gaugeLayout() {
  const std::string lc = "LowCardinality(String)", map = "Map(LowCardinality(String), String)";
  return {{"ResourceAttributes", map}, {"ResourceSchemaUrl", "String"}, {"ScopeName", "String"},
          {"ScopeVersion", "String"},  {"ScopeAttributes", map},        {"ScopeDroppedAttrCount", "UInt32"},
          {"ScopeSchemaUrl", "String"}, {"ServiceName", lc},            {"MetricName", "String"},
          {"MetricDescription", "String"}, {"MetricUnit", "String"},    {"Attributes", map},
          {"StartTimeUnix", "DateTime64(9)"}, {"TimeUnix", "DateTime64(9)"}, {"Value", "Float64"},
          {"Flags", "UInt32"}};
}

std::shared_ptr<const Resource> resource(const std::string& pod, const std::string& service) {
  auto r = std::make_shared<Resource>();
  r->attributes.emplace_back("k8s.pod.name", AnyValue(pod));
  r->attributes.emplace_back("k8s.namespace.name", AnyValue(std::string("team")));
  r->attributes.emplace_back("k8s.pod.restarts", AnyValue(int64_t(3)));
  if (!service.empty()) r->attributes.emplace_back("service.name", AnyValue(service));
  r->schema_url = "https://opentelemetry.io/schemas/1.24.0/" + pod;
  return r;
}

const auto kScope = [] {
  auto s = std::make_shared<Scope>();
  s->name = "kobs/k8s_cluster";
  s->version = "0.1";
  s->attributes.emplace_back("k", AnyValue(std::string("v")));
  return std::shared_ptr<const Scope>(s);
}();
const auto kOtherScope = std::make_shared<const Scope>(Scope{.name = "other"});

MetricPoint point(std::shared_ptr<const Resource> r, const std::string& name, double v,
                  std::shared_ptr<const Scope> scope = kScope) {
  MetricPoint p;
  p.resource = std::move(r);
  p.scope = std::move(scope);
  p.name = name;
  p.unit = "1";
  p.attributes.emplace_back("state", AnyValue(std::string("ready")));
  p.time_unix_nano = 1772704800LL * 1000000000LL + int64_t(v);
  p.value = v;
  return p;
}

TEST(ResourceCache, SameBytesAsWithoutIt) {
  MetricEncoder enc("otel_metrics_gauge", gaugeLayout(), metricBindings(MetricType::kGauge));
  auto a = resource("a", "svc-a"), b = resource("b", ""), c = resource("c", "svc-c");
  std::vector<MetricPoint> pts = {point(a, "k8s.pod.phase", 1), point(a, "k8s.container.ready", 2),
                                  point(b, "k8s.pod.phase", 3), point(a, "k8s.container.restarts", 4),
                                  point(nullptr, "k8s.node.condition_ready", 5), point(c, "k8s.pod.phase", 6),
                                  point(b, "k8s.container.ready", 7), point(nullptr, "k8s.namespace.phase", 8),
                                  point(nullptr, "x", 9, kOtherScope), point(nullptr, "y", 10, nullptr)};
  std::string plain, cached;
  ResourceCache cache;
  for (const auto& p : pts) {
    enc.encode(p, plain);
    enc.encode(p, cached, cache);
    ASSERT_EQ(cached, plain) << "after " << p.name << " " << p.value;
  }
  // Encoded once per run of records sharing a resource and scope: a a | b | a | - | c | b | - | -,other | -,-.
  EXPECT_EQ(cache.misses, 9u);

  // Different resources with equal contents still each get their own bytes right.
  auto a2 = resource("a", "svc-other");
  std::string p2, c2;
  enc.encode(point(a2, "m", 9), p2);
  enc.encode(point(a2, "m", 9), c2, cache);
  EXPECT_EQ(c2, p2);
  EXPECT_NE(p2.find("svc-other"), std::string::npos);
}

TEST(ResourceCache, ATableWithOnlyTheRequiredColumns) {
  // The stock exporter-like minimum: ResourceSchemaUrl absent, the rest cached.
  std::vector<ColumnSpec> layout = {{"ResourceAttributes", "Map(String, String)"}, {"ServiceName", "String"},
                                    {"MetricName", "String"}, {"Attributes", "Map(String, String)"},
                                    {"TimeUnix", "DateTime64(9)"}, {"Value", "Float64"}};
  MetricEncoder enc("t", layout, metricBindings(MetricType::kGauge));
  auto a = resource("a", "svc");
  std::string plain, cached;
  ResourceCache cache;
  for (int i = 0; i < 3; ++i) {
    enc.encode(point(a, "m", i), plain);
    enc.encode(point(a, "m", i), cached, cache);
  }
  EXPECT_EQ(cached, plain);
  EXPECT_EQ(cache.misses, 1u);
}

}  // namespace
}  // namespace kobs::pipeline
