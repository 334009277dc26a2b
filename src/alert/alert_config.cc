#include "alert/alert_config.h"

#include <filesystem>

namespace kobs::alert {

using config::KeySpec;
using config::KeyType;

std::vector<KeySpec> alertConfigKeys() {
  return {
      {"alert.rules_file", KeyType::kString, "", "Alert rules: a YAML file or a directory of them (deploy/alert-rules/ ships the default). Empty: no alerts. Reloaded on SIGHUP and when it changes.", {"KOBS_ALERT_RULES_FILE"}},
      {"alert.interval_override", KeyType::kDuration, "0", "Replace every rule's interval (e.g. 10s) for tests and demos; 0 keeps the rules' own.", {}},
      {"alert.tick", KeyType::kDuration, "5s", "How often due windows and the rules file are checked.", {}},
      {"alert.settle_delay", KeyType::kDuration, "10s", "How long after a window ends before it is evaluated (rows arriving late); the in-process disk buffer's lag is added.", {"KOBS_ALERT_SETTLE_DELAY"}},
      {"alert.max_catchup_windows", KeyType::kInt, "60", "Late windows of one rule evaluated after a pause; older ones are skipped and counted.", {}},
      {"alert.link_url", KeyType::kString, "", "Link put in notifications (e.g. the frontend's URL).", {"KOBS_ALERT_LINK_URL"}},
      {"alert.webhook_timeout", KeyType::kDuration, "30s", "Whole-request timeout of one notification POST.", {}},
      {"alert.webhook_connect_timeout", KeyType::kDuration, "5s", "Connect timeout of one notification POST.", {}},
      {"alert.retry_initial", KeyType::kDuration, "1s", "First retry delay of a notification that failed with 5xx or a network error (doubles, with jitter).", {}},
      {"alert.retry_max", KeyType::kDuration, "5m", "Largest retry delay.", {}},
      {"alert.max_attempts", KeyType::kInt, "20", "Attempts before a notification is dead-lettered to <data_dir>/alert/dead/.", {}},
      {"alert.history_table", KeyType::kString, "alert_history", "Table of evaluations (rule, group, window, value, state, notified), in the store's database.", {}},
      {"alert.max_state_series", KeyType::kInt, "1000", "Most kobs_alert_state{rule,group} series on /metrics.", {}},
      {"alert.leader_election.enabled", KeyType::kBool, "false", "Evaluate only while holding a Lease, so one replica per cluster alerts.", {"KOBS_ALERT_LEADER_ELECTION"}},
      {"alert.leader_election.lease_name", KeyType::kString, "kobs-alert", "Name of the alert Lease.", {}},
      {"alert.leader_election.lease_namespace", KeyType::kString, "default", "Namespace of the alert Lease.", {"POD_NAMESPACE"}},
  };
}

AlertOptions alertOptions(const config::Values& v, const std::string& data_dir) {
  AlertOptions o;
  o.rules_path = v.str("alert.rules_file");
  o.state_dir = std::filesystem::path(data_dir) / "alert";
  o.interval_override = std::chrono::duration_cast<std::chrono::seconds>(v.duration("alert.interval_override"));
  o.tick = std::max(v.duration("alert.tick"), std::chrono::milliseconds(50));
  o.settle_delay = v.duration("alert.settle_delay");
  o.max_catchup_windows = int(std::max<int64_t>(1, v.integer("alert.max_catchup_windows")));
  o.link_url = v.str("alert.link_url");
  o.post.timeout = v.duration("alert.webhook_timeout");
  o.post.connect_timeout = v.duration("alert.webhook_connect_timeout");
  o.retry_initial = std::max(v.duration("alert.retry_initial"), std::chrono::milliseconds(10));
  o.retry_max = std::max(v.duration("alert.retry_max"), o.retry_initial);
  o.max_attempts = int(std::max<int64_t>(1, v.integer("alert.max_attempts")));
  o.history_table = v.str("alert.history_table");
  o.max_state_series = size_t(std::max<int64_t>(0, v.integer("alert.max_state_series")));
  return o;
}

bool alertsConfigured(const config::Values& v) { return !v.str("alert.rules_file").empty(); }

}  // namespace kobs::alert
