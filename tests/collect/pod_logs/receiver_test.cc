// PodLogsReceiver end to end: files laid out as kubelet writes them under a
// temporary /var/log/pods → receiver → real Pipeline (disk buffer, sender) →
// the embedded ClickHouse store with kobs's schema, read back with SQL.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "collect/k8s_events/event_mapping.h"
#include "collect/pod_logs/pod_logs_receiver.h"
#include "collect/pod_logs/pod_path.h"
#include "collect/collect_test_util.h"
#include "collect/collector_registry.h"
#include "common/config_table.h"
#include "common/error.h"
#include "support/embedded_store.h"
#include "support/temp_dir.h"

namespace kobs::collect::pod_logs {
namespace {

using nlohmann::json;
using test::rows;
using test::waitFor;
namespace fs = std::filesystem;

constexpr const char* kDb = "pod_logs_rx";

// Stands in for a store that stops taking inserts (the embedded store cannot
// be made to refuse on demand): inserts fail as "unavailable" while paused.
class PausableStore final : public store::IStore {
 public:
  explicit PausableStore(store::IStore& inner) : inner_(inner) {}
  std::atomic<bool> paused{false};
  std::string_view kind() const override { return inner_.kind(); }
  const std::string& database() const override { return inner_.database(); }
  void execute(std::string_view sql, const store::Settings& s) override { inner_.execute(sql, s); }
  store::QueryResult query(std::string_view sql, std::string_view format, const store::Settings& s) override {
    return inner_.query(sql, format, s);
  }
  store::InsertResult insert(const store::InsertRequest& r) override {
    if (paused) throw Exception(ErrorCode::kStoreUnavailable, "paused by the test");
    return inner_.insert(r);
  }
  void ping() override { inner_.ping(); }

 private:
  store::IStore& inner_;
};

std::string cri(std::string_view time, std::string_view stream, std::string_view tag, std::string_view log) {
  return std::string(time) + " " + std::string(stream) + " " + std::string(tag) + " " + std::string(log) + "\n";
}

void append(const fs::path& file, std::string_view data) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::app | std::ios::binary);
  out << data;
}

std::string nowCri() {
  auto t = std::chrono::system_clock::now();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ns % 1000000000));
  return buf;
}

class PodLogsReceiverTest : public ::testing::Test {
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
    pausable_ = std::make_unique<PausableStore>(*store_);
    openPipeline();
  }
  void TearDown() override {
    stopReceiver();
    closePipeline();
  }

  void openPipeline(uint64_t buffer_bytes = 64u << 20) {
    pipeline::PipelineOptions po;
    po.buffer.dir = data_.path() / "buffer";
    po.buffer.fsync = pipeline::FsyncPolicy::kNever;
    po.buffer.max_bytes = buffer_bytes;
    po.batch.max_age = std::chrono::milliseconds(50);
    po.batch.max_bytes = 256u << 10;
    po.batch.full_wait = std::chrono::milliseconds(50);
    po.flush_tick = std::chrono::milliseconds(20);
    po.sender.backoff_initial = std::chrono::milliseconds(20);
    po.sender.backoff_max = std::chrono::milliseconds(100);
    pipeline_ = std::make_unique<pipeline::Pipeline>(*pausable_, test::logsTarget(*schema_), po);
    pipeline_->start();
  }
  void closePipeline() {
    if (pipeline_) pipeline_->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(10));
    pipeline_.reset();
  }

  PodLogsOptions options() {
    PodLogsOptions o;
    o.state_dir = data_.path() / "pod_logs";
    o.include = {(pods_ / "*/*/*.log").string()};
    o.start_at_beginning = true;
    o.poll_interval = std::chrono::milliseconds(20);
    o.scan_interval = std::chrono::milliseconds(500);
    o.rotate_wait = std::chrono::milliseconds(200);
    o.checkpoint_interval = std::chrono::milliseconds(50);
    o.node_name = "node-1";
    return o;
  }
  void startReceiver(PodLogsOptions o) {
    receiver_ = std::make_unique<PodLogsReceiver>(std::move(o), *pipeline_, *pausable_, nullptr);
    receiver_->start();
    ASSERT_TRUE(waitFor([&] { return receiver_->ready(); }));
  }
  void startReceiver() { startReceiver(options()); }
  void stopReceiver() {
    if (receiver_) receiver_->shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    receiver_.reset();
  }

  size_t count(const std::string& where = "1") {
    auto r = store_->query(std::string("SELECT count() FROM ") + kDb + ".otel_logs WHERE " + where, "TabSeparated");
    return size_t(std::stoull(r.data));
  }
  // Bodies of one file in Timestamp order.
  std::vector<std::string> bodies(const fs::path& file) {
    std::vector<std::string> out;
    for (auto& r : rows(*store_, std::string("SELECT Body FROM ") + kDb +
                                     ".otel_logs WHERE LogAttributes['log.file.path'] = '" + file.string() +
                                     "' ORDER BY Timestamp, Body"))
      out.push_back(r["Body"].get<std::string>());
    return out;
  }

  fs::path podFile(const std::string& ns, const std::string& pod, const std::string& uid, const std::string& c,
                   int restart = 0) {
    return pods_ / (ns + "_" + pod + "_" + uid) / c / (std::to_string(restart) + ".log");
  }

  static inline store::IStore* store_ = nullptr;
  static inline store::schema::Schema* schema_ = nullptr;
  testing::TempDir data_;
  fs::path pods_;
  std::unique_ptr<PausableStore> pausable_;
  std::unique_ptr<pipeline::Pipeline> pipeline_;
  std::unique_ptr<PodLogsReceiver> receiver_;
};

