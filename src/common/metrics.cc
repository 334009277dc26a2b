#include "common/metrics.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/error.h"

namespace kobs::metrics {
namespace {

bool validMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool validLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string_view typeName(Type type) {
  switch (type) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"}` or "" when there are no labels; `extra` is appended last (le).
void appendLabels(std::string& out, const Labels& labels, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escapeLabelValue(v);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += escapeLabelValue(extra_value);
    out += '"';
  }
  out += '}';
}

// A callback that throws must not break the whole scrape; NaN marks the series.
double readCallback(const std::function<double()>& read) {
  if (!read) return 0;
  try {
    return read();
  } catch (const std::exception&) {
    return std::nan("");
  }
}

}  // namespace

std::string escapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string formatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

void Gauge::add(double delta) noexcept {
  // CAS loop rather than atomic<double>::fetch_add, which not every
  // toolchain lowers lock-free.
  double cur = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(cur, cur + delta, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1]))
      throw Exception(ErrorCode::kBadArguments, "histogram bounds must be finite and strictly increasing");
  }
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
}

void Histogram::observe(double v) noexcept {
  // Prometheus buckets are upper-inclusive: v lands in the first bound >= v.
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::vector<uint64_t> Histogram::cumulativeCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    out[i] = total;
  }
  return out;
}

std::vector<double> Histogram::defaultSecondsBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> Histogram::exponentialBuckets(double start, double factor, size_t count) {
  if (start <= 0 || factor <= 1 || count == 0)
    throw Exception(ErrorCode::kBadArguments, "exponentialBuckets needs start > 0, factor > 1, count > 0");
  std::vector<double> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i, start *= factor) out.push_back(start);
  return out;
}

Registry::Series& Registry::series(std::string_view name, std::string_view help, Type type, Labels labels,
                                   bool histogram) {
  if (!validMetricName(name)) throw Exception(ErrorCode::kBadArguments, "invalid metric name '{}'", name);
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto& label = labels[i].first;
    if (!validLabelName(label) || (histogram && label == "le"))
      throw Exception(ErrorCode::kBadArguments, "invalid label name '{}' on metric '{}'", label, name);
    for (size_t j = 0; j < i; ++j)
      if (labels[j].first == label)
        throw Exception(ErrorCode::kBadArguments, "duplicate label '{}' on metric '{}'", label, name);
  }
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{std::string(help), type, {}}).first;
  } else if (it->second.type != type || it->second.help != help) {
    throw Exception(ErrorCode::kBadArguments, "metric '{}' already registered with another type or help", name);
  }
  for (auto& s : it->second.series) {
    if (s->labels == labels) return *s;
  }
  auto& s = it->second.series.emplace_back(std::make_unique<Series>());
  s->labels = std::move(labels);
  return *s;
}

Counter& Registry::counter(std::string_view name, std::string_view help, Labels labels) {
  std::lock_guard lock(mutex_);
  auto& s = series(name, help, Type::kCounter, std::move(labels), false);
  if (s.callback) throw Exception(ErrorCode::kBadArguments, "metric '{}' is a callback series", name);
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, Labels labels) {
  std::lock_guard lock(mutex_);
  auto& s = series(name, help, Type::kGauge, std::move(labels), false);
  if (s.callback) throw Exception(ErrorCode::kBadArguments, "metric '{}' is a callback series", name);
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

Histogram& Registry::histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                               Labels labels) {
  std::lock_guard lock(mutex_);
  auto& s = series(name, help, Type::kHistogram, std::move(labels), true);
  if (!s.histogram) {
    s.histogram = std::make_unique<Histogram>(std::move(bounds));
  } else if (s.histogram->bounds() != bounds) {
    throw Exception(ErrorCode::kBadArguments, "histogram '{}' already registered with other bounds", name);
  }
  return *s.histogram;
}

void Registry::gaugeCallback(std::string_view name, std::string_view help, std::function<double()> read,
                             Labels labels) {
  std::lock_guard lock(mutex_);
  auto& s = series(name, help, Type::kGauge, std::move(labels), false);
  if (s.gauge) throw Exception(ErrorCode::kBadArguments, "metric '{}' is not a callback series", name);
  s.callback = std::move(read);
}

void Registry::counterCallback(std::string_view name, std::string_view help, std::function<double()> read,
                               Labels labels) {
  std::lock_guard lock(mutex_);
  auto& s = series(name, help, Type::kCounter, std::move(labels), false);
  if (s.counter) throw Exception(ErrorCode::kBadArguments, "metric '{}' is not a callback series", name);
  s.callback = std::move(read);
}

std::string Registry::renderPrometheus() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, family] : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escapeHelp(family.help), name, typeName(family.type));
    for (const auto& s : family.series) {
      if (s->histogram) {
        const auto& bounds = s->histogram->bounds();
        auto counts = s->histogram->cumulativeCounts();
        for (size_t i = 0; i <= bounds.size(); ++i) {
          out += name;
          out += "_bucket";
          appendLabels(out, s->labels, "le", i < bounds.size() ? formatValue(bounds[i]) : "+Inf");
          out += fmt::format(" {}\n", counts[i]);
        }
        out += name;
        out += "_sum";
        appendLabels(out, s->labels);
        out += ' ' + formatValue(s->histogram->sum()) + '\n';
        out += name;
        out += "_count";
        appendLabels(out, s->labels);
        // _count is the +Inf bucket, so the two always agree in one scrape.
        out += fmt::format(" {}\n", counts.back());
        continue;
      }
      out += name;
      appendLabels(out, s->labels);
      out += ' ';
      if (s->counter) out += fmt::format("{}", s->counter->value());
      else if (s->gauge) out += formatValue(s->gauge->value());
      else out += formatValue(readCallback(s->callback));
      out += '\n';
    }
  }
  return out;
}

}  // namespace kobs::metrics
