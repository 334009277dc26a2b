#include "app/status/status_model.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

namespace kobs::app::status {
namespace {

using Filter = std::vector<std::pair<std::string_view, std::string_view>>;

bool matches(const metrics::Sample& s, const Filter& f) {
  for (const auto& [k, v] : f)
    if (s.label(k) != v) return false;
  return true;
}

// Sums and label values over one snapshot.
class Samples {
 public:
  explicit Samples(const Snapshot* s) : s_(s) {}
  bool present() const { return s_ != nullptr; }
  bool has(std::string_view name) const {
    return s_ && std::any_of(s_->samples.begin(), s_->samples.end(), [&](const auto& x) { return x.name == name; });
  }
  double sum(std::string_view name, const Filter& f = {}) const {
    double total = 0;
    if (s_)
      for (const auto& x : s_->samples)
        if (x.name == name && matches(x, f) && std::isfinite(x.value)) total += x.value;
    return total;
  }
  double max(std::string_view name) const {
    double m = 0;
    if (s_)
      for (const auto& x : s_->samples)
        if (x.name == name && std::isfinite(x.value)) m = std::max(m, x.value);
    return m;
  }
  std::vector<std::string> labelValues(std::string_view name, std::string_view key, const Filter& f = {}) const {
    std::vector<std::string> out;
    if (s_)
      for (const auto& x : s_->samples)
        if (x.name == name && matches(x, f) && std::find(out.begin(), out.end(), x.label(key)) == out.end())
          out.push_back(x.label(key));
    return out;
  }
  // (le, cumulative count) of a histogram's buckets.
  std::vector<std::pair<double, double>> buckets(std::string_view name) const {
    std::vector<std::pair<double, double>> out;
    if (s_)
      for (const auto& x : s_->samples)
        if (x.name == name) {
          const std::string& le = x.label("le");
          out.emplace_back(le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr), x.value);
        }
    std::sort(out.begin(), out.end());
    return out;
  }
  const Snapshot* snapshot() const { return s_; }

 private:
  const Snapshot* s_;
};

// Totals now and per-second rates since the snapshot before.
class Reader {
 public:
  Reader(const Snapshot& now, const Snapshot* before)
      : now_(&now), before_(before),
        dt_(before ? std::chrono::duration<double>(now.at - before->at).count() : 0) {}
  double total(std::string_view name, const Filter& f = {}) const { return now_.sum(name, f); }
  std::optional<double> rate(std::string_view name, const Filter& f = {}) const {
    if (!before_.present() || dt_ <= 0) return std::nullopt;
    return std::max(0.0, (now_.sum(name, f) - before_.sum(name, f)) / dt_);
  }
  std::string rateCell(std::string_view name, const Filter& f = {}) const {
    auto r = rate(name, f);
    return r ? humanCount(*r) : "-";
  }
  const Samples& now() const { return now_; }
  const Samples& before() const { return before_; }
  double interval() const { return dt_; }

