// Pod logs on one core (the whole process pinned to one CPU; on a shared
// machine compare lines per CPU-second, wall time includes waiting):
//   1. parse only: 150-byte containerd lines split at '\n', parsed
//      (LineParser) and recombined (Recombiner), as the tailer does per
//      chunk. Target >= 2M lines/s.
//   2. end to end: a CRI log file under a temporary /var/log/pods tree →
//      PodLogsReceiver → pipeline (encode, disk buffer) → embedded store
//      (chDB), timed until every row is committed. Target >= 300k lines/s.
//      Reports CPU seconds of the process, and by thread name (the store's
//      merges and inserts run on threads of their own), and RSS (the embedded store's
//      engine is in that RSS; the collect role with store.kind=clickhouse
//      does not map it).
//   3. (--idle=N) CPU over N idle files. Target <= 1% of a core at 5,000.
//   4. (--multiline=N) multi-line records: N 150-byte containerd lines of a
//      Java service (a dated first line, then "\tat ..." frames; 10 lines a
//      record) parsed and recombined as in 1, with no rule (a container
//      without one) and through a pod_logs.multiline rule (is_first_entry
//      RE2 '^\d{4}-\d{2}-\d{2} '): lines/s of each and the ratio; then the
//      regex alone over the same bodies, RE2 and std::regex (ECMAScript), to
//      show why the rule uses RE2.
//   5. (--e2e-multiline=N) end to end as 2 on N Java lines, without and
//      with the rule: lines/s and lines per CPU-second of each.
//   6. (--parse-libs=N) the hand parser against libraries on the same
//      lines, one core: CRI lines split by RE2 (one FullMatch with four
//      captures) and docker json-file lines read by simdjson (On Demand,
//      no copy of the line), each with the same timestamp code, so only the
//      splitting and unescaping differ. Why the parser is hand-written.
//   bench_pod_logs [--parse=N] [--e2e=N] [--idle=N] [--multiline=N] [--e2e-multiline=N] [--parse-libs=N]
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <unistd.h>
#include <string>
#include <thread>
#include <vector>

#include <re2/re2.h>
#include <simdjson.h>

#include "collect/pod_logs/line_parser.h"
#include "collect/pod_logs/multiline.h"
#include "collect/pod_logs/pod_logs_receiver.h"
#include "common/logging.h"
#include "pipeline/pipeline.h"
#include "pipeline/targets.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

using namespace kobs;
using namespace kobs::collect::pod_logs;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double rssMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// CPU seconds of this process's threads still named after the program
// (kobs's own: main, receiver, flusher, sender), leaving out the embedded
// store's named threads.
double ownThreadsCpuSeconds() {
  double total = 0;
  const std::string self = fs::read_symlink("/proc/self/exe").filename().string().substr(0, 15);
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name != self) continue;
    std::ifstream stat(task.path() / "stat");
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stoull(field);
      if (i == 15) stime = std::stoull(field);
    }
    total += double(utime + stime) / double(sysconf(_SC_CLK_TCK));
  }
  return total;
}

// CPU seconds of each thread of this process, by "<tid> <name>".
std::map<std::string, double> threadCpuSeconds() {
  std::map<std::string, double> out;
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    std::ifstream stat(task.path() / "stat");
    std::string line;
    std::getline(stat, line);
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    unsigned long long t = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i)
      if (i >= 14) t += std::stoull(field);
    out[task.path().filename().string() + " " + name] = double(t) / double(sysconf(_SC_CLK_TCK));
  }
  return out;
}

