// Checks the lines a ProgressLog (src/common/progress.h) wrote for one
// operation: every percent line names the operation's total, a count below
// it and the matching percent with an ETA; the closing line says "done" with
// the total. The three progress tests (disk-buffer replay, presenter head
// load, events backfill) read their log lines through this.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace kobs::testing {

struct ProgressSeen {
  int percent_lines = 0;
  bool done = false;
  std::string all;  // every line, for failure messages
};

// `what` is the operation's name as logged ("replaying the disk buffer into
// the store"), `unit` what it counts ("batches").
inline ProgressSeen checkProgressLines(const std::vector<std::string>& lines, const std::string& what,
                                       uint64_t total, const std::string& unit) {
  const std::string head = what + ": ";
  const std::regex percent(head + R"(([0-9]+)% \(([0-9]+) of ([0-9]+) )" + unit +
                           R"(\), [0-9.]+ (s|min|h) elapsed, ETA [0-9.]+ (s|min|h))");
  const std::string done = head + fmt::format("done, {} {} in ", total, unit);
  ProgressSeen seen;
  for (const auto& line : lines) {
    seen.all += line + "\n";
    std::smatch m;
    if (std::regex_search(line, m, percent)) {
      ++seen.percent_lines;
      EXPECT_EQ(std::stoull(m[3]), total) << line;
      EXPECT_LT(std::stoull(m[2]), total) << line;
      EXPECT_NEAR(std::stod(m[1]), std::stod(m[2]) * 100 / double(total), 1.0) << line;
    }
    seen.done |= line.find(done) != std::string::npos;
  }
  return seen;
}

}  // namespace kobs::testing
