// The naming check shared by the metric components' tests: every point's
// name, type, unit, monotonicity and attribute keys against
// receivers_metadata.tsv (transcribed from the collector receivers'
// metadata), and every `default` row of a receiver present in the points.
#pragma once

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pipeline/record.h"

namespace kobs::collect::test {

struct MetadataRow {
  std::string receiver, name, type, unit, monotonic;
  std::set<std::string> attributes;
  bool enabled_by_default = false;
};

inline std::map<std::string, MetadataRow> loadMetadata(const std::string& receiver) {
  std::ifstream in("tests/collect/metrics_naming/receivers_metadata.tsv");
  EXPECT_TRUE(in.good()) << "tests/collect/metrics_naming/receivers_metadata.tsv (run from the source root)";
  std::map<std::string, MetadataRow> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, '\t')) f.push_back(cell);
    if (f.size() != 7) {
      ADD_FAILURE() << "bad metadata line: " << line;
      continue;
    }
    if (f[0] != receiver) continue;
    MetadataRow r{f[0], f[1], f[2], f[3], f[4], {}, f[6] == "default"};
    if (f[5] != "-") {
      std::stringstream as(f[5]);
      while (std::getline(as, cell, ',')) r.attributes.insert(cell);
    }
    rows[r.name] = r;
  }
  return rows;
}

// Checks `points` against the receiver's rows; `optional_present` names
// default rows allowed to be missing (e.g. system.paging.usage without swap).
inline void checkNaming(const std::string& receiver, const std::vector<pipeline::MetricPoint>& points,
                        const std::set<std::string>& may_be_absent = {}) {
  auto meta = loadMetadata(receiver);
  ASSERT_FALSE(meta.empty()) << receiver;
  std::set<std::string> seen;
  for (const auto& p : points) {
    seen.insert(p.name);
    auto it = meta.find(p.name);
    if (it == meta.end()) {
      ADD_FAILURE() << p.name << " is not a " << receiver << " metric";
      continue;
    }
    const auto& m = it->second;
    const bool is_sum = p.type == pipeline::MetricType::kSum;
    EXPECT_EQ(m.type, is_sum ? "sum" : "gauge") << p.name;
    EXPECT_EQ(m.unit, p.unit) << p.name;
    if (is_sum) {
      EXPECT_EQ(m.monotonic, p.is_monotonic ? "true" : "false") << p.name;
      EXPECT_EQ(p.aggregation_temporality, 2) << p.name << " must be cumulative";
    }
    std::set<std::string> keys;
    for (const auto& [k, v] : p.attributes) keys.insert(k);
    EXPECT_EQ(keys, m.attributes) << p.name;
  }
  for (const auto& [name, m] : meta)
    if (m.enabled_by_default && !may_be_absent.count(name)) {
      EXPECT_TRUE(seen.count(name)) << name << " not emitted";
    }
}

}  // namespace kobs::collect::test
