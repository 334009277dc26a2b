#include "serve/auth/authenticator.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "common/error.h"

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

std::string base64UrlEncode(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out.push_back(kAlphabet[(v >> k) & 63]);
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

std::optional<std::string> base64UrlDecode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xFF));
    }
  }
  return out;
}

struct Authenticator::Impl {
  AuthOptions options;
  std::vector<std::string> tokens;
  std::unique_ptr<EVP_PKEY, PkeyDeleter> rsa_key;

  std::optional<std::string> checkJwt(const std::string& token) const {
    const auto d1 = token.find('.');
    const auto d2 = d1 == std::string::npos ? std::string::npos : token.find('.', d1 + 1);
    if (d2 == std::string::npos || token.find('.', d2 + 1) != std::string::npos) return "malformed token";
    const std::string_view t(token);
    auto header_raw = base64UrlDecode(t.substr(0, d1));
    auto payload_raw = base64UrlDecode(t.substr(d1 + 1, d2 - d1 - 1));
    auto signature = base64UrlDecode(t.substr(d2 + 1));
    if (!header_raw || !payload_raw || !signature) return "malformed token";
    nlohmann::json header, payload;
    try {
      header = nlohmann::json::parse(*header_raw);
      payload = nlohmann::json::parse(*payload_raw);
    } catch (const std::exception&) {
      return "malformed token";
    }
    if (!header.is_object() || !payload.is_object() || !header.contains("alg") || !header["alg"].is_string())
      return "malformed token";
    const std::string alg = header["alg"];
    const std::string_view signed_part = t.substr(0, d2);
    if (alg == "HS256" && !options.jwt_hs256_secret.empty()) {
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int mac_len = 0;
      HMAC(EVP_sha256(), options.jwt_hs256_secret.data(), int(options.jwt_hs256_secret.size()),
           reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac, &mac_len);
      if (!constantTimeEquals(std::string_view(reinterpret_cast<char*>(mac), mac_len), *signature))
        return "bad signature";
    } else if (alg == "RS256" && rsa_key) {
      std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
      if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, rsa_key.get()) != 1)
        return "cannot verify signature";
      if (EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()), signature->size(),
                           reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) != 1)
        return "bad signature";
    } else {
      return "algorithm " + alg + " not accepted";
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    const auto leeway = options.leeway.count();
    if (payload.contains("exp")) {
      if (!payload["exp"].is_number()) return "malformed exp";
      if (payload["exp"].get<double>() + double(leeway) < double(now)) return "token expired";
    }
    if (payload.contains("nbf")) {
      if (!payload["nbf"].is_number()) return "malformed nbf";
      if (payload["nbf"].get<double>() - double(leeway) > double(now)) return "token not yet valid";
    }
    if (!options.jwt_issuer.empty() && (!payload.contains("iss") || payload["iss"] != options.jwt_issuer))
      return "wrong issuer";
    if (!options.jwt_audience.empty()) {
      bool ok = false;
      if (payload.contains("aud")) {
        const auto& aud = payload["aud"];
        if (aud.is_string()) ok = aud == options.jwt_audience;
        if (aud.is_array())
          for (const auto& a : aud) ok = ok || (a.is_string() && a == options.jwt_audience);
      }
      if (!ok) return "wrong audience";
    }
    return std::nullopt;
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
  return std::unique_ptr<Authenticator>(new Authenticator(std::move(impl)));
}

std::optional<std::string> Authenticator::checkToken(const std::string& token) const {
  if (token.empty()) return "missing bearer token";
  for (const auto& t : impl_->tokens)
    if (constantTimeEquals(t, token)) return std::nullopt;
  if (impl_->options.jwt_hs256_secret.empty() && !impl_->rsa_key) return "invalid token";
  if (std::count(token.begin(), token.end(), '.') != 2) return "invalid token";
  return impl_->checkJwt(token);
}

std::optional<std::string> Authenticator::check(const http::Request& request) const {
  if (auto h = request.header("Authorization")) {
    std::string_view v = *h;
    if (v.size() < 7 || !http::iequals(v.substr(0, 7), "Bearer ")) return "Authorization is not a Bearer token";
    return checkToken(trim(std::string(v.substr(7))));
  }
  if (auto q = request.queryParam("access_token")) return checkToken(std::string(*q));
  return "missing bearer token";
}

http::Response Authenticator::unauthorized(const std::string& why) {
  nlohmann::json body = {{"error", "unauthorized"}, {"message", why}};
  auto r = http::Response::json(401, body.dump() + "\n");
  r.headers.set("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace kobs::serve::auth