 private:
  Samples now_, before_;
  double dt_;
};

Section pipelineSection(const Reader& r) {
  Section s{"Pipeline", {"table", "in/s", "in", "dropped", "seal errors"}, {}, "no records yet"};
  for (const auto& table : r.now().labelValues("kobs_records_in_total", "table")) {
    const Filter f{{"table", table}};
    const double in = r.total("kobs_records_in_total", f);
    const double dropped = r.total("kobs_records_dropped_total", f);
    const double seal = r.total("kobs_batch_seal_failures_total", f);
    if (in == 0 && dropped == 0 && seal == 0) continue;
    s.rows.push_back({table, r.rateCell("kobs_records_in_total", f), humanCount(in), humanCount(dropped),
                      humanCount(seal)});
  }
  return s;
}

Section sourcesSection(const Reader& r) {
  Section s{"Sources", {"source", "in/s", "stored/s", "in", "refused"}, {}, "no source running"};
  if (r.now().has("kobs_k8s_events_notifications_total"))
    s.rows.push_back({"k8s events", r.rateCell("kobs_k8s_events_notifications_total"),
                      r.rateCell("kobs_k8s_events_rows_stored_total"),
                      humanCount(r.total("kobs_k8s_events_notifications_total")),
                      humanCount(r.total("kobs_k8s_events_rows_lost_total"))});
  for (const auto& signal : r.now().labelValues("kobs_otlp_records_received_total", "signal")) {
    const Filter f{{"signal", signal}};
    s.rows.push_back({"otlp " + signal, r.rateCell("kobs_otlp_records_received_total", f),
                      r.rateCell("kobs_otlp_records_accepted_total", f),
                      humanCount(r.total("kobs_otlp_records_received_total", f)),
                      humanCount(r.total("kobs_otlp_records_rejected_total", f))});
  }
  if (r.now().has("kobs_pod_logs_lines_read_total"))
    s.rows.push_back({"pod logs", r.rateCell("kobs_pod_logs_lines_read_total"),
                      r.rateCell("kobs_pod_logs_records_committed_total"),
                      humanCount(r.total("kobs_pod_logs_lines_read_total")),
                      humanCount(r.total("kobs_pod_logs_malformed_lines_total"))});
  return s;
}

Section bufferSection(const Reader& r) {
  Section s{"Disk buffer", {"", "value"}, {}, "no disk buffer in this process"};
  if (!r.now().has("kobs_buffer_pending_batches")) return s;
  s.rows.push_back({"pending", humanCount(r.total("kobs_buffer_pending_batches")) + " batches, " +
                                   humanBytes(r.total("kobs_buffer_pending_bytes"))});
  if (r.now().has("kobs_buffer_oldest_pending_age_seconds"))
    s.rows.push_back({"oldest unsent", humanSeconds(r.total("kobs_buffer_oldest_pending_age_seconds"))});
  const double errors = r.total("kobs_buffer_append_errors_total") + r.total("kobs_buffer_corrupt_records_total") +
                        r.total("kobs_buffer_torn_records_total");
  s.rows.push_back({"append/corrupt/torn", humanCount(errors)});
  return s;
}

// Latency quantiles over the interval (bucket deltas), or since start.
std::string latencyCell(const Reader& r, std::string_view name, double q) {
  auto now = r.now().buckets(name);
  auto before = r.before().buckets(name);
  if (before.size() == now.size())
    for (size_t i = 0; i < now.size(); ++i) now[i].second -= before[i].second;
  auto v = histogramQuantile(now, q);
  return v ? humanSeconds(*v) : "-";
}

Section storeSection(const Reader& r) {
  Section s{"Store", {"", "value"}, {}, "no store writer in this process"};
  if (!r.now().has("kobs_records_out_total")) return s;
  s.rows.push_back({"rows out/s", r.rateCell("kobs_records_out_total")});
  s.rows.push_back({"rows stored", humanCount(r.total("kobs_records_out_total"))});
  s.rows.push_back({"inserts/s", r.rateCell("kobs_store_insert_duration_seconds_count")});
  s.rows.push_back({"insert p50 / p99", latencyCell(r, "kobs_store_insert_duration_seconds_bucket", 0.5) + " / " +
                                            latencyCell(r, "kobs_store_insert_duration_seconds_bucket", 0.99)});
  std::string failures;
  for (const auto& cls : r.now().labelValues("kobs_store_insert_failures_total", "class")) {
    const double n = r.total("kobs_store_insert_failures_total", {{"class", cls}});
    if (n > 0) failures += (failures.empty() ? "" : ", ") + cls + " " + humanCount(n);
  }
  s.rows.push_back({"insert failures", failures.empty() ? "none" : failures});
  return s;
}

Section clientsSection(const Reader& r) {
  Section s{"Clients", {"listener", "conns", "streams", "req/s", "dropped"}, {}, "no listener"};
  for (const auto& server : r.now().labelValues("kobs_http_open_connections", "server")) {
    const Filter f{{"server", server}};
    s.rows.push_back({server, humanCount(r.total("kobs_http_open_connections", f)),
                      humanCount(r.total("kobs_http_open_streams", f)), r.rateCell("kobs_http_requests_total", f),
                      humanCount(r.total("kobs_http_clients_dropped_total", f))});
  }
  if (r.now().has("kobs_presenter_head_events"))
    s.rows.push_back({"presenter head", humanCount(r.total("kobs_presenter_head_events")) + " events", "", "", ""});
  return s;
}

Section podLogsSection(const Reader& r) {
  Section s{"Pod logs", {"", "value"}, {}, ""};
  if (!r.now().has("kobs_pod_logs_files_watched")) return s;
  s.rows.push_back({"files watched", humanCount(r.total("kobs_pod_logs_files_watched"))});
  s.rows.push_back({"lag (all files)", humanBytes(r.total("kobs_pod_logs_lag_bytes"))});
  for (const auto& sample : r.now().snapshot()->samples)
    if (sample.name.starts_with("kobs_pod_logs_") && sample.name.find("lag") != std::string::npos &&
        sample.name.find("max") != std::string::npos) {
      s.rows.push_back({"largest lag", humanBytes(r.now().max(sample.name))});
      break;
    }
  s.rows.push_back({"rotations / truncations", humanCount(r.total("kobs_pod_logs_rotations_total")) + " / " +
                                                   humanCount(r.total("kobs_pod_logs_truncations_total"))});
  return s;
}

Section alertsSection(const Reader& r) {
  Section s{"Alerts", {"state", "groups"}, {}, ""};
  if (!r.now().has("kobs_alert_state")) return s;
  // One series per (rule, group).
  std::vector<std::pair<std::string, double>> counts;
  for (const auto& sample : r.now().snapshot()->samples) {
    if (sample.name != "kobs_alert_state") continue;
    // The value is the state (src/alert: 0 OK, 1 PENDING, 2 ALERT, 3 INSUFFICIENT_DATA, 4 DISABLED).
    static const char* kStates[] = {"OK", "PENDING", "ALERT", "INSUFFICIENT_DATA", "DISABLED"};
    const int v = static_cast<int>(sample.value);
    std::string state = v >= 0 && v < 5 ? kStates[v] : "state " + std::to_string(v);
    auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == state; });
    if (it == counts.end()) counts.emplace_back(state, 1);
    else ++it->second;
  }
  for (const auto& [state, n] : counts) s.rows.push_back({state, humanCount(n)});
  return s;
}

