#include "serve/auth/access_review.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/logging.h"
#include "k8s/api_client.h"

namespace kobs::serve::auth {
namespace {

constexpr const char* kReviewsHelp = "SubjectAccessReviews the presenter sent, by answer (error: the API could not answer).";
constexpr const char* kHitsHelp = "Presenter access checks answered from the cache, by check.";
constexpr const char* kAuthenticatedGroup = "system:authenticated";

std::vector<std::string> reviewGroups(const Identity& who) {
  std::vector<std::string> groups = who.groups;
  if (std::find(groups.begin(), groups.end(), kAuthenticatedGroup) == groups.end()) groups.push_back(kAuthenticatedGroup);
  return groups;
}

}  // namespace

NamespaceAuthorizer::NamespaceAuthorizer(ApiClientSource api, AccessReviewOptions options, metrics::Registry* metrics)
    : api_(std::move(api)), cache_(options.ttl, options.max_entries) {
  if (metrics) {
    allowed_ = &metrics->counter("kobs_presenter_access_reviews_total", kReviewsHelp, {{"result", "allowed"}});
    denied_ = &metrics->counter("kobs_presenter_access_reviews_total", kReviewsHelp, {{"result", "denied"}});
    errors_ = &metrics->counter("kobs_presenter_access_reviews_total", kReviewsHelp, {{"result", "error"}});
    hits_ = &metrics->counter("kobs_presenter_access_cache_hits_total", kHitsHelp, {{"check", "access_review"}});
  } else {
    allowed_ = &local_allowed_;
    denied_ = &local_denied_;
    errors_ = &local_errors_;
    hits_ = &local_hits_;
  }
}

std::string NamespaceAuthorizer::key(const Identity& who, const std::string& ns) {
  // Groups are part of the key: another token of the same user may carry others.
  std::vector<std::string> groups = who.groups;
  std::sort(groups.begin(), groups.end());
  std::string k = who.username;
  for (const auto& g : groups) k += '\n' + g;
  k += '\x1f';
  k += ns;
  return k;
}

std::optional<bool> NamespaceAuthorizer::cached(const Identity& who, const std::string& ns) const {
  return cache_.get(key(who, ns));
}

std::optional<bool> NamespaceAuthorizer::cachedAllows(const Identity& who, const std::string& ns) const {
  auto cluster = cached(who, "");
  if (!cluster) return std::nullopt;
  if (*cluster || ns.empty()) return *cluster;
  return cached(who, ns);
}

bool NamespaceAuthorizer::allowed(const Identity& who, const std::string& ns) {
  const std::string k = key(who, ns);
  if (auto hit = cache_.get(k)) {
    hits_->inc();
    return *hit;
  }
  const bool verdict = review(who, ns);
  cache_.put(k, verdict);
  return verdict;
}

bool NamespaceAuthorizer::review(const Identity& who, const std::string& ns) {
  nlohmann::json body = {
      {"apiVersion", "authorization.k8s.io/v1"},
      {"kind", "SubjectAccessReview"},
      {"spec",
       {{"user", who.username},
        {"groups", reviewGroups(who)},
        {"resourceAttributes", {{"namespace", ns}, {"verb", "list"}, {"group", ""}, {"resource", "events"}}}}}};
  reviews_.inc();
  std::string answer;
  try {
    answer = api_().create({"authorization.k8s.io", "v1", "subjectaccessreviews"}, "", body.dump());
  } catch (const std::exception& e) {
    errors_->inc();
    // The user name is not a secret; the token never reaches this code.
    logging::get("presenter.authz")->warn("access review for namespace '{}' failed: {}", ns, e.what());
    throw Exception(ErrorCode::kApiUnavailable, "authorization unavailable: the Kubernetes API could not review access");
  }
  auto parsed = nlohmann::json::parse(answer, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("status") || !parsed["status"].is_object()) {
    errors_->inc();
    throw Exception(ErrorCode::kApiUnavailable, "authorization unavailable: the access review has no status");
  }
  const auto& status = parsed["status"];
  const bool verdict = status.value("allowed", false) && !status.value("denied", false);
  (verdict ? allowed_ : denied_)->inc();
  return verdict;
}

std::map<std::string, bool> NamespaceAuthorizer::decide(const Identity& who, const std::vector<std::string>& namespaces) {
  std::map<std::string, bool> out;
  const bool cluster = allowed(who, "");
  for (const auto& ns : namespaces) out[ns] = cluster || (!ns.empty() && allowed(who, ns));
  return out;
}

std::optional<std::vector<std::string>> NamespaceAuthorizer::allowedAmong(const Identity& who,
                                                                          const std::vector<std::string>& candidates) {
  if (allowed(who, "")) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& ns : candidates)
    if (!ns.empty() && allowed(who, ns)) out.push_back(ns);
  return out;
}

}  // namespace kobs::serve::auth
