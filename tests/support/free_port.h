// Loopback sockets for test servers.
//
// freeLoopbackPort(): a loopback TCP port free right now, for a listener whose port a test must
// know before the process prints it (kobs logs most listeners on stderr,
// which tests do not read). Another process may take it in between: rare on
// a test machine, and the start then fails loudly, not silently.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace kobs::testing {

inline uint16_t freeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("freeLoopbackPort: socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) throw std::runtime_error("freeLoopbackPort: bind failed");
  return ntohs(addr.sin_port);
}

// A listening socket on 127.0.0.1 and a port the kernel picked; `who` names
// the caller in the error. The caller owns (closes) the descriptor.
inline int listenOnLoopback(uint16_t* port, const char* who) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string(who) + ": socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string(who) + ": bind/listen failed");
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace kobs::testing
