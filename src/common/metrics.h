// Metrics registry rendered in the Prometheus text exposition format 0.0.4.
//
// There is no global registry: the process owns one Registry and hands it
// (by reference) to the components that register metrics on it. A metric is
// a family (name, HELP, TYPE) holding one series per constant label set, e.g.
//   kobs_wal_bytes_written_total{component="wal"} 4096
//
// Threading model:
//   - Registration (counter(), gauge(), histogram(), *Callback()) takes the
//     registry mutex; call it at component start, not per event. Registering
//     the same name and label set twice returns the same series, so two
//     components may share one.
//   - The returned Counter/Gauge/Histogram references stay valid for the
//     Registry's lifetime; their updates are lock-free std::atomic operations
//     and may run on any thread.
//   - renderPrometheus() takes the registry mutex, evaluates callback series on
//     the calling thread (callbacks must be quick and thread-safe) and reads
//     the atomics; a scrape concurrent with updates sees each value atomically
//     but not all values at one instant.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kobs::metrics {

// Constant labels of one series, e.g. {{"component", "wal"}}. Order is kept as
// given in the output.
using Labels = std::vector<std::pair<std::string, std::string>>;

// Monotonic integer counter (events, bytes, rows).
class Counter {
 public:
  void inc(uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (queue depth, bytes buffered).
class Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double delta) noexcept;
  void inc() noexcept { add(1); }
  void dec() noexcept { add(-1); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed upper bounds (le), plus their sum and count.
class Histogram {
 public:
  // `bounds` must be strictly increasing and finite; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);

  void observe(double v) noexcept;

  const std::vector<double>& bounds() const noexcept { return bounds_; }
  // Cumulative counts per bound, the last entry being +Inf (== count).
  std::vector<uint64_t> cumulativeCounts() const;
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

  // Default latency buckets in seconds (as the Go client's DefBuckets).
  static std::vector<double> defaultSecondsBuckets();
  // `count` bounds start, start*factor, ... (as prometheus.ExponentialBuckets).
  static std::vector<double> exponentialBuckets(double start, double factor, size_t count);

 private:
  std::vector<double> bounds_;
  // Non-cumulative per-bucket counts; the last slot is the +Inf bucket. Kept
  // non-cumulative so observe() touches one counter only.
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

enum class Type { kCounter, kGauge, kHistogram };

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
  // (not starting with "__", and "le" is reserved for histograms). Invalid
  // names, or a name reused with another type or help text, throw
  // kobs::Exception(kBadArguments).
  Counter& counter(std::string_view name, std::string_view help, Labels labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, Labels labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                       Labels labels = {});

  // Series whose value is read at scrape time, for numbers another component
  // already keeps (queue sizes, cache entries). Re-registering the same name and
  // labels replaces the callback.
  void gaugeCallback(std::string_view name, std::string_view help, std::function<double()> read,
                     Labels labels = {});
  void counterCallback(std::string_view name, std::string_view help, std::function<double()> read,
                       Labels labels = {});

  // Families sorted by name; series in registration order.
  std::string renderPrometheus() const;

  // The Content-Type of renderPrometheus()'s output.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Series {
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> callback;
  };
  struct Family {
    std::string help;
    Type type;
    std::vector<std::unique_ptr<Series>> series;
  };

  Series& series(std::string_view name, std::string_view help, Type type, Labels labels, bool histogram);

  mutable std::mutex mutex_;
  std::map<std::string, Family, std::less<>> families_;
};

// Exposition-format helpers, exposed for tests and for other renderers.
std::string escapeHelp(std::string_view help);         // \ → \\, newline → \n
std::string escapeLabelValue(std::string_view value);  // \ → \\, " → \", newline → \n
std::string formatValue(double v);                     // shortest round-trip; +Inf, -Inf, NaN

}  // namespace kobs::metrics
