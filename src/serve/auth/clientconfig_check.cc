#include "serve/auth/clientconfig_check.h"

#include "common/error.h"
#include "common/logging.h"
#include "k8s/api_client.h"

namespace kobs::serve::auth {
namespace {
constexpr const char* kChecksHelp = "Presenter checks of the user's clientconfig Secret, by answer (error: the API could not answer).";
constexpr const char* kHitsHelp = "Presenter access checks answered from the cache, by check.";
}  // namespace

std::string dns1123Name(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') out += c;
  }
  const auto first = out.find_first_not_of('-');
  out.erase(0, first == std::string::npos ? out.size() : first);
  if (out.size() > 63) out.resize(63);
  return out;
}

ClientConfigCheck::ClientConfigCheck(ApiClientSource api, ClientConfigOptions options, metrics::Registry* metrics)
    : api_(std::move(api)), options_(std::move(options)), cache_(options_.ttl, options_.max_entries) {
  if (metrics) {
    present_ = &metrics->counter("kobs_presenter_clientconfig_checks_total", kChecksHelp, {{"result", "present"}});
    missing_ = &metrics->counter("kobs_presenter_clientconfig_checks_total", kChecksHelp, {{"result", "missing"}});
    errors_ = &metrics->counter("kobs_presenter_clientconfig_checks_total", kChecksHelp, {{"result", "error"}});
    hits_ = &metrics->counter("kobs_presenter_access_cache_hits_total", kHitsHelp, {{"check", "clientconfig"}});
  } else {
    present_ = &local_present_;
    missing_ = &local_missing_;
    errors_ = &local_errors_;
    hits_ = &local_hits_;
  }
}

std::string ClientConfigCheck::secretName(std::string_view username) { return dns1123Name(username) + "-clientconfig"; }

bool ClientConfigCheck::exists(const std::string& username) {
  const std::string name = secretName(username);
  if (cache_.get(name)) {
    hits_->inc();
    return true;
  }
  std::optional<std::string> secret;
  try {
    secret = api_().get({"", "v1", "secrets"}, options_.ns, name);
  } catch (const std::exception& e) {
    errors_->inc();
    logging::get("presenter.authz")->warn("clientconfig lookup {}/{} failed: {}", options_.ns, name, e.what());
    throw Exception(ErrorCode::kApiUnavailable, "authorization unavailable: the Kubernetes API could not be asked for "
                                                "the user's client configuration");
  }
  if (!secret) {
    missing_->inc();
    return false;
  }
  present_->inc();
  cache_.put(name, true);
  return true;
}

}  // namespace kobs::serve::auth
