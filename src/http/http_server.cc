#include "http/http_server.h"

#include <charconv>
#include <future>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "common/error.h"
#include "common/logging.h"
#include "http/connection.h"

namespace kobs::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

ListenAddress parseListenAddress(const std::string& listen) {
  std::string_view s = listen;
  ListenAddress out;
  std::string_view port;
  if (s.starts_with('[')) {  // [v6]:port
    size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      throw Exception(ErrorCode::kBadConfig, "listen address '{}': expected [host]:port", listen);
    out.host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string_view::npos || s.find(':') != colon)
      throw Exception(ErrorCode::kBadConfig, "listen address '{}': expected host:port or :port", listen);
    out.host = std::string(s.substr(0, colon));
    port = s.substr(colon + 1);
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535)
    throw Exception(ErrorCode::kBadConfig, "listen address '{}': bad port '{}'", listen, port);
  out.port = static_cast<uint16_t>(value);
  return out;
}

struct Server::Impl {
  Impl(ServerOptions options, Router router) : state(std::move(options), std::move(router)) {}

  detail::ServerState state;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> accept_retry;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool started = false;
  bool stopped = false;

  void bind();
  void accept();
  std::vector<std::shared_ptr<detail::Connection>> liveConnections();
};

void Server::Impl::bind() {
  auto address = parseListenAddress(state.options.listen);
  auto ex = asio::make_strand(state.ioc);
  auto try_bind = [&](const tcp::endpoint& ep, bool dual_stack) -> boost::system::error_code {
    boost::system::error_code ec;
    auto a = std::make_unique<tcp::acceptor>(ex);
    if (a->open(ep.protocol(), ec)) return ec;
    a->set_option(asio::socket_base::reuse_address(true), ec);
    if (dual_stack) a->set_option(asio::ip::v6_only(false), ec);
    if (a->bind(ep, ec)) return ec;
    if (a->listen(asio::socket_base::max_listen_connections, ec)) return ec;
    acceptor = std::move(a);
    return {};
  };

  boost::system::error_code ec;
  if (address.host.empty()) {
    // All interfaces: dual-stack IPv6 when the host has it, else IPv4.
    ec = try_bind(tcp::endpoint(asio::ip::address_v6::any(), address.port), true);
    if (ec) ec = try_bind(tcp::endpoint(asio::ip::address_v4::any(), address.port), false);
  } else {
    auto ip = asio::ip::make_address(address.host, ec);
    if (!ec) {
      ec = try_bind(tcp::endpoint(ip, address.port), false);
    } else {
      tcp::resolver resolver(state.ioc);
      auto results = resolver.resolve(address.host, std::to_string(address.port), ec);
      if (ec)
        throw Exception(ErrorCode::kBadConfig, "listen address '{}': cannot resolve '{}': {}", state.options.listen,
                        address.host, ec.message());
      for (const auto& entry : results) {
        ec = try_bind(entry.endpoint(), false);
        if (!ec) break;
      }
    }
  }
  if (ec || !acceptor)
    throw Exception(ErrorCode::kIo, "cannot listen on '{}': {}", state.options.listen, ec.message());
  port = acceptor->local_endpoint().port();
  accept_retry = std::make_unique<asio::steady_timer>(ex);
}

void Server::Impl::accept() {
  acceptor->async_accept(asio::make_strand(state.ioc), [this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || state.stopping) return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning on the error.
      state.log->warn("accept failed error=\"{}\"", ec.message());
      accept_retry->expires_after(std::chrono::milliseconds(100));
      accept_retry->async_wait([this](boost::system::error_code wec) {
        if (!wec && !state.stopping) accept();
      });
      return;
    }
    std::make_shared<detail::Connection>(state, std::move(socket))->start();
    accept();
  });
}

std::vector<std::shared_ptr<detail::Connection>> Server::Impl::liveConnections() {
  std::lock_guard lock(state.mutex);
  std::vector<std::shared_ptr<detail::Connection>> out;
  for (auto& [ptr, weak] : state.connections)
    if (auto c = weak.lock()) out.push_back(std::move(c));
  return out;
}

Server::Server(ServerOptions options, Router router)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(router))) {
  impl_->state.log = logging::get("http." + impl_->state.options.name);
}

Server::~Server() { stop(); }

void Server::start() {
  if (impl_->started) throw Exception(ErrorCode::kBadArguments, "http server started twice");
  impl_->bind();
  impl_->started = true;
  impl_->work.emplace(impl_->state.ioc.get_executor());
  asio::post(impl_->acceptor->get_executor(), [impl = impl_.get()] { impl->accept(); });
  size_t n = impl_->state.options.io_threads ? impl_->state.options.io_threads : 1;
  for (size_t i = 0; i < n; ++i) impl_->threads.emplace_back([impl = impl_.get()] { impl->state.ioc.run(); });
  impl_->state.log->info("listening address={} port={} io_threads={} worker_threads={}", impl_->state.options.listen,
                         impl_->port, n, impl_->state.options.worker_threads);
}

void Server::stop(std::chrono::milliseconds deadline) {
  auto& impl = *impl_;
  if (!impl.started || impl.stopped) return;
  impl.stopped = true;
  auto until = std::chrono::steady_clock::now() + deadline;
  impl.state.stopping = true;

  // 1. Stop accepting (on the acceptor's strand; wait so no accept races on).
  std::promise<void> closed;
  asio::post(impl.acceptor->get_executor(), [&] {
    boost::system::error_code ec;
    impl.acceptor->close(ec);
    impl.accept_retry->cancel();
    closed.set_value();
  });
  closed.get_future().wait();

  // 2. Close idle connections and streams; in-flight requests finish.
  for (auto& c : impl.liveConnections())
    asio::post(c->executor(), [c] { c->serverStopping(); });
  {
    std::unique_lock lock(impl.state.mutex);
    impl.state.drained.wait_until(lock, until, [&] { return impl.state.connections.empty(); });
  }

  // 3. Deadline: close the rest, give their handlers a moment to unwind.
  auto left = impl.liveConnections();
  if (!left.empty()) {
    impl.state.log->warn("stop deadline passed, closing connections count={}", left.size());
    for (auto& c : left) asio::post(c->executor(), [c] { c->forceClose(); });
    left.clear();
    // Requests still waiting for a deferred answer will not get one.
    impl.state.deferred->close();
    std::unique_lock lock(impl.state.mutex);
    impl.state.drained.wait_for(lock, std::chrono::seconds(1), [&] { return impl.state.connections.empty(); });
  }

  // From here no deferred answer is posted to the io_context.
  impl.state.deferred->close();
  impl.work.reset();
  impl.state.ioc.stop();
  for (auto& t : impl.threads) t.join();
  impl.threads.clear();
  impl.state.workers.join();
  impl.state.log->info("stopped port={}", impl.port);
}

uint16_t Server::port() const { return impl_->port; }

size_t Server::connectionCount() const {
  std::lock_guard lock(impl_->state.mutex);
  return impl_->state.connections.size();
}

}  // namespace kobs::http
