#include "common/progress.h"

#include <fmt/format.h>

#include "common/logging.h"

namespace kobs {
namespace {

std::string duration(double s) {
  if (s < 90) return fmt::format("{:.0f} s", s);
  if (s < 5400) return fmt::format("{:.0f} min", s / 60);
  return fmt::format("{:.1f} h", s / 3600);
}

}  // namespace

ProgressLog::ProgressLog(std::string component, std::string what, uint64_t total, std::string unit, Options options)
    : component_(std::move(component)), what_(std::move(what)), unit_(std::move(unit)), total_(total),
      options_(std::move(options)) {
  if (!options_.clock) options_.clock = [] { return Clock::now(); };
  if (!options_.sink) options_.sink = [c = component_](const std::string& m) { logging::get(c)->info("{}", m); };
  started_ = last_logged_ = options_.clock();
}

void ProgressLog::set(uint64_t done) {
  done_ = done;
  const auto now = options_.clock();
  if (finished_ || now - last_logged_ < options_.every) return;
  last_logged_ = now;
  options_.sink(line());
}

std::string ProgressLog::line() const {
  const double elapsed = std::chrono::duration<double>(options_.clock() - started_).count();
  if (total_ == 0) return fmt::format("{}: {} {} so far, {} elapsed", what_, done_, unit_, duration(elapsed));
  const double fraction = std::min(1.0, double(done_) / double(total_));
  std::string eta = fraction > 0 && fraction < 1 ? ", ETA " + duration(elapsed * (1 - fraction) / fraction) : "";
  return fmt::format("{}: {:.0f}% ({} of {} {}), {} elapsed{}", what_, fraction * 100, done_, total_, unit_,
                     duration(elapsed), eta);
}

void ProgressLog::finish() {
  if (finished_) return;
  finished_ = true;
  const double elapsed = std::chrono::duration<double>(options_.clock() - started_).count();
  if (done_ >= total_)
    options_.sink(fmt::format("{}: done, {} {} in {}", what_, done_, unit_, duration(elapsed)));
  else
    options_.sink(fmt::format("{}: stopped at {} of {} {} after {}", what_, done_, total_, unit_, duration(elapsed)));
}

}  // namespace kobs
