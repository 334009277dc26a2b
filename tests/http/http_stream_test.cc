// Streaming responses (the base of SSE /notifications).
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "support/http_client.h"
#include "http/http_server.h"

namespace kobs::http {
namespace {

using namespace std::chrono_literals;
using testing::RawSocket;
using testing::url;

// Collects the writers the server hands out, in connection order.
class Streams {
 public:
  void add(std::shared_ptr<StreamWriter> w) {
    std::lock_guard lock(mutex_);
    writers_.push_back(std::move(w));
    cv_.notify_all();
  }
  std::shared_ptr<StreamWriter> wait(size_t index) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, 5s, [&] { return writers_.size() > index; })) return nullptr;
    return writers_[index];
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<StreamWriter>> writers_;
};

// Streams bytes the curl client receives, so the test can wait on them.
class Received {
 public:
  void append(const char* data, size_t n) {
    std::lock_guard lock(mutex_);
    text_.append(data, n);
    cv_.notify_all();
  }
  bool waitFor(const std::string& needle, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return text_.find(needle) != std::string::npos; });
  }
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::string text_;
};

struct CurlStream {
  Received received;
  std::string headers;
  CURLcode code = CURLE_OK;
  long status = 0;
};

size_t onBody(char* data, size_t size, size_t n, void* user) {
  static_cast<Received*>(user)->append(data, size * n);
  return size * n;
}
size_t onHeader(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// Runs a curl GET until the server ends the stream (or 20 s pass).
std::future<void> startCurlStream(CurlStream& s, const std::string& u) {
  return std::async(std::launch::async, [&s, u] {
    CURL* c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, u.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s.received);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s.headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    s.code = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s.status);
    curl_easy_cleanup(c);
  });
}

Router streamRoutes(Streams& streams) {
  Router r;
  r.get("/stream", [&](const Request&) {
    Response res = Response::stream("text/event-stream", [&](std::shared_ptr<StreamWriter> w) { streams.add(w); },
                                    ": connected\n\n");
    res.headers.set("Cache-Control", "no-cache");
    return res;
  });
  r.get("/reject", [](const Request&) { return Response::text(401, "no"); });
  r.get("/hello", [](const Request&) { return Response::text(200, "hello"); });
  return r;
}

ServerOptions loopback() {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  return o;
}

