#include "http/router.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "http/http_server.h"
#include "http/message.h"

namespace kobs::http {
namespace {

Handler answer(std::string text) {
  return [text](const Request&) { return Response::text(200, text); };
}

std::string run(const Router& router, std::string_view method, std::string_view path) {
  auto m = router.resolve(method, path);
  if (!m.handler) return std::to_string(m.status) + " " + m.allow;
  return (*m.handler)(Request{}).body + "|" + m.path_rest;
}

TEST(Router, ExactBeatsPrefixAndLongestPrefixWins) {
  Router r;
  r.get("/events", answer("list"));
  r.addPrefix("GET", "/events/", answer("one"));
  r.addPrefix("GET", "/events/special/", answer("special"));
  r.get("/events/exact", answer("exact"));
  EXPECT_EQ(run(r, "GET", "/events"), "list|");
  EXPECT_EQ(run(r, "GET", "/events/abc"), "one|abc");
  EXPECT_EQ(run(r, "GET", "/events/"), "one|");
  EXPECT_EQ(run(r, "GET", "/events/special/x/y"), "special|x/y");
  EXPECT_EQ(run(r, "GET", "/events/exact"), "exact|");
  EXPECT_EQ(run(r, "GET", "/eventsx"), "404 ");
  EXPECT_EQ(run(r, "GET", "/"), "404 ");
}

TEST(Router, WrongMethodIs405WithAllowAndHeadFollowsGet) {
  Router r;
  r.get("/a", answer("get"));
  r.post("/a", answer("post"));
  r.post("/only-post", answer("p"));
  EXPECT_EQ(run(r, "HEAD", "/a"), "get|");
  EXPECT_EQ(run(r, "POST", "/a"), "post|");
  EXPECT_EQ(run(r, "DELETE", "/a"), "405 GET, POST, HEAD");
  EXPECT_EQ(run(r, "GET", "/only-post"), "405 POST");
  EXPECT_EQ(run(r, "get", "/a"), "405 GET, POST, HEAD");  // methods are case-sensitive
}

TEST(Router, RejectsBadRegistrations) {
  Router r;
  r.get("/a", answer("x"));
  EXPECT_THROW(r.get("/a", answer("y")), Exception);
  EXPECT_THROW(r.get("relative", answer("y")), Exception);
  EXPECT_THROW(r.get("/b", nullptr), Exception);
  EXPECT_NO_THROW(r.addPrefix("GET", "/a", answer("prefix of same path is another route")));
}

TEST(Message, PercentDecoding) {
  EXPECT_EQ(percentDecode("a%20b%2Fc", false), "a b/c");
  EXPECT_EQ(percentDecode("a+b", false), "a+b");
  EXPECT_EQ(percentDecode("a+b", true), "a b");
  EXPECT_EQ(percentDecode("%e2%82%ac", false), "\xe2\x82\xac");
  EXPECT_EQ(percentDecode("bad%G1", false), std::nullopt);
  EXPECT_EQ(percentDecode("short%4", false), std::nullopt);
  EXPECT_EQ(percentDecode("end%", false), std::nullopt);
}

TEST(Message, QueryParsingKeepsOrderRepeatsAndEmptyValues) {
  auto q = parseQuery("composition_id=a%20b&limit=50&flag&x=1&x=2&&k%3D=v%26w");
  ASSERT_TRUE(q);
  QueryParams want{{"composition_id", "a b"}, {"limit", "50"}, {"flag", ""}, {"x", "1"}, {"x", "2"}, {"k=", "v&w"}};
  EXPECT_EQ(*q, want);
  EXPECT_EQ(parseQuery("a=%zz"), std::nullopt);
  EXPECT_EQ(parseQuery("")->size(), 0u);
}

TEST(Message, HeadersAreCaseInsensitive) {
  Headers h;
  h.add("Content-Type", "a");
  h.add("X-Multi", "1");
  h.add("x-multi", "2");
  EXPECT_EQ(h.get("content-type"), "a");
  EXPECT_EQ(h.get("X-MULTI"), "1");
  h.set("X-Multi", "3");
  EXPECT_EQ(h.get("x-multi"), "3");
  EXPECT_EQ(h.fields().size(), 2u);
  EXPECT_FALSE(h.has("missing"));
}

TEST(ListenAddress, Parses) {
  EXPECT_EQ(parseListenAddress(":8080").host, "");
  EXPECT_EQ(parseListenAddress(":8080").port, 8080);
  EXPECT_EQ(parseListenAddress("127.0.0.1:0").host, "127.0.0.1");
  EXPECT_EQ(parseListenAddress("[::1]:9000").host, "::1");
  EXPECT_EQ(parseListenAddress("[::1]:9000").port, 9000);
  EXPECT_EQ(parseListenAddress("localhost:80").host, "localhost");
  EXPECT_THROW(parseListenAddress("8080"), Exception);
  EXPECT_THROW(parseListenAddress(":99999"), Exception);
  EXPECT_THROW(parseListenAddress(":"), Exception);
  EXPECT_THROW(parseListenAddress("::1:80"), Exception);
  EXPECT_THROW(parseListenAddress("[::1]80"), Exception);
}

}  // namespace
}  // namespace kobs::http
