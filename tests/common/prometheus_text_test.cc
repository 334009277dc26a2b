#include "common/prometheus_text.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/metrics.h"

namespace kobs::metrics {
namespace {

TEST(PrometheusText, ReadsWhatTheRegistryWrites) {
  Registry r;
  r.counter("kobs_x_total", "X.", {{"table", "otel_logs"}, {"reason", "a \"quoted\" \\ value\nnext"}}).inc(42);
  r.gauge("kobs_depth", "Depth.").set(2.5);
  auto& h = r.histogram("kobs_latency_seconds", "Latency.", {0.1, 1});
  h.observe(0.05);
  h.observe(5);
  auto parsed = parsePrometheusText(r.renderPrometheus());
  EXPECT_EQ(parsed.bad_lines, 0u);
  auto find = [&](std::string_view name, std::string_view le = {}) -> const Sample* {
    for (const auto& s : parsed.samples)
      if (s.name == name && (le.empty() || s.label("le") == le)) return &s;
    return nullptr;
  };
  const Sample* x = find("kobs_x_total");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->value, 42);
  EXPECT_EQ(x->label("table"), "otel_logs");
  EXPECT_EQ(x->label("reason"), "a \"quoted\" \\ value\nnext");
  EXPECT_EQ(x->label("missing"), "");
  ASSERT_NE(find("kobs_depth"), nullptr);
  EXPECT_EQ(find("kobs_depth")->value, 2.5);
  ASSERT_NE(find("kobs_latency_seconds_bucket", "+Inf"), nullptr);
  EXPECT_EQ(find("kobs_latency_seconds_bucket", "+Inf")->value, 2);
  EXPECT_EQ(find("kobs_latency_seconds_bucket", "0.1")->value, 1);
  EXPECT_EQ(find("kobs_latency_seconds_count")->value, 2);
}

TEST(PrometheusText, OddButValidAndBrokenLines) {
  auto parsed = parsePrometheusText(
      "# HELP a A.\r\n"
      "a 1 1700000000000\r\n"  // a timestamp after the value
      "b{} +Inf\n"
      "c{x=\"1\",} NaN\n"       // trailing comma
      "\n"
      "d{x=\"unterminated} 1\n"
      "e{x=1} 2\n"
      "f notanumber\n"
      "{x=\"1\"} 3\n");
  ASSERT_EQ(parsed.samples.size(), 3u);
  EXPECT_EQ(parsed.samples[0].value, 1);
  EXPECT_TRUE(std::isinf(parsed.samples[1].value));
  EXPECT_TRUE(std::isnan(parsed.samples[2].value));
  EXPECT_EQ(parsed.samples[2].label("x"), "1");
  EXPECT_EQ(parsed.bad_lines, 4u);
}

}  // namespace
}  // namespace kobs::metrics
