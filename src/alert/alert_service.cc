#include "alert/alert_service.h"
#include "common/tsv.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "alert/message.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/logging.h"
#include "store/schema/ddl.h"
#include "store/schema/otel_tables.h"
#include "store/schema/table_layout.h"

namespace kobs::alert {

namespace {

constexpr size_t kDeliveredKept = 10000;
constexpr size_t kHistoryChunkRows = 2000;

uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hashHex(std::initializer_list<std::string_view> parts) {
  uint64_t a = 1469598103934665603ull, b = 0x84222325cbf29ce4ull;
  for (auto p : parts) {
    a = fnv1a(p, a);
    a = fnv1a(std::string_view("\0", 1), a);
    b = fnv1a(p, b ^ 0x9e3779b97f4a7c15ull);
    b = fnv1a(std::string_view("\1", 1), b);
  }
  return fmt::format("{:016x}{:016x}", a, b);
}

std::vector<std::string_view> splitTabs(std::string_view line) {
  std::vector<std::string_view> f;
  size_t b = 0;
  while (true) {
    auto t = line.find('\t', b);
    if (t == std::string_view::npos) {
      f.push_back(line.substr(b));
      return f;
    }
    f.push_back(line.substr(b, t - b));
    b = t + 1;
  }
}

int64_t epochSeconds(SysClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
int64_t epochMillis(SysClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

int64_t floorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

std::string groupDisplay(const Rule& r, const std::vector<std::string>& values) {
  std::string out;
  for (size_t i = 0; i < values.size() && i < r.group_by.size(); ++i) {
    if (!out.empty()) out += ", ";
    out += r.group_by[i] + "=" + values[i];
  }
  return out;
}

std::string timeRange(const Rule& r, int64_t start, int64_t end) {
  auto ts = store::quoteIdentifier(r.time_column);
  std::string s = fmt::format("{0} >= toDateTime({1}) AND {0} < toDateTime({2})", ts, start, end);
  if (!r.coarse_time_column.empty())
    s += fmt::format(" AND {0} >= toDateTime({1}) AND {0} < toDateTime({2})",
                     store::quoteIdentifier(r.coarse_time_column), start, end);
  return s;
}

std::string ruleFilter(const Rule& r) {
  std::string s;
  if (!r.source_filter.empty()) s += " AND (" + r.source_filter + ")";
  if (!r.where.empty()) s += " AND (" + r.where + ")";
  return s;
}

// alert_history.Notified: 0 an evaluation with nothing to announce; 2 a
// firing or resolution decided and in the outbox; 1 (a second row for the
// same window) its notifications delivered or given up. Rows written before
// the outbox moved into the store have 1 on the decision itself: read as done.
constexpr int kNotifiedNone = 0;
constexpr int kNotifiedDone = 1;
constexpr int kNotifiedDecided = 2;

std::string historyRow(const std::string& rule, const std::string& group, int64_t start, int64_t end,
                       std::optional<double> v, std::string_view state, int notified) {
  return fmt::format("({}, {}, {}, {}, {}, {}, {})", store::quoteString(rule), store::quoteString(group), start, end,
                     v ? fmt::format("{}", *v) : "NULL", store::quoteString(state), notified);
}

}  // namespace

std::vector<std::string> historyTableDdl(const store::schema::SchemaOptions& schema, const std::string& table) {
  // The same engine, ON CLUSTER and dedup window as every kobs table: on a
  // cluster a Replicated <table>_local on each node and a Distributed <table>
  // over them, so every replica (and HyperDX, MCP) reads one history.
  store::schema::SchemaOptions o = schema;
  o.ttl = std::chrono::seconds(0);  // history is kept; the telemetry TTL does not apply
  store::schema::TableDef def{.kind = store::schema::TableKind::kLogs};  // kind is unused for this table
  def.columns = {{"Rule", "LowCardinality(String)", ""},   {"GroupKey", "String", ""},
                 {"WindowStart", "DateTime", ""},          {"WindowEnd", "DateTime", ""},
                 {"Value", "Nullable(Float64)", ""},       {"State", "LowCardinality(String)", ""},
                 {"Notified", "UInt8", ""}};
  def.partition_by = "toYYYYMM(WindowStart)";
  def.order_by = "(Rule, WindowStart, GroupKey)";
  def.settings = {"index_granularity = 8192"};
  if (!o.cluster.enabled()) return {store::schema::createTableSql(o, def, table)};
  const std::string local = table + o.cluster.local_suffix;
  return {store::schema::createTableSql(o, def, local), store::schema::createDistributedSql(o, table, local)};
}

struct AlertService::RuleRun {
  std::string rule;
  RuleState state;
  int64_t windows = 0;
  std::vector<Notification> notes;
  std::vector<std::string> history;
  std::vector<std::tuple<std::string, std::vector<std::string>, AlertState>> published;
  std::vector<Announcement> announced;
};

AlertService::AlertService(AlertOptions options, store::IStore& store, metrics::Registry* registry)
    : options_(std::move(options)), store_(store), registry_(registry), log_(logging::get("alert")) {
  if (!options_.clock) options_.clock = [] { return SysClock::now(); };
  if (!options_.is_leader) options_.is_leader = [] { return true; };
  if (!registry_) {
    own_registry_ = std::make_unique<metrics::Registry>();
    registry_ = own_registry_.get();
  }
  auto& r = *registry_;
  const char* eval_help = "Rule windows evaluated, by outcome (error: the rule's query failed).";
  evaluations_ok_ = &r.counter("kobs_alert_evaluations_total", eval_help, {{"outcome", "ok"}});
  evaluations_error_ = &r.counter("kobs_alert_evaluations_total", eval_help, {{"outcome", "error"}});
  windows_skipped_ = &r.counter("kobs_alert_windows_skipped_total",
                                "Windows not evaluated because more than alert.max_catchup_windows were late.");
  const char* n_help = "Notification attempts by outcome (dead_letter: given up, written to the dead folder).";
  delivered_ = &r.counter("kobs_alert_notifications_total", n_help, {{"outcome", "delivered"}});
  retried_ = &r.counter("kobs_alert_notifications_total", n_help, {{"outcome", "retried"}});
  dead_ = &r.counter("kobs_alert_notifications_total", n_help, {{"outcome", "dead_letter"}});
  const char* r_help = "Rule reloads by outcome (error: the old rules stay).";
  reload_ok_ = &r.counter("kobs_alert_rule_reloads_total", r_help, {{"outcome", "ok"}});
  reload_error_ = &r.counter("kobs_alert_rule_reloads_total", r_help, {{"outcome", "error"}});
  series_dropped_ = &r.counter("kobs_alert_state_series_dropped_total",
                               "Group state updates not exported because alert.max_state_series was reached.");
  history_errors_ = &r.counter("kobs_alert_history_errors_total",
                               "Cycles whose alert_history insert failed (the cycle is evaluated again).");
  lease_lost_cycles_ = &r.counter("kobs_alert_lease_lost_cycles_total",
                                  "Evaluation cycles dropped uncommitted because the replica lost the Lease meanwhile.");
  resumed_rules_ = &r.counter("kobs_alert_resumed_rules_total",
                              "Rules whose state was taken from alert_history on taking the Lease (another replica led).");
  recovered_ = &r.counter("kobs_alert_notifications_recovered_total",
                          "Notifications found decided but undelivered in alert_history (a leader died between "
                          "deciding and delivering) and put in this replica's outbox.");
  outbox_checked_ = !options_.resume_from_history;
  cycle_seconds_ = &r.histogram("kobs_alert_cycle_duration_seconds", "Wall time of one evaluation cycle.",
                                metrics::Histogram::defaultSecondsBuckets());
}

AlertService::~AlertService() { shutdown(std::chrono::steady_clock::now()); }

SysClock::time_point AlertService::now() const { return options_.clock(); }

std::shared_ptr<const RuleSet> AlertService::rules() const {
  std::lock_guard lock(rules_mutex_);
  return rules_;
}

size_t AlertService::outboxSize() const {
  std::lock_guard lock(state_mutex_);
  return state_.outbox.size();
}

std::optional<GroupState> AlertService::groupState(const std::string& rule, const std::vector<std::string>& values) const {
  std::lock_guard lock(state_mutex_);
  auto r = state_.rules.find(rule);
  if (r == state_.rules.end()) return std::nullopt;
  auto g = r->second.groups.find(groupKey(values));
  if (g == r->second.groups.end()) return std::nullopt;
  return g->second;
}

std::string AlertService::rulesSignature() const {
  std::error_code ec;
  std::string sig;
  auto add = [&](const std::filesystem::path& p) {
    auto t = std::filesystem::last_write_time(p, ec);
    auto size = std::filesystem::file_size(p, ec);
    sig += fmt::format("{}|{}|{};", p.string(), t.time_since_epoch().count(), size);
  };
  if (std::filesystem::is_directory(options_.rules_path, ec)) {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(options_.rules_path, ec)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) add(f);
  } else {
    add(options_.rules_path);
  }
  return sig;
}

std::shared_ptr<RuleSet> AlertService::loadAndBind() {
  auto set = std::make_shared<RuleSet>(loadRules(options_.rules_path));
  std::map<std::string, std::optional<std::vector<std::string>>> cache;
  ColumnLookup lookup = [&](const std::string& table) -> std::optional<std::vector<std::string>> {
    if (auto it = cache.find(table); it != cache.end()) return it->second;
    auto layout = store::schema::describeTable(store_, store_.database(), table);
    std::optional<std::vector<std::string>> cols;
    if (layout.exists) {
      cols.emplace();
      for (const auto& c : layout.columns) cols->push_back(c.name);
    }
    cache[table] = cols;
    return cols;
  };
  bindRules(*set, options_.tables, lookup, options_.interval_override);
  // The server has the last word on types and functions: plan each query once.
  for (const auto& r : set->rules) {
    std::string groups;
    for (size_t i = 0; i < r.group_exprs.size(); ++i) groups += fmt::format("toString({}) AS __g{}, ", r.group_exprs[i], i);
    std::string gb;
    for (size_t i = 0; i < r.group_exprs.size(); ++i) gb += fmt::format("{}__g{}", i ? ", " : " GROUP BY ", i);
    auto sql = fmt::format("EXPLAIN PLAN SELECT {}toFloat64({}) AS __v FROM {}.{} WHERE 1{}{}", groups, r.value_expr,
                           store::quoteIdentifier(store_.database()), store::quoteIdentifier(r.table), ruleFilter(r), gb);
    try {
      store_.query(sql, "TabSeparated");
    } catch (const Exception& e) {
      if (e.code() == ErrorCode::kStoreQuery)
        throw Exception(ErrorCode::kBadConfig, "alert rule \"{}\" ({}): the store refuses its query: {}", r.name,
                        r.origin, e.what());
      throw;
    }
  }
  return set;
}

void AlertService::load() {
  std::filesystem::create_directories(options_.state_dir / "dead");
  auto file = options_.state_dir / "state.json";
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    try {
      auto parsed = parseState(s.str());
      std::lock_guard lock(state_mutex_);
      state_ = std::move(parsed);
    } catch (const Exception& e) {
      // Written atomically, so this is a damaged disk or a newer kobs: keep it aside, start afresh.
      auto aside = file;
      aside += fmt::format(".unreadable-{}", epochSeconds(SysClock::now()));
      std::filesystem::rename(file, aside, ec);
      log_->error("alert state {} unreadable ({}); moved to {}, starting without it", file.string(), e.what(),
                  aside.string());
    }
  }
  auto schema = options_.schema;
  schema.database = store_.database();
  for (const auto& sql : historyTableDdl(schema, options_.history_table)) store_.execute(sql);
  auto set = loadAndBind();
  {
    std::lock_guard lock(rules_mutex_);
    rules_ = set;
    rules_signature_ = rulesSignature();
  }
  registry_->gauge("kobs_alert_rules", "Alert rules loaded.").set(double(set->rules.size()));
  registry_->gauge("kobs_alert_outbox_pending", "Notifications decided and not yet delivered.")
      .set(double(outboxSize()));
  log_->info("alert rules loaded from {}: {} rules, {} channels; state in {}", options_.rules_path.string(),
             set->rules.size(), set->channels.size(), options_.state_dir.string());
}

bool AlertService::reload() {
  try {
    auto sig = rulesSignature();
    auto set = loadAndBind();
    {
      std::lock_guard lock(rules_mutex_);
      rules_ = set;
      rules_signature_ = sig;
    }
    reload_ok_->inc();
    registry_->gauge("kobs_alert_rules", "Alert rules loaded.").set(double(set->rules.size()));
    log_->info("alert rules reloaded: {} rules, {} channels", set->rules.size(), set->channels.size());
    return true;
  } catch (const std::exception& e) {
    reload_error_->inc();
    {
      std::lock_guard lock(rules_mutex_);
      rules_signature_ = rulesSignature();  // do not retry the same broken file every tick
    }
    log_->error("alert rules not reloaded, keeping the previous ones: {}", e.what());
    return false;
  }
}

void AlertService::requestReload() {
  reload_requested_ = true;
  std::lock_guard lock(loop_mutex_);
  loop_cv_.notify_all();
}

void AlertService::publishState(const Rule& rule, const std::string&, const std::vector<std::string>& values,
                                AlertState s) {
  auto label = rule.group_by.empty() ? std::string() : groupDisplay(rule, values);
  std::lock_guard lock(series_mutex_);
  auto key = std::make_pair(rule.name, label);
  auto it = state_series_.find(key);
  if (it == state_series_.end()) {
    if (state_series_.size() >= options_.max_state_series) {
      series_dropped_->inc();
      return;
    }
    auto& g = registry_->gauge("kobs_alert_state",
                               "State of a rule's group: 0 OK, 1 PENDING, 2 ALERT, 3 INSUFFICIENT_DATA, 4 DISABLED.",
                               {{"rule", rule.name}, {"group", label}});
    it = state_series_.emplace(key, &g).first;
  }
  it->second->set(double(int(s)));
}

bool AlertService::sourceHasRowsBefore(const Rule& rule, int64_t end_s) {
  auto key = rule.table + "|" + rule.source_filter;
  auto it = source_seen_.find(key);
  if (it != source_seen_.end() && it->second) return true;
  // LIMIT 1: the first row found answers; no scan of the whole table.
  auto sql = fmt::format("SELECT 1 FROM {}.{} WHERE {} < toDateTime({}){} LIMIT 1",
                         store::quoteIdentifier(store_.database()), store::quoteIdentifier(rule.table),
                         store::quoteIdentifier(rule.time_column), end_s,
                         rule.source_filter.empty() ? "" : " AND (" + rule.source_filter + ")");
  auto res = store_.query(sql, "TabSeparated");
  bool seen = res.data.starts_with("1");
  // Once rows exist before an end, they exist before every later end too.
  if (seen) source_seen_[key] = true;
  return seen;
}

std::string AlertService::sampleRows(const Rule& rule, const std::vector<std::string>& group, int64_t start,
                                     int64_t end) {
  if (options_.max_sample_rows == 0) return {};
  static const char* const kPreferred[] = {"Timestamp", "TimeUnix", "SeverityText", "ServiceName", "SpanName",
                                           "Duration", "StatusCode", "MetricName", "Value", "Body"};
  auto layout = store::schema::describeTable(store_, store_.database(), rule.table);
  std::string cols;
  for (const char* c : kPreferred)
    if (layout.has(c)) cols += (cols.empty() ? "" : ", ") + store::quoteIdentifier(c);
  if (cols.empty()) cols = store::quoteIdentifier(rule.time_column);
  std::string match;
  for (size_t i = 0; i < group.size() && i < rule.group_exprs.size(); ++i)
    match += fmt::format(" AND toString({}) = {}", rule.group_exprs[i], store::quoteString(group[i]));
  auto sql = fmt::format("SELECT {} FROM {}.{} WHERE {}{}{} ORDER BY {} LIMIT {}", cols,
                         store::quoteIdentifier(store_.database()), store::quoteIdentifier(rule.table),
                         timeRange(rule, start, end), ruleFilter(rule), match, store::quoteIdentifier(rule.time_column),
                         options_.max_sample_rows);
  try {
    auto csv = store_.query(sql, "CSV").data;
    // Long bodies (events carry the whole Event JSON) are cut so a message stays readable.
    std::string out;
    std::istringstream in(csv);
    for (std::string line; std::getline(in, line);) out += (line.size() > 400 ? line.substr(0, 400) + "…" : line) + "\n";
    return out;
  } catch (const Exception& e) {
    log_->warn("alert rule \"{}\": sample rows not read: {}", rule.name, e.what());
    return {};
  }
}

std::vector<Notification> AlertService::makeNotifications(const Rule& rule, const RuleSet& rules,
                                                          const std::string& key,
                                                          const std::vector<std::string>& values, bool resolve,
                                                          int64_t start, int64_t end, std::optional<double> value) {
  std::vector<Notification> out;
  if (rule.channels.empty()) return out;
  MessageInput m;
  m.rule = &rule;
  m.resolved = resolve;
  m.group = groupDisplay(rule, values);
  m.value = value;
  m.window_start = start;
  m.window_end = end;
  m.link = options_.link_url;
  if (!resolve) m.samples_csv = sampleRows(rule, values, start, end);
  const std::string state = resolve ? "OK" : "ALERT";
  for (const auto& ch : rule.channels) {
    const auto& channel = rules.channels.count(ch) ? rules.channels.at(ch) : Channel{};
    Notification n;
    // Derived from the decision alone: whoever renders it (the decider, or a
    // leader recovering it from alert_history) sends the same key.
    n.id = "kobs-" + hashHex({rule.name, ch, key, std::to_string(start), state});
    n.event_id = hashHex({rule.name, ch, key});
    m.event_id = n.event_id;
    m.idempotency_key = n.id;
    n.channel = ch;
    n.rule = rule.name;
    n.group = m.group;
    n.state = state;
    n.window_start = start;
    n.window_end = end;
    n.value = value;
    n.payload = channel.type == ChannelType::kSlack ? slackPayload(m) : webhookPayload(m, channel);
    n.created_ms = epochMillis(now());
    n.next_attempt_ms = n.created_ms;
    out.push_back(std::move(n));
  }
  return out;
}

bool AlertService::evaluateRule(const Rule& rule, int64_t wm_s, RuleRun& run) {
  const int64_t I = rule.interval.count();
  const int64_t last_end = floorDiv(wm_s, I) * I;
  auto& rs = run.state;
  if (rs.interval_s != I) {
    rs.interval_s = I;
    rs.next_start = 0;
  }
  if (rs.next_start == 0 || rs.next_start % I != 0) rs.next_start = last_end - I;  // the last complete window
  if (rs.next_start + I > last_end) return false;
  int64_t n = (last_end - rs.next_start) / I;
  if (n > options_.max_catchup_windows) {
    windows_skipped_->inc(uint64_t(n - options_.max_catchup_windows));
    log_->warn("alert rule \"{}\": {} late windows, evaluating the last {}", rule.name, n, options_.max_catchup_windows);
    rs.next_start = last_end - int64_t(options_.max_catchup_windows) * I;
  }
  const int64_t S = rs.next_start, E = last_end;
  run.windows = (E - S) / I;
  if (!rule.enabled) {
    if (rule.group_by.empty() && rs.groups.empty()) rs.groups[groupKey({})] = GroupState{};
    for (auto& [k, g] : rs.groups) {
      g.state = AlertState::kDisabled;
      g.streak = 0;
      run.published.emplace_back(k, g.values, g.state);
    }
    rs.next_start = E;
    return true;
  }

  // One query for every due window and every group.
  std::string sel, gb;
  for (size_t i = 0; i < rule.group_exprs.size(); ++i) {
    sel += fmt::format(", toString({}) AS __g{}", rule.group_exprs[i], i);
    gb += fmt::format(", __g{}", i);
  }
  auto sql = fmt::format(
      "SELECT intDiv(toUnixTimestamp({0}), {1}) * {1} AS __w{2}, toFloat64({3}) AS __v FROM {4}.{5} WHERE {6}{7} "
      "GROUP BY __w{8}",
      store::quoteIdentifier(rule.time_column), I, sel, rule.value_expr, store::quoteIdentifier(store_.database()),
      store::quoteIdentifier(rule.table), timeRange(rule, S, E), ruleFilter(rule), gb);
  auto res = store_.query(sql, "TabSeparated");
  std::map<int64_t, std::map<std::string, std::pair<std::vector<std::string>, std::optional<double>>>> found;
  std::string_view data = res.data;
  const size_t ng = rule.group_exprs.size();
  while (!data.empty()) {
    auto nl = data.find('\n');
    auto line = data.substr(0, nl);
    data = nl == std::string_view::npos ? std::string_view() : data.substr(nl + 1);
    if (line.empty()) continue;
    auto f = splitTabs(line);
    if (f.size() != ng + 2) throw Exception(ErrorCode::kStoreQuery, "alert rule \"{}\": unexpected result line", rule.name);
    int64_t w = std::strtoll(std::string(f[0]).c_str(), nullptr, 10);
    std::vector<std::string> values;
    for (size_t i = 0; i < ng; ++i) values.push_back(unescapeTsv(f[1 + i]));
    std::optional<double> v;
    if (f.back() != "\\N") {
      double d = std::strtod(std::string(f.back()).c_str(), nullptr);
      if (std::isfinite(d)) v = d;
    }
    auto key = groupKey(values);
    found[w][key] = {std::move(values), v};
  }

  const bool silenced = rule.silenced_until && now() < *rule.silenced_until;
  auto rules = this->rules();
  for (int64_t w = S; w < E; w += I) {
    const bool insufficient = !sourceHasRowsBefore(rule, w + I);
    auto& in_window = found[w];
    std::set<std::string> keys;
    for (const auto& [k, _] : in_window) keys.insert(k);
    for (const auto& [k, _] : rs.groups) keys.insert(k);
    if (rule.group_by.empty()) keys.insert(groupKey({}));
    for (const auto& key : keys) {
      auto hit = in_window.find(key);
      auto [git, created] = rs.groups.try_emplace(key);
      auto& g = git->second;
      if (created) g.values = hit != in_window.end() ? hit->second.first : std::vector<std::string>{};
      std::optional<double> v;
      if (hit != in_window.end()) v = hit->second.second;
      else if (rule.zero_when_empty) v = 0.0;
      if (insufficient || !v) {
        g.state = AlertState::kInsufficientData;
      } else if (breaches(rule.threshold_type, *v, rule.threshold, rule.threshold_max)) {
        ++g.streak;
        g.state = g.streak >= rule.consecutive_windows ? AlertState::kAlert : AlertState::kPending;
      } else {
        g.streak = 0;
        g.state = AlertState::kOk;
      }
      g.last_value = v;
      bool notified = false;
      const bool fire = g.state == AlertState::kAlert && !g.fired && !silenced;
      const bool resolve = g.state == AlertState::kOk && g.fired;
      if (fire || resolve) {
        for (auto& n : makeNotifications(rule, *rules, key, g.values, resolve, w, w + I, v))
          run.notes.push_back(std::move(n));
        g.fired = fire;
        if (fire) g.fired_window = w;
        notified = !rule.channels.empty();
        if (notified) run.announced.push_back({rule.name, groupDisplay(rule, g.values), resolve ? "OK" : "ALERT", w, w + I, v});
      }
      if (hit != in_window.end() || g.state != AlertState::kOk || notified) {
        run.history.push_back(historyRow(rule.name, groupDisplay(rule, g.values), w, w + I, v,
                                         alertStateName(g.state), notified ? kNotifiedDecided : kNotifiedNone));
      }
    }
  }
  for (auto it = rs.groups.begin(); it != rs.groups.end();) {
    run.published.emplace_back(it->first, it->second.values, it->second.state);
    if (it->second.state == AlertState::kOk && it->second.streak == 0 && !it->second.fired && !rule.group_by.empty())
      it = rs.groups.erase(it);
    else
      ++it;
  }
  rs.next_start = E;
  return true;
}

void AlertService::writeHistory(const std::vector<std::string>& rows) {
  for (size_t i = 0; i < rows.size(); i += kHistoryChunkRows) {
    std::string values;
    for (size_t j = i; j < std::min(rows.size(), i + kHistoryChunkRows); ++j) {
      if (j > i) values += ",";
      values += rows[j];
    }
    // The same rows decided again after a crash are not stored twice.
    auto sql = fmt::format("INSERT INTO {}.{} (`Rule`, `GroupKey`, `WindowStart`, `WindowEnd`, `Value`, `State`, "
                           "`Notified`) SETTINGS insert_deduplication_token = {} VALUES {}",
                           store::quoteIdentifier(store_.database()), store::quoteIdentifier(options_.history_table),
                           store::quoteString("kobs-alert-" + hashHex({values})), values);
    store_.execute(sql);
  }
}

void AlertService::saveLocked() {
  writeFileAtomically(options_.state_dir / "state.json", serializeState(state_));
  registry_->gauge("kobs_alert_outbox_pending", "Notifications decided and not yet delivered.")
      .set(double(state_.outbox.size()));
}

AlertService::CycleResult AlertService::evaluateDue() {
  CycleResult result;
  auto rules = this->rules();
  if (!rules) return result;
  const auto started = std::chrono::steady_clock::now();
  auto wm = now() - std::chrono::duration_cast<SysClock::duration>(options_.settle_delay);
  if (options_.watermark)
    if (auto w = options_.watermark()) wm = std::min(wm, *w);
  const int64_t wm_s = epochSeconds(wm);
  std::vector<RuleRun> runs;
  for (const auto& rule : rules->rules) {
    RuleRun run;
    run.rule = rule.name;
    {
      std::lock_guard lock(state_mutex_);
      if (auto it = state_.rules.find(rule.name); it != state_.rules.end()) run.state = it->second;
    }
    try {
      if (!evaluateRule(rule, wm_s, run)) continue;
      const auto windows = uint64_t(run.windows);
      evaluations_ok_->inc(windows);
      result.windows += windows;
      ++result.rules;
      result.notifications += run.notes.size();
      runs.push_back(std::move(run));
    } catch (const Exception& e) {
      evaluations_error_->inc();
      ++result.errors;
      log_->warn("alert rule \"{}\" not evaluated: {}", rule.name, e.what());
    }
  }
  if (runs.empty()) return result;
  // Another replica may have taken the lease during a long cycle and be
  // evaluating the same windows: commit nothing, announce nothing.
  if (!options_.is_leader()) {
    lease_lost_cycles_->inc();
    log_->warn("alert cycle dropped: the lease was lost while evaluating ({} rules)", runs.size());
    result.notifications = 0;
    return result;
  }
  std::vector<std::string> history;
  for (auto& r : runs)
    for (auto& h : r.history) history.push_back(std::move(h));
  try {
    writeHistory(history);
  } catch (const Exception& e) {
    history_errors_->inc();
    log_->warn("alert history not written ({}); the cycle will be evaluated again", e.what());
    result.notifications = 0;
    return result;
  }
  {
    std::lock_guard lock(state_mutex_);
    std::set<std::string> present;
    for (const auto& r : rules->rules) present.insert(r.name);
    for (auto it = state_.rules.begin(); it != state_.rules.end();)
      it = present.count(it->first) ? std::next(it) : state_.rules.erase(it);
    std::set<std::string> known(state_.delivered.begin(), state_.delivered.end());
    for (const auto& n : state_.outbox) known.insert(n.id);
    for (auto& r : runs) {
      state_.rules[r.rule] = std::move(r.state);
      for (auto& n : r.notes)
        if (known.insert(n.id).second) state_.outbox.push_back(std::move(n));
    }
    saveLocked();
  }
  for (const auto& r : runs) {
    const Rule* rule = nullptr;
    for (const auto& x : rules->rules)
      if (x.name == r.rule) rule = &x;
    if (!rule) continue;
    for (const auto& [key, values, s] : r.published) publishState(*rule, key, values, s);
    if (options_.on_announce)
      for (const auto& a : r.announced) options_.on_announce(a);
  }
  cycle_seconds_->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (result.notifications) {
    std::lock_guard lock(loop_mutex_);
    dispatch_wake_ = true;
    dispatch_cv_.notify_all();
  }
  return result;
}

namespace {

std::optional<AlertState> parseStateName(std::string_view s) {
  for (auto st : {AlertState::kOk, AlertState::kPending, AlertState::kAlert, AlertState::kInsufficientData,
                  AlertState::kDisabled})
    if (alertStateName(st) == s) return st;
  return std::nullopt;
}

// groupDisplay() read back: "a=x, b=y" with the rule's groupBy names in order.
std::optional<std::vector<std::string>> parseGroupDisplay(const Rule& r, std::string_view s) {
  std::vector<std::string> values;
  size_t pos = 0;
  for (size_t i = 0; i < r.group_by.size(); ++i) {
    const std::string head = (i ? ", " : "") + r.group_by[i] + "=";
    if (s.compare(pos, head.size(), head) != 0) return std::nullopt;
    pos += head.size();
    size_t end = s.size();
    if (i + 1 < r.group_by.size()) {
      end = s.find(", " + r.group_by[i + 1] + "=", pos);
      if (end == std::string_view::npos) return std::nullopt;
    }
    values.emplace_back(s.substr(pos, end - pos));
    pos = end;
  }
  if (pos != s.size()) return std::nullopt;
  return values;
}

}  // namespace

size_t AlertService::resumeFromHistory() {
  auto rules = this->rules();
  if (!rules) return 0;
  const auto table = store::quoteIdentifier(store_.database()) + "." + store::quoteIdentifier(options_.history_table);
  std::map<std::string, int64_t> ends;
  {
    auto res = store_.query(fmt::format("SELECT Rule, toUnixTimestamp(max(WindowEnd)) FROM {} GROUP BY Rule", table),
                            "TabSeparated");
    std::istringstream in(res.data);
    for (std::string line; std::getline(in, line);) {
      auto f = splitTabs(line);
      if (f.size() == 2) ends[unescapeTsv(f[0])] = std::strtoll(std::string(f[1]).c_str(), nullptr, 10);
    }
  }
  size_t adopted = 0;
  for (const auto& rule : rules->rules) {
    const int64_t I = rule.interval.count();
    auto e = ends.find(rule.name);
    if (e == ends.end() || e->second % I != 0) continue;
    const int64_t end = e->second;
    {
      std::lock_guard lock(state_mutex_);
      auto it = state_.rules.find(rule.name);
      if (it != state_.rules.end() && it->second.interval_s == I && it->second.next_start >= end) continue;
    }
    // The windows a streak can span, and every announcement (fired or resolved) ever made.
    const int64_t since = end - int64_t(std::max(rule.consecutive_windows, 1) + 1) * I;
    auto res = store_.query(
        fmt::format("SELECT GroupKey, toUnixTimestamp(WindowStart), State, Notified, Value FROM {} WHERE Rule = {} AND "
                    "(Notified != 0 OR WindowStart >= toDateTime({})) ORDER BY GroupKey, WindowStart",
                    table, store::quoteString(rule.name), since),
        "TabSeparated");
    RuleState rs;
    rs.interval_s = I;
    rs.next_start = end;
    struct Walk {
      int64_t last_w = INT64_MIN;
      GroupState g;
    };
    std::map<std::string, Walk> walks;
    std::istringstream in(res.data);
    for (std::string line; std::getline(in, line);) {
      auto f = splitTabs(line);
      if (f.size() != 5) continue;
      auto& w = walks[unescapeTsv(f[0])];
      const int64_t ws = std::strtoll(std::string(f[1]).c_str(), nullptr, 10);
      auto st = parseStateName(unescapeTsv(f[2]));
      if (!st || ws == w.last_w) continue;  // a row stored twice
      if (f[3] != "0") {  // decided (2) or delivered (1): announced either way
        w.g.fired = *st == AlertState::kAlert;
        if (w.g.fired) w.g.fired_window = ws;
      }
      if (ws >= since) {
        const bool breach = *st == AlertState::kPending || *st == AlertState::kAlert;
        // No row for a window: the group was plainly OK then.
        w.g.streak = breach ? (w.last_w == ws - I ? w.g.streak + 1 : 1) : 0;
        w.g.state = *st;
        if (f[4] != "\\N") w.g.last_value = std::strtod(std::string(f[4]).c_str(), nullptr);
        w.last_w = ws;
      }
    }
    for (auto& [display, w] : walks) {
      if (w.last_w != end - I) {  // not in the last window: OK there
        w.g.state = AlertState::kOk;
        w.g.streak = 0;
      }
      auto values = parseGroupDisplay(rule, display);
      if (!values) {
        log_->warn("alert rule \"{}\": history group \"{}\" does not match groupBy; not resumed", rule.name, display);
        continue;
      }
      if (w.g.state == AlertState::kOk && !w.g.fired && !rule.group_by.empty()) continue;
      w.g.values = std::move(*values);
      rs.groups[groupKey(w.g.values)] = std::move(w.g);
    }
    {
      std::lock_guard lock(state_mutex_);
      state_.rules[rule.name] = std::move(rs);
      saveLocked();
    }
    resumed_rules_->inc();
    ++adopted;
    log_->info("alert rule \"{}\": resumed from {} (evaluated up to {} by another replica)", rule.name,
               options_.history_table, end);
  }
  return adopted;
}

void AlertService::deadLetter(const Notification& n) {
  dead_->inc();
  try {
    writeFileAtomically(options_.state_dir / "dead" / (n.id + ".json"), serializeNotification(n));
  } catch (const Exception& e) {
    log_->error("alert notification {} dead letter not written: {}", n.id, e.what());
  }
  log_->error("alert notification {} (rule \"{}\", channel \"{}\", {}) given up after {} attempts: {}", n.id, n.rule,
              n.channel, n.state, n.attempts, n.last_error);
}

void AlertService::markIfDoneLocked(const Notification& n) {
  for (const auto& o : state_.outbox)
    if (o.rule == n.rule && o.group == n.group && o.window_start == n.window_start && o.state == n.state) return;
  state_.marks.push_back({n.rule, n.group, n.state, n.window_start, n.window_end, n.value});
}

bool AlertService::flushMarks() {
  std::vector<DeliveryMark> marks;
  {
    std::lock_guard lock(state_mutex_);
    marks.assign(state_.marks.begin(), state_.marks.end());
  }
  if (marks.empty()) return true;
  std::vector<std::string> rows;
  for (const auto& m : marks)
    rows.push_back(historyRow(m.rule, m.group, m.window_start, m.window_end, m.value, m.state, kNotifiedDone));
  try {
    writeHistory(rows);
  } catch (const Exception& e) {
    history_errors_->inc();
    log_->warn("alert delivery marks not written ({}); retried", e.what());
    return false;
  }
  std::lock_guard lock(state_mutex_);
  // Only those written: the dispatcher may have added more meanwhile (at the back).
  state_.marks.erase(state_.marks.begin(), state_.marks.begin() + std::ptrdiff_t(marks.size()));
  try {
    saveLocked();
  } catch (const Exception& e) {
    log_->error("alert state not saved after writing delivery marks: {}", e.what());
  }
  return true;
}

size_t AlertService::recoverUndelivered(bool drop_marked, bool recent_only) {
  auto rules = this->rules();
  if (!rules) return 0;
  const auto table = store::quoteIdentifier(store_.database()) + "." + store::quoteIdentifier(options_.history_table);
  // A week back: older decisions were dead-lettered by their retries long
  // ago. After a cycle (recent_only) only the windows a cycle can decide: a
  // rule's last max_catchup_windows before the watermark, one more for another
  // replica's watermark being a little behind this one's. The scan runs every
  // cycle and the history grows by every evaluation, so it is bounded per rule:
  // rows since the shortest interval's bound (at least an hour), and the
  // longer-interval rules by name back to theirs.
  const int64_t week = epochSeconds(now()) - 7 * 86400;
  int64_t since = week;
  std::string longer;  // `OR Rule IN (...)` for rules looking back further than `since`
  if (recent_only) {
    auto wm = now() - std::chrono::duration_cast<SysClock::duration>(options_.settle_delay);
    if (options_.watermark)
      if (auto w = options_.watermark()) wm = std::min(wm, *w);
    const int64_t wm_s = epochSeconds(wm);
    auto ruleSince = [&](const Rule& r) {
      const int64_t I = r.interval.count();
      return std::max(week, floorDiv(wm_s, I) * I - int64_t(options_.max_catchup_windows + 1) * I);
    };
    since = wm_s - 3600;
    const Rule* shortest = nullptr;
    for (const auto& r : rules->rules)
      if (!shortest || r.interval < shortest->interval) shortest = &r;
    if (shortest) since = std::max(week, std::min(since, ruleSince(*shortest)));
    for (const auto& r : rules->rules)
      if (ruleSince(r) < since) longer += (longer.empty() ? "" : ", ") + store::quoteString(r.name);
  }
  const std::string window_clause =
      longer.empty() ? fmt::format("WindowStart >= toDateTime({})", std::max<int64_t>(since, 0))
                     : fmt::format("WindowStart >= toDateTime({}) AND (WindowStart >= toDateTime({}) OR Rule IN ({}))",
                                   std::max<int64_t>(week, 0), std::max<int64_t>(since, 0), longer);
  auto res = store_.query(
      fmt::format("SELECT Rule, GroupKey, State, toUnixTimestamp(WindowStart), toUnixTimestamp(WindowEnd), any(Value), "
                  "max(Notified = {}) FROM {} WHERE Notified != 0 AND State IN ('ALERT', 'OK') AND {} "
                  "GROUP BY Rule, GroupKey, State, WindowStart, WindowEnd ORDER BY WindowStart",
                  kNotifiedDone, table, window_clause),
      "TabSeparated");
  struct Found {
    std::string rule, group, state;
    int64_t start = 0, end = 0;
    std::optional<double> value;
    bool done = false;
  };
  std::vector<Found> found;
  std::istringstream in(res.data);
  for (std::string line; std::getline(in, line);) {
    auto f = splitTabs(line);
    if (f.size() != 7) continue;
    Found x{unescapeTsv(f[0]), unescapeTsv(f[1]), unescapeTsv(f[2]), std::strtoll(std::string(f[3]).c_str(), nullptr, 10),
            std::strtoll(std::string(f[4]).c_str(), nullptr, 10), std::nullopt, f[6] == "1"};
    if (f[5] != "\\N") x.value = std::strtod(std::string(f[5]).c_str(), nullptr);
    found.push_back(std::move(x));
  }
  size_t added = 0, dropped = 0;
  std::vector<Announcement> announce;
  for (const auto& x : found) {
    auto same = [&](const Notification& o) {
      return o.rule == x.rule && o.group == x.group && o.window_start == x.start && o.state == x.state;
    };
    if (x.done) {
      if (!drop_marked) continue;
      // Another leader delivered it (or gave up) while this replica did not lead.
      std::lock_guard lock(state_mutex_);
      auto n = state_.outbox.size();
      std::erase_if(state_.outbox, same);
      dropped += n - state_.outbox.size();
      continue;
    }
    const Rule* rule = nullptr;
    for (const auto& r : rules->rules)
      if (r.name == x.rule) rule = &r;
    const auto what = fmt::format("rule \"{}\", group \"{}\", {} of window {}", x.rule, x.group, x.state, x.start);
    std::optional<std::vector<std::string>> values;
    if (rule) values = parseGroupDisplay(*rule, x.group);
    if (!rule || !values) {
      if (recover_warned_.insert(what).second)
        log_->warn("alert notification ({}) decided but not delivered, and cannot be rendered again: {}", what,
                   rule ? "its group does not match the rule's groupBy" : "the rule is no longer defined");
      continue;
    }
    {
      std::lock_guard lock(state_mutex_);
      if (std::any_of(state_.outbox.begin(), state_.outbox.end(), same)) continue;  // this replica's own
      if (std::any_of(state_.marks.begin(), state_.marks.end(), [&](const DeliveryMark& m) {
            return m.rule == x.rule && m.group == x.group && m.window_start == x.start && m.state == x.state;
          }))
        continue;  // delivered here, its mark not written yet
    }
    auto notes = makeNotifications(*rule, *rules, groupKey(*values), *values, x.state == "OK", x.start, x.end, x.value);
    std::lock_guard lock(state_mutex_);
    std::set<std::string> delivered(state_.delivered.begin(), state_.delivered.end());
    size_t fresh = 0;
    for (auto& n : notes) {
      if (delivered.count(n.id)) continue;
      // In window order within its group: before a later notification of the same group.
      auto at = std::find_if(state_.outbox.begin(), state_.outbox.end(), [&](const Notification& o) {
        return o.event_id == n.event_id && o.window_start > n.window_start;
      });
      log_->warn("alert notification {} ({}) was decided but not delivered: delivering it", n.id, what);
      state_.outbox.insert(at, std::move(n));
      ++fresh;
    }
    if (fresh == 0) {  // every channel delivered here, the mark lost: write it again
      state_.marks.push_back({x.rule, x.group, x.state, x.start, x.end, x.value});
    } else {
      added += fresh;
      announce.push_back({x.rule, x.group, x.state, x.start, x.end, x.value});
    }
  }
  if (added || dropped) {
    std::lock_guard lock(state_mutex_);
    saveLocked();
  }
  if (added) {
    recovered_->inc(added);
    std::lock_guard lock(loop_mutex_);
    dispatch_wake_ = true;
    dispatch_cv_.notify_all();
  }
  if (dropped) log_->info("alert outbox: {} notifications dropped, another replica delivered them", dropped);
  // The stream's ids dedupe: a client of this process sees what the other leader decided.
  if (options_.on_announce)
    for (const auto& a : announce) options_.on_announce(a);
  return added;
}

size_t AlertService::dispatchDue() {
  if (!options_.is_leader()) {  // the leader posts; this outbox waits until this replica leads again
    if (options_.resume_from_history) outbox_checked_ = false;
    return 0;
  }
  if (!outbox_checked_) return 0;  // another leader may have delivered some: the evaluator checks first
  const int64_t now_ms = epochMillis(now());
  std::vector<Notification> due;
  {
    std::lock_guard lock(state_mutex_);
    std::set<std::string> blocked;  // a group's later notifications wait for its earlier ones
    for (const auto& n : state_.outbox) {
      if (blocked.count(n.event_id)) continue;
      blocked.insert(n.event_id);
      if (n.next_attempt_ms <= now_ms) due.push_back(n);
    }
  }
  auto rules = this->rules();
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  for (auto& n : due) {
    if (!options_.is_leader()) break;  // lost the lease while posting the earlier ones
    PostOutcome out;
    const Channel* channel = rules && rules->channels.count(n.channel) ? &rules->channels.at(n.channel) : nullptr;
    if (!channel) {
      out.kind = PostOutcome::Kind::kPermanent;
      out.error = "channel is no longer defined";
    } else {
      try {
        auto url = channel->resolveUrl();
        auto headers = channel->headers;
        headers.emplace_back("Idempotency-Key", n.id);
        out = postJson(url, headers, n.payload, options_.post);
      } catch (const Exception& e) {
        out.kind = PostOutcome::Kind::kRetry;  // a Secret not mounted yet may appear
        out.error = e.what();
      }
    }
    std::lock_guard lock(state_mutex_);
    auto it = std::find_if(state_.outbox.begin(), state_.outbox.end(), [&](const auto& o) { return o.id == n.id; });
    if (it == state_.outbox.end()) continue;
    ++it->attempts;
    it->last_error = out.error;
    if (out.kind == PostOutcome::Kind::kDelivered) {
      delivered_->inc();
      log_->info("alert notification {} delivered (rule \"{}\", channel \"{}\", {}, group \"{}\")", n.id, n.rule,
                 n.channel, n.state, n.group);
      state_.delivered.push_back(n.id);
      while (state_.delivered.size() > kDeliveredKept) state_.delivered.pop_front();
      state_.outbox.erase(it);
      markIfDoneLocked(n);
    } else if (out.kind == PostOutcome::Kind::kPermanent || it->attempts >= options_.max_attempts) {
      deadLetter(*it);
      state_.outbox.erase(it);
      markIfDoneLocked(n);  // given up: no other leader should try it again
    } else {
      retried_->inc();
      const double base = std::min<double>(double(options_.retry_max.count()),
                                           double(options_.retry_initial.count()) * std::pow(2.0, it->attempts - 1));
      std::uniform_real_distribution<double> jitter(base / 2, base);
      it->next_attempt_ms = now_ms + int64_t(jitter(rng));
      log_->warn("alert notification {} (channel \"{}\") not delivered ({}); attempt {} of {}, next in {} ms", n.id,
                 n.channel, out.error, it->attempts, options_.max_attempts, it->next_attempt_ms - now_ms);
    }
    try {
      saveLocked();
    } catch (const Exception& e) {
      log_->error("alert state not saved after a delivery: {}", e.what());
    }
  }
  flushMarks();
  return due.size();
}

void AlertService::start() {
  load();
  evaluator_ = std::thread([this] { evaluatorLoop(); });
  dispatcher_ = std::thread([this] { dispatcherLoop(); });
}

void AlertService::evaluatorLoop() {
  std::unique_lock lock(loop_mutex_);
  while (!stopping_) {
    lock.unlock();
    try {
      std::string sig;
      {
        std::lock_guard l(rules_mutex_);
        sig = rules_signature_;
      }
      if (reload_requested_.exchange(false) || rulesSignature() != sig) reload();
      const bool leading = options_.is_leader();
      if (!leading && options_.resume_from_history) outbox_checked_ = false;
      if (leading && (!was_leading_ || !outbox_checked_)) {
        // Taking the lease (or starting): adopt what another leader evaluated,
        // then deliver what it decided and did not, before posting anything.
        if (options_.resume_from_history) resumeFromHistory();
        recoverUndelivered(options_.resume_from_history);
        outbox_checked_ = true;
        std::lock_guard l(loop_mutex_);
        dispatch_wake_ = true;
        dispatch_cv_.notify_all();
      }
      was_leading_ = leading;
      if (leading) {
        auto r = evaluateDue();
        // Decisions another replica committed after this one's takeover
        // check (it had not yet seen the lease go) are caught here.
        if (r.rules > 0) recoverUndelivered(options_.resume_from_history, true);
      }
    } catch (const std::exception& e) {
      log_->error("alert cycle failed: {}", e.what());
    }
    lock.lock();
    loop_cv_.wait_for(lock, options_.tick, [this] { return stopping_ || reload_requested_.load(); });
  }
}

void AlertService::dispatcherLoop() {
  std::unique_lock lock(loop_mutex_);
  while (!stopping_) {
    dispatch_wake_ = false;
    lock.unlock();
    int64_t next_ms = INT64_MAX;
    try {
      dispatchDue();
      std::lock_guard l(state_mutex_);
      for (const auto& n : state_.outbox) next_ms = std::min(next_ms, n.next_attempt_ms);
    } catch (const std::exception& e) {
      log_->error("alert dispatch failed: {}", e.what());
    }
    lock.lock();
    auto wait = std::chrono::milliseconds(1000);
    if (next_ms != INT64_MAX)
      wait = std::clamp(std::chrono::milliseconds(next_ms - epochMillis(now())), std::chrono::milliseconds(0), wait);
    dispatch_cv_.wait_for(lock, wait, [this] { return stopping_ || dispatch_wake_; });
  }
}

void AlertService::shutdown(std::chrono::steady_clock::time_point) {
  {
    std::lock_guard lock(loop_mutex_);
    stopping_ = true;
    loop_cv_.notify_all();
    dispatch_cv_.notify_all();
  }
  // A POST in flight ends within its timeout; what it did not deliver stays in the outbox.
  if (evaluator_.joinable()) evaluator_.join();
  if (dispatcher_.joinable()) dispatcher_.join();
}

}  // namespace kobs::alert
