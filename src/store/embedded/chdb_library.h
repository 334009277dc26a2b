// Loads libchdb.so at run time and resolves the symbols of chdb_api.h.
// The library (about 560 MB) is mapped only when an embedded store is opened.
//
// Threading: load() once; the Library is immutable afterwards and shared by
// every connection (the engine serialises per connection, see embedded_store.h).
#pragma once

#include <memory>
#include <string>

#include "store/embedded/chdb_api.h"

namespace kobs::store::chdb {

class Library {
 public:
  // Throws kobs::Exception(kLibraryLoad) naming the path and the dlerror text.
  static std::shared_ptr<Library> load(const std::string& path);
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  const Api& api() const { return api_; }
  const std::string& path() const { return path_; }

 private:
  Library(void* handle, std::string path);
  void* handle_;
  std::string path_;
  Api api_{};
};

// The library path to use: explicit (config) if non-empty, else
// $KOBS_CHDB_LIB, else libchdb.so beside the executable or in
// <exe>/../lib/kobs/, else the path setup.sh installs to.
std::string resolveLibraryPath(const std::string& configured);

}  // namespace kobs::store::chdb
