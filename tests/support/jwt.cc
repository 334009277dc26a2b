#include "support/jwt.h"

#include <stdexcept>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

namespace kobs::testing::jwt {

std::string base64Url(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()));
  out.resize(size_t(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (auto& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::string hs256(const nlohmann::json& header, const nlohmann::json& payload, const std::string& secret) {
  const std::string signing = base64Url(header.dump()) + "." + base64Url(payload.dump());
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), int(secret.size()), reinterpret_cast<const unsigned char*>(signing.data()),
       signing.size(), mac, &len);
  return signing + "." + base64Url(std::string(reinterpret_cast<char*>(mac), len));
}

std::string hs256(const nlohmann::json& payload, const std::string& secret) {
  return hs256({{"alg", "HS256"}, {"typ", "JWT"}}, payload, secret);
}

void RsaKey::Free::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

RsaKey::RsaKey() : key_(EVP_RSA_gen(2048)) {
  if (!key_) throw std::runtime_error("RSA key generation failed");
}

RsaKey::~RsaKey() = default;

std::string RsaKey::publicPem() const {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), key_.get());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, size_t(n));
}

nlohmann::json RsaKey::jwk(const std::string& kid) const {
  auto param = [&](const char* name) {
    BIGNUM* b = nullptr;
    EVP_PKEY_get_bn_param(key_.get(), name, &b);
    std::string s(size_t(BN_num_bytes(b)), '\0');
    BN_bn2bin(b, reinterpret_cast<unsigned char*>(s.data()));
    BN_free(b);
    return base64Url(s);
  };
  return {{"kty", "RSA"}, {"kid", kid}, {"use", "sig"}, {"alg", "RS256"}, {"n", param("n")}, {"e", param("e")}};
}

std::string RsaKey::sign(const nlohmann::json& header, const nlohmann::json& payload) const {
  const std::string signing = base64Url(header.dump()) + "." + base64Url(payload.dump());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get());
  size_t len = 0;
  EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(signing.data()), signing.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(signing.data()), signing.size());
  sig.resize(len);
  return signing + "." + base64Url(sig);
}

std::string RsaKey::rs256(const nlohmann::json& payload) const { return sign({{"alg", "RS256"}, {"typ", "JWT"}}, payload); }

}  // namespace kobs::testing::jwt
