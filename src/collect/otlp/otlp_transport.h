// The two transports of the OTLP receiver, built by Receiver::start().
// Internal to src/collect/otlp.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "collect/otlp/otlp_receiver.h"
#include "http/http_server.h"

namespace kobs::collect::otlp {

// OTLP/HTTP routes on their own server (not started).
std::unique_ptr<http::Server> makeHttpServer(Receiver& receiver);

// Decompresses a request body by its Content-Encoding ("", "identity",
// "gzip", "zstd"), stopping as soon as the output would pass `limit` bytes
// (a zip bomb costs `limit` bytes of memory, no more).
struct BodyTooLarge {
  size_t limit;
};
struct UnsupportedEncoding {
  std::string encoding;
};
// Throws BodyTooLarge, UnsupportedEncoding or kobs::Exception(kBadInput).
std::string decompressBody(std::string_view encoding, std::string_view body, size_t limit);

// OTLP/gRPC server (started by the constructor, stopped by stop()).
class GrpcServer {
 public:
  GrpcServer(Receiver& receiver, const std::string& listen);
  ~GrpcServer();
  uint16_t port() const { return port_; }
  void stop(std::chrono::steady_clock::time_point deadline);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace kobs::collect::otlp
