// What kobs is doing, summarised from its own /metrics text: the one model
// behind `kobs top` (a running kobs, over HTTP) and the status page `GET /`
// (this process, from its registry). Both take two snapshots of the metric
// samples and show totals and per-second rates between them.
//
// Sections (a row only for what this process runs): records per table in
// the pipeline; each source (Kubernetes events, OTLP per signal, pod logs);
// the disk buffer; the store (rows out, insert latency p50/p99 over the
// interval, failures by class); HTTP clients and streams per listener;
// alerts firing; and every dropped, rejected or refused counter that is not
// zero, with its labels.
//
// Threading: pure functions over snapshots.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/prometheus_text.h"

namespace kobs::app::status {

struct Snapshot {
  std::vector<metrics::Sample> samples;
  std::chrono::steady_clock::time_point at;
};

Snapshot snapshotOf(std::string_view prometheus_text, std::chrono::steady_clock::time_point at);

struct Section {
  std::string title;
  std::vector<std::string> header;             // column names; the first names the row
  std::vector<std::vector<std::string>> rows;  // cells, as many as the header
  std::string note;                            // shown when there are no rows
};

struct View {
  std::vector<Section> sections;
  double interval_seconds = 0;  // between the two snapshots; 0: totals only
};

// `before` may be null (first look): rates are then shown as "-".
View summarize(const Snapshot& now, const Snapshot* before);

// Fixed-width text, each line at most `width` columns (cells are cut).
std::vector<std::string> renderText(const View& view, size_t width = 80);

// Formatting shared by the renderers.
std::string humanCount(double v);  // 1234 -> "1.2k"
std::string humanBytes(double v);  // 1536 -> "1.5 KiB"
std::string humanSeconds(double s);  // 0.0123 -> "12.3 ms"

// The q-quantile (0..1) of a cumulative Prometheus histogram given as (le,
// count) pairs in increasing le, interpolated inside its bucket as
// histogram_quantile() does; nullopt without observations.
std::optional<double> histogramQuantile(const std::vector<std::pair<double, double>>& buckets, double q);

}  // namespace kobs::app::status
