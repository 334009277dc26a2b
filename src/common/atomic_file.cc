#include "common/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace kobs {

void writeFileAtomically(const std::filesystem::path& file, std::string_view data, Durability durability) {
  auto tmp = file;
  tmp += ".tmp";
  const bool sync = durability == Durability::kFsync;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Exception(ErrorCode::kIo, "cannot create {}: {}", tmp.string(), std::strerror(errno));
  const char* p = data.data();
  size_t left = data.size();
  int err = 0;
  const char* step = "write";
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = w < 0 ? errno : ENOSPC;  // a zero-byte write makes no progress: treat as a full disk
      break;
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  if (err == 0 && sync && ::fsync(fd) != 0) err = errno, step = "fsync";
  if (::close(fd) != 0 && err == 0) err = errno, step = "close";
  if (err != 0) {
    ::unlink(tmp.c_str());
    throw Exception(ErrorCode::kIo, "cannot {} {}: {}", step, tmp.string(), std::strerror(err));
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    throw Exception(ErrorCode::kIo, "cannot rename {} to {}: {}", tmp.string(), file.string(), std::strerror(err));
  }
  if (!sync) return;
  const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) throw Exception(ErrorCode::kIo, "cannot open {}: {}", dir.string(), std::strerror(errno));
  int rc = ::fsync(dfd);
  err = errno;
  ::close(dfd);
  if (rc != 0) throw Exception(ErrorCode::kIo, "fsync of {} failed: {}", dir.string(), std::strerror(err));
}

}  // namespace kobs
