// Multi-line records (pod_logs.multiline): the combiner on its own, then end
// to end through the receiver, the real pipeline and the embedded store, read
// back as stored rows; and a kill -9 in the middle of an entry (child process).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "collect/pod_logs/multiline.h"
#include "collect/pod_logs/pod_logs_receiver.h"
#include "collect/collect_test_util.h"
#include "common/config_table.h"
#include "common/error.h"
#include "common/tsv.h"
#include "support/child_process.h"
#include "support/embedded_store.h"
#include "support/temp_dir.h"

namespace kobs::collect::pod_logs {
namespace {

using test::rows;
using test::waitFor;
namespace fs = std::filesystem;

constexpr const char* kDb = "pod_logs_ml";

// ---- the combiner alone ----

struct Out {
  std::string body;
  int64_t time_ns;
  bool split;
  Stream stream;
};

struct Feed {
  explicit Feed(MultilineRule r, size_t max_log_size = 1 << 20)
      : rule(std::make_shared<CompiledRule>(std::move(r), max_log_size)), c(rule) {}
  std::shared_ptr<const CompiledRule> rule;
  MultilineCombiner c;
  std::vector<Out> out;
  uint64_t offset = 0;
  int64_t t = 1000;
  void line(std::string_view body, Stream s = Stream::kStdout) {
    MultilineCombiner::Line l{body, ++t, "t", s, false, offset, offset + body.size() + 1};
    offset = l.end;
    c.add(l, MultilineCombiner::Clock::now(), [&](const MultilineCombiner::Record& r) {
      out.push_back({std::string(r.body), r.time_ns, r.split, r.stream});
    });
  }
  void flush() {
    c.flushAll([&](const MultilineCombiner::Record& r) { out.push_back({std::string(r.body), r.time_ns, r.split, r.stream}); });
  }
};

MultilineRule firstRule(std::string re) {
  MultilineRule r;
  r.is_first_entry = std::move(re);
  return r;
}

TEST(MultilineCombiner, FirstEntryJoinsContinuationsAndKeepsTheFirstLinesTime) {
  Feed f(firstRule(R"(^\S)"));
  f.line("Exception in thread \"main\" java.lang.IllegalStateException: boom");
  f.line("\tat com.example.App.run(App.java:12)");
  f.line("\tat com.example.App.main(App.java:5)");
  EXPECT_TRUE(f.out.empty());
  EXPECT_TRUE(f.c.pending());
  EXPECT_EQ(f.c.resumeLimit(), 0u);
  EXPECT_EQ(f.c.busyFirstTime(), 1001);
  f.line("next line");
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.out[0].body,
            "Exception in thread \"main\" java.lang.IllegalStateException: boom\n\tat com.example.App.run(App.java:12)\n"
            "\tat com.example.App.main(App.java:5)");
  EXPECT_EQ(f.out[0].time_ns, 1001);
  EXPECT_FALSE(f.out[0].split);
  EXPECT_GT(f.c.resumeLimit(), 0u);  // the open entry "next line" starts there
  f.flush();
  ASSERT_EQ(f.out.size(), 2u);
  EXPECT_EQ(f.out[1].body, "next line");
  EXPECT_FALSE(f.c.pending());
  EXPECT_EQ(f.c.resumeLimit(), MultilineCombiner::kNoOffset);
}

TEST(MultilineCombiner, LastEntryEndsTheRecordWithItsMatchingLine) {
  MultilineRule r;
  r.is_last_entry = R"(^exit status \d+$)";
  r.separator = " | ";
  Feed f(r);
  f.line("panic: runtime error: index out of range [3] with length 3");
  f.line("goroutine 1 [running]:");
  f.line("exit status 2");
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.out[0].body, "panic: runtime error: index out of range [3] with length 3 | goroutine 1 [running]: | exit status 2");
  EXPECT_FALSE(f.c.pending());
}

