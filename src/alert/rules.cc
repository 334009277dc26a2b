#include "alert/rules.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "alert/expression.h"
#include "common/error.h"
#include "common/rfc3339.h"
#include "store/store.h"

namespace kobs::alert {

namespace {

[[noreturn]] void fail(const std::string& origin, const std::string& what) {
  throw Exception(ErrorCode::kBadConfig, "alert rules {}: {}", origin, what);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<ThresholdType> parseThresholdType(std::string_view s) {
  static const std::pair<const char*, ThresholdType> kTypes[] = {
      {"above", ThresholdType::kAbove},           {"above_exclusive", ThresholdType::kAboveExclusive},
      {"below", ThresholdType::kBelow},           {"below_or_equal", ThresholdType::kBelowOrEqual},
      {"equal", ThresholdType::kEqual},           {"not_equal", ThresholdType::kNotEqual},
      {"between", ThresholdType::kBetween},       {"not_between", ThresholdType::kNotBetween}};
  for (const auto& [n, t] : kTypes)
    if (s == n) return t;
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> stringPairs(const YAML::Node& n, const std::string& where) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!n) return out;
  if (!n.IsMap()) throw std::runtime_error(where + " must be a map of strings");
  for (const auto& kv : n) out.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
  return out;
}

std::vector<std::string> stringList(const YAML::Node& n, const std::string& where) {
  std::vector<std::string> out;
  if (!n) return out;
  if (n.IsScalar()) return {n.as<std::string>()};
  if (!n.IsSequence()) throw std::runtime_error(where + " must be a list of strings");
  for (const auto& v : n) out.push_back(v.as<std::string>());
  return out;
}

void checkKeys(const YAML::Node& n, std::initializer_list<const char*> allowed, const std::string& what) {
  for (const auto& kv : n) {
    auto k = kv.first.as<std::string>();
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; }))
      throw std::runtime_error(fmt::format("{}: unknown key `{}`", what, k));
  }
}

Channel parseChannel(const std::string& name, const YAML::Node& n) {
  const std::string what = fmt::format("channel \"{}\"", name);
  if (!n.IsMap()) throw std::runtime_error(what + " must be a map");
  checkKeys(n, {"type", "url_env", "url_file", "url", "headers", "query_params", "body"}, what);
  Channel c;
  c.name = name;
  auto type = n["type"] ? n["type"].as<std::string>() : std::string("slack");
  if (type == "slack") c.type = ChannelType::kSlack;
  else if (type == "webhook" || type == "generic") c.type = ChannelType::kWebhook;
  else throw std::runtime_error(fmt::format("{}: type `{}` is not slack or webhook", what, type));
  if (n["url"])
    throw std::runtime_error(what + ": webhook URLs are secrets: give url_env (an environment variable) or "
                                    "url_file (a mounted Secret), not url");
  if (n["url_env"]) c.url_env = n["url_env"].as<std::string>();
  if (n["url_file"]) c.url_file = n["url_file"].as<std::string>();
  if (c.url_env.empty() == c.url_file.empty()) throw std::runtime_error(what + ": set exactly one of url_env and url_file");
  c.headers = stringPairs(n["headers"], what + ": headers");
  c.query_params = stringPairs(n["query_params"], what + ": query_params");
  if (n["body"]) c.body_template = n["body"].as<std::string>();
  if (c.type == ChannelType::kSlack && (!c.headers.empty() || !c.body_template.empty()))
    throw std::runtime_error(what + ": headers and body are for type webhook");
  for (const auto& [h, v] : c.headers)
    if (lower(h) == "idempotency-key" || lower(h) == "content-type")
      throw std::runtime_error(fmt::format("{}: header `{}` is set by kobs", what, h));
  return c;
}

