// Rotation storm with crashes: a writer at 10k lines/s into two container
// logs, one rotated by rename every 100 ms (the runtime writes a few more
// lines to the renamed file, then reopens the path), one by copytruncate
// every 200 ms (the copy goes next to it, outside the include globs, as
// logrotate's 0.log.N), while a child process running the receiver, the
// pipeline and the embedded store is SIGKILLed 20 times at random moments
// and restarted on the same data dir; then a last child runs to the end
// while the writer goes on for 3 s more.
// Every line of both is stored exactly once, in order per file. The writer
// starts before kobs does, but truncates only once kobs's first checkpoint
// lists the file (it is written before anything is read): a generation
// copied and truncated before kobs first ran is a file it never saw, under
// a name outside its globs, as for the stock receiver. The writer copies and
// truncates itself, so nothing is written between the copy and the
// truncation, the part of copytruncate's race no reader can close (lines
// written there and never copied are not in any file).
// The parent never opens the store: chDB's data dir belongs to one process.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "support/child_process.h"
#include "support/temp_dir.h"

namespace kobs::collect::pod_logs {
namespace {

namespace fs = std::filesystem;

std::string childPath() { return (testing::binaryDir() / "tests/collect/pod_logs/pod_logs_child").string(); }

std::string criNow(const std::string& body) {
  auto t = std::chrono::system_clock::now();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ stdout F ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ns % 1000000000));
  return buf + body + "\n";
}

void writeAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    ASSERT_GT(n, 0);
    off += size_t(n);
  }
}

