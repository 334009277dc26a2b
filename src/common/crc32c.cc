#include "common/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace kobs {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;

constexpr std::array<uint32_t, 256> makeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[i] = c;
  }
  return t;
}

constexpr std::array<uint32_t, 256> kTable = makeTable();

uint32_t portable(uint32_t crc, const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) crc = kTable[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc;
}

// Three streams at once: the crc32 instruction takes 3 cycles but can start
// one per cycle, so one stream uses a third of it. Each pass computes three
// consecutive blocks independently and joins them by shifting the earlier
// CRCs over the later blocks' lengths (the register is linear: the CRC of
// A then B is shift(crc(A), |B|) ^ crc(B) from 0), with tables that apply
// "followed by n zero bytes" to a 32-bit register in four lookups.
constexpr size_t kLong = 8192, kShort = 256;

using ShiftTable = std::array<std::array<uint32_t, 256>, 4>;

ShiftTable makeShift(size_t zero_bytes) {
  std::array<uint32_t, 32> basis{};
  for (int bit = 0; bit < 32; ++bit) {
    uint32_t c = 1u << bit;
    for (size_t i = 0; i < zero_bytes; ++i) c = kTable[c & 0xFF] ^ (c >> 8);
    basis[bit] = c;
  }
  ShiftTable t{};
  for (int k = 0; k < 4; ++k)
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t v = 0;
      for (int j = 0; j < 8; ++j)
        if (b & (1u << j)) v ^= basis[8 * k + j];
      t[k][b] = v;
    }
  return t;
}

uint32_t shift(const ShiftTable& t, uint32_t c) {
  return t[0][c & 0xFF] ^ t[1][(c >> 8) & 0xFF] ^ t[2][(c >> 16) & 0xFF] ^ t[3][c >> 24];
}

#if defined(__x86_64__)
const ShiftTable kShiftLong = makeShift(kLong);
const ShiftTable kShiftShort = makeShift(kShort);

inline uint64_t load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

__attribute__((target("sse4.2"))) void interleaved(uint64_t& c0, const unsigned char*& p, size_t& n, size_t block,
                                                   const ShiftTable& t) {
  while (n >= 3 * block) {
    uint64_t c1 = 0, c2 = 0;
    for (const unsigned char* end = p + block; p < end; p += 8) {
      c0 = _mm_crc32_u64(c0, load64(p));
      c1 = _mm_crc32_u64(c1, load64(p + block));
      c2 = _mm_crc32_u64(c2, load64(p + 2 * block));
    }
    c0 = shift(t, static_cast<uint32_t>(c0)) ^ c1;
    c0 = shift(t, static_cast<uint32_t>(c0)) ^ c2;
    p += 2 * block;
    n -= 3 * block;
  }
}

__attribute__((target("sse4.2"))) uint32_t hardware(uint32_t crc, const unsigned char* p, size_t n) {
  uint64_t c0 = crc;
  interleaved(c0, p, n, kLong, kShiftLong);
  interleaved(c0, p, n, kShort, kShiftShort);
  while (n >= 8) {
    c0 = _mm_crc32_u64(c0, load64(p));
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c0);
  while (n > 0) {
    c32 = _mm_crc32_u8(c32, *p++);
    --n;
  }
  return c32;
}

bool detect() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
#else
bool detect() { return false; }
#endif

// Decided once: a const after start, not mutable state.
const bool kHardware = detect();

}  // namespace

uint32_t crc32c(uint32_t crc, std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  crc = ~crc;
#if defined(__x86_64__)
  if (kHardware) return ~hardware(crc, p, bytes.size());
#endif
  return ~portable(crc, p, bytes.size());
}

uint32_t crc32cPortable(uint32_t crc, std::string_view bytes) {
  return ~portable(~crc, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

bool crc32cHardware() { return kHardware; }

}  // namespace kobs
