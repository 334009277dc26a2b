#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/error.h"
#include "serve/auth/authenticator.h"
#include "serve/events/events_api.h"
#include "http/http_server.h"
#include "support/jwt.h"
#include "support/silent_server.h"
#include "support/temp_dir.h"

namespace kobs::serve::auth {
namespace {

int64_t now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

using testing::jwt::hs256;
using RsaKey = testing::jwt::RsaKey;

http::Request withBearer(const std::string& token) {
  http::Request r;
  r.method = "GET";
  r.path = "/events";
  r.headers.set("Authorization", "Bearer " + token);
  return r;
}

TEST(Authenticator, OffUnlessConfigured) { EXPECT_EQ(Authenticator::create({}), nullptr); }

TEST(Authenticator, TokensFileAcceptsListedTokensOnly) {
  kobs::testing::TempDir dir;
  const std::string path = dir.str() + "/tokens";
  std::ofstream(path) << "# frontend\nalpha-token\n\n  beta-token  \n";
  auto a = Authenticator::create({.tokens_file = path});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->check(withBearer("alpha-token")), std::nullopt);
  EXPECT_EQ(a->check(withBearer("beta-token")), std::nullopt);
  EXPECT_TRUE(a->check(withBearer("gamma")));
  EXPECT_TRUE(a->check(withBearer("# frontend")));
  http::Request missing;
  EXPECT_EQ(a->check(missing), "missing bearer token");
  http::Request query;
  query.query = {{"access_token", "alpha-token"}};
  EXPECT_EQ(a->check(query), std::nullopt);
  http::Request basic;
  basic.headers.set("Authorization", "Basic YTpi");
  EXPECT_TRUE(a->check(basic));
  EXPECT_THROW(Authenticator::create({.tokens_file = dir.str() + "/nope"}), Exception);
}

TEST(Authenticator, Hs256ValidAcceptedWrongExpiredAndWrongAlgorithmRefused) {
  auto a = Authenticator::create({.jwt_hs256_secret = "s3cret", .leeway = std::chrono::seconds(0)});
  const nlohmann::json hdr = {{"alg", "HS256"}, {"typ", "JWT"}};
  EXPECT_EQ(a->checkToken(hs256(hdr, {{"sub", "ui"}, {"exp", now() + 60}}, "s3cret")), std::nullopt);
  EXPECT_EQ(a->checkToken(hs256(hdr, {{"sub", "ui"}}, "s3cret")), std::nullopt);
  EXPECT_EQ(a->checkToken(hs256(hdr, {{"exp", now() + 60}}, "other")), "bad signature");
  EXPECT_EQ(a->checkToken(hs256(hdr, {{"exp", now() - 10}}, "s3cret")), "token expired");
  EXPECT_EQ(a->checkToken(hs256(hdr, {{"nbf", now() + 600}}, "s3cret")), "token not yet valid");
  EXPECT_EQ(a->checkToken(hs256({{"alg", "HS512"}}, nlohmann::json::object(), "s3cret")), "algorithm HS512 not accepted");
  // alg "none" with no signature.
  EXPECT_EQ(a->checkToken(base64::encodeUrl(R"({"alg":"none"})") + "." + base64::encodeUrl("{}") + "."),
            "algorithm none not accepted");
  // A tampered payload under a valid signature.
  std::string t = hs256(hdr, {{"sub", "ui"}}, "s3cret");
  auto d1 = t.find('.'), d2 = t.rfind('.');
  std::string tampered = t.substr(0, d1 + 1) + base64::encodeUrl(R"({"sub":"admin"})") + t.substr(d2);
  EXPECT_EQ(a->checkToken(tampered), "bad signature");
  EXPECT_TRUE(a->checkToken("not.a.jwt!"));
  EXPECT_TRUE(a->checkToken("abc"));
}

TEST(Authenticator, Rs256ValidAcceptedAndHmacWithThePublicKeyRefused) {
  kobs::testing::TempDir dir;
  RsaKey key;
  const std::string pem_path = dir.str() + "/key.pem";
  std::ofstream(pem_path) << key.publicPem();
  auto a = Authenticator::create({.jwt_rs256_public_key_file = pem_path, .jwt_issuer = "krateo",
                                  .jwt_audience = "kobs"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->checkToken(key.rs256({{"iss", "krateo"}, {"aud", "kobs"}, {"exp", now() + 60}})), std::nullopt);
  EXPECT_EQ(a->checkToken(key.rs256({{"iss", "krateo"}, {"aud", {"x", "kobs"}}})), std::nullopt);
  EXPECT_EQ(a->checkToken(key.rs256({{"iss", "krateo"}, {"aud", "kobs"}, {"exp", now() - 3600}})), "token expired");
  EXPECT_EQ(a->checkToken(key.rs256({{"iss", "other"}, {"aud", "kobs"}})), "wrong issuer");
  EXPECT_EQ(a->checkToken(key.rs256({{"iss", "krateo"}, {"aud", "nope"}})), "wrong audience");
  // Algorithm confusion: an HS256 token whose secret is the public key PEM.
  EXPECT_EQ(a->checkToken(hs256({{"alg", "HS256"}}, {{"iss", "krateo"}, {"aud", "kobs"}}, key.publicPem())),
            "algorithm HS256 not accepted");
  RsaKey other;
  EXPECT_EQ(a->checkToken(other.rs256({{"iss", "krateo"}, {"aud", "kobs"}})), "bad signature");
  std::ofstream(dir.str() + "/bad.pem") << "not a key";
  EXPECT_THROW(Authenticator::create({.jwt_rs256_public_key_file = dir.str() + "/bad.pem"}), Exception);
}

TEST(Authenticator, EventsApiRefusesWith401JsonButHealthAndPreflightStayOpen) {
  auto a = Authenticator::create({.jwt_hs256_secret = "k"});
  events::EventsApi api({}, a.get());
  http::Router router;
  api.addRoutes(router);
  auto call = [&](const std::string& method, const std::string& path, const http::Request& base) {
    auto m = router.resolve(method, path);
    EXPECT_TRUE(m.handler) << path;
    http::Request r = base;
    r.method = method;
    r.path = path;
    r.path_rest = m.path_rest;
    return (*m.handler)(r);
  };
  http::Request none;
  for (const char* path : {"/events", "/events/c1", "/notifications", "/notifications/"}) {
    auto r = call("GET", path, none);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(r.headers.get("WWW-Authenticate"), "Bearer");
    EXPECT_EQ(r.headers.get("Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(nlohmann::json::parse(r.body), (nlohmann::json{{"error", "unauthorized"}, {"message", "missing bearer token"}}));
  }
  EXPECT_EQ(call("GET", "/health", none).status, 200);
  EXPECT_EQ(call("OPTIONS", "/notifications", none).status, 204);
  // A valid token gets past auth (no store attached: SSE asks to retry, REST is 503).
  http::Request ok;
  ok.query = {{"access_token", hs256({{"alg", "HS256"}}, {{"exp", now() + 60}}, "k")}};
  auto sse = call("GET", "/notifications", ok);
  EXPECT_EQ(sse.status, 200);
  EXPECT_NE(sse.body.find("retry:"), std::string::npos);
  EXPECT_EQ(call("GET", "/events", withBearer(hs256({{"alg", "HS256"}}, nlohmann::json::object(), "k"))).status, 503);
}

TEST(Authenticator, OldApiRefusalIs401OrA503WhileKeysCannotBeFetched) {
  auto unauthorized = Authenticator::refusal({401, "token expired", {}});
  EXPECT_EQ(unauthorized.status, 401);
  EXPECT_EQ(unauthorized.body, "{\"error\":\"unauthorized\",\"message\":\"token expired\"}\n");
  EXPECT_EQ(unauthorized.headers.get("WWW-Authenticate"), "Bearer");
  auto unavailable = Authenticator::refusal({503, "JWKS unreachable", {}});
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(unavailable.body, "{\"error\":\"unavailable\",\"message\":\"JWKS unreachable\"}\n");
  EXPECT_TRUE(unavailable.headers.has("Retry-After"));
}


// --- JWKS: fetched in the background, never on a request's path ---

// A JWKS endpoint that accepts and never answers (SilentServer): a request
// whose key only the JWKS could vouch for gets 503 at once, static tokens and
// HS256 are unaffected, and destroying the authenticator aborts the fetch.
// No timing bounds: with an hour-long fetch timeout, a request that waited on
// the fetch would never return and the test would time out.
TEST(AuthenticatorJwks, AHungJwksDelaysNoRequest) {
  kobs::testing::SilentServer hung;
  kobs::testing::TempDir dir;
  const std::string tokens = dir.str() + "/tokens";
  std::ofstream(tokens) << "static-token\n";
  RsaKey rsa;
  auto a = Authenticator::create({.tokens_file = tokens,
                                  .jwt_hs256_secret = "s3cret",
                                  .jwt_jwks_url = hung.url() + "/jwks.json",
                                  .jwks_timeout = std::chrono::hours(1),
                                  .jwks_min_refresh = std::chrono::milliseconds(0)});
  while (hung.accepted() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the fetch hangs now
  const auto claims = nlohmann::json{{"sub", "ui"}, {"exp", now() + 60}};
  for (int i = 0; i < 3; ++i) {
    auto r = a->verifyToken(rsa.sign({{"alg", "RS256"}, {"kid", "k1"}}, claims));
    EXPECT_EQ(r.status, 503) << r.message;
    EXPECT_TRUE(a->verifyToken("static-token").ok());
    EXPECT_TRUE(a->verifyToken(hs256({{"alg", "HS256"}}, claims, "s3cret")).ok());
  }
  EXPECT_EQ(hung.accepted(), 1u);  // one fetch in flight, not one per request
  a.reset();                       // returns: the fetch in flight is aborted
}

// Cached keys keep serving while a refresh hangs; a rotated key is picked up
// by a background refresh that an unknown kid triggers (503 meanwhile).
TEST(AuthenticatorJwks, CachedKeysServeWhileARefreshHangsAndRotationIsPickedUp) {
  RsaKey k1, k2;
  std::mutex m;
  std::condition_variable cv;
  bool hold = false, rotated = false;
  std::atomic<int> fetches{0};
  http::Router router;
  router.get("/jwks.json", [&](const http::Request&) {
    std::unique_lock lock(m);
    ++fetches;
    cv.wait(lock, [&] { return !hold; });
    auto keys = nlohmann::json::array({rotated ? k2.jwk("k2") : k1.jwk("k1")});
    return http::Response::json(200, nlohmann::json{{"keys", keys}}.dump());
  }, {.blocking = true});
  http::Server jwks({.listen = "127.0.0.1:0"}, std::move(router));
  jwks.start();
  auto a = Authenticator::create({.jwt_jwks_url = "http://127.0.0.1:" + std::to_string(jwks.port()) + "/jwks.json",
                                  .jwks_min_refresh = std::chrono::milliseconds(0)});
  ASSERT_TRUE(a->waitForJwksFetches(1, std::chrono::seconds(30)));
  const auto claims = nlohmann::json{{"sub", "ui"}, {"exp", now() + 60}};
  const std::string old_token = k1.sign({{"alg", "RS256"}, {"kid", "k1"}}, claims);
  const std::string new_token = k2.sign({{"alg", "RS256"}, {"kid", "k2"}}, claims);
  EXPECT_TRUE(a->verifyToken(old_token).ok());
  {
    std::lock_guard lock(m);
    hold = true;
    rotated = true;
  }
  // An unknown kid asks for a refresh, which now hangs in the endpoint.
  EXPECT_EQ(a->verifyToken(new_token).status, 503);
  while (fetches.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(a->verifyToken(old_token).ok());  // the cached key serves
  {
    std::lock_guard lock(m);
    hold = false;
  }
  cv.notify_all();
  ASSERT_TRUE(a->waitForJwksFetches(2, std::chrono::seconds(30)));
  EXPECT_TRUE(a->verifyToken(new_token).ok());
  jwks.stop(std::chrono::milliseconds(500));
}

}  // namespace
}  // namespace kobs::serve::auth
