#include "common/tsv.h"

#include <gtest/gtest.h>

namespace kobs {
namespace {

TEST(UnescapeTsv, TurnsClickHouseEscapesBackIntoBytes) {
  EXPECT_EQ(unescapeTsv(R"(a\tb\nc\\d\'e)"), "a\tb\nc\\d'e");
  EXPECT_EQ(unescapeTsv(R"(\b\f\r)"), "\b\f\r");
  EXPECT_EQ(unescapeTsv(R"(x\0y)"), std::string("x\0y", 3));
}

TEST(UnescapeTsv, LeavesPlainTextAndALoneTrailingBackslash) {
  EXPECT_EQ(unescapeTsv("plain text"), "plain text");
  EXPECT_EQ(unescapeTsv("ends with \\"), "ends with \\");
  EXPECT_EQ(unescapeTsv(""), "");
}

}  // namespace
}  // namespace kobs
