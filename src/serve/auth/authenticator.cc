#include "serve/auth/authenticator.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "common/base64.h"
#include "common/error.h"
#include "common/logging.h"
#include "serve/auth/jwks_cache.h"

namespace kobs::serve::auth {
namespace {

std::string readFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Exception(ErrorCode::kBadConfig, "auth: cannot read {} {}", what, path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};

}  // namespace

namespace {

AuthResult refused(std::string why) { return {401, std::move(why), {}}; }

}  // namespace

struct Authenticator::Impl {
  AuthOptions options;
  std::vector<std::string> tokens;
  std::unique_ptr<EVP_PKEY, PkeyDeleter> rsa_key;

  // The JWKS, fetched in the background (null without a JWKS URL).
  std::unique_ptr<JwksCache> jwks;

  // The RS256 keys for `kid` (empty kid: every key), never waiting on the
  // network: 503 while the set has never been fetched, or while the kid is
  // unknown and a refresh (key rotation) is due or running; 401 for a kid not
  // in a set fetched within jwks_min_refresh.
  AuthResult jwksKeys(const std::string& kid, std::vector<std::shared_ptr<EVP_PKEY>>& out) const {
    auto found = jwks->lookup(kid);
    out = std::move(found.keys);
    switch (found.status) {
      case JwksCache::Status::kFound: return {};
      case JwksCache::Status::kUnavailable: return {503, "signing keys unavailable", {}};
      case JwksCache::Status::kRefreshing: return {503, "signing key not known yet; refreshing the key set", {}};
      case JwksCache::Status::kUnknown: break;
    }
    return refused("unknown signing key");
  }

  static bool verifyRs256(EVP_PKEY* key, std::string_view signed_part, const std::string& signature) {
    std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) return false;
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                            reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
  }

  AuthResult checkJwt(const std::string& token) const {
    const auto d1 = token.find('.');
    const auto d2 = d1 == std::string::npos ? std::string::npos : token.find('.', d1 + 1);
    if (d2 == std::string::npos || token.find('.', d2 + 1) != std::string::npos) return refused("malformed token");
    const std::string_view t(token);
    auto header_raw = base64::decodeUrl(t.substr(0, d1));
    auto payload_raw = base64::decodeUrl(t.substr(d1 + 1, d2 - d1 - 1));
    auto signature = base64::decodeUrl(t.substr(d2 + 1));
    if (!header_raw || !payload_raw || !signature) return refused("malformed token");
    nlohmann::json header, payload;
    try {
      header = nlohmann::json::parse(*header_raw);
      payload = nlohmann::json::parse(*payload_raw);
    } catch (const std::exception&) {
      return refused("malformed token");
    }
    if (!header.is_object() || !payload.is_object() || !header.contains("alg") || !header["alg"].is_string())
      return refused("malformed token");
    const std::string alg = header["alg"];
    const std::string kid = header.contains("kid") && header["kid"].is_string() ? header["kid"].get<std::string>() : "";
    const std::string_view signed_part = t.substr(0, d2);
    if (alg == "HS256" && !options.jwt_hs256_secret.empty()) {
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int mac_len = 0;
      HMAC(EVP_sha256(), options.jwt_hs256_secret.data(), int(options.jwt_hs256_secret.size()),
           reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac, &mac_len);
      if (!constantTimeEquals(std::string_view(reinterpret_cast<char*>(mac), mac_len), *signature))
        return refused("bad signature");
    } else if (alg == "RS256" && (rsa_key || !options.jwt_jwks_url.empty())) {
      bool verified = false;
      // The PEM key first when the token names no kid (or the JWKS is not configured).
      if (rsa_key && (kid.empty() || options.jwt_jwks_url.empty()))
        verified = verifyRs256(rsa_key.get(), signed_part, *signature);
      if (!verified && !options.jwt_jwks_url.empty()) {
        std::vector<std::shared_ptr<EVP_PKEY>> keys;
        AuthResult r = jwksKeys(kid, keys);
        if (!r.ok()) {
          // A PEM key may still vouch for a kid the JWKS does not know.
          if (rsa_key && !kid.empty() && verifyRs256(rsa_key.get(), signed_part, *signature)) {
            verified = true;
          } else {
            return r;
          }
        }
        for (const auto& k : keys) verified = verified || verifyRs256(k.get(), signed_part, *signature);
      }
      if (!verified) return refused("bad signature");
    } else {
      return refused("algorithm " + alg + " not accepted");
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    const auto leeway = options.leeway.count();
    if (payload.contains("exp")) {
      if (!payload["exp"].is_number()) return refused("malformed exp");
      if (payload["exp"].get<double>() + double(leeway) < double(now)) return refused("token expired");
    }
    if (payload.contains("nbf")) {
      if (!payload["nbf"].is_number()) return refused("malformed nbf");
      if (payload["nbf"].get<double>() - double(leeway) > double(now)) return refused("token not yet valid");
    }
    if (!options.jwt_issuer.empty() && (!payload.contains("iss") || payload["iss"] != options.jwt_issuer))
      return refused("wrong issuer");
    if (!options.jwt_audience.empty()) {
      bool ok = false;
      if (payload.contains("aud")) {
        const auto& aud = payload["aud"];
        if (aud.is_string()) ok = aud == options.jwt_audience;
        if (aud.is_array())
          for (const auto& a : aud) ok = ok || (a.is_string() && a == options.jwt_audience);
      }
      if (!ok) return refused("wrong audience");
    }
    AuthResult r;
    if (payload.contains("username") && payload["username"].is_string()) r.identity.username = payload["username"];
    else if (payload.contains("sub") && payload["sub"].is_string()) r.identity.username = payload["sub"];
    if (payload.contains("groups") && payload["groups"].is_array())
      for (const auto& g : payload["groups"])
        if (g.is_string()) r.identity.groups.push_back(g);
    return r;
  }
};

Authenticator::Authenticator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Authenticator::~Authenticator() = default;

std::unique_ptr<Authenticator> Authenticator::create(const AuthOptions& options) {
  if (!options.enabled()) return nullptr;
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (!options.tokens_file.empty()) {
    std::istringstream in(readFile(options.tokens_file, "tokens file"));
    for (std::string line; std::getline(in, line);) {
      line = trim(line);
      if (!line.empty() && line[0] != '#') impl->tokens.push_back(line);
    }
  }
  if (!options.jwt_rs256_public_key_file.empty()) {
    const std::string pem = readFile(options.jwt_rs256_public_key_file, "RS256 public key");
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), int(pem.size())), &BIO_free);
    EVP_PKEY* key = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (!key)
      throw Exception(ErrorCode::kBadConfig, "auth: {} holds no PEM public key", options.jwt_rs256_public_key_file);
    impl->rsa_key.reset(key);
  }
  if (!options.jwt_jwks_url.empty())
    impl->jwks = std::make_unique<JwksCache>(JwksOptions{.url = options.jwt_jwks_url,
                                                         .timeout = options.jwks_timeout,
                                                         .min_refresh = options.jwks_min_refresh,
                                                         .refresh_every = options.jwks_refresh_every});
  return std::unique_ptr<Authenticator>(new Authenticator(std::move(impl)));
}

