#include "app/store_factory.h"

#include "common/error.h"
#include "store/clickhouse/http_store.h"
#include "store/embedded/embedded_store.h"

namespace kobs::app {

namespace {
store::EmbeddedOptions embeddedOptions(const KobsConfig& c, StopToken stop) {
  store::EmbeddedOptions o;
  o.data_dir = c.data_dir;
  o.library_path = c.store.embedded_library;
  o.database = c.store.database;
  o.skip_indexes_on_insert = c.store.embedded_skip_indexes_on_insert;
  o.max_memory = c.store.embedded_max_memory;
  o.stop = std::move(stop);
  return o;
}
}  // namespace

std::vector<std::unique_ptr<store::IStore>> openWriterStores(const KobsConfig& c, StopToken stop) {
  std::vector<std::unique_ptr<store::IStore>> stores;
  if (c.store.kind != "embedded") return stores;
  for (int i = 1; i < c.pipeline.sender.writers; ++i) {
    auto o = embeddedOptions(c, stop);
    o.reader_connections = 1;  // it inserts; the process's main store serves the reads
    stores.push_back(std::make_unique<store::EmbeddedStore>(o));
  }
  return stores;
}

std::unique_ptr<store::IStore> openStore(const KobsConfig& c, StopToken stop) {
  if (c.store.kind == "embedded") return std::make_unique<store::EmbeddedStore>(embeddedOptions(c, std::move(stop)));
  store::HttpStoreOptions o;
  o.url = c.store.url;
  o.user = c.store.user;
  o.password = c.store.password;
  o.database = c.store.database;
  o.auth = c.store.auth == "headers" ? store::HttpAuthMode::kHeaders : store::HttpAuthMode::kBasic;
  o.compression = store::parseBodyCompression(c.store.compression);
  o.connect_timeout = c.store.connect_timeout;
  o.request_timeout = c.store.request_timeout;
  o.retry.max_retries = c.store.max_retries;
  o.tls_verify = c.store.tls_verify;
  o.stop = std::move(stop);
  return std::make_unique<store::HttpStore>(o);
}

}  // namespace kobs::app
