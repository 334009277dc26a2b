// A stand-in for a kubelet's HTTPS port, serving a recorded /stats/summary:
// the test cluster is a bare control plane with no kubelet. It requires a
// bearer token (401 otherwise, as a kubelet with webhook authentication
// answers) and records the Authorization headers it got. The serving
// certificate (SAN IP:127.0.0.1) is made with the openssl CLI at start.
//
// Threading: one thread accepts and answers connections one at a time;
// public methods are thread-safe.
#pragma once

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "support/temp_dir.h"

namespace kobs::collect::kubelet_stats::testing {

namespace fs = std::filesystem;

inline void runOpenssl(const std::string& args) {
  const std::string cmd = "openssl " + args + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
}

// A self-signed certificate for 127.0.0.1 in `dir` (cert.pem, key.pem).
inline void makeCert(const fs::path& dir, const std::string& cn) {
  runOpenssl("req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" + cn + " -addext subjectAltName=IP:127.0.0.1 -keyout " +
             (dir / "key.pem").string() + " -out " + (dir / "cert.pem").string());
}

class KubeletServer {
 public:
  explicit KubeletServer(std::string token) : token_(std::move(token)), ssl_(boost::asio::ssl::context::tls_server) {
    makeCert(dir_.path(), "kubelet");
    ssl_.use_certificate_chain_file((dir_.path() / "cert.pem").string());
    ssl_.use_private_key_file((dir_.path() / "key.pem").string(), boost::asio::ssl::context::pem);
    acceptor_.open(boost::asio::ip::tcp::v4());
    acceptor_.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    thread_ = std::thread([this] { run(); });
  }
  ~KubeletServer() {
    stopping_ = true;
    {
      // Wakes the blocking accept(); the connection closes at once and is ignored.
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket s(io);
      boost::system::error_code ec;
      s.connect(acceptor_.local_endpoint(), ec);
    }
    thread_.join();
  }

  fs::path caFile() const { return dir_.path() / "cert.pem"; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  void setBody(std::string body) {
    std::lock_guard l(mutex_);
    body_ = std::move(body);
  }
  std::vector<std::string> authorizations() const {
    std::lock_guard l(mutex_);
    return auths_;
  }
  int requests() const { return requests_.load(); }

 private:
  void run() {
    while (!stopping_) {
      boost::asio::ip::tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec) {
        if (stopping_) return;
        continue;
      }
      try {
        serve(std::move(s));
      } catch (const std::exception&) {
        // A client that gave up on the certificate ends the handshake: nothing to answer.
      }
    }
  }
  void serve(boost::asio::ip::tcp::socket s) {
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket> tls(std::move(s), ssl_);
    tls.handshake(boost::asio::ssl::stream_base::server);
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      size_t n = tls.read_some(boost::asio::buffer(buf));
      req.append(buf, n);
    }
    ++requests_;
    std::string auth;
    std::istringstream in(req);
    std::string line, target;
    std::getline(in, line);
    { std::istringstream rl(line); std::string method; rl >> method >> target; }
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind("Authorization: ", 0) == 0 || line.rfind("authorization: ", 0) == 0) auth = line.substr(15);
    }
    std::string status = "200 OK", body;
    {
      std::lock_guard l(mutex_);
      auths_.push_back(auth);
      body = body_;
    }
    if (auth != "Bearer " + token_) {
      status = "401 Unauthorized";
      body = "Unauthorized";
    } else if (target != "/stats/summary") {
      status = "404 Not Found";
      body = "404 page not found";
    }
    const std::string resp = "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    boost::asio::write(tls, boost::asio::buffer(resp));
    boost::system::error_code ec;
    tls.shutdown(ec);
  }

  std::string token_;
  kobs::testing::TempDir dir_;
  boost::asio::io_context io_;
  boost::asio::ssl::context ssl_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  mutable std::mutex mutex_;
  std::string body_;
  std::vector<std::string> auths_;
};

inline std::string readText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace kobs::collect::kubelet_stats::testing
