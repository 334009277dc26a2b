#include "serve/chcompat/users_file.h"

#include <sys/stat.h>

#include <fstream>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "common/error.h"
#include "common/logging.h"

namespace kobs::serve::chcompat {
namespace {

bool stat(const std::string& path, std::timespec& mtime, int64_t& size) {
  struct ::stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  mtime = st.st_mtim;
  size = static_cast<int64_t>(st.st_size);
  return true;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

UsersFile::Digest UsersFile::sha256(std::string_view data) {
  Digest d{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data());
  return d;
}

std::shared_ptr<const UsersFile::Users> UsersFile::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Exception(ErrorCode::kBadConfig, "cannot read the users file {}", path);
  auto users = std::make_shared<Users>();
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0)
      throw Exception(ErrorCode::kBadConfig, "users file {} line {}: expected name:password or name:sha256:<hex>",
                      path, number);
    const std::string name = line.substr(0, colon);
    const std::string_view secret = std::string_view(line).substr(colon + 1);
    Digest digest{};
    if (secret.rfind("sha256:", 0) == 0) {
      const std::string_view hex = secret.substr(7);
      bool ok = hex.size() == 64;
      for (size_t i = 0; ok && i < 32; ++i) {
        const int hi = hexValue(hex[2 * i]), lo = hexValue(hex[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        digest[i] = static_cast<unsigned char>(hi * 16 + lo);
      }
      if (!ok)
        throw Exception(ErrorCode::kBadConfig, "users file {} line {}: sha256: needs 64 hex digits", path, number);
    } else {
      digest = sha256(secret);
    }
    if (!users->emplace(name, digest).second)
      throw Exception(ErrorCode::kBadConfig, "users file {} line {}: user {} listed twice", path, number, name);
  }
  if (users->empty()) throw Exception(ErrorCode::kBadConfig, "users file {} lists no user", path);
  return users;
}

UsersFile::UsersFile(std::string path) : path_(std::move(path)) {
  stat(path_, mtime_, size_);
  users_ = load(path_);
}

std::shared_ptr<const UsersFile::Users> UsersFile::current() {
  std::lock_guard lock(mutex_);
  std::timespec mtime{};
  int64_t size = -1;
  if (stat(path_, mtime, size) &&
      (mtime.tv_sec != mtime_.tv_sec || mtime.tv_nsec != mtime_.tv_nsec || size != size_)) {
    mtime_ = mtime;
    size_ = size;
    try {
      users_ = load(path_);
      logging::get("chcompat")->info("users file {} reloaded ({} users)", path_, users_->size());
    } catch (const Exception& e) {
      logging::get("chcompat")->error("users file not reloaded, keeping the previous users: {}", e.what());
    }
  }
  return users_;
}

bool UsersFile::authenticate(std::string_view user, std::string_view password) {
  const auto users = current();
  const Digest given = sha256(password);
  auto it = users->find(user);
  // An unknown user compares against a digest no password has, in the same time.
  static const Digest kNone = [] {
    Digest d{};
    d.fill(0xff);
    return d;
  }();
  const Digest& expected = it == users->end() ? kNone : it->second;
  const bool equal = CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
  return equal && it != users->end();
}

size_t UsersFile::size() { return current()->size(); }

}  // namespace kobs::serve::chcompat
