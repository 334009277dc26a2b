#include "pipeline/store_sender.h"

#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/logging.h"

namespace kobs::pipeline {

StoreSender::StoreSender(store::IStore& store, DiskBuffer& buffer, SenderOptions options, LatencyObserver observe)
    : store_(store), buffer_(buffer), options_(std::move(options)), observe_(std::move(observe)) {}

StoreSender::~StoreSender() { stop(); }

void StoreSender::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void StoreSender::stop() {
  stopping_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool StoreSender::sleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, d, [&] { return stopping_.load(); });
  return !stopping_;
}

void StoreSender::run() {
  auto log = logging::get("sender");
  std::mt19937_64 rng{std::random_device{}()};
  uint64_t last_seq = buffer_.committedSeq();
  while (!stopping_) {
    auto batch = buffer_.next(last_seq, std::chrono::milliseconds(200));
    if (!batch) continue;
    const std::string token = "kobs-" + buffer_.instanceId() + "-" + std::to_string(batch->seq);
    auto backoff = options_.backoff_initial;
    for (int attempt = 0; !stopping_; ++attempt) {
      store::InsertRequest req;
      req.table = batch->header.table;
      req.columns = batch->header.columns;
      req.format = batch->header.format;
      req.body = batch->body;
      req.rows = batch->header.rows;
      req.deduplication_token = token;
      req.may_be_duplicate = batch->recovered || attempt > 0;
      try {
        auto started = std::chrono::steady_clock::now();
        auto result = store_.insert(req);
        if (observe_) observe_(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        if (result.deduplicated) ++stats_.batches_deduplicated;
        ++stats_.batches_committed;
        stats_.rows_committed += batch->header.rows;
        if (!stats_.store_healthy.exchange(true)) log->info("store reachable again; sending resumed");
        buffer_.commit(batch->seq, true);
        for (const auto& listener : listeners_) listener(batch->header.table, batch->header.rows);
        break;
      } catch (const Exception& e) {
        if (!isRetryable(e.code())) {
          log->error("batch {} ({} rows into {}) rejected by the store, set aside: {}", batch->seq,
                     batch->header.rows, batch->header.table, e.what());
          deadLetter(*batch, e);
          buffer_.commit(batch->seq, false);
          break;
        }
        if (stats_.store_healthy.exchange(false)) log->warn("store unavailable, will retry: {}", e.what());
        ++stats_.retries;
      } catch (const std::exception& e) {
        log->error("batch {} failed unexpectedly, set aside: {}", batch->seq, e.what());
        deadLetter(*batch, e);
        buffer_.commit(batch->seq, false);
        break;
      }
      // Full jitter: sleep a random time in [0, backoff].
      std::uniform_int_distribution<int64_t> jitter(0, backoff.count());
      if (!sleepFor(std::chrono::milliseconds(jitter(rng)))) break;
      backoff = std::min(options_.backoff_max, backoff * 2);
    }
    last_seq = batch->seq;
  }
}

void StoreSender::deadLetter(const BufferedBatch& batch, const std::exception& error) {
  ++stats_.batches_dead_lettered;
  stats_.rows_dead_lettered += batch.header.rows;
  try {
    std::filesystem::create_directories(options_.dead_letter_dir);
    auto base = options_.dead_letter_dir / ("batch-" + std::to_string(batch.seq));
    std::ofstream(base.string() + ".rowbinary", std::ios::binary) << batch.body;
    nlohmann::json meta = {{"version", 1},       {"table", batch.header.table}, {"columns", batch.header.columns},
                           {"format", batch.header.format}, {"rows", batch.header.rows}, {"error", error.what()}};
    std::ofstream(base.string() + ".json") << meta.dump(2) << "\n";
  } catch (const std::exception& e) {
    logging::get("sender")->error("cannot write dead-letter batch {}: {}", batch.seq, e.what());
  }
}

}  // namespace kobs::pipeline