Rule parseRule(const YAML::Node& n, const std::string& origin) {
  if (!n.IsMap()) throw std::runtime_error("a rule must be a map");
  Rule r;
  r.origin = fmt::format("{}:{}", origin, n.Mark().line + 1);
  if (!n["name"]) throw std::runtime_error("a rule has no name");
  r.name = n["name"].as<std::string>();
  const std::string what = fmt::format("rule \"{}\"", r.name);
  try {
    checkKeys(n, {"name", "source", "where", "value", "interval", "threshold", "thresholdMax", "thresholdType",
                  "groupBy", "numConsecutiveWindows", "silenced", "enabled", "channels", "message"},
              "");
    if (r.name.empty()) throw std::runtime_error("name is empty");
    if (!n["source"]) throw std::runtime_error("no source");
    r.source = n["source"].as<std::string>();
    if (n["where"]) r.where = n["where"].as<std::string>();
    if (n["value"]) r.value = n["value"].as<std::string>();
    auto interval = n["interval"] ? n["interval"].as<std::string>() : std::string("5m");
    static const char* const kIntervals[] = {"1m", "5m", "15m", "30m", "1h", "6h", "12h", "1d"};
    if (std::none_of(std::begin(kIntervals), std::end(kIntervals), [&](const char* i) { return interval == i; }))
      throw std::runtime_error(fmt::format("interval `{}` is not one of 1m 5m 15m 30m 1h 6h 12h 1d", interval));
    r.interval = *parseInterval(interval);
    if (!n["threshold"]) throw std::runtime_error("no threshold");
    r.threshold = n["threshold"].as<double>();
    auto type = n["thresholdType"] ? n["thresholdType"].as<std::string>() : std::string("above");
    auto t = parseThresholdType(type);
    if (!t)
      throw std::runtime_error(fmt::format(
          "thresholdType `{}` is not above, above_exclusive, below, below_or_equal, equal, not_equal, between "
          "or not_between",
          type));
    r.threshold_type = *t;
    if (*t == ThresholdType::kBetween || *t == ThresholdType::kNotBetween) {
      if (!n["thresholdMax"]) throw std::runtime_error(fmt::format("thresholdType {} needs thresholdMax", type));
      r.threshold_max = n["thresholdMax"].as<double>();
      if (r.threshold_max < r.threshold) throw std::runtime_error("thresholdMax is below threshold");
    }
    if (!std::isfinite(r.threshold) || !std::isfinite(r.threshold_max)) throw std::runtime_error("threshold is not finite");
    r.group_by = stringList(n["groupBy"], "groupBy");
    if (n["numConsecutiveWindows"]) r.consecutive_windows = n["numConsecutiveWindows"].as<int>();
    if (r.consecutive_windows < 1 || r.consecutive_windows > 1000)
      throw std::runtime_error("numConsecutiveWindows must be 1..1000");
    if (const auto& s = n["silenced"]) {
      auto until = s.IsMap() ? s["until"] : s;
      if (!until) throw std::runtime_error("silenced needs until");
      auto text = until.as<std::string>();
      auto when = rfc3339::parse(text);
      if (!when) throw std::runtime_error(fmt::format("silenced.until `{}` is not an RFC 3339 time", text));
      // Far-future silences (year 2999) do not fit the clock's nanoseconds: silenced for good.
      r.silenced_until = when->seconds > 9'000'000'000 ? std::chrono::system_clock::time_point::max()
                                                      : std::chrono::system_clock::time_point(std::chrono::seconds(when->seconds));
    }
    if (n["enabled"]) r.enabled = n["enabled"].as<bool>();
    r.channels = stringList(n["channels"], "channels");
    if (n["message"]) r.message = n["message"].as<std::string>();
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", what, e.msg));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(fmt::format("{}: {}", what, e.what()));
  }
  return r;
}

void merge(RuleSet& into, RuleSet from, const std::string& origin) {
  for (auto& [name, c] : from.channels) {
    if (into.channels.count(name)) fail(origin, fmt::format("channel \"{}\" is defined twice", name));
    into.channels.emplace(name, std::move(c));
  }
  for (auto& r : from.rules) {
    for (const auto& e : into.rules)
      if (e.name == r.name) fail(origin, fmt::format("rule \"{}\" is defined twice ({} and {})", r.name, e.origin, r.origin));
    into.rules.push_back(std::move(r));
  }
  for (auto& f : from.files) into.files.push_back(std::move(f));
}

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Exception(ErrorCode::kBadConfig, "alert rules {}: cannot be read", p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool has(const std::vector<std::string>& cols, std::string_view c) {
  return std::find(cols.begin(), cols.end(), c) != cols.end();
}

bool looksLikeAttributeKey(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '/')) return false;
  return true;
}

}  // namespace

