// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, as in iSCSI, ext4 and
// SSE4.2's crc32 instruction): the disk buffer's record checksum. Uses the
// CPU instruction when the CPU has it (checked once at run time) and a table
// otherwise; both give the same value. Written here because Debian 12 packages
// no C/C++ CRC-32C library (zlib has only CRC-32, whose table code is 4x slower).
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace kobs {

// Continues `crc` (0 to start) over `bytes`: crc32c(crc32c(0, a), b) == crc32c(0, a + b).
uint32_t crc32c(uint32_t crc, std::string_view bytes);

// The portable path alone, for tests that compare the two.
uint32_t crc32cPortable(uint32_t crc, std::string_view bytes);

// Whether crc32c() uses the CPU instruction here.
bool crc32cHardware();

}  // namespace kobs
