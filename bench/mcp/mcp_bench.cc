// MCP tools/call run_query latency (prints a table): the seed README's three
// agent queries on R otel_logs rows (and R/10 otel_traces rows), through
//   - kobs's MCP server (`kobs serve`, streamable HTTP /mcp), and
//   - the official mcp-clickhouse (tests/.venv, streamable HTTP, auth off)
//     pointed at the same kobs's ClickHouse-compatible endpoint (:8123),
// in one run, with the RSS of each process; then S sessions opened at once
// on each and one call per session from 16 client threads.
// Usage: bench_mcp [rows=1000000] [requests=50] [sessions=500]
// The rows are generated in the embedded store before kobs starts (INSERT
// ... SELECT FROM numbers), spread over the last two hours.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>
#include <sstream>
#include <array>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "serve/mcp/query_rewrite.h"
#include "store/embedded/embedded_store.h"
#include "store/schema/schema_manager.h"

using namespace kobs;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

const char* kQueries[3][2] = {
    {"pods with most errors (1h)",
     "SELECT ResourceAttributes['k8s.pod.name'] AS pod,\nResourceAttributes['k8s.namespace.name'] AS ns,\ncount() AS "
     "errors\nFROM otel_logs\nWHERE SeverityText IN ('ERROR','FATAL')\nAND Timestamp > now() - INTERVAL 1 HOUR\nGROUP "
     "BY pod, ns ORDER BY errors DESC LIMIT 10"},
    {"one pod's logs and events",
     "SELECT Timestamp, Body, ResourceAttributes['k8s.event.reason'] AS reason\nFROM otel_logs\nWHERE "
     "ResourceAttributes['k8s.pod.name'] = 'my-failing-pod'\nORDER BY Timestamp DESC LIMIT 50"},
    {"slow traces", "SELECT TraceId, SpanName, Duration/1e6 AS duration_ms\nFROM otel_traces\nWHERE ServiceName = "
                    "'my-service' AND Duration > 1000000000\nORDER BY Timestamp DESC LIMIT 20"},
};

size_t append(char* d, size_t s, size_t n, void* out) {
  static_cast<std::string*>(out)->append(d, s * n);
  return s * n;
}
size_t header(char* d, size_t s, size_t n, void* out) {
  std::string line(d, s * n);
  if (line.size() > 15 && strncasecmp(line.c_str(), "mcp-session-id:", 15) == 0) {
    auto v = line.substr(15);
    v.erase(0, v.find_first_not_of(' '));
    v.erase(v.find_last_not_of("\r\n ") + 1);
    *static_cast<std::string*>(out) = v;
  }
  return s * n;
}

// One MCP client session over streamable HTTP (JSON or SSE answers).
struct McpClient {
  explicit McpClient(std::string u) : url(std::move(u)), curl(curl_easy_init()) {}
  ~McpClient() { curl_easy_cleanup(curl); }
  McpClient(const McpClient&) = delete;

  std::optional<json> post(const json& message) {
    std::string body, sid;
    const std::string payload = message.dump();
    curl_slist* h = nullptr;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json, text/event-stream");
    if (!session.empty()) h = curl_slist_append(h, ("Mcp-Session-Id: " + session).c_str());
    if (!version.empty()) h = curl_slist_append(h, ("MCP-Protocol-Version: " + version).c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &append);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &sid);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    const auto rc = curl_easy_perform(curl);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) throw std::runtime_error(fmt::format("{}: {}", url, curl_easy_strerror(rc)));
    if (!sid.empty()) session = sid;
    if (body.empty()) return std::nullopt;
    if (body.front() != '{' && body.front() != '[') {  // SSE: the data line of the message event
      auto at = body.find("data: ");
      if (at == std::string::npos) throw std::runtime_error("no data in " + body.substr(0, 200));
      body = body.substr(at + 6, body.find('\n', at) - at - 6);
    }
    return json::parse(body);
  }
  void initialize() {
    auto r = post({{"jsonrpc", "2.0"}, {"id", 0}, {"method", "initialize"},
                   {"params", {{"protocolVersion", "2025-06-18"}, {"capabilities", json::object()},
                               {"clientInfo", {{"name", "bench"}, {"version", "1"}}}}}});
    version = (*r)["result"]["protocolVersion"];
    post({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  }
  // run_query; throws on a tool error.
  void runQuery(const std::string& sql) {
    auto r = post({{"jsonrpc", "2.0"}, {"id", ++id}, {"method", "tools/call"},
                   {"params", {{"name", "run_query"}, {"arguments", {{"query", sql}}}}}});
    if (!r || !r->contains("result") || (*r)["result"].value("isError", false))
      throw std::runtime_error("run_query failed: " + (r ? r->dump().substr(0, 400) : std::string("no answer")));
  }

  std::string url, session, version;
  int id = 0;
  long timeout_ms = 120000;
  CURL* curl;
};

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, size_t(double(v.size()) * p))];
}

