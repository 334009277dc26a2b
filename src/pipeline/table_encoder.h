// TableEncoder<Record>: turns records into RowBinary rows for one table, for
// the columns that table actually has. The destination layout is read from
// the server at start (store/schema), so kobs writes ClickStack's tables, the
// stock exporter's tables, or a user's variant column for column as they are.
//
// Each table kind supplies a binding list: column name -> a factory that, given
// the column's ClickHouse type, returns the writer for that type (or throws
// kSchemaMismatch when kobs cannot produce that type). Columns the table has
// that kobs does not know are left to their DEFAULT; a column kobs requires
// that the table lacks stops the start.
//
// Columns that depend only on a record's resource and scope
// (ResourceAttributes, ServiceName, ScopeName, ...) are marked per_resource; encode() with a ResourceCache
// writes their bytes once per run of records sharing a resource and copies
// them for the rest of the run (a k8s_cluster scrape: 72k points, ~3.5 per
// resource; OTLP: every point of a ResourceMetrics).
//
// Threading: an encoder is immutable after construction; encode() may be
// called from several threads at once. A ResourceCache belongs to one caller
// (the batcher's add(), under its mutex) and one encoder.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "pipeline/column_types.h"
#include "pipeline/record.h"
#include "pipeline/record_ref.h"
#include "pipeline/rowbinary_writer.h"

namespace kobs::pipeline {

template <typename Record>
using ColumnWriter = std::function<void(const Record&, RowBinaryWriter&)>;

template <typename Record>
struct ColumnBinding {
  std::string name;
  bool required = false;
  // Builds the writer for the column's server-side type; throws on a type kobs cannot write.
  std::function<ColumnWriter<Record>(std::string_view type)> make;
  // The writer reads nothing but the record's resource and scope: its bytes
  // are cached per (resource, scope).
  bool per_resource = false;
};

// The encoded per-resource columns of the last resource a run of encode()
// calls saw, keyed by the Resource's address: records come grouped by
// resource (OTLP's nesting, a scrape's per-object points), so one entry with
// reused buffers catches nearly every repeat without a map or an allocation
// per resource. Only valid while those records are alive (a freed
// Resource's address may be reused): keep one for the records of one add().
struct ResourceCache {
  const void* key = nullptr;  // the resource
  const void* scope = nullptr;
  bool valid = false;
  std::string bytes;          // the per-resource columns' bytes, in column order
  std::vector<uint32_t> ends; // where each column's bytes end in `bytes`
  uint64_t misses = 0;        // resources encoded (tests, benches)
};

template <typename Record>
class TableEncoder {
 public:
  TableEncoder(std::string table, const std::vector<ColumnSpec>& layout,
               const std::vector<ColumnBinding<Record>>& bindings)
      : table_(std::move(table)) {
    for (const auto& b : bindings) {
      const ColumnSpec* spec = nullptr;
      for (const auto& c : layout)
        if (c.name == b.name) spec = &c;
      if (spec == nullptr) {
        if (b.required)
          throw Exception(ErrorCode::kSchemaMismatch, "table {} has no column {}, which kobs needs to write", table_,
                          b.name);
        continue;
      }
      try {
        writers_.push_back(b.make(spec->type));
        per_resource_.push_back(b.per_resource);
      } catch (Exception& e) {
        e.addContext(fmt::format("column {}.{} of type {}", table_, b.name, spec->type));
        throw;
      }
      columns_.push_back(b.name);
    }
    // Keep the table's own column order so the insert reads like the DDL.
    std::vector<size_t> order(columns_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    auto position = [&](const std::string& name) {
      for (size_t i = 0; i < layout.size(); ++i)
        if (layout[i].name == name) return i;
      return layout.size();
    };
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return position(columns_[a]) < position(columns_[b]); });
    std::vector<std::string> cols;
    std::vector<ColumnWriter<Record>> writers;
    std::vector<bool> per_resource;
    for (size_t i : order) {
      cols.push_back(std::move(columns_[i]));
      writers.push_back(std::move(writers_[i]));
      per_resource.push_back(per_resource_[i]);
      if (per_resource_[i]) ++resource_columns_;
    }
    columns_ = std::move(cols);
    writers_ = std::move(writers);
    per_resource_ = std::move(per_resource);
  }

  void encode(const Record& record, std::string& out) const {
    RowBinaryWriter w(out);
    for (const auto& write : writers_) write(record, w);
  }

