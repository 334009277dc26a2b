// The two transports of the OTLP receiver, built by Receiver::start().
// Internal to src/collect/otlp.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "collect/otlp/otlp_receiver.h"
#include "http/http_server.h"
#include "store/clickhouse/body_codec.h"

namespace kobs::collect::otlp {

// OTLP/HTTP routes on their own server (not started).
std::unique_ptr<http::Server> makeHttpServer(Receiver& receiver);

// Request bodies are decompressed by store/clickhouse/body_codec.h's
// decompressBody (the one helper for gzip/zstd bodies with a size bound).
using store::BodyTooLarge;
using store::decompressBody;
using store::UnsupportedEncoding;

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