long rssKiB(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A child process with its stdout on a pipe (stderr to a file).
struct Child {
  Child(std::vector<std::string> args, const std::vector<std::string>& env, const std::string& log) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe");
    pid = ::fork();
    if (pid == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      FILE* err = std::fopen(log.c_str(), "w");
      if (err) ::dup2(fileno(err), 2);
      for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    stdout_ = ::fdopen(out[0], "r");
  }
  ~Child() {
    ::kill(pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 200 && ::waitpid(pid, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (::waitpid(pid, &status, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
    if (stdout_) std::fclose(stdout_);
  }
  std::string readLine() {
    char buf[4096];
    return std::fgets(buf, sizeof buf, stdout_) ? std::string(buf) : std::string();
  }
  pid_t pid = -1;
  FILE* stdout_ = nullptr;
};

void fill(const std::filesystem::path& dir, uint64_t rows) {
  store::EmbeddedOptions eo;
  eo.data_dir = dir.string();
  store::EmbeddedStore store(eo);
  store::schema::SchemaOptions so;
  so.krateo_events = true;
  store::schema::SchemaManager::apply(store, so);
  const uint64_t chunk = 1000000;
  for (uint64_t at = 0; at < rows; at += chunk) {
    const uint64_t n = std::min(chunk, rows - at);
    store.execute(fmt::format(
        "INSERT INTO otel_logs (Timestamp, SeverityText, SeverityNumber, ServiceName, Body, ResourceAttributes, "
        "LogAttributes) SELECT now64(9) - toIntervalMillisecond((number * 7919) % 7200000), "
        "multiIf(number % 50 = 0, 'ERROR', number % 10 = 0, 'WARN', 'INFO'), "
        "multiIf(number % 50 = 0, 17, number % 10 = 0, 13, 9), concat('svc-', toString(number % 20)), "
        "concat('request ', toString(number), ' handled in ', toString(number % 1000), ' ms'), "
        "map('k8s.namespace.name', concat('ns-', toString(number % 50)), 'k8s.pod.name', "
        "if(number % 100000 = 7, 'my-failing-pod', concat('pod-', toString(number % 5000))), 'k8s.container.name', "
        "'app'), map('log.iostream', 'stdout') FROM numbers({}, {})",
        at, n));
    store.execute(fmt::format(
        "INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ServiceName, SpanName, Duration, StatusCode) "
        "SELECT now64(9) - toIntervalMillisecond((number * 7919) % 7200000), hex(sipHash128(number)), "
        "hex(sipHash64(number)), if(number % 10 = 0, 'my-service', concat('svc-', toString(number % 20))), "
        "concat('GET /', toString(number % 100)), (number % 2000) * 1000000, "
        "if(number % 100 = 0, 'STATUS_CODE_ERROR', 'STATUS_CODE_UNSET') FROM numbers({}, {})",
        at / 10, n / 10));
  }
}

// One statement on kobs's :8123: the body, and read_rows / read_bytes from
// the JSON format's statistics (the embedded store's X-ClickHouse-Summary
// counts the result's rows, not the rows read; chDB has no query_log).
struct ChAnswer {
  std::string body;
  uint64_t read_rows = 0, read_bytes = 0;
};
ChAnswer chQuery(uint16_t port, const std::string& sql) {
  ChAnswer a;
  CURL* c = curl_easy_init();
  const std::string url = fmt::format("http://127.0.0.1:{}/", port);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, sql.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &a.body);
  long code = 0;
  const auto rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK || code != 200) throw std::runtime_error(fmt::format(":8123 {}: {}", code, a.body.substr(0, 300)));
  if (a.body.front() == '{') {
    auto j = json::parse(a.body);
    if (j.contains("statistics")) {
      a.read_rows = j["statistics"].value("rows_read", uint64_t(0));
      a.read_bytes = j["statistics"].value("bytes_read", uint64_t(0));
    }
  }
  return a;
}

struct Server {
  std::string name;
  std::string url;
  pid_t pid;
};

}  // namespace

int main(int argc, char** argv) {
  const uint64_t rows = argc > 1 ? std::stoull(argv[1]) : 1000000;
  const int requests = argc > 2 ? std::stoi(argv[2]) : 50;
  const int sessions = argc > 3 ? std::stoi(argv[3]) : 500;
  logging::init({.level = "warn"});
  curl_global_init(CURL_GLOBAL_ALL);
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("bench_mcp_{}", ::getpid());
  std::filesystem::create_directories(dir);

  const auto t0 = Clock::now();
  fill(dir / "data", rows);
  const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();

  auto kobs_child = std::make_unique<Child>(std::vector<std::string>{KOBS_BIN, "serve", "--data-dir", (dir / "data").string(), "--set", "http.listen=127.0.0.1:0", "--set",
              "serve.clickhouse_listen=127.0.0.1:0", "--set", "mcp.listen=127.0.0.1:0", "--set",
              "mcp.auth_disabled=true", "--set", "otlp.http_listen=", "--set", "otlp.grpc_listen=", "--set",
              "log.level=warn", "--set", fmt::format("mcp.max_sessions={}", sessions + 100)},
             std::vector<std::string>{}, (dir / "kobs.log").string());
  Child& kobs = *kobs_child;
  uint16_t ch_port = 0, mcp_port = 0;
  const std::regex ch_re(R"(ClickHouse-compatible endpoint on http://[0-9.]+:([0-9]+))");
  const std::regex mcp_re(R"(MCP server on http://[0-9.]+:([0-9]+))");
  for (std::string line; (ch_port == 0 || mcp_port == 0) && !(line = kobs.readLine()).empty();) {
    std::smatch m;
    if (std::regex_search(line, m, ch_re)) ch_port = uint16_t(std::stoi(m[1]));
    if (std::regex_search(line, m, mcp_re)) mcp_port = uint16_t(std::stoi(m[1]));
  }
  if (!ch_port || !mcp_port) {
    std::cerr << "kobs did not start; see " << (dir / "kobs.log") << "\n";
    return 1;
  }
  std::vector<Server> servers = {{"kobs (in-process MCP)", fmt::format("http://127.0.0.1:{}/mcp", mcp_port), kobs.pid}};

  std::unique_ptr<Child> official;
  // The venv scripts/test-setup.sh makes; KOBS_BENCH_PYTHON names another.
  const std::string python = std::getenv("KOBS_BENCH_PYTHON") ? std::getenv("KOBS_BENCH_PYTHON") : KOBS_VENV_PYTHON;
  if (std::filesystem::exists(python)) {
    const uint16_t port = freePort();
    official = std::make_unique<Child>(
        std::vector<std::string>{python, "-m", "mcp_clickhouse.main"},
        std::vector<std::string>{"CLICKHOUSE_HOST=127.0.0.1", fmt::format("CLICKHOUSE_PORT={}", ch_port),
                                 "CLICKHOUSE_USER=default", "CLICKHOUSE_PASSWORD=", "CLICKHOUSE_SECURE=false",
                                 "CLICKHOUSE_MCP_SERVER_TRANSPORT=http", fmt::format("CLICKHOUSE_MCP_BIND_PORT={}", port),
                                 "CLICKHOUSE_MCP_AUTH_DISABLED=true"},
        (dir / "mcp-clickhouse.log").string());
    const std::string url = fmt::format("http://127.0.0.1:{}/mcp", port);
    bool up = false;
    for (int i = 0; i < 600 && !up; ++i) {
      try {
        McpClient probe(url);
        probe.initialize();
        up = true;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    if (up) servers.push_back({"mcp-clickhouse 0.7.0 -> kobs :8123", url, official->pid});
    else std::cerr << "mcp-clickhouse did not start; see " << (dir / "mcp-clickhouse.log") << "\n";
  } else {
    std::cerr << "no " << python << " (scripts/test-setup.sh): mcp-clickhouse is not measured\n";
  }

  std::cout << fmt::format("otel_logs rows: {} (otel_traces {}), generated in {:.1f} s; {} calls per query\n\n", rows,
                           rows / 10, load_s, requests);
  // What the store does per query: as written (what mcp-clickhouse sends to
  // :8123) and as kobs's MCP runs it (serve/mcp/query_rewrite.h, with the
  // accelerators kobs reads from the table), from the result's statistics.
  {
    std::vector<std::array<std::string, 3>> acc_rows;
    auto acc_answer = chQuery(ch_port, serve::mcp::acceleratorsSql("default", "otel_logs") + " FORMAT JSONCompactEachRow");
    std::istringstream acc_in(acc_answer.body);
    for (std::string line; std::getline(acc_in, line);)
      if (!line.empty()) {
        auto j = json::parse(line);
        acc_rows.push_back({j[0], j[1], j[2]});
      }
    const auto acc = serve::mcp::parseAccelerators("default", "otel_logs", acc_rows);
    std::cout << "| query | as written: read_rows | read MiB | as kobs MCP runs it: read_rows | read MiB | rewritten |\n"
                 "|---|---|---|---|---|---|\n";
    for (const auto& q : kQueries) {
      const auto rewritten = serve::mcp::rewriteForAccelerators(q[1], acc);
      const auto a = chQuery(ch_port, std::string(q[1]) + "\nFORMAT JSON");
      const auto b = chQuery(ch_port, rewritten.value_or(q[1]) + "\nFORMAT JSON");
      std::cout << fmt::format("| {} | {} | {:.1f} | {} | {:.1f} | {} |\n", q[0], a.read_rows, a.read_bytes / 1048576.0,
                               b.read_rows, b.read_bytes / 1048576.0, rewritten ? "yes" : "no");
    }
    std::cout << "\n" << std::flush;
  }
  std::cout << "| query | server | p50 ms | p99 ms | max ms | RSS MiB after |\n|---|---|---|---|---|---|\n" << std::flush;
  std::vector<std::vector<double>> p50(3);
  // Calls alternate between the servers, so a change in the machine's load
  // (it is shared) falls on both alike.
  for (int q = 0; q < 3; ++q) {
    std::vector<std::unique_ptr<McpClient>> clients;
    std::vector<std::vector<double>> ms(servers.size());
    for (const auto& s : servers) {
      clients.push_back(std::make_unique<McpClient>(s.url));
      clients.back()->initialize();
      for (int i = 0; i < 3; ++i) clients.back()->runQuery(kQueries[q][1]);  // warm
    }
    for (int i = 0; i < requests; ++i)
      for (size_t k = 0; k < servers.size(); ++k) {
        const auto a = Clock::now();
        clients[k]->runQuery(kQueries[q][1]);
        ms[k].push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
      }
    for (size_t k = 0; k < servers.size(); ++k) {
      p50[q].push_back(pct(ms[k], 0.5));
      std::cout << fmt::format("| {} | {} | {:.1f} | {:.1f} | {:.1f} | {:.0f} |\n", kQueries[q][0], servers[k].name,
                               pct(ms[k], 0.5), pct(ms[k], 0.99), pct(ms[k], 1.0), rssKiB(servers[k].pid) / 1024.0)
                << std::flush;
    }
  }
  if (servers.size() > 1) {
    std::cout << "\nlatency ratio mcp-clickhouse / kobs (p50): ";
    for (int q = 0; q < 3; ++q) std::cout << fmt::format("{}{:.1f}x", q ? ", " : "", p50[q][1] / p50[q][0]);
    std::cout << "\n";
  }

  std::cout << fmt::format("\n{} sessions open at once, then one run_query (slow traces) per session from 16 threads:\n\n",
                           sessions);
  std::cout << "| server | RSS MiB before | sessions opened | RSS MiB with sessions | p50 ms | p99 ms | failed calls "
               "|\n|---|---|---|---|---|---|---|\n"
            << std::flush;
  for (const auto& s : servers) {
    const long before = rssKiB(s.pid);
    std::vector<std::unique_ptr<McpClient>> clients;
    // A server that stops answering is given 15 s per request, and up to 10 failed initializes.
    int init_failed = 0;
    for (int i = 0; i < sessions && init_failed < 10; ++i) {
      auto c = std::make_unique<McpClient>(s.url);
      c->timeout_ms = 15000;
      try {
        c->initialize();
        clients.push_back(std::move(c));
      } catch (const std::exception&) {
        ++init_failed;
      }
    }
    const long with = rssKiB(s.pid);
    std::vector<std::vector<double>> per(16);
    std::atomic<int> next{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t)
      threads.emplace_back([&, t] {
        for (int i; (i = next++) < int(clients.size()) && failed < 32;) {
          const auto a = Clock::now();
          try {
            clients[size_t(i)]->runQuery(kQueries[2][1]);
          } catch (const std::exception&) {
            ++failed;
          }
          per[size_t(t)].push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
        }
      });
    for (auto& th : threads) th.join();
    std::vector<double> all;
    for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
    std::cout << fmt::format("| {} | {:.0f} | {}{} | {:.0f} | {:.1f} | {:.1f} | {}{} |\n", s.name, before / 1024.0,
                             clients.size(), init_failed ? fmt::format(" ({} initializes failed)", init_failed) : "",
                             with / 1024.0, pct(all, 0.5), pct(all, 0.99), failed.load(),
                             failed >= 32 ? " (stopped)" : "")
              << std::flush;
  }
  official.reset();
  kobs_child.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
