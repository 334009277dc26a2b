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
// Threading: an encoder is immutable after construction; encode() may be
// called from several threads at once.
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
    for (size_t i : order) {
      cols.push_back(std::move(columns_[i]));
      writers.push_back(std::move(writers_[i]));
    }
    columns_ = std::move(cols);
    writers_ = std::move(writers);
  }

  void encode(const Record& record, std::string& out) const {
    RowBinaryWriter w(out);
    for (const auto& write : writers_) write(record, w);
  }

  const std::string& table() const { return table_; }
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  std::string table_;
  std::vector<std::string> columns_;
  std::vector<ColumnWriter<Record>> writers_;
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
