#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include "common/error.h"
#include "store/clickhouse/body_codec.h"

namespace kobs::store {
namespace {

std::string gunzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string out;
  char buf[65536];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&zs);
  EXPECT_EQ(rc, Z_STREAM_END);
  return out;
}

std::string sample() {
  std::string s;
  for (int i = 0; i < 20000; ++i) s += "row " + std::to_string(i) + " some repeated text\n";
  return s;
}

TEST(BodyCodec, GzipRoundTripsAndShrinks) {
  std::string in = sample();
  std::string z = compressBody(BodyCompression::kGzip, in, 1);
  EXPECT_LT(z.size(), in.size() / 3);
  ASSERT_GE(z.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(z[0]), 0x1f);  // gzip magic, not a raw zlib stream
  EXPECT_EQ(static_cast<unsigned char>(z[1]), 0x8b);
  EXPECT_EQ(gunzip(z), in);
}

TEST(BodyCodec, ZstdRoundTrips) {
  std::string in = sample();
  std::string z = compressBody(BodyCompression::kZstd, in, 1);
  EXPECT_LT(z.size(), in.size() / 3);
  std::string out(ZSTD_getFrameContentSize(z.data(), z.size()), '\0');
  EXPECT_EQ(ZSTD_decompress(out.data(), out.size(), z.data(), z.size()), in.size());
  EXPECT_EQ(out, in);
}

TEST(BodyCodec, EmptyBodyAndNames) {
  EXPECT_EQ(gunzip(compressBody(BodyCompression::kGzip, "", 1)), "");
  EXPECT_EQ(compressBody(BodyCompression::kNone, "abc", 1), "abc");
  EXPECT_EQ(contentEncoding(BodyCompression::kGzip), "gzip");
  EXPECT_EQ(contentEncoding(BodyCompression::kZstd), "zstd");
  EXPECT_EQ(contentEncoding(BodyCompression::kNone), "");
  EXPECT_EQ(parseBodyCompression("zstd"), BodyCompression::kZstd);
  EXPECT_THROW(parseBodyCompression("lzma"), Exception);
}

}  // namespace
}  // namespace kobs::store
