#include "http/http_server.h"

#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "common/error.h"
#include "support/http_client.h"

namespace kobs::http {
namespace {

using namespace std::chrono_literals;
using testing::Client;
using testing::CurlRequest;
using testing::RawSocket;
using testing::url;

ServerOptions loopback() {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  return o;
}

Router basicRoutes() {
  Router r;
  r.get("/hello", [](const Request&) { return Response::text(200, "hello\n"); });
  r.get("/query", [](const Request& req) {
    std::string out;
    for (const auto& [k, v] : req.query) out += k + "=" + v + ";";
    return Response::text(200, out);
  });
  r.post("/echo", [](const Request& req) {
    Response res = Response::text(200, req.body);
    res.headers.set("X-Content-Type-Seen", std::string(req.header("content-type").value_or("")));
    return res;
  });
  r.addPrefix("GET", "/events/", [](const Request& req) { return Response::json(200, "\"" + req.path_rest + "\""); });
  r.get("/peer", [](const Request& req) { return Response::text(200, req.remote_address); });
  r.get("/missing", [](const Request&) -> Response { throw Exception(ErrorCode::kNotFound, "no such thing"); });
  r.get("/boom", [](const Request&) -> Response { throw std::runtime_error("secret detail"); });
  return r;
}

TEST(HttpServer, PortZeroBindsAFreePortAndServes) {
  Server server(loopback(), basicRoutes());
  EXPECT_EQ(server.port(), 0);
  server.start();
  ASSERT_NE(server.port(), 0);
  Client c;
  auto res = c.fetch(url(server.port(), "/hello"));
  ASSERT_EQ(res.code, CURLE_OK);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "hello\n");
  EXPECT_EQ(res.header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(res.header("content-length"), "6");
}

TEST(HttpServer, ListensOnAllInterfacesWithColonPort) {
  ServerOptions o;
  o.listen = ":0";
  Server server(o, basicRoutes());
  server.start();
  Client c;
  EXPECT_EQ(c.fetch(url(server.port(), "/hello")).status, 200);
  // IPv4 peers on a dual-stack socket are reported as plain IPv4.
  EXPECT_EQ(c.fetch(url(server.port(), "/peer")).body, "127.0.0.1");
}

TEST(HttpServer, BadListenAddressThrows) {
  ServerOptions o;
  o.listen = "nonsense";
  Server server(o, basicRoutes());
  EXPECT_THROW(server.start(), Exception);

  Server first(loopback(), basicRoutes());
  first.start();
  ServerOptions taken;
  taken.listen = "127.0.0.1:" + std::to_string(first.port());
  Server second(taken, basicRoutes());
  try {
    second.start();
    FAIL() << "binding a port in use must fail";
  } catch (const Exception& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
  }
}

TEST(HttpServer, RoutingNotFoundAndMethodNotAllowed) {
  Server server(loopback(), basicRoutes());
  server.start();
  Client c;
  auto nf = c.fetch(url(server.port(), "/nope"));
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.body, "404 page not found\n");
  auto na = c.fetch(url(server.port(), "/hello"), CurlRequest{.method = "DELETE"});
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(na.header("allow"), "GET, HEAD");
  auto prefix = c.fetch(url(server.port(), "/events/comp%20id%2F1"));
  EXPECT_EQ(prefix.status, 200);
  EXPECT_EQ(prefix.body, "\"comp id/1\"");
  EXPECT_EQ(prefix.header("content-type"), "application/json");
}

TEST(HttpServer, QueryParametersArePercentDecoded) {
  Server server(loopback(), basicRoutes());
  server.start();
  Client c;
  auto res = c.fetch(url(server.port(), "/query?composition_id=a%2Bb+c&limit=50&empty"));
  EXPECT_EQ(res.body, "composition_id=a+b c;limit=50;empty=;");
  auto bad = c.fetch(url(server.port(), "/query?x=%zz"));
  EXPECT_EQ(bad.status, 400);
}

TEST(HttpServer, HandlerExceptionsMapToStatuses) {
  Server server(loopback(), basicRoutes());
  server.start();
  Client c;
  auto nf = c.fetch(url(server.port(), "/missing"));
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.body, "no such thing\n");
  auto boom = c.fetch(url(server.port(), "/boom"));
  EXPECT_EQ(boom.status, 500);
  EXPECT_EQ(boom.body.find("secret"), std::string::npos);  // internals stay in the log
}

