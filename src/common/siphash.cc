#include "common/siphash.h"

#include <bit>
#include <cstring>

namespace kobs {
namespace {

constexpr uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct State {
  uint64_t v0 = 0x736f6d6570736575ULL, v1 = 0x646f72616e646f6dULL, v2 = 0x6c7967656e657261ULL,
           v3 = 0x7465646279746573ULL;
  void round() {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }
  void block(uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

uint64_t loadLe(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

}  // namespace

uint64_t sipHash64(std::string_view bytes) {
  State s;  // key (0, 0): the initial constants unchanged
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) s.block(loadLe(p + i));
  uint64_t last = uint64_t(n & 0xff) << 56;
  for (size_t j = 0; i + j < n; ++j) last |= uint64_t(p[i + j]) << (8 * j);
  s.block(last);
  s.v2 ^= 0xff;
  for (int r = 0; r < 4; ++r) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t sipHash64Int(int64_t value) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(uint64_t(value) >> (8 * i));
  return sipHash64(std::string_view(reinterpret_cast<const char*>(b), 8));
}

uint64_t sipHash64Combine(uint64_t h1, uint64_t h2) {
  unsigned char b[16];
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<unsigned char>(h1 >> (8 * i));
    b[8 + i] = static_cast<unsigned char>(h2 >> (8 * i));
  }
  return sipHash64(std::string_view(reinterpret_cast<const char*>(b), 16));
}

}  // namespace kobs
