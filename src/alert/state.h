// What the alert evaluator persists in <data_dir>/alert/state.json (format
// version 1, written with writeFileAtomically): per rule, the next window to
// evaluate and the groups that are not plainly OK; the notification outbox
// (decided, not yet delivered); the ids delivered lately; and the delivery
// marks (alert_history rows with Notified = 1) not yet written to the store. One file, so a
// decision and the notification it implies are saved together: a crash
// between deciding and posting still posts once, with the same
// Idempotency-Key, and a restart neither re-evaluates a saved window nor
// skips an unsaved one.
//
// Threading: plain values; the owner serialises access.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kobs::alert {

enum class AlertState : uint8_t { kOk = 0, kPending = 1, kAlert = 2, kInsufficientData = 3, kDisabled = 4 };
std::string_view alertStateName(AlertState s);  // "OK", "PENDING", "ALERT", "INSUFFICIENT_DATA", "DISABLED"

struct GroupState {
  std::vector<std::string> values;  // the groupBy values, in rule order
  AlertState state = AlertState::kOk;
  int streak = 0;        // consecutive windows in breach
  bool fired = false;    // a firing notification went out and no resolution yet
  int64_t fired_window = 0;
  std::optional<double> last_value;
};

struct RuleState {
  int64_t interval_s = 0;
  int64_t next_start = 0;  // epoch seconds of the next window to evaluate; 0: none yet
  std::map<std::string, GroupState> groups;  // key: groupKey(values)
};

struct Notification {
  std::string id;        // Idempotency-Key: rule, channel, group, window, state
  std::string event_id;  // HyperDX's eventId: rule, channel, group
  std::string channel;
  std::string rule;
  std::string group;     // display form
  std::string state;     // "ALERT" or "OK"
  int64_t window_start = 0, window_end = 0;  // epoch seconds
  std::optional<double> value;  // the window's value, for the delivery mark
  std::string payload;   // the rendered body
  int attempts = 0;
  int64_t next_attempt_ms = 0;  // epoch ms
  int64_t created_ms = 0;
  std::string last_error;
};

// A decision whose notifications all left the outbox (delivered, or given
// up): its alert_history row with Notified = 1, waiting to be written.
struct DeliveryMark {
  std::string rule;
  std::string group;  // display form, as GroupKey
  std::string state;  // "ALERT" or "OK"
  int64_t window_start = 0, window_end = 0;
  std::optional<double> value;
};

struct PersistedState {
  std::map<std::string, RuleState> rules;
  std::deque<Notification> outbox;
  std::deque<std::string> delivered;  // most recent last, bounded
  std::deque<DeliveryMark> marks;     // optional in the file (absent: none)
};

inline constexpr int kStateVersion = 1;

std::string serializeState(const PersistedState& s);
// Throws Exception(kCorruptData) naming what is wrong (unknown version included).
PersistedState parseState(std::string_view json);
std::string serializeNotification(const Notification& n);

// The stable key of a group: its values as a JSON array.
std::string groupKey(const std::vector<std::string>& values);

}  // namespace kobs::alert
