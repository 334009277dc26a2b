// LineParser, Recombiner, path metadata and checkpoint format: golden CRI-O,
// containerd and docker lines (partials, unicode, empty lines, CRLF,
// malformed input).
#include <gtest/gtest.h>

#include <random>

#include "collect/k8s_events/event_mapping.h"
#include "collect/pod_logs/checkpoint.h"
#include "collect/pod_logs/line_parser.h"
#include "collect/pod_logs/pod_path.h"
#include "collect/pod_logs/severity.h"
#include "common/error.h"

namespace kobs::collect::pod_logs {
namespace {

int64_t ns(std::string_view rfc3339) { return k8s_events::parseRfc3339Nanos(rfc3339); }

ParsedLine parseOk(LineParser& p, LogFormat f, std::string_view line) {
  ParsedLine out;
  std::string_view err;
  EXPECT_TRUE(p.parse(f, line, out, err)) << line << ": " << err;
  return out;
}

TEST(PodLogsParser, DetectsFormatFromFirstLine) {
  EXPECT_EQ(detectFormat("{\"log\":\"x\\n\"}"), LogFormat::kDocker);
  EXPECT_EQ(detectFormat("2024-01-01T00:00:00Z stdout F x"), LogFormat::kCri);
  EXPECT_EQ(detectFormat(""), LogFormat::kUnknown);
}

TEST(PodLogsParser, ContainerdLine) {
  LineParser p;
  auto l = parseOk(p, LogFormat::kCri, "2024-03-05T10:11:12.123456789Z stdout F hello world");
  EXPECT_EQ(l.time_ns, ns("2024-03-05T10:11:12Z") + 123456789);
  EXPECT_EQ(l.stream, Stream::kStdout);
  EXPECT_FALSE(l.partial);
  EXPECT_EQ(l.log, "hello world");
  EXPECT_EQ(l.time_text, "2024-03-05T10:11:12.123456789Z");
}

TEST(PodLogsParser, CrioLineWithOffsetAndStderr) {
  LineParser p;
  auto l = parseOk(p, LogFormat::kCri, "2024-03-05T12:11:12.5+02:00 stderr F boom");
  EXPECT_EQ(l.time_ns, ns("2024-03-05T10:11:12Z") + 500000000);
  EXPECT_EQ(l.stream, Stream::kStderr);
  EXPECT_EQ(l.log, "boom");
}

TEST(PodLogsParser, TimeCacheServesNextLinesOfTheSameSecondAndNotOthers) {
  LineParser p;
  auto a = parseOk(p, LogFormat::kCri, "2024-03-05T10:11:12.000000001Z stdout F a");
  auto b = parseOk(p, LogFormat::kCri, "2024-03-05T10:11:12.999999999Z stdout F b");
  auto c = parseOk(p, LogFormat::kCri, "2024-03-05T10:11:13.000000000Z stdout F c");
  auto d = parseOk(p, LogFormat::kCri, "2024-03-05T10:11:13.000000000+01:00 stdout F d");
  EXPECT_EQ(b.time_ns - a.time_ns, 999999998);
  EXPECT_EQ(c.time_ns, ns("2024-03-05T10:11:13Z"));
  EXPECT_EQ(d.time_ns, ns("2024-03-05T09:11:13Z"));
}

TEST(PodLogsParser, PartialTagsEmptyLogsAndCrlf) {
  LineParser p;
  auto partial = parseOk(p, LogFormat::kCri, "2024-03-05T10:11:12Z stdout P part one ");
  EXPECT_TRUE(partial.partial);
  EXPECT_EQ(partial.log, "part one ");
  // An empty log: no space after the tag, or one.
  EXPECT_EQ(parseOk(p, LogFormat::kCri, "2024-03-05T10:11:12Z stdout F").log, "");
  EXPECT_EQ(parseOk(p, LogFormat::kCri, "2024-03-05T10:11:12Z stdout F ").log, "");
  // CRLF: the '\r' of a full line is not content; inside a partial it is.
  EXPECT_EQ(parseOk(p, LogFormat::kCri, "2024-03-05T10:11:12Z stdout F windows\r").log, "windows");
  EXPECT_EQ(parseOk(p, LogFormat::kCri, "2024-03-05T10:11:12Z stdout P mid\r").log, "mid\r");
  // Multi-tag form F:x keeps the first tag.
  EXPECT_FALSE(parseOk(p, LogFormat::kCri, "2024-03-05T10:11:12Z stdout F:x y").partial);
}

TEST(PodLogsParser, UnicodeAndBytesPassThrough) {
  LineParser p;
  auto l = parseOk(p, LogFormat::kCri, "2024-03-05T10:11:12Z stdout F héllo 世界 🚀 \t tab");
  EXPECT_EQ(l.log, "héllo 世界 🚀 \t tab");
}

TEST(PodLogsParser, MalformedCriLinesAreRefusedWithAReason) {
  LineParser p;
  ParsedLine out;
  std::string_view err;
  for (std::string_view bad : {"garbage", "2024-03-05T10:11:12Z stdin F x", "not-a-time stdout F x",
                               "2024-03-05T10:11:12Z stdout X x", "2024-03-05T10:11:12Z stdout ",
                               "2024-13-45T99:11:12Z stdout F x"}) {
    err = {};
    EXPECT_FALSE(p.parseCri(bad, out, err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
  // Random bytes never crash the parser.
  std::mt19937 rng(1);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 200, '\0');
    for (auto& c : junk) c = char(rng());
    p.parseCri(junk, out, err);
    p.parseDocker(junk, out, err);
  }
}

TEST(PodLogsParser, DockerJsonLines) {
  LineParser p;
  auto l = parseOk(p, LogFormat::kDocker,
                   R"({"log":"hello \"q\" \u00e9 \ud83d\ude80 \\ /\n","stream":"stderr","time":"2024-03-05T10:11:12.000000042Z"})");
  EXPECT_EQ(l.log, "hello \"q\" é 🚀 \\ /");
  EXPECT_EQ(l.stream, Stream::kStderr);
  EXPECT_FALSE(l.partial);
  EXPECT_EQ(l.time_ns, ns("2024-03-05T10:11:12Z") + 42);
  // Key order and extra fields (attrs objects) do not matter.
  auto m = parseOk(p, LogFormat::kDocker,
                   R"({"stream":"stdout","attrs":{"a":"}","b":[1,{"c":2}]},"time":"2024-03-05T10:11:12Z","log":"piece"})");
  EXPECT_EQ(m.log, "piece");
  EXPECT_TRUE(m.partial);  // no trailing newline: docker cut a long line
  auto crlf = parseOk(p, LogFormat::kDocker, R"({"log":"win\r\n","stream":"stdout","time":"2024-03-05T10:11:12Z"})");
  EXPECT_EQ(crlf.log, "win");
  auto empty = parseOk(p, LogFormat::kDocker, R"({"log":"\n","stream":"stdout","time":"2024-03-05T10:11:12Z"})");
  EXPECT_EQ(empty.log, "");
  EXPECT_FALSE(empty.partial);
  // Runs of plain bytes between escapes are copied whole, however long.
  const std::string run(300, 'r');
  auto runs = parseOk(p, LogFormat::kDocker,
                      R"({"log":"\t)" + run + R"(\"x\"\\)" + run + R"(\n","stream":"stdout","time":"2024-03-05T10:11:12Z"})");
  EXPECT_EQ(runs.log, "\t" + run + "\"x\"\\" + run);
}