// Where a run's CPU went, by thread name (threads that ended meanwhile are
// in the process total only): kobs's threads keep the program's name, so
// each is shown by its tid (in creation order: main, the pipeline's, the
// receiver's); the embedded store's threads have names of their own.
void printCpuByThreadName(const std::map<std::string, double>& before, double process_cpu) {
  const std::string self = fs::read_symlink("/proc/self/exe").filename().string().substr(0, 15);
  std::map<std::string, double> by_name;
  for (const auto& [k, v] : threadCpuSeconds()) {
    auto it = before.find(k);
    const std::string tid = k.substr(0, k.find(' ')), name = k.substr(k.find(' ') + 1);
    by_name[name == self ? name + "[" + tid + "]" : name] += v - (it == before.end() ? 0 : it->second);
  }
  std::vector<std::pair<double, std::string>> rows;
  double named = 0;
  for (const auto& [name, cpu] : by_name) {
    named += cpu;
    if (cpu >= 0.01) rows.emplace_back(cpu, name);
  }
  std::sort(rows.rbegin(), rows.rend());
  std::printf("CPU by thread name (threads alive at the end; %.2f of %.2f CPU s):", named, process_cpu);
  for (const auto& [cpu, name] : rows) std::printf(" %s %.2f;", name.c_str(), cpu);
  std::printf("\n");
}

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// n containerd lines of 150 bytes, 10 µs apart, every 20th one split in two
// partial pieces (as runtimes do for long lines).
std::string makeLines(long n) {
  std::string out;
  out.reserve(size_t(n) * 151);
  const std::string filler =
      "level=info msg=\"GET /api/v1/compositions/fireworks-demo 200\" duration_ms=12 user=cyberjoker trace=4bf92f3577b34da6";
  for (long i = 0; i < n; ++i) {
    long us = i * 10;
    long secs = us / 1000000;
    char ts[48];
    std::snprintf(ts, sizeof ts, "2026-03-05T10:%02ld:%02ld.%06ld000Z", (secs / 60) % 60, secs % 60, us % 1000000);
    std::string head = std::string(ts) + " stdout ";
    std::string body = filler + " i=" + std::to_string(i);
    const size_t want = 150 - head.size() - 2 - 1;  // tag, space, newline
    body.resize(want, '.');
    if (i % 20 == 19) {
      out += head + "P " + body.substr(0, want / 2) + "\n";
      out += head + "F " + body.substr(want / 2) + "\n";
    } else {
      out += head + "F " + body + "\n";
    }
  }
  return out;
}

// Keeps `v` alive as far as the optimiser knows (as benchmark::DoNotOptimize):
// the parse results feed a checksum that goes through it, so no part of the
// parsing can be dropped as unused.
template <typename T>
inline void keep(T const& v) {
  asm volatile("" : : "r,m"(v) : "memory");
}

