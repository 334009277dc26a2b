// OTLP/HTTP: the three POST routes, CORS, bearer auth, body decompression,
// and the status mapping of otlp_receiver.h.
#include <algorithm>
#include <optional>

#include "collect/otlp/otlp_transport.h"
#include "common/error.h"

namespace kobs::collect::otlp {
namespace {

constexpr std::string_view kProtobufType = "application/x-protobuf";
constexpr std::string_view kJsonType = "application/json";

// google.rpc.Code values used in error bodies.
constexpr int kInvalidArgument = 3;
constexpr int kResourceExhausted = 8;
constexpr int kUnauthenticated = 16;
constexpr int kUnavailable = 14;
constexpr int kUnimplemented = 12;
constexpr int kInternal = 13;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<Encoding> encodingOf(const http::Request& req) {
  auto ct = req.header("Content-Type");
  if (!ct) return std::nullopt;
  auto media = lower(trim(ct->substr(0, ct->find(';'))));
  if (media == kProtobufType) return Encoding::kProtobuf;
  if (media == kJsonType) return Encoding::kJson;
  return std::nullopt;
}

}  // namespace

namespace {

class HttpRoutes {
 public:
  explicit HttpRoutes(Receiver& r) : r_(r) {}

  // Handlers keep `self` alive as long as the router holds them.
  static void add(const std::shared_ptr<HttpRoutes>& self, http::Router& router) {
    for (auto [path, signal] : {std::pair{"/v1/traces", Signal::kTraces}, std::pair{"/v1/logs", Signal::kLogs},
                                std::pair{"/v1/metrics", Signal::kMetrics}}) {
      // Deferred: answered once the records are durable (see otlp_receiver.h).
      router.addDeferred(
          "POST", path,
          [self, signal](const http::Request& req, http::Responder responder) {
            self->handle(signal, req, responder);
          },
          {.blocking = true});
      router.add("OPTIONS", path, [self](const http::Request& req) { return self->preflight(req); });
    }
  }

 private:
  // The allowed origin to echo, or "" (no CORS headers).
  std::string allowedOrigin(const http::Request& req) const {
    const auto& allowed = r_.options().cors_allowed_origins;
    auto origin = req.header("Origin");
    if (!origin || allowed.empty()) return {};
    for (const auto& a : allowed)
      if (a == "*" || a == *origin) return std::string(*origin);
    return {};
  }

  void cors(const http::Request& req, http::Response& resp) const { cors(allowedOrigin(req), resp); }

  static void cors(const std::string& origin, http::Response& resp) {
    if (origin.empty()) return;
    resp.headers.set("Access-Control-Allow-Origin", origin);
    resp.headers.set("Vary", "Origin");
  }

  http::Response preflight(const http::Request& req) const {
    http::Response resp;
    resp.status = 204;
    auto origin = allowedOrigin(req);
    if (origin.empty()) return resp;
    cors(req, resp);
    resp.headers.set("Access-Control-Allow-Methods", "POST, OPTIONS");
    auto asked = req.header("Access-Control-Request-Headers");
    resp.headers.set("Access-Control-Allow-Headers",
                     asked ? std::string(*asked) : std::string("Content-Type, Content-Encoding, Authorization"));
    resp.headers.set("Access-Control-Max-Age", "86400");
    return resp;
  }

  http::Response error(const http::Request& req, Encoding enc, int status, int rpc_code, std::string_view message,
                       int retry_after = 0) const {
    return errorFor(allowedOrigin(req), enc, status, rpc_code, message, retry_after);
  }

  static http::Response errorFor(const std::string& origin, Encoding enc, int status, int rpc_code,
                                 std::string_view message, int retry_after = 0) {
    http::Response resp;
    resp.status = status;
    resp.body = statusBody(rpc_code, message, enc, retry_after);
    resp.headers.set("Content-Type", enc == Encoding::kJson ? kJsonType : kProtobufType);
    if (retry_after > 0) resp.headers.set("Retry-After", std::to_string(retry_after));
    cors(origin, resp);
    return resp;
  }

