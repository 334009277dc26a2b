// Child process for crash_test.cc: writes log records with ids [first, last)
// through the real pipeline into the embedded store under <data_dir>, and
// prints "ack <from> <to>" on stdout each time a chunk's commit callback
// fires. `drain` mode only replays the disk buffer and exits when it is empty;
// `dump` prints every stored id, one per line, then "end".
//   crash_child write <data_dir> <first> <last> [die_after_inserts] [poison|-] [pace_ms] [durable]
//   crash_child drain <data_dir>
//   crash_child dump <data_dir>
// A refused add() (disk full, disk error) is printed as "refused <from>" and
// tried again after a pause, as a receiver does. `poison` first appends one
// batch the store rejects for good (it is dead-lettered).
// die_after_inserts > 0 ends the process right after that many inserts
// returned, before the sender could record the commit: the worst moment, when
// the store has a batch the buffer still believes unsent.
// KOBS_CRASH_WRITERS=N in the environment runs the sender with N writers,
// each on its own store instance over the same engine (as kobs wires it).
// `durable` also prints "durable <from> <to>" once a chunk is in the disk
// buffer (its durable callback): from then on a crash must not lose it.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "pipeline/pipeline.h"
#include "pipeline/targets.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

using namespace kobs;

namespace {
// Forwards to the real store, then dies after the N-th insert succeeded.
class DyingStore final : public store::IStore {
 public:
  // `left` is shared by every writer's store: the N-th insert of any ends it.
  DyingStore(store::IStore& inner, std::atomic<int>& left) : inner_(inner), left_(left) {}
  std::string_view kind() const override { return inner_.kind(); }
  const std::string& database() const override { return inner_.database(); }
  void execute(std::string_view sql, const store::Settings& s) override { inner_.execute(sql, s); }
  store::QueryResult query(std::string_view sql, std::string_view f, const store::Settings& s) override {
    return inner_.query(sql, f, s);
  }
  store::InsertResult insert(const store::InsertRequest& r) override {
    auto result = inner_.insert(r);
    if (left_.load() > 0 && --left_ == 0) _exit(9);
    return result;
  }
  void ping() override { inner_.ping(); }

 private:
  store::IStore& inner_;
  std::atomic<int>& left_;
};
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return 64;
  const std::string mode = argv[1];
  const std::filesystem::path dir = argv[2];
  store::EmbeddedOptions so;
  so.data_dir = dir.string();
  so.database = "crash";
  store::EmbeddedStore store(so);
  if (mode == "dump") {
    auto ids = store.query("SELECT LogAttributes['id'] FROM crash.otel_logs", "TabSeparated").data;
    std::fwrite(ids.data(), 1, ids.size(), stdout);
    std::printf("end\n");
    std::fflush(stdout);
    return 0;
  }
  store::schema::SchemaOptions schema_options;
  schema_options.database = "crash";
  auto schema = store::schema::SchemaManager::apply(store, schema_options);
  auto targets = pipeline::targetsFromSchema(schema);
  pipeline::PipelineOptions po;
  po.buffer.dir = dir / "buffer";
  po.buffer.fsync = pipeline::FsyncPolicy::kAlways;
  po.batch.max_rows = 2000;
  po.batch.max_age = std::chrono::milliseconds(50);
  std::atomic<int> die_after{argc > 5 ? std::atoi(argv[5]) : 0};
  DyingStore dying(store, die_after);
  const char* writers_env = std::getenv("KOBS_CRASH_WRITERS");
  po.sender.writers = writers_env ? std::max(1, std::atoi(writers_env)) : 1;
  if (writers_env) {  // merged groups too: their ranges must replay as they were sent
    po.sender.merge_max_rows = 4 * po.batch.max_rows;
    po.sender.merge_max_bytes = 64u << 20;
  }
  std::vector<std::unique_ptr<store::EmbeddedStore>> extra;
  std::vector<std::unique_ptr<DyingStore>> extra_dying;
  std::vector<store::IStore*> writer_stores;
  for (int i = 1; i < po.sender.writers; ++i) {
    store::EmbeddedOptions wo = so;
    wo.reader_connections = 1;
    extra.push_back(std::make_unique<store::EmbeddedStore>(wo));
    extra_dying.push_back(std::make_unique<DyingStore>(*extra.back(), die_after));
    writer_stores.push_back(extra_dying.back().get());
  }
  pipeline::Pipeline pipe(dying, targets, po);
  pipe.setWriterStores(writer_stores);
  pipe.start();

  if (mode == "drain") {
    bool drained = pipe.buffer().waitDrained(std::chrono::steady_clock::now() + std::chrono::seconds(120));
    pipe.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    return drained ? 0 : 3;
  }
  const long first = std::atol(argv[3]), last = std::atol(argv[4]);
  if (argc > 6 && std::string(argv[6]) == "poison") {
    // Rows cut mid-value: ClickHouse cannot read them (a permanent error).
    pipeline::BatchHeader h{pipe.logs().encoder().table(), pipe.logs().encoder().columns(), "RowBinary", 2, {}, {}};
    pipe.buffer().append(h, std::string("\x01\x02\x03"));
  }
  auto resource = std::make_shared<pipeline::Resource>();
  resource->attributes = {{"service.name", "crash-test"}};
  constexpr long kChunk = 100;
  const int pace_ms = argc > 7 ? std::atoi(argv[7]) : 0;  // a pause per chunk: a producer slower than the disk
  const bool report_durable = argc > 8 && std::string(argv[8]) == "durable";
  for (long from = first; from < last; from += kChunk) {
    if (pace_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pace_ms));
    long to = std::min(last, from + kChunk);
    std::vector<pipeline::LogRecord> chunk;
    for (long id = from; id < to; ++id) {
      pipeline::LogRecord r;
      r.resource = resource;
      r.time_unix_nano = 1764000000000000000 + id;
      r.body = std::string(200, 'x');
      r.attributes = {{"id", std::to_string(id)}};
      chunk.push_back(std::move(r));
    }
    for (;;) {
      try {
        pipeline::DurableCallback on_durable;
        if (report_durable)
          on_durable = [from, to](bool durable) {
            if (durable) {
              std::printf("durable %ld %ld\n", from, to);
              std::fflush(stdout);
            }
          };
        pipe.logs().add(
            std::span<const pipeline::LogRecord>(chunk),
            [from, to](bool ok) {
              if (ok) {
                std::printf("ack %ld %ld\n", from, to);
                std::fflush(stdout);
              }
            },
            std::move(on_durable));
        break;
      } catch (const Exception& e) {
        std::printf("refused %ld %s\n", from, std::string(errorCodeName(e.code())).c_str());
        std::fflush(stdout);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
  pipe.shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(60));
  std::printf("done\n");
  std::fflush(stdout);
  return 0;
}