TEST(HttpServer, HeadSendsLengthWithoutBody) {
  Server server(loopback(), basicRoutes());
  server.start();
  RawSocket s(server.port());
  s.send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  // Pipelined: the HEAD answer has no body, so the GET answer follows directly.
  auto got = s.readUntil("hello\n", 3s);
  EXPECT_EQ(got.find("HTTP/1.1 200 OK\r\n"), 0u);
  EXPECT_NE(got.find("Content-Length: 6\r\n\r\nHTTP/1.1 200 OK\r\n"), std::string::npos) << got;
}

TEST(HttpServer, BodyWithinLimitIsEchoedAndOverLimitGets413) {
  auto o = loopback();
  o.body_limit = 1024;
  Server server(o, basicRoutes());
  server.start();
  Client c;
  auto ok = c.fetch(url(server.port(), "/echo"),
                    CurlRequest{.method = "POST", .body = std::string(1024, 'a'), .headers = {"Content-Type: x/y"}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, std::string(1024, 'a'));
  EXPECT_EQ(ok.header("x-content-type-seen"), "x/y");
  auto big = c.fetch(url(server.port(), "/echo"), CurlRequest{.method = "POST", .body = std::string(1025, 'a')});
  EXPECT_EQ(big.code, CURLE_OK);
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.header("connection"), "close");

  // A chunked body has no Content-Length: the limit trips while reading it.
  RawSocket s(server.port());
  std::string chunk(600, 'b');
  s.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n" + chunk + "\r\n258\r\n" +
         chunk + "\r\n0\r\n\r\n");
  auto got = s.readUntil("\r\n\r\n", 3s);
  EXPECT_EQ(got.find("HTTP/1.1 413"), 0u) << got;
}

TEST(HttpServer, LargeBodyWithExpectContinue) {
  Server server(loopback(), basicRoutes());  // default limit: 16 MiB
  server.start();
  Client c;
  std::string body(3 * 1024 * 1024, 'z');  // curl sends Expect: 100-continue above 1 MiB
  auto start = std::chrono::steady_clock::now();
  auto ok = c.fetch(url(server.port(), "/echo"), CurlRequest{.method = "POST", .body = body});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body.size(), body.size());
  // Without the interim 100 response curl stalls a full second (its
  // expect-100 timeout) before sending the body.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms);

  std::string over(16 * 1024 * 1024 + 1, 'z');
  auto big = c.fetch(url(server.port(), "/echo"), CurlRequest{.method = "POST", .body = over});
  EXPECT_EQ(big.status, 413);
}

// Bodies with a Content-Length of 16 KiB and more are read straight into the
// request (no parser copy): whole, in order, split across reads, and with
// the next pipelined requests right behind them on the connection.
TEST(HttpServer, LargeBodiesOfKnownLengthArriveWholeWithPipelinedRequestsBehind) {
  Server server(loopback(), basicRoutes());
  server.start();
  auto body = [](char seed, size_t n) {
    std::string b(n, '\0');
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<char>('a' + (seed + i * 7) % 26);
    return b;
  };
  const std::string b1 = body(1, 100000), b2 = body(2, 16 * 1024), b3 = body(3, 70001);
  auto post = [](const std::string& b) {
    return "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b;
  };
  RawSocket s(server.port());
  std::string all = post(b1) + post(b2) + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" + post(b3);
  const size_t cut = post(b1).size() + post(b2).size() / 2;  // the second body arrives in two sends
  s.send(all.substr(0, cut));
  auto first = s.readUntil(b1, 60s);
  s.send(all.substr(cut));
  auto rest = s.readUntil(b3, 60s);
  std::string got = first + rest;
  size_t p1 = got.find(b1), p2 = got.find(b2, p1 + b1.size()), ph = got.find("hello\n", p2 + b2.size()),
         p3 = got.find(b3, ph);
  EXPECT_NE(p1, std::string::npos);
  EXPECT_NE(p2, std::string::npos);
  EXPECT_NE(ph, std::string::npos);
  EXPECT_NE(p3, std::string::npos);
  EXPECT_EQ(server.connectionCount(), 1u);
}

