// Child process for multiline_test.cc's kill -9 case: the pod logs receiver
// with one multi-line rule (is_first_entry '^START', flush_timeout given),
// the real pipeline and the embedded store on <data_dir>. The parent SIGKILLs it.
//   multiline_child run <data_dir> <glob> <flush_timeout_ms>
//       runs until killed, printing "lines <n>" whenever the receiver's
//       count of lines read changes
//   multiline_child dump <data_dir> <glob> <flush_timeout_ms> <rows>
//       runs until the store holds <rows> rows and nothing is left to read,
//       held or in flight for a second, waits a little more (a duplicate
//       would land then), shuts down, prints every Body (TabSeparated, in
//       Timestamp order) and "done".
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "collect/pod_logs/pod_logs_receiver.h"
#include "common/logging.h"
#include "pipeline/pipeline.h"
#include "pipeline/targets.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

using namespace kobs;

int main(int argc, char** argv) {
  if (argc < 5) return 64;
  const std::string mode = argv[1];
  const std::filesystem::path dir = argv[2];
  const std::string glob = argv[3];
  const long flush_ms = std::atol(argv[4]);
  const long rows = argc > 5 ? std::atol(argv[5]) : 0;
  logging::init({"warn", "text"});

  store::EmbeddedOptions so;
  so.data_dir = (dir / "store").string();
  so.database = "ml";
  store::EmbeddedStore store(so);
  store::schema::SchemaOptions schema_options;
  schema_options.database = "ml";
  auto schema = store::schema::SchemaManager::apply(store, schema_options);
  pipeline::PipelineOptions po;
  po.buffer.dir = dir / "buffer";
  po.buffer.fsync = pipeline::FsyncPolicy::kNever;  // SIGKILL keeps the page cache; power loss is not tested
  po.batch.max_age = std::chrono::milliseconds(50);
  po.flush_tick = std::chrono::milliseconds(20);
  pipeline::Pipeline pipe(store, pipeline::targetsFromSchema(schema), po);
  pipe.start();

  collect::pod_logs::PodLogsOptions ro;
  ro.state_dir = dir / "pod_logs";
  ro.include = {glob};
  ro.start_at_beginning = true;
  ro.poll_interval = std::chrono::milliseconds(20);
  ro.scan_interval = std::chrono::milliseconds(200);
  ro.checkpoint_interval = std::chrono::milliseconds(20);
  collect::pod_logs::MultilineRule rule;
  rule.is_first_entry = "^START";
  rule.flush_timeout = std::chrono::milliseconds(flush_ms);
  ro.multiline.push_back(rule);
  collect::pod_logs::PodLogsReceiver receiver(ro, pipe, store, nullptr);
  receiver.start();
  std::printf("started\n");
  std::fflush(stdout);

  if (mode == "run") {
    uint64_t printed = 0;
    for (;;) {
      const uint64_t n = receiver.stats().lines_read.load();
      if (n != printed) {
        std::printf("lines %lu\n", static_cast<unsigned long>(n));
        std::fflush(stdout);
        printed = n;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  int stable = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = store.query("SELECT count() FROM ml.otel_logs", "TabSeparated");
    const long n = std::atol(r.data.c_str());
    stable = n >= rows && receiver.caughtUp() && receiver.linesInFlight() == 0 ? stable + 1 : 0;
    if (stable >= 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  receiver.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  pipe.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  auto r = store.query("SELECT Body FROM ml.otel_logs ORDER BY Timestamp, Body", "TabSeparated");
  std::fwrite(r.data.data(), 1, r.data.size(), stdout);
  std::printf("done\n");
  std::fflush(stdout);
  return 0;
}
