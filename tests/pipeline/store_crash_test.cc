// A crash inside the embedded store's insert: the writer process dies (SIGKILL)
// at the moment chDB has recorded a block's deduplication token but has not
// yet moved the new part into place (the fault_fs shim kills the process
// right before that rename; a labelled fake: a real crash cannot be aimed at
// that instant). The batch is still in the disk buffer, so the restarted
// writer replays it with the same token; every record that was durable in
// the buffer must then be in the store exactly once, not dropped as a
// "duplicate" of rows that never landed.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "support/child_process.h"
#include "support/temp_dir.h"

namespace kobs::pipeline {
namespace {

namespace fs = std::filesystem;

std::string childPath() { return (testing::binaryDir() / "tests/pipeline/pipeline_crash_child").string(); }
std::string shimPath() { return (testing::binaryDir() / "tests/support/fault_fs/libkobs_fault_fs.so").string(); }

class ScopedEnv {
 public:
  explicit ScopedEnv(std::map<std::string, std::string> vars) : vars_(std::move(vars)) {
    for (auto& [k, v] : vars_) ::setenv(k.c_str(), v.c_str(), 1);
  }
  ~ScopedEnv() {
    for (auto& [k, v] : vars_) ::unsetenv(k.c_str());
  }

 private:
  std::map<std::string, std::string> vars_;
};

// Ids whose chunk the writer reported durable (in the disk buffer) or committed.
std::set<long> readDurable(testing::ChildProcess& child) {
  std::set<long> ids;
  for (std::string line; !(line = child.readLine()).empty();) {
    long from = 0, to = 0;
    if (std::sscanf(line.c_str(), "durable %ld %ld", &from, &to) == 2 ||
        std::sscanf(line.c_str(), "ack %ld %ld", &from, &to) == 2)
      for (long i = from; i < to; ++i) ids.insert(i);
  }
  return ids;
}

TEST(StoreCrash, KilledBetweenChdbsDedupRecordAndItsPartRenameTheReplayStoresTheBatch) {
  testing::TempDir dir;
  const fs::path mark = dir.path() / "killed";
  std::set<long> durable;
  {
    // The third part chDB moves into place never gets there.
    ScopedEnv env({{"LD_PRELOAD", shimPath()},
                   {"KOBS_FAULT_FS_MATCH", "/tmp_insert_"},
                   {"KOBS_FAULT_FS_OP", "kill_rename"},
                   {"KOBS_FAULT_FS_AFTER", "2"},
                   {"KOBS_FAULT_FS_MARK", mark.string()}});
    testing::ChildProcess child({childPath(), "write", dir.str(), "0", "20000", "0", "-", "0", "durable"});
    durable = readDurable(child);
    const int status = child.wait();
    ASSERT_TRUE(fs::exists(mark)) << "the writer was never killed inside an insert";
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }
  ASSERT_FALSE(durable.empty());

  {
    testing::ChildProcess drain({childPath(), "drain", dir.str()});
    const int status = drain.wait();
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the replay did not drain the disk buffer";
  }
  std::map<long, int> stored;
  {
    testing::ChildProcess dump({childPath(), "dump", dir.str()});
    for (std::string line; (line = dump.readLine()) != "end" && !line.empty();) ++stored[std::stol(line)];
    dump.wait();
  }
  size_t missing = 0, twice = 0;
  long first_missing = -1;
  for (long id : durable)
    if (stored.count(id) == 0 && missing++ == 0) first_missing = id;
  for (const auto& [id, n] : stored) twice += n > 1;
  EXPECT_EQ(missing, 0u) << "records durable in the disk buffer are not in the store (first: id " << first_missing
                         << ")";
  EXPECT_EQ(twice, 0u) << "records stored more than once";
}

}  // namespace
}  // namespace kobs::pipeline
