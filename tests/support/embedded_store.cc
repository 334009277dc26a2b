#include "support/embedded_store.h"

#include "support/temp_dir.h"

namespace kobs::testing {

const std::string& embeddedDataDir() {
  // Leaked on purpose: the engine may still use the dir while static
  // destructors run; the TempDir removes it when the process ends normally.
  static TempDir* dir = new TempDir();
  static const std::string path = dir->str();
  static const int registered = std::atexit([] { delete dir; });
  (void)registered;
  return path;
}

std::unique_ptr<store::EmbeddedStore> openEmbeddedStore(const std::string& database, int reader_connections) {
  store::EmbeddedOptions o;
  o.data_dir = embeddedDataDir();
  o.library_path = chdbLibraryPath();
  o.database = database;
  o.reader_connections = reader_connections;
  return std::make_unique<store::EmbeddedStore>(o);
}

}  // namespace kobs::testing
