// Rewrites an agent's SELECT on the logs table so it uses what the table
// offers beyond its sort key, without changing the result:
//   - `ResourceAttributes['k8s.pod.name']` becomes the column materialized from
//     exactly that lookup (ClickStack's `__hdx_materialized_k8s.pod.name`,
//     LowCardinality): the same value, without reading the whole map;
//   - in a condition, `Map['key'] = 'value'` (value not empty) gains
//     `AND has(MapItems, 'key=value')` when the table has a text index on the
//     map's `key=value` items (ClickStack's ResourceAttributeItems): implied by
//     the equality, so the same rows, but the index skips the granules
//     without the pair.
// Conservative by design: anything it does not fully understand is left as
// written (another table or a table function in a FROM/JOIN, a qualified or
// redefined map name, BETWEEN, an unaliased lookup in a SELECT list, whose
// result column name would change).
//
// Threading: pure functions over the Accelerators value.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kobs::serve::mcp {

// What the logs table has, read from system.columns and
// system.data_skipping_indices (loadAcceleratorsSql / parseAccelerators).
struct Accelerators {
  std::string database;
  std::string table;
  // (map column, key) -> the column MATERIALIZED as map[key].
  std::map<std::pair<std::string, std::string>, std::string> materialized;
  // map column -> the ALIAS column of its `key=value` items that a text index covers.
  std::map<std::string, std::string> items;
  // Whether an unqualified table name means `database` (the connection's default).
  bool default_database = true;

  bool empty() const { return materialized.empty() && items.empty(); }
};

// The query whose rows parseAccelerators reads: (kind, name, expression) with
// kind 'materialized', 'alias' (columns) or 'text_index'.
std::string acceleratorsSql(const std::string& database, const std::string& table);
// Builds Accelerators from rows of acceleratorsSql: each row {kind, name, expression}.
Accelerators parseAccelerators(const std::string& database, const std::string& table,
                               const std::vector<std::array<std::string, 3>>& rows);

// The rewritten statement, or nullopt when nothing applies (use it as written).
std::optional<std::string> rewriteForAccelerators(std::string_view sql, const Accelerators& acc);

}  // namespace kobs::serve::mcp
