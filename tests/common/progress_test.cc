#include "common/progress.h"

#include <gtest/gtest.h>

#include <vector>

namespace kobs {
namespace {

using namespace std::chrono_literals;

struct Harness {
  ProgressLog::Clock::time_point now{std::chrono::hours(1)};
  std::vector<std::string> lines;
  ProgressLog::Options options() {
    ProgressLog::Options o;
    o.every = 5s;
    o.clock = [this] { return now; };
    o.sink = [this](const std::string& l) { lines.push_back(l); };
    return o;
  }
};

TEST(ProgressLog, LogsPercentAndEtaAtMostEveryInterval) {
  Harness h;
  ProgressLog p("test", "copying rows", 1000, "rows", h.options());
  for (int i = 0; i < 100; ++i) {  // 100 updates within 2 s: nothing yet
    h.now += 20ms;
    p.add(1);
  }
  EXPECT_TRUE(h.lines.empty());
  h.now += 8s;  // 10 s in, 250 of 1000 done
  p.set(250);
  ASSERT_EQ(h.lines.size(), 1u);
  EXPECT_EQ(h.lines[0], "copying rows: 25% (250 of 1000 rows), 10 s elapsed, ETA 30 s");
  h.now += 1s;
  p.set(300);
  EXPECT_EQ(h.lines.size(), 1u);  // within 5 s of the last line
  h.now += 5s;
  p.set(400);
  EXPECT_EQ(h.lines.size(), 2u);
  p.set(1000);
  p.finish();
  p.finish();  // once
  ASSERT_EQ(h.lines.size(), 3u);
  EXPECT_EQ(h.lines[2], "copying rows: done, 1000 rows in 16 s");
}

TEST(ProgressLog, StoppedEarlyAndUnknownTotal) {
  Harness h;
  ProgressLog stopped("test", "replaying", 10, "batches", h.options());
  h.now += 2min;
  stopped.set(4);
  stopped.finish();
  ASSERT_EQ(h.lines.size(), 2u);
  EXPECT_EQ(h.lines[1], "replaying: stopped at 4 of 10 batches after 2 min");
  ProgressLog open("test", "scanning", 0, "files", h.options());
  h.now += 6s;
  open.set(7);
  EXPECT_EQ(h.lines.back(), "scanning: 7 files so far, 6 s elapsed");
}

}  // namespace
}  // namespace kobs
