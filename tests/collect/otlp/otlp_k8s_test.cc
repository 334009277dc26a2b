// OTLP Kubernetes enrichment (otlp.k8s_attributes) against a real
// kube-apiserver (tests/support/real_apiserver): pods get IPs through the
// status subresource (there is no kubelet), requests come from loopback
// aliases (127.0.0.x are distinct source addresses on Linux), and the rows in
// the embedded store carry the sending pod's attributes: by source IP over
// the wire reader (protobuf logs and spans) and the generated parser (JSON), by k8s.pod.uid
// in the resource, nothing from an IP no pod holds, and nothing from a
// deleted pod once the grace period has passed.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include "collect/collect_test_util.h"
#include "collect/otlp/otlp_fixture.h"
#include "collect/otlp/otlp_k8s.h"
#include "k8s/cluster_config.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "support/real_apiserver.h"

KOBS_REAL_APISERVER_ENVIRONMENT();

namespace kobs::collect::otlp {
namespace {

namespace pb = opentelemetry::proto;
using nlohmann::json;
using store::schema::TableKind;

kobs::testing::RealApiServer& server() { return kobs::testing::RealApiServerEnvironment::server(); }

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

// POSTs from `source` (a local address the socket binds to); the HTTP status.
long postFrom(const std::string& source, const std::string& url, const std::string& body, bool json_body) {
  CURL* curl = curl_easy_init();
  curl_slist* headers = curl_slist_append(
      nullptr, json_body ? "Content-Type: application/json" : "Content-Type: application/x-protobuf");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_INTERFACE, source.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, long(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 60000L);
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return status;
}

std::string logsBody(const std::string& marker, const std::string& pod_uid = "") {
  pb::collector::logs::v1::ExportLogsServiceRequest req;
  auto* rl = req.add_resource_logs();
  auto* a = rl->mutable_resource()->add_attributes();
  a->set_key("service.name");
  a->mutable_value()->set_string_value("shop");
  if (!pod_uid.empty()) {
    auto* u = rl->mutable_resource()->add_attributes();
    u->set_key("k8s.pod.uid");
    u->mutable_value()->set_string_value(pod_uid);
  }
  auto* lr = rl->add_scope_logs()->add_log_records();
  lr->set_time_unix_nano(1764000000000000000ull);
  lr->mutable_body()->set_string_value(marker);
  return req.SerializeAsString();
}

std::string spansBody(const std::string& name) {
  pb::collector::trace::v1::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto* a = rs->mutable_resource()->add_attributes();
  a->set_key("service.name");
  a->mutable_value()->set_string_value("shop");
  auto* s = rs->add_scope_spans()->add_spans();
  s->set_trace_id(std::string(16, '\x01'));
  s->set_span_id(std::string(8, '\x02'));
  s->set_name(name);
  s->set_start_time_unix_nano(1764000000000000000ull);
  s->set_end_time_unix_nano(1764000000500000000ull);
  return req.SerializeAsString();
}

std::string logsJson(const std::string& marker) {
  return json{{"resourceLogs",
               json::array({{{"resource", {{"attributes", json::array({{{"key", "service.name"},
                                                                        {"value", {{"stringValue", "shop"}}}}})}}},
                             {"scopeLogs", json::array({{{"logRecords", json::array({{{"timeUnixNano", "1764000000000000000"},
                                                                                        {"body", {{"stringValue", marker}}}}})}}})}}})}}
      .dump();
}

class OtlpK8sTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ReceiverOptions ro;
    ro.k8s_attributes = true;
    ro.k8s_grace = std::chrono::milliseconds(1000);
    k8s::ResolveOptions kr;
    kr.kubeconfig = server().kubeconfig().string();
    ro.k8s_pods.cluster = [kr] { return k8s::resolveClusterConfig(kr); };
    ro.k8s_pods.resolver.api_calls_per_second = 0;
    stack_ = std::make_unique<testing::OtlpStack>("otlp_k8s", store::schema::Variant::kClickStack, ro);
    ASSERT_TRUE(test::waitFor([&] { return stack_->receiver->k8sEnricher()->pods().synced(); }, std::chrono::seconds(60)));
  }

  // The pod, given `ip` through the status subresource.
  json podWithIp(const std::string& ns, const std::string& name, const std::string& ip, const json& labels,
                 const json& owner = {}) {
    auto pod = server().createPod(ns, name, labels, owner);
    const std::string path = "/api/v1/namespaces/" + ns + "/pods/" + name;
    auto current = server().get(path);
    current["status"] = {{"phase", "Running"}, {"podIP", ip}, {"podIPs", json::array({{{"ip", ip}}})}};
    return server().update(path + "/status", current);
  }

  json row(const std::string& marker) {
    stack_->drain();
    auto r = stack_->rows("SELECT ResourceAttributes FROM `otlp_k8s`.`" + stack_->table(TableKind::kLogs) +
                          "` WHERE Body = '" + marker + "'");
    EXPECT_EQ(r.size(), 1u) << marker;
    return r.empty() ? json::object() : r[0]["ResourceAttributes"];
  }

  bool knowsIp(const std::string& ip) {
    return stack_->receiver->k8sEnricher()->pods().findByIp(ip, std::chrono::hours(1)) != nullptr;
  }

  std::unique_ptr<testing::OtlpStack> stack_;
};

