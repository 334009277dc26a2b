#include "k8s/lease.h"

#include <nlohmann/json.hpp>

#include "k8s/token_source.h"

namespace kobs::k8s {

std::string formatMicroTime(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
}

std::string leaseToJson(const Lease& lease) {
  nlohmann::json meta = {{"name", lease.name}, {"namespace", lease.ns}};
  if (!lease.resource_version.empty()) meta["resourceVersion"] = lease.resource_version;
  nlohmann::json spec = nlohmann::json::object();
  if (!lease.holder_identity.empty()) spec["holderIdentity"] = lease.holder_identity;
  if (lease.lease_duration_seconds > 0) spec["leaseDurationSeconds"] = lease.lease_duration_seconds;
  if (lease.acquire_time) spec["acquireTime"] = formatMicroTime(*lease.acquire_time);
  if (lease.renew_time) spec["renewTime"] = formatMicroTime(*lease.renew_time);
  spec["leaseTransitions"] = lease.lease_transitions;
  nlohmann::json j = {{"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"}, {"metadata", meta}, {"spec", spec}};
  return j.dump();
}

Lease leaseFromJson(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object() || !j.contains("metadata")) throw Exception(ErrorCode::kBadInput, "not a Lease: {}", json.substr(0, 200));
  Lease lease;
  const auto& meta = j["metadata"];
  lease.name = meta.value("name", "");
  lease.ns = meta.value("namespace", "");
  lease.resource_version = meta.value("resourceVersion", "");
  if (j.contains("spec") && j["spec"].is_object()) {
    const auto& spec = j["spec"];
    auto str = [&](const char* k) { return spec.contains(k) && spec[k].is_string() ? spec[k].get<std::string>() : std::string(); };
    lease.holder_identity = str("holderIdentity");
    lease.lease_duration_seconds = spec.value("leaseDurationSeconds", 0);
    lease.lease_transitions = spec.value("leaseTransitions", 0);
    if (auto t = str("acquireTime"); !t.empty()) lease.acquire_time = parseRfc3339(t);
    if (auto t = str("renewTime"); !t.empty()) lease.renew_time = parseRfc3339(t);
  }
  return lease;
}

std::optional<Lease> LeaseClient::get(const std::string& ns, const std::string& name) {
  auto json = api_.get(leases(), ns, name);
  if (!json) return std::nullopt;
  return leaseFromJson(*json);
}

Lease LeaseClient::create(const Lease& lease) {
  Lease fresh = lease;
  fresh.resource_version.clear();
  return leaseFromJson(api_.create(leases(), lease.ns, leaseToJson(fresh)));
}

Lease LeaseClient::update(const Lease& lease) {
  return leaseFromJson(api_.update(leases(), lease.ns, lease.name, leaseToJson(lease)));
}

}  // namespace kobs::k8s