bool isProblemCounter(const std::string& name) {
  return name.starts_with("kobs_") &&
         (name.find("dropped") != std::string::npos || name.find("rejected") != std::string::npos ||
          name.find("refused") != std::string::npos || name.find("_lost") != std::string::npos ||
          name.find("errors") != std::string::npos || name.find("failures") != std::string::npos);
}

std::string seriesName(const metrics::Sample& s) {
  std::string out = s.name.substr(5);  // without "kobs_"
  if (out.ends_with("_total")) out.resize(out.size() - 6);
  std::string labels;
  for (const auto& [k, v] : s.labels) labels += (labels.empty() ? "" : ",") + k + "=" + v;
  return labels.empty() ? out : out + "{" + labels + "}";
}

Section problemsSection(const Reader& r) {
  Section s{"Dropped, refused, errors", {"series", "total", "/s"}, {}, "none"};
  for (const auto& sample : r.now().snapshot()->samples) {
    if (!isProblemCounter(sample.name) || !(sample.value > 0)) continue;
    Filter f;
    for (const auto& [k, v] : sample.labels) f.emplace_back(k, v);
    s.rows.push_back({seriesName(sample), humanCount(sample.value), r.rateCell(sample.name, f)});
  }
  return s;
}

std::string fit(const std::string& cell, size_t width) {
  if (cell.size() <= width) return cell + std::string(width - cell.size(), ' ');
  return width == 0 ? "" : cell.substr(0, width - 1) + "~";
}

}  // namespace