#ifndef KOBS_POD_LOGS_SLOW
TEST_F(PodLogsReceiverTest, GoldenRowsFromContainerdCrioAndDockerFiles) {
  const auto containerd = podFile("shop", "web-5d8f-x2x", "11111111-2222-3333-4444-555555555555", "nginx", 2);
  const auto crio = podFile("shop", "db-0", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "postgres");
  const auto docker = podFile("kube-system", "dns-1", "0123abcd-0000-0000-0000-000000000000", "coredns", 1);
  append(containerd, cri("2024-05-01T10:00:00.000000001Z", "stdout", "F", "plain line") +
                         cri("2024-05-01T10:00:00.000000002Z", "stderr", "P", "part one, ") +
                         cri("2024-05-01T10:00:00.000000003Z", "stderr", "P", "part two, ") +
                         cri("2024-05-01T10:00:00.000000004Z", "stderr", "F", "end") +
                         cri("2024-05-01T10:00:00.000000005Z", "stdout", "F", "") +
                         cri("2024-05-01T10:00:00.000000006Z", "stdout", "F", "crlf line\r") +
                         cri("2024-05-01T10:00:00.000000007Z", "stdout", "F", "ünïcödé 世界 🚀") +
                         "this is not a CRI line\n" +
                         cri("1970-01-01T00:00:01Z", "stdout", "F", "from 1970") +
                         cri("2200-01-01T00:00:00Z", "stdout", "F", "from 2200"));
  append(crio, cri("2024-05-01T12:00:00.5+02:00", "stdout", "F", "crio line"));
  append(docker, std::string(R"({"log":"docker \"one\"\n","stream":"stdout","time":"2024-05-01T10:00:01.000000001Z"})") +
                     "\n" + R"({"log":"docker long ","stream":"stderr","time":"2024-05-01T10:00:01.000000002Z"})" + "\n" +
                     R"({"log":"line\n","stream":"stderr","time":"2024-05-01T10:00:01.000000003Z"})" + "\n");
  const int64_t before = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  startReceiver();
  ASSERT_TRUE(waitFor([&] { return count() == 10; })) << count();
  EXPECT_EQ(receiver_->stats().malformed_lines.load(), 1u);
  EXPECT_EQ(receiver_->stats().partial_lines.load(), 3u);
  EXPECT_EQ(receiver_->stats().absurd_timestamps.load(), 2u);

  auto got = rows(*store_, std::string("SELECT *, toUnixTimestamp64Nano(Timestamp) AS ts_ns FROM ") + kDb +
                               ".otel_logs ORDER BY LogAttributes['log.file.path'], Timestamp, Body");
  ASSERT_EQ(got.size(), 10u);
  auto resource = [](const std::string& ns, const std::string& pod, const std::string& uid, const std::string& c,
                     const std::string& restart) {
    return json{{"k8s.namespace.name", ns}, {"k8s.pod.name", pod},        {"k8s.pod.uid", uid},
                {"k8s.container.name", c},   {"k8s.container.restart_count", restart}, {"k8s.node.name", "node-1"}};
  };
  struct Want {
    fs::path file;
    int64_t ts;  // 0: the observed time (absurd line times)
    std::string body;
    std::string stream;
    json extra = json::object();
  };
  const int64_t base = k8s_events::parseRfc3339Nanos("2024-05-01T10:00:00Z");
  std::vector<Want> want = {
      {containerd, base + 1, "plain line", "stdout"},
      {containerd, base + 2, "part one, part two, end", "stderr"},
      {containerd, base + 5, "", "stdout"},
      {containerd, base + 6, "crlf line", "stdout"},
      {containerd, base + 7, "ünïcödé 世界 🚀", "stdout"},
      {containerd, 0, "from 1970", "stdout", {{"kobs.log.original_time", "1970-01-01T00:00:01Z"}}},
      {containerd, 0, "from 2200", "stdout", {{"kobs.log.original_time", "2200-01-01T00:00:00Z"}}},
      {crio, base + 500000000, "crio line", "stdout"},
      {docker, base + 1000000001, "docker \"one\"", "stdout"},
      {docker, base + 1000000002, "docker long line", "stderr"},
  };
  // Rows sort by path: containerd (shop_web), crio (shop_db) and docker (kube-system) files.
  std::map<std::string, std::vector<json>> by_file;
  for (auto& r : got) by_file[r["LogAttributes"]["log.file.path"].get<std::string>()].push_back(r);
  ASSERT_EQ(by_file[containerd.string()].size(), 7u);
  ASSERT_EQ(by_file[crio.string()].size(), 1u);
  ASSERT_EQ(by_file[docker.string()].size(), 2u);
  std::map<std::string, size_t> next;
  for (const auto& w : want) {
    auto& list = by_file[w.file.string()];
    // Absurd rows carry the observed time: they sort last within their file.
    json row;
    for (auto& r : list)
      if (r["Body"] == w.body) row = r;
    ASSERT_FALSE(row.is_null()) << w.body;
    auto pp = parsePodPath(w.file.string());
    ASSERT_TRUE(pp);
    json expected_attrs = {{"log.file.path", w.file.string()}, {"log.iostream", w.stream}, {"logtag", "F"}};
    expected_attrs.update(w.extra);
    const int64_t ts = row["ts_ns"].is_string() ? std::stoll(row["ts_ns"].get<std::string>()) : row["ts_ns"].get<int64_t>();
    if (w.ts != 0) {
      EXPECT_EQ(ts, w.ts) << w.body;
    } else {
      EXPECT_GE(ts, before) << w.body;
    }
    EXPECT_EQ(row["LogAttributes"], expected_attrs) << w.body;
    EXPECT_EQ(row["ResourceAttributes"], resource(pp->ns, pp->pod_name, pp->pod_uid, pp->container_name, pp->restart_count));
    EXPECT_EQ(row["ScopeName"], "kobs/pod_logs");
    EXPECT_EQ(row["ScopeVersion"], "");
    EXPECT_EQ(row["ScopeAttributes"], json::object());
    EXPECT_EQ(row["ServiceName"], "");
    EXPECT_EQ(row["SeverityText"], "");
    EXPECT_EQ(row["SeverityNumber"], 0);
    EXPECT_EQ(row["TraceId"], "");
    EXPECT_EQ(row["SpanId"], "");
    EXPECT_EQ(row["TraceFlags"], 0);
    EXPECT_EQ(row["ResourceSchemaUrl"], "");
    EXPECT_EQ(row["ScopeSchemaUrl"], "");
    // Every column of the row is one of the above (or the Timestamp pair).
    for (auto& [k, v] : row.items())
      EXPECT_TRUE(k == "Timestamp" || k == "ts_ns" || k == "TimestampTime" || k == "Body" || k == "LogAttributes" ||
                  k == "ResourceAttributes" || k == "ScopeName" || k == "ScopeVersion" || k == "ScopeAttributes" ||
                  k == "ServiceName" || k == "SeverityText" || k == "SeverityNumber" || k == "TraceId" ||
                  k == "SpanId" || k == "TraceFlags" || k == "ResourceSchemaUrl" || k == "ScopeSchemaUrl" ||
                  k == "EventName")
          << "unchecked column " << k;
    if (row.contains("EventName")) {
      EXPECT_EQ(row["EventName"], "");
    }
    ++next[w.file.string()];
  }
}

