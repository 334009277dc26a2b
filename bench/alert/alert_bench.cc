// Alert evaluation cost (prints a table): R rule x G groups over N rows of
// otel_logs in the embedded store, rows spread over the last hour (so a
// 1-minute window holds N/60 rows), ClickStack's layout (ORDER BY
// ServiceName, TimestampTime). Rule i reads one service
// (ServiceName = 'svc-<i % 100>') above a severity, grouped by pod (G pods
// per service), interval 1m, threshold crossed by some groups.
// One cycle evaluates every rule's last window: one query per rule, all
// groups, history rows written, state saved, then the scan of alert_history
// for undelivered decisions that follows every cycle (recent windows only).
// alert_history is first filled with H hours of earlier evaluations (every
// rule and group each minute, 0.1% of them decided and delivered), as a
// running evaluator leaves it, so the scan reads a realistic table.
// Measured: wall time and the process's CPU time (chDB runs in-process, so its
// threads count), per cycle (the scan's share in its own columns), and once
// the week-long scan a replica runs on taking the lease.
// Target (issue 17): <= 10 s of one core per minute, i.e. per cycle.
// Usage: bench_alert [rows=10000000] [rules=1000] [groups=100] [cycles=3] [history_hours=2]
//                    [max_memory_mib=1024, the store's default; 0: chDB's own limits]
//                    [optimize=0; 1: OPTIMIZE ... FINAL both tables before the cycles, so the loaded
//                     rows' merges (skip indexes are built by merges) do not run in the measured cycles]
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include <fmt/format.h>

#include "alert/alert_service.h"
#include "common/logging.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

using namespace kobs;
using Clock = std::chrono::steady_clock;

namespace {

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

uint64_t arg(int argc, char** argv, int i, uint64_t def) { return argc > i ? std::stoull(argv[i]) : def; }

}  // namespace

