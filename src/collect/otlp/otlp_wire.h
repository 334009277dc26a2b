// The fast path for OTLP/protobuf logs and traces: a protobuf wire reader for
// the hot messages (ExportLogsServiceRequest, ExportTraceServiceRequest) that
// maps straight into borrowed records (pipeline/record_ref.h), every string a
// view into the request body.
//
// Why hand-written, next to the generated parser (otlp_decode.h): with an
// arena, the generated parser still copies every string (the 300-byte body,
// each key and value) into the arena and builds a message per KeyValue and
// AnyValue, and the mapping then copies them again into records; parse alone
// was about as slow as the whole target (bench/otlp: BM_ParseLogs vs
// BM_WireDecodeMapEncodeLogs). This reader copies nothing but ids and numbers.
//
// It handles the canonical encoding every SDK writes. Anything else returns
// false and the caller decodes the body with the generated parser, which
// decides: malformed input (truncation, bad varints, invalid UTF-8, an id of
// the wrong length, AnyValue nested too deep), a singular message field seen
// twice (protobuf merges those), a known field with an unexpected wire type,
// groups, entity_refs. So both paths give the same rows or the same refusal;
// the fuzz target checks it (tests/collect/otlp/fuzz).
//
// Threading: free functions; one Refs object per request, on one thread.
#pragma once

#include <deque>
#include <memory>
#include <string_view>
#include <vector>

#include "pipeline/record_ref.h"

namespace kobs::collect::otlp {

// What the views of one request point to, besides the body: arrays of
// attributes, events, links, resources and scopes (bump-allocated, all
// trivially destructible: freed as a few blocks), and the rare owning values
// (arrays and key-value lists inside an AnyValue).
class RefStorage {
 public:
  template <typename T>
  T* allocate(size_t n) {
    static_assert(std::is_trivially_destructible_v<T>);
    if (n == 0) return nullptr;
    void* p = bytes(n * sizeof(T), alignof(T));
    return new (p) T[n]();
  }
  std::string_view copy(std::string_view s);
  const pipeline::AnyValue* own(pipeline::AnyValue v) { return &owned_.emplace_back(std::move(v)); }
  void reserve(size_t bytes_hint) { first_block_ = std::max<size_t>(first_block_, bytes_hint); }

  // Every resource of the request (the Kubernetes enrichment rewrites them),
  // and what enriched ones point into.
  std::vector<pipeline::ResourceRef*> resources;
  std::vector<std::shared_ptr<const void>> keep;

 private:
  void* bytes(size_t n, size_t align);
  struct Block {
    std::unique_ptr<char[]> data;
    size_t size = 0;
  };
  std::vector<Block> blocks_;
  size_t used_ = 0;  // in the last block
  size_t first_block_ = 64 * 1024;
  std::deque<pipeline::AnyValue> owned_;
};

struct LogRefs {
  std::vector<pipeline::LogRecordRef> records;
  RefStorage storage;
};

struct SpanRefs {
  std::vector<pipeline::SpanRef> spans;
  RefStorage storage;
};

// Reads an ExportLogsServiceRequest / ExportTraceServiceRequest body into
// `out` (empty). false: not read (see above); decode with decodeLogs /
// decodeSpans instead, and discard `out`.
bool readLogs(std::string_view body, LogRefs& out);
bool readSpans(std::string_view body, SpanRefs& out);

// A Map column's RowBinary bytes for `attrs`, in `storage`.
pipeline::EncodedMap encodeMap(RefStorage& storage, pipeline::AttributesRef attrs);

// Strict UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
bool validUtf8(std::string_view s);

}  // namespace kobs::collect::otlp
