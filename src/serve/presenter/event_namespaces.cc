#include "serve/presenter/event_namespaces.h"

#include <fmt/format.h>

#include "serve/events/event_sql.h"

namespace kobs::serve::presenter {

EventNamespaces::EventNamespaces(store::IStore& store, std::string database, std::string table,
                                 std::chrono::milliseconds ttl)
    : store_(store), database_(std::move(database)), table_(std::move(table)), ttl_(ttl) {}

std::vector<std::string> EventNamespaces::get() {
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (have_ && now - fetched_ < ttl_) return namespaces_;
  // reason != '': the rows the presenter serves (PresenterReader's filter).
  const std::string sql = fmt::format("SELECT DISTINCT toString(obj_namespace) AS ns FROM {}.{} WHERE reason != '' ORDER BY ns",
                                      store::quoteIdentifier(database_), store::quoteIdentifier(table_));
  auto result = store_.query(sql, "JSONCompactEachRow");
  ++queries_;
  std::vector<std::string> out;
  events::sql::eachRow(result.data, [&](const nlohmann::json& row) { out.push_back(row[0].get<std::string>()); });
  namespaces_ = std::move(out);
  fetched_ = now;
  have_ = true;
  return namespaces_;
}

uint64_t EventNamespaces::queries() const {
  std::lock_guard lock(mutex_);
  return queries_;
}

}  // namespace kobs::serve::presenter