  // The same bytes as encode(record, out); the per-resource columns come from
  // `cache` (filled on a resource's first record).
  void encode(const Record& record, std::string& out, ResourceCache& cache) const {
    if (resource_columns_ == 0) return encode(record, out);
    const void* key = address(record.resource);
    const void* scope = address(record.scope);
    if (!cache.valid || cache.key != key || cache.scope != scope) {
      cache.bytes.clear();
      cache.ends.clear();
      RowBinaryWriter bw(cache.bytes);
      for (size_t i = 0; i < writers_.size(); ++i) {
        if (!per_resource_[i]) continue;
        writers_[i](record, bw);
        cache.ends.push_back(static_cast<uint32_t>(cache.bytes.size()));
      }
      cache.key = key;
      cache.scope = scope;
      cache.valid = true;
      ++cache.misses;
    }
    RowBinaryWriter w(out);
    size_t k = 0, from = 0;
    for (size_t i = 0; i < writers_.size(); ++i) {
      if (!per_resource_[i]) {
        writers_[i](record, w);
        continue;
      }
      out.append(cache.bytes, from, cache.ends[k] - from);
      from = cache.ends[k++];
    }
  }

  const std::string& table() const { return table_; }
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  // A shared_ptr's or a plain pointer's target (owning and borrowed records).
  template <typename P>
  static const void* address(const P& p) {
    if constexpr (requires { p.get(); }) return p.get();
    else return p;
  }

  std::string table_;
  std::vector<std::string> columns_;
  std::vector<ColumnWriter<Record>> writers_;
  std::vector<bool> per_resource_;
  size_t resource_columns_ = 0;
};

// ---- Writers for the value shapes the OTel tables use ----------------------

[[noreturn]] void throwUnsupportedType(std::string_view type, std::string_view expected);

// Writes an instant given in Unix nanoseconds as the column's time type.
void writeTime(RowBinaryWriter& w, const TimeType& t, int64_t unix_nanos);

// Map(String-ish, String) of attributes, values by AsString rules.
void writeAttributeMap(RowBinaryWriter& w, const Attributes& attributes);
void writeAttributeMap(RowBinaryWriter& w, AttributesRef attributes);
// A map encoded in advance (a resource's or a scope's, once per request).
inline void writeAttributeMap(RowBinaryWriter& w, EncodedMap m) { w.buffer().append(m.rowbinary); }

// An integer as the column's integer type (UInt8..Int64, Bool).
enum class IntKind : uint8_t { kU8, kU16, kU32, kU64, kI8, kI16, kI32, kI64 };
IntKind parseIntKind(std::string_view type);  // throws on a non-integer type
void writeInt(RowBinaryWriter& w, IntKind kind, int64_t v);

// Factories for the common column shapes. Getter: const Record& -> value.
template <typename Record, typename Getter>
ColumnBinding<Record> stringColumn(std::string name, Getter get, bool required = false) {
  return {std::move(name), required, [get](std::string_view type) -> ColumnWriter<Record> {
            auto t = unwrapLowCardinality(type);
            if (t != "String") throwUnsupportedType(type, "String");
            return [get](const Record& r, RowBinaryWriter& w) { w.string(get(r)); };
          }};
}

template <typename Record, typename Getter>
ColumnBinding<Record> intColumn(std::string name, Getter get, bool required = false) {
  return {std::move(name), required, [get](std::string_view type) -> ColumnWriter<Record> {
            IntKind k = parseIntKind(type);
            return [get, k](const Record& r, RowBinaryWriter& w) { writeInt(w, k, static_cast<int64_t>(get(r))); };
          }};
}

template <typename Record, typename Getter>
ColumnBinding<Record> floatColumn(std::string name, Getter get, bool required = false) {
  return {std::move(name), required, [get](std::string_view type) -> ColumnWriter<Record> {
            auto t = unwrapLowCardinality(type);
            if (t == "Float64") return [get](const Record& r, RowBinaryWriter& w) { w.fixed<double>(get(r)); };
            if (t == "Float32")
              return [get](const Record& r, RowBinaryWriter& w) { w.fixed<float>(static_cast<float>(get(r))); };
            throwUnsupportedType(type, "Float64");
          }};
}

template <typename Record, typename Getter>
ColumnBinding<Record> timeColumn(std::string name, Getter get, bool required = false) {
  return {std::move(name), required, [get](std::string_view type) -> ColumnWriter<Record> {
            TimeType t = parseTimeType(type);
            if (t.kind == TimeType::kUnsupported) throwUnsupportedType(type, "DateTime64(9)");
            return [get, t](const Record& r, RowBinaryWriter& w) { writeTime(w, t, get(r)); };
          }};
}

template <typename Record, typename Getter>
ColumnBinding<Record> mapColumn(std::string name, Getter get, bool required = false) {
  return {std::move(name), required, [get](std::string_view type) -> ColumnWriter<Record> {
            if (!type.starts_with("Map(")) throwUnsupportedType(type, "Map(LowCardinality(String), String)");
            return [get](const Record& r, RowBinaryWriter& w) { writeAttributeMap(w, get(r)); };
          }};
}

}  // namespace kobs::pipeline
