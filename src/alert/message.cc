#include "alert/message.h"

#include <cmath>
#include <ctime>

#include <fmt/format.h>

#include "common/json_escape.h"

namespace kobs::alert {

namespace {

// HyperDX prints window bounds as "MMM d HH:mm:ss" in UTC.
std::string windowTime(int64_t epoch_s) {
  std::time_t t = epoch_s;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%b %d %H:%M:%S", &tm);
  return buf;
}

std::string comparison(const Rule& r) {
  auto t = formatNumber(r.threshold);
  auto m = formatNumber(r.threshold_max);
  switch (r.threshold_type) {
    case ThresholdType::kAbove: return "meets or exceeds the threshold of " + t;
    case ThresholdType::kAboveExclusive: return "exceeds the threshold of " + t;
    case ThresholdType::kBelow: return "falls below the threshold of " + t;
    case ThresholdType::kBelowOrEqual: return "falls below or equals the threshold of " + t;
    case ThresholdType::kEqual: return "equals the threshold of " + t;
    case ThresholdType::kNotEqual: return "does not equal the threshold of " + t;
    case ThresholdType::kBetween: return fmt::format("falls between the thresholds of {} and {}", t, m);
    case ThresholdType::kNotBetween: return fmt::format("falls outside the thresholds of {} and {}", t, m);
  }
  return "";
}

std::map<std::string, std::string> templateVars(const MessageInput& in) {
  return {{"rule", in.rule->name},
          {"group", in.group},
          {"value", in.value ? formatNumber(*in.value) : ""},
          {"threshold", formatNumber(in.rule->threshold)},
          {"thresholdMax", formatNumber(in.rule->threshold_max)},
          {"state", in.resolved ? "OK" : "ALERT"},
          {"startTime", std::to_string(in.window_start * 1000)},
          {"endTime", std::to_string(in.window_end * 1000)},
          {"link", in.link}};
}

}  // namespace

std::string formatNumber(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", int64_t(v));
  return fmt::format("{:.6g}", v);
}

std::string renderTemplate(std::string_view tpl, const std::map<std::string, std::string>& vars) {
  std::string out;
  size_t i = 0;
  while (i < tpl.size()) {
    auto open = tpl.find("{{", i);
    if (open == std::string_view::npos) break;
    bool triple = tpl.substr(open, 3) == "{{{";
    auto name_begin = open + (triple ? 3 : 2);
    auto close = tpl.find(triple ? "}}}" : "}}", name_begin);
    if (close == std::string_view::npos) break;
    out.append(tpl.substr(i, open - i));
    auto name = tpl.substr(name_begin, close - name_begin);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (auto it = vars.find(std::string(name)); it != vars.end()) out += it->second;
    i = close + (triple ? 3 : 2);
  }
  out.append(tpl.substr(i));
  return out;
}

std::string messageTitle(const MessageInput& in) {
  std::string v = in.value ? formatNumber(*in.value) : "no value";
  std::string what = in.rule->counts_lines ? fmt::format("{} lines found", v) : fmt::format("value {}", v);
  return fmt::format("{} Alert for \"{}\" - {}", in.resolved ? "✅" : "🚨", in.rule->name, what);
}

std::string messageBody(const MessageInput& in) {
  std::string b;
  if (!in.group.empty()) b += fmt::format("Group: \"{}\"\n", in.group);
  auto range = fmt::format("Time Range (UTC): [{} - {})", windowTime(in.window_start), windowTime(in.window_end));
  if (in.resolved) {
    b += "The alert has been resolved.\n" + range;
    return b;
  }
  std::string v = in.value ? formatNumber(*in.value) : "no value";
  if (in.rule->counts_lines)
    b += fmt::format("{} lines found, which {} lines\n", v, comparison(*in.rule));
  else
    b += fmt::format("Value {}, which {}\n", v, comparison(*in.rule));
  b += range;
  if (!in.rule->message.empty()) b += "\n" + renderTemplate(in.rule->message, templateVars(in));
  if (!in.samples_csv.empty()) b += "\n```\n" + in.samples_csv + (in.samples_csv.ends_with("\n") ? "" : "\n") + "```";
  return b;
}

std::string slackPayload(const MessageInput& in) {
  auto title = messageTitle(in);
  auto body = messageBody(in);
  std::string head = in.link.empty() ? fmt::format("*{}*", title) : fmt::format("*<{} | {}>*", in.link, title);
  std::string out = "{\"text\":";
  json::appendString(out, title);
  out += ",\"blocks\":[{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",\"text\":";
  json::appendString(out, head + "\n" + body);
  out += "}}]}";
  return out;
}

std::string webhookPayload(const MessageInput& in, const Channel& channel) {
  auto esc = [](std::string_view s) {
    std::string o;
    json::appendEscaped(o, s);
    return o;
  };
  auto vars = templateVars(in);
  vars["title"] = esc(messageTitle(in));
  vars["body"] = esc(messageBody(in));
  vars["link"] = esc(in.link);
  vars["eventId"] = in.event_id;
  vars["idempotencyKey"] = in.idempotency_key;
  vars["rule"] = esc(in.rule->name);
  vars["group"] = esc(in.group);
  return renderTemplate(channel.body_template.empty() ? std::string_view(kDefaultWebhookBody)
                                                       : std::string_view(channel.body_template),
                        vars);
}

}  // namespace kobs::alert
