// MetricBuilder: data points of one scrape, built from a component's table of
// metric definitions (name, type, unit, monotonicity: the collector
// receivers' metadata, so rows read like the collector's), plus emit(), which
// hands them to the pipeline's metric tables by type.
//
// Sums are cumulative (AggregationTemporality 2), as every sum of
// hostmetrics, kubeletstats and k8s_cluster is. MetricDescription is left
// empty: the collector's description texts are its own and no query keys on
// them, and the copy was a third of k8s_cluster's emission CPU
// (bench/metrics); a MetricDef's description documents the metric in code.
//
// Threading: a builder belongs to the scrape that fills it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/pipeline.h"
#include "pipeline/record.h"

namespace kobs::collect::scrape {

inline constexpr int32_t kCumulative = 2;  // OTLP AGGREGATION_TEMPORALITY_CUMULATIVE

struct MetricDef {
  std::string_view name;
  pipeline::MetricType type;  // kGauge or kSum
  std::string_view unit;
  bool monotonic;  // sums only
  std::string_view description;
};

class MetricBuilder {
 public:
  MetricBuilder(std::shared_ptr<const pipeline::Scope> scope, int64_t now_unix_nano)
      : scope_(std::move(scope)), now_(now_unix_nano) {}
  // Builds into `storage` (cleared; its capacity is kept): a caller that emits every interval
  // reuses one vector instead of faulting in fresh pages for each scrape.
  MetricBuilder(std::shared_ptr<const pipeline::Scope> scope, int64_t now_unix_nano,
                std::vector<pipeline::MetricPoint> storage)
      : scope_(std::move(scope)), now_(now_unix_nano), points_(std::move(storage)) {
    points_.clear();
  }

  // Resource of the points added next.
  void setResource(std::shared_ptr<const pipeline::Resource> r) { resource_ = std::move(r); }
  // StartTimeUnix of the points added next (0: none).
  void setStart(int64_t start_unix_nano) { start_ = start_unix_nano; }
  void setTime(int64_t now_unix_nano) { now_ = now_unix_nano; }

  void add(const MetricDef& def, double value, pipeline::Attributes attributes = {});

  std::vector<pipeline::MetricPoint>& points() { return points_; }
  int64_t now() const { return now_; }

 private:
  std::shared_ptr<const pipeline::Scope> scope_;
  std::shared_ptr<const pipeline::Resource> resource_;
  int64_t start_ = 0;
  int64_t now_ = 0;
  std::vector<pipeline::MetricPoint> points_;
};

struct EmitResult {
  size_t accepted = 0;
  size_t refused = 0;  // disk buffer full or failing: this scrape's points are dropped (counted)
  size_t no_table = 0;  // the metric table of that type is not configured
};

// Adds the points to the pipeline, one add() per metric type, and clears
// `points` (keeping its capacity). A scrape is a
// sample: when the buffer refuses it the points are counted and dropped
// rather than queued behind newer ones.
EmitResult emit(pipeline::Pipeline& pipeline, std::vector<pipeline::MetricPoint>& points);

}  // namespace kobs::collect::scrape