void parseOnly(long n) {
  const std::string data = makeLines(n);
  size_t records = 0, bytes = 0, lines = 0;
  uint64_t checksum = 0;
  auto run = [&] {
    // A fresh parser each run: its per-second time cache starts cold.
    LineParser parser;
    Recombiner recombiner(1u << 20);
    std::string_view rest = data;
    while (!rest.empty()) {
      const char* nl = static_cast<const char*>(std::memchr(rest.data(), '\n', rest.size()));
      std::string_view line(rest.data(), size_t(nl - rest.data()));
      rest.remove_prefix(line.size() + 1);
      ParsedLine p;
      std::string_view err;
      if (!parser.parseCri(line, p, err)) std::abort();
      ++lines;
      recombiner.add(p, [&](const Recombiner::Record& r) {
        ++records;
        bytes += r.body.size();
        // Every field of the record goes into the checksum: time, stream,
        // the body's length and its first and last bytes.
        checksum = checksum * 31 + uint64_t(r.time_ns) + uint64_t(r.stream) + r.body.size() +
                   (r.body.empty() ? 0 : uint8_t(r.body.front()) * 7 + uint8_t(r.body.back()));
        keep(checksum);
      });
    }
  };
  run();  // warm
  std::vector<double> secs;
  for (int rep = 0; rep < 5; ++rep) {
    records = bytes = lines = 0;
    checksum = 0;
    auto t0 = Clock::now();
    run();
    secs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(secs.begin(), secs.end());
  const double median = secs[secs.size() / 2];
  std::printf("%-28s %12s %12s %10s %10s\n", "parse only (1 core)", "lines/s", "MB/s", "wall s", "target");
  std::printf("%-28s %12.0f %12.1f %10.3f %10s\n", (std::to_string(lines) + " CRI lines").c_str(),
              double(lines) / median, double(data.size()) / median / 1e6, median, ">= 2M");
  std::printf("median of 5 runs (best %.0f lines/s); records %zu (partials joined), body bytes %zu, checksum %016llx\n\n",
              double(lines) / secs.front(), records, bytes, static_cast<unsigned long long>(checksum));
  std::fflush(stdout);
}

// The same lines as makeLines, as docker's json-file driver writes them
// (no partial pieces: docker splits at 16 KiB only).
std::string makeDockerLines(long n) {
  std::string out;
  out.reserve(size_t(n) * 200);
  const std::string filler =
      "level=info msg=\\\"GET /api/v1/compositions/fireworks-demo 200\\\" duration_ms=12 user=cyberjoker trace=4bf92f3577b34da6";
  for (long i = 0; i < n; ++i) {
    long us = i * 10;
    long secs = us / 1000000;
    char ts[48];
    std::snprintf(ts, sizeof ts, "2026-03-05T10:%02ld:%02ld.%06ld000Z", (secs / 60) % 60, secs % 60, us % 1000000);
    std::string body = filler + " i=" + std::to_string(i);
    body.resize(110, '.');
    out += "{\"log\":\"" + body + "\\n\",\"stream\":\"stdout\",\"time\":\"" + ts + "\"}\n";
  }
  return out;
}

// Lines/s of `parse_line` over every line of `data` (median of 5 after a
// warm-up); `parse_line` returns a value folded into a kept checksum.
template <typename F>
double linesPerSecond(const std::string& data, F&& parse_line) {
  uint64_t checksum = 0;
  size_t lines = 0;
  auto run = [&] {
    lines = 0;
    std::string_view rest = data;
    while (!rest.empty()) {
      const char* nl = static_cast<const char*>(std::memchr(rest.data(), '\n', rest.size()));
      std::string_view line(rest.data(), size_t(nl - rest.data()));
      rest.remove_prefix(line.size() + 1);
      checksum = checksum * 31 + parse_line(line);
      ++lines;
    }
    keep(checksum);
  };
  run();
  std::vector<double> secs;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = Clock::now();
    run();
    secs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(secs.begin(), secs.end());
  return double(lines) / secs[secs.size() / 2];
}

void parseLibraries(long n) {
  const std::string cri = makeLines(n);
  // Padding after the last line: simdjson reads up to SIMDJSON_PADDING bytes past a document.
  std::string docker = makeDockerLines(n);
  const size_t docker_size = docker.size();
  docker.append(simdjson::SIMDJSON_PADDING, ' ');
  const std::string docker_lines = docker.substr(0, docker_size);
  auto fold = [](const ParsedLine& p) {
    return uint64_t(p.time_ns) + uint64_t(p.stream) + p.log.size() + (p.log.empty() ? 0 : uint8_t(p.log.back()));
  };

  LineParser hand;
  const double cri_hand = linesPerSecond(cri, [&](std::string_view line) {
    ParsedLine p;
    std::string_view err;
    if (!hand.parseCri(line, p, err)) std::abort();
    return fold(p);
  });
  const RE2 cri_re(R"((\S+) (stdout|stderr) ([PF]) (.*))");
  TimeParser re_time;
  const double cri_re2 = linesPerSecond(cri, [&](std::string_view line) {
    re2::StringPiece t, stream, tag, log;
    if (!RE2::FullMatch(re2::StringPiece(line.data(), line.size()), cri_re, &t, &stream, &tag, &log)) std::abort();
    ParsedLine p;
    if (!re_time.parse(std::string_view(t.data(), t.size()), p.time_ns)) std::abort();
    p.stream = stream.size() == 6 ? Stream::kStdout : Stream::kStderr;
    p.partial = tag[0] == 'P';
    p.log = std::string_view(log.data(), log.size());
    return fold(p);
  });

  LineParser hand_docker;
  const double docker_hand = linesPerSecond(docker_lines, [&](std::string_view line) {
    ParsedLine p;
    std::string_view err;
    if (!hand_docker.parseDocker(line, p, err)) std::abort();
    return fold(p);
  });
  simdjson::ondemand::parser json;
  TimeParser json_time;
  const char* base = docker.data();
  const double docker_simdjson = linesPerSecond(docker_lines, [&](std::string_view line) {
    // The line inside the padded buffer: no copy.
    auto doc = json.iterate(line.data(), line.size(), docker.size() - size_t(line.data() - base));
    ParsedLine p;
    std::string_view log, stream, time;
    for (auto field : doc.get_object()) {
      std::string_view key = field.unescaped_key().value();
      if (key == "log") log = field.value().get_string().value();
      else if (key == "stream") stream = field.value().get_string().value();
      else if (key == "time") time = field.value().get_string().value();
    }
    if (!json_time.parse(time, p.time_ns)) std::abort();
    p.stream = stream == "stderr" ? Stream::kStderr : Stream::kStdout;
    p.partial = log.empty() || log.back() != '\n';
    if (!p.partial) log.remove_suffix(1);
    p.log = log;
    return fold(p);
  });
  std::printf("%-40s %12s %10s\n", "hand parser vs libraries (1 core)", "lines/s", "hand / lib");
  std::printf("%-40s %12.0f\n", "CRI, hand (LineParser::parseCri)", cri_hand);
  std::printf("%-40s %12.0f %10.1f\n", "CRI, RE2 FullMatch + same time code", cri_re2, cri_hand / cri_re2);
  std::printf("%-40s %12.0f\n", "docker, hand (LineParser::parseDocker)", docker_hand);
  std::printf("%-40s %12.0f %10.1f\n", "docker, simdjson On Demand + same time", docker_simdjson, docker_hand / docker_simdjson);
  std::printf("(%ld lines each, median of 5 runs)\n\n", n);
  std::fflush(stdout);
}

// n containerd lines of 150 bytes of a Java service: records of 10 lines,
// a dated first line then stack frames.
std::string makeJavaLines(long n) {
  std::string out;
  out.reserve(size_t(n) * 151);
  for (long i = 0; i < n; ++i) {
    long us = i * 10;
    long secs = us / 1000000;
    char ts[48];
    std::snprintf(ts, sizeof ts, "2026-03-05T10:%02ld:%02ld.%06ld000Z", (secs / 60) % 60, secs % 60, us % 1000000);
    std::string head = std::string(ts) + " stdout F ";
    std::string body;
    if (i % 10 == 0) {
      char when[32];
      std::snprintf(when, sizeof when, "2026-03-05 10:%02ld:%02ld.%03ld", (secs / 60) % 60, secs % 60, (us / 1000) % 1000);
      body = std::string(when) + " ERROR [http-nio-8080-exec-7] c.s.OrderController - order " + std::to_string(i) +
             " failed: java.lang.IllegalStateException";
    } else {
      body = "\tat com.shop.orders.OrderService.lookup(OrderService.java:" + std::to_string(80 + i % 10) + ")";
    }
    body.resize(150 - head.size() - 1, ' ');
    out += head + body + "\n";
  }
  return out;
}

// Parse + recombine as parseOnly, then (with a rule) the multi-line combiner.
void multiline(long n) {
  const std::string data = makeJavaLines(n);
  MultilineRule rule;
  rule.is_first_entry = R"(^\d{4}-\d{2}-\d{2} )";
  const auto compiled = std::make_shared<const CompiledRule>(rule, 1u << 20);
  size_t records = 0;
  uint64_t checksum = 0;
  auto run = [&](bool with_rule) {
    LineParser parser;
    Recombiner recombiner(1u << 20);
    MultilineCombiner combiner(compiled);
    const auto now = MultilineCombiner::Clock::now();
    uint64_t offset = 0;
    auto sink = [&](const Recombiner::Record& r) {
      ++records;
      checksum = checksum * 31 + uint64_t(r.time_ns) + r.body.size() +
                 (r.body.empty() ? 0 : uint8_t(r.body.front()) * 7 + uint8_t(r.body.back()));
      keep(checksum);
    };
    std::string_view rest = data;
    while (!rest.empty()) {
      const char* nl = static_cast<const char*>(std::memchr(rest.data(), '\n', rest.size()));
      std::string_view line(rest.data(), size_t(nl - rest.data()));
      rest.remove_prefix(line.size() + 1);
      const uint64_t start = offset;
      offset += line.size() + 1;
      ParsedLine p;
      std::string_view err;
      if (!parser.parseCri(line, p, err)) std::abort();
      recombiner.add(p, [&](const Recombiner::Record& r) {
        if (!with_rule) return sink(r);
        combiner.add(MultilineCombiner::Line{r.body, r.time_ns, r.time_text, r.stream, r.split, start, offset}, now, sink);
      });
    }
    if (with_rule) combiner.flushAll(sink);
  };
  auto measure = [&](bool with_rule, size_t& out_records) {
    run(with_rule);  // warm
    std::vector<double> secs;
    for (int rep = 0; rep < 5; ++rep) {
      records = 0;
      auto t0 = Clock::now();
      run(with_rule);
      secs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    out_records = records;
    std::sort(secs.begin(), secs.end());
    return double(n) / secs[secs.size() / 2];
  };
  size_t records_off = 0, records_on = 0;
  const double off = measure(false, records_off);
  const double on = measure(true, records_on);
  std::printf("%-34s %12s %12s %10s\n", "multiline (1 core, parse+join)", "lines/s", "MB/s", "records");
  std::printf("%-34s %12.0f %12.1f %10zu\n", "no rule", off, off * 151 / 1e6, records_off);
  std::printf("%-34s %12.0f %12.1f %10zu\n", "is_first_entry rule (RE2)", on, on * 151 / 1e6, records_on);
  std::printf("rule on / off: %.2f (%ld Java lines, 10 a record; median of 5 runs each); checksum %016llx\n", on / off, n,
              static_cast<unsigned long long>(checksum));
  // The regex alone, over the bodies (what the rule adds per line).
  std::vector<std::string> bodies;
  {
    LineParser parser;
    std::string_view rest = data;
    while (!rest.empty()) {
      const char* nl = static_cast<const char*>(std::memchr(rest.data(), '\n', rest.size()));
      std::string_view line(rest.data(), size_t(nl - rest.data()));
      rest.remove_prefix(line.size() + 1);
      ParsedLine p;
      std::string_view err;
      if (!parser.parseCri(line, p, err)) std::abort();
      bodies.emplace_back(p.log);
    }
  }
  const std::regex std_re(rule.is_first_entry, std::regex::ECMAScript | std::regex::optimize);
  auto matchRate = [&](auto&& match) {
    std::vector<double> secs;
    size_t hits = 0;
    for (int rep = 0; rep < 3; ++rep) {
      hits = 0;
      auto t0 = Clock::now();
      for (const auto& b : bodies) hits += match(b) ? 1 : 0;
      keep(hits);
      secs.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    std::sort(secs.begin(), secs.end());
    return std::pair{double(bodies.size()) / secs[1], hits};
  };
  auto [re2_rate, re2_hits] = matchRate([&](const std::string& b) { return compiled->matches(b); });
  auto [std_rate, std_hits] = matchRate([&](const std::string& b) { return std::regex_search(b, std_re); });
  std::printf("%-34s %12s %10s\n", "regex alone (1 core)", "lines/s", "matches");
  std::printf("%-34s %12.0f %10zu\n", "RE2 PartialMatch", re2_rate, re2_hits);
  std::printf("%-34s %12.0f %10zu\n", "std::regex_search", std_rate, std_hits);
  std::printf("RE2 / std::regex: %.1f\n\n", re2_rate / std_rate);
  std::fflush(stdout);
}

// `java`: Java lines (makeJavaLines) instead, with a pod_logs.multiline
// rule when `rule`; a last first line ends the last record, and only the
// records before it are waited for.
void endToEnd(long n, bool java = false, bool rule = false) {
  const fs::path dir = fs::temp_directory_path() / ("kobs-bench-pod-logs-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const fs::path file = dir / "pods" / "bench_web-0_0123abcd" / "app" / "0.log";
  fs::create_directories(file.parent_path());
  {
    std::ofstream out(file, std::ios::binary);
    const std::string data = java ? makeJavaLines(n) : makeLines(n);
    out << data;
    if (java) out << makeJavaLines(1);  // a first line: ends the last record
  }
  // Pieces of each split line join into one record; with the rule, 10 lines.
  const long records = rule ? n / 10 : n;
  store::EmbeddedOptions so;
  so.data_dir = (dir / "store").string();
  so.database = "bench";
  store::EmbeddedStore store(so);
  store::schema::SchemaOptions schema_options;
  schema_options.database = "bench";
  auto schema = store::schema::SchemaManager::apply(store, schema_options);
  const auto targets = pipeline::targetsFromSchema(schema);
  pipeline::PipelineOptions po;
  po.buffer.dir = dir / "buffer";
  po.buffer.fsync = pipeline::FsyncPolicy::kAlways;  // the default
  pipeline::Pipeline pipe(store, targets, po);
  pipe.start();
  const double rss_before = rssMiB();
  PodLogsOptions ro;
  ro.state_dir = dir / "pod_logs";
  ro.include = {(dir / "pods" / "*/*/*.log").string()};
  ro.start_at_beginning = true;
  if (rule) {
    MultilineRule r;
    r.is_first_entry = R"(^\d{4}-\d{2}-\d{2} )";
    ro.multiline.push_back(r);
  }
  PodLogsReceiver receiver(ro, pipe, store, nullptr);
  const auto threads0 = threadCpuSeconds();
  const double c0 = cpuSeconds();
  auto t0 = Clock::now();
  receiver.start();
  double peak = 0;
  while (receiver.recordsCommitted() < uint64_t(records)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    peak = std::max(peak, rssMiB());
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = cpuSeconds() - c0;
  std::printf("%-28s %12s %12s %10s %10s %10s\n", "end to end (1 core)", "lines/s", "lines/CPU-s", "CPU s", "RSS MiB",
              "target");
  const std::string label = !java ? std::to_string(n) + " lines -> chDB"
                            : std::to_string(n) + (rule ? " Java lines, rule" : " Java lines, no rule");
  // Lines (not records) per second: with the rule, 10 lines make a record.
  std::printf("%-28s %12.0f %12.0f %10.2f %10.1f %10s\n", label.c_str(), double(n) / secs, double(n) / cpu, cpu, peak,
              java ? "" : ">= 300k");
  std::printf("RSS before the receiver started (store + pipeline): %.1f MiB; receiver's share at peak: %.1f MiB\n",
              rss_before, peak - rss_before);
  printCpuByThreadName(threads0, cpu);
  receiver.shutdown(Clock::now() + std::chrono::seconds(5));
  pipe.shutdown(Clock::now() + std::chrono::seconds(10));
  auto rows = store.query("SELECT count() FROM bench.otel_logs", "TabSeparated");
  std::printf("rows in otel_logs: %s\n", rows.data.c_str());
  std::fflush(stdout);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// CPU of the receiver over `n` idle files (read once, then nothing written):
// inotify plus the periodic scan (default 60 s; the 65 s window holds one).
// Target <= 1% of a core.
void idleFiles(long n) {
  const fs::path dir = fs::temp_directory_path() / ("kobs-bench-pod-idle-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(dir, ec);
  for (long i = 0; i < n; ++i) {
    auto f = dir / "pods" / ("ns_pod-" + std::to_string(i) + "_0a0b") / "app" / "0.log";
    fs::create_directories(f.parent_path());
    std::ofstream(f) << "2026-03-05T10:00:00.000000001Z stdout F hello\n";
  }
  store::EmbeddedOptions so;
  so.data_dir = (dir / "store").string();
  so.database = "bench";
  store::EmbeddedStore store(so);
  store::schema::SchemaOptions schema_options;
  schema_options.database = "bench";
  auto schema = store::schema::SchemaManager::apply(store, schema_options);
  const auto targets = pipeline::targetsFromSchema(schema);
  pipeline::PipelineOptions po;
  po.buffer.dir = dir / "buffer";
  pipeline::Pipeline pipe(store, targets, po);
  pipe.start();
  PodLogsOptions ro;
  ro.state_dir = dir / "pod_logs";
  ro.include = {(dir / "pods" / "*/*/*.log").string()};
  ro.start_at_beginning = true;
  PodLogsReceiver receiver(ro, pipe, store, nullptr);
  receiver.start();
  while (receiver.recordsCommitted() < uint64_t(n)) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::seconds(2));  // merges after the inserts settle
  const auto threads0 = threadCpuSeconds();
  const uint64_t scans0 = receiver.stats().scans.load();
  const double c0 = cpuSeconds(), o0 = ownThreadsCpuSeconds();
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(65));
  const double cpu = cpuSeconds() - c0, own = ownThreadsCpuSeconds() - o0;
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("full scans in the window: %llu\n", static_cast<unsigned long long>(receiver.stats().scans.load() - scans0));
  std::printf("%-28s %12s %14s %16s %10s\n", "idle files", "files", "kobs % core", "process % core", "target");
  std::printf("%-28s %12ld %14.2f %16.2f %10s\n", "65 s, nothing written", long(receiver.filesWatched()),
              100.0 * own / secs, 100.0 * cpu / secs, "<= 1%");
  std::printf("(kobs: receiver, flusher, sender threads; process: plus the embedded store's background threads)\n");
  for (const auto& [k, v] : threadCpuSeconds()) {
    auto it = threads0.find(k);
    const double d = v - (it == threads0.end() ? 0 : it->second);
    if (d >= 0.05) std::printf("  thread %-30s %6.2f CPU s\n", k.c_str(), d);
  }
  std::fflush(stdout);
  receiver.shutdown(Clock::now() + std::chrono::seconds(5));
  pipe.shutdown(Clock::now() + std::chrono::seconds(10));
  fs::remove_all(dir, ec);
}

}  // namespace

int main(int argc, char** argv) {
  long parse_n = 2000000, e2e_n = 500000, idle_n = 0, multiline_n = 1000000, e2e_multiline_n = 0, parse_libs_n = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--parse=", 8) == 0) parse_n = std::atol(argv[i] + 8);
    if (std::strncmp(argv[i], "--e2e=", 6) == 0) e2e_n = std::atol(argv[i] + 6);
    if (std::strncmp(argv[i], "--idle=", 7) == 0) idle_n = std::atol(argv[i] + 7);
    if (std::strncmp(argv[i], "--multiline=", 12) == 0) multiline_n = std::atol(argv[i] + 12);
    if (std::strncmp(argv[i], "--e2e-multiline=", 16) == 0) e2e_multiline_n = std::atol(argv[i] + 16);
    if (std::strncmp(argv[i], "--parse-libs=", 13) == 0) parse_libs_n = std::atol(argv[i] + 13);
  }
  logging::init({"warn", "text"});
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  sched_setaffinity(0, sizeof set, &set);  // threads started after this inherit it: one core for all
  if (parse_n > 0) parseOnly(parse_n);
  if (parse_libs_n > 0) parseLibraries(parse_libs_n);
  if (e2e_n > 0) endToEnd(e2e_n);
  if (idle_n > 0) idleFiles(idle_n);
  if (multiline_n > 0) multiline(multiline_n);
  if (e2e_multiline_n > 0) {
    endToEnd(e2e_multiline_n, /*java=*/true, /*rule=*/false);
    endToEnd(e2e_multiline_n, /*java=*/true, /*rule=*/true);
  }
  return 0;
}
