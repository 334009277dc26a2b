// Alert rules as code: a YAML file (or a directory of them) holding the
// notification channels and the rules, HyperDX's alert model without its
// database:
//
//   channels:
//     troubleshooting:              # a name the rules refer to
//       type: slack                 # slack (incoming webhook) | webhook (generic)
//       url_env: KOBS_ALERT_SLACK_URL   # or url_file: /etc/kobs/slack-url (never inline:
//                                       # webhook URLs are secrets)
//       headers: {X-Team: infra}    # webhook only; query_params likewise
//       body: '{"text": "{{title}}"}'   # webhook only: the body template
//   rules:
//     - name: pod-warning-events
//       source: events              # logs | events | traces | metrics_<type> | a table name
//       where: "SeverityText = 'Warning'"   # SQL boolean expression over the table
//       value: count()              # optional aggregate (default count())
//       interval: 5m                # 1m 5m 15m 30m 1h 6h 12h 1d
//       threshold: 2
//       thresholdType: above_exclusive
//       thresholdMax: 10            # between / not_between only
//       groupBy: [k8s.namespace.name, k8s.pod.name]   # columns, attribute keys or expressions
//       numConsecutiveWindows: 1
//       silenced: {until: "2026-12-01T00:00:00Z"}
//       enabled: true
//       channels: [troubleshooting]
//       message: "Look at {{group}}"   # appended to the body
//
// parseRules() checks the shape (with the file and rule named in every
// error); bindRules() checks `where`, `value` and `groupBy` against the real
// columns of the source table (lexed with store/sql_guard, so an unknown
// column is refused at load with its name) and builds the SQL pieces the
// evaluator runs.
//
// Threading: pure functions; a RuleSet is an immutable value once bound.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kobs::alert {

enum class ThresholdType {
  kAbove,           // value >= threshold
  kAboveExclusive,  // value > threshold
  kBelow,           // value < threshold
  kBelowOrEqual,    // value <= threshold
  kEqual,
  kNotEqual,
  kBetween,     // threshold <= value <= thresholdMax
  kNotBetween,  // outside [threshold, thresholdMax]
};

std::string_view thresholdTypeName(ThresholdType t);
// True when `value` is in breach of the rule's threshold.
bool breaches(ThresholdType type, double value, double threshold, double threshold_max);

enum class ChannelType { kSlack, kWebhook };

struct Channel {
  std::string name;
  ChannelType type = ChannelType::kSlack;
  std::string url_env;   // one of the two is set
  std::string url_file;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> query_params;
  std::string body_template;  // webhook; empty: HyperDX's default

  // The URL with query parameters, read now from the environment or the file.
  // Throws kBadConfig naming the channel (never the URL) when it is missing.
  std::string resolveUrl() const;
};

// HyperDX's default generic webhook body.
inline constexpr const char* kDefaultWebhookBody =
    R"({"text": "{{title}} | {{body}} | {{link}} | {{state}} | {{startTime}} | {{endTime}} | {{eventId}}"})";

struct Rule {
  std::string name;
  std::string source;  // as written
  std::string where;   // may be empty: every row of the source
  std::string value;   // empty: count()
  std::chrono::seconds interval{300};
  double threshold = 0;
  double threshold_max = 0;
  ThresholdType threshold_type = ThresholdType::kAbove;
  std::vector<std::string> group_by;  // as written
  int consecutive_windows = 1;
  std::optional<std::chrono::system_clock::time_point> silenced_until;
  bool enabled = true;
  std::vector<std::string> channels;
  std::string message;
  std::string origin;  // "file:line" of the rule, for messages

  // Filled by bindRules():
  std::string table;           // unquoted table name
  std::string time_column;     // Timestamp / TimeUnix
  std::string coarse_time_column;  // TimestampTime when the table has it (primary key), else ""
  std::string source_filter;   // SQL restricting the table to the source ("" for none)
  std::vector<std::string> group_exprs;  // SQL per groupBy entry
  std::string value_expr;      // SQL aggregate
  // Windows where no row matches give 0 (count-like values) rather than no data.
  bool zero_when_empty = true;
  bool counts_lines = true;    // the value is a row count (message says "lines")
};

struct RuleSet {
  std::vector<Rule> rules;
  std::map<std::string, Channel> channels;
  std::vector<std::string> files;  // what was read
};

// Parses one YAML document; `origin` names it in errors. Throws
// Exception(kBadConfig) "alert rules <origin>: rule \"x\": ...".
RuleSet parseRules(std::string_view yaml, const std::string& origin);
// A file, or every *.yaml / *.yml file of a directory (sorted), merged; a
// rule or channel name used twice is an error.
RuleSet loadRules(const std::filesystem::path& path);

// The source tables' columns: table name -> column names; an absent table
// has no entry.
using ColumnLookup = std::function<std::optional<std::vector<std::string>>(const std::string& table)>;

struct SourceTables {
  std::string logs = "otel_logs";
  std::string traces = "otel_traces";
  std::map<std::string, std::string> metrics;  // "gauge" -> "otel_metrics_gauge", ...
};

// Resolves each rule's source to a table, validates its expressions against
// the table's columns and channel names, and fills the SQL pieces. Throws
// Exception(kBadConfig) naming the rule and the offending column or channel.
// `interval_override` > 0 replaces every rule's interval (tests, demos).
void bindRules(RuleSet& set, const SourceTables& tables, const ColumnLookup& columns,
               std::chrono::seconds interval_override = std::chrono::seconds(0));

// Parses "5m", "1h", "1d" (and, for overrides, seconds).
std::optional<std::chrono::seconds> parseInterval(std::string_view text);

}  // namespace kobs::alert
