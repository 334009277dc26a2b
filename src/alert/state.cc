#include "alert/state.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace kobs::alert {

using json = nlohmann::json;

std::string_view alertStateName(AlertState s) {
  switch (s) {
    case AlertState::kOk: return "OK";
    case AlertState::kPending: return "PENDING";
    case AlertState::kAlert: return "ALERT";
    case AlertState::kInsufficientData: return "INSUFFICIENT_DATA";
    case AlertState::kDisabled: return "DISABLED";
  }
  return "?";
}

namespace {

json notificationJson(const Notification& n) {
  json j{{"id", n.id},         {"event_id", n.event_id},       {"channel", n.channel},
              {"rule", n.rule},     {"group", n.group},             {"state", n.state},
              {"window_start", n.window_start}, {"window_end", n.window_end}, {"payload", n.payload},
              {"attempts", n.attempts}, {"next_attempt_ms", n.next_attempt_ms}, {"created_ms", n.created_ms},
              {"last_error", n.last_error}};
  if (n.value) j["value"] = *n.value;
  return j;
}

}  // namespace

std::string groupKey(const std::vector<std::string>& values) { return json(values).dump(); }

std::string serializeNotification(const Notification& n) { return notificationJson(n).dump(); }

std::string serializeState(const PersistedState& s) {
  json rules = json::object();
  for (const auto& [name, r] : s.rules) {
    json groups = json::array();
    for (const auto& [k, g] : r.groups) {
      json jg{{"values", g.values}, {"state", int(g.state)}, {"streak", g.streak},
              {"fired", g.fired},   {"fired_window", g.fired_window}};
      if (g.last_value) jg["last_value"] = *g.last_value;
      groups.push_back(std::move(jg));
    }
    rules[name] = json{{"interval_s", r.interval_s}, {"next_start", r.next_start}, {"groups", std::move(groups)}};
  }
  json outbox = json::array();
  for (const auto& n : s.outbox) outbox.push_back(notificationJson(n));
  json marks = json::array();
  for (const auto& m : s.marks) {
    json jm{{"rule", m.rule},
            {"group", m.group},
            {"state", m.state},
            {"window_start", m.window_start},
            {"window_end", m.window_end}};
    if (m.value) jm["value"] = *m.value;
    marks.push_back(std::move(jm));
  }
  return json{{"version", kStateVersion}, {"rules", std::move(rules)}, {"outbox", std::move(outbox)},
              {"delivered", s.delivered}, {"marks", std::move(marks)}}
      .dump();
}

PersistedState parseState(std::string_view text) {
  PersistedState s;
  try {
    auto j = json::parse(text);
    int version = j.at("version").get<int>();
    if (version != kStateVersion)
      throw Exception(ErrorCode::kCorruptData, "alert state has format version {}, this kobs reads {}", version,
                      kStateVersion);
    for (const auto& [name, r] : j.at("rules").items()) {
      RuleState rs;
      rs.interval_s = r.at("interval_s").get<int64_t>();
      rs.next_start = r.at("next_start").get<int64_t>();
      for (const auto& g : r.at("groups")) {
        GroupState gs;
        gs.values = g.at("values").get<std::vector<std::string>>();
        int st = g.at("state").get<int>();
        if (st < 0 || st > 4) throw Exception(ErrorCode::kCorruptData, "alert state: bad group state {}", st);
        gs.state = AlertState(st);
        gs.streak = g.at("streak").get<int>();
        gs.fired = g.at("fired").get<bool>();
        gs.fired_window = g.at("fired_window").get<int64_t>();
        if (g.contains("last_value")) gs.last_value = g["last_value"].get<double>();
        rs.groups.emplace(groupKey(gs.values), std::move(gs));
      }
      s.rules.emplace(name, std::move(rs));
    }
    for (const auto& n : j.at("outbox")) {
      Notification o;
      o.id = n.at("id").get<std::string>();
      o.event_id = n.at("event_id").get<std::string>();
      o.channel = n.at("channel").get<std::string>();
      o.rule = n.at("rule").get<std::string>();
      o.group = n.at("group").get<std::string>();
      o.state = n.at("state").get<std::string>();
      o.window_start = n.at("window_start").get<int64_t>();
      o.window_end = n.at("window_end").get<int64_t>();
      o.payload = n.at("payload").get<std::string>();
      o.attempts = n.at("attempts").get<int>();
      o.next_attempt_ms = n.at("next_attempt_ms").get<int64_t>();
      o.created_ms = n.at("created_ms").get<int64_t>();
      o.last_error = n.value("last_error", "");
      if (n.contains("value")) o.value = n["value"].get<double>();
      s.outbox.push_back(std::move(o));
    }
    for (const auto& d : j.at("delivered")) s.delivered.push_back(d.get<std::string>());
    if (j.contains("marks"))  // written since delivery marks exist; an older file has none
      for (const auto& m : j["marks"]) {
        DeliveryMark d;
        d.rule = m.at("rule").get<std::string>();
        d.group = m.at("group").get<std::string>();
        d.state = m.at("state").get<std::string>();
        d.window_start = m.at("window_start").get<int64_t>();
        d.window_end = m.at("window_end").get<int64_t>();
        if (m.contains("value")) d.value = m["value"].get<double>();
        s.marks.push_back(std::move(d));
      }
  } catch (const json::exception& e) {
    throw Exception(ErrorCode::kCorruptData, "alert state does not parse: {}", e.what());
  }
  return s;
}

}  // namespace kobs::alert
