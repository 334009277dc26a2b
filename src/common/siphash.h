// SipHash-2-4 with a zero key, as ClickHouse's sipHash64() computes it, so
// kobs can know a row's hash-derived key (krateo_events.row_key) before the
// store computes it.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace kobs {

// sipHash64(bytes) of one String argument.
uint64_t sipHash64(std::string_view bytes);

// sipHash64(a, b, ...) over several arguments: ClickHouse hashes each and
// folds them left to right with this (the hash of the two hashes' 16
// little-endian bytes).
uint64_t sipHash64Combine(uint64_t h1, uint64_t h2);

// sipHash64 of an 8-byte integer argument (Int64, DateTime64 as ticks):
// the hash of its little-endian bytes.
uint64_t sipHash64Int(int64_t value);

}  // namespace kobs