TEST(MultilineCombiner, StreamsAreJoinedApartAndTheResumeLimitCoversBoth) {
  Feed f(firstRule("^START"));
  f.line("START out");                      // offset 0
  f.line("START err", Stream::kStderr);     // 10
  f.line("  out 2");
  f.line("  err 2", Stream::kStderr);
  f.line("START out again");  // ends the stdout entry; stderr's (from 10) still open
  ASSERT_EQ(f.out.size(), 1u);
  EXPECT_EQ(f.out[0].body, "START out\n  out 2");
  EXPECT_EQ(f.c.resumeLimit(), 0u);  // the busy period began with "START out"
  f.line("START err again", Stream::kStderr);
  ASSERT_EQ(f.out.size(), 2u);
  EXPECT_EQ(f.out[1].body, "START err\n  err 2");
  EXPECT_EQ(f.out[1].stream, Stream::kStderr);
  EXPECT_EQ(f.c.resumeLimit(), 0u);  // still busy since then: reading again from 0 rebuilds all
  f.flush();
  EXPECT_EQ(f.out.size(), 4u);
}

TEST(MultilineCombiner, MaxLinesAndMaxBytesCutEntriesIntoFlaggedPiecesLosingNothing) {
  MultilineRule r = firstRule("^START");
  r.max_lines = 3;
  Feed f(r);
  for (auto l : {"START", "a", "b", "c", "d", "e", "f"}) f.line(l);
  f.flush();
  ASSERT_EQ(f.out.size(), 3u);
  EXPECT_EQ(f.out[0].body, "START\na\nb");
  EXPECT_EQ(f.out[1].body, "c\nd\ne");
  EXPECT_EQ(f.out[2].body, "f");
  for (auto& o : f.out) EXPECT_TRUE(o.split);

  MultilineRule b = firstRule("^START");
  b.max_bytes = 10;
  Feed g(b);
  g.line("START 1234");            // 10 bytes
  g.line("x");                     // would make 12: cut between lines
  g.line("START yyyyyyyyyyyyyyy");  // 21 bytes: cut inside the line
  g.flush();
  std::string all;
  for (auto& o : g.out) {
    EXPECT_LE(o.body.size(), 10u);
    all += o.body + "|";
  }
  EXPECT_EQ(all, "START 1234|x|START yyyy|yyyyyyyyyy|y|");
  EXPECT_TRUE(g.out[0].split);
  EXPECT_TRUE(g.out[1].split);
  EXPECT_TRUE(g.out[2].split);
}