TEST_F(PodLogsReceiverTest, StartAtEndSkipsExistingContentOnFirstStartOnly) {
  const auto f = podFile("ns", "p", "abc", "c");
  append(f, cri(nowCri(), "stdout", "F", "old 1") + cri(nowCri(), "stdout", "F", "old 2"));
  auto o = options();
  o.start_at_beginning = false;
  startReceiver(o);
  append(f, cri(nowCri(), "stdout", "F", "new 1"));
  const auto g = podFile("ns", "q", "abd", "c");
  append(g, cri(nowCri(), "stdout", "F", "later file"));  // found after start: from its beginning
  ASSERT_TRUE(waitFor([&] { return count() == 2; }));
  stopReceiver();
  // While kobs is down: nothing written is lost.
  append(f, cri(nowCri(), "stdout", "F", "while down"));
  const auto h = podFile("ns", "r", "abe", "c");
  append(h, cri(nowCri(), "stdout", "F", "file made while down"));
  startReceiver(o);
  ASSERT_TRUE(waitFor([&] { return count() == 4; }));
  EXPECT_EQ(bodies(f), (std::vector<std::string>{"new 1", "while down"}));
  EXPECT_EQ(bodies(g), (std::vector<std::string>{"later file"}));
  EXPECT_EQ(bodies(h), (std::vector<std::string>{"file made while down"}));
}