TEST(HttpServer, KeepAliveReusesTheConnection) {
  Server server(loopback(), basicRoutes());
  server.start();
  Client c;
  auto first = c.fetch(url(server.port(), "/hello"));
  auto second = c.fetch(url(server.port(), "/query?a=1"));
  auto third = c.fetch(url(server.port(), "/nope"));  // a 404 keeps the connection too
  auto fourth = c.fetch(url(server.port(), "/hello"));
  EXPECT_EQ(first.connects, 1);
  EXPECT_EQ(second.connects, 0);
  EXPECT_EQ(third.connects, 0);
  EXPECT_EQ(fourth.connects, 0);
  EXPECT_EQ(fourth.status, 200);
  EXPECT_EQ(server.connectionCount(), 1u);
}

TEST(HttpServer, ConnectionCloseIsHonoured) {
  Server server(loopback(), basicRoutes());
  server.start();
  RawSocket s(server.port());
  s.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto got = s.readUntil("hello\n", 3s);
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(s.waitClosed(3s));
}

TEST(HttpServer, SlowHeaderClientIsDroppedWhileOthersAreServed) {
  metrics::Registry registry;
  auto o = loopback();
  o.metrics = &registry;
  o.name = "api";
  o.header_timeout = 800ms;
  Server server(o, basicRoutes());
  server.start();
  RawSocket slow(server.port());
  slow.send("GET /hello HTTP/1.1\r\nHost: x\r\n");  // header never finished
  auto start = std::chrono::steady_clock::now();
  Client c;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.fetch(url(server.port(), "/hello")).status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 700ms);  // served while the slow one waits
  EXPECT_TRUE(slow.waitClosed(3s));
  EXPECT_EQ(slow.readSome(10ms), "");  // dropped without a response
  EXPECT_GE(std::chrono::steady_clock::now() - start, 700ms);
  auto& dropped = registry.counter("kobs_http_clients_dropped_total",
                                   "Connections the server dropped because the client was too slow.",
                                   {{"server", "api"}, {"reason", "header_timeout"}});
  // The stream's timer closes the socket before the read handler counts it.
  for (int i = 0; i < 100 && dropped.value() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(dropped.value(), 1u);
}