bool Authenticator::waitForJwksFetches(uint64_t n, std::chrono::milliseconds timeout) const {
  return impl_->jwks && impl_->jwks->waitForFetches(n, timeout);
}

AuthResult Authenticator::verifyToken(const std::string& token) const {
  if (token.empty()) return refused("missing bearer token");
  for (const auto& t : impl_->tokens)
    if (constantTimeEquals(t, token)) return {};
  const auto& o = impl_->options;
  if (o.jwt_hs256_secret.empty() && !impl_->rsa_key && o.jwt_jwks_url.empty()) return refused("invalid token");
  if (std::count(token.begin(), token.end(), '.') != 2) return refused("invalid token");
  return impl_->checkJwt(token);
}

std::optional<std::string> Authenticator::checkToken(const std::string& token) const {
  auto r = verifyToken(token);
  if (r.ok()) return std::nullopt;
  return r.message;
}

namespace {

// The value of cookie `name` in a Cookie header ("a=1; krateo-session=x").
std::optional<std::string> cookieValue(std::string_view header, std::string_view name) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view part = header.substr(pos, end - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name && part[name.size()] == '=') {
      std::string v(part.substr(name.size() + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
    pos = end + 1;
  }
  return std::nullopt;
}

}  // namespace

AuthResult Authenticator::authenticate(const http::Request& request, TokenSources sources) const {
  if (sources.bearer) {
    if (auto h = request.header("Authorization")) {
      std::string_view v = *h;
      if (v.size() < 7 || !http::iequals(v.substr(0, 7), "Bearer "))
        return refused("Authorization is not a Bearer token");
      return verifyToken(trim(std::string(v.substr(7))));
    }
  }
  if (sources.cookie) {
    if (auto c = request.header("Cookie"))
      if (auto v = cookieValue(*c, "krateo-session"); v && !v->empty()) return verifyToken(*v);
  }
  if (sources.query) {
    if (auto q = request.queryParam("access_token")) return verifyToken(std::string(*q));
    if (auto q = request.queryParam("token")) return verifyToken(std::string(*q));
  }
  return refused("missing bearer token");
}

std::optional<std::string> Authenticator::check(const http::Request& request) const {
  auto r = authenticate(request, TokenSources{});
  if (r.ok()) return std::nullopt;
  return r.message;
}

http::Response Authenticator::refusal(const AuthResult& result) {
  if (result.status == 503) {
    nlohmann::json body = {{"error", "unavailable"}, {"message", result.message}};
    auto r = http::Response::json(503, body.dump() + "\n");
    r.headers.set("Retry-After", "5");
    return r;
  }
  nlohmann::json body = {{"error", "unauthorized"}, {"message", result.message}};
  auto r = http::Response::json(401, body.dump() + "\n");
  r.headers.set("WWW-Authenticate", "Bearer");
  return r;
}

http::Response Authenticator::statusResponse(const AuthResult& result) {
  const int code = result.status == 503 ? 503 : 401;
  nlohmann::json body = {{"kind", "Status"},
                         {"apiVersion", "v1"},
                         {"metadata", nlohmann::json::object()},
                         {"status", "Failure"},
                         {"message", result.message},
                         {"reason", code == 503 ? "ServiceUnavailable" : "Unauthorized"},
                         {"code", code}};
  auto r = http::Response::json(code, body.dump() + "\n");
  if (code == 401) r.headers.set("WWW-Authenticate", "Bearer");
  if (code == 503) r.headers.set("Retry-After", "10");
  return r;
}

}  // namespace kobs::serve::auth
