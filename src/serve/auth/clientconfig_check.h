// ClientConfigCheck: does the user have a Krateo client configuration?
// authn writes, at login, the Secret `<dns1123(username)>-clientconfig` in its
// namespace (AUTHN_NS); events-presenter refuses a user without it (401), and
// kobs does the same when presenter.require_clientconfig is on. A found
// Secret is cached for `ttl`; a missing one is asked again on the next
// request (a user who just logged in must not wait for a cache to expire).
// Only the Secret's existence is used; its data is never read out.
//
// Fail closed: when the API cannot answer (unreachable, 5xx, or kobs not
// allowed to read the Secret), exists() throws Exception(kApiUnavailable).
//
// Counters (when a registry is given): kobs_presenter_clientconfig_checks_total
// {result=present|missing|error}, kobs_presenter_access_cache_hits_total
// {check="clientconfig"}.
//
// Threading: thread-safe; exists() blocks on one API call when not cached.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/metrics.h"
#include "serve/auth/access_review.h"
#include "serve/auth/ttl_cache.h"

namespace kobs::serve::auth {

struct ClientConfigOptions {
  std::string ns = "krateo-system";
  std::chrono::milliseconds ttl{30000};
  size_t max_entries = 10000;
};

// The user name as a DNS-1123 label, as Krateo names the user's objects:
// lower case, characters other than [-a-z0-9] dropped, leading characters
// other than [a-z0-9] dropped, at most 63 characters.
std::string dns1123Name(std::string_view name);

class ClientConfigCheck {
 public:
  ClientConfigCheck(ApiClientSource api, ClientConfigOptions options, metrics::Registry* metrics = nullptr);

  // `<dns1123(username)>-clientconfig`.
  static std::string secretName(std::string_view username);

  // True when the user's Secret exists. Throws Exception(kApiUnavailable).
  bool exists(const std::string& username);

  const std::string& ns() const { return options_.ns; }

 private:
  ApiClientSource api_;
  const ClientConfigOptions options_;
  TtlCache<bool> cache_;
  metrics::Counter local_present_, local_missing_, local_errors_, local_hits_;
  metrics::Counter* present_;
  metrics::Counter* missing_;
  metrics::Counter* errors_;
  metrics::Counter* hits_;
};

}  // namespace kobs::serve::auth
