// FileSizeLimit: while alive, the process may not grow a file past `bytes`
// (RLIMIT_FSIZE). The kernel then cuts a write short and fails the rest with
// EFBIG, as a filling disk does with ENOSPC: a real partial write, on demand,
// without root. SIGXFSZ is ignored so the process survives it.
#pragma once

#include <sys/resource.h>

#include <csignal>

namespace kobs::testing {

class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    std::signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &saved_);
    rlimit l = saved_;
    l.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &l);
  }
  ~FileSizeLimit() { setrlimit(RLIMIT_FSIZE, &saved_); }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_{};
};

}  // namespace kobs::testing
