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
  std::array<std::vector<pipeline::MetricPoint>, 5> by_type;
  for (auto& p : points) by_type[size_t(p.type)].push_back(std::move(p));
  points.clear();
  for (size_t t = 0; t < by_type.size(); ++t) {
    auto& pts = by_type[t];
    if (pts.empty()) continue;
    auto* batcher = pipeline.metrics(static_cast<pipeline::MetricType>(t));
    if (!batcher) {
      r.no_table += pts.size();
      continue;
    }
    try {
      batcher->add(std::span<const pipeline::MetricPoint>(pts));
      r.accepted += pts.size();
    } catch (const Exception& e) {
      if (e.code() != ErrorCode::kBufferFull && e.code() != ErrorCode::kIo) throw;
      r.refused += pts.size();
    }
  }
  return r;
}

}  // namespace kobs::collect::scrape
