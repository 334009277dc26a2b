#include "store/clickhouse/body_codec.h"

#include <zlib.h>
#include <zstd.h>

#include <cctype>
#include <memory>

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

namespace {

std::string gunzip(std::string_view in, size_t limit) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw Exception(ErrorCode::kInternal, "inflateInit2 failed");
  struct Guard {
    z_stream* z;
    ~Guard() { inflateEnd(z); }
  } guard{&zs};
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char chunk[64 * 1024];
  int ret = Z_OK;
  while (ret != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof chunk;
    ret = inflate(&zs, Z_NO_FLUSH);
    if (ret != Z_OK && ret != Z_STREAM_END) {
      if (ret == Z_BUF_ERROR && zs.avail_in == 0) throw Exception(ErrorCode::kBadInput, "truncated gzip body");
      throw Exception(ErrorCode::kBadInput, "corrupt gzip body: {}", zs.msg ? zs.msg : "inflate error");
    }
    const size_t produced = sizeof chunk - zs.avail_out;
    if (out.size() + produced > limit) throw BodyTooLarge{limit};
    out.append(chunk, produced);
    if (ret != Z_STREAM_END && zs.avail_in == 0 && produced == 0)
      throw Exception(ErrorCode::kBadInput, "truncated gzip body");
  }
  return out;
}

std::string unzstd(std::string_view in, size_t limit) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  std::string out;
  char chunk[64 * 1024];
  size_t ret = 1;
  while (input.pos < input.size || ret != 0) {
    ZSTD_outBuffer output{chunk, sizeof chunk, 0};
    ret = ZSTD_decompressStream(ctx.get(), &output, &input);
    if (ZSTD_isError(ret)) throw Exception(ErrorCode::kBadInput, "corrupt zstd body: {}", ZSTD_getErrorName(ret));
    if (out.size() + output.pos > limit) throw BodyTooLarge{limit};
    out.append(chunk, output.pos);
    if (input.pos == input.size && output.pos == 0 && ret != 0)
      throw Exception(ErrorCode::kBadInput, "truncated zstd body");
  }
  return out;
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

}  // namespace

std::string decompressBody(std::string_view encoding, std::string_view body, size_t limit) {
  while (!encoding.empty() && (encoding.front() == ' ' || encoding.front() == '\t')) encoding.remove_prefix(1);
  while (!encoding.empty() && (encoding.back() == ' ' || encoding.back() == '\t')) encoding.remove_suffix(1);
  if (encoding.empty() || iequal(encoding, "identity")) {
    if (body.size() > limit) throw BodyTooLarge{limit};
    return std::string(body);
  }
  if (iequal(encoding, "gzip") || iequal(encoding, "x-gzip")) return gunzip(body, limit);
  if (iequal(encoding, "zstd")) return unzstd(body, limit);
  throw UnsupportedEncoding{std::string(encoding)};
}

}  // namespace kobs::store