  // The answer to an ingested request. Runs from the durable callback, maybe
  // after the receiver is gone: it uses only its arguments.
  static http::Response answer(Signal signal, const Outcome& o, Encoding enc, const std::string& origin,
                               int retry_after) {
    switch (o.kind) {
      case Outcome::kAccepted: {
        http::Response resp;
        resp.status = 200;
        resp.body = exportResponse(signal, o.rejected, enc);
        resp.headers.set("Content-Type", enc == Encoding::kJson ? kJsonType : kProtobufType);
        cors(origin, resp);
        return resp;
      }
      case Outcome::kMalformed: return errorFor(origin, enc, 400, kInvalidArgument, o.message);
      case Outcome::kBufferFull:
      case Outcome::kShuttingDown: return errorFor(origin, enc, 503, kUnavailable, o.message, retry_after);
      case Outcome::kTooLarge: return errorFor(origin, enc, 413, kResourceExhausted, o.message);
      case Outcome::kUnsupported: return errorFor(origin, enc, 415, kInvalidArgument, o.message);
      case Outcome::kInternal: break;
    }
    return errorFor(origin, enc, 500, kInternal, o.message.empty() ? "unexpected outcome" : o.message);
  }

  void handle(Signal signal, const http::Request& req, const http::Responder& responder) {
    if (auto refusal = ingest(signal, req, responder)) responder.send(std::move(*refusal));
  }

  // A refusal before decoding is returned; an ingested request (accepted or
  // not) is answered through `responder` and nullopt returned.
  std::optional<http::Response> ingest(Signal signal, const http::Request& req, const http::Responder& responder) {
    constexpr std::string_view kTransport = "http";
    auto enc = encodingOf(req);
    // Errors before the content type is known answer in protobuf, OTLP's default.
    const Encoding reply = enc.value_or(Encoding::kProtobuf);
    if (!r_.authorized(req.header("Authorization").value_or(""))) {
      r_.countRefused(signal, kTransport, "unauthorized");
      auto resp = error(req, reply, 401, kUnauthenticated, "missing or invalid bearer token");
      resp.headers.set("WWW-Authenticate", "Bearer");
      return resp;
    }
    if (!enc) {
      r_.countRefused(signal, kTransport, "unsupported_media_type");
      return error(req, reply, 415, kInvalidArgument,
                   fmt::format("unsupported Content-Type \"{}\": use application/x-protobuf or application/json",
                               req.header("Content-Type").value_or("")));
    }
    std::string decompressed;
    std::string_view body = req.body;
    const auto encoding = req.header("Content-Encoding").value_or("");
    try {
      if (!encoding.empty() && lower(trim(encoding)) != "identity") {
        decompressed = decompressBody(encoding, req.body, r_.options().max_request_bytes);
        body = decompressed;
      } else if (body.size() > r_.options().max_request_bytes) {
        throw BodyTooLarge{r_.options().max_request_bytes};
      }
    } catch (const BodyTooLarge& e) {
      r_.countRefused(signal, kTransport, "too_large");
      return error(req, reply, 413, kResourceExhausted,
                   fmt::format("request body over {} bytes (otlp.max_request_bytes, decompressed size counted)", e.limit));
    } catch (const UnsupportedEncoding& e) {
      r_.countRefused(signal, kTransport, "unsupported_media_type");
      return error(req, reply, 415, kUnimplemented,
                   fmt::format("unsupported Content-Encoding \"{}\": use gzip or zstd", e.encoding));
    } catch (const Exception& e) {
      r_.countRefused(signal, kTransport, "malformed");
      return error(req, reply, 400, kInvalidArgument, e.what());
    }
    r_.ingest(signal, body, *enc, kTransport,
              [signal, enc = *enc, origin = allowedOrigin(req), retry_after = r_.options().retry_after_seconds,
               responder](Outcome o) { responder.send(answer(signal, o, enc, origin, retry_after)); },
              req.remote_address);
    return std::nullopt;
  }

  Receiver& r_;
};

}  // namespace

std::unique_ptr<http::Server> makeHttpServer(Receiver& receiver) {
  http::Router router;
  HttpRoutes::add(std::make_shared<HttpRoutes>(receiver), router);
  http::ServerOptions o;
  o.listen = receiver.options().http_listen;
  o.name = "otlp";
  o.worker_threads = receiver.options().http_workers;
  // Requests the server refuses itself (413 on a body over the limit, 431)
  // are counted there: kobs_http_requests_total{server="otlp",code="4xx"}.
  o.metrics = &receiver.registry();
  // Compressed bodies above the limit are refused by the server while reading;
  // decompressed ones by decompressBody.
  o.body_limit = receiver.options().max_request_bytes;
  return std::make_unique<http::Server>(o, std::move(router));
}

}  // namespace kobs::collect::otlp
