// ClickHouse wire formats, as much of them as the benchmark sink needs to
// count the rows of an insert exactly: data types, Native blocks (what the
// OpenTelemetry Collector's exporter sends), RowBinary rows (what kobs
// sends), CREATE TABLE parsing (so the sink can describe the tables each
// client created) and a writer for small Native result blocks.
//
// A count is only trusted when the whole body decodes and is consumed to the
// last byte, so a wrong type or a torn body is an error, not a wrong count.
//
// Threading: pure functions and immutable values; the sink's catalog is
// guarded by the sink.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kobs::bench::ch {

struct FormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A parsed data type. Only the shape matters here (sizes and nesting).
struct Type {
  enum class Kind : uint8_t { kFixed, kString, kNullable, kArray, kMap, kTuple, kLowCardinality };
  Kind kind = Kind::kFixed;
  size_t fixed_size = 0;                     // kFixed: bytes per value
  std::vector<std::shared_ptr<const Type>> args;  // element types (Map: key, value)
  std::string name;                          // the text it was parsed from
};
using TypePtr = std::shared_ptr<const Type>;

// Parses a ClickHouse type name ("Map(LowCardinality(String), String)",
// "DateTime64(9, 'UTC')", "Nested(a String, b UInt8)" is not a type: see
// parseCreateTable). Throws FormatError on anything it does not know.
TypePtr parseType(std::string_view text);

// The same type with every LowCardinality(T) replaced by T: what the sink
// answers DESCRIBE with, so the collector sends plain columns.
std::string withoutLowCardinality(std::string_view type_name);

// LEB128 varint as ClickHouse writes it.
void writeVarUInt(std::string& out, uint64_t v);

struct NativeCount {
  uint64_t blocks = 0;
  uint64_t rows = 0;
  uint64_t columns = 0;  // of the last block
};
// Decodes every block of a Native body; `with_block_info`: the body was
// written for a client protocol revision > 0 (block-info fields before each
// block), which the HTTP interface does when client_protocol_version is set.
NativeCount countNative(std::string_view body, bool with_block_info);
// The same with the two revision-dependent parts chosen separately: block
// info before each block, a custom-serialization flag after each type.
NativeCount countNative(std::string_view body, bool with_block_info, bool with_serialization_flag);
// An insert body from a client whose revision is not known: block info is
// recognised by its fixed first bytes, the flag by which reading decodes the
// whole body (only one can, to the last byte, for a real block).
NativeCount countNativeAnyRevision(std::string_view body);

// Decodes a RowBinary body whose columns have `types`, in order; returns
// the rows. Throws FormatError unless the body ends on a row boundary.
uint64_t countRowBinary(std::string_view body, const std::vector<TypePtr>& types);

struct Column {
  std::string name;
  std::string type;
  std::string default_kind;        // "", DEFAULT, MATERIALIZED, ALIAS, EPHEMERAL
  std::string default_expression;
  bool insertable() const { return default_kind.empty() || default_kind == "DEFAULT"; }
};
struct Table {
  std::string database;
  std::string name;
  std::string engine;       // "MergeTree"
  std::string engine_full;  // everything after ENGINE =
  std::string create_query;
  std::vector<Column> columns;  // Nested(...) flattened into name.sub Array(T)
};
// Parses `CREATE TABLE [IF NOT EXISTS] [db.]name [ON CLUSTER c] (...) ENGINE = ...`.
// `default_database` applies when the name is not qualified.
Table parseCreateTable(std::string_view sql, std::string_view default_database);

// Splits `[db.]name` with optional backquotes or double quotes.
std::pair<std::string, std::string> parseQualifiedName(std::string_view text, std::string_view default_database,
                                                       size_t* consumed = nullptr);

// A small Native result block of String/UInt32 columns.
class NativeBlockWriter {
 public:
  NativeBlockWriter(bool with_block_info, size_t rows);
  void stringColumn(std::string_view name, const std::vector<std::string>& values);
  void uint32Column(std::string_view name, const std::vector<uint32_t>& values);
  // Column count and row count go in front of the columns.
  std::string finish() const;

 private:
  void header(std::string_view name, std::string_view type);
  bool with_block_info_;
  size_t rows_;
  size_t columns_ = 0;
  std::string body_;
};

}  // namespace kobs::bench::ch
