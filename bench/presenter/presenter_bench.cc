// events-presenter /events latency (prints a table): the first page and a deep
// page (the cursor after 100 pages of 50) at R rows in krateo_events, rows
// spread over 30 days, 1 in 5 events with a second (newer) row.
// The head (memory) and the store alone are measured side by side.
// Usage: bench_presenter [rows=1000000,10000000] [requests=100]
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "serve/events/event_feed.h"
#include "http/http_server.h"
#include "serve/presenter/presenter_api.h"
#include "serve/presenter/presenter_head.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

using namespace kobs;
using Clock = std::chrono::steady_clock;

namespace {

size_t append(char* d, size_t s, size_t n, void* out) {
  static_cast<std::string*>(out)->append(d, s * n);
  return s * n;
}

struct Getter {
  Getter() : curl(curl_easy_init()) {}
  ~Getter() { curl_easy_cleanup(curl); }
  std::string get(const std::string& url, long* status) {
    std::string body;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &append);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    return body;
  }
  CURL* curl;
};

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, size_t(double(v.size()) * p))];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint64_t> row_counts = {1000000};
  if (argc > 1) {
    row_counts.clear();
    std::stringstream ss(argv[1]);
    for (std::string x; std::getline(ss, x, ',');) row_counts.push_back(std::stoull(x));
  }
  const int requests = argc > 2 ? std::stoi(argv[2]) : 100;
  logging::init({.level = "warn"});
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("bench_presenter_{}", ::getpid());
  store::EmbeddedOptions eo;
  eo.data_dir = dir.string();
  eo.reader_connections = 4;
  store::EmbeddedStore store(eo);
  store::schema::SchemaOptions so;
  so.krateo_events = true;
  store::schema::SchemaManager::apply(store, so);

  // Two APIs over the same rows: one with the in-memory head (what kobs
  // serves), one on the store alone (the fallback below the head's floor).
  serve::presenter::PresenterReader reader(store, "default", "krateo_events", "c1");
  serve::presenter::PresenterReader store_reader(store, "default", "krateo_events", "c1");
  serve::events::EventReader ereader(store, "default", "krateo_events");
  auto serveWith = [&](serve::presenter::PresenterReader& r, serve::events::EventFeed& feed) {
    auto api = std::make_unique<serve::presenter::PresenterApi>(serve::presenter::PresenterApiOptions{}, nullptr);
    http::Router router;
    api->addRoutes(router);
    api->attach(r, feed);
    auto server = std::make_unique<http::Server>(
        http::ServerOptions{.listen = "127.0.0.1:0", .worker_threads = 2}, std::move(router));
    server->start();
    return std::pair(std::move(api), std::move(server));
  };
  std::cout << "| /events page | rows | served by | p50 ms | p99 ms | max ms | n |\n|---|---|---|---|---|---|---|\n";
  uint64_t have = 0;
  for (uint64_t rows : row_counts) {
    const auto t0 = Clock::now();
    // Event e = number % (0.8 rows): the first 20% of events get a second row.
    const uint64_t events = rows * 4 / 5;
    store.execute(fmt::format(
        "INSERT INTO krateo_events (composition_id, ingest_time, ts, row_key, event_uid, obj_apiversion, obj_kind, "
        "obj_name, obj_namespace, obj_uid, reason, message, type, source_component, event_time, cluster_name, raw) "
        "SELECT concat('comp-', toString(number % 1000)), "
        "now64(9) - toIntervalMillisecond(({0} - number) * intDiv(30 * 86400000, {0})), "
        "now64(9) - toIntervalMillisecond(({0} - number) * intDiv(30 * 86400000, {0})), sipHash64(number), "
        "concat('ev-', toString(number % {1})), 'v1', 'Pod', concat('pod-', toString(number % 5000)), 'ns', "
        "toString(generateUUIDv4()), 'Created', concat('created container number ', toString(number)), 'Normal', "
        "'kubelet', '2026-03-15T10:00:00Z', 'c1', concat('{{\"metadata\":{{\"uid\":\"ev-', toString(number % {1}), "
        "'\"}},\"reason\":\"Created\"}}') FROM numbers({2}, {3})",
        rows, events, have, rows - have));
    have = rows;
    store.execute("OPTIMIZE TABLE krateo_events FINAL");
    const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();

    // A kobs starting over this store: the feed, then the head loads.
    serve::events::EventFeed feed(ereader, {});
    feed.start();
    serve::presenter::PresenterHead head(reader, feed, {});
    const auto h0 = Clock::now();
    head.start();
    while (!head.ready()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const double head_s = std::chrono::duration<double>(Clock::now() - h0).count();
    reader.setHead(&head);
    auto [api, server] = serveWith(reader, feed);
    auto [store_api, store_server] = serveWith(store_reader, feed);

    for (auto [name, port] : {std::pair{"head (memory)", server->port()}, std::pair{"store only", store_server->port()}}) {
      const std::string base = fmt::format("http://127.0.0.1:{}/events", port);
      Getter g;
      long status = 0;
      // Walk 100 pages to find the deep cursor.
      std::string cursor;
      for (int p = 0; p < 100; ++p) {
        auto page = nlohmann::json::parse(g.get(base + (cursor.empty() ? "" : "?cursor=" + cursor), &status));
        cursor = page["cursor"].get<std::string>();
        if (cursor.empty()) break;
      }
      auto time = [&](const std::string& url) {
        std::vector<double> v;
        for (int i = 0; i < requests; ++i) {
          const auto s = Clock::now();
          g.get(url, &status);
          v.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
          if (status != 200) std::cerr << "HTTP " << status << "\n";
        }
        return v;
      };
      time(base);  // warm
      auto first = time(base);
      auto deep = time(base + "?cursor=" + cursor);
      std::cout << fmt::format("| first | {} (load {:.0f} s, head {:.1f} s, {} events) | {} | {:.2f} | {:.2f} | {:.2f} | {} |\n",
                               rows, load_s, head_s, head.size(), name, pct(first, 0.5), pct(first, 0.99),
                               pct(first, 1.0), first.size());
      std::cout << fmt::format("| after 100 pages | {} | {} | {:.2f} | {:.2f} | {:.2f} | {} |\n", rows, name,
                               pct(deep, 0.5), pct(deep, 0.99), pct(deep, 1.0), deep.size());
    }
    reader.setHead(nullptr);
    server->stop();
    store_server->stop();
    api->hub().stop();
    store_api->hub().stop();
    head.stop();
    feed.stop();
  }
  std::filesystem::remove_all(dir);
  return 0;
}