TEST(HttpStream, FramesAreFlushedAsTheyAreWrittenAndCloseEndsTheBody) {
  Streams streams;
  Server server(loopback(), streamRoutes(streams));
  server.start();
  CurlStream client;
  auto done = startCurlStream(client, url(server.port(), "/stream"));
  auto w = streams.wait(0);
  ASSERT_TRUE(w);
  std::atomic<int> closed_calls{0};
  w->onClose([&] { ++closed_calls; });

  // The stream never ends on its own: each frame must arrive while it is open.
  ASSERT_TRUE(client.received.waitFor(": connected\n\n", 3s));
  EXPECT_TRUE(w->write("event: krateo\ndata: {\"n\":1}\n\n"));
  ASSERT_TRUE(client.received.waitFor("data: {\"n\":1}\n\n", 3s)) << client.received.text();
  EXPECT_TRUE(w->write("event: krateo\ndata: {\"n\":2}\n\n"));
  ASSERT_TRUE(client.received.waitFor("data: {\"n\":2}\n\n", 3s));
  EXPECT_EQ(closed_calls, 0);

  // From another thread, many small frames: all arrive, in order.
  std::thread producer([&] {
    for (int i = 0; i < 200; ++i) w->write("data: " + std::to_string(i) + "\n\n");
  });
  producer.join();
  ASSERT_TRUE(client.received.waitFor("data: 199\n\n", 3s));
  auto text = client.received.text();
  EXPECT_LT(text.find("data: 10\n\n"), text.find("data: 11\n\n"));

  w->close();
  ASSERT_EQ(done.wait_for(5s), std::future_status::ready);
  done.get();
  EXPECT_EQ(client.code, CURLE_OK);  // a clean end of the chunked body
  EXPECT_EQ(client.status, 200);
  EXPECT_NE(client.headers.find("Transfer-Encoding: chunked"), std::string::npos) << client.headers;
  EXPECT_NE(client.headers.find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_NE(client.headers.find("Cache-Control: no-cache"), std::string::npos);
  EXPECT_NE(client.headers.find("Connection: keep-alive"), std::string::npos);
  EXPECT_EQ(client.headers.find("Content-Length"), std::string::npos);
  // The client can see the last chunk before the server's write completes.
  for (int i = 0; i < 300 && closed_calls == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(closed_calls, 1);
  EXPECT_FALSE(w->write("late\n\n"));
  EXPECT_EQ(w->closeReason(), StreamWriter::CloseReason::kClosedByServer);
}

TEST(HttpStream, RawWireFormatIsChunked) {
  Streams streams;
  Server server(loopback(), streamRoutes(streams));
  server.start();
  RawSocket s(server.port());
  s.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  auto head = s.readUntil(": connected\n\n\r\n", 3s);
  EXPECT_EQ(head.find("HTTP/1.1 200 OK\r\n"), 0u);
  EXPECT_NE(head.find("\r\n\r\nd\r\n: connected\n\n\r\n"), std::string::npos) << head;
  auto w = streams.wait(0);
  ASSERT_TRUE(w);
  w->write("data: x\n\n");
  EXPECT_EQ(s.readUntil("\r\n", 3s).substr(0, 14), "9\r\ndata: x\n\n\r\n");
}

TEST(HttpStream, Http10ClientGetsRawBytesAndCloseEndsTheBody) {
  Streams streams;
  Server server(loopback(), streamRoutes(streams));
  server.start();
  RawSocket s(server.port());
  s.send("GET /stream HTTP/1.0\r\n\r\n");
  auto head = s.readUntil(": connected\n\n", 3s);
  EXPECT_EQ(head.find("HTTP/1.0 200 OK\r\n"), 0u) << head;
  EXPECT_EQ(head.find("chunked"), std::string::npos);
  EXPECT_NE(head.find("\r\n\r\n: connected\n\n"), std::string::npos);
  auto w = streams.wait(0);
  ASSERT_TRUE(w);
  w->write("data: x\n\n");
  EXPECT_EQ(s.readUntil("\n\n", 3s), "data: x\n\n");
  w->close();
  EXPECT_TRUE(s.waitClosed(3s));
}

TEST(HttpStream, ClientDisconnectRunsOnClose) {
  Streams streams;
  Server server(loopback(), streamRoutes(streams));
  server.start();
  auto s = std::make_unique<RawSocket>(server.port());
  s->send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  auto w = streams.wait(0);
  ASSERT_TRUE(w);
  std::promise<void> closed;
  w->onClose([&] { closed.set_value(); });
  s.reset();  // the browser tab goes away
  ASSERT_EQ(closed.get_future().wait_for(3s), std::future_status::ready);
  EXPECT_EQ(w->closeReason(), StreamWriter::CloseReason::kClientGone);
  EXPECT_FALSE(w->write("data: x\n\n"));
  // onClose registered after the end runs at once.
  bool late = false;
  w->onClose([&] { late = true; });
  EXPECT_TRUE(late);
}

TEST(HttpStream, NonReadingClientOverflowsAndIsDroppedWhileAnotherKeepsReceiving) {
  metrics::Registry registry;
  auto o = loopback();
  o.metrics = &registry;
  o.stream_limits.max_queued_bytes = 256 * 1024;
  o.stream_limits.max_queued_frames = 64;
  Streams streams;
  Server server(o, streamRoutes(streams));
  server.start();

  RawSocket stalled(server.port(), 4096);  // tiny receive buffer, never read
  stalled.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  auto slow = streams.wait(0);
  ASSERT_TRUE(slow);
  std::promise<void> slow_closed;
  slow->onClose([&] { slow_closed.set_value(); });

  CurlStream reader;
  auto done = startCurlStream(reader, url(server.port(), "/stream"));
  auto fast = streams.wait(1);
  ASSERT_TRUE(fast);

  // Write to both until the stalled one overflows: kernel buffers fill first,
  // then the bounded queue. The producer never blocks.
  std::string frame = "data: " + std::string(16 * 1024, 'x') + "\n\n";
  int written = 0;
  bool overflowed = false;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20000 && !overflowed; ++i) {
    if (!slow->write(frame)) overflowed = true;
    else ++written;
    if (i % 8 == 0) std::this_thread::sleep_for(1ms);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
  ASSERT_TRUE(overflowed) << "wrote " << written << " frames without overflow";
  ASSERT_EQ(slow_closed.get_future().wait_for(3s), std::future_status::ready);
  EXPECT_EQ(slow->closeReason(), StreamWriter::CloseReason::kOverflow);
  EXPECT_FALSE(slow->write("data: more\n\n"));
  EXPECT_TRUE(stalled.waitClosed(5s));  // after draining what the kernel buffered

  for (int i = 0; i < 50; ++i) EXPECT_TRUE(fast->write("data: fast " + std::to_string(i) + "\n\n"));
  EXPECT_TRUE(reader.received.waitFor("data: fast 49\n\n", 3s));
  EXPECT_FALSE(fast->closed());
  auto text = registry.renderPrometheus();
  EXPECT_NE(text.find("kobs_http_clients_dropped_total{server=\"http\",reason=\"stream_overflow\"} 1\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("kobs_http_open_streams{server=\"http\"} 1\n"), std::string::npos);
  fast->close();
  done.get();
  EXPECT_EQ(reader.code, CURLE_OK);
}

TEST(HttpStream, StreamHandlerMayRejectWithAnOrdinaryResponse) {
  Streams streams;
  Server server(loopback(), streamRoutes(streams));
  server.start();
  testing::Client c;
  auto res = c.fetch(url(server.port(), "/reject"));
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(res.body, "no");
}

TEST(HttpStream, ServerStopClosesStreamsAndRunsOnClose) {
  Streams streams;
  Server server(loopback(), streamRoutes(streams));
  server.start();
  CurlStream client;
  auto done = startCurlStream(client, url(server.port(), "/stream"));
  auto w = streams.wait(0);
  ASSERT_TRUE(w);
  std::atomic<bool> closed{false};
  w->onClose([&] { closed = true; });
  ASSERT_TRUE(client.received.waitFor(": connected", 3s));
  auto start = std::chrono::steady_clock::now();
  server.stop(5s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_TRUE(closed);
  EXPECT_EQ(w->closeReason(), StreamWriter::CloseReason::kServerStopping);
  ASSERT_EQ(done.wait_for(5s), std::future_status::ready);
}

TEST(HttpStream, BlockingStreamRouteCanReplayBeforeLiveFrames) {
  Router r;
  Streams streams;
  r.get("/replay", [&](const Request& req) {
    std::string replay = "id: 1\ndata: old\n\n";  // e.g. rows read from the store
    return Response::stream("text/event-stream", [&](std::shared_ptr<StreamWriter> w) { streams.add(w); },
                            ": connected\n\n" + replay);
  }, RouteOptions{.blocking = true});
  Server server(loopback(), std::move(r));
  server.start();
  CurlStream client;
  auto done = startCurlStream(client, url(server.port(), "/replay"));
  auto w = streams.wait(0);
  ASSERT_TRUE(w);
  w->write("id: 2\ndata: new\n\n");
  ASSERT_TRUE(client.received.waitFor("data: new", 3s));
  EXPECT_EQ(client.received.text(), ": connected\n\nid: 1\ndata: old\n\nid: 2\ndata: new\n\n");
  w->close();
  done.get();
}

}  // namespace
}  // namespace kobs::http
