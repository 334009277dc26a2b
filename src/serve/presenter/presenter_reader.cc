#include "serve/presenter/presenter_reader.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "serve/events/event_sql.h"
#include "serve/presenter/presenter_head.h"

namespace kobs::serve::presenter {
namespace {

constexpr const char* kStreamOrder = "ingest_time, ts, row_key";
constexpr int64_t kInitialWindowNs = 3600LL * 1000000000LL;  // 1 h
constexpr int64_t kWindowGrowth = 8;

using events::sql::cursorTuple;
using events::sql::eachRow;
using events::sql::nanos;


struct Candidate {
  int64_t ts_ns;
  std::string global_uid;
  std::string event_uid;
};

}  // namespace

std::string nameFilterPattern(const std::string& name) {
  if (name.find('%') != std::string::npos || name.find('_') != std::string::npos) return name;
  return "%" + name + "%";
}

PresenterReader::PresenterReader(store::IStore& store, std::string database, std::string table,
                                 std::string default_cluster)
    : store_(store), database_(std::move(database)), table_(std::move(table)),
      default_cluster_(std::move(default_cluster)) {}

std::string PresenterReader::qualified() const {
  return store::quoteIdentifier(database_) + "." + store::quoteIdentifier(table_);
}

std::string PresenterReader::clusterExpr() const {
  return fmt::format("if(cluster_name = '', {}, toString(cluster_name))", store::quoteString(default_cluster_));
}

std::string PresenterReader::globalUidExpr() const { return fmt::format("concat({}, ':', event_uid)", clusterExpr()); }

std::vector<PresenterItem> PresenterReader::select(const std::string& where, const std::string& order,
                                                   const std::string& limit_by, size_t limit, bool with_raw) const {
  const std::string sql = fmt::format(
      "SELECT toString(toUnixTimestamp64Nano(ingest_time)), toString(toUnixTimestamp64Nano(ts)), toString(row_key), "
      "event_uid, {} AS cl, obj_namespace, obj_kind, obj_name, obj_uid, type, reason, message, composition_id, {} "
      "FROM {} WHERE reason != '' AND {} ORDER BY {} {} LIMIT {}",
      clusterExpr(), with_raw ? "raw" : "''", qualified(), where, order, limit_by, limit);
  auto result = store_.query(sql, "JSONCompactEachRow");
  std::vector<PresenterItem> out;
  try {
    eachRow(result.data, [&](const nlohmann::json& r) {
      PresenterItem it;
      it.cursor = {std::stoll(r[0].get<std::string>()), std::stoll(r[1].get<std::string>()),
                   std::stoull(r[2].get<std::string>())};
      it.created_ns = it.cursor.ts_ns;
      it.event_uid = r[3].get<std::string>();
      it.cluster_name = r[4].get<std::string>();
      it.global_uid = it.cluster_name + ":" + it.event_uid;
      it.ns = r[5].get<std::string>();
      it.kind = r[6].get<std::string>();
      it.name = r[7].get<std::string>();
      it.obj_uid = r[8].get<std::string>();
      it.type = r[9].get<std::string>();
      it.reason = r[10].get<std::string>();
      it.message = r[11].get<std::string>();
      it.composition_id = r[12].get<std::string>();
      it.raw = r[13].get<std::string>();
      out.push_back(std::move(it));
    });
  } catch (const std::exception& e) {
    throw Exception(ErrorCode::kStoreQuery, "events table {}: cannot read rows: {}", table_, e.what());
  }
  return out;
}

std::optional<std::pair<int64_t, int64_t>> PresenterReader::tsRange() const {
  std::optional<std::pair<int64_t, int64_t>> out;
  eachRow(store_.query(fmt::format("SELECT toString(toUnixTimestamp64Nano(min(ts))), "
                                   "toString(toUnixTimestamp64Nano(max(ts))), count() > 0 FROM {}",
                                   qualified()),
                       "JSONCompactEachRow")
              .data,
          [&](const nlohmann::json& row) {
            if (row[2].get<int>() != 0)
              out = std::pair(std::stoll(row[0].get<std::string>()), std::stoll(row[1].get<std::string>()));
          });
  return out;
}

ListPage PresenterReader::list(const ListQuery& q, ListStats* stats) const {
  const size_t want = q.limit + 1;  // one more: is there a next page?
  std::vector<PresenterItem> out;
  std::optional<HeadScan> from_head = head_ ? head_->scan(q, want) : std::nullopt;
  if (from_head) {
    out = std::move(from_head->items);
    if (stats) stats->head_items = std::min(out.size(), q.limit);
    if (out.size() < want && from_head->continue_at_or_below) {
      auto more = storeList(q, from_head->continue_at_or_below, /*inclusive=*/true, want - out.size(), stats);
      std::move(more.begin(), more.end(), std::back_inserter(out));
    }
  } else {
    out = storeList(q, q.after, /*inclusive=*/false, want, stats);
  }
  ListPage page;
  if (out.size() > q.limit) {
    out.resize(q.limit);
    page.next = PageCursor{out.back().created_ns, out.back().global_uid};
  }
  page.items = std::move(out);
  return page;
}

std::vector<PresenterItem> PresenterReader::storeList(const ListQuery& q, std::optional<PageCursor> pos,
                                                      bool inclusive, size_t want, ListStats* stats) const {
  std::string filters;
  if (q.cluster) filters += fmt::format(" AND {} = {}", clusterExpr(), store::quoteString(*q.cluster));
  if (q.ns) filters += " AND obj_namespace = " + store::quoteString(*q.ns);
  if (q.kind) filters += " AND obj_kind = " + store::quoteString(*q.kind);
  if (q.name) filters += " AND obj_name ILIKE " + store::quoteString(nameFilterPattern(*q.name));
  for (const auto& [k, v] : q.labels)
    filters += fmt::format(" AND JSONExtractString(raw, 'involvedObject', 'labels', {}) = {}", store::quoteString(k),
                           store::quoteString(v));
  if (q.since_ns) filters += " AND ts >= " + nanos(*q.since_ns);
  if (q.allowed_namespaces) {
    if (q.allowed_namespaces->empty()) return {};
    std::string list;
    for (const auto& ns : *q.allowed_namespaces) list += (list.empty() ? "" : ", ") + store::quoteString(ns);
    filters += " AND obj_namespace IN (" + list + ")";
  }

  // The oldest row the window may need to reach.
  const auto range = tsRange();
  if (!range) return {};
  const int64_t max_ns = range->second;
  int64_t floor_ns = range->first;
  if (q.since_ns) floor_ns = std::max(floor_ns, *q.since_ns);

  std::vector<PresenterItem> out;
  int64_t window = kInitialWindowNs;
  bool exhausted = false;
  while (out.size() < want && !exhausted) {
    const size_t n = 2 * (want - out.size()) + 8;
    // Step 1: candidate keys below `pos`, widening the time window as needed.
    std::vector<Candidate> cands;
    for (;;) {
      std::string where = "reason != ''" + filters;
      int64_t upper_ns = 0;
      if (pos) {
        where += fmt::format(" AND ts <= {} AND (ts, {}) {} ({}, {})", nanos(pos->created_ns), globalUidExpr(),
                             inclusive ? "<=" : "<", nanos(pos->created_ns), store::quoteString(pos->global_uid));
        upper_ns = pos->created_ns;
      } else {
        upper_ns = max_ns;
      }
      const bool bounded = upper_ns - window > floor_ns;
      if (bounded) where += " AND ts >= " + nanos(upper_ns - window);
      const std::string sql = fmt::format(
          "SELECT toString(toUnixTimestamp64Nano(ts)), {} AS g, event_uid FROM {} WHERE {} "
          "ORDER BY ts DESC, g DESC LIMIT 1 BY g LIMIT {}",
          globalUidExpr(), qualified(), where, n);
      if (stats) ++stats->candidate_queries;
      auto r = store_.query(sql, "JSONCompactEachRow");
      cands.clear();
      eachRow(r.data, [&](const nlohmann::json& row) {
        cands.push_back({std::stoll(row[0].get<std::string>()), row[1].get<std::string>(), row[2].get<std::string>()});
      });
      if (cands.size() >= n || !bounded) {
        exhausted = cands.size() < n;
        break;
      }
      window *= kWindowGrowth;
    }
    if (cands.empty()) break;
    // Step 2: the newest row of each candidate's event.
    std::string uids;
    for (const auto& c : cands) {
      if (!uids.empty()) uids += ", ";
      uids += store::quoteString(c.event_uid);
    }
    if (stats) ++stats->newest_queries;
    auto newest = select(fmt::format("event_uid IN ({})", uids), "ts DESC, row_key DESC",
                         "LIMIT 1 BY " + globalUidExpr(), cands.size() * 4 + 16, true);
    std::unordered_map<std::string, PresenterItem*> by_uid;
    for (auto& it : newest) by_uid.emplace(it.global_uid, &it);
    inclusive = false;  // from here on, below the last candidate seen
    for (const auto& c : cands) {
      pos = PageCursor{c.ts_ns, c.global_uid};
      auto f = by_uid.find(c.global_uid);
      if (f != by_uid.end() && f->second->created_ns == c.ts_ns) out.push_back(std::move(*f->second));
      if (out.size() >= want) break;
    }
  }
  return out;
}

std::vector<PresenterItem> PresenterReader::after(const events::EventCursor& c, size_t limit) const {
  return select(fmt::format("ingest_time >= {} AND ({}) > {}", nanos(c.ingest_ns), kStreamOrder, cursorTuple(c)),
                kStreamOrder, "", limit, false);
}

std::vector<PresenterItem> PresenterReader::byCursors(const std::vector<events::EventCursor>& cursors,
                                                      bool with_raw) const {
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
                            kStreamOrder, list),
                kStreamOrder, "", cursors.size(), with_raw);
}

