// `kobs alert` as a process: it refuses to start without rules, and a rule
// naming a column its table lacks stops the start with the rule and the
// column named (exit code 2, as any bad configuration).
#include <sys/wait.h>

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/child_process.h"
#include "support/temp_dir.h"

namespace kobs::alert {
namespace {

using ::testing::HasSubstr;

struct Run {
  int exit_code = -1;
  std::string output;
};

Run runKobs(const kobs::testing::TempDir& dir, const std::vector<std::string>& extra) {
  auto bin = (kobs::testing::binaryDir() / "src/app/kobs").string();
  std::string cmd = "exec '" + bin + "' alert --data-dir '" + (dir.path() / "data").string() +
                    "' --set http.listen=127.0.0.1:0 --set mcp.listen= --set serve.clickhouse_listen=";
  for (const auto& e : extra) cmd += " --set '" + e + "'";
  cmd += " 2>&1";
  kobs::testing::ChildProcess child({"/bin/sh", "-c", cmd});
  Run r;
  for (std::string line; !(line = child.readLine()).empty() || !feof(child.out());) r.output += line + "\n";
  int st = child.wait();
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(AlertRole, RefusesToStartWithoutRules) {
  kobs::testing::TempDir dir;
  auto r = runKobs(dir, {});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("alert.rules_file"));
}

TEST(AlertRole, UnknownColumnStopsTheStartNamingRuleAndColumn) {
  kobs::testing::TempDir dir;
  std::ofstream(dir.path() / "rules.yaml")
      << "channels:\n  c: {type: slack, url_env: KOBS_TEST_UNSET_URL}\nrules:\n"
         "  - name: errors\n    source: logs\n    where: \"SeverityTxt = 'ERROR'\"\n    threshold: 1\n"
         "    interval: 5m\n    channels: [c]\n";
  auto r = runKobs(dir, {"alert.rules_file=" + (dir.path() / "rules.yaml").string()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("alert rule \"errors\""));
  EXPECT_THAT(r.output, HasSubstr("unknown column `SeverityTxt`"));
}

}  // namespace
}  // namespace kobs::alert
