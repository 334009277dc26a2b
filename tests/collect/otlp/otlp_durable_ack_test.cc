// An OTLP 200 (gRPC OK) means the records are durable: the real kobs binary
// is killed with SIGKILL right after each 200 a real client (libcurl over
// OTLP/HTTP JSON; grpc++ over OTLP/gRPC) gets, restarted on
// the same data dir, and at the end every acknowledged record is in the store
// exactly once (and nothing unacknowledged twice). batch.max_age is an hour,
// so before durable acknowledgement (a 200 once the batcher held the records)
// every round lost what it acknowledged.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <future>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "support/child_process.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace kobs::collect::otlp {
namespace {

using namespace std::chrono_literals;
namespace ht = kobs::http::testing;

struct Kobs {
  explicit Kobs(const std::string& data_dir)
      : child({(kobs::testing::binaryDir() / "src/app/kobs").string(), "all", "--data-dir", data_dir, "--set",
               "http.listen=127.0.0.1:0", "--set", "serve.clickhouse_listen=127.0.0.1:0", "--set", "mcp.listen=127.0.0.1:0", "--set",
               "otlp.http_listen=127.0.0.1:0", "--set", "otlp.grpc_listen=127.0.0.1:0", "--set",
               "batch.max_age=1h"}) {
    std::regex otlp(R"(OTLP/HTTP on http://[0-9.]+:([0-9]+))");
    std::regex grpc(R"(OTLP/gRPC on [0-9.]+:([0-9]+))");
    std::regex ch(R"(ClickHouse-compatible endpoint on http://[0-9.]+:([0-9]+))");
    for (std::string line; (otlp_port == 0 || grpc_port == 0 || ch_port == 0) && !(line = child.readLine()).empty();) {
      std::smatch m;
      if (std::regex_search(line, m, otlp)) otlp_port = uint16_t(std::stoi(m[1]));
      if (std::regex_search(line, m, grpc)) grpc_port = uint16_t(std::stoi(m[1]));
      if (std::regex_search(line, m, ch)) ch_port = uint16_t(std::stoi(m[1]));
    }
  }
  kobs::testing::ChildProcess child;
  uint16_t otlp_port = 0;
  uint16_t grpc_port = 0;
  uint16_t ch_port = 0;
};

std::string logsJson(const std::vector<std::string>& bodies) {
  std::string records;
  for (const auto& b : bodies) {
    if (!records.empty()) records += ",";
    records += R"({"timeUnixNano":"1700000000000000000","body":{"stringValue":")" + b + R"("}})";
  }
  return R"({"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"durable-ack"}}]},)"
         R"("scopeLogs":[{"logRecords":[)" + records + "]}]}]}";
}

// Body -> rows stored, read through the :8123 endpoint.
std::map<std::string, int> stored(uint16_t ch_port) {
  ht::Client c;
  ht::CurlRequest q;
  q.method = "POST";
  q.body = "SELECT Body, count() FROM otel_logs WHERE ServiceName = 'durable-ack' GROUP BY Body FORMAT TSV";
  auto r = c.fetch(ht::url(ch_port, "/"), q);
  std::map<std::string, int> out;
  if (r.status != 200) return out;
  size_t pos = 0;
  while (pos < r.body.size()) {
    auto nl = r.body.find('\n', pos);
    auto line = r.body.substr(pos, nl - pos);
    auto tab = line.find('\t');
    if (tab != std::string::npos) out[line.substr(0, tab)] = std::stoi(line.substr(tab + 1));
    pos = nl == std::string::npos ? r.body.size() : nl + 1;
  }
  return out;
}

