// Child process for exactly_once_test.cc: the events receiver, the real
// pipeline and the embedded store on <data_dir>, watching Events of
// <namespace> on the API server of <kubeconfig>. The parent SIGKILLs it at
// random moments.
//   events_child run <data_dir> <kubeconfig> <namespace>
//       runs until killed (or SIGTERM: clean shutdown); prints "listed" once
//       the watch knows where to resume (its first list is in, or it resumed)
//   events_child settle <data_dir> <kubeconfig> <namespace> <expected_pairs>
//       runs until the store holds <expected_pairs> distinct (uid, rv) pairs
//       (or 90 s), shuts down cleanly, then prints "pair <uid> <rv> <rows>"
//       for every stored pair and "done".
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "collect/k8s_events/events_receiver.h"
#include "common/logging.h"
#include "k8s/cluster_config.h"
#include "pipeline/pipeline.h"
#include "pipeline/targets.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

using namespace kobs;

int main(int argc, char** argv) {
  if (argc < 5) return 64;
  const std::string mode = argv[1];
  const std::filesystem::path dir = argv[2];
  const std::string kubeconfig = argv[3];
  const std::string ns = argv[4];
  const char* level = std::getenv("KOBS_TEST_LOG_LEVEL");  // e.g. info, to see each run's recovery
  logging::init({level ? level : "warn", "text"});
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  store::EmbeddedOptions so;
  so.data_dir = (dir / "store").string();
  so.database = "exactly";
  store::EmbeddedStore store(so);
  store::schema::SchemaOptions schema_options;
  schema_options.database = "exactly";
  auto schema = store::schema::SchemaManager::apply(store, schema_options);
  const auto targets = pipeline::targetsFromSchema(schema);
  pipeline::PipelineOptions po;
  po.buffer.dir = dir / "buffer";
  po.buffer.fsync = pipeline::FsyncPolicy::kNever;  // SIGKILL keeps the page cache; power loss is not tested
  // Batching and checkpoint timing stay at kobs's defaults (1 s batch age,
  // 1 s checkpoint interval): short runs then die before their checkpoint
  // catches up, as a crash-looping kobs does.
  pipeline::Pipeline pipe(store, targets, po);
  pipe.start();

  collect::k8s_events::ReceiverOptions ro;
  ro.state_dir = dir / "k8s_events";
  ro.cluster = [kubeconfig] {
    k8s::ResolveOptions r;
    r.kubeconfig = kubeconfig;
    return k8s::resolveClusterConfig(r);
  };
  ro.namespaces = {ns};
  ro.backoff_max = std::chrono::seconds(1);
  ro.resolve = false;
  collect::k8s_events::EventsReceiver receiver(ro, pipe, store, nullptr);
  receiver.start();
  std::printf("started\n");
  std::fflush(stdout);
  std::jthread listed([&receiver, &ns](std::stop_token st) {
    while (!st.stop_requested() && receiver.ledger().resumeVersion(ns).empty())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (st.stop_requested()) return;
    std::printf("listed\n");
    std::fflush(stdout);
  });

  const std::string pairs_sql =
      "SELECT LogAttributes['k8s.event.uid'] AS u, JSONExtractString(Body,'object','metadata','resourceVersion') AS rv, "
      "count() AS n FROM exactly.otel_logs GROUP BY u, rv";
  if (mode == "run") {
    int sig = 0;
    sigwait(&set, &sig);
  } else {
    if (argc < 6) return 64;
    const long expected = std::atol(argv[5]);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = store.query("SELECT count() FROM (" + pairs_sql + ")", "TabSeparated");
      if (std::atol(r.data.c_str()) >= expected) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));  // anything extra (a duplicate) would land now
  }
  listed.request_stop();
  listed.join();
  receiver.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  pipe.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(10));
  if (mode != "run") {
    auto r = store.query(pairs_sql, "TabSeparated");
    std::string_view data = r.data;
    while (!data.empty()) {
      auto nl = data.find('\n');
      std::string line(data.substr(0, nl));
      for (auto& c : line)
        if (c == '\t') c = ' ';
      std::printf("pair %s\n", line.c_str());
      data = nl == std::string_view::npos ? std::string_view{} : data.substr(nl + 1);
    }
    std::printf("done\n");
    std::fflush(stdout);
  }
  return 0;
}
