// Disk faults on the write path, injected into a real writer process: EIO and
// short writes on segment, state and dead-letter files (the fault_fs
// LD_PRELOAD shim, a labelled fake: a real disk cannot fail on demand), then
// SIGKILL right after the fault; and a full disk (a small tmpfs, mounted by
// the test as root). After a restart every acknowledged record is stored
// exactly once.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "support/child_process.h"
#include "support/temp_dir.h"

namespace kobs::pipeline {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string childPath() { return (testing::binaryDir() / "tests/pipeline/pipeline_crash_child").string(); }
std::string shimPath() { return (testing::binaryDir() / "tests/support/fault_fs/libkobs_fault_fs.so").string(); }

// Sets environment variables for the children started while it lives.
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

struct WriterRun {
  std::set<long> acked;
  int refused = 0;
  int status = 0;
};

// Reads the writer's acks to the end.
void readAcks(testing::ChildProcess& child, WriterRun& run) {
  for (std::string line; !(line = child.readLine()).empty();) {
    long from, to;
    if (std::sscanf(line.c_str(), "ack %ld %ld", &from, &to) == 2)
      for (long i = from; i < to; ++i) run.acked.insert(i);
    else if (line.starts_with("refused")) ++run.refused;
  }
}

// Replays what is left in the buffer (no faults), then returns every stored id with its count.
std::map<long, int> drainAndDump(const testing::TempDir& dir) {
  testing::ChildProcess drain({childPath(), "drain", dir.str()});
  int status = drain.wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "drain failed";
  testing::ChildProcess dump({childPath(), "dump", dir.str()});
  std::map<long, int> stored;
  for (std::string line; (line = dump.readLine()) != "end" && !line.empty();) ++stored[std::stol(line)];
  dump.wait();
  return stored;
}

void expectExactlyOnce(const std::set<long>& acked, const std::map<long, int>& stored) {
  size_t missing = 0, twice = 0;
  for (long id : acked) missing += stored.count(id) == 0;
  for (auto& [id, n] : stored) twice += n > 1;
  EXPECT_EQ(missing, 0u) << "acknowledged records missing from the store";
  EXPECT_EQ(twice, 0u) << "records stored more than once";
  EXPECT_FALSE(acked.empty());
}

struct Fault {
  const char* name;
  std::map<std::string, std::string> env;
  bool poison = false;
};
// ctest and failure messages name the fault, not the struct's bytes.
void PrintTo(const Fault& f, std::ostream* os) { *os << f.name; }

class DiskFaultTest : public ::testing::TestWithParam<Fault> {};

TEST_P(DiskFaultTest, KilledRightAfterTheFaultEveryAcknowledgedRecordIsStoredOnce) {
  testing::TempDir dir;
  const Fault& f = GetParam();
  const fs::path mark = dir.path() / "fault-injected";
  WriterRun first;
  {
    auto env = f.env;
    env["LD_PRELOAD"] = shimPath();
    env["KOBS_FAULT_FS_MARK"] = mark.string();
    ScopedEnv scoped(env);
    testing::ChildProcess child({childPath(), "write", dir.str(), "0", "20000", "0", f.poison ? "poison" : "-"});
    // SIGKILL as soon as the fault happened (or let the writer finish if it never does).
    std::thread killer([&] {
      for (int i = 0; i < 60000 && !fs::exists(mark); ++i) {
        if (::kill(child.pid(), 0) != 0) return;
        std::this_thread::sleep_for(1ms);
      }
      if (fs::exists(mark)) child.kill(SIGKILL);
    });
    readAcks(child, first);
    killer.join();
    first.status = child.wait();
  }
  ASSERT_TRUE(fs::exists(mark)) << f.name << ": the fault was never injected";
  // Then a clean writer on the same data dir, after a restart.
  WriterRun second;
  {
    testing::ChildProcess child({childPath(), "write", dir.str(), "20000", "22000"});
    readAcks(child, second);
    second.status = child.wait();
    ASSERT_TRUE(WIFEXITED(second.status) && WEXITSTATUS(second.status) == 0) << "the restarted writer failed";
  }
  std::set<long> acked = first.acked;
  acked.insert(second.acked.begin(), second.acked.end());
  expectExactlyOnce(acked, drainAndDump(dir));
  if (f.poison) {
    EXPECT_TRUE(fs::exists(dir.path() / "buffer/dead/batch-1.json")) << "the poison batch was not kept";
  }
}

INSTANTIATE_TEST_SUITE_P(
    WritePath, DiskFaultTest,
    ::testing::Values(
        Fault{"SegmentWriteEio", {{"KOBS_FAULT_FS_MATCH", "/buffer/wal-"}, {"KOBS_FAULT_FS_OP", "write"},
                                  {"KOBS_FAULT_FS_AFTER", "6"}, {"KOBS_FAULT_FS_COUNT", "3"}}},
        Fault{"SegmentShortWrite", {{"KOBS_FAULT_FS_MATCH", "/buffer/wal-"}, {"KOBS_FAULT_FS_OP", "write"},
                                    {"KOBS_FAULT_FS_AFTER", "7"}, {"KOBS_FAULT_FS_COUNT", "2"},
                                    {"KOBS_FAULT_FS_SHORT", "1"}, {"KOBS_FAULT_FS_ERRNO", "ENOSPC"}}},
        Fault{"SegmentFsyncEio", {{"KOBS_FAULT_FS_MATCH", "/buffer/wal-"}, {"KOBS_FAULT_FS_OP", "fsync"},
                                  {"KOBS_FAULT_FS_AFTER", "3"}}},
        Fault{"StateWriteEio", {{"KOBS_FAULT_FS_MATCH", "/buffer/state.json"}, {"KOBS_FAULT_FS_OP", "write"},
                                {"KOBS_FAULT_FS_AFTER", "3"}, {"KOBS_FAULT_FS_COUNT", "2"}}},
        Fault{"StateRenameEio", {{"KOBS_FAULT_FS_MATCH", "/buffer/state.json"}, {"KOBS_FAULT_FS_OP", "rename"},
                                 {"KOBS_FAULT_FS_AFTER", "3"}}},
        Fault{"DeadLetterWriteEio",
              {{"KOBS_FAULT_FS_MATCH", "/buffer/dead/"}, {"KOBS_FAULT_FS_OP", "write"}, {"KOBS_FAULT_FS_COUNT", "2"}},
              true},
        Fault{"DeadLetterFsyncEio",
              {{"KOBS_FAULT_FS_MATCH", "/buffer/dead/"}, {"KOBS_FAULT_FS_OP", "fsync"}},
              true}),
    [](const ::testing::TestParamInfo<Fault>& info) { return std::string(info.param.name); });

// The buffer directory on a small tmpfs that the test fills mid-stream.
TEST(DiskFull, WritesGetBackPressureAndNothingAcknowledgedIsLostOnceSpaceReturns) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs for the disk-full test (CI runs as root)";
  testing::TempDir dir;
  const fs::path buffer = dir.path() / "buffer";
  fs::create_directories(buffer);
  if (::mount("tmpfs", buffer.c_str(), "tmpfs", 0, "size=8m") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << "); the disk-full test needs CAP_SYS_ADMIN";
  struct Unmount {
    fs::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{buffer};

  const fs::path filler = buffer / "filler";
  WriterRun run;
  {
    // A paced producer, so appends are still going on when the disk fills.
    testing::ChildProcess child({childPath(), "write", dir.str(), "0", "30000", "0", "-", "5"});
    int acks = 0;
    std::atomic<bool> filled{false}, freed{false};
    std::atomic<int> refused{0};
    // Space returns once the writer has felt the full disk (or, if it never
    // does, after a while, so the test fails on its assertions, not a hang).
    std::thread freer([&] {
      while (!filled) std::this_thread::sleep_for(1ms);
      for (int i = 0; i < 30000 && refused < 5; ++i) std::this_thread::sleep_for(1ms);
      fs::remove(filler);
      freed = true;
    });
    for (std::string line; !(line = child.readLine()).empty();) {
      long from, to;
      if (std::sscanf(line.c_str(), "ack %ld %ld", &from, &to) == 2) {
        for (long i = from; i < to; ++i) run.acked.insert(i);
        if (++acks == 20 && !filled) {
          // Fill what is left of the disk: appends and state.json writes now fail with ENOSPC.
          struct statvfs st{};
          ::statvfs(buffer.c_str(), &st);
          std::ofstream out(filler, std::ios::binary);
          std::string block(4096, 'f');
          for (uint64_t left = uint64_t(st.f_bavail) * st.f_frsize; left >= block.size() && out; left -= block.size())
            out.write(block.data(), block.size());
          out.close();
          filled = true;
        }
      } else if (line.starts_with("refused")) {
        EXPECT_NE(line.find("IO_ERROR"), std::string::npos) << "a full disk is a disk error, not a full buffer: " << line;
        ++refused;
      }
    }
    if (!filled) filled = true;  // let the freer end
    freer.join();
    run.refused = refused;
    run.status = child.wait();
    EXPECT_TRUE(freed);
  }
  ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << "the writer crashed on a full disk";
  EXPECT_GE(run.refused, 5);
  std::set<long> all;
  for (long i = 0; i < 30000; ++i) all.insert(i);
  EXPECT_EQ(run.acked, all) << "every record is acknowledged once space returned";
  expectExactlyOnce(run.acked, drainAndDump(dir));
}

}  // namespace
}  // namespace kobs::pipeline
