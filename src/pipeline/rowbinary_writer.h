// Appends values in ClickHouse's RowBinary format: little-endian fixed-width
// numbers, LEB128 lengths before strings and arrays, Map as an array of
// key/value pairs, LowCardinality(T) written as T, Nested as parallel arrays.
// Hand-written because no library emits RowBinary; it is a handful of rules.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace kobs::pipeline {

class RowBinaryWriter {
 public:
  explicit RowBinaryWriter(std::string& out) : out_(out) {}

  void varUInt(uint64_t v) {
    char buf[10];
    size_t n = 0;
    while (v >= 0x80) {
      buf[n++] = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    out_.append(buf, n);
  }

  template <typename T>
  void fixed(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));  // x86-64 and aarch64 are little-endian, as RowBinary is
    out_.append(buf, sizeof(T));
  }

  void string(std::string_view s) {
    varUInt(s.size());
    out_.append(s.data(), s.size());
  }

  std::string& buffer() { return out_; }

 private:
  std::string& out_;
};

}  // namespace kobs::pipeline
