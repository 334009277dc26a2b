// Step 2 of runProcess(): the store and its schema, retried until they work
// or a signal arrives: a ClickHouse server that starts after kobs is normal
// in a cluster.
#include "app/process_parts.h"
#include "app/store_factory.h"
#include "common/error.h"
#include "store/schema/schema_manager.h"

namespace kobs::app {

Process::Attach Process::attachStore() {
  auto backoff = std::chrono::milliseconds(500);
  while (!signals_.stopped()) {
    try {
      if (!store_) store_ = openStore(config_, store_stop_.token());
      schema_ = store::schema::SchemaManager::apply(*store_, config_.schema);
      store_attached_ = true;
      if (signals_.stopped()) break;  // the signal came during the last step
      readiness_.storeReady(*store_);
      log_->info("store {} ready; schema applied in database {} (created {} objects)", store_->kind(),
                 store_->database(), schema_.created.size());
      return Attach::kReady;
    } catch (const Exception& e) {
      if (e.code() == ErrorCode::kShuttingDown) break;
      // A schema that cannot hold kobs's rows, or a bad config, does not fix itself.
      if (e.code() == ErrorCode::kSchemaMismatch || e.code() == ErrorCode::kBadConfig ||
          e.code() == ErrorCode::kLibraryLoad) {
        log_->error("cannot start: {}", e.what());
        return Attach::kFatal;
      }
      readiness_.notReady(e.what());
      log_->warn("store not ready ({}); retrying in {} ms", e.what(), backoff.count());
      signals_.waitFor(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(30000));
    }
  }
  return Attach::kStopped;
}

}  // namespace kobs::app
