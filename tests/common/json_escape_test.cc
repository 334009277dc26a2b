// The one JSON string escaper of kobs, in its two styles.
#include "common/json_escape.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace kobs::json {
namespace {

TEST(JsonEscape, MinimalEscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(quote("plain"), "\"plain\"");
  EXPECT_EQ(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(quote(std::string("\n\r\t\b\f\x01<&>\xc3\xa9", 11)), "\"\\n\\r\\t\\b\\f\\u0001<&>\xc3\xa9\"");
  std::string out = "[";
  appendString(out, "x");
  EXPECT_EQ(out, "[\"x\"");
}

TEST(JsonEscape, GoStyleMatchesEncodingJson) {
  EXPECT_EQ(quote(std::string("a\x01\tb\xe2\x80\xa8\xc3\xa9\xff", 10), Escape::kGo),
            "\"a\\u0001\\tb\\u2028\xc3\xa9\\ufffd\"");
  EXPECT_EQ(quote("<a href=\"x\">&</a>", Escape::kGo), "\"\\u003ca href=\\\"x\\\"\\u003e\\u0026\\u003c/a\\u003e\"");
  EXPECT_EQ(quote("\b\f\xe2\x80\xa9", Escape::kGo), "\"\\u0008\\u000c\\u2029\"");
  // Overlong, surrogate and truncated sequences: one U+FFFD per byte.
  EXPECT_EQ(quote("\xc0\xaf", Escape::kGo), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(quote("\xed\xa0\x80", Escape::kGo), "\"\\ufffd\\ufffd\\ufffd\"");
  EXPECT_EQ(quote("\xe2\x82", Escape::kGo), "\"\\ufffd\\ufffd\"");
  EXPECT_EQ(quote("\xf0\x9f\x98\x80", Escape::kGo), "\"\xf0\x9f\x98\x80\"");
}

TEST(JsonEscape, EveryByteStringParsesBackInBothStyles) {
  std::string all;
  for (int c = 0; c < 128; ++c) all.push_back(char(c));
  for (auto style : {Escape::kMinimal, Escape::kGo})
    EXPECT_EQ(nlohmann::json::parse(quote(all, style)).get<std::string>(), all);
}

}  // namespace
}  // namespace kobs::json
