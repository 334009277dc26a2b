#include "collect/otlp/otlp_wire.h"

#include <cstring>

#include "collect/otlp/otlp_decode.h"
#include "pipeline/rowbinary_writer.h"
#include "pipeline/table_encoder.h"

namespace kobs::collect::otlp {

void* RefStorage::bytes(size_t n, size_t align) {
  if (!blocks_.empty()) {
    auto& b = blocks_.back();
    const size_t at = (used_ + align - 1) & ~(align - 1);
    if (at + n <= b.size) {
      used_ = at + n;
      return b.data.get() + at;
    }
  }
  const size_t size = std::max(n + align, blocks_.empty() ? first_block_ : blocks_.back().size * 2);
  blocks_.push_back(Block{std::make_unique_for_overwrite<char[]>(size), size});
  auto* base = blocks_.back().data.get();
  const size_t at = (reinterpret_cast<uintptr_t>(base) % align) ? align - reinterpret_cast<uintptr_t>(base) % align : 0;
  used_ = at + n;
  return base + at;
}

std::string_view RefStorage::copy(std::string_view s) {
  if (s.empty()) return {};
  char* p = static_cast<char*>(bytes(s.size(), 1));
  std::memcpy(p, s.data(), s.size());
  return {p, s.size()};
}

pipeline::EncodedMap encodeMap(RefStorage& storage, pipeline::AttributesRef attrs) {
  std::string bytes;
  pipeline::RowBinaryWriter w(bytes);
  pipeline::writeAttributeMap(w, attrs);
  return {storage.copy(bytes)};
}

bool validUtf8(std::string_view str) {
  const auto* p = reinterpret_cast<const uint8_t*>(str.data());
  const auto* end = p + str.size();
  while (p < end) {
    // ASCII eight bytes at a time: most strings are only that.
    while (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if (w & 0x8080808080808080ull) break;
      p += 8;
    }
    if (p >= end) break;
    const uint8_t c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) n = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) n = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) n = 3, cp = c & 0x07;
    else return false;
    if (size_t(end - p) <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      if ((p[k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[k] & 0x3F);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    p += n + 1;
  }
  return true;
}

namespace {

using pipeline::AnyValueRef;
using pipeline::AttributeRef;

// Thrown inside the reader when the input is not in the shape it handles;
// caught at the top: the generated parser decides (see the header).
struct Fallback {};

// Message nesting beyond this goes to the generated parser, well below its
// own recursion limit (100), so the reader never accepts what it refuses.
constexpr int kMaxMessageDepth = 64;

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

struct Wire {
  const uint8_t* p;
  const uint8_t* end;

  explicit Wire(std::string_view s)
      : p(reinterpret_cast<const uint8_t*>(s.data())), end(reinterpret_cast<const uint8_t*>(s.data()) + s.size()) {}

  bool done() const { return p >= end; }

  uint64_t varint() {
    if (p < end && *p < 0x80) return *p++;
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (p >= end) throw Fallback{};
      const uint8_t b = *p++;
      if (shift == 63 && b > 1) throw Fallback{};
      v |= uint64_t(b & 0x7F) << shift;
      if (b < 0x80) return v;
    }
    throw Fallback{};
  }

  // Field number and wire type; field 0 and groups go to the generated parser.
  std::pair<uint32_t, uint32_t> tag() {
    const uint64_t t = varint();
    const uint32_t wt = uint32_t(t & 7), field = uint32_t(t >> 3);
    if (field == 0 || t > 0xFFFFFFFFull || (wt != kVarint && wt != kFixed64 && wt != kLen && wt != kFixed32))
      throw Fallback{};
    return {field, wt};
  }

  std::string_view bytes() {
    const uint64_t n = varint();
    if (n > uint64_t(end - p)) throw Fallback{};
    std::string_view s(reinterpret_cast<const char*>(p), size_t(n));
    p += n;
    return s;
  }

  std::string_view string() {
    auto s = bytes();
    if (!validUtf8(s)) throw Fallback{};
    return s;
  }

  uint64_t fixed64() {
    if (end - p < 8) throw Fallback{};
    uint64_t v;
    std::memcpy(&v, p, 8);
    p += 8;
    return v;
  }

  uint32_t fixed32() {
    if (end - p < 4) throw Fallback{};
    uint32_t v;
    std::memcpy(&v, p, 4);
    p += 4;
    return v;
  }

  void skip(uint32_t wt) {
    switch (wt) {
      case kVarint: varint(); return;
      case kFixed64: fixed64(); return;
      case kFixed32: fixed32(); return;
      case kLen: bytes(); return;
      default: throw Fallback{};
    }
  }
};

inline void expect(uint32_t wt, uint32_t want) {
  if (wt != want) throw Fallback{};
}

// Counts the occurrences of length-delimited fields in a message (the sizes
// of its repeated message fields), so their arrays are allocated once.
template <size_t N>
std::array<size_t, N> countFields(std::string_view msg, const std::array<uint32_t, N>& fields) {
  std::array<size_t, N> counts{};
  Wire w(msg);
  while (!w.done()) {
    auto [f, wt] = w.tag();
    for (size_t i = 0; i < N; ++i)
      if (f == fields[i] && wt == kLen) ++counts[i];
    w.skip(wt);
  }
  return counts;
}

template <size_t N>
std::array<uint8_t, N> id(std::string_view bytes) {
  std::array<uint8_t, N> out{};
  if (bytes.empty()) return out;
  if (bytes.size() != N) throw Fallback{};  // the generated path refuses it, with the reason
  std::memcpy(out.data(), bytes.data(), N);
  return out;
}

class Reader {
 public:
  explicit Reader(RefStorage& storage) : st_(storage) {}

  // KeyValue list fields: `count` entries of field `field` in `msg`.
  pipeline::AttributesRef attributes(std::string_view msg, uint32_t field, size_t count, int depth) {
    if (count == 0) return {};
    auto* out = st_.allocate<AttributeRef>(count);
    size_t i = 0;
    Wire w(msg);
    while (!w.done()) {
      auto [f, wt] = w.tag();
      if (f == field && wt == kLen) out[i++] = keyValue(w.bytes(), depth + 1);
      else w.skip(wt);
    }
    return {out, i};
  }

  // The RowBinary Map bytes of a resource's or scope's attributes.
  pipeline::EncodedMap encode(pipeline::AttributesRef attrs) {
    scratch_.clear();
    pipeline::RowBinaryWriter w(scratch_);
    pipeline::writeAttributeMap(w, attrs);
    return {st_.copy(scratch_)};
  }

  pipeline::ResourceRef* resource() {
    auto* r = st_.allocate<pipeline::ResourceRef>(1);
    st_.resources.push_back(r);
    return r;
  }
  pipeline::ScopeRef* scope() { return st_.allocate<pipeline::ScopeRef>(1); }

  void readResource(std::string_view msg, pipeline::ResourceRef& r, int depth) {
    checkDepth(depth);
    size_t n = 0;
    Wire w(msg);
    while (!w.done()) {
      auto [f, wt] = w.tag();
      switch (f) {
        case 1: expect(wt, kLen); w.bytes(); ++n; break;
        case 2: expect(wt, kVarint); w.varint(); break;
        case 3: throw Fallback{};  // entity_refs: rare; the generated parser validates them
        default: w.skip(wt);
      }
    }
    r.attributes = attributes(msg, 1, n, depth);
    r.encoded = encode(r.attributes);
    for (const auto& a : r.attributes)
      if (a.key == "service.name" && a.value.kind == AnyValueRef::kString) {
        r.service_name = a.value.s;
        break;
      }
  }

  void readScope(std::string_view msg, pipeline::ScopeRef& s, int depth) {
    checkDepth(depth);
    size_t n = 0;
    Wire w(msg);
    while (!w.done()) {
      auto [f, wt] = w.tag();
      switch (f) {
        case 1: expect(wt, kLen); s.name = w.string(); break;
        case 2: expect(wt, kLen); s.version = w.string(); break;
        case 3: expect(wt, kLen); w.bytes(); ++n; break;
        case 4: expect(wt, kVarint); s.dropped_attributes_count = uint32_t(w.varint()); break;
        default: w.skip(wt);
      }
    }
    s.attributes = attributes(msg, 3, n, depth);
    s.encoded = encode(s.attributes);
  }

  AnyValueRef anyValue(std::string_view msg, int depth, int any_depth) {
    checkDepth(depth);
    AnyValueRef v;
    bool set = false;
    Wire w(msg);
    while (!w.done()) {
      auto [f, wt] = w.tag();
      if (f >= 1 && f <= 8) {
        // A second member of the oneof: protobuf's last-wins and merge
        // rules are left to it.
        if (set) throw Fallback{};
        set = true;
      }
      switch (f) {
        case 1: expect(wt, kLen); v.kind = AnyValueRef::kString; v.s = w.string(); break;
        case 2: expect(wt, kVarint); v.kind = AnyValueRef::kBool; v.b = w.varint() != 0; break;
        case 3: expect(wt, kVarint); v.kind = AnyValueRef::kInt; v.i = int64_t(w.varint()); break;
        case 4: {
          expect(wt, kFixed64);
          v.kind = AnyValueRef::kDouble;
          const uint64_t bits = w.fixed64();
          std::memcpy(&v.d, &bits, 8);
          break;
        }
        case 5:
        case 6:
          expect(wt, kLen);
          v.kind = AnyValueRef::kOwned;
          v.owned = st_.own(owned(f, w.bytes(), depth + 1, any_depth));
          break;
        case 7: expect(wt, kLen); v.kind = AnyValueRef::kBytes; v.s = w.bytes(); break;
        case 8: expect(wt, kVarint); w.varint(); v.kind = AnyValueRef::kEmpty; break;  // profiles' string index
        default: w.skip(wt);
      }
    }
    return v;
  }

  template <typename Record>
  void readLogRecord(std::string_view msg, Record& r, int depth) {
    checkDepth(depth);
    size_t n = 0;
    bool body = false;
    Wire w(msg);
    while (!w.done()) {
      auto [f, wt] = w.tag();
      switch (f) {
        case 1: expect(wt, kFixed64); r.time_unix_nano = int64_t(w.fixed64()); break;
        case 2: expect(wt, kVarint); r.severity_number = static_cast<uint8_t>(int32_t(w.varint())); break;
        case 3: expect(wt, kLen); r.severity_text = w.string(); break;
        case 5:
          expect(wt, kLen);
          if (body) throw Fallback{};
          body = true;
          r.body = anyValue(w.bytes(), depth + 1, 0);
          break;
        case 6: expect(wt, kLen); w.bytes(); ++n; break;
        case 7: expect(wt, kVarint); w.varint(); break;
        case 8: expect(wt, kFixed32); r.flags = w.fixed32(); break;
        case 9: expect(wt, kLen); r.trace_id = id<16>(w.bytes()); break;
        case 10: expect(wt, kLen); r.span_id = id<8>(w.bytes()); break;
        case 11: expect(wt, kFixed64); r.observed_time_unix_nano = int64_t(w.fixed64()); break;
        case 12: expect(wt, kLen); r.event_name = w.string(); break;
        default: w.skip(wt);
      }
    }
    r.attributes = attributes(msg, 6, n, depth);
  }

  void readSpan(std::string_view msg, pipeline::SpanRef& s, int depth) {
    checkDepth(depth);
    const auto counts = countFields<3>(msg, {9, 11, 13});
    auto* events = st_.allocate<pipeline::SpanEventRef>(counts[1]);
    auto* links = st_.allocate<pipeline::SpanLinkRef>(counts[2]);
    size_t ne = 0, nl = 0;
    bool status = false;
    Wire w(msg);
    while (!w.done()) {
      auto [f, wt] = w.tag();
      switch (f) {
        case 1: expect(wt, kLen); s.trace_id = id<16>(w.bytes()); break;
        case 2: expect(wt, kLen); s.span_id = id<8>(w.bytes()); break;
        case 3: expect(wt, kLen); s.trace_state = w.string(); break;
        case 4: expect(wt, kLen); s.parent_span_id = id<8>(w.bytes()); break;
        case 5: expect(wt, kLen); s.name = w.string(); break;
        case 6: {
          expect(wt, kVarint);
          const int32_t k = int32_t(w.varint());
          s.kind = k >= 0 && k <= 5 ? static_cast<pipeline::SpanKind>(k) : pipeline::SpanKind::kUnspecified;
          break;
        }
        case 7: expect(wt, kFixed64); s.start_time_unix_nano = int64_t(w.fixed64()); break;
        case 8: expect(wt, kFixed64); s.end_time_unix_nano = int64_t(w.fixed64()); break;
        case 9: expect(wt, kLen); w.bytes(); break;
        case 10: case 12: case 14: expect(wt, kVarint); w.varint(); break;
        case 11: expect(wt, kLen); readEvent(w.bytes(), events[ne++], depth + 1); break;
        case 13: expect(wt, kLen); readLink(w.bytes(), links[nl++], depth + 1); break;
        case 15:
          expect(wt, kLen);
          if (status) throw Fallback{};
          status = true;
          readStatus(w.bytes(), s, depth + 1);
          break;
        case 16: expect(wt, kFixed32); w.fixed32(); break;
        default: w.skip(wt);
      }
    }
    s.attributes = attributes(msg, 9, counts[0], depth);
    s.events = {events, ne};
    s.links = {links, nl};
  }

 private:
  void checkDepth(int depth) const {
    if (depth > kMaxMessageDepth) throw Fallback{};
  }

  AttributeRef keyValue(std::string_view msg, int depth) {
    checkDepth(depth);
    AttributeRef kv;
    bool value = false;
    Wire w(msg);
    while (!w.done()) {
      auto [f, wt] = w.tag();
      switch (f) {
        case 1: expect(wt, kLen); kv.key = w.string(); break;
        case 2:
          expect(wt, kLen);
          if (value) throw Fallback{};
          value = true;
          kv.value = anyValue(w.bytes(), depth + 1, 0);
          break;
        case 3: expect(wt, kVarint); w.varint(); break;  // profiles' key index
        default: w.skip(wt);
      }
    }
    return kv;
  }

  // An array (field 5) or key-value list (field 6) as an owning value, with
  // mapAny's depth rule (otlp_decode.cc): nested kMaxAnyValueDepth deep is
  // refused there, so it goes there.
  pipeline::AnyValue owned(uint32_t field, std::string_view msg, int depth, int any_depth) {
    checkDepth(depth);
    if (any_depth >= kMaxAnyValueDepth) throw Fallback{};
    Wire w(msg);
    if (field == 5) {
      pipeline::ArrayValue arr;
      while (!w.done()) {
        auto [f, wt] = w.tag();
        if (f == 1) {
          expect(wt, kLen);
          arr.push_back(pipeline::toAnyValue(anyValue(w.bytes(), depth + 1, any_depth + 1)));
        } else {
          w.skip(wt);
        }
      }
      return pipeline::AnyValue(std::move(arr));
    }
    pipeline::KeyValueList kvs;
    while (!w.done()) {
      auto [f, wt] = w.tag();
      if (f == 1) {
        expect(wt, kLen);
        kvs.push_back(ownedKeyValue(w.bytes(), depth + 1, any_depth + 1));
      } else {
        w.skip(wt);
      }
    }
    return pipeline::AnyValue(std::move(kvs));
  }

  std::pair<std::string, pipeline::AnyValue> ownedKeyValue(std::string_view msg, int depth, int any_depth) {
    checkDepth(depth);
    std::string key;
    AnyValueRef v;
    bool value = false;
    Wire w(msg);
    while (!w.done()) {
      auto [f, wt] = w.tag();
      switch (f) {
        case 1: expect(wt, kLen); key = std::string(w.string()); break;
        case 2:
          expect(wt, kLen);
          if (value) throw Fallback{};
          value = true;
          v = anyValue(w.bytes(), depth + 1, any_depth);
          break;
        case 3: expect(wt, kVarint); w.varint(); break;
        default: w.skip(wt);
      }
    }
    return {std::move(key), pipeline::toAnyValue(v)};
  }

  void readEvent(std::string_view msg, pipeline::SpanEventRef& e, int depth) {
    checkDepth(depth);
    size_t n = 0;
    Wire w(msg);
    while (!w.done()) {
      auto [f, wt] = w.tag();
      switch (f) {
        case 1: expect(wt, kFixed64); e.time_unix_nano = int64_t(w.fixed64()); break;
        case 2: expect(wt, kLen); e.name = w.string(); break;
        case 3: expect(wt, kLen); w.bytes(); ++n; break;
        case 4: expect(wt, kVarint); w.varint(); break;
        default: w.skip(wt);
      }
    }
    e.attributes = attributes(msg, 3, n, depth);
  }

  void readLink(std::string_view msg, pipeline::SpanLinkRef& l, int depth) {
    checkDepth(depth);
    size_t n = 0;
    Wire w(msg);
    while (!w.done()) {
      auto [f, wt] = w.tag();
      switch (f) {
        case 1: expect(wt, kLen); l.trace_id = id<16>(w.bytes()); break;
        case 2: expect(wt, kLen); l.span_id = id<8>(w.bytes()); break;
        case 3: expect(wt, kLen); l.trace_state = w.string(); break;
        case 4: expect(wt, kLen); w.bytes(); ++n; break;
        case 5: expect(wt, kVarint); w.varint(); break;
        case 6: expect(wt, kFixed32); w.fixed32(); break;
        default: w.skip(wt);
      }
    }
    l.attributes = attributes(msg, 4, n, depth);
  }

  void readStatus(std::string_view msg, pipeline::SpanRef& s, int depth) {
    checkDepth(depth);
    Wire w(msg);
    while (!w.done()) {
      auto [f, wt] = w.tag();
      switch (f) {
        case 2: expect(wt, kLen); s.status_message = w.string(); break;
        case 3: {
          expect(wt, kVarint);
          const int32_t c = int32_t(w.varint());
          s.status_code = c >= 0 && c <= 2 ? static_cast<pipeline::StatusCode>(c) : pipeline::StatusCode::kUnset;
          break;
        }
        default: w.skip(wt);
      }
    }
  }

  RefStorage& st_;
  std::string scratch_;
};

// Resource{Logs,Spans} / Scope{Logs,Spans}: the same shape for both signals.
// `item` reads one record (field 2 of the scope message).
template <typename Item>
void readRequest(std::string_view body, Reader& reader, Item&& item) {
  Wire req(body);
  while (!req.done()) {
    auto [f1, wt1] = req.tag();
    if (f1 != 1) {
      req.skip(wt1);
      continue;
    }
    expect(wt1, kLen);
    const auto rmsg = req.bytes();
    auto* resource = reader.resource();
    bool have_resource = false;
    Wire rw(rmsg);
    while (!rw.done()) {
      auto [f2, wt2] = rw.tag();
      switch (f2) {
        case 1:
          expect(wt2, kLen);
          if (have_resource) throw Fallback{};
          have_resource = true;
          reader.readResource(rw.bytes(), *resource, 2);
          break;
        case 2: {
          expect(wt2, kLen);
          const auto smsg = rw.bytes();
          auto* scope = reader.scope();
          bool have_scope = false;
          Wire sw(smsg);
          while (!sw.done()) {
            auto [f3, wt3] = sw.tag();
            switch (f3) {
              case 1:
                expect(wt3, kLen);
                if (have_scope) throw Fallback{};
                have_scope = true;
                reader.readScope(sw.bytes(), *scope, 3);
                break;
              case 2: expect(wt3, kLen); item(sw.bytes(), resource, scope); break;
              case 3: expect(wt3, kLen); scope->schema_url = sw.string(); break;
              default: sw.skip(wt3);
            }
          }
          if (!have_scope) scope->encoded = reader.encode({});
          break;
        }
        case 3: expect(wt2, kLen); resource->schema_url = rw.string(); break;
        default: rw.skip(wt2);
      }
    }
    if (!have_resource) resource->encoded = reader.encode({});
  }
}

}  // namespace

bool readLogs(std::string_view body, LogRefs& out) {
  out.storage.reserve(body.size() + body.size() / 2);
  Reader reader(out.storage);
  try {
    readRequest(body, reader, [&](std::string_view msg, const pipeline::ResourceRef* r, const pipeline::ScopeRef* s) {
      auto& rec = out.records.emplace_back();
      rec.resource = r;
      rec.scope = s;
      reader.readLogRecord(msg, rec, 4);
    });
  } catch (const Fallback&) {
    return false;
  }
  return true;
}

bool readSpans(std::string_view body, SpanRefs& out) {
  out.storage.reserve(body.size() + body.size() / 2);
  Reader reader(out.storage);
  try {
    readRequest(body, reader, [&](std::string_view msg, const pipeline::ResourceRef* r, const pipeline::ScopeRef* s) {
      auto& span = out.spans.emplace_back();
      span.resource = r;
      span.scope = s;
      reader.readSpan(msg, span, 4);
    });
  } catch (const Fallback&) {
    return false;
  }
  return true;
}

}  // namespace kobs::collect::otlp