int main(int argc, char** argv) {
  const uint64_t rows = arg(argc, argv, 1, 10000000), rules = arg(argc, argv, 2, 1000),
                 groups = arg(argc, argv, 3, 100), cycles = arg(argc, argv, 4, 3),
                 history_hours = arg(argc, argv, 5, 2), max_memory_mib = arg(argc, argv, 6, 1024),
                 optimize = arg(argc, argv, 7, 0);
  logging::init({"warn", "text"});
  auto dir = std::filesystem::temp_directory_path() / fmt::format("kobs-bench-alert-{}", ::getpid());
  std::filesystem::create_directories(dir);
  store::EmbeddedOptions eo;
  eo.data_dir = (dir / "store").string();
  eo.database = "bench";
  eo.max_memory = max_memory_mib << 20;
  store::EmbeddedStore store(eo);
  store::schema::SchemaOptions so;
  so.database = "bench";
  so.krateo_events = false;
  store::schema::SchemaManager::apply(store, so);

  // The evaluated minute: an aligned window ending at t_end.
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const int64_t t_end = now_s - now_s % 60;
  auto t0 = Clock::now();
  // Loaded in chunks the engine's default memory budget (store.embedded.max_memory, 1 GiB) takes.
  for (uint64_t done = 0; done < rows;) {
    const uint64_t n = std::min<uint64_t>(500000, rows - done);
    store.execute(fmt::format(
        "INSERT INTO bench.otel_logs (Timestamp, ServiceName, SeverityText, SeverityNumber, Body, ResourceAttributes) "
        "SELECT toDateTime64({0} - (number % 3600) - 1, 9) + toIntervalMillisecond(number % 1000), "
        "concat('svc-', toString(number % 100)), ['INFO','WARN','ERROR','FATAL'][(number % 4) + 1], "
        "toUInt8(((number % 4) * 4) + 9), concat('line ', toString(number)), "
        "map('k8s.pod.name', concat('pod-', toString(intDiv(number, 100) % {1})), 'k8s.namespace.name', "
        "concat('ns-', toString(number % 10))) FROM numbers({2}, {3})",
        t_end, groups, done, n));
    done += n;
  }
  const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();

  std::string yaml = "channels:\n  sink: {type: webhook, url_env: KOBS_BENCH_ALERT_UNSET}\nrules:\n";
  for (uint64_t i = 0; i < rules; ++i)
    yaml += fmt::format(
        "  - {{name: r{0}, source: logs, where: \"ServiceName = 'svc-{1}' AND SeverityNumber >= {2}\", interval: 1m, "
        "threshold: {3}, thresholdType: above, groupBy: [k8s.pod.name]}}\n",
        i, i % 100, 9 + (i % 4) * 4, 20 + i % 40);
  std::ofstream(dir / "rules.yaml") << yaml;

  std::atomic<int64_t> clock_s{t_end};
  alert::AlertOptions o;
  o.rules_path = dir / "rules.yaml";
  o.state_dir = dir / "state";
  o.settle_delay = std::chrono::milliseconds(0);
  o.max_sample_rows = 0;
  o.clock = [&] { return alert::SysClock::time_point(std::chrono::seconds(clock_s.load())); };
  alert::AlertService service(o, store, nullptr);
  service.load();  // creates alert_history

  // Earlier evaluations, minute by minute before the benched windows: OK and
  // not notified, but one in 997 an ALERT decided (2) and marked delivered (1).
  const uint64_t history = rules * groups * history_hours * 60;
  const int64_t h_end = t_end - int64_t(cycles) * 60;
  t0 = Clock::now();
  for (uint64_t done = 0; done < history;) {
    const uint64_t n = std::min<uint64_t>(500000, history - done);
    store.execute(fmt::format(
        "INSERT INTO bench.alert_history (Rule, GroupKey, WindowStart, WindowEnd, Value, State, Notified) "
        "SELECT concat('r', toString(number % {0})), concat('[\"pod-', toString(intDiv(number, {0}) % {1}), '\"]'), "
        "toDateTime({2} - 60 * (intDiv(number, {0} * {1}) + 1)), toDateTime({2} - 60 * intDiv(number, {0} * {1})), "
        "toFloat64(number % 50), if(n != 0, 'ALERT', 'OK'), n "
        "FROM numbers({3}, {4}) ARRAY JOIN if(number % 997 = 0, [2, 1], [0]) AS n",
        rules, groups, h_end, done, n));
    done += n;
  }
  const double history_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (optimize) {
    t0 = Clock::now();
    store.execute("OPTIMIZE TABLE bench.otel_logs FINAL");
    store.execute("OPTIMIZE TABLE bench.alert_history FINAL");
    std::cout << fmt::format("both tables merged to one part before the cycles in {:.1f}s\n",
                             std::chrono::duration<double>(Clock::now() - t0).count());
  }

  std::cout << fmt::format("rows={} rules={} groups/rule={} max_memory={} MiB load={:.1f}s (rows over the last hour: "
                           "{} per 1m window)\n", rows, rules, groups, max_memory_mib, load_s, rows / 60);
  std::cout << fmt::format("alert_history before the first cycle: {} rows ({} h of evaluations), written in {:.1f}s\n",
                           history + (history + 996) / 997, history_hours, history_s);
  std::cout << "| cycle | rule-windows | wall s | CPU s (all threads) | target CPU s/min | scan wall s | scan CPU s |\n"
               "|---|---|---|---|---|---|---|\n";
  for (uint64_t c = 0; c < cycles; ++c) {
    clock_s = t_end - int64_t(cycles - 1 - c) * 60;  // windows ending at t_end - (cycles-1-c) minutes
    if (c == 0) clock_s = t_end - int64_t(cycles - 1) * 60;
    const double cpu0 = cpuSeconds();
    const auto w0 = Clock::now();
    auto r = service.evaluateDue();
    // As the evaluator thread does after each committed cycle: undelivered
    // decisions of the recent windows (the store outbox; those found are this
    // replica's own, already in its outbox).
    const double scan_cpu0 = cpuSeconds();
    const auto scan_w0 = Clock::now();
    service.recoverUndelivered(false, true);
    const double scan_wall = std::chrono::duration<double>(Clock::now() - scan_w0).count();
    const double scan_cpu = cpuSeconds() - scan_cpu0;
    const double wall = std::chrono::duration<double>(Clock::now() - w0).count();
    const double cpu = cpuSeconds() - cpu0;
    std::cout << fmt::format("| {} | {} | {:.2f} | {:.2f} | 10 | {:.3f} | {:.3f} |\n", c + 1, r.windows, wall, cpu,
                             scan_wall, scan_cpu);
    if (r.errors) std::cout << fmt::format("  ({} rules failed)\n", r.errors);
  }
  {
    // The week-long scan a replica runs when it takes the lease (once, not per cycle).
    const double cpu0 = cpuSeconds();
    const auto w0 = Clock::now();
    service.recoverUndelivered(false);
    std::cout << fmt::format("week-long scan on taking the lease (once): wall {:.3f} s, CPU {:.3f} s\n",
                             std::chrono::duration<double>(Clock::now() - w0).count(), cpuSeconds() - cpu0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
