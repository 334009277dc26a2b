// PresenterReader: the events-presenter API's queries over the events table
// (store/schema/krateo_events.h).
//
// list(): the newest row per global_uid, ordered created_at DESC, global_uid
// DESC, paged by keyset (never OFFSET, so page 100 costs what page 1 costs):
//   1. candidates: rows strictly below the cursor in that order, first row
//      per global_uid (LIMIT 1 BY), only keys read. The table is sorted by
//      (composition_id, ts), so a time window below the cursor lets the ts
//      minmax index skip granules; the window widens (x8) until enough rows
//      are found or it covers the table.
//   2. for those uids, their newest row overall (bloom index on event_uid);
//      a candidate whose uid has a newer row was served on an earlier page
//      (that newer row is above the cursor) and is skipped.
// Filters (cluster, namespace, kind, name, labels, since) are on properties
// that every row of one event shares, so "newest per uid, then filter" equals
// "filter, then newest per uid".
//
// after()/byCursors(): rows in stream order (ingest_time, ts, row_key), the
// same rows EventReader/EventFeed see (reason != ''), for /notifications.
//
// Rows written without k8s.cluster.name get `default_cluster`.
//
// Threading: stateless over a thread-safe IStore; methods block on the store.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "serve/presenter/presenter_item.h"
#include "store/store.h"

namespace kobs::serve::presenter {

struct ListQuery {
  std::optional<std::string> cluster, ns, kind;
  std::optional<std::string> name;  // ILIKE pattern; without '%' it matches as a substring
  std::map<std::string, std::string> labels;  // raw.involvedObject.labels
  std::optional<int64_t> since_ns;
  // Namespace scoping (authorization): when set, only rows of these
  // namespaces are listed (an empty list matches nothing).
  std::optional<std::vector<std::string>> allowed_namespaces;
  size_t limit = 50;
  std::optional<PageCursor> after;
};

struct ListPage {
  std::vector<PresenterItem> items;
  std::optional<PageCursor> next;  // nullopt: this is the last page
};

struct ListStats {
  int candidate_queries = 0;
  int newest_queries = 0;
  size_t head_items = 0;  // items answered from the PresenterHead
};

// A row's primary key in the events table.
struct RowKey {
  std::string composition_id;
  int64_t ts_ns = 0;
  uint64_t row_key = 0;
};

class PresenterHead;

// The pattern `name` is matched with (ILIKE): itself when it has a wildcard
// ('%' or '_'), else "%name%" (a substring match).
std::string nameFilterPattern(const std::string& name);

class PresenterReader {
 public:
  PresenterReader(store::IStore& store, std::string database, std::string table, std::string default_cluster);

  // Pages from the head while it can answer, then from the store.
  ListPage list(const ListQuery& query, ListStats* stats = nullptr) const;
  // Serve the top of list() from memory (null: the store alone). The head
  // must outlive the reader's use; set before serving.
  void setHead(const PresenterHead* head) { head_ = head; }

  // Stream order, strictly after `after`, at most `limit`, without raw.
  std::vector<PresenterItem> after(const events::EventCursor& after, size_t limit) const;
  // The rows with these cursors, in stream order (raw only when asked).
  std::vector<PresenterItem> byCursors(const std::vector<events::EventCursor>& cursors, bool with_raw = false) const;

  // For PresenterHead's load: the keys of the newest row of each of the `n`
  // events with the highest page keys (created_at, global_uid), and rows (with
  // raw) by primary key.
  std::vector<RowKey> newestEventKeys(size_t n) const;
  std::vector<PresenterItem> byRowKeys(const std::vector<RowKey>& keys) const;

 private:
  // The store's part of a page: up to `want` items strictly below `after`
  // (at or below it when `inclusive`), or from the top.
  std::vector<PresenterItem> storeList(const ListQuery& query, std::optional<PageCursor> after, bool inclusive,
                                       size_t want, ListStats* stats) const;
  std::vector<PresenterItem> select(const std::string& where, const std::string& order, const std::string& limit_by,
                                    size_t limit, bool with_raw) const;
  // (min ts, max ts) of the table in ns; nullopt when it is empty.
  std::optional<std::pair<int64_t, int64_t>> tsRange() const;
  std::string qualified() const;
 public:
  // The cluster name of rows without one.
  const std::string& defaultCluster() const { return default_cluster_; }

 private:
  std::string clusterExpr() const;
  std::string globalUidExpr() const;

  store::IStore& store_;
  std::string database_, table_, default_cluster_;
  const PresenterHead* head_ = nullptr;
};

}  // namespace kobs::serve::presenter
