// otlp_loadgen: the one OTLP/HTTP protobuf load generator of the side-by-side
// benchmark, so the Collector and kobs get byte-identical requests.
//
// Requests are built once before the clock starts (16 distinct bodies, so
// neither side sees one body over and over), then sent as fast as the target
// accepts them over --connections keep-alive connections. A refused request
// (429/503, or a connection error) is sent again after a short pause, so
// exactly --records records are accepted in the end, as a well-behaved OTLP
// exporter would do.
//
//   otlp_loadgen --url http://127.0.0.1:4318 --signal logs|traces --records N
//                [--batch 1000] [--connections 4] [--rate records/s]
// With --rate, requests are spread evenly in time (all connections together).
// Prints one JSON line: accepted records, requests, retries, seconds.
//
// Threading: one thread per connection, each with its own curl handle.
#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace pb = opentelemetry::proto;

namespace {

void attrs(google::protobuf::RepeatedPtrField<pb::common::v1::KeyValue>* a, int n, const char* prefix, int salt) {
  for (int i = 0; i < n; ++i) {
    auto* kv = a->Add();
    kv->set_key(std::string(prefix) + ".attr_" + std::to_string(i));
    if (i % 3 == 2) kv->mutable_value()->set_int_value(1000 + i + salt);
    else kv->mutable_value()->set_string_value("value-" + std::to_string(i) + "-" + std::to_string(salt % 97) + "-abcdefghij");
  }
}

void resource(pb::resource::v1::Resource* r, int variant) {
  auto* sn = r->add_attributes();
  sn->set_key("service.name");
  sn->mutable_value()->set_string_value("checkout-" + std::to_string(variant % 4));
  attrs(r->mutable_attributes(), 4, "k8s", variant);
}

// Logs: 300-byte body, 10 attributes, trace context, INFO.
std::string logsRequest(size_t n, int variant, uint64_t t0) {
  pb::collector::logs::v1::ExportLogsServiceRequest req;
  auto* rl = req.add_resource_logs();
  resource(rl->mutable_resource(), variant);
  auto* sl = rl->add_scope_logs();
  sl->mutable_scope()->set_name("io.opentelemetry.bench");
  for (size_t i = 0; i < n; ++i) {
    auto* lr = sl->add_log_records();
    lr->set_time_unix_nano(t0 + i * 1000);
    lr->set_observed_time_unix_nano(t0 + i * 1000);
    lr->set_severity_number(pb::logs::v1::SEVERITY_NUMBER_INFO);
    lr->set_severity_text("INFO");
    std::string body(300, char('a' + (i + variant) % 26));
    body.replace(0, 12, "request " + std::to_string(i % 10000));
    lr->mutable_body()->set_string_value(body);
    attrs(lr->mutable_attributes(), 10, "log", int(i) + variant);
    lr->set_trace_id(std::string(16, char(i + variant + 1)));
    lr->set_span_id(std::string(8, char(i + 2)));
  }
  return req.SerializeAsString();
}

// Spans: 10 attributes, 2 events of 2 attributes, server kind, status OK.
std::string spansRequest(size_t n, int variant, uint64_t t0) {
  pb::collector::trace::v1::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  resource(rs->mutable_resource(), variant);
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("io.opentelemetry.bench");
  for (size_t i = 0; i < n; ++i) {
    auto* s = ss->add_spans();
    s->set_trace_id(std::string(16, char(i + variant + 1)));
    s->set_span_id(std::string(8, char(i + 2)));
    s->set_parent_span_id(std::string(8, char(i + 3)));
    s->set_name("GET /api/orders/{id}");
    s->set_kind(pb::trace::v1::Span::SPAN_KIND_SERVER);
    s->set_start_time_unix_nano(t0 + i * 1000);
    s->set_end_time_unix_nano(t0 + i * 1000 + 1500000);
    attrs(s->mutable_attributes(), 10, "http", int(i) + variant);
    for (int e = 0; e < 2; ++e) {
      auto* ev = s->add_events();
      ev->set_time_unix_nano(t0 + i * 1000 + 100 * e);
      ev->set_name(e ? "retry" : "cache miss");
      attrs(ev->mutable_attributes(), 2, "event", e);
    }
    s->mutable_status()->set_code(pb::trace::v1::Status::STATUS_CODE_OK);
  }
  return req.SerializeAsString();
}

[[noreturn]] void usage() {
  std::cerr << "usage: otlp_loadgen --url http://host:port --signal logs|traces --records N [--batch 1000] "
               "[--connections 4] [--rate records/s]\n";
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string url, signal = "logs";
  uint64_t records = 0, batch = 1000;
  int connections = 4;
  double rate = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage();
    std::string v = argv[++i];
    if (a == "--url") url = v;
    else if (a == "--signal") signal = v;
    else if (a == "--records") records = std::stoull(v);
    else if (a == "--batch") batch = std::stoull(v);
    else if (a == "--connections") connections = std::stoi(v);
    else if (a == "--rate") rate = std::stod(v);
    else usage();
  }
  if (url.empty() || records == 0 || batch == 0 || (signal != "logs" && signal != "traces")) usage();
  if (records % batch) {
    std::cerr << "otlp_loadgen: --records must be a multiple of --batch\n";
    return 2;
  }
  const std::string endpoint = url + (signal == "logs" ? "/v1/logs" : "/v1/traces");
  const uint64_t t0 =
      uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  std::vector<std::string> bodies;
  for (int v = 0; v < 16; ++v)
    bodies.push_back(signal == "logs" ? logsRequest(batch, v, t0 + uint64_t(v) * 1000000000ull)
                                      : spansRequest(batch, v, t0 + uint64_t(v) * 1000000000ull));

  curl_global_init(CURL_GLOBAL_DEFAULT);
  const uint64_t requests = records / batch;
  std::atomic<uint64_t> next{0}, accepted{0}, retries{0}, bytes{0};
  std::atomic<bool> failed{false};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&] {
      CURL* h = curl_easy_init();
      curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/x-protobuf");
      headers = curl_slist_append(headers, "Expect:");
      curl_easy_setopt(h, CURLOPT_URL, endpoint.c_str());
      curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
      curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, +[](char*, size_t s, size_t n, void*) { return s * n; });
      for (uint64_t i; (i = next.fetch_add(1)) < requests;) {
        if (rate > 0) std::this_thread::sleep_until(start + std::chrono::duration<double>(double(i * batch) / rate));
        const std::string& body = bodies[i % bodies.size()];
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
        for (int attempt = 0;; ++attempt) {
          long status = 0;
          CURLcode rc = curl_easy_perform(h);
          if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
          if (status == 200) break;
          if (rc == CURLE_OK && status != 429 && status != 503) {
            std::cerr << "otlp_loadgen: " << endpoint << " answered " << status << "\n";
            failed = true;
            break;
          }
          if (attempt > 6000) {
            std::cerr << "otlp_loadgen: giving up on a request after 60 s of refusals\n";
            failed = true;
            break;
          }
          retries.fetch_add(1);
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        if (failed) break;
        accepted.fetch_add(batch);
        bytes.fetch_add(body.size());
      }
      curl_slist_free_all(headers);
      curl_easy_cleanup(h);
    });
  }
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"signal\":\"%s\",\"accepted\":%llu,\"requests\":%llu,\"retries\":%llu,\"bytes\":%llu,\"seconds\":%.3f}\n",
              signal.c_str(), (unsigned long long)accepted.load(), (unsigned long long)requests,
              (unsigned long long)retries.load(), (unsigned long long)bytes.load(), secs);
  return failed ? 1 : 0;
}