// One export over OTLP/gRPC; true when answered OK.
bool exportGrpc(uint16_t port, const std::vector<std::string>& bodies) {
  namespace logs = opentelemetry::proto::collector::logs::v1;
  logs::ExportLogsServiceRequest req;
  auto* rl = req.add_resource_logs();
  auto* sn = rl->mutable_resource()->add_attributes();
  sn->set_key("service.name");
  sn->mutable_value()->set_string_value("durable-ack");
  auto* sl = rl->add_scope_logs();
  for (const auto& b : bodies) {
    auto* r = sl->add_log_records();
    r->set_time_unix_nano(1700000000000000000ULL);
    r->mutable_body()->set_string_value(b);
  }
  auto stub = logs::LogsService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 60s);
  logs::ExportLogsServiceResponse resp;
  return stub->Export(&ctx, req, &resp).ok();
}

class OtlpDurableAck : public ::testing::TestWithParam<bool> {};  // true: gRPC

TEST_P(OtlpDurableAck, EveryRecordAcknowledgedBeforeAKill9IsStoredExactlyOnce) {
  const bool use_grpc = GetParam();
  kobs::testing::TempDir dir;
  const std::string data = (dir.path() / "data").string();
  constexpr int kRounds = 6, kSenders = 3, kRecords = 25;
  std::set<std::string> acked, sent;
  for (int round = 0; round < kRounds; ++round) {
    Kobs kobs(data);
    ASSERT_NE(kobs.otlp_port, 0) << "round " << round << ": kobs did not start";
    std::mutex m;
    bool killed = false;
    std::vector<std::future<void>> senders;
    for (int s = 0; s < kSenders; ++s)
      senders.push_back(std::async(std::launch::async, [&, s] {
        std::vector<std::string> bodies;
        for (int i = 0; i < kRecords; ++i)
          bodies.push_back(std::string(use_grpc ? "grpc-" : "http-") + std::to_string(round) + "-" + std::to_string(s) + "-" + std::to_string(i));
        {
          std::lock_guard l(m);
          sent.insert(bodies.begin(), bodies.end());
        }
        bool ok = false;
        if (use_grpc) {
          ok = exportGrpc(kobs.grpc_port, bodies);
        } else {
          ht::Client c;
          ht::CurlRequest q;
          q.method = "POST";
          q.headers = {"Content-Type: application/json"};
          q.body = logsJson(bodies);
          q.timeout_ms = 60000;
          ok = c.fetch(ht::url(kobs.otlp_port, "/v1/logs"), q).status == 200;
        }
        std::lock_guard l(m);
        if (!ok) return;  // cut off by the kill: not acknowledged
        acked.insert(bodies.begin(), bodies.end());
        if (!killed) {  // the first 200 of the round ends the process at once
          kobs.child.kill(SIGKILL);
          killed = true;
        }
      }));
    for (auto& f : senders) f.get();
    ASSERT_TRUE(killed) << "round " << round << ": no request was acknowledged";
    kobs.child.wait();
  }
  ASSERT_GE(acked.size(), size_t(kRounds * kRecords));

  Kobs last(data);  // replays the disk buffer into the store
  ASSERT_NE(last.ch_port, 0);
  std::map<std::string, int> rows;
  const auto until = std::chrono::steady_clock::now() + 120s;
  auto all_there = [&] {
    for (const auto& b : acked)
      if (!rows.count(b)) return false;
    return true;
  };
  while (!all_there() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(200ms);
    rows = stored(last.ch_port);
  }
  size_t missing = 0, doubled = 0;
  for (const auto& b : acked) {
    if (!rows.count(b)) ++missing;
    else if (rows[b] != 1) ++doubled;
  }
  EXPECT_EQ(missing, 0u) << "acknowledged records lost, of " << acked.size();
  EXPECT_EQ(doubled, 0u) << "acknowledged records stored more than once";
  for (const auto& [body, n] : rows) {
    EXPECT_TRUE(sent.count(body)) << body;
    EXPECT_EQ(n, 1) << body << " (unacknowledged ones too: at most once)";
  }
  last.child.kill(SIGTERM);
  last.child.wait();
}

INSTANTIATE_TEST_SUITE_P(Transports, OtlpDurableAck, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Grpc" : "Http"; });

}  // namespace
}  // namespace kobs::collect::otlp
