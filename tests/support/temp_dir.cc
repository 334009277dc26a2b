#include "support/temp_dir.h"

#include <cstdlib>
#include <stdexcept>
#include <system_error>

namespace kobs::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/kobs-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path sourceDir() {
  const char* dir = std::getenv("KOBS_SOURCE_DIR");
  return dir && *dir ? std::filesystem::path(dir) : std::filesystem::path(KOBS_TEST_SOURCE_DIR);
}

std::filesystem::path binaryDir() {
  const char* dir = std::getenv("KOBS_BINARY_DIR");
  return dir && *dir ? std::filesystem::path(dir) : std::filesystem::path(KOBS_TEST_BINARY_DIR);
}

std::string chdbLibraryPath() {
  if (const char* lib = std::getenv("KOBS_CHDB_LIB"); lib && *lib) return lib;
  return (sourceDir() / "third_party/chdb/libchdb.so").string();
}

}  // namespace kobs::testing
