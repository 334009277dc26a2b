// A child process writing 100k records through the pipeline is SIGKILLed at
// random moments and restarted; at the end every record the child saw
// acknowledged is in the store exactly once, and no record is stored twice.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "store/embedded/embedded_store.h"
#include "support/child_process.h"
#include "support/temp_dir.h"

namespace kobs::pipeline {
namespace {

std::string childPath() { return (testing::binaryDir() / "tests/pipeline/pipeline_crash_child").string(); }

TEST(DiskBufferCrash, SigkilledWriterLosesNoAcknowledgedRecordAndStoresNoneTwice) {
  testing::TempDir dir;
  std::mt19937 rng(12345);
  std::set<long> acked;
  constexpr long kTotal = 100000, kRounds = 6;
  long next = 0;
  for (int round = 0; round < kRounds; ++round) {
    long last = round + 1 == kRounds ? kTotal : next + kTotal / kRounds;
    // Even rounds die right after an insert the buffer has not recorded as
    // committed (its replay must be deduplicated); odd rounds are SIGKILLed.
    const bool dies_after_insert = round % 2 == 0 && round + 1 < kRounds;
    std::uniform_int_distribution<int> inserts(1, 5);
    testing::ChildProcess child({childPath(), "write", dir.str(), std::to_string(next), std::to_string(last),
                                 std::to_string(dies_after_insert ? inserts(rng) : 0)});
    // Kill after a random number of acknowledged chunks (or let the last round finish).
    std::uniform_int_distribution<int> kill_after(5, 150);
    int target = round + 1 == kRounds || dies_after_insert ? -1 : kill_after(rng);
    char line[128];
    int acks = 0;
    long max_acked = next;
    while (std::fgets(line, sizeof line, child.out())) {
      long from, to;
      if (std::sscanf(line, "ack %ld %ld", &from, &to) == 2) {
        for (long i = from; i < to; ++i) acked.insert(i);
        max_acked = std::max(max_acked, to);
        if (++acks == target) {
          child.kill(SIGKILL);
          break;
        }
      }
    }
    int status = child.wait();
    if (round + 1 == kRounds) {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "final writer failed";
    }
    if (dies_after_insert) {
      ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 9) << "child did not die on cue";
    }
    // The next round writes fresh ids after everything this one may have produced.
    next = round + 1 == kRounds ? next : last;
  }
  // Replay whatever the last kill left in the buffer.
  testing::ChildProcess drain({childPath(), "drain", dir.str()});
  int status = drain.wait();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  store::EmbeddedOptions o;
  o.data_dir = dir.str();
  o.database = "crash";
  store::EmbeddedStore store(o);
  auto dup = store.query("SELECT count() FROM (SELECT LogAttributes['id'] AS id, count() AS c FROM otel_logs GROUP BY id HAVING c > 1)", "TabSeparated");
  EXPECT_EQ(dup.data, "0\n") << "records stored more than once";
  auto ids = store.query("SELECT LogAttributes['id'] FROM otel_logs", "TabSeparated").data;
  std::set<long> stored;
  size_t pos = 0;
  while (pos < ids.size()) {
    auto nl = ids.find('\n', pos);
    stored.insert(std::stol(ids.substr(pos, nl - pos)));
    pos = nl + 1;
  }
  size_t missing = 0;
  for (long id : acked) missing += stored.count(id) == 0;
  EXPECT_EQ(missing, 0u) << "acknowledged records missing from the store";
  EXPECT_GE(acked.size(), size_t(kTotal / kRounds));  // the last round alone acknowledges its share
  // The rounds that died after an unrecorded insert left batches the store already had.
  auto replays = store.query("SELECT count() FROM otel_logs", "TabSeparated").data;
  EXPECT_EQ(std::stoul(replays), stored.size());
}

}  // namespace
}  // namespace kobs::pipeline