TEST(HttpServer, RegistersItsOwnMetrics) {
  metrics::Registry registry;
  auto o = loopback();
  o.metrics = &registry;
  o.name = "api";
  Server server(o, basicRoutes());
  server.start();
  Client c;
  c.fetch(url(server.port(), "/hello"));
  c.fetch(url(server.port(), "/hello"));
  c.fetch(url(server.port(), "/nope"));
  auto text = registry.renderPrometheus();
  EXPECT_NE(text.find("kobs_http_requests_total{server=\"api\",code=\"2xx\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kobs_http_requests_total{server=\"api\",code=\"4xx\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("kobs_http_request_duration_seconds_count{server=\"api\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("kobs_http_open_connections{server=\"api\"} 1\n"), std::string::npos);
  server.stop();
  EXPECT_NE(registry.renderPrometheus().find("kobs_http_open_connections{server=\"api\"} 0\n"), std::string::npos);
}

TEST(HttpServer, IdleKeepAliveConnectionIsClosedAfterIdleTimeout) {
  auto o = loopback();
  o.idle_timeout = 200ms;
  o.header_timeout = 5s;
  Server server(o, basicRoutes());
  server.start();
  RawSocket s(server.port());
  s.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(s.readUntil("hello\n", 3s).find("200 OK"), std::string::npos);
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(s.waitClosed(3s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
}

TEST(HttpServer, BlockingRouteRunsOffTheIoThread) {
  auto o = loopback();
  o.io_threads = 1;
  o.worker_threads = 1;
  Router r = basicRoutes();
  std::promise<void> entered;
  std::atomic<bool> release{false};
  r.get("/slow", [&](const Request&) {
    entered.set_value();
    while (!release) std::this_thread::sleep_for(5ms);
    return Response::text(200, "slow done");
  }, RouteOptions{.blocking = true});
  Server server(o, std::move(r));
  server.start();
  auto slow = std::async(std::launch::async, [&] { return Client().fetch(url(server.port(), "/slow")); });
  entered.get_future().wait();
  // The only io thread is free while the blocking handler runs.
  auto fast = Client().fetch(url(server.port(), "/hello"), CurlRequest{.timeout_ms = 2000});
  EXPECT_EQ(fast.status, 200);
  release = true;
  auto res = slow.get();
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "slow done");
}

TEST(HttpServer, InlineFirstAnswersOnTheIoThreadElseTheHandlerDoes) {
  auto o = loopback();
  o.io_threads = 1;
  o.worker_threads = 1;
  Router r = basicRoutes();
  std::promise<void> entered;
  std::atomic<bool> release{false};
  r.get("/slow", [&](const Request&) {
    entered.set_value();
    while (!release) std::this_thread::sleep_for(5ms);
    return Response::text(200, "slow done");
  }, RouteOptions{.blocking = true});
  std::atomic<int> handled{0};
  r.get("/page", [&](const Request&) {
    ++handled;
    return Response::text(200, "from the handler");
  }, RouteOptions{.blocking = true, .inline_first = [](const Request& req) -> std::optional<Response> {
    if (req.queryParam("throw")) throw Exception(ErrorCode::kNotFound, "no such page");
    if (req.queryParam("held")) return Response::text(200, "inline");
    return std::nullopt;
  }});
  Server server(o, std::move(r));
  server.start();
  // The only worker is held: what answers now answers on the io thread.
  auto slow = std::async(std::launch::async, [&] { return Client().fetch(url(server.port(), "/slow")); });
  entered.get_future().wait();
  auto held = Client().fetch(url(server.port(), "/page?held=1"), CurlRequest{.timeout_ms = 5000});
  EXPECT_EQ(held.status, 200);
  EXPECT_EQ(held.body, "inline");
  auto thrown = Client().fetch(url(server.port(), "/page?throw=1"), CurlRequest{.timeout_ms = 5000});
  EXPECT_EQ(thrown.status, 404);
  EXPECT_EQ(handled, 0);
  release = true;
  EXPECT_EQ(slow.get().status, 200);
  // Nothing inline: the handler answers, from the pool.
  auto other = Client().fetch(url(server.port(), "/page"));
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.body, "from the handler");
  EXPECT_EQ(handled, 1);
}

TEST(HttpServer, GracefulStopFinishesInFlightRequestsAndClosesIdleOnes) {
  Router r = basicRoutes();
  std::promise<void> entered;
  r.get("/slow", [&](const Request&) {
    entered.set_value();
    std::this_thread::sleep_for(400ms);
    return Response::text(200, "finished");
  }, RouteOptions{.blocking = true});
  Server server(loopback(), std::move(r));
  server.start();
  uint16_t port = server.port();

  RawSocket idle(port);  // keep-alive connection between requests
  idle.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_NE(idle.readUntil("hello\n", 3s).find("200 OK"), std::string::npos);

  auto inflight = std::async(std::launch::async, [&] { return Client().fetch(url(port, "/slow")); });
  entered.get_future().wait();
  auto start = std::chrono::steady_clock::now();
  server.stop(5s);
  auto took = std::chrono::steady_clock::now() - start;

  auto res = inflight.get();
  EXPECT_EQ(res.code, CURLE_OK);
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, "finished");
  EXPECT_EQ(res.header("connection"), "close");
  EXPECT_TRUE(idle.waitClosed(1s));
  EXPECT_LT(took, 3s);  // did not wait for the deadline
  EXPECT_EQ(server.connectionCount(), 0u);
  auto after = Client().fetch(url(port, "/hello"), CurlRequest{.timeout_ms = 1000});
  EXPECT_EQ(after.code, CURLE_COULDNT_CONNECT);
  server.stop();  // idempotent
}

TEST(HttpServer, StopForceClosesAfterDeadline) {
  auto o = loopback();
  o.body_timeout = 30s;
  Server server(o, basicRoutes());
  server.start();
  RawSocket stuck(server.port());  // promises a body it never sends
  stuck.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc");
  std::this_thread::sleep_for(100ms);
  auto start = std::chrono::steady_clock::now();
  server.stop(300ms);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
  EXPECT_TRUE(stuck.waitClosed(1s));
}

TEST(HttpServer, MalformedRequestGets400) {
  Server server(loopback(), basicRoutes());
  server.start();
  RawSocket s(server.port());
  s.send("THIS IS NOT HTTP\r\n\r\n");
  auto got = s.readUntil("\r\n\r\n", 3s);
  EXPECT_EQ(got.find("HTTP/1.1 400"), 0u) << got;
  EXPECT_TRUE(s.waitClosed(3s));
}

}  // namespace
}  // namespace kobs::http
