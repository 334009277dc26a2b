// Bearer authentication for the frontend API (off unless configured).
//
// A request carries its token as `Authorization: Bearer <token>` or, for
// EventSource (which cannot set headers), `?access_token=<token>`. Accepted:
//   - a token listed in the tokens file (one per line; blank lines and lines
//     starting with '#' ignored), compared in constant time; or
//   - a JWT signed HS256 with the configured secret, or RS256 with the
//     configured PEM public key. Only the configured algorithm is accepted
//     ("none" and a mismatched alg are refused, so an RS256 key cannot be
//     used as an HMAC secret). `exp` and `nbf` are checked with `leeway`;
//     `iss`/`aud` when configured.
// Refusals answer 401 with {"error":"unauthorized","message":"..."} and
// `WWW-Authenticate: Bearer`.
//
// Threading: immutable after create(); check() is thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "serve/http/message.h"

namespace kobs::serve::auth {

struct AuthOptions {
  std::string tokens_file;        // static bearer tokens
  std::string jwt_hs256_secret;   // HMAC secret
  std::string jwt_rs256_public_key_file;  // PEM (SubjectPublicKeyInfo)
  std::string jwt_issuer;         // required `iss` when set
  std::string jwt_audience;       // required in `aud` when set
  std::chrono::seconds leeway{30};

  bool enabled() const {
    return !tokens_file.empty() || !jwt_hs256_secret.empty() || !jwt_rs256_public_key_file.empty();
  }
};

class Authenticator {
 public:
  // Null when no method is configured. Throws kBadConfig when the tokens file
  // or key cannot be read or parsed.
  static std::unique_ptr<Authenticator> create(const AuthOptions& options);
  ~Authenticator();

  // nullopt: accepted; else why it was refused.
  std::optional<std::string> check(const http::Request& request) const;
  std::optional<std::string> checkToken(const std::string& token) const;

  // The 401 response for a refusal.
  static http::Response unauthorized(const std::string& why);

 private:
  struct Impl;
  explicit Authenticator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// base64url without padding (JWT segments); exposed for tests.
std::string base64UrlEncode(std::string_view in);
std::optional<std::string> base64UrlDecode(std::string_view in);

}  // namespace kobs::serve::auth
