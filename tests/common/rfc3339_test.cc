// The one RFC 3339 parser of kobs.
#include "common/rfc3339.h"

#include <gtest/gtest.h>

namespace kobs::rfc3339 {
namespace {

TEST(Rfc3339, ZuluOffsetsAndFractions) {
  EXPECT_EQ(parseNanos("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parseNanos("2026-03-15T10:00:00Z"), int64_t(1773568800) * 1000000000);
  EXPECT_EQ(parseNanos("2026-03-15T11:00:00.5+01:00"), int64_t(1773568800500000000));
  EXPECT_EQ(parseNanos("2026-03-15T09:30:00.000000001-00:30"), int64_t(1773568800000000001));
  EXPECT_EQ(parseNanos("2026-03-15t10:00:00z"), parseNanos("2026-03-15 10:00:00Z"));
  // Digits past nanoseconds are truncated.
  EXPECT_EQ(parseNanos("2024-05-01T10:00:00.1234567891Z"), int64_t(1714557600123456789));
  // A leap second is the next minute's first.
  EXPECT_EQ(parseNanos("2016-12-31T23:59:60Z"), parseNanos("2017-01-01T00:00:00Z"));
  auto t = parse("1969-12-31T23:59:59.25Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->seconds, -1);
  EXPECT_EQ(t->nanos, 250000000);
}

TEST(Rfc3339, MalformedOrOutOfRangeRefused) {
  for (const char* bad : {"", "yesterday", "2026-03-15", "2026-03-15T10:00:00", "2026-03-15T10:00:00.Z",
                          "2026-13-15T10:00:00Z", "2026-02-30T10:00:00Z", "2026-03-15T24:00:00Z",
                          "2026-03-15T10:00:00+0100", "2026-03-15T10:00:00Z junk", "2026-03-15T10:00:00+01:00x"})
    EXPECT_FALSE(parse(bad)) << bad;
  EXPECT_TRUE(parse("9999-12-31T23:59:59Z"));
  EXPECT_FALSE(parseNanos("9999-12-31T23:59:59Z"));  // beyond int64 nanoseconds
}

}  // namespace
}  // namespace kobs::rfc3339