Snapshot snapshotOf(std::string_view prometheus_text, std::chrono::steady_clock::time_point at) {
  return {metrics::parsePrometheusText(prometheus_text).samples, at};
}

View summarize(const Snapshot& now, const Snapshot* before) {
  Reader r(now, before);
  View v;
  v.interval_seconds = r.interval();
  for (auto&& s : {pipelineSection(r), sourcesSection(r), bufferSection(r), storeSection(r), podLogsSection(r),
                   clientsSection(r), alertsSection(r), problemsSection(r)})
    if (!s.rows.empty() || !s.note.empty()) v.sections.push_back(s);
  return v;
}

std::vector<std::string> renderText(const View& view, size_t width) {
  std::vector<std::string> lines;
  for (const auto& s : view.sections) {
    std::string title = "-- " + s.title + " ";
    lines.push_back(fit(title + std::string(width > title.size() ? width - title.size() : 0, '-'), width));
    if (s.rows.empty()) {
      lines.push_back(fit("   " + s.note, width));
      continue;
    }
    // Columns after the first are right-aligned numbers; the first takes what is left.
    std::vector<size_t> w(s.header.size(), 0);
    for (size_t c = 0; c < s.header.size(); ++c) {
      w[c] = s.header[c].size();
      for (const auto& row : s.rows) w[c] = std::max(w[c], c < row.size() ? row[c].size() : 0);
    }
    size_t rest = 0;
    for (size_t c = 1; c < w.size(); ++c) rest += w[c] + 2;
    w[0] = std::min(w[0], width > rest + 3 ? width - rest - 3 : 8);
    auto line = [&](const std::vector<std::string>& cells) {
      std::string out = "   " + fit(cells.empty() ? "" : cells[0], w[0]);
      for (size_t c = 1; c < w.size(); ++c) {
        const std::string& cell = c < cells.size() ? cells[c] : "";
        out += "  " + std::string(w[c] > cell.size() ? w[c] - cell.size() : 0, ' ') + cell;
      }
      return out.size() > width ? out.substr(0, width) : out;
    };
    if (!s.header[0].empty() || s.header.size() > 2) lines.push_back(line(s.header));
    for (const auto& row : s.rows) lines.push_back(line(row));
  }
  return lines;
}

std::string humanCount(double v) {
  const double a = std::fabs(v);
  if (a < 1000) return a == std::floor(a) ? fmt::format("{:.0f}", v) : fmt::format("{:.1f}", v);
  if (a < 1e6) return fmt::format("{:.1f}k", v / 1e3);
  if (a < 1e9) return fmt::format("{:.1f}M", v / 1e6);
  return fmt::format("{:.1f}G", v / 1e9);
}

std::string humanBytes(double v) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  size_t u = 0;
  while (std::fabs(v) >= 1024 && u + 1 < std::size(units)) v /= 1024, ++u;
  return u == 0 ? fmt::format("{:.0f} B", v) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string humanSeconds(double s) {
  if (s < 1e-3) return fmt::format("{:.0f} us", s * 1e6);
  if (s < 1) return fmt::format("{:.1f} ms", s * 1e3);
  if (s < 120) return fmt::format("{:.1f} s", s);
  if (s < 7200) return fmt::format("{:.0f} min", s / 60);
  return fmt::format("{:.1f} h", s / 3600);
}

std::optional<double> histogramQuantile(const std::vector<std::pair<double, double>>& buckets, double q) {
  if (buckets.empty()) return std::nullopt;
  const double total = buckets.back().second;
  if (!(total > 0)) return std::nullopt;
  const double rank = q * total;
  double prev_le = 0, prev_count = 0;
  for (const auto& [le, count] : buckets) {
    if (count >= rank) {
      if (std::isinf(le)) return prev_le;  // above the last finite bound: its bound, as Prometheus does
      if (count == prev_count) return le;
      return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count);
    }
    prev_le = le;
    prev_count = count;
  }
  return buckets.back().first;
}

}  // namespace kobs::app::status
