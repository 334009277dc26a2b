// `kobs top`: a live terminal view of a running kobs, refreshed every second
// from its /metrics (the status model's sections), like `vector top`. Works
// in an 80x24 terminal over SSH (ncurses; arrows, j/k, PgUp/PgDn scroll;
// q, Esc or Ctrl-C quit); `--once` prints one table (rates over one
// interval) for scripts and tests.
//
// Threading: one thread; the fetch blocks the view for at most its timeout.
#pragma once

#include <chrono>
#include <string>

namespace kobs::app::top {

struct TopOptions {
  std::string url = "http://127.0.0.1:8080";  // the kobs main listener
  bool once = false;
  std::chrono::milliseconds interval{1000};
};

// The process exit code: 0, or 1 when --once cannot reach kobs.
int runTop(const TopOptions& options);

}  // namespace kobs::app::top
