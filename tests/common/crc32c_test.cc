#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace kobs {
namespace {

// The check value of CRC-32C (RFC 3720 appendix B.4 lists it with its test vectors).
TEST(Crc32c, CheckValue) {
  EXPECT_EQ(crc32c(0, "123456789"), 0xE3069283u);
  EXPECT_EQ(crc32cPortable(0, "123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(0, ""), 0u);
  // RFC 3720 B.4: 32 bytes of zeros, 32 bytes of 0xFF.
  EXPECT_EQ(crc32c(0, std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(0, std::string(32, '\xff')), 0x62A8AB43u);
}

TEST(Crc32c, HardwareAndPortableAgreeAndContinue) {
  std::mt19937 rng(7);
  std::string data(100000, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  // Lengths around the interleaved blocks (3 x 256 and 3 x 8192 bytes) too.
  for (size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 65u, 767u, 768u, 775u, 1000u, 4999u, 24575u, 24576u, 24583u,
                     50000u, 99990u}) {
    std::string_view v(data.data() + (len % 3), std::min<size_t>(len, data.size() - 3));
    EXPECT_EQ(crc32c(0, v), crc32cPortable(0, v)) << len;
    for (size_t cut : {size_t{0}, v.size() / 3, v.size()})
      EXPECT_EQ(crc32c(crc32c(0, v.substr(0, cut)), v.substr(cut)), crc32c(0, v)) << len << " cut " << cut;
  }
}

}  // namespace
}  // namespace kobs
