// Users of the ClickHouse-compatible endpoint, from a file (typically a
// mounted Kubernetes Secret), one user per line:
//   name:sha256:<64 hex digits>   the SHA-256 of the password (echo -n pw | sha256sum)
//   name:<password>               the password itself
//   name:                         no password
// Blank lines and lines starting with '#' are ignored; a name may not hold
// ':'. A malformed line stops loading with an error naming the line.
// The file is read again when its modification time or size changes, so a
// rotated Secret takes effect without a restart; a file that no longer loads
// keeps the last good users (and logs why).
// Passwords are compared as SHA-256 digests with CRYPTO_memcmp (constant
// time); an unknown user costs the same digest and comparison.
//
// Threading: authenticate() is thread-safe (a mutex guards the reload and
// the users are swapped as one shared_ptr).
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace kobs::serve::chcompat {

class UsersFile {
 public:
  // Loads `path` at once; throws kobs::Exception(kBadConfig) when it cannot.
  explicit UsersFile(std::string path);

  // True when `user` is listed with this password.
  bool authenticate(std::string_view user, std::string_view password);

  size_t size();

  using Digest = std::array<unsigned char, 32>;
  static Digest sha256(std::string_view data);

 private:
  using Users = std::map<std::string, Digest, std::less<>>;
  static std::shared_ptr<const Users> load(const std::string& path);
  std::shared_ptr<const Users> current();

  const std::string path_;
  std::mutex mutex_;
  std::shared_ptr<const Users> users_;
  std::timespec mtime_{};
  int64_t size_ = -1;
};

}  // namespace kobs::serve::chcompat
