// Bearer authentication for both frontend APIs (off unless configured): the
// old sse-proxy API on the main listener and the events-presenter API on its
// own listener share this one module.
//
// A request carries its token, looked up in this order, as
//   `Authorization: Bearer <token>`, the `krateo-session` cookie, or (for a
//   native EventSource, which cannot set headers, and only where the caller
//   allows it) `?access_token=<token>` / `?token=<token>`. Accepted:
//   - a token listed in the tokens file (one per line; blank lines and lines
//     starting with '#' ignored), compared in constant time; or
//   - a JWT signed HS256 with the configured secret (authn's JWT_SIGN_KEY), or
//     RS256 with the configured PEM public key or a key of the JWKS (by `kid`;
//     jwks_cache.h: fetched in the background, served from memory, refreshed
//     when a token names an unknown kid, at most once per `jwks_min_refresh`,
//     and every `jwks_refresh_every`). Each key is
//     pinned to its algorithm: "none" and a mismatched alg are refused, so an
//     RSA public key can never serve as an HMAC secret. `exp` and `nbf` are
//     checked with `leeway`; `iss`/`aud` when configured.
// Refusals: the old API answers 401 {"error":"unauthorized","message":"..."};
// the presenter answers the Kubernetes Status JSON (statusResponse()), and 503
// while a token's key can only come from a JWKS that cannot be fetched.
// Tokens never reach a log line.
//
// Threading: create() is for the owning thread; check(), authenticate() are
// thread-safe and never wait on the network (they run on I/O threads): the
// JWKS is fetched on its own thread, and a token whose key is not known yet
// gets 503 at once while the fetch runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/message.h"

namespace kobs::serve::auth {

struct AuthOptions {
  std::string tokens_file;        // static bearer tokens
  std::string jwt_hs256_secret;   // HMAC secret
  std::string jwt_rs256_public_key_file;  // PEM (SubjectPublicKeyInfo)
  std::string jwt_issuer;         // required `iss` when set
  std::string jwt_audience;       // required in `aud` when set
  std::chrono::seconds leeway{5};
  std::string jwt_jwks_url;       // RS256 keys by kid (authn's /.well-known/jwks.json)
  std::chrono::milliseconds jwks_timeout{5000};
  std::chrono::milliseconds jwks_min_refresh{10000};  // unknown kids cannot hammer the JWKS
  std::chrono::milliseconds jwks_refresh_every{std::chrono::minutes(5)};  // revoked keys drop out

  bool enabled() const {
    return !tokens_file.empty() || !jwt_hs256_secret.empty() || !jwt_rs256_public_key_file.empty() ||
           !jwt_jwks_url.empty();
  }
};

// Where a listener takes tokens from.
struct TokenSources {
  bool bearer = true;
  bool cookie = true;  // `krateo-session`
  bool query = true;   // ?access_token= / ?token= (old API only: EventSource)
};

// Who the token says the caller is (empty for a static token).
struct Identity {
  std::string username;
  std::vector<std::string> groups;
};

struct AuthResult {
  int status = 200;     // 200, 401, or 503 (key source unavailable)
  std::string message;  // why it was refused (never contains the token)
  Identity identity;
  bool ok() const { return status == 200; }
};

class Authenticator {
 public:
  // Null when no method is configured. Throws kBadConfig when the tokens file
  // or key cannot be read or parsed.
  static std::unique_ptr<Authenticator> create(const AuthOptions& options);
  ~Authenticator();

  // nullopt: accepted; else why it was refused (all token sources).
  std::optional<std::string> check(const http::Request& request) const;
  std::optional<std::string> checkToken(const std::string& token) const;

  // For tests: waits until the JWKS has been fetched `n` times (successfully
  // or not); false without a JWKS URL or when `timeout` passes first.
  bool waitForJwksFetches(uint64_t n, std::chrono::milliseconds timeout) const;

  // The full verdict, from the allowed token sources.
  AuthResult authenticate(const http::Request& request, TokenSources sources) const;
  AuthResult verifyToken(const std::string& token) const;

  // The refusal in the old API's shape: 401 {"error":"unauthorized",...}, or
  // 503 {"error":"unavailable",...} while the key source cannot be fetched.
  static http::Response refusal(const AuthResult& result);
  // 401 or 503 as a Kubernetes Status object
  // {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
  //  "message":...,"reason":"Unauthorized"|"ServiceUnavailable","code":...}.
  static http::Response statusResponse(const AuthResult& result);

 private:
  struct Impl;
  explicit Authenticator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kobs::serve::auth