std::vector<RowKey> PresenterReader::newestEventKeys(size_t n) const {
  if (n == 0) return {};
  // Keys only, over a window below the newest row that widens until it holds
  // n events: never a sort of the whole table (with raw) at start.
  const auto range = tsRange();
  if (!range) return {};
  const auto [min_ns, max_ns] = *range;
  std::vector<RowKey> out;
  for (int64_t window = kInitialWindowNs;; window *= kWindowGrowth) {
    const bool bounded = max_ns - window > min_ns;
    // ORDER BY ts, g, row_key: LIMIT 1 BY keeps each event's newest row (as
    // the store orders rows: ts, row_key), in page order (ts, global_uid).
    const std::string sql = fmt::format(
        "SELECT composition_id, toString(toUnixTimestamp64Nano(ts)), toString(row_key), {} AS g FROM {} "
        "WHERE reason != '' {} ORDER BY ts DESC, g DESC, row_key DESC LIMIT 1 BY g LIMIT {}",
        globalUidExpr(), qualified(), bounded ? "AND ts >= " + nanos(max_ns - window) : "", n);
    out.clear();
    eachRow(store_.query(sql, "JSONCompactEachRow").data, [&](const nlohmann::json& row) {
      out.push_back({row[0].get<std::string>(), std::stoll(row[1].get<std::string>()),
                     std::stoull(row[2].get<std::string>())});
    });
    if (out.size() >= n || !bounded) return out;
  }
}

std::vector<PresenterItem> PresenterReader::byRowKeys(const std::vector<RowKey>& keys) const {
  if (keys.empty()) return {};
  std::string list;
  for (const auto& k : keys) {
    if (!list.empty()) list += ", ";
    list += fmt::format("({}, {}, toUInt64({}))", store::quoteString(k.composition_id), nanos(k.ts_ns), k.row_key);
  }
  // The primary key: each tuple is a binary search, not a scan.
  return select(fmt::format("(composition_id, ts, row_key) IN ({})", list), "ts DESC, row_key DESC", "",
                2 * keys.size(), true);
}

}  // namespace kobs::serve::presenter
