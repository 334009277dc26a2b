// Serving benchmarks (prints a table):
//   1. event -> SSE latency with N connected clients, the feed woken on commit
//      as in `kobs all` (from "insert returned", i.e. committed, and from
//      "insert started");
//   2. GET /events/{id} (REST :8080 shape) and GET /events?composition_id=
//      (ClickHouse-compatible shape) latency with R rows in krateo_events:
//      for compositions with an event since the feed started (active: their
//      newest page is in memory, serve/events/recent_events.h) and for cold
//      ones (from the store).
// Usage: bench_serve [clients=1000] [events=200] [rows=1000000,10000000]
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <fmt/format.h>

#include "common/logging.h"
#include "serve/chcompat/clickhouse_endpoint.h"
#include "serve/events/events_api.h"
#include "http/http_server.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

using namespace kobs;
using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Stats {
  double p50 = 0, p99 = 0, max = 0;
  size_t n = 0;
};
Stats stats(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.n = v.size();
  s.p50 = v[v.size() / 2];
  s.p99 = v[std::min(v.size() - 1, v.size() * 99 / 100)];
  s.max = v.back();
  return s;
}

int connectTo(uint16_t port, const std::string& target) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  return fd;
}

size_t curlWrite(char* p, size_t s, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, s * n);
  return s * n;
}

