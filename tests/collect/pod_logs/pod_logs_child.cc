// Child process for storm_test.cc: the pod logs receiver, the real pipeline
// and the embedded store on <data_dir>, tailing <glob>. The parent SIGKILLs it.
//   pod_logs_child run <data_dir> <glob>
//       runs until killed (or SIGTERM: clean shutdown)
//   pod_logs_child settle <data_dir> <glob> <expected_rows>
//       runs until the store holds <expected_rows> rows (or 120 s), waits a
//       little more (a duplicate would land then), shuts down cleanly, then
//       prints "row <log.file.path> <Body>" for every row in Timestamp order
//       and "done".
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
  if (argc < 4) return 64;
  const std::string mode = argv[1];
  const std::filesystem::path dir = argv[2];
  const std::string glob = argv[3];
  logging::init({"warn", "text"});
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  store::EmbeddedOptions so;
  so.data_dir = (dir / "store").string();
  so.database = "storm";
  store::EmbeddedStore store(so);
  store::schema::SchemaOptions schema_options;
  schema_options.database = "storm";
  auto schema = store::schema::SchemaManager::apply(store, schema_options);
  const auto targets = pipeline::targetsFromSchema(schema);
  pipeline::PipelineOptions po;
  po.buffer.dir = dir / "buffer";
  po.buffer.fsync = pipeline::FsyncPolicy::kNever;  // SIGKILL keeps the page cache; power loss is not tested
  po.batch.max_rows = 2000;
  po.batch.max_age = std::chrono::milliseconds(100);
  po.flush_tick = std::chrono::milliseconds(20);
  pipeline::Pipeline pipe(store, targets, po);
  pipe.start();

  collect::pod_logs::PodLogsOptions ro;
  ro.state_dir = dir / "pod_logs";
  ro.include = {glob};
  ro.start_at_beginning = true;
  ro.poll_interval = std::chrono::milliseconds(20);
  ro.scan_interval = std::chrono::milliseconds(200);
  ro.rotate_wait = std::chrono::milliseconds(300);
  ro.checkpoint_interval = std::chrono::milliseconds(100);
  collect::pod_logs::PodLogsReceiver receiver(ro, pipe, store, nullptr);
  receiver.start();
  std::printf("started\n");
  std::fflush(stdout);

  if (mode == "run") {
    int sig = 0;
    sigwait(&set, &sig);
  } else {
    const long expected = std::atol(argv[4]);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = store.query("SELECT count() FROM storm.otel_logs", "TabSeparated");
      if (std::atol(r.data.c_str()) >= expected) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  receiver.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  pipe.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  if (mode != "run") {
    auto r = store.query(
        "SELECT LogAttributes['log.file.path'], Body FROM storm.otel_logs ORDER BY Timestamp", "TabSeparated");
    std::fwrite(r.data.data(), 1, r.data.size(), stdout);
    std::printf("done\n");
    std::fflush(stdout);
  }
  return 0;
}
