#include "store/clickhouse/body_codec.h"

#include <zlib.h>
#include <zstd.h>

#include "common/error.h"

namespace kobs::store {

BodyCompression parseBodyCompression(std::string_view name) {
  if (name == "none" || name.empty()) return BodyCompression::kNone;
  if (name == "gzip") return BodyCompression::kGzip;
  if (name == "zstd") return BodyCompression::kZstd;
  throw Exception(ErrorCode::kBadConfig, "unknown body compression '{}' (expected none, gzip or zstd)", name);
}

std::string_view contentEncoding(BodyCompression compression) {
  switch (compression) {
    case BodyCompression::kNone: return "";
    case BodyCompression::kGzip: return "gzip";
    case BodyCompression::kZstd: return "zstd";
  }
  return "";
}

namespace {

std::string gzip(std::string_view data, int level) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip wrapper rather than raw zlib.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Exception(ErrorCode::kInternal, "deflateInit2 failed");
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  size_t produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw Exception(ErrorCode::kInternal, "gzip compression failed (zlib rc {})", rc);
  out.resize(produced);
  return out;
}

std::string zstd(std::string_view data, int level) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), level);
  if (ZSTD_isError(n)) throw Exception(ErrorCode::kInternal, "zstd compression failed: {}", ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

}  // namespace

std::string compressBody(BodyCompression compression, std::string_view data, int level) {
  // uInt sizes in zlib: bodies above 4 GiB are out of scope for one request.
  if (data.size() > UINT32_MAX) throw Exception(ErrorCode::kBadArguments, "request body of {} bytes is too large", data.size());
  switch (compression) {
    case BodyCompression::kNone: return std::string(data);
    case BodyCompression::kGzip: return gzip(data, level);
    case BodyCompression::kZstd: return zstd(data, level);
  }
  return std::string(data);
}

}  // namespace kobs::store