TEST_F(OtlpK8sTest, RowsFromAPodsIpCarryItsAttributesWorkloadAndComposition) {
  const std::string ns = server().createNamespace("otlpk8s");
  auto w = server().createDeployment(ns, "web", {{"krateo.io/composition-id", "comp-42"}}, 0);
  // The deployment controller names a ReplicaSet <deployment>-<pod-template-hash>.
  const std::string rs = w.replicaset["metadata"]["name"];
  ASSERT_TRUE(rs.starts_with("web-")) << rs;
  auto pod = podWithIp(ns, "web-6c9d8f7b5-xk2lp", "127.0.0.5", {{"app", "web"}, {"pod-template-hash", rs.substr(4)}},
                       kobs::testing::RealApiServer::ownerRef(w.replicaset));
  const std::string uid = pod["metadata"]["uid"];
  ASSERT_TRUE(test::waitFor([&] { return knowsIp("127.0.0.5"); }, std::chrono::seconds(60)));

  ASSERT_EQ(postFrom("127.0.0.5", stack_->url("/v1/logs"), logsBody("from-pod-pb"), false), 200);
  ASSERT_EQ(postFrom("127.0.0.5", stack_->url("/v1/logs"), logsJson("from-pod-json"), true), 200);
  for (const std::string marker : {"from-pod-pb", "from-pod-json"}) {
    auto attrs = row(marker);
    EXPECT_EQ(attrs.value("service.name", ""), "shop") << marker;
    EXPECT_EQ(attrs.value("k8s.namespace.name", ""), ns) << marker;
    EXPECT_EQ(attrs.value("k8s.pod.name", ""), "web-6c9d8f7b5-xk2lp") << marker;
    EXPECT_EQ(attrs.value("k8s.pod.uid", ""), uid) << marker;
    EXPECT_EQ(attrs.value("k8s.replicaset.name", ""), w.replicaset["metadata"]["name"]) << marker;
    EXPECT_EQ(attrs.value("k8s.deployment.name", ""), "web") << marker;
    EXPECT_EQ(attrs.value("krateo.io/composition-id", ""), "comp-42") << marker;
  }

  // Spans through the wire reader get the same.
  ASSERT_EQ(postFrom("127.0.0.5", stack_->url("/v1/traces"), spansBody("span-from-pod"), false), 200);
  stack_->drain();
  auto spans = stack_->rows("SELECT ResourceAttributes FROM `otlp_k8s`.`" + stack_->table(TableKind::kTraces) +
                            "` WHERE SpanName = 'span-from-pod'");
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0]["ResourceAttributes"].value("k8s.pod.uid", ""), uid);
  EXPECT_EQ(spans[0]["ResourceAttributes"].value("krateo.io/composition-id", ""), "comp-42");

  // An address no pod holds: the resource stays as sent.
  ASSERT_EQ(postFrom("127.0.0.9", stack_->url("/v1/logs"), logsBody("from-nowhere"), false), 200);
  auto plain = row("from-nowhere");
  EXPECT_EQ(plain.size(), 1u) << plain.dump();
  EXPECT_FALSE(plain.contains("k8s.pod.name"));

  // The resource names its pod: that pod, whatever the source address.
  ASSERT_EQ(postFrom("127.0.0.9", stack_->url("/v1/logs"), logsBody("by-uid", uid), false), 200);
  auto by_uid = row("by-uid");
  EXPECT_EQ(by_uid.value("k8s.pod.name", ""), "web-6c9d8f7b5-xk2lp");
  EXPECT_EQ(by_uid.value("krateo.io/composition-id", ""), "comp-42");
}

TEST_F(OtlpK8sTest, ADeletedPodNoLongerMatchesAfterTheGracePeriod) {
  const std::string ns = server().createNamespace("otlpk8sdel");
  auto pod = podWithIp(ns, "worker", "127.0.0.6", {{"krateo.io/composition-id", "comp-7"}});
  ASSERT_TRUE(test::waitFor([&] { return knowsIp("127.0.0.6"); }, std::chrono::seconds(60)));
  ASSERT_EQ(postFrom("127.0.0.6", stack_->url("/v1/logs"), logsBody("before-delete"), false), 200);
  EXPECT_EQ(row("before-delete").value("k8s.pod.name", ""), "worker");

  server().remove("/api/v1/namespaces/" + ns + "/pods/worker");
  // Deleted (seen by the watch) and the grace period (1 s) over.
  auto& pods = stack_->receiver->k8sEnricher()->pods();
  ASSERT_TRUE(test::waitFor([&] { return pods.findByIp("127.0.0.6", std::chrono::milliseconds(1000)) == nullptr; },
                            std::chrono::seconds(60)));
  ASSERT_EQ(postFrom("127.0.0.6", stack_->url("/v1/logs"), logsBody("after-delete"), false), 200);
  auto attrs = row("after-delete");
  EXPECT_FALSE(attrs.contains("k8s.pod.name")) << attrs.dump();
  EXPECT_FALSE(attrs.contains("krateo.io/composition-id")) << attrs.dump();
}

TEST(OtlpPeerIp, TransportsSpellingsGiveTheAddress) {
  EXPECT_EQ(peerIp("10.1.2.3"), "10.1.2.3");
  EXPECT_EQ(peerIp("::ffff:10.1.2.3"), "10.1.2.3");
  EXPECT_EQ(peerIp("ipv4:10.1.2.3:4567"), "10.1.2.3");
  EXPECT_EQ(peerIp("ipv6:[fd00::1]:4567"), "fd00::1");
  EXPECT_EQ(peerIp("ipv6:%5Bfd00::1%5D:4567"), "fd00::1");
  EXPECT_EQ(peerIp("fd00::1"), "fd00::1");
}

}  // namespace
}  // namespace kobs::collect::otlp