TEST(PodLogsStorm, RenameEvery100msCopytruncateEvery200msAnd20KillsStoreEachLineOnce) {
  testing::TempDir dir;
  const fs::path pods = dir.path() / "pods";
  const fs::path a = pods / "ns_renamed_0a0a" / "c" / "0.log";
  const fs::path b = pods / "ns_truncated_0b0b" / "c" / "0.log";
  fs::create_directories(a.parent_path());
  fs::create_directories(b.parent_path());
  // Renamed files keep a name the glob still matches (kubelet's rotated
  // names are outside *.log; with them a file rotated while kobs is down
  // would be missed, as with the stock receiver).
  const std::string glob = (pods / "ns_renamed_*/*/*.log*").string() + "," + (pods / "ns_truncated_*/*/*.log").string();

  std::atomic<bool> writing{true};
  std::atomic<long> written_a{0}, written_b{0};
  std::mutex gen_mutex;
  std::vector<long> gen_start{0};  // first line of each generation of b
  const fs::path checkpoint = dir.path() / "pod_logs" / "checkpoint.json";
  auto checkpointListsB = [&] {
    std::ifstream in(checkpoint);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str().find("ns_truncated_0b0b") != std::string::npos;
  };
  std::thread writer([&] {
    int fa = ::open(a.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int fb = ::open(b.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    auto start = std::chrono::steady_clock::now();
    auto last_rename = start, last_truncate = start;
    int rotations = 0, copies = 0;
    bool truncating = false;  // once kobs's first checkpoint lists b
    while (writing) {
      // 10k lines/s: 10 lines per millisecond, half to each file.
      for (int i = 0; i < 5; ++i) writeAll(fa, criNow("a " + std::to_string(written_a++)));
      for (int i = 0; i < 5; ++i) writeAll(fb, criNow("b " + std::to_string(written_b++)));
      auto now = std::chrono::steady_clock::now();
      if (now - last_rename >= std::chrono::milliseconds(100)) {
        last_rename = now;
        fs::rename(a, a.string() + "." + std::to_string(++rotations));
        for (int i = 0; i < 3; ++i) writeAll(fa, criNow("a " + std::to_string(written_a++)));
        ::close(fa);
        fa = ::open(a.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      }
      if (!truncating && checkpointListsB()) truncating = true;
      if (truncating && now - last_truncate >= std::chrono::milliseconds(200)) {
        last_truncate = now;
        fs::copy_file(b, b.string() + "." + std::to_string(++copies), fs::copy_options::overwrite_existing);
        ::ftruncate(fb, 0);
        std::lock_guard lock(gen_mutex);
        gen_start.push_back(written_b.load());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ::close(fa);
    ::close(fb);
  });

  std::mt19937 rng(13);
  std::vector<std::pair<long, long>> lives;
  for (int kill = 0; kill < 20; ++kill) {
    testing::ChildProcess child({childPath(), "run", dir.str(), glob});
    ASSERT_EQ(child.readLine(), "started");
    const long s0 = written_b.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 400));
    child.kill(SIGKILL);
    child.wait();
    lives.emplace_back(s0, written_b.load());
  }
  testing::ChildProcess settle({childPath(), "settle", dir.str(), glob});
  ASSERT_EQ(settle.readLine(), "started");
  ASSERT_EQ(settle.readLine(), "ready");
  const long b_at_ready = written_b.load();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  writing = false;
  writer.join();
  {
    std::ofstream out(dir.path() / "expected.tmp");
    out << written_a.load() << "\na " << written_a.load() - 1 << "\nb " << written_b.load() - 1 << "\n";
  }
  fs::rename(dir.path() / "expected.tmp", dir.path() / "expected");
  std::map<std::string, std::vector<long>> a_by_path;
  std::vector<long> a_all, b_seq;
  for (;;) {
    std::string line = settle.readLine();
    if (line.empty() || line == "done") break;
    auto tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    std::string path = line.substr(0, tab), body = line.substr(tab + 1);
    long seq = std::stol(body.substr(2));
    if (body[0] == 'a') {
      a_by_path[path].push_back(seq);
      a_all.push_back(seq);
    } else {
      b_seq.push_back(seq);
    }
  }
  // The renamed file: every line exactly once, in order per file.
  std::vector<int> seen(size_t(written_a.load()), 0);
  for (long s : a_all) {
    ASSERT_GE(s, 0);
    ASSERT_LT(s, written_a.load());
    ++seen[size_t(s)];
  }
  long missing = 0, dup = 0;
  for (int n : seen) {
    missing += n == 0;
    dup += n > 1;
  }
  EXPECT_EQ(missing, 0) << "of " << written_a.load();
  EXPECT_EQ(dup, 0);
  if (dup > 0) {
    int shown = 0;
    for (auto& [path, seqs] : a_by_path)
      for (long q : seqs)
        if (seen[size_t(q)] > 1 && shown++ < 30) std::printf("dup %ld in %s\n", q, path.c_str());
    for (auto& [path, seqs] : a_by_path)
      std::printf("path %s: %zu rows, %ld..%ld\n", path.c_str(), seqs.size(), seqs.empty() ? -1 : seqs.front(),
                  seqs.empty() ? -1 : seqs.back());
  }
  for (auto& [path, seqs] : a_by_path)
    EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end())) << path;
  // The truncated file: in order, each line exactly once (read live, from
  // its copy when truncated before it was read, or from the copies of
  // generations truncated while no kobs ran, found after a restart by their
  // first line's time).
  std::vector<int> seen_b(size_t(written_b.load()), 0);
  for (long s : b_seq) {
    ASSERT_GE(s, 0);
    ASSERT_LT(s, written_b.load());
    ++seen_b[size_t(s)];
  }
  EXPECT_TRUE(std::is_sorted(b_seq.begin(), b_seq.end()));
  long dup_b = 0, missing_b = 0;
  for (int n : seen_b) {
    dup_b += n > 1;
    missing_b += n == 0;
  }
  EXPECT_EQ(dup_b, 0);
  EXPECT_EQ(missing_b, 0) << "of " << written_b.load();
  // Where losses and duplicates are, per generation (its copy is
  // 0.log.<g+1>) and per child life, so a failure shows which path missed.
  {
    std::lock_guard lock(gen_mutex);
    for (auto [s0, s1] : lives) std::printf("child life: lines %ld..%ld\n", s0, s1);
    std::printf("last start: line %ld\n", b_at_ready);
    for (size_t g = 0; g < gen_start.size(); ++g) {
      const long lo = gen_start[g], hi = g + 1 < gen_start.size() ? gen_start[g + 1] : written_b.load();
      long miss = 0, twice = 0, first_miss = -1, last_miss = -1;
      for (long s = lo; s < hi; ++s) {
        twice += seen_b[size_t(s)] > 1;
        if (seen_b[size_t(s)] == 0) {
          ++miss;
          if (first_miss < 0) first_miss = s;
          last_miss = s;
        }
      }
      if (miss || twice)
        std::printf("generation %zu (copy .%zu, lines %ld..%ld): %ld missing (%ld..%ld), %ld stored twice\n", g, g + 1,
                    lo, hi, miss, first_miss, last_miss, twice);
    }
  }
  long missing_b_live = 0;
  for (long s = b_at_ready; s < written_b.load(); ++s) missing_b_live += seen_b[size_t(s)] == 0;
  std::printf("renamed file: %ld lines, %ld stored; truncated file: %ld lines in %zu generations, %zu stored (%ld "
              "lost in all; %ld of the %ld written after the last start; %ld stored twice)\n",
              written_a.load(), long(a_all.size()), written_b.load(), gen_start.size(), b_seq.size(),
              written_b.load() - long(b_seq.size()), missing_b_live, written_b.load() - b_at_ready, dup_b);
}

}  // namespace
}  // namespace kobs::collect::pod_logs