TEST(MultilineRules, ParsedFromYamlWithClearErrorsAndMatchedByGlob) {
  auto rules = parseMultilineRules(R"([{match: "shop/*/api", is_first_entry: '^\d{4}-', max_lines: 50, max_bytes: 64KiB, flush_timeout: 2s, separator: " "}, {is_last_entry: 'END$'}])");
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].match, "shop/*/api");
  EXPECT_EQ(rules[0].max_lines, 50u);
  EXPECT_EQ(rules[0].max_bytes, 64u << 10);
  EXPECT_EQ(rules[0].flush_timeout, std::chrono::seconds(2));
  EXPECT_EQ(rules[0].separator, " ");
  EXPECT_EQ(rules[1].match, "*");
  MultilineRules set(rules, 1 << 20);
  EXPECT_TRUE(set.find("shop", "web-1", "api")->firstMode());
  EXPECT_FALSE(set.find("other", "x", "y")->firstMode());
  EXPECT_EQ(set.find("shop", "web-1", "api")->rule().max_bytes, 64u << 10);
  EXPECT_EQ(MultilineRules(parseMultilineRules(""), 1).find("a", "b", "c"), nullptr);
  auto fails = [](std::string_view yaml, std::string_view needle) {
    try {
      parseMultilineRules(yaml);
    } catch (const Exception& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      return;
    }
    ADD_FAILURE() << yaml << " was accepted";
  };
  fails("[{match: x}]", "exactly one");
  fails("[{is_first_entry: a, is_last_entry: b}]", "exactly one");
  fails("[{is_first_entry: '(unclosed'}]", "not a valid RE2");
  fails("[{is_first_entry: a, max_line: 3}]", "unknown key max_line");
  fails("[{is_first_entry: a, max_lines: 0}]", "max_lines");
  fails("{is_first_entry: a}", "list of rules");
}

// The README's example, as a config file (a YAML list of mappings under a
// string key) and as --set flow text, loads into the rules it describes.
TEST(MultilineRules, TheReadmeExampleLoadsFromAConfigFileAndFromSet) {
  std::ifstream in(testing::sourceDir() / "README.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string readme = ss.str();
  const auto begin = readme.find("  ```yaml\n  pod_logs:\n    multiline:");
  ASSERT_NE(begin, std::string::npos);
  const auto end = readme.find("  ```\n", begin + 10);
  ASSERT_NE(end, std::string::npos);
  std::string yaml;
  std::istringstream block(readme.substr(begin, end - begin));
  std::string l;
  std::getline(block, l);  // the fence
  while (std::getline(block, l)) yaml += (l.size() >= 2 ? l.substr(2) : l) + "\n";
  testing::TempDir dir;
  const auto file = dir.path() / "kobs.yaml";
  std::ofstream(file) << yaml;
  config::Table table(configKeys());
  auto v = table.load(file.string(), {}, {});
  auto rules = parseMultilineRules(v.str("pod_logs.multiline"));
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].match, "shop/*/api");
  EXPECT_EQ(rules[0].max_lines, 500u);
  EXPECT_EQ(rules[0].flush_timeout, std::chrono::seconds(2));
  MultilineRules set(rules, 1 << 20);
  auto java = set.find("shop", "api-7d9", "api");
  ASSERT_NE(java, nullptr);
  EXPECT_TRUE(java->matches("2026-11-30 10:00:00 ERROR Request failed"));
  EXPECT_FALSE(java->matches("\tat com.shop.Api.handle(Api.java:31)"));
  EXPECT_TRUE(set.find("jobs", "w-1", "worker")->matches("Traceback (most recent call last):"));

  const auto set_line = readme.find("--set 'pod_logs.multiline=");
  ASSERT_NE(set_line, std::string::npos);
  const auto q = readme.find('\'', set_line + 7);
  const std::string arg = readme.substr(set_line + 7, q - set_line - 7);
  auto from_set = parseMultilineRules(table.load(std::nullopt, {arg}, {}).str("pod_logs.multiline"));
  ASSERT_EQ(from_set.size(), 1u);
  EXPECT_TRUE(MultilineRules(from_set, 1).find("shop", "p", "api")->matches("2026-11-30 x"));

  // A list of mappings under a key that is not a string is still refused.
  std::ofstream(file) << "pod_logs:\n  include:\n    - {a: 1}\n";
  EXPECT_THROW(table.load(file.string(), {}, {}), Exception);
}

// ---- end to end into the embedded store ----

std::string criAt(int64_t sec, int nanos, std::string_view stream, std::string_view log) {
  std::time_t t = sec;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, nanos);
  return std::string(buf) + " " + std::string(stream) + " F " + std::string(log) + "\n";
}

void append(const fs::path& file, std::string_view data) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::app | std::ios::binary);
  out << data;
}