TEST_F(PodLogsReceiverTest, RenameRotationDrainsTheOldFileAndDeletedFilesAreDrained) {
  startReceiver();
  const auto f = podFile("ns", "p", "abc", "c");
  fs::create_directories(f.parent_path());
  int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  ASSERT_GE(fd, 0);
  auto put = [&](int wfd, const std::string& s) { ASSERT_EQ(::write(wfd, s.data(), s.size()), ssize_t(s.size())); };
  std::vector<std::string> expected;
  for (int i = 0; i < 100; ++i) {
    expected.push_back("line " + std::to_string(1000 + i));
    put(fd, cri(nowCri(), "stdout", "F", expected.back()));
  }
  // Kubelet's rotation (of a file kobs has seen): rename, the runtime writes
  // a little more to the old file, then reopens the path.
  ASSERT_TRUE(waitFor([&] { return count() > 0; }));
  fs::rename(f, f.string() + ".20240501-100000");
  for (int i = 100; i < 150; ++i) {
    expected.push_back("line " + std::to_string(1000 + i));
    put(fd, cri(nowCri(), "stdout", "F", expected.back()));
  }
  ::close(fd);
  for (int i = 150; i < 200; ++i) {
    expected.push_back("line " + std::to_string(1000 + i));
    append(f, cri(nowCri(), "stdout", "F", expected.back()));
  }
  // A file deleted while open, with lines not yet read.
  const auto g = podFile("ns", "gone", "abf", "c");
  fs::create_directories(g.parent_path());
  int gfd = ::open(g.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  put(gfd, cri(nowCri(), "stdout", "F", "first"));
  ASSERT_TRUE(waitFor([&] { return count("Body = 'first'") == 1; }));
  put(gfd, cri(nowCri(), "stdout", "F", "written then deleted"));
  fs::remove(g);
  put(gfd, cri(nowCri(), "stdout", "F", "after delete"));
  ::close(gfd);

  ASSERT_TRUE(waitFor([&] { return count() == 203; })) << count() << " rotations " << receiver_->stats().rotations.load()
                                                      << " f " << bodies(f).size() << " g " << bodies(g).size();
  EXPECT_EQ(bodies(f), expected);  // the old and new file share their path attribute
  EXPECT_EQ(bodies(g), (std::vector<std::string>{"first", "written then deleted", "after delete"}));
  EXPECT_GE(receiver_->stats().rotations.load(), 2u);
  // Drained files are released.
  EXPECT_TRUE(waitFor([&] { return receiver_->stats().files_closed.load() >= 2; }));
}

TEST_F(PodLogsReceiverTest, CopytruncateIsDetectedAndTheFileReadAgainFromZero) {
  startReceiver();
  const auto f = podFile("ns", "p", "abc", "c");
  for (int i = 0; i < 50; ++i) append(f, cri(nowCri(), "stdout", "F", "before " + std::to_string(i)));
  ASSERT_TRUE(waitFor([&] { return count() == 50; }));
  fs::resize_file(f, 0);
  // Rewritten past the old offset before the tailer looks again.
  for (int i = 0; i < 80; ++i) append(f, cri(nowCri(), "stdout", "F", "after " + std::to_string(i)));
  ASSERT_TRUE(waitFor([&] { return count() == 130; })) << count();
  EXPECT_GE(receiver_->stats().truncations.load(), 1u);
  EXPECT_EQ(count("Body LIKE 'after %'"), 80u);
}

// Lines written after the last read and before logrotate's copy are read
// from the copy next to the file. The file is held unread by back-pressure
// (a paused store, a small disk buffer), so the tail is surely unread when
// the truncation comes.
TEST_F(PodLogsReceiverTest, CopytruncateReadsTheUnreadTailFromTheCopy) {
  closePipeline();
  openPipeline(2u << 20);
  pausable_->paused = true;
  const auto f = podFile("ns", "p", "abc", "c");
  const std::string pad(200, 'x');
  for (int i = 0; i < 20000; ++i) append(f, cri(nowCri(), "stdout", "F", "n" + std::to_string(100000 + i) + " " + pad));
  startReceiver();
  ASSERT_TRUE(waitFor([&] { return receiver_->stats().buffer_full_pauses.load() > 0; }));
  // A partial record open across the copy: its end is in the copy too.
  append(f, cri(nowCri(), "stdout", "P", "joined "));
  for (int i = 0; i < 100; ++i) append(f, cri(nowCri(), "stdout", "F", "tail " + std::to_string(i)));
  fs::copy_file(f, f.string() + ".1");  // logrotate's copytruncate: copy, then truncate
  fs::resize_file(f, 0);
  for (int i = 0; i < 30; ++i) append(f, cri(nowCri(), "stdout", "F", "after " + std::to_string(i)));
  pausable_->paused = false;
  ASSERT_TRUE(waitFor([&] { return count() == 20130; }, std::chrono::seconds(60))) << count();
  EXPECT_EQ(count("Body LIKE 'n1%'"), 20000u);
  EXPECT_EQ(count("Body LIKE 'tail %'"), 99u);
  EXPECT_EQ(count("Body = 'joined tail 0'"), 1u);  // the partial piece and tail 0
  EXPECT_EQ(count("Body LIKE 'after %'"), 30u);
  EXPECT_EQ(count("LogAttributes['log.file.path'] = '" + f.string() + "'"), 20130u);  // the copy's rows keep the name
  EXPECT_EQ(receiver_->stats().truncation_copies.load(), 1u);
  // The copy is released once drained.
  EXPECT_TRUE(waitFor([&] { return receiver_->stats().files_closed.load() >= 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a duplicate would land now
  EXPECT_EQ(count(), 20130u);
}

// While kobs is down: the file is truncated after its copy (read from the
// checkpointed offset), another is renamed outside the globs (drained under
// its old name); nothing lost, nothing twice.
TEST_F(PodLogsReceiverTest, CopytruncateAndRenameWhileDownAreReadFromTheCheckpoint) {
  const auto f = podFile("ns", "p", "abc", "c");
  const auto g = podFile("ns", "q", "abd", "c");
  for (int i = 0; i < 100; ++i) {
    append(f, cri(nowCri(), "stdout", "F", "f before " + std::to_string(i)));
    append(g, cri(nowCri(), "stdout", "F", "g before " + std::to_string(i)));
  }
  startReceiver();
  ASSERT_TRUE(waitFor([&] { return count() == 200; }));
  stopReceiver();
  for (int i = 0; i < 50; ++i) {
    append(f, cri(nowCri(), "stdout", "F", "f tail " + std::to_string(i)));
    append(g, cri(nowCri(), "stdout", "F", "g tail " + std::to_string(i)));
  }
  fs::copy_file(f, f.string() + ".20240501-100000");
  fs::resize_file(f, 0);
  fs::rename(g, g.string() + ".20240501-100000");
  for (int i = 0; i < 30; ++i) {
    append(f, cri(nowCri(), "stdout", "F", "f after " + std::to_string(i)));
    append(g, cri(nowCri(), "stdout", "F", "g after " + std::to_string(i)));
  }
  startReceiver();
  ASSERT_TRUE(waitFor([&] { return count() == 360; })) << count();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a duplicate would land now
  EXPECT_EQ(count(), 360u);
  for (const auto& file : {f, g}) {
    auto b = bodies(file);
    EXPECT_EQ(b.size(), 180u) << file;
    EXPECT_EQ(std::set<std::string>(b.begin(), b.end()).size(), 180u) << file;
  }
  EXPECT_EQ(receiver_->stats().truncation_copies.load(), 1u);
}

TEST_F(PodLogsReceiverTest, ResumesFromCheckpointWithoutLossOrDuplicates) {
  const auto f = podFile("ns", "p", "abc", "c");
  std::vector<std::string> expected;
  auto write = [&](int n) {
    for (int i = 0; i < n; ++i) {
      expected.push_back("row " + std::to_string(10000 + expected.size()));
      append(f, cri(nowCri(), "stdout", "F", expected.back()));
    }
  };
  write(500);
  startReceiver();
  ASSERT_TRUE(waitFor([&] { return count() == 500; }));
  ASSERT_TRUE(waitFor([&] { return fs::exists(data_.path() / "pod_logs" / "checkpoint.json"); }));
  stopReceiver();
  write(300);
  startReceiver();
  write(200);
  ASSERT_TRUE(waitFor([&] { return count() == 1000; })) << count();
  EXPECT_EQ(bodies(f), expected);
}

TEST_F(PodLogsReceiverTest, RowsReplayedFromTheDiskBufferAreNotStoredAgain) {
  // Rows reach the disk buffer, the store refuses them, and kobs stops before
  // any commit: the checkpoint has nothing, the buffer has everything.
  const auto f = podFile("ns", "p", "abc", "c");
  std::vector<std::string> expected;
  for (int i = 0; i < 300; ++i) {
    expected.push_back("row " + std::to_string(10000 + i));
    append(f, cri(nowCri(), "stdout", "F", expected.back()));
  }
  pausable_->paused = true;
  startReceiver();
  ASSERT_TRUE(waitFor([&] { return receiver_->stats().records.load() == 300; }));
  stopReceiver();
  pipeline_->flush();
  closePipeline();
  EXPECT_EQ(count(), 0u);
  pausable_->paused = false;
  openPipeline();  // replays the buffer
  startReceiver();  // re-reads the file from offset 0 and finds the replayed rows
  ASSERT_TRUE(waitFor([&] { return count() >= 300 && receiver_->stats().recovered_duplicates.load() == 300; }))
      << count() << " " << receiver_->stats().recovered_duplicates.load();
  for (int i = 0; i < 10; ++i) append(f, cri(nowCri(), "stdout", "F", "after " + std::to_string(i)));
  ASSERT_TRUE(waitFor([&] { return count() == 310; })) << count();
  EXPECT_EQ(count("Body LIKE 'row %'"), 300u);
}

TEST_F(PodLogsReceiverTest, FullBufferPausesTailingAndLosesNothing) {
  closePipeline();
  openPipeline(2u << 20);  // a small disk buffer
  pausable_->paused = true;
  const auto f = podFile("ns", "p", "abc", "c");
  const std::string pad(200, 'x');
  for (int i = 0; i < 20000; ++i) append(f, cri(nowCri(), "stdout", "F", "n" + std::to_string(100000 + i) + " " + pad));
  metrics::Registry registry;
  receiver_ = std::make_unique<PodLogsReceiver>(options(), *pipeline_, *pausable_, &registry);
  receiver_->start();
  ASSERT_TRUE(waitFor([&] { return receiver_->stats().buffer_full_pauses.load() > 0; }));
  EXPECT_LT(receiver_->stats().records.load(), 20000u);
  // The file waits: its lag shows, and the refused records count as retried.
  ASSERT_TRUE(waitFor([&] { return receiver_->maxLagBytes() > 0; }));
  EXPECT_GT(receiver_->stats().records_retried.load(), 0u);
  const std::string text = registry.renderPrometheus();
  EXPECT_NE(text.find("kobs_pod_logs_lag_bytes_max "), std::string::npos) << text;
  EXPECT_NE(text.find("kobs_pod_logs_files_lagging{lag="), std::string::npos) << text;
  EXPECT_NE(text.find("kobs_pod_logs_records_retried_total"), std::string::npos);
  pausable_->paused = false;
  ASSERT_TRUE(waitFor([&] { return count() == 20000; }, std::chrono::seconds(60))) << count();
  EXPECT_EQ(count("Body LIKE 'n1%'"), 20000u);
  EXPECT_TRUE(waitFor([&] { return receiver_->maxLagBytes() == 0; }));
}

TEST_F(PodLogsReceiverTest, GarbageHugeLinesAndPartialsAreCountedAndBounded) {
  auto o = options();
  o.max_log_size = 1u << 20;
  startReceiver(o);
  const auto f = podFile("ns", "p", "abc", "c");
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage.push_back(char((i * 131) % 256 == '\n' ? 'x' : (i * 131) % 256));
  append(f, garbage + "\n" + cri(nowCri(), "stdout", "F", "after garbage"));
  // A 10 MB record as the runtime writes it: 16 KiB partial pieces.
  const std::string piece(16384, 'p');
  std::string big;
  for (int i = 0; i < 640; ++i) big += cri(nowCri(), "stdout", i + 1 < 640 ? "P" : "F", piece);
  append(f, big);
  // A 10 MB raw line with no pieces at all.
  append(f, cri(nowCri(), "stderr", "F", std::string(10u << 20, 'r')));
  append(f, cri(nowCri(), "stdout", "F", "the end"));
  ASSERT_TRUE(waitFor([&] { return count("Body = 'the end'") == 1; }, std::chrono::seconds(60)));
  EXPECT_EQ(count("Body = 'after garbage'"), 1u);
  EXPECT_GE(receiver_->stats().malformed_lines.load(), 1u);
  // 640 × 16 KiB = 10 MiB: ten 1 MiB pieces, all flagged.
  EXPECT_EQ(count("startsWith(Body, 'ppp') AND LogAttributes['kobs.log.split'] = 'true'"), 10u);
  EXPECT_EQ(count("startsWith(Body, 'rrr') AND LogAttributes['kobs.log.split'] = 'true'"), 10u);
  auto total = rows(*store_, std::string("SELECT sum(length(Body)) AS n FROM ") + kDb +
                                 ".otel_logs WHERE startsWith(Body, 'rrr')");
  const auto& n = total[0]["n"];
  EXPECT_EQ(n.is_string() ? std::stoull(n.get<std::string>()) : n.get<uint64_t>(), uint64_t(10u << 20));
  // Memory bounded: two 10 MiB records went through, but what the receiver
  // held for lines at any round's end stayed within a few max_log_size
  // pieces (the read buffer, the unfinished line, the record being joined,
  // the pieces not shipped yet), and the file read to its end gives the
  // grown buffers back.
  std::printf("buffered bytes: most %llu, now %llu\n", (unsigned long long)receiver_->bufferedBytesMax(),
              (unsigned long long)receiver_->bufferedBytes());
  EXPECT_LE(receiver_->bufferedBytesMax(), 4 * o.max_log_size + o.read_chunk);
  EXPECT_TRUE(waitFor([&] { return receiver_->bufferedBytes() <= o.read_chunk + (256u << 10); }))
      << receiver_->bufferedBytes();
}

TEST_F(PodLogsReceiverTest, OldLinesSpanningManyDailyPartitionsAreAllStored) {
  // 120 days of lines in one file: one insert of them all would touch 120
  // partitions, over ClickHouse's limit of 100. (Each partition is a part
  // written by the insert: slow on a loaded machine, hence the long wait.)
  const auto f = podFile("ns", "p", "abc", "c");
  std::string data;
  const auto start = std::chrono::sys_days(std::chrono::year(2025) / 1 / 1);
  for (int d = 0; d < 120; ++d) {
    auto t = std::chrono::system_clock::to_time_t(start + std::chrono::days(d) + std::chrono::hours(12));
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    data += cri(buf, "stdout", "F", "day " + std::to_string(d));
  }
  append(f, data);
  startReceiver();
  ASSERT_TRUE(waitFor([&] { return count() == 120; }, std::chrono::seconds(120))) << count() << " records " << receiver_->stats().records.load() << " committed " << receiver_->recordsCommitted() << " splits " << receiver_->stats().partition_splits.load();
  EXPECT_GE(receiver_->stats().partition_splits.load(), 1u);
  EXPECT_EQ(count("toDate(Timestamp) = '2025-01-01' AND Body = 'day 0'"), 1u);
}

#endif  // !KOBS_POD_LOGS_SLOW

#ifdef KOBS_POD_LOGS_SLOW
// Built into pod_logs_files_test (label slow): making 10,000 directories
// dominates its time, not the receiver.
TEST_F(PodLogsReceiverTest, FiveThousandFilesAreAllReadAndKeepBeingFollowed) {
  constexpr int kFiles = 5000;
  std::vector<fs::path> files;
  for (int i = 0; i < kFiles; ++i) {
    files.push_back(podFile("ns", "pod-" + std::to_string(i), "abc" + std::to_string(i % 10), "c"));
    append(files.back(), cri(nowCri(), "stdout", "F", "hello " + std::to_string(i)));
  }
  startReceiver();
  ASSERT_TRUE(waitFor([&] { return count() == size_t(kFiles); }, std::chrono::seconds(120))) << count();
  EXPECT_EQ(receiver_->filesWatched(), size_t(kFiles));
  // Nothing stuck: a line written to any of them later is read too.
  for (int i = 0; i < kFiles; i += 500) append(files[size_t(i)], cri(nowCri(), "stdout", "F", "again " + std::to_string(i)));
  ASSERT_TRUE(waitFor([&] { return count("Body LIKE 'again %'") == 10; }, std::chrono::seconds(60)));
  EXPECT_EQ(receiver_->lagBytes(), 0u);
  // Memory bounded: per idle file, its head (the fingerprint's bytes) and
  // small line buffers, not a read buffer or a record each.
  std::printf("buffered bytes for %d files: most %llu, now %llu\n", kFiles,
              (unsigned long long)receiver_->bufferedBytesMax(), (unsigned long long)receiver_->bufferedBytes());
  const auto o = options();
  EXPECT_LE(receiver_->bufferedBytes(), o.read_chunk + kFiles * (o.fingerprint_size + 1024));
  EXPECT_LE(receiver_->bufferedBytesMax(), o.read_chunk + kFiles * (o.fingerprint_size + 1024) + 4 * o.max_log_size);
}
#endif  // KOBS_POD_LOGS_SLOW

#ifndef KOBS_POD_LOGS_SLOW

// pod_logs.severity: only the matched containers' rows get a severity.
TEST_F(PodLogsReceiverTest, SeverityFromTheBodyForMatchedContainersOnly) {
  auto o = options();
  o.severity = {"shop/*", "*/nginx"};
  const auto api = podFile("shop", "api-0", "a1", "api");
  const auto web = podFile("edge", "web-0", "b1", "nginx");
  const auto other = podFile("edge", "db-0", "c1", "postgres");
  append(api, cri(nowCri(), "stdout", "F", R"({"level":"error","msg":"boom"})"));
  append(api, cri(nowCri(), "stdout", "F", "ts=1 level=debug msg=x"));
  append(api, cri(nowCri(), "stderr", "F", "WARN: retrying"));
  append(api, cri(nowCri(), "stdout", "F", "no level at all"));
  append(web, cri(nowCri(), "stdout", "F", "[info] GET / 200"));
  append(other, cri(nowCri(), "stdout", "F", "ERROR not matched"));
  startReceiver(o);
  ASSERT_TRUE(waitFor([&] { return count() == 6; })) << count();
  std::map<std::string, std::pair<std::string, int>> got;
  for (auto& r : rows(*store_, std::string("SELECT Body, SeverityText, SeverityNumber FROM ") + kDb + ".otel_logs"))
    got[r["Body"].get<std::string>()] = {r["SeverityText"].get<std::string>(), r["SeverityNumber"].get<int>()};
  const std::map<std::string, std::pair<std::string, int>> expected{
      {R"({"level":"error","msg":"boom"})", {"error", 17}},
      {"ts=1 level=debug msg=x", {"debug", 5}},
      {"WARN: retrying", {"WARN", 13}},
      {"no level at all", {"", 0}},
      {"[info] GET / 200", {"info", 9}},
      {"ERROR not matched", {"", 0}},
  };
  EXPECT_EQ(got, expected);
}

TEST_F(PodLogsReceiverTest, SymlinkedContainerLogsResolveToThePodPath) {
  auto o = options();
  const auto containers = data_.path() / "containers";
  fs::create_directories(containers);
  o.include = {(containers / "*.log").string()};
  const auto f = podFile("ns", "linked", "abc", "c");
  append(f, cri(nowCri(), "stdout", "F", "via link"));
  fs::create_symlink(f, containers / "linked_ns_c-0123.log");
  startReceiver(o);
  ASSERT_TRUE(waitFor([&] { return count() == 1; }));
  auto r = rows(*store_, std::string("SELECT ResourceAttributes['k8s.pod.name'] AS p FROM ") + kDb + ".otel_logs");
  EXPECT_EQ(r[0]["p"], "linked");
  EXPECT_EQ(bodies(f), std::vector<std::string>{"via link"});
}

// pod_logs.exclude_own_pod (default on): the pod named by POD_NAMESPACE and
// POD_NAME (downward API) is not tailed, under any log root (here not
// /var/log/pods), its rotated names included; its neighbours are.
TEST_F(PodLogsReceiverTest, KobsOwnPodIsNotTailedWhateverTheLogRoot) {
  ::setenv("POD_NAMESPACE", "krateo-system", 1);
  ::setenv("POD_NAME", "kobs-agent-x7k2p", 1);
  config::Table table(collectorConfigKeys());  // the collect role's keys, as kobs loads them
  auto v = table.load(std::nullopt, {"pod_logs.include=" + (pods_ / "*/*/*.log*").string()}, {});
  auto o = optionsFromConfig(v, data_.path());
  ::unsetenv("POD_NAMESPACE");
  ::unsetenv("POD_NAME");
  EXPECT_EQ(o.exclude_pod, "krateo-system/kobs-agent-x7k2p");
  o.start_at_beginning = true;
  o.poll_interval = std::chrono::milliseconds(20);
  const auto own = podFile("krateo-system", "kobs-agent-x7k2p", "abc", "kobs");
  append(own, cri(nowCri(), "stdout", "F", "own line"));
  append(own.string() + ".20261201-000000", cri(nowCri(), "stdout", "F", "own rotated line"));
  // Same namespace, a name the own one is a prefix of: tailed.
  const auto other = podFile("krateo-system", "kobs-agent-x7k2p2", "def", "kobs");
  append(other, cri(nowCri(), "stdout", "F", "neighbour line"));
  startReceiver(o);
  ASSERT_TRUE(waitFor([&] { return count("Body = 'neighbour line'") == 1 && receiver_->caughtUp(); }));
  // Excluded files are never opened: only the neighbour's is followed.
  EXPECT_EQ(receiver_->filesWatched(), 1u);
  EXPECT_EQ(count("startsWith(Body, 'own')"), 0u);

  // Off: the own pod is tailed like any other.
  ::setenv("POD_NAMESPACE", "krateo-system", 1);
  ::setenv("POD_NAME", "kobs-agent-x7k2p", 1);
  auto off = optionsFromConfig(table.load(std::nullopt, {"pod_logs.exclude_own_pod=false"}, {}), data_.path());
  ::unsetenv("POD_NAMESPACE");
  ::unsetenv("POD_NAME");
  EXPECT_EQ(off.exclude_pod, "");
}

#endif  // !KOBS_POD_LOGS_SLOW

}  // namespace
}  // namespace kobs::collect::pod_logs
