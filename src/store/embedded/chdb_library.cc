#include "store/embedded/chdb_library.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>

#include "common/error.h"

#ifndef KOBS_DEFAULT_CHDB_LIB
#define KOBS_DEFAULT_CHDB_LIB "third_party/chdb/libchdb.so"
#endif

namespace kobs::store::chdb {

std::string resolveLibraryPath(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* env = std::getenv("KOBS_CHDB_LIB"); env && *env) return env;
  // An installed kobs (container image, package) ships the library beside it.
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto candidate : {exe.parent_path() / "libchdb.so", exe.parent_path() / "../lib/kobs/libchdb.so"})
      if (std::filesystem::exists(candidate, ec)) return candidate.lexically_normal().string();
  }
  return KOBS_DEFAULT_CHDB_LIB;  // where scripts/setup.sh put it in the source tree
}

Library::Library(void* handle, std::string path) : handle_(handle), path_(std::move(path)) {}

Library::~Library() {
  // The engine keeps threads and atexit handlers in the library's code: it
  // is never unloaded once loaded, so handle_ is deliberately not dlclose'd.
}

namespace {
template <typename Fn>
void resolve(void* handle, const std::string& path, const char* symbol, Fn& out) {
  void* sym = ::dlsym(handle, symbol);
  if (sym == nullptr) throw Exception(ErrorCode::kLibraryLoad, "{} has no symbol {} (is it chDB 26.7 or newer?)", path, symbol);
  out = reinterpret_cast<Fn>(sym);
}
}  // namespace

std::shared_ptr<Library> Library::load(const std::string& path) {
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* err = ::dlerror();
    throw Exception(ErrorCode::kLibraryLoad,
                    "cannot load chDB from {}: {} (run scripts/setup.sh, or set store.embedded.library / KOBS_CHDB_LIB)",
                    path, err ? err : "unknown error");
  }
  std::shared_ptr<Library> lib(new Library(handle, path));
  Api& a = lib->api_;
  resolve(handle, path, "chdb_connect", a.connect);
  resolve(handle, path, "chdb_close_conn", a.close_conn);
  resolve(handle, path, "chdb_query_n", a.query_n);
  resolve(handle, path, "chdb_destroy_query_result", a.destroy_query_result);
  resolve(handle, path, "chdb_result_buffer", a.result_buffer);
  resolve(handle, path, "chdb_result_length", a.result_length);
  resolve(handle, path, "chdb_result_elapsed", a.result_elapsed);
  resolve(handle, path, "chdb_result_rows_read", a.result_rows_read);
  resolve(handle, path, "chdb_result_bytes_read", a.result_bytes_read);
  resolve(handle, path, "chdb_result_rows_written", a.result_rows_written);
  resolve(handle, path, "chdb_result_error", a.result_error);
  resolve(handle, path, "chdb_stream_insert_n", a.stream_insert_n);
  resolve(handle, path, "chdb_stream_append", a.stream_append);
  resolve(handle, path, "chdb_stream_done", a.stream_done);
  resolve(handle, path, "chdb_stream_insert_error", a.stream_insert_error);
  resolve(handle, path, "chdb_destroy_insert_stream", a.destroy_insert_stream);
  resolve(handle, path, "chdb_version", a.version);
  return lib;
}

}  // namespace kobs::store::chdb