int64_t nowSec() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class PodLogsMultilineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    store_ = testing::openEmbeddedStore(kDb).release();
    store::schema::SchemaOptions so;
    so.database = kDb;
    schema_ = new store::schema::Schema(store::schema::SchemaManager::apply(*store_, so));
  }
  static void TearDownTestSuite() {
    delete schema_;
    delete store_;
  }
  void SetUp() override {
    store_->execute(std::string("TRUNCATE TABLE ") + kDb + ".otel_logs");
    pods_ = data_.path() / "pods";
    fs::create_directories(pods_);
    pipeline::PipelineOptions po;
    po.buffer.dir = data_.path() / "buffer";
    po.buffer.fsync = pipeline::FsyncPolicy::kNever;
    po.batch.max_age = std::chrono::milliseconds(50);
    po.flush_tick = std::chrono::milliseconds(20);
    pipeline_ = std::make_unique<pipeline::Pipeline>(*store_, test::logsTarget(*schema_), po);
    pipeline_->start();
  }
  void TearDown() override {
    if (receiver_) receiver_->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    receiver_.reset();
    pipeline_->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  }
  void start(std::vector<MultilineRule> rules) {
    PodLogsOptions o;
    o.state_dir = data_.path() / "pod_logs";
    o.include = {(pods_ / "*/*/*.log").string()};
    o.start_at_beginning = true;
    o.poll_interval = std::chrono::milliseconds(20);
    o.checkpoint_interval = std::chrono::milliseconds(50);
    o.multiline = std::move(rules);
    receiver_ = std::make_unique<PodLogsReceiver>(std::move(o), *pipeline_, *store_, nullptr);
    receiver_->start();
    ASSERT_TRUE(waitFor([&] { return receiver_->ready(); }, std::chrono::seconds(60)));
  }
  fs::path podFile(const std::string& ns, const std::string& pod, const std::string& c) {
    return pods_ / (ns + "_" + pod + "_0000-aaaa") / c / "0.log";
  }
  size_t count(const std::string& where = "1") {
    auto r = store_->query(std::string("SELECT count() FROM ") + kDb + ".otel_logs WHERE " + where, "TabSeparated");
    return size_t(std::stoull(r.data));
  }
  std::vector<nlohmann::json> stored(const fs::path& file) {
    return rows(*store_, std::string("SELECT Body, toUnixTimestamp64Nano(Timestamp) AS t, LogAttributes['log.iostream'] AS s, "
                                     "LogAttributes['kobs.log.split'] AS split FROM ") +
                             kDb + ".otel_logs WHERE LogAttributes['log.file.path'] = '" + file.string() +
                             "' ORDER BY Timestamp, Body");
  }

  static inline store::IStore* store_ = nullptr;
  static inline store::schema::Schema* schema_ = nullptr;
  testing::TempDir data_;
  fs::path pods_;
  std::unique_ptr<pipeline::Pipeline> pipeline_;
  std::unique_ptr<PodLogsReceiver> receiver_;
};

TEST_F(PodLogsMultilineTest, JavaStackTracesAreOneRowAndContainersWithoutARuleAreUntouched) {
  MultilineRule java;
  java.match = "shop/*/api";
  java.is_first_entry = R"(^\d{4}-\d{2}-\d{2} )";
  start({java});
  const auto api = podFile("shop", "api-7d9", "api");
  const auto side = podFile("shop", "api-7d9", "sidecar");  // same pod, no rule
  const int64_t s = nowSec();
  const std::vector<std::string> trace = {
      "2026-11-30 10:00:00 ERROR Request failed",
      "java.lang.IllegalStateException: order 42 not found",
      "\tat com.shop.OrderService.get(OrderService.java:88)",
      "\tat com.shop.Api.handle(Api.java:31)",
      "Caused by: java.sql.SQLException: timeout",
      "\t... 12 more"};
  std::string data;
  for (size_t i = 0; i < trace.size(); ++i) data += criAt(s, int(i), "stdout", trace[i]);
  data += criAt(s, 100, "stdout", "2026-11-30 10:00:01 INFO next request");
  data += criAt(s, 200, "stdout", "2026-11-30 10:00:02 INFO last one");  // a next first line ends the one before
  append(api, data);
  std::string side_data;
  for (size_t i = 0; i < trace.size(); ++i) side_data += criAt(s, int(i), "stdout", trace[i]);
  append(side, side_data);
  ASSERT_TRUE(waitFor([&] { return count() >= 3 + trace.size(); }, std::chrono::seconds(60)));
  auto r = stored(api);
  ASSERT_GE(r.size(), 2u);
  std::string joined;
  for (size_t i = 0; i < trace.size(); ++i) joined += (i ? "\n" : "") + trace[i];
  EXPECT_EQ(r[0]["Body"], joined);
  EXPECT_EQ(r[0]["t"].get<int64_t>(), s * 1000000000LL);  // the first line's time
  EXPECT_EQ(r[0]["s"], "stdout");
  EXPECT_EQ(r[0]["split"], "");
  EXPECT_EQ(r[1]["Body"], "2026-11-30 10:00:01 INFO next request");
  auto sr = stored(side);
  ASSERT_EQ(sr.size(), trace.size());
  for (size_t i = 0; i < trace.size(); ++i) EXPECT_EQ(sr[i]["Body"], trace[i]);
  // The last entry waits for its flush_timeout (1 s), then is stored too.
  ASSERT_TRUE(waitFor([&] { return count() == 3 + trace.size(); }, std::chrono::seconds(60)));
  EXPECT_EQ(stored(api).back()["Body"], "2026-11-30 10:00:02 INFO last one");
  EXPECT_GE(receiver_->stats().multiline_records.load(), 1u);
}