std::string_view thresholdTypeName(ThresholdType t) {
  switch (t) {
    case ThresholdType::kAbove: return "above";
    case ThresholdType::kAboveExclusive: return "above_exclusive";
    case ThresholdType::kBelow: return "below";
    case ThresholdType::kBelowOrEqual: return "below_or_equal";
    case ThresholdType::kEqual: return "equal";
    case ThresholdType::kNotEqual: return "not_equal";
    case ThresholdType::kBetween: return "between";
    case ThresholdType::kNotBetween: return "not_between";
  }
  return "?";
}

bool breaches(ThresholdType type, double v, double t, double max) {
  switch (type) {
    case ThresholdType::kAbove: return v >= t;
    case ThresholdType::kAboveExclusive: return v > t;
    case ThresholdType::kBelow: return v < t;
    case ThresholdType::kBelowOrEqual: return v <= t;
    case ThresholdType::kEqual: return v == t;
    case ThresholdType::kNotEqual: return v != t;
    case ThresholdType::kBetween: return v >= t && v <= max;
    case ThresholdType::kNotBetween: return v < t || v > max;
  }
  return false;
}

std::optional<std::chrono::seconds> parseInterval(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  char unit = text.back();
  int64_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
    if (n > 1000000) return std::nullopt;
  }
  if (n <= 0) return std::nullopt;
  switch (unit) {
    case 's': return std::chrono::seconds(n);
    case 'm': return std::chrono::seconds(n * 60);
    case 'h': return std::chrono::seconds(n * 3600);
    case 'd': return std::chrono::seconds(n * 86400);
  }
  return std::nullopt;
}

std::string Channel::resolveUrl() const {
  std::string url;
  if (!url_env.empty()) {
    const char* v = std::getenv(url_env.c_str());
    if (!v || !*v) throw Exception(ErrorCode::kBadConfig, "channel \"{}\": environment variable {} is not set", name, url_env);
    url = v;
  } else {
    std::ifstream in(url_file);
    if (!in) throw Exception(ErrorCode::kBadConfig, "channel \"{}\": url_file {} cannot be read", name, url_file);
    std::getline(in, url);
    while (!url.empty() && (url.back() == '\r' || url.back() == ' ' || url.back() == '\t')) url.pop_back();
    if (url.empty()) throw Exception(ErrorCode::kBadConfig, "channel \"{}\": url_file {} is empty", name, url_file);
  }
  if (!url.starts_with("http://") && !url.starts_with("https://"))
    throw Exception(ErrorCode::kBadConfig, "channel \"{}\": the URL is not http(s)", name);
  if (!query_params.empty()) {
    std::string q;
    for (const auto& [k, v] : query_params) {
      auto enc = [](std::string_view s) {
        std::string o;
        for (unsigned char c : s) {
          if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') o += char(c);
          else o += fmt::format("%{:02X}", c);
        }
        return o;
      };
      q += (q.empty() ? "" : "&") + enc(k) + "=" + enc(v);
    }
    url += (url.find('?') == std::string::npos ? "?" : "&") + q;
  }
  return url;
}

RuleSet parseRules(std::string_view yaml, const std::string& origin) {
  RuleSet set;
  set.files.push_back(origin);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    fail(origin, fmt::format("line {}: {}", e.mark.line + 1, e.msg));
  }
  if (!root || root.IsNull()) return set;
  if (!root.IsMap()) fail(origin, "the document must be a map with `channels` and `rules`");
  try {
    checkKeys(root, {"channels", "rules"}, "top level");
    if (const auto& ch = root["channels"]) {
      if (!ch.IsMap()) throw std::runtime_error("channels must be a map of name to channel");
      for (const auto& kv : ch) {
        auto name = kv.first.as<std::string>();
        set.channels.emplace(name, parseChannel(name, kv.second));
      }
    }
    if (const auto& rules = root["rules"]) {
      if (!rules.IsSequence()) throw std::runtime_error("rules must be a list");
      for (const auto& r : rules) {
        auto rule = parseRule(r, origin);
        for (const auto& e : set.rules)
          if (e.name == rule.name) throw std::runtime_error(fmt::format("rule \"{}\" is defined twice", rule.name));
        set.rules.push_back(std::move(rule));
      }
    }
  } catch (const YAML::Exception& e) {
    fail(origin, fmt::format("line {}: {}", e.mark.line + 1, e.msg));
  } catch (const std::runtime_error& e) {
    fail(origin, e.what());
  }
  return set;
}

