#include "serve/events/event_reader.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "serve/events/event_sql.h"

namespace kobs::serve::events {
namespace {

constexpr const char* kColumns =
    "toString(toUnixTimestamp64Nano(ingest_time)), toString(toUnixTimestamp64Nano(ts)), toString(row_key), "
    "composition_id, obj_apiversion, obj_kind, obj_name, obj_namespace, obj_uid, reason, message, type, "
    "source_component, event_time";

constexpr const char* kCursorOrder = "ingest_time, ts, row_key";

int64_t toI64(const nlohmann::json& j) { return std::stoll(j.get<std::string>()); }
uint64_t toU64(const nlohmann::json& j) { return std::stoull(j.get<std::string>()); }

using sql::cursorTuple;
using sql::eachRow;
using sql::nanos;

}  // namespace

EventReader::EventReader(store::IStore& store, std::string database, std::string table)
    : store_(store), database_(std::move(database)), table_(std::move(table)) {}

std::string EventReader::qualified() const {
  return store::quoteIdentifier(database_) + "." + store::quoteIdentifier(table_);
}

std::vector<StoredEvent> EventReader::select(const std::string& where, const std::string& order, size_t limit) const {
  const std::string sql = fmt::format("SELECT {} FROM {} WHERE reason != '' AND {} ORDER BY {} LIMIT {}", kColumns,
                                      qualified(), where, order, limit);
  auto result = store_.query(sql, "JSONCompactEachRow");
  std::vector<StoredEvent> out;
  try {
    eachRow(result.data, [&](const nlohmann::json& r) {
      StoredEvent e;
      e.cursor = {toI64(r[0]), toI64(r[1]), toU64(r[2])};
      e.composition_id = r[3].get<std::string>();
      e.obj_apiversion = r[4].get<std::string>();
      e.obj_kind = r[5].get<std::string>();
      e.obj_name = r[6].get<std::string>();
      e.obj_namespace = r[7].get<std::string>();
      e.obj_uid = r[8].get<std::string>();
      e.reason = r[9].get<std::string>();
      e.message = r[10].get<std::string>();
      e.type = r[11].get<std::string>();
      e.source_component = r[12].get<std::string>();
      e.event_time = r[13].get<std::string>();
      out.push_back(std::move(e));
    });
  } catch (const std::exception& e) {
    throw Exception(ErrorCode::kStoreQuery, "events table {}: cannot read rows: {}", table_, e.what());
  }
  return out;
}

std::vector<StoredEvent> EventReader::newest(const std::optional<std::string>& composition_id, size_t limit,
                                             const std::optional<EventCursor>& before) const {
  std::string where = "1";
  if (composition_id) where = "composition_id = " + store::quoteString(*composition_id);
  if (before)
    where += fmt::format(" AND ts <= {} AND (ts, row_key) < ({}, toUInt64({}))", nanos(before->ts_ns),
                         nanos(before->ts_ns), before->key);
  return select(where, "ts DESC, row_key DESC", limit);
}

std::vector<StoredEvent> EventReader::after(const EventCursor& c, size_t limit) const {
  // The plain bound lets ClickHouse prune parts and granules by ingest_time.
  return select(fmt::format("ingest_time >= {} AND ({}) > {}", nanos(c.ingest_ns), kCursorOrder, cursorTuple(c)),
                kCursorOrder, limit);
}

std::vector<EventCursor> EventReader::cursorsBetween(int64_t from_ns, const EventCursor& upto) const {
  const std::string sql = fmt::format(
      "SELECT toString(toUnixTimestamp64Nano(ingest_time)), toString(toUnixTimestamp64Nano(ts)), toString(row_key) "
      "FROM {} WHERE reason != '' AND ingest_time >= {} AND ingest_time <= {} AND ({}) <= {}",
      qualified(), nanos(from_ns), nanos(upto.ingest_ns),
      kCursorOrder, cursorTuple(upto));
  auto result = store_.query(sql, "JSONCompactEachRow");
  std::vector<EventCursor> out;
  eachRow(result.data, [&](const nlohmann::json& r) { out.push_back({toI64(r[0]), toI64(r[1]), toU64(r[2])}); });
  return out;
}

std::vector<StoredEvent> EventReader::byCursors(const std::vector<EventCursor>& cursors) const {
  if (cursors.empty()) return {};
  int64_t lo = cursors.front().ingest_ns, hi = lo;
  std::string list;
  for (const auto& c : cursors) {
    lo = std::min(lo, c.ingest_ns);
    hi = std::max(hi, c.ingest_ns);
    if (!list.empty()) list += ", ";
    list += cursorTuple(c);
  }
  return select(fmt::format("ingest_time >= {} AND ingest_time <= {} AND ({}) IN ({})", nanos(lo), nanos(hi),
                            kCursorOrder, list),
                kCursorOrder, cursors.size());
}

EventCursor EventReader::maxCursor() const {
  auto rows = select("1", "ingest_time DESC, ts DESC, row_key DESC", 1);
  return rows.empty() ? EventCursor{} : rows.front().cursor;
}

}  // namespace kobs::serve::events
