// fault_fs: an LD_PRELOAD library that makes chosen file operations of a
// child process fail. FAKE (labelled): a real disk cannot be made to return
// EIO, a short write or a failed fsync on demand, at one chosen file.
//
// Armed by environment variables (unset: every call passes through):
//   KOBS_FAULT_FS_MATCH  substring of the file's path ("/buffer/wal-", "state.json", "/dead/")
//   KOBS_FAULT_FS_OP     write | fsync | rename | kill_rename
//                        (write covers write/pwrite/pwritev, fsync covers fdatasync;
//                        kill_rename: the process SIGKILLs itself right before
//                        a rename whose SOURCE path matches, also one made
//                        through syscall(SYS_renameat2) as chDB does: a crash
//                        at that exact point, e.g. before chDB moves a new part
//                        into place)
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
#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

enum class Op { kNone, kWrite, kFsync, kRename, kKillRename };

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
      c.op = op == "write"         ? Op::kWrite
             : op == "fsync"       ? Op::kFsync
             : op == "rename"      ? Op::kRename
             : op == "kill_rename" ? Op::kKillRename
                                   : Op::kNone;
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

// kill_rename: dies (SIGKILL, as a crash) before renaming a matching source.
void maybeKillBeforeRename(const char* from) {
  if (config().op != Op::kKillRename || from == nullptr || std::strstr(from, config().match.c_str()) == nullptr ||
      decide() == 0)
    return;
  ::kill(::getpid(), SIGKILL);
}

size_t iovBytes(const struct iovec* iov, int iovcnt) {
  size_t n = 0;
  for (int i = 0; i < iovcnt; ++i) n += iov[i].iov_len;
  return n;
}

// The first n bytes of an iovec list (for a short write).
std::vector<struct iovec> iovPrefix(const struct iovec* iov, int iovcnt, size_t n) {
  std::vector<struct iovec> out;
  for (int i = 0; i < iovcnt && n > 0; ++i) {
    struct iovec v = iov[i];
    v.iov_len = std::min(v.iov_len, n);
    n -= v.iov_len;
    out.push_back(v);
  }
  return out;
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

// The disk buffer writes a record's head and body with one pwritev.
ssize_t pwritev(int fd, const struct iovec* iov, int iovcnt, off_t offset) {
  static auto fn = real<ssize_t (*)(int, const struct iovec*, int, off_t)>("pwritev");
  return faultedWrite(fd, iovBytes(iov, iovcnt), [&](size_t n) {
    std::vector<struct iovec> head = iovPrefix(iov, iovcnt, n);
    return fn(fd, head.data(), static_cast<int>(head.size()), offset);
  });
}

ssize_t pwritev64(int fd, const struct iovec* iov, int iovcnt, off_t offset) {
  static auto fn = real<ssize_t (*)(int, const struct iovec*, int, off_t)>("pwritev64");
  return faultedWrite(fd, iovBytes(iov, iovcnt), [&](size_t n) {
    std::vector<struct iovec> head = iovPrefix(iov, iovcnt, n);
    return fn(fd, head.data(), static_cast<int>(head.size()), offset);
  });
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
  maybeKillBeforeRename(from);
  if (config().op == Op::kRename && std::strstr(to, config().match.c_str()) != nullptr && decide() == 1) {
    errno = config().err;
    return -1;
  }
  return fn(from, to);
}

// chDB renames parts with syscall(SYS_renameat2, ...) (RENAME_NOREPLACE), not
// through a libc wrapper. x86-64 passes every syscall argument as a long.
long syscall(long number, ...) {
  static auto fn = real<long (*)(long, ...)>("syscall");
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (long& v : a) v = va_arg(ap, long);
  va_end(ap);
#ifdef SYS_renameat2
  if (number == SYS_renameat2) maybeKillBeforeRename(reinterpret_cast<const char*>(a[1]));
#endif
  if (number == SYS_renameat) maybeKillBeforeRename(reinterpret_cast<const char*>(a[1]));
#ifdef SYS_rename
  if (number == SYS_rename) maybeKillBeforeRename(reinterpret_cast<const char*>(a[0]));
#endif
  return fn(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

}  // extern "C"
