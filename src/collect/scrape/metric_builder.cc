#include "collect/scrape/metric_builder.h"

#include <array>
#include <span>

#include "common/error.h"

namespace kobs::collect::scrape {

void MetricBuilder::add(const MetricDef& def, double value, pipeline::Attributes attributes) {
  pipeline::MetricPoint& p = points_.emplace_back();
  p.resource = resource_;
  p.scope = scope_;
  p.type = def.type;
  p.name = def.name;
  p.unit = def.unit;
  p.attributes = std::move(attributes);
  p.start_time_unix_nano = start_;
  p.time_unix_nano = now_;
  p.value = value;
  if (def.type == pipeline::MetricType::kSum) {
    p.aggregation_temporality = kCumulative;
    p.is_monotonic = def.monotonic;
  }
}

EmitResult emit(pipeline::Pipeline& pipeline, std::vector<pipeline::MetricPoint>& points) {
  EmitResult r;
  auto add = [&](pipeline::MetricType type, std::span<const pipeline::MetricPoint> pts) {
    auto* batcher = pipeline.metrics(type);
    if (!batcher) {
      r.no_table += pts.size();
      return;
    }
    try {
      batcher->add(pts);
      r.accepted += pts.size();
    } catch (const Exception& e) {
      if (e.code() != ErrorCode::kBufferFull && e.code() != ErrorCode::kIo) throw;
      r.refused += pts.size();
    }
  };
  // One type (every k8s_cluster point is a gauge): handed over as they are, no 75k-point copy.
  std::array<size_t, 5> counts{};
  for (const auto& p : points) ++counts[size_t(p.type)];
  if (!points.empty() && counts[size_t(points.front().type)] == points.size()) {
    add(points.front().type, points);
  } else {
    std::array<std::vector<pipeline::MetricPoint>, 5> by_type;
    for (size_t t = 0; t < by_type.size(); ++t) by_type[t].reserve(counts[t]);
    for (auto& p : points) by_type[size_t(p.type)].push_back(std::move(p));
    for (size_t t = 0; t < by_type.size(); ++t)
      if (!by_type[t].empty()) add(static_cast<pipeline::MetricType>(t), by_type[t]);
  }
  points.clear();  // keeps the capacity for a caller that reuses the vector
  return r;
}

}  // namespace kobs::collect::scrape
