// The status model behind `kobs top` and GET /: sections and rates from two
// snapshots of /metrics text, quantiles from histogram deltas, and text that
// fits an 80-column terminal.
#include "app/status/status_model.h"

#include <gtest/gtest.h>

#include <cmath>

#include "app/status/status_page.h"
#include "common/metrics.h"

namespace kobs::app::status {
namespace {

using namespace std::chrono_literals;

const Section* section(const View& v, const std::string& title) {
  for (const auto& s : v.sections)
    if (s.title == title) return &s;
  return nullptr;
}

const std::vector<std::string>* row(const Section* s, const std::string& first) {
  if (!s) return nullptr;
  for (const auto& r : s->rows)
    if (!r.empty() && r[0] == first) return &r;
  return nullptr;
}

TEST(StatusModel, RatesTotalsAndProblemsFromTwoSnapshots) {
  metrics::Registry reg;
  auto& in_logs = reg.counter("kobs_records_in_total", "", {{"component", "batcher"}, {"table", "otel_logs"}});
  reg.counter("kobs_records_in_total", "", {{"component", "batcher"}, {"table", "otel_traces"}});  // idle: no row
  auto& dropped = reg.counter("kobs_records_dropped_total", "",
                              {{"component", "batcher"}, {"reason", "buffer_full"}, {"table", "otel_logs"}});
  auto& out = reg.counter("kobs_records_out_total", "", {{"component", "sender"}});
  auto& lat = reg.histogram("kobs_store_insert_duration_seconds", "", {0.01, 0.1, 1});
  reg.gauge("kobs_buffer_pending_batches", "").set(3);
  reg.gauge("kobs_buffer_pending_bytes", "").set(3 * 1024 * 1024);
  reg.gauge("kobs_buffer_oldest_pending_age_seconds", "").set(2.5);
  reg.counter("kobs_otlp_records_received_total", "", {{"signal", "logs"}});
  const auto t0 = std::chrono::steady_clock::time_point(1h);
  in_logs.inc(1000);
  lat.observe(0.5);  // before the interval: must not count in its quantiles
  auto before = snapshotOf(reg.renderPrometheus(), t0);
  in_logs.inc(2000);
  out.inc(500);
  dropped.inc(7);
  for (int i = 0; i < 99; ++i) lat.observe(0.005);
  lat.observe(0.05);
  auto now = snapshotOf(reg.renderPrometheus(), t0 + 2s);

  View v = summarize(now, &before);
  EXPECT_DOUBLE_EQ(v.interval_seconds, 2);
  auto* logs = row(section(v, "Pipeline"), "otel_logs");
  ASSERT_NE(logs, nullptr);
  EXPECT_EQ(*logs, (std::vector<std::string>{"otel_logs", "1.0k", "3.0k", "7", "0"}));
  EXPECT_EQ(row(section(v, "Pipeline"), "otel_traces"), nullptr);
  EXPECT_EQ((*row(section(v, "Store"), "rows out/s"))[1], "250");
  // 100 inserts in the interval, 99 under 10 ms: p50 inside the first bucket, p99 at its top.
  EXPECT_EQ((*row(section(v, "Store"), "insert p50 / p99"))[1], "5.1 ms / 10.0 ms");
  EXPECT_EQ((*row(section(v, "Disk buffer"), "pending"))[1], "3 batches, 3.0 MiB");
  EXPECT_EQ((*row(section(v, "Disk buffer"), "oldest unsent"))[1], "2.5 s");
  auto* otlp = row(section(v, "Sources"), "otlp logs");
  ASSERT_NE(otlp, nullptr);
  EXPECT_EQ((*otlp)[1], "0");
  auto* problem = row(section(v, "Dropped, refused, errors"),
                      "records_dropped{component=batcher,reason=buffer_full,table=otel_logs}");
  ASSERT_NE(problem, nullptr);
  EXPECT_EQ((*problem)[1], "7");
  EXPECT_EQ((*problem)[2], "3.5");

  // First look: totals, no rates.
  View first = summarize(now, nullptr);
  EXPECT_EQ((*row(section(first, "Pipeline"), "otel_logs"))[1], "-");
  for (const auto& line : renderText(v, 80)) EXPECT_LE(line.size(), 80u) << line;
  for (const auto& line : renderText(v, 40)) EXPECT_LE(line.size(), 40u) << line;
}

TEST(StatusModel, HistogramQuantileInterpolatesLikePrometheus) {
  EXPECT_FALSE(histogramQuantile({}, 0.5));
  EXPECT_FALSE(histogramQuantile({{1, 0}, {INFINITY, 0}}, 0.5));
  // 10 in (0, 1], 10 in (1, 2]: the median is the top of the first bucket.
  EXPECT_DOUBLE_EQ(*histogramQuantile({{1, 10}, {2, 20}, {INFINITY, 20}}, 0.5), 1);
  EXPECT_DOUBLE_EQ(*histogramQuantile({{1, 10}, {2, 20}, {INFINITY, 20}}, 0.75), 1.5);
  // Beyond the last finite bound: that bound.
  EXPECT_DOUBLE_EQ(*histogramQuantile({{1, 1}, {INFINITY, 10}}, 0.99), 1);
}

TEST(StatusModel, AlertsAndFormatting) {
  auto s = snapshotOf("kobs_alert_state{rule=\"a\",group=\"x\"} 2\n"
                      "kobs_alert_state{rule=\"a\",group=\"y\"} 0\n"
                      "kobs_alert_state{rule=\"b\",group=\"\"} 2\n"
                      "kobs_alert_state{rule=\"c\",group=\"\"} 3\n",
                      std::chrono::steady_clock::now());
  auto v = summarize(s, nullptr);
  auto* alerts = section(v, "Alerts");
  ASSERT_NE(alerts, nullptr);
  EXPECT_EQ((*row(alerts, "ALERT"))[1], "2");
  EXPECT_EQ((*row(alerts, "OK"))[1], "1");
  EXPECT_EQ((*row(alerts, "INSUFFICIENT_DATA"))[1], "1");
  EXPECT_EQ(humanCount(999), "999");
  EXPECT_EQ(humanCount(1234), "1.2k");
  EXPECT_EQ(humanCount(2.5e6), "2.5M");
  EXPECT_EQ(humanBytes(512), "512 B");
  EXPECT_EQ(humanBytes(1536), "1.5 KiB");
  EXPECT_EQ(humanSeconds(0.0123), "12.3 ms");
  EXPECT_EQ(htmlEscape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}

TEST(StatusPage, RendersTheSectionsEscapedWithoutScripts) {
  metrics::Registry reg;
  reg.counter("kobs_records_in_total", "", {{"component", "batcher"}, {"table", "<script>"}}).inc(5);
  StatusPage page(reg, {"1.2.3", "all", std::chrono::steady_clock::now(),
                        [] { return std::vector<std::pair<std::string, std::string>>{{"main", "http://h:1"}}; }});
  std::string html = page.render();
  EXPECT_NE(html.find("<meta http-equiv=\"refresh\""), std::string::npos);
  EXPECT_NE(html.find("version 1.2.3"), std::string::npos);
  EXPECT_NE(html.find("<code>http://h:1</code>"), std::string::npos);
  EXPECT_NE(html.find("<td>&lt;script&gt;</td>"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("<a href=\"/metrics\">"), std::string::npos);
}

}  // namespace
}  // namespace kobs::app::status
