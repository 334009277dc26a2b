// JWT minting for the auth tests: HS256 with a secret, RS256 with a fresh RSA
// key (its public PEM and JWK for the verifier). base64url is written here on
// OpenSSL's encoder, not taken from the product, so a bug in the product's
// codec cannot cancel out in the tests.
//
// Threading: plain values; an RsaKey may be used from one thread at a time.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

typedef struct evp_pkey_st EVP_PKEY;

namespace kobs::testing::jwt {

std::string base64Url(const std::string& bytes);

// header.payload.signature, HMAC-SHA256 over the first two parts.
std::string hs256(const nlohmann::json& header, const nlohmann::json& payload, const std::string& secret);
// The usual header {"alg":"HS256","typ":"JWT"}.
std::string hs256(const nlohmann::json& payload, const std::string& secret);

class RsaKey {
 public:
  RsaKey();  // 2048-bit
  ~RsaKey();
  RsaKey(const RsaKey&) = delete;
  RsaKey& operator=(const RsaKey&) = delete;

  std::string publicPem() const;                 // SubjectPublicKeyInfo
  nlohmann::json jwk(const std::string& kid) const;  // an RS256 entry of a JWKS
  // RSASSA-PKCS1-v1_5 SHA-256 over header.payload, whatever `header` says.
  std::string sign(const nlohmann::json& header, const nlohmann::json& payload) const;
  // With the header {"alg":"RS256","typ":"JWT"}.
  std::string rs256(const nlohmann::json& payload) const;

 private:
  struct Free {
    void operator()(EVP_PKEY* k) const;
  };
  std::unique_ptr<EVP_PKEY, Free> key_;
};

}  // namespace kobs::testing::jwt
