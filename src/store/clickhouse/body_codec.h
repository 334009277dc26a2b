// Compression of HTTP request bodies, named by their Content-Encoding.
//
// ClickHouse decompresses a request body by its Content-Encoding header.
// gzip (and deflate/br/xz) is understood by every version kobs targets,
// including 18.16; zstd (and lz4) only by newer servers (21.x on), 18.16
// rejects it with code 89. Compression costs CPU on our side, so the store
// only compresses bodies above a size threshold.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kobs::store {

enum class BodyCompression : uint8_t { kNone = 0, kGzip = 1, kZstd = 2 };

// "none", "gzip", "zstd"; throws kBadConfig for anything else.
BodyCompression parseBodyCompression(std::string_view name);
// The Content-Encoding value ("" for kNone).
std::string_view contentEncoding(BodyCompression compression);

// Compresses `data`; `level` is the codec's own scale (gzip 1-9, zstd 1-19).
std::string compressBody(BodyCompression compression, std::string_view data, int level);

// The other side of compressBody, for a server taking such bodies (the
// ClickHouse-compatible endpoint's write path): `encoding` is the request's
// Content-Encoding ("", identity, gzip, x-gzip, zstd). Output beyond `limit`
// bytes throws BodyTooLarge, so a small bomb cannot take the memory; a
// corrupt or truncated body throws kBadInput, another encoding
// UnsupportedEncoding.
struct BodyTooLarge {
  size_t limit;
};
struct UnsupportedEncoding {
  std::string encoding;
};
std::string decompressBody(std::string_view encoding, std::string_view body, size_t limit);

}  // namespace kobs::store
