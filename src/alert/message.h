// The texts and payloads of notifications, as HyperDX writes them
// (reference otel-clickhouse.md §5):
//   title    🚨 Alert for "<rule>" - N lines found   (✅ when resolved)
//   body     Group: "<g>" / N lines found, which meets or exceeds the
//            threshold of T lines / Time Range (UTC): [a - b) / the rule's
//            message / up to 5 sample rows as CSV in triple backticks;
//            resolved: The alert has been resolved. and the time range
//   Slack    {text: title, blocks: [{type: section, text: {type: mrkdwn,
//            text: "*<link | title>*\nbody"}}]}
//   webhook  the channel's template (HyperDX's default when none), rendered
//            without escaping; title, body and link are JSON-escaped;
//            {{idempotencyKey}} is the Idempotency-Key header's value, for a
//            receiver that reads only the body to drop a repeated delivery.
//
// Threading: pure functions.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "alert/rules.h"

namespace kobs::alert {

struct MessageInput {
  const Rule* rule = nullptr;
  bool resolved = false;
  std::string group;  // display form, "" for an ungrouped rule
  std::optional<double> value;
  int64_t window_start = 0, window_end = 0;  // epoch seconds
  std::string samples_csv;  // firing only; may be empty
  std::string link;
  std::string event_id;
  std::string idempotency_key;  // the notification's id, as in its Idempotency-Key header
};

std::string messageTitle(const MessageInput& in);
std::string messageBody(const MessageInput& in);
std::string slackPayload(const MessageInput& in);
std::string webhookPayload(const MessageInput& in, const Channel& channel);

// {{name}} replaced by vars[name] (unknown names by ""); `{{{name}}}` too.
std::string renderTemplate(std::string_view tpl, const std::map<std::string, std::string>& vars);

// "12" for integral values, else up to 6 significant digits.
std::string formatNumber(double v);

}  // namespace kobs::alert
