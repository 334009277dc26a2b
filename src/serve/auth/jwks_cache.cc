#include "serve/auth/jwks_cache.h"

#include <curl/curl.h>

#include <nlohmann/json.hpp>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "common/base64.h"
#include "common/logging.h"

namespace kobs::serve::auth {
namespace {

size_t curlAppend(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct BnDeleter {
  void operator()(BIGNUM* p) const { BN_free(p); }
};

// An RSA public key from a JWK's base64url modulus and exponent.
std::shared_ptr<EVP_PKEY> rsaFromJwk(const std::string& n64, const std::string& e64) {
  auto n = base64::decodeUrl(n64);
  auto e = base64::decodeUrl(e64);
  if (!n || !e || n->empty() || e->empty()) return nullptr;
  std::unique_ptr<BIGNUM, BnDeleter> bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), int(n->size()), nullptr));
  std::unique_ptr<BIGNUM, BnDeleter> bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), int(e->size()), nullptr));
  if (!bn_n || !bn_e) return nullptr;
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(), &OSSL_PARAM_BLD_free);
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
    return nullptr;
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()), &OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr),
                                                                  &EVP_PKEY_CTX_free);
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return nullptr;
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

}  // namespace

JwksCache::JwksCache(JwksOptions options) : options_(std::move(options)) {
  refresh_requested_ = true;  // the first fetch, at once
  thread_ = std::thread([this] { run(); });
}

JwksCache::~JwksCache() {
  stop_.requestStop();
  {
    std::lock_guard lock(mutex_);
  }
  cv_.notify_all();
  thread_.join();
}

JwksCache::Lookup JwksCache::lookup(const std::string& kid) {
  std::lock_guard lock(mutex_);
  Lookup r;
  if (keys_) {
    for (const auto& [k, key] : *keys_)
      if (kid.empty() || k == kid) r.keys.push_back(key);
    if (!r.keys.empty()) {
      r.status = Status::kFound;
      return r;
    }
  }
  const bool due = Clock::now() - last_fetch_started_ >= options_.min_refresh;
  if (due && !refresh_requested_ && !fetching_) {
    refresh_requested_ = true;
    cv_.notify_all();
  }
  if (!keys_) r.status = Status::kUnavailable;
  else r.status = fetching_ || refresh_requested_ ? Status::kRefreshing : Status::kUnknown;
  return r;
}

bool JwksCache::waitForFetches(uint64_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return fetches_completed_ >= n; });
}

uint64_t JwksCache::fetchesCompleted() const {
  std::lock_guard lock(mutex_);
  return fetches_completed_;
}

void JwksCache::run() {
  const auto token = stop_.token();
  std::unique_lock lock(mutex_);
  while (!token.stopRequested()) {
    const auto next_periodic = last_fetch_started_ + options_.refresh_every;
    cv_.wait_until(lock, next_periodic, [&] { return refresh_requested_ || token.stopRequested(); });
    if (token.stopRequested()) break;
    refresh_requested_ = false;
    fetching_ = true;
    last_fetch_started_ = Clock::now();
    lock.unlock();
    auto fresh = fetch();
    lock.lock();
    fetching_ = false;
    if (fresh) keys_ = std::move(fresh);  // a failed fetch keeps the last good set
    ++fetches_completed_;
    cv_.notify_all();
  }
}

std::shared_ptr<const JwksCache::KeySet> JwksCache::fetch() {
  std::string body;
  long status = 0;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return nullptr;
  const StopToken token = stop_.token();
  curl_easy_setopt(curl.get(), CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, long(options_.timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &curlAppend);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  // Destroying the cache aborts a fetch in flight.
  curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION,
                   +[](void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
                     return static_cast<const StopToken*>(ud)->stopRequested() ? 1 : 0;
                   });
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &token);
  const CURLcode rc = curl_easy_perform(curl.get());
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  // The URL may hold secrets in its query: it is not logged.
  if (rc != CURLE_OK || status != 200) {
    if (!token.stopRequested())
      logging::get("auth")->warn("JWKS fetch failed ({}, HTTP {}); cached keys, if any, stay in use",
                                 curl_easy_strerror(rc), status);
    return nullptr;
  }
  auto keys = std::make_shared<KeySet>();
  try {
    const auto doc = nlohmann::json::parse(body);
    for (const auto& k : doc.at("keys")) {
      if (k.value("kty", "") != "RSA" || k.value("use", "sig") != "sig") continue;
      if (k.contains("alg") && k.value("alg", "") != "RS256") continue;  // pinned: RS256 only
      if (auto key = rsaFromJwk(k.value("n", ""), k.value("e", ""))) (*keys)[k.value("kid", "")] = std::move(key);
    }
  } catch (const std::exception& e) {
    logging::get("auth")->warn("JWKS is not a key set: {}", e.what());
    return nullptr;
  }
  return keys;
}

}  // namespace kobs::serve::auth
