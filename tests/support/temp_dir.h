// A fresh directory under $TMPDIR for one test, removed when it goes out of scope.
#pragma once

#include <filesystem>
#include <string>

namespace kobs::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// Path of libchdb.so for tests: $KOBS_CHDB_LIB or <source>/third_party/chdb/libchdb.so.
std::string chdbLibraryPath();
// The source tree root ($KOBS_SOURCE_DIR, else the tree this test was built from).
std::filesystem::path sourceDir();
// The build tree root ($KOBS_BINARY_DIR, else the tree this test was built in).
std::filesystem::path binaryDir();

}  // namespace kobs::testing
