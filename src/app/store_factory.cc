#include "app/store_factory.h"

#include "common/error.h"
#include "store/embedded/embedded_store.h"

namespace kobs::app {

std::unique_ptr<store::IStore> openStore(const KobsConfig& c) {
  if (c.store.kind == "embedded") {
    store::EmbeddedOptions o;
    o.data_dir = c.data_dir;
    o.library_path = c.store.embedded_library;
    o.database = c.store.database;
    return std::make_unique<store::EmbeddedStore>(o);
  }
  throw Exception(ErrorCode::kBadConfig, "config key store.kind: clickhouse store not built yet");
}

}  // namespace kobs::app
