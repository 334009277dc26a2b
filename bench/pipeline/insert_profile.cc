// Where an embedded insert's time goes, by ClickHouse's own timers.
//
// libchdb.so is stripped (68 dynamic symbols, no .symtab, its debug file is
// not shipped), so perf and callgrind see addresses only. ClickHouse counts
// its own work in ProfileEvents (system.events, process-wide): this bench
// runs K inserts of N rows per table setup with merges stopped (so
// background merges add nothing), and prints per insert the wall time, the
// process CPU time, and the counters that moved: the *Microseconds timers
// (sorting, skip indexes, compression, writes, ...) and the row/byte counts.
//
// Setups (as bench_pipeline's variants): clickstack, exporter, kobs+events
// (ClickStack + the krateo_events view, event rows), kobs+logs (same tables,
// non-event rows), kobs+noidx (kobs+events with
// materialize_skip_indexes_on_insert=0), kobs+64k (kobs+events with
// max_compress_block_size=65536: smaller write buffers per column and index file),
// kobs+compact (kobs+noidx with min_bytes_for_wide_part=1GiB on both tables:
// every inserted part compact, one data file instead of one per column). After
// each setup it prints the part types its inserts wrote.
//
// Usage: bench_insert_profile [rows=10000] [inserts=20] [variants=0,1,2,3,4] [top=25]
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench_records.h"
#include "pipeline/otel_encoders.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

namespace {

using namespace kobs;
using namespace kobs::pipeline;
using kobs::pipeline::bench::makeRecords;

double processCpuS() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

std::map<std::string, double> events(store::IStore& s) {
  auto r = s.query("SELECT event, value FROM system.events", "TabSeparated");
  std::map<std::string, double> out;
  std::istringstream is(r.data);
  for (std::string line; std::getline(is, line);) {
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    out[line.substr(0, tab)] = std::stod(line.substr(tab + 1));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  size_t rows = 10000, inserts = 20, top = 25;
  std::vector<int> variants{0, 1, 2, 3, 4, 5, 6};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.starts_with("--")) continue;
    auto eq = a.find('=');
    std::string k = a.substr(0, eq), v = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (k == "rows") rows = std::stoul(v);
    else if (k == "inserts") inserts = std::stoul(v);
    else if (k == "top") top = std::stoul(v);
    else if (k == "variants") {
      variants.clear();
      std::istringstream is(v);
      for (std::string x; std::getline(is, x, ',');) variants.push_back(std::stoi(x));
    } else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  static const char* kLabels[] = {"clickstack", "exporter", "kobs+events", "kobs+logs",
                                  "kobs+noidx", "kobs+64k",   "kobs+compact"};
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("kobs-insert-profile-{}", getpid());
  std::map<std::string, std::unique_ptr<store::EmbeddedStore>> stores;
  for (int variant : variants) {
    const std::string database = variant == 1   ? "p_exporter"
                                 : variant == 0 ? "p_clickstack"
                                 : variant == 6 ? "p_compact"
                                                : "p_kobs";
    auto& st = stores[database];
    if (!st) {
      store::EmbeddedOptions o;
      o.data_dir = dir.string();
      o.database = database;
      o.reader_connections = 1;
      st = std::make_unique<store::EmbeddedStore>(o);
      store::schema::SchemaOptions so;
      so.database = database;
      so.variant = variant == 1 ? store::schema::Variant::kExporter : store::schema::Variant::kClickStack;
      so.krateo_events = variant >= 2;
      store::schema::SchemaManager::apply(*st, so);
      if (variant == 6)
        for (const char* t : {"otel_logs", "krateo_events"})
          st->execute(fmt::format("ALTER TABLE {}.{} MODIFY SETTING min_bytes_for_wide_part = 1073741824", database, t));
      st->execute("SYSTEM STOP MERGES");
    }
    auto layout = store::schema::describeTable(*st, database, "otel_logs");
    std::vector<ColumnSpec> cols;
    for (const auto& c : layout.insertableColumns()) cols.push_back({c.name, c.type});
    LogEncoder encoder("otel_logs", cols, logBindings());
    std::string body;
    for (const auto& r : makeRecords(rows, variant != 3)) encoder.encode(r, body);
    auto insert = [&](uint64_t n) {
      store::InsertRequest req;
      req.table = "otel_logs";
      req.columns = encoder.columns();
      req.body = body;
      req.rows = rows;
      req.deduplication_token = fmt::format("profile-{}-{}-{}", getpid(), variant, n);
      // Explicit either way: the store's default (store.embedded.skip_indexes_on_insert) is off.
      req.settings.emplace_back("materialize_skip_indexes_on_insert", variant == 4 || variant == 6 ? "0" : "1");
      if (variant == 5) req.settings.emplace_back("max_compress_block_size", "65536");
      st->insert(req);
    };
    insert(1000000);  // warm-up: first-part paths, caches
    const auto before = events(*st);
    const double cpu0 = processCpuS();
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t n = 0; n < inserts; ++n) insert(n);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = processCpuS() - cpu0;
    const auto after = events(*st);
    std::vector<std::pair<double, std::string>> timers, counts;
    for (const auto& [name, v] : after) {
      auto it = before.find(name);
      const double d = v - (it == before.end() ? 0 : it->second);
      if (d <= 0) continue;
      (name.find("Microseconds") != std::string::npos || name.find("Nanoseconds") != std::string::npos ? timers : counts)
          .push_back({d / double(inserts), name});
    }
    std::sort(timers.rbegin(), timers.rend());
    std::sort(counts.rbegin(), counts.rend());
    std::cout << fmt::format(
        "\n== {} ({} rows per insert, {} bytes RowBinary, {} inserts, merges stopped)\n"
        "wall {:.1f} ms/insert ({:.0f} rows/s); process CPU {:.1f} ms/insert ({:.0f} rows per CPU-second)\n",
        kLabels[variant], rows, body.size(), inserts, 1000 * wall / double(inserts), double(rows * inserts) / wall,
        1000 * cpu / double(inserts), double(rows * inserts) / cpu);
    std::cout << "timers per insert (ms; thread-summed, they overlap):\n";
    for (size_t i = 0; i < std::min(top, timers.size()); ++i) {
      const bool ns = timers[i].second.find("Nanoseconds") != std::string::npos;
      std::cout << fmt::format("  {:>10.2f}  {}\n", timers[i].first / (ns ? 1e6 : 1e3), timers[i].second);
    }
    std::cout << "parts written: "
              << st->query(fmt::format("SELECT arrayStringConcat(groupArray(concat(table, ' ', part_type, ' ', "
                                       "toString(c))), ', ') FROM (SELECT table, part_type, count() c FROM "
                                       "system.parts WHERE database = '{}' AND active GROUP BY table, part_type)",
                                       database),
                           "TabSeparated")
                     .data;
    std::cout << "counts per insert:\n";
    for (size_t i = 0; i < std::min(top, counts.size()); ++i)
      std::cout << fmt::format("  {:>12.0f}  {}\n", counts[i].first, counts[i].second);
  }
  stores.clear();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
