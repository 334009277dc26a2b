#include "support/fault_proxy.h"

#include <chrono>
#include <functional>
#include <optional>

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace kobs::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

struct FaultProxy::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
};

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

awaitable<void> session(tcp::socket client, uint16_t backend_port,
                        std::function<FaultProxy::Injected()> next_fault, std::function<Headers()> extra_headers, std::atomic<uint64_t>* requests,
                        std::atomic<uint64_t>* faults) {
  auto executor = co_await asio::this_coro::executor;
  try {
    beast::flat_buffer client_buf;
    beast::flat_buffer backend_buf;
    std::optional<tcp::socket> backend;
    for (;;) {
      http::request_parser<http::string_body> req_parser;
      req_parser.body_limit(boost::none);
      co_await http::async_read(client, client_buf, req_parser, use_awaitable);
      auto req = req_parser.release();
      requests->fetch_add(1);
      FaultProxy::Injected injected = next_fault();
      FaultProxy::Fault fault = injected.fault;
      if (fault != FaultProxy::Fault::kPass) faults->fetch_add(1);
      switch (fault) {
        case FaultProxy::Fault::kClickhouseError: {
          http::response<http::string_body> res{static_cast<http::status>(injected.http_status), req.version()};
          res.set(http::field::content_type, "text/plain; charset=UTF-8");
          res.set("X-ClickHouse-Exception-Code", std::to_string(injected.code));
          res.keep_alive(req.keep_alive());
          res.body() = "Code: " + std::to_string(injected.code) + ". DB::Exception: " + injected.message + "\n";
          res.prepare_payload();
          co_await http::async_write(client, res, use_awaitable);
          if (!req.keep_alive()) co_return;
          continue;
        }
        case FaultProxy::Fault::k503: {
          http::response<http::string_body> res{http::status::service_unavailable, req.version()};
          res.set(http::field::content_type, "text/plain");
          res.keep_alive(false);
          res.body() = "injected by FaultProxy\n";
          res.prepare_payload();
          co_await http::async_write(client, res, use_awaitable);
          co_return;
        }
        case FaultProxy::Fault::kHang: {
          // Held until the proxy's io_context stops (destruction).
          asio::steady_timer t(executor, std::chrono::hours(24));
          co_await t.async_wait(use_awaitable);
          co_return;
        }
        case FaultProxy::Fault::kDrop:
          co_return;  // the socket closes as the coroutine ends
        case FaultProxy::Fault::kPass:
          break;
      }
      if (!backend) {
        backend.emplace(executor);
        co_await backend->async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), backend_port),
                                        use_awaitable);
      }
      co_await http::async_write(*backend, req, use_awaitable);
      http::response_parser<http::string_body> res_parser;
      res_parser.body_limit(boost::none);
      co_await http::async_read(*backend, backend_buf, res_parser, use_awaitable);
      auto res = res_parser.release();
      for (auto& [name, value] : extra_headers()) res.set(name, value);
      bool keep = res.keep_alive() && req.keep_alive();
      co_await http::async_write(client, res, use_awaitable);
      if (!keep) co_return;
    }
  } catch (const std::exception&) {
    // Client gone or backend failed: closing the client connection is the answer.
  }
}

}  // namespace

FaultProxy::FaultProxy(uint16_t backend_port) : backend_port_(backend_port), impl_(std::make_unique<Impl>()) {
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(
      impl_->io,
      [this]() -> awaitable<void> {
        for (;;) {
          tcp::socket s = co_await impl_->acceptor.async_accept(use_awaitable);
          connections_.fetch_add(1);
          asio::co_spawn(impl_->io,
                         session(std::move(s), backend_port_, [this] { return nextFault(); },
                                 [this] { return responseHeaders(); }, &requests_,
                                 &faults_),
                         asio::detached);
        }
      },
      asio::detached);
  thread_ = std::thread([this] { impl_->io.run(); });
}

FaultProxy::~FaultProxy() {
  impl_->io.stop();
  if (thread_.joinable()) thread_.join();
}

std::string FaultProxy::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void FaultProxy::queue(Fault f, int n) {
  std::lock_guard lock(mutex_);
  for (int i = 0; i < n; ++i) faults_queued_.push_back(Injected{f, 0, {}, 500});
}

void FaultProxy::failWithClickhouseCode(int code, std::string message, int n, int http_status) {
  std::lock_guard lock(mutex_);
  for (int i = 0; i < n; ++i) faults_queued_.push_back(Injected{Fault::kClickhouseError, code, message, http_status});
}

void FaultProxy::passThrough() {
  std::lock_guard lock(mutex_);
  faults_queued_.clear();
}

void FaultProxy::setResponseHeader(std::string name, std::string value) {
  std::lock_guard lock(mutex_);
  for (auto& h : response_headers_)
    if (h.first == name) {
      h.second = std::move(value);
      return;
    }
  response_headers_.emplace_back(std::move(name), std::move(value));
}

std::vector<std::pair<std::string, std::string>> FaultProxy::responseHeaders() {
  std::lock_guard lock(mutex_);
  return response_headers_;
}

FaultProxy::Injected FaultProxy::nextFault() {
  std::lock_guard lock(mutex_);
  if (faults_queued_.empty()) return Injected{};
  Injected f = faults_queued_.front();
  faults_queued_.pop_front();
  return f;
}

}  // namespace kobs::testing