TEST_F(PodLogsMultilineTest, PythonTracebacksOnBothStreamsAndTheTimeoutFlush) {
  MultilineRule py;
  py.is_first_entry = R"(^(\d{4}-\d{2}-\d{2} |Traceback ))";
  py.flush_timeout = std::chrono::milliseconds(300);
  start({py});
  const auto f = podFile("ml", "worker-1", "py");
  const int64_t s = nowSec();
  std::string data;
  data += criAt(s, 1, "stderr", "Traceback (most recent call last):");
  data += criAt(s, 2, "stdout", "2026-11-30 10:00:00 INFO step 1");  // interleaved, another stream
  data += criAt(s, 3, "stderr", "  File \"/app/main.py\", line 3, in <module>");
  data += criAt(s, 4, "stdout", "  detail of step 1");
  data += criAt(s, 5, "stderr", "    run()");
  data += criAt(s, 6, "stderr", "ValueError: bad input");
  append(f, data);
  // Nothing follows either entry: both end by the flush timeout.
  ASSERT_TRUE(waitFor([&] { return count() >= 2; }, std::chrono::seconds(60)));
  auto r = stored(f);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0]["Body"], "Traceback (most recent call last):\n  File \"/app/main.py\", line 3, in <module>\n    run()\nValueError: bad input");
  EXPECT_EQ(r[0]["s"], "stderr");
  EXPECT_EQ(r[0]["t"].get<int64_t>(), s * 1000000000LL + 1);
  EXPECT_EQ(r[1]["Body"], "2026-11-30 10:00:00 INFO step 1\n  detail of step 1");
  EXPECT_EQ(r[1]["s"], "stdout");
  EXPECT_EQ(receiver_->stats().multiline_timeouts.load(), 2u);
}

TEST_F(PodLogsMultilineTest, GoPanicsEndWithTheirLastLineAndMaxLinesSplitsFlagged) {
  MultilineRule go;
  go.match = "ml/*/go";
  go.is_last_entry = R"(^exit status \d+$)";
  MultilineRule capped;
  capped.match = "ml/*/capped";
  capped.is_first_entry = "^START";
  capped.max_lines = 3;
  start({go, capped});
  const auto g = podFile("ml", "svc", "go");
  const auto c = podFile("ml", "svc", "capped");
  const int64_t s = nowSec();
  append(g, criAt(s, 1, "stderr", "panic: runtime error: invalid memory address") +
                criAt(s, 2, "stderr", "goroutine 1 [running]:") + criAt(s, 3, "stderr", "main.main()") +
                criAt(s, 4, "stderr", "exit status 2"));
  std::string data;
  for (int i = 0; i < 7; ++i) data += criAt(s, 10 + i, "stdout", i == 0 ? "START" : "line " + std::to_string(i));
  data += criAt(s, 30, "stdout", "START next");
  append(c, data);
  ASSERT_TRUE(waitFor([&] { return count() >= 5; }, std::chrono::seconds(60)));
  auto gr = stored(g);
  ASSERT_EQ(gr.size(), 1u);
  EXPECT_EQ(gr[0]["Body"], "panic: runtime error: invalid memory address\ngoroutine 1 [running]:\nmain.main()\nexit status 2");
  auto cr = stored(c);
  ASSERT_GE(cr.size(), 3u);
  EXPECT_EQ(cr[0]["Body"], "START\nline 1\nline 2");
  EXPECT_EQ(cr[1]["Body"], "line 3\nline 4\nline 5");
  EXPECT_EQ(cr[2]["Body"], "line 6");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(cr[size_t(i)]["split"], "true");
  EXPECT_EQ(cr[1]["t"].get<int64_t>(), s * 1000000000LL + 13);  // its own first line's
}