TEST(PodLogsParser, MalformedDockerLines) {
  LineParser p;
  ParsedLine out;
  std::string_view err;
  for (std::string_view bad : {R"({"log":"x\n","stream":"stdout")", R"({"stream":"stdout","time":"2024-03-05T10:11:12Z"})",
                               R"({"log":"x\n","stream":"other","time":"2024-03-05T10:11:12Z"})",
                               R"({"log":"x\n","stream":"stdout","time":"yesterday"})", R"({"log":"\q"})", "{",
                               R"({"log":"a\"bc)", R"({"log":"a\)"}) {
    err = {};
    EXPECT_FALSE(p.parseDocker(bad, out, err)) << bad;
    EXPECT_FALSE(err.empty());
  }
}

std::vector<std::pair<std::string, bool>> recombine(Recombiner& r, const std::vector<std::pair<std::string, bool>>& pieces) {
  std::vector<std::pair<std::string, bool>> out;
  for (const auto& [text, partial] : pieces) {
    ParsedLine l;
    l.log = text;
    l.partial = partial;
    l.time_ns = int64_t(out.size());
    r.add(l, [&](const Recombiner::Record& rec) { out.emplace_back(std::string(rec.body), rec.split); });
  }
  return out;
}

TEST(PodLogsRecombiner, JoinsPartialsUntilFull) {
  Recombiner r(1024);
  auto out = recombine(r, {{"a", false}, {"b1 ", true}, {"b2 ", true}, {"b3", false}, {"", false}});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].first, "a");
  EXPECT_EQ(out[1].first, "b1 b2 b3");
  EXPECT_FALSE(out[1].second);
  EXPECT_EQ(out[2].first, "");
  EXPECT_FALSE(r.pending());
}

TEST(PodLogsRecombiner, SplitsRecordsLongerThanMaxSizeAndFlagsThem) {
  Recombiner r(10);
  auto out = recombine(r, {{"0123456", true}, {"789abcdef", true}, {"XYZ", false}, {"0123456789ABC", false}});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], std::make_pair(std::string("0123456789"), true));
  EXPECT_EQ(out[1], std::make_pair(std::string("abcdefXYZ"), true));
  EXPECT_EQ(out[2], std::make_pair(std::string("0123456789"), true));
  EXPECT_EQ(out[3], std::make_pair(std::string("ABC"), true));
  // Exactly max_size: one record, not split.
  auto exact = recombine(r, {{"01234", true}, {"56789", false}});
  ASSERT_EQ(exact.size(), 1u);
  EXPECT_FALSE(exact[0].second);
}