RuleSet loadRules(const std::filesystem::path& path) {
  std::error_code ec;
  RuleSet set;
  if (std::filesystem::is_directory(path, ec)) {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
      auto ext = e.path().extension().string();
      // Kubernetes mounts ConfigMaps through ..data symlinks; skip the dot entries.
      if ((ext == ".yaml" || ext == ".yml") && !e.path().filename().string().starts_with(".")) files.push_back(e.path());
    }
    if (ec) throw Exception(ErrorCode::kBadConfig, "alert rules {}: cannot list: {}", path.string(), ec.message());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) merge(set, parseRules(readFile(f), f.string()), f.string());
    set.files.clear();
    for (const auto& f : files) set.files.push_back(f.string());
    return set;
  }
  return parseRules(readFile(path), path.string());
}

void bindRules(RuleSet& set, const SourceTables& tables, const ColumnLookup& columns,
               std::chrono::seconds interval_override) {
  for (auto& r : set.rules) {
    auto bad = [&](const std::string& why) {
      throw Exception(ErrorCode::kBadConfig, "alert rule \"{}\" ({}): {}", r.name, r.origin, why);
    };
    if (interval_override.count() > 0) r.interval = interval_override;
    r.source_filter.clear();
    if (r.source == "logs") {
      r.table = tables.logs;
    } else if (r.source == "events") {
      r.table = tables.logs;
      // The rows the k8s events receiver writes (contract §1).
      r.source_filter = "ResourceAttributes['telemetry.source'] = 'k8s-events'";
    } else if (r.source == "traces") {
      r.table = tables.traces;
    } else if (r.source.starts_with("metrics_") && tables.metrics.count(r.source.substr(8))) {
      r.table = tables.metrics.at(r.source.substr(8));
    } else {
      r.table = r.source;  // a table of the database, named directly
    }
    auto cols = columns(r.table);
    if (!cols)
      bad(fmt::format("source `{}`: table `{}` does not exist (sources: logs, events, traces, metrics_<type>, or a "
                      "table name)",
                      r.source, r.table));
    r.time_column = has(*cols, "TimeUnix") ? "TimeUnix" : has(*cols, "Timestamp") ? "Timestamp" : "";
    if (r.time_column.empty()) bad(fmt::format("table `{}` has no Timestamp or TimeUnix column", r.table));
    r.coarse_time_column = has(*cols, "TimestampTime") ? "TimestampTime" : "";
    auto check = [&](const std::string& sql, const char* what) {
      auto c = checkExpression(sql, *cols);
      if (c.error) bad(fmt::format("{} `{}` {} (table {})", what, sql, *c.error, r.table));
    };
    if (!r.where.empty()) check(r.where, "where");
    r.value_expr = r.value.empty() ? "count()" : r.value;
    if (!r.value.empty()) check(r.value, "value");
    const auto v = lower(r.value_expr);
    r.zero_when_empty = v.starts_with("count") || v.starts_with("sum") || v.starts_with("uniq");
    r.counts_lines = v == "count()" || v == "count(*)";
    r.group_exprs.clear();
    for (const auto& g : r.group_by) {
      if (has(*cols, g)) {
        r.group_exprs.push_back(store::quoteIdentifier(g));
      } else if (looksLikeAttributeKey(g) && g.find_first_of("./") != std::string::npos && has(*cols, "ResourceAttributes")) {
        // An attribute key: the resource's, else the record's own attributes.
        const char* own = has(*cols, "LogAttributes") ? "LogAttributes"
                          : has(*cols, "SpanAttributes") ? "SpanAttributes"
                          : has(*cols, "Attributes") ? "Attributes" : nullptr;
        auto key = store::quoteString(g);
        if (own)
          r.group_exprs.push_back(fmt::format("if(mapContains(ResourceAttributes, {0}), ResourceAttributes[{0}], {1}[{0}])", key, own));
        else
          r.group_exprs.push_back(fmt::format("ResourceAttributes[{}]", key));
      } else {
        check(g, "groupBy");
        r.group_exprs.push_back(g);
      }
    }
    for (const auto& c : r.channels)
      if (!set.channels.count(c)) bad(fmt::format("channel \"{}\" is not defined under channels", c));
  }
}

}  // namespace kobs::alert
