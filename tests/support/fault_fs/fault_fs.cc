// fault_fs: an LD_PRELOAD library that makes chosen file operations of a
// child process fail. FAKE (labelled): a real disk cannot be made to return
// EIO, a short write or a failed fsync on demand, at one chosen file.
//
// Armed by environment variables (unset: every call passes through):
//   KOBS_FAULT_FS_MATCH  substring of the file's path ("/buffer/wal-", "state.json", "/dead/")
//   KOBS_FAULT_FS_OP     write | fsync | rename   (write covers write/pwrite, fsync covers fdatasync)
//   KOBS_FAULT_FS_ERRNO  EIO | ENOSPC             (default EIO)
//   KOBS_FAULT_FS_AFTER  matching calls that pass before the first fault (default 0)
//   KOBS_FAULT_FS_COUNT  faults to inject (default 1)
//   KOBS_FAULT_FS_SHORT  1: a faulted write first writes half its bytes and returns
//                        that count (a short write); the following calls fail
//   KOBS_FAULT_FS_MARK   a file created when the first fault is injected, so the
//                        test can SIGKILL the process right after it
//
// Threading: counters are atomics; the real functions come from dlsym(RTLD_NEXT).
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

enum class Op { kNone, kWrite, kFsync, kRename };

struct Config {
  std::string match;
  Op op = Op::kNone;
  int err = EIO;
  long after = 0;
  long count = 1;
  bool short_write = false;
  std::string mark;
};

const Config& config() {
  static const Config c = [] {
    Config c;
    if (const char* m = std::getenv("KOBS_FAULT_FS_MATCH")) c.match = m;
    if (const char* o = std::getenv("KOBS_FAULT_FS_OP")) {
      std::string op = o;
      c.op = op == "write" ? Op::kWrite : op == "fsync" ? Op::kFsync : op == "rename" ? Op::kRename : Op::kNone;
    }
    if (const char* e = std::getenv("KOBS_FAULT_FS_ERRNO")) c.err = std::string(e) == "ENOSPC" ? ENOSPC : EIO;
    if (const char* a = std::getenv("KOBS_FAULT_FS_AFTER")) c.after = std::atol(a);
    if (const char* n = std::getenv("KOBS_FAULT_FS_COUNT")) c.count = std::atol(n);
    if (const char* s = std::getenv("KOBS_FAULT_FS_SHORT")) c.short_write = std::string(s) == "1";
    if (const char* k = std::getenv("KOBS_FAULT_FS_MARK")) c.mark = k;
    if (c.match.empty()) c.op = Op::kNone;
    return c;
  }();
  return c;
}

std::atomic<long> g_matched{0};
std::atomic<long> g_injected{0};

bool fdMatches(int fd) {
  char link[64], path[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = ::readlink(link, path, sizeof path - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  return std::strstr(path, config().match.c_str()) != nullptr;
}

void leaveMark() {
  const auto& c = config();
  if (c.mark.empty()) return;
  int fd = ::open(c.mark.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    static const char kText[] = "injected\n";
    ::syscall(SYS_write, fd, kText, sizeof kText - 1);
    ::close(fd);
  }
}

// Decides for one matching call: 0 pass, 1 fail.
int decide() {
  const auto& c = config();
  long n = g_matched.fetch_add(1);
  if (n < c.after) return 0;
  long i = g_injected.fetch_add(1);
  if (i >= c.count) return 0;
  if (i == 0) leaveMark();
  return 1;
}

template <typename Fn>
Fn real(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

ssize_t faultedWrite(int fd, size_t count, auto&& do_write) {
  if (config().op != Op::kWrite || count == 0 || !fdMatches(fd) || decide() == 0) return do_write(count);
  if (config().short_write && count > 1) {
    // Half lands, the rest is refused by the next call (which decide() fails too).
    ssize_t w = do_write(count / 2);
    if (w > 0) return w;
  }
  errno = config().err;
  return -1;
}

}  // namespace

extern "C" {

ssize_t write(int fd, const void* buf, size_t count) {
  static auto fn = real<ssize_t (*)(int, const void*, size_t)>("write");
  return faultedWrite(fd, count, [&](size_t n) { return fn(fd, buf, n); });
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  static auto fn = real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  return faultedWrite(fd, count, [&](size_t n) { return fn(fd, buf, n, offset); });
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  static auto fn = real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite64");
  return faultedWrite(fd, count, [&](size_t n) { return fn(fd, buf, n, offset); });
}

int fsync(int fd) {
  static auto fn = real<int (*)(int)>("fsync");
  if (config().op == Op::kFsync && fdMatches(fd) && decide() == 1) {
    errno = config().err;
    return -1;
  }
  return fn(fd);
}

int fdatasync(int fd) {
  static auto fn = real<int (*)(int)>("fdatasync");
  if (config().op == Op::kFsync && fdMatches(fd) && decide() == 1) {
    errno = config().err;
    return -1;
  }
  return fn(fd);
}

int rename(const char* from, const char* to) {
  static auto fn = real<int (*)(const char*, const char*)>("rename");
  if (config().op == Op::kRename && std::strstr(to, config().match.c_str()) != nullptr && decide() == 1) {
    errno = config().err;
    return -1;
  }
  return fn(from, to);
}

}  // extern "C"
