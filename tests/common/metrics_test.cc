#include "common/metrics.h"

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"

namespace kobs::metrics {
namespace {

TEST(MetricsRegistry, RendersCountersAndGaugesExactly) {
  Registry r;
  auto& c = r.counter("kobs_rows_written_total", "Rows written to the store.", {{"component", "wal"}});
  c.inc();
  c.inc(41);
  auto& g = r.gauge("kobs_queue_depth", "Records waiting.");
  g.set(2.5);
  g.add(-1);
  EXPECT_EQ(r.renderPrometheus(),
            "# HELP kobs_queue_depth Records waiting.\n"
            "# TYPE kobs_queue_depth gauge\n"
            "kobs_queue_depth 1.5\n"
            "# HELP kobs_rows_written_total Rows written to the store.\n"
            "# TYPE kobs_rows_written_total counter\n"
            "kobs_rows_written_total{component=\"wal\"} 42\n");
}

TEST(MetricsRegistry, SameNameAndLabelsReturnsSameSeriesOtherLabelsAddSeries) {
  Registry r;
  auto& a = r.counter("x_total", "h", {{"k", "a"}});
  auto& a2 = r.counter("x_total", "h", {{"k", "a"}});
  auto& b = r.counter("x_total", "h", {{"k", "b"}});
  EXPECT_EQ(&a, &a2);
  EXPECT_NE(&a, &b);
  a.inc(3);
  b.inc();
  EXPECT_EQ(r.renderPrometheus(),
            "# HELP x_total h\n# TYPE x_total counter\n"
            "x_total{k=\"a\"} 3\n"
            "x_total{k=\"b\"} 1\n");
}

TEST(MetricsRegistry, EscapesHelpAndLabelValues) {
  Registry r;
  r.gauge("g", "line one\nback\\slash \"quoted\"", {{"path", "C:\\dir\n\"x\""}}).set(1);
  EXPECT_EQ(r.renderPrometheus(),
            "# HELP g line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(MetricsRegistry, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  auto& h = r.histogram("kobs_insert_seconds", "Insert latency.", {0.01, 0.1, 1}, {{"table", "otel_logs"}});
  h.observe(0.005);
  h.observe(0.01);  // upper bound is inclusive
  h.observe(0.5);
  h.observe(3);
  EXPECT_EQ(r.renderPrometheus(),
            "# HELP kobs_insert_seconds Insert latency.\n"
            "# TYPE kobs_insert_seconds histogram\n"
            "kobs_insert_seconds_bucket{table=\"otel_logs\",le=\"0.01\"} 2\n"
            "kobs_insert_seconds_bucket{table=\"otel_logs\",le=\"0.1\"} 2\n"
            "kobs_insert_seconds_bucket{table=\"otel_logs\",le=\"1\"} 3\n"
            "kobs_insert_seconds_bucket{table=\"otel_logs\",le=\"+Inf\"} 4\n"
            "kobs_insert_seconds_sum{table=\"otel_logs\"} 3.515\n"
            "kobs_insert_seconds_count{table=\"otel_logs\"} 4\n");
}

TEST(MetricsRegistry, HistogramWithoutLabels) {
  Registry r;
  r.histogram("h", "x", {1}).observe(2);
  EXPECT_EQ(r.renderPrometheus(),
            "# HELP h x\n# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 0\n"
            "h_bucket{le=\"+Inf\"} 1\n"
            "h_sum 2\n"
            "h_count 1\n");
}

TEST(MetricsRegistry, CallbacksAreReadAtScrapeTime) {
  Registry r;
  double depth = 1;
  r.gaugeCallback("depth", "d", [&] { return depth; });
  r.counterCallback("ticks_total", "t", [] { return 7.0; }, {{"a", "b"}});
  r.gaugeCallback("broken", "b", []() -> double { throw std::runtime_error("boom"); });
  depth = 9;
  EXPECT_EQ(r.renderPrometheus(),
            "# HELP broken b\n# TYPE broken gauge\nbroken NaN\n"
            "# HELP depth d\n# TYPE depth gauge\ndepth 9\n"
            "# HELP ticks_total t\n# TYPE ticks_total counter\nticks_total{a=\"b\"} 7\n");
}

TEST(MetricsRegistry, RejectsInvalidOrConflictingRegistrations) {
  Registry r;
  EXPECT_THROW(r.counter("bad-name", "h"), Exception);
  EXPECT_THROW(r.counter("9lives", "h"), Exception);
  EXPECT_THROW(r.counter("ok", "h", {{"bad-label", "v"}}), Exception);
  EXPECT_THROW(r.counter("ok", "h", {{"__reserved", "v"}}), Exception);
  EXPECT_THROW(r.counter("ok", "h", {{"a", "1"}, {"a", "2"}}), Exception);
  EXPECT_THROW(r.histogram("hist", "h", {1}, {{"le", "1"}}), Exception);
  EXPECT_THROW(r.histogram("hist2", "h", {2, 1}), Exception);
  r.counter("taken", "h");
  EXPECT_THROW(r.gauge("taken", "h"), Exception);
  EXPECT_THROW(r.counter("taken", "other help"), Exception);
  r.histogram("lat", "h", {1, 2});
  EXPECT_THROW(r.histogram("lat", "h", {1, 3}), Exception);
  r.gaugeCallback("cb", "h", [] { return 1.0; });
  EXPECT_THROW(r.gauge("cb", "h"), Exception);
}

TEST(MetricsRegistry, FormatsSpecialValues) {
  EXPECT_EQ(formatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(formatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(formatValue(std::nan("")), "NaN");
  EXPECT_EQ(formatValue(0.1), "0.1");
  EXPECT_EQ(formatValue(-2), "-2");
  EXPECT_EQ(formatValue(1e21), "1e+21");
}

TEST(MetricsRegistry, ConcurrentIncrementsAreNotLost) {
  Registry r;
  auto& c = r.counter("c_total", "c");
  auto& g = r.gauge("g", "g");
  auto& h = r.histogram("h", "h", {0.5});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        g.inc();
        h.observe(1);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
  EXPECT_EQ(g.value(), 40000);
  EXPECT_EQ(h.cumulativeCounts().back(), 40000u);
  EXPECT_EQ(h.sum(), 40000);
}

TEST(MetricsRegistry, BucketHelpers) {
  EXPECT_EQ(Histogram::exponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(Histogram::defaultSecondsBuckets().size(), 11u);
  EXPECT_THROW(Histogram::exponentialBuckets(0, 2, 4), Exception);
}

}  // namespace
}  // namespace kobs::metrics
