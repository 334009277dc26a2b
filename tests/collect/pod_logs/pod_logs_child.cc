// Child process for storm_test.cc: the pod logs receiver, the real pipeline
// and the embedded store on <data_dir>, tailing <glob>. The parent SIGKILLs it.
//   pod_logs_child run <data_dir> <globs>
//       runs until killed (or SIGTERM: clean shutdown)
//   pod_logs_child settle <data_dir> <globs>
//       prints "ready" once the receiver is, then waits for <data_dir>/expected
//       ("<a_rows> <last a body> <last b body>", written by the parent once
//       its writer stopped) and runs until the store holds a_rows rows of
//       "a ..." and both last bodies and its row count, with nothing left
//       to read or in flight, stays put for a second (or 120 s), waits a
//       little more (a duplicate would land then), shuts down cleanly, then prints
//       "<log.file.path>\t<Body>" for every row in Timestamp order and "done".
// <globs>: include globs separated by ','.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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
  // POD_LOGS_CHILD_LOG=debug: the receiver's decisions on rotation and truncation (diagnostics).
  const char* level = std::getenv("POD_LOGS_CHILD_LOG");
  logging::init({level && *level ? level : "warn", "text"});
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
  ro.include.clear();
  for (size_t start = 0; start <= glob.size();) {
    size_t comma = glob.find(',', start);
    if (comma == std::string::npos) comma = glob.size();
    ro.include.push_back(glob.substr(start, comma - start));
    start = comma + 1;
  }
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
    while (!receiver.ready()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::printf("ready\n");
    std::fflush(stdout);
    const auto expected_file = dir / "expected";
    while (!std::filesystem::exists(expected_file)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    long expected = 0;
    std::string last_a, last_b;
    {
      std::ifstream in(expected_file);
      std::string line;
      std::getline(in, line);
      expected = std::atol(line.c_str());
      std::getline(in, last_a);
      std::getline(in, last_b);
    }
    // Until the expected rows are there and nothing more comes: copies found
    // at this start may still be being read after the last lines landed.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    long previous = -1;
    int stable = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = store.query("SELECT countIf(startsWith(Body, 'a ')), countIf(Body IN ('" + last_a + "', '" + last_b +
                               "')), count() FROM storm.otel_logs",
                           "TabSeparated");
      long a = 0, last = 0, total = 0;
      std::sscanf(r.data.c_str(), "%ld\t%ld\t%ld", &a, &last, &total);
      stable = total == previous && receiver.caughtUp() && receiver.linesInFlight() == 0 ? stable + 1 : 0;
      previous = total;
      if (a >= expected && last >= 2 && stable >= 4) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  receiver.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  if (mode != "run") {
    const auto& st = receiver.stats();
    std::fprintf(stderr, "receiver: truncations %lu, read from copies %lu, missed generations %lu, recovered duplicates %lu, rotations %lu, files opened %lu, malformed %lu\n",
                 st.truncations.load(), st.truncation_copies.load(), st.missed_generations.load(), st.recovered_duplicates.load(), st.rotations.load(), st.files_opened.load(),
                 st.malformed_lines.load());
  }
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
