#include "serve/events/event_reader.h"

#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "common/error.h"
#include "serve/events/event_sql.h"

namespace kobs::serve::events {
namespace {

constexpr const char* kColumns =
    "toString(toUnixTimestamp64Nano(ingest_time)), toString(toUnixTimestamp64Nano(ts)), toString(row_key), "
    "composition_id, obj_apiversion, obj_kind, obj_name, obj_namespace, obj_uid, reason, message, type, "
    "source_component, event_time";
constexpr size_t kColumnCount = 14;  // of kColumns

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
  // simdjson, not nlohmann::json: this parse is on /events/{id}'s store path
  // (up to 200 rows of kColumnCount strings per page), and nlohmann builds a
  // DOM with an allocation per value. One row per line, every value a string.
  std::vector<StoredEvent> out;
  out.reserve(limit);
  thread_local simdjson::dom::parser parser;
  const simdjson::padded_string data(result.data);
  simdjson::dom::document_stream rows;
  auto fail = [&](const std::string& why) {
    return Exception(ErrorCode::kStoreQuery, "events table {}: cannot read rows: {}", table_, why);
  };
  // One window over the whole answer: a row longer than the default window
  // (1 MB) would otherwise be refused.
  const size_t window = std::max(data.size(), simdjson::dom::DEFAULT_BATCH_SIZE);
  if (auto err = parser.parse_many(data, window).get(rows)) throw fail(simdjson::error_message(err));
  for (auto doc : rows) {
    simdjson::dom::array row;
    if (auto err = doc.get_array().get(row)) throw fail(simdjson::error_message(err));
    std::string_view f[kColumnCount];
    size_t n = 0;
    for (auto v : row) {
      if (n == kColumnCount) throw fail(fmt::format("more than {} columns", kColumnCount));
      if (auto err = v.get_string().get(f[n])) throw fail(simdjson::error_message(err));
      ++n;
    }
    if (n != kColumnCount) throw fail(fmt::format("{} columns, {} expected", n, kColumnCount));
    StoredEvent e;
    auto number = [&](std::string_view text, auto& value) {
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || ptr != text.data() + text.size()) throw fail(fmt::format("bad number '{}'", text));
    };
    number(f[0], e.cursor.ingest_ns);
    number(f[1], e.cursor.ts_ns);
    number(f[2], e.cursor.key);
    e.composition_id = f[3];
    e.obj_apiversion = f[4];
    e.obj_kind = f[5];
    e.obj_name = f[6];
    e.obj_namespace = f[7];
    e.obj_uid = f[8];
    e.reason = f[9];
    e.message = f[10];
    e.type = f[11];
    e.source_component = f[12];
    e.event_time = f[13];
    out.push_back(std::move(e));
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
