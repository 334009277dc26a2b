// Test clients for the HTTP server: libcurl for ordinary requests and a raw
// loopback socket for what curl cannot do (stall mid-header, never read).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <curl/curl.h>

namespace kobs::http::testing {

struct CurlResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  long connects = 0;  // new connections this transfer opened (0 = reused)

  std::string header(const std::string& lower_name) const;
};

struct CurlRequest {
  std::string method = "GET";
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  bool no_body = false;              // HEAD
  long timeout_ms = 10000;
};

// One curl easy handle: requests through the same Client reuse its connection.
class Client {
 public:
  Client();
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  CurlResult fetch(const std::string& url, const CurlRequest& request = {});

 private:
  CURL* curl_;
};

// A blocking loopback TCP client.
class RawSocket {
 public:
  // `rcvbuf` > 0 shrinks SO_RCVBUF before connecting (a client that fills up fast).
  explicit RawSocket(uint16_t port, int rcvbuf = 0);
  ~RawSocket();
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  void send(const std::string& data);
  // Reads whatever arrives within `timeout`; "" with closed()==true on EOF/reset.
  std::string readSome(std::chrono::milliseconds timeout);
  // Reads until `needle` has been seen or `timeout` passes; returns all bytes read.
  std::string readUntil(const std::string& needle, std::chrono::milliseconds timeout);
  // Waits until the peer closes; true if it did within `timeout`.
  bool waitClosed(std::chrono::milliseconds timeout);
  bool closed() const { return closed_; }
  void close();

 private:
  int fd_ = -1;
  bool closed_ = false;
};

std::string url(uint16_t port, const std::string& path);

}  // namespace kobs::http::testing