TEST(PodLogsPath, KubeletLayout) {
  auto p = parsePodPath("/var/log/pods/krateo-system_api-7d9f-abcde_0f1e2d3c-aaaa-bbbb-cccc-1234567890ab/server/3.log");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->ns, "krateo-system");
  EXPECT_EQ(p->pod_name, "api-7d9f-abcde");
  EXPECT_EQ(p->pod_uid, "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab");
  EXPECT_EQ(p->container_name, "server");
  EXPECT_EQ(p->restart_count, "3");
  EXPECT_FALSE(parsePodPath("/var/log/pods/ns_pod_UID/c/0.log"));
  EXPECT_FALSE(parsePodPath("/var/log/pods/ns_pod_ab12/c/0.log.20240101"));
  EXPECT_FALSE(parsePodPath("/var/log/pods/ns_pod_ab12/c.x/0.log"));
  EXPECT_FALSE(parsePodPath("/tmp/x.log"));
}

TEST(PodLogsCheckpoint, RoundTripsAndRejectsOtherVersions) {
  CheckpointFile c;
  c.files.push_back({"/var/log/pods/a_b_c1/d/0.log", 2049, 12345, 1024, 0xFEDCBA9876543210ull, 777, 1700000000123456789});
  auto back = checkpointFromJson(checkpointToJson(c));
  ASSERT_EQ(back.files.size(), 1u);
  EXPECT_EQ(back.files[0].path, c.files[0].path);
  EXPECT_EQ(back.files[0].fp, c.files[0].fp);
  EXPECT_EQ(back.files[0].offset, 777u);
  EXPECT_EQ(back.files[0].last_time_ns, 1700000000123456789);
  EXPECT_EQ(back.files[0].seen_ns, 0);
  c.files[0].seen_ns = 1700000000000000007;
  EXPECT_EQ(checkpointFromJson(checkpointToJson(c)).files[0].seen_ns, 1700000000000000007);
  // A file written before seen_ns existed reads with seen_ns 0.
  auto old = checkpointFromJson(
      R"({"version":1,"files":[{"path":"/p/0.log","dev":1,"ino":2,"fp_len":3,"fp":4,"offset":5,"last_time_ns":6}]})");
  ASSERT_EQ(old.files.size(), 1u);
  EXPECT_EQ(old.files[0].offset, 5u);
  EXPECT_EQ(old.files[0].seen_ns, 0);
  EXPECT_THROW(checkpointFromJson(R"({"version":2,"files":[]})"), Exception);
  EXPECT_THROW(checkpointFromJson("{"), Exception);
}


TEST(PodLogsSeverity, JsonLogfmtAndLeadingWordsMapToOtelNumbers) {
  struct Case {
    std::string_view body;
    uint8_t number;
    std::string_view text;
  };
  const Case cases[] = {
      {R"({"ts":1,"level":"error","msg":"boom"})", 17, "error"},
      {R"({"severity": "WARNING", "message": "disk"})", 13, "WARNING"},
      {R"({"msg":"no level here"})", 0, ""},
      {"ts=2026-11-30T10:00:00Z level=info msg=\"GET /\"", 9, "info"},
      {"time=1 lvl=debug msg=x", 5, "debug"},
      {R"(level="warn" msg=quoted)", 13, "warn"},
      {"ERROR failed to connect", 17, "ERROR"},
      {"  WARN: retrying", 13, "WARN"},
      {"[info] started", 9, "info"},
      {"<fatal> out of memory", 21, "fatal"},
      {"TRACE", 1, "TRACE"},
      {"Informational note", 0, ""},  // a word that merely starts like one
      {"INFO1 not a level", 0, ""},
      {"errors: 3 in total", 0, ""},
      {"sublevel=error is not a field", 0, ""},
      {"plain line", 0, ""},
      {"", 0, ""},
  };
  for (const auto& c : cases) {
    auto s = detectSeverity(c.body);
    if (c.number == 0) {
      EXPECT_FALSE(s.has_value()) << c.body;
      continue;
    }
    ASSERT_TRUE(s.has_value()) << c.body;
    EXPECT_EQ(s->number, c.number) << c.body;
    EXPECT_EQ(s->text, c.text) << c.body;
  }
  EXPECT_EQ(severityNumber("Critical"), 18);
  EXPECT_EQ(severityNumber("panic"), 21);
  EXPECT_EQ(severityNumber("verbose"), 0);
}

}  // namespace
}  // namespace kobs::collect::pod_logs
