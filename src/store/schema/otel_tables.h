// The OpenTelemetry tables as data: columns, skip indexes and table clauses
// for each kind, variant and index flavour. Facts (names, types, codecs,
// indexes, keys) follow ClickStack's seed SQL and the OpenTelemetry Collector
// ClickHouse exporter's templates; docs/schema.md lists them.
//
// Threading: pure functions returning values.
#pragma once

#include <string>
#include <vector>

#include "store/schema/schema_options.h"

namespace kobs::store::schema {

struct ColumnDef {
  std::string name;
  std::string type;
  std::string tail;  // what follows the type: DEFAULT/MATERIALIZED/ALIAS expression, CODEC(...)
};

struct IndexDef {
  std::string name;
  std::string expression;
  std::string type;
  int granularity = 0;  // 0: no GRANULARITY clause (the server's default)
};

struct TableDef {
  TableKind kind;
  std::vector<ColumnDef> columns;
  std::vector<IndexDef> indexes;
  std::string partition_by;
  std::string primary_key;  // empty: same as ORDER BY
  std::string order_by;
  std::string ttl_time;     // the time expression TTL counts from
  std::vector<std::string> settings;  // "k = v", without the dedup window
};

TableDef tableDef(TableKind kind, Variant variant, bool text_indexes);

// Columns kobs needs in an existing table of this kind, whichever variant made it.
const std::vector<std::string>& requiredColumns(TableKind kind);

}  // namespace kobs::store::schema
