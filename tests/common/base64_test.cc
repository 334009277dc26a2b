// The one base64 of kobs: both alphabets, padding, and the lenient readers.
#include "common/base64.h"

#include <gtest/gtest.h>

namespace kobs::base64 {
namespace {

TEST(Base64, StandardAndUrlRoundTripEveryLength) {
  for (std::string s : {std::string(), std::string("f"), std::string("fo"), std::string("foo"), std::string("foob"),
                        std::string("fooba"), std::string("foobar"), std::string("\xff\xfe\x00x", 4)}) {
    EXPECT_EQ(decode(encode(s)), s);
    EXPECT_EQ(decodeUrl(encodeUrl(s)), s);
  }
  // RFC 4648 §10 test vectors.
  EXPECT_EQ(encode("f"), "Zg==");
  EXPECT_EQ(encode("fo"), "Zm8=");
  EXPECT_EQ(encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(encodeUrl("\xfb\xff"), "-_8");
  std::string out = "x";
  append(out, "fo");
  EXPECT_EQ(out, "xZm8=");
}

TEST(Base64, StrictUrlAlphabetAndMalformedInputRefused) {
  EXPECT_FALSE(decodeUrl("a+b/"));
  EXPECT_EQ(decodeUrl("-_8"), "\xfb\xff");
  EXPECT_EQ(decodeUrl("-_8="), "\xfb\xff");  // padding optional
  EXPECT_FALSE(decode("Zg=x"));             // data after padding
  EXPECT_FALSE(decode("Z"));                // one symbol left over
  EXPECT_FALSE(decode("Zm 8="));            // whitespace only when asked
  EXPECT_FALSE(decode("Zm*8"));
}

TEST(Base64, LenientReadersSkipWhitespaceAndReadSpaceAsPlus) {
  EXPECT_EQ(decode("Zm9v\nYmFy\n", {.alphabet = Alphabet::kStandard, .skip_whitespace = true}), "foobar");
  EXPECT_FALSE(decode("-_8", {.alphabet = Alphabet::kStandard}));
  EXPECT_EQ(decode(" /8=", {.alphabet = Alphabet::kEither, .space_is_plus = true}), "\xfb\xff");
  EXPECT_EQ(decode("+_8", {.alphabet = Alphabet::kEither}), "\xfb\xff");  // mixed alphabets
}

}  // namespace
}  // namespace kobs::base64