std::vector<double> timeGets(uint16_t port, const std::vector<std::string>& paths) {
  CURL* c = curl_easy_init();
  std::vector<double> out;
  std::string body;
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curlWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  for (const auto& p : paths) {
    body.clear();
    curl_easy_setopt(c, CURLOPT_URL, fmt::format("http://127.0.0.1:{}{}", port, p).c_str());
    const auto t0 = Clock::now();
    curl_easy_perform(c);
    out.push_back(ms(Clock::now() - t0));
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) std::cerr << "GET " << p << " -> " << status << "\n";
  }
  curl_easy_cleanup(c);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t clients = argc > 1 ? std::stoul(argv[1]) : 1000;
  const size_t n_events = argc > 2 ? std::stoul(argv[2]) : 200;
  std::vector<uint64_t> row_counts = {1000000};
  if (argc > 3) {
    row_counts.clear();
    std::stringstream ss(argv[3]);
    for (std::string t; std::getline(ss, t, ',');) row_counts.push_back(std::stoull(t));
  }
  rlimit rl{65536, 65536};
  setrlimit(RLIMIT_NOFILE, &rl);
  logging::get("bench")->set_level(spdlog::level::warn);
  spdlog::set_level(spdlog::level::warn);
  curl_global_init(CURL_GLOBAL_ALL);

  const auto dir = std::filesystem::temp_directory_path() / fmt::format("kobs-serve-bench-{}", getpid());
  store::EmbeddedOptions eo;
  eo.data_dir = dir.string();
  eo.reader_connections = 4;
  store::EmbeddedStore store(eo);
  store::schema::SchemaOptions so;
  so.krateo_events = true;
  store::schema::SchemaManager::apply(store, so);

  serve::events::EventReader reader(store, "default", "krateo_events");
  serve::events::EventFeed feed(reader, {.poll_interval = std::chrono::milliseconds(500), .lookback = std::chrono::milliseconds(0)});
  feed.start();
  serve::events::EventsApi api({}, nullptr);
  auto ro = store.openReadOnly(2);
  http::Router router, ch_router;
  api.addRoutes(router);
  api.attach(reader, feed);
  // As in kobs all: :8123 answers active compositions from the API's memory.
  serve::chcompat::ClickHouseEndpoint ch(*ro, {.recent = api.recent()});
  ch.addRoutes(ch_router);
  http::ServerOptions hso;
  hso.listen = "127.0.0.1:0";
  hso.worker_threads = 4;
  http::Server server(hso, std::move(router));
  server.start();
  hso.name = "clickhouse";
  http::Server ch_server(hso, std::move(ch_router));
  ch_server.start();

  std::cout << "| benchmark | setting | p50 ms | p99 ms | max ms | samples |\n|---|---|---|---|---|---|\n";

  // 1. event -> SSE latency.
  {
    std::vector<pollfd> fds;
    for (size_t i = 0; i < clients; ++i) {
      int fd = connectTo(server.port(), "/notifications?topic=krateo");
      if (fd >= 0) fds.push_back({fd, POLLIN, 0});
    }
    for (int i = 0; i < 500 && feed.subscribers() < fds.size(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::vector<Clock::time_point> started(n_events), committed(n_events);
    std::vector<double> from_commit, from_start;
    std::atomic<bool> done{false};
    std::thread reader_thread([&] {
      std::vector<std::string> buf(fds.size());
      size_t received = 0;
      char tmp[65536];
      while (!done || received < fds.size() * n_events) {
        if (::poll(fds.data(), fds.size(), 200) <= 0) {
          if (done) break;
          continue;
        }
        const auto now = Clock::now();
        for (size_t i = 0; i < fds.size(); ++i) {
          if (!(fds[i].revents & POLLIN)) continue;
          ssize_t n = ::read(fds[i].fd, tmp, sizeof tmp);
          if (n <= 0) continue;
          buf[i].append(tmp, size_t(n));
          size_t pos;
          while ((pos = buf[i].find("\"message\":\"ev-")) != std::string::npos) {
            size_t end = buf[i].find('"', pos + 14);
            if (end == std::string::npos) break;
            const size_t k = std::stoul(buf[i].substr(pos + 14, end - pos - 14));
            buf[i].erase(0, end);
            from_commit.push_back(ms(now - committed[k]));
            from_start.push_back(ms(now - started[k]));
            ++received;
          }
        }
      }
    });
    for (size_t k = 0; k < n_events; ++k) {
      started[k] = Clock::now();
      store.execute(fmt::format(
          "INSERT INTO otel_logs (Timestamp, Body, ResourceAttributes, LogAttributes) VALUES (now64(9), "
          "'{{\"type\":\"ADDED\",\"object\":{{\"reason\":\"Bench\",\"message\":\"ev-{}\",\"involvedObject\":{{\"kind\":\"Pod\"}}}}}}', "
          "map('telemetry.source','k8s-events'), map('krateo.io/composition-id','c1'))", k));
      committed[k] = Clock::now();
      feed.wake();  // what the pipeline's commit listener does in kobs all
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
    done = true;
    reader_thread.join();
    for (auto& p : fds) ::close(p.fd);
    auto a = stats(from_commit), b = stats(from_start);
    std::cout << fmt::format("| event→SSE (commit→client) | {} clients, {} events | {:.2f} | {:.2f} | {:.2f} | {} |\n", fds.size(),
                             n_events, a.p50, a.p99, a.max, a.n);
    std::cout << fmt::format("| event→SSE (insert start→client) | {} clients | {:.2f} | {:.2f} | {:.2f} | {} |\n", fds.size(),
                             b.p50, b.p99, b.max, b.n);
  }

  // 2. /events/{id} at scale.
  uint64_t have = 0;
  for (uint64_t rows : row_counts) {
    const uint64_t comps = 1000;
    const auto t0 = Clock::now();
    store.execute(fmt::format(
        "INSERT INTO krateo_events (composition_id, ingest_time, ts, row_key, obj_apiversion, obj_kind, obj_name, "
        "obj_namespace, obj_uid, reason, message, type, source_component, event_time) "
        "SELECT concat('comp-', toString(number % {0})), now64(9) - toIntervalSecond(({1} - number) % 86400 * 30), "
        "now64(9) - toIntervalSecond(({1} - number) % 86400 * 30), sipHash64(number), 'v1', 'Pod', "
        "concat('pod-', toString(number % 5000)), 'ns', toString(generateUUIDv4()), 'Created', "
        "concat('created container number ', toString(number)), 'Normal', 'kubelet', '2026-03-15T10:00:00Z' "
        "FROM numbers({2}, {3})",
        comps, rows, have, rows - have));
    have = rows;
    store.execute("OPTIMIZE TABLE krateo_events FINAL");
    const double load_s = ms(Clock::now() - t0) / 1000;
    // Active compositions: one new event each through otel_logs and the
    // view, published by the feed as in kobs all; their pages load into memory.
    const uint64_t active = 50;
    for (uint64_t k = 0; k < active; ++k)
      store.execute(fmt::format(
          "INSERT INTO otel_logs (Timestamp, Body, ResourceAttributes, LogAttributes) VALUES (now64(9), "
          "'{{\"type\":\"ADDED\",\"object\":{{\"reason\":\"Bench\",\"message\":\"active-{}\",\"involvedObject\":{{\"kind\":\"Pod\"}}}}}}', "
          "map('telemetry.source','k8s-events'), map('krateo.io/composition-id','comp-{}'))", k, k));
    feed.wake();
    for (uint64_t k = 0; k < active; ++k)
      if (!api.recent()->waitLoaded(fmt::format("comp-{}", k), std::chrono::seconds(120)))
        std::cerr << "comp-" << k << " not loaded into memory\n";
    std::mt19937 rng(1);
    std::vector<std::string> rest, chp, hot, chp_hot;
    for (int i = 0; i < 300; ++i) {
      const std::string c = fmt::format("comp-{}", active + rng() % (comps - active));
      rest.push_back("/events/" + c);
      chp.push_back("/events?composition_id=" + c + "&limit=50");
      hot.push_back(fmt::format("/events/comp-{}", rng() % active));
      chp_hot.push_back(fmt::format("/events?composition_id=comp-{}&limit=50", rng() % active));
    }
    const uint64_t hits0 = api.recent()->stats().hits;
    timeGets(server.port(), {rest.begin(), rest.begin() + 20});  // warm
    auto a = stats(timeGets(server.port(), rest));
    timeGets(server.port(), {hot.begin(), hot.begin() + 20});  // warm
    auto m = stats(timeGets(server.port(), hot));
    const uint64_t from_memory = api.recent()->stats().hits - hits0;
    auto b = stats(timeGets(ch_server.port(), chp));
    const uint64_t hits1 = api.recent()->stats().hits;
    timeGets(ch_server.port(), {chp_hot.begin(), chp_hot.begin() + 20});  // warm
    auto bm = stats(timeGets(ch_server.port(), chp_hot));
    const uint64_t ch_from_memory = api.recent()->stats().hits - hits1;
    auto c = stats(timeGets(server.port(), std::vector<std::string>(50, "/events")));
    // Where the time goes: the store query alone (no HTTP, no JSON), and the
    // embedded engine's floor for any query.
    auto timeQuery = [&](auto&& f) {
      std::vector<double> v;
      for (size_t i = 0; i < rest.size(); ++i) {
        const auto q0 = Clock::now();
        f(i);
        v.push_back(ms(Clock::now() - q0));
      }
      return stats(std::move(v));
    };
    auto q = timeQuery([&](size_t i) { reader.newest(rest[i].substr(8), 200, std::nullopt); });
    auto one = timeQuery([&](size_t) { store.query("SELECT 1", "JSONCompactEachRow"); });
    // The cold pages again, last: the first pass runs right after the load,
    // the memory pages' loading and the active rows' inserts, with the
    // engine's background work from them still going.
    auto a2 = stats(timeGets(server.port(), rest));
    std::cout << fmt::format("| EventReader::newest (query only, 200 rows) | {} rows | {:.2f} | {:.2f} | {:.2f} | {} |\n",
                             rows, q.p50, q.p99, q.max, q.n);
    std::cout << fmt::format("| SELECT 1 (engine floor) | {} rows | {:.2f} | {:.2f} | {:.2f} | {} |\n", rows, one.p50,
                             one.p99, one.max, one.n);
    std::cout << fmt::format("| GET :8080 /events/{{id}} (cold: store) | {} rows, {} compositions (load {:.0f} s) | {:.2f} | {:.2f} | {:.2f} | {} |\n",
                             rows, comps, load_s, a.p50, a.p99, a.max, a.n);
    std::cout << fmt::format("| GET :8080 /events/{{id}} (cold: store), again at the end | {} rows | {:.2f} | {:.2f} | {:.2f} | {} |\n",
                             rows, a2.p50, a2.p99, a2.max, a2.n);
    std::cout << fmt::format("| GET :8080 /events/{{id}} (active: memory) | {} rows, {} active, {} of {} from memory | {:.2f} | {:.2f} | {:.2f} | {} |\n",
                             rows, active, from_memory, hot.size() + 20, m.p50, m.p99, m.max, m.n);
    std::cout << fmt::format("| GET :8123 /events?composition_id= (cold: store) | {} rows | {:.2f} | {:.2f} | {:.2f} | {} |\n",
                             rows, b.p50, b.p99, b.max, b.n);
    std::cout << fmt::format("| GET :8123 /events?composition_id= (active: memory) | {} rows, {} of {} from memory | {:.2f} | {:.2f} | {:.2f} | {} |\n",
                             rows, ch_from_memory, chp_hot.size() + 20, bm.p50, bm.p99, bm.max, bm.n);
    std::cout << fmt::format("| GET :8080 /events (all, 200 newest) | {} rows | {:.2f} | {:.2f} | {:.2f} | {} |\n", rows,
                             c.p50, c.p99, c.max, c.n);
  }
  server.stop();
  ch_server.stop();
  feed.stop();
  std::filesystem::remove_all(dir);
  return 0;
}
