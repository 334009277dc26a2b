// Deferred responses: a handler answers later, from another thread, without
// holding an io or worker thread while it waits.
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "common/error.h"
#include "http/http_server.h"
#include "support/http_client.h"

namespace kobs::http {
namespace {

using namespace std::chrono_literals;
using testing::Client;
using testing::CurlRequest;
using testing::url;

// Responders parked by the handler until the test releases them.
struct Parked {
  std::mutex m;
  std::condition_variable cv;
  std::vector<Responder> waiting;

  void park(Responder r) {
    std::lock_guard l(m);
    waiting.push_back(std::move(r));
    cv.notify_all();
  }
  bool waitFor(size_t n) {
    std::unique_lock l(m);
    return cv.wait_for(l, 60s, [&] { return waiting.size() >= n; });
  }
  std::vector<Responder> take() {
    std::lock_guard l(m);
    return std::move(waiting);
  }
};

ServerOptions oneOfEach() {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.io_threads = 1;
  o.worker_threads = 1;
  return o;
}

TEST(HttpDeferred, AnswersFromAnotherThreadWhileOtherRequestsAreServed) {
  Parked parked;
  Router r;
  r.addDeferred("POST", "/later", [&](const Request& req, Responder resp) {
    if (req.body == "throw") throw Exception(ErrorCode::kBadInput, "refused before parking");
    parked.park(std::move(resp));
  }, {.blocking = true});
  r.get("/now", [](const Request&) { return Response::text(200, "now\n"); }, {.blocking = true});
  Server server(oneOfEach(), std::move(r));
  server.start();

  // Two deferred requests wait, with one io thread and one worker: both are
  // free, so a plain request is still answered.
  auto first = std::async(std::launch::async, [&] {
    Client c;
    CurlRequest q;
    q.method = "POST";
    q.body = "a";
    q.timeout_ms = 60000;
    return c.fetch(url(server.port(), "/later"), q);
  });
  auto second = std::async(std::launch::async, [&] {
    Client c;
    CurlRequest q;
    q.method = "POST";
    q.body = "b";
    q.timeout_ms = 60000;
    return c.fetch(url(server.port(), "/later"), q);
  });
  ASSERT_TRUE(parked.waitFor(2));
  Client c;
  auto now = c.fetch(url(server.port(), "/now"));
  EXPECT_EQ(now.status, 200);
  EXPECT_EQ(first.wait_for(0ms), std::future_status::timeout) << "answered before the handler's answer";

  auto waiting = parked.take();
  std::thread answerer([&] {
    for (auto& w : waiting) {
      Response res = Response::text(202, "done\n");
      w.send(res);
      w.send(Response::text(500, "second answer is ignored\n"));
    }
  });
  answerer.join();
  auto a = first.get(), b = second.get();
  EXPECT_EQ(a.status, 202);
  EXPECT_EQ(a.body, "done\n");
  EXPECT_EQ(b.status, 202);

  // A handler that throws before answering answers by its error code.
  CurlRequest q;
  q.method = "POST";
  q.body = "throw";
  auto thrown = c.fetch(url(server.port(), "/later"), q);
  EXPECT_EQ(thrown.status, httpStatusFor(ErrorCode::kBadInput));
}

TEST(HttpDeferred, ARequestWhoseResponderIsDroppedGets500) {
  Router r;
  r.addDeferred("POST", "/lost", [](const Request&, Responder) {});
  Server server(oneOfEach(), std::move(r));
  server.start();
  Client c;
  CurlRequest q;
  q.method = "POST";
  auto res = c.fetch(url(server.port(), "/lost"), q);
  EXPECT_EQ(res.status, 500);
  // The connection is still usable afterwards.
  res = c.fetch(url(server.port(), "/lost"), q);
  EXPECT_EQ(res.status, 500);
}

TEST(HttpDeferred, StopDoesNotWaitForeverAndALateAnswerGoesNowhere) {
  Parked parked;
  Router r;
  r.addDeferred("POST", "/later", [&](const Request&, Responder resp) { parked.park(std::move(resp)); });
  std::optional<Server> server;
  server.emplace(oneOfEach(), std::move(r));
  server->start();
  auto pending = std::async(std::launch::async, [port = server->port()] {
    Client c;
    CurlRequest q;
    q.method = "POST";
    q.timeout_ms = 60000;
    return c.fetch(url(port, "/later"), q);
  });
  ASSERT_TRUE(parked.waitFor(1));
  server->stop(200ms);  // the deadline passes: the connection is closed
  server.reset();       // and the server is gone
  auto late = parked.take();
  late[0].send(Response::text(200, "too late\n"));  // must not touch the dead server
  auto res = pending.get();
  EXPECT_NE(res.status, 200);
}

}  // namespace
}  // namespace kobs::http
