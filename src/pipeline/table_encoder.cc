#include "pipeline/table_encoder.h"

namespace kobs::pipeline {

void throwUnsupportedType(std::string_view type, std::string_view expected) {
  throw Exception(ErrorCode::kSchemaMismatch, "kobs cannot write type {} here (expected {})", type, expected);
}

void writeTime(RowBinaryWriter& w, const TimeType& t, int64_t unix_nanos) {
  switch (t.kind) {
    case TimeType::kDateTime64: {
      int64_t v = unix_nanos;
      for (int p = 9; p > t.precision; --p) v /= 10;
      w.fixed<int64_t>(v);
      return;
    }
    case TimeType::kDateTime:
      w.fixed<uint32_t>(static_cast<uint32_t>(unix_nanos / 1'000'000'000));
      return;
    case TimeType::kDate:
      w.fixed<uint16_t>(static_cast<uint16_t>(unix_nanos / 1'000'000'000 / 86400));
      return;
    case TimeType::kUnsupported:
      break;
  }
  throw Exception(ErrorCode::kInternal, "writeTime on an unsupported type");
}

void writeAttributeMap(RowBinaryWriter& w, const Attributes& attributes) {
  w.varUInt(attributes.size());
  for (const auto& [key, value] : attributes) {
    w.string(key);
    if (const auto* s = std::get_if<std::string>(&value.value)) {
      w.string(*s);
    } else {
      // Encode in place after a length placeholder would need a second pass;
      // non-string attributes are the minority, so a scratch string is fine.
      std::string tmp;
      appendAsString(tmp, value);
      w.string(tmp);
    }
  }
}

void writeAttributeMap(RowBinaryWriter& w, AttributesRef attributes) {
  w.varUInt(attributes.size());
  std::string tmp;
  for (const auto& a : attributes) {
    w.string(a.key);
    if (a.value.kind == AnyValueRef::kString) {
      w.string(a.value.s);
    } else {
      tmp.clear();
      appendAsString(tmp, a.value);
      w.string(tmp);
    }
  }
}

IntKind parseIntKind(std::string_view type) {
  auto t = unwrapLowCardinality(type);
  if (t == "UInt8" || t == "Bool") return IntKind::kU8;
  if (t == "UInt16") return IntKind::kU16;
  if (t == "UInt32") return IntKind::kU32;
  if (t == "UInt64") return IntKind::kU64;
  if (t == "Int8") return IntKind::kI8;
  if (t == "Int16") return IntKind::kI16;
  if (t == "Int32") return IntKind::kI32;
  if (t == "Int64") return IntKind::kI64;
  throwUnsupportedType(type, "an integer type");
}

void writeInt(RowBinaryWriter& w, IntKind kind, int64_t v) {
  switch (kind) {
    case IntKind::kU8: w.fixed<uint8_t>(static_cast<uint8_t>(v)); break;
    case IntKind::kU16: w.fixed<uint16_t>(static_cast<uint16_t>(v)); break;
    case IntKind::kU32: w.fixed<uint32_t>(static_cast<uint32_t>(v)); break;
    case IntKind::kU64: w.fixed<uint64_t>(static_cast<uint64_t>(v)); break;
    case IntKind::kI8: w.fixed<int8_t>(static_cast<int8_t>(v)); break;
    case IntKind::kI16: w.fixed<int16_t>(static_cast<int16_t>(v)); break;
    case IntKind::kI32: w.fixed<int32_t>(static_cast<int32_t>(v)); break;
    case IntKind::kI64: w.fixed<int64_t>(v); break;
  }
}

}  // namespace kobs::pipeline
