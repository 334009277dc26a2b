#include "store/schema/table_layout.h"

#include <charconv>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace kobs::store::schema {
namespace {

// Calls fn(json object) for each line of JSONEachRow output.
template <typename Fn>
void forEachRow(std::string_view data, Fn&& fn) {
  size_t pos = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) nl = data.size();
    std::string_view line = data.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    fn(nlohmann::json::parse(line));
  }
}

std::string str(const nlohmann::json& row, const char* key) {
  auto it = row.find(key);
  return it != row.end() && it->is_string() ? it->get<std::string>() : std::string();
}

uint64_t serverDefaultWindow(IStore& store) {
  auto r = store.query("SELECT value FROM system.merge_tree_settings WHERE name = 'non_replicated_deduplication_window'",
                       "TabSeparated");
  uint64_t v = 0;
  std::from_chars(r.data.data(), r.data.data() + r.data.size(), v);
  return v;
}

}  // namespace

std::vector<ColumnInfo> TableLayout::insertableColumns() const {
  std::vector<ColumnInfo> out;
  for (const auto& c : columns)
    if (c.insertable()) out.push_back(c);
  return out;
}

std::vector<std::string> TableLayout::insertableColumnNames() const {
  std::vector<std::string> out;
  for (const auto& c : columns)
    if (c.insertable()) out.push_back(c.name);
  return out;
}

const ColumnInfo* TableLayout::find(std::string_view name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

bool TableLayout::isReplicated() const {
  return engine.starts_with("Replicated") || engine.starts_with("Shared");
}

bool TableLayout::isPlainMergeTree() const {
  return engine.ends_with("MergeTree") && !isReplicated();
}

int64_t parseDeduplicationWindow(std::string_view engine_full) {
  constexpr std::string_view kKey = "non_replicated_deduplication_window";
  size_t pos = engine_full.find(kKey);
  if (pos == std::string_view::npos) return -1;
  pos += kKey.size();
  while (pos < engine_full.size() && (engine_full[pos] == ' ' || engine_full[pos] == '=')) ++pos;
  int64_t v = -1;
  auto r = std::from_chars(engine_full.data() + pos, engine_full.data() + engine_full.size(), v);
  return r.ec == std::errc() ? v : -1;
}

bool tableExists(IStore& store, const std::string& database, const std::string& table) {
  auto r = store.query(fmt::format("SELECT count() FROM system.tables WHERE database = {} AND name = {}",
                                   quoteString(database), quoteString(table)),
                       "TabSeparated");
  return !r.data.empty() && r.data[0] != '0';
}

TableLayout describeTable(IStore& store, const std::string& database, const std::string& table) {
  TableLayout layout;
  layout.database = database;
  layout.table = table;
  auto t = store.query(fmt::format("SELECT engine, engine_full, create_table_query FROM system.tables "
                                   "WHERE database = {} AND name = {}",
                                   quoteString(database), quoteString(table)),
                       "JSONEachRow");
  forEachRow(t.data, [&](const nlohmann::json& row) {
    layout.exists = true;
    layout.engine = str(row, "engine");
    layout.engine_full = str(row, "engine_full");
    layout.create_table_query = str(row, "create_table_query");
  });
  if (!layout.exists) return layout;
  auto c = store.query(fmt::format("SELECT name, type, default_kind, default_expression FROM system.columns "
                                   "WHERE database = {} AND table = {} ORDER BY position",
                                   quoteString(database), quoteString(table)),
                       "JSONEachRow");
  forEachRow(c.data, [&](const nlohmann::json& row) {
    layout.columns.push_back(
        {str(row, "name"), str(row, "type"), str(row, "default_kind"), str(row, "default_expression")});
  });
  if (layout.isPlainMergeTree()) {
    int64_t own = parseDeduplicationWindow(layout.engine_full);
    layout.deduplication_window = own >= 0 ? static_cast<uint64_t>(own) : serverDefaultWindow(store);
  }
  return layout;
}

ServerInfo detectServer(IStore& store) {
  auto r = store.query("SELECT version()", "TabSeparated");
  return parseServerVersion(r.data);
}

}  // namespace kobs::store::schema
