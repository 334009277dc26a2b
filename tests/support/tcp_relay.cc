#include "support/tcp_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "support/free_port.h"

namespace kobs::testing {
namespace {

int connectBackend(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Moves what is readable on `from` to `to`; false when either side is done.
// Blocking writes are fine here: loopback peers in a test drain promptly.
bool pump(int from, int to) {
  char buf[16384];
  ssize_t n = ::read(from, buf, sizeof buf);
  if (n <= 0) return false;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = ::write(to, buf + off, static_cast<size_t>(n - off));
    if (w <= 0) return false;
    off += w;
  }
  return true;
}

}  // namespace

TcpRelay::TcpRelay(uint16_t backend_port) : backend_port_(backend_port) {
  listen_fd_ = listenOnLoopback(&port_, "TcpRelay");
  if (::pipe2(wake_, O_CLOEXEC) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("TcpRelay: pipe failed");
  }
  thread_ = std::thread([this] { run(); });
}

TcpRelay::~TcpRelay() {
  char b = 0;
  (void)::write(wake_[1], &b, 1);
  thread_.join();
  for (auto [c, s] : pairs_) ::close(c), ::close(s);
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void TcpRelay::run() {
  for (;;) {
    // A short poll timeout so a cut() takes effect on idle connections too.
    std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (auto [c, s] : pairs_) fds.push_back({c, POLLIN, 0}), fds.push_back({s, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 20) < 0) continue;
    if (fds[0].revents) return;
    const bool cut = cut_.load();
    if (fds[1].revents & POLLIN) {
      int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        ++accepted_;
        int s = cut ? -1 : connectBackend(backend_port_);
        if (s < 0) {
          ::close(c);
        } else {
          pairs_.emplace_back(c, s);
          ++open_;
        }
      }
    }
    // fds[2 + 2i] / fds[3 + 2i] belong to pairs_[i] as it was when polled;
    // new pairs were appended after, so indexes stay valid.
    std::vector<bool> done(pairs_.size(), cut);
    for (size_t i = 0; i + 2 < fds.size() && !cut; i += 2) {
      const size_t p = i / 2;
      auto [c, s] = pairs_[p];
      if ((fds[2 + i].revents & (POLLIN | POLLHUP | POLLERR)) && !pump(c, s)) done[p] = true;
      if ((fds[3 + i].revents & (POLLIN | POLLHUP | POLLERR)) && !pump(s, c)) done[p] = true;
    }
    for (size_t p = done.size(); p-- > 0;) {
      if (!done[p]) continue;
      ::close(pairs_[p].first);
      ::close(pairs_[p].second);
      pairs_.erase(pairs_.begin() + static_cast<long>(p));
      --open_;
    }
  }
}

}  // namespace kobs::testing