TEST_F(PodLogsMultilineTest, AnOpenEntryIsStoredWholeWhenItsFileIsTruncated) {
  MultilineRule r;
  r.is_first_entry = "^START";
  r.flush_timeout = std::chrono::hours(1);  // only the truncation can end it
  start({r});
  const auto f = podFile("ml", "trunc", "app");
  const int64_t s = nowSec();
  append(f, criAt(s, 1, "stdout", "START one") + criAt(s, 2, "stdout", "  one 1"));
  ASSERT_TRUE(waitFor([&] { return receiver_->stats().lines_read.load() >= 2; }, std::chrono::seconds(60)));
  fs::resize_file(f, 0);  // truncated, no copy next to it
  append(f, criAt(s + 1, 1, "stdout", "START two") + criAt(s + 1, 2, "stdout", "START three"));
  ASSERT_TRUE(waitFor([&] { return count() >= 2; }, std::chrono::seconds(60)));
  auto rows = stored(f);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["Body"], "START one\n  one 1");
  EXPECT_EQ(rows[1]["Body"], "START two");
}

// kill -9 of a child running the receiver while an entry is open (partly
// written, then whole and held awaiting its flush): after each restart the
// entry is read again from its first line; every entry is stored once, whole.
TEST(PodLogsMultilineKill, KillNineInTheMiddleOfAnEntryStoresItOnceAndWhole) {
  testing::TempDir dir;
  const fs::path file = dir.path() / "pods" / "ml_kill_0000" / "app" / "0.log";
  const std::string glob = (dir.path() / "pods/*/*/*.log").string();
  const std::string child = (testing::binaryDir() / "tests/collect/pod_logs/multiline_child").string();
  const int64_t s = nowSec();
  int n = 0;
  auto line = [&](const std::string& body) { return criAt(s, ++n, "stdout", body); };
  // The checkpoint's offset for the file, once written.
  auto checkpointOffset = [&]() -> int64_t {
    auto cp = loadCheckpoint(dir.path() / "pod_logs" / "checkpoint.json");
    if (!cp) return -1;
    for (auto& f : cp->files)
      if (f.path == file.string()) return int64_t(f.offset);
    return -1;
  };
  std::string a = line("START a") + line("  a 1") + line("  a 2");
  append(file, a);
  const int64_t b_start = int64_t(a.size());
  append(file, line("START b") + line("  b 1"));  // b partly written; a ended by it
  // Until the child has read `lines` lines.
  auto readUntil = [](testing::ChildProcess& c, unsigned long lines) {
    for (std::string l = c.readLine(); !l.empty(); l = c.readLine())
      if (l.rfind("lines ", 0) == 0 && std::stoul(l.substr(6)) >= lines) return true;
    return false;
  };
  {
    testing::ChildProcess c({child, "run", dir.path().string(), glob, "600000"});
    ASSERT_EQ(c.readLine(), "started");
    ASSERT_TRUE(readUntil(c, 5));
    // a is stored and the checkpoint stops at b's first line: b is held.
    ASSERT_TRUE(waitFor([&] { return checkpointOffset() == b_start; }, std::chrono::seconds(60)));
    c.kill(SIGKILL);
    c.wait();
  }
  append(file, line("  b 2") + line("  b 3"));  // b whole now, still open (no next first line)
  {
    testing::ChildProcess c({child, "run", dir.path().string(), glob, "600000"});
    ASSERT_EQ(c.readLine(), "started");
    // b read again from its start (4 lines), held: the checkpoint stays there.
    ASSERT_TRUE(readUntil(c, 4));
    ASSERT_TRUE(waitFor([&] { return checkpointOffset() == b_start; }, std::chrono::seconds(60)));
    c.kill(SIGKILL);
    c.wait();
  }
  append(file, line("START c") + line("  c 1"));
  testing::ChildProcess c({child, "dump", dir.path().string(), glob, "300", "3"});
  ASSERT_EQ(c.readLine(), "started");
  std::vector<std::string> bodies;
  for (std::string l = c.readLine(); l != "done" && !l.empty(); l = c.readLine()) bodies.push_back(unescapeTsv(l));
  EXPECT_EQ(c.wait(), 0);
  EXPECT_EQ(bodies, (std::vector<std::string>{"START a\n  a 1\n  a 2", "START b\n  b 1\n  b 2\n  b 3", "START c\n  c 1"}));
}

}  // namespace
}  // namespace kobs::collect::pod_logs
