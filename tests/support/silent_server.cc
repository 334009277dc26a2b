#include "support/silent_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <stdexcept>

#include "support/free_port.h"

namespace kobs::testing {

SilentServer::SilentServer() {
  listen_fd_ = listenOnLoopback(&port_, "SilentServer");
  if (::pipe2(wake_, O_CLOEXEC) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("SilentServer: pipe failed");
  }
  thread_ = std::thread([this] { run(); });
}

SilentServer::~SilentServer() {
  char b = 0;
  (void)::write(wake_[1], &b, 1);
  thread_.join();
  for (int fd : clients_) ::close(fd);
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void SilentServer::run() {
  char sink[4096];
  for (;;) {
    std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (int fd : clients_) fds.push_back({fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) continue;
    if (fds[0].revents) return;
    if (fds[1].revents & POLLIN) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        clients_.push_back(fd);
        ++accepted_;
      }
    }
    // Drain requests (so clients never block on a full socket); a closed
    // client is forgotten.
    for (size_t i = 2; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      if (::read(fds[i].fd, sink, sizeof sink) <= 0) {
        ::close(fds[i].fd);
        std::erase(clients_, fds[i].fd);
      }
    }
  }
}

}  // namespace kobs::testing
