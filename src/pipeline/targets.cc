#include "pipeline/targets.h"

namespace kobs::pipeline {

PipelineTargets targetsFromSchema(const store::schema::Schema& schema) {
  using store::schema::TableKind;
  auto target = [&](TableKind kind) {
    const auto& layout = schema.table(kind);
    TableTarget t{layout.table, {}};
    for (const auto& c : layout.insertableColumns()) t.columns.push_back({c.name, c.type});
    return t;
  };
  PipelineTargets targets;
  targets.logs = target(TableKind::kLogs);
  targets.traces = target(TableKind::kTraces);
  targets.metrics[MetricType::kGauge] = target(TableKind::kMetricsGauge);
  targets.metrics[MetricType::kSum] = target(TableKind::kMetricsSum);
  targets.metrics[MetricType::kHistogram] = target(TableKind::kMetricsHistogram);
  targets.metrics[MetricType::kExponentialHistogram] = target(TableKind::kMetricsExponentialHistogram);
  targets.metrics[MetricType::kSummary] = target(TableKind::kMetricsSummary);
  return targets;
}

}  // namespace kobs::pipeline
