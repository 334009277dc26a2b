#include "serve/presenter/presenter_item.h"

#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/json_escape.h"
#include "common/rfc3339.h"

namespace kobs::serve::presenter {
namespace {

void field(std::string& out, std::string_view key, std::string_view value) {
  if (out.size() > 1) out += ',';
  out += '"';
  out += key;
  out += "\":";
  kobs::json::appendString(out, value, kobs::json::Escape::kGo);
}

}  // namespace

std::string itemJson(const PresenterItem& item, bool with_raw) {
  std::string out = "{";
  if (!item.event_uid.empty()) field(out, "event_id", item.event_uid);
  field(out, "global_uid", item.global_uid);
  field(out, "cluster_name", item.cluster_name);
  field(out, "namespace", item.ns);
  field(out, "resource_kind", item.kind);
  field(out, "resource_name", item.name);
  if (!item.obj_uid.empty()) field(out, "involved_object_uid", item.obj_uid);
  field(out, "event_type", item.type);
  field(out, "reason", item.reason);
  field(out, "message", item.message);
  if (!item.composition_id.empty()) field(out, "composition_id", item.composition_id);
  field(out, "created_at", rfc3339Nano(item.created_ns));
  if (with_raw) field(out, "raw", item.raw.empty() ? std::string_view("{}") : std::string_view(item.raw));
  out += '}';
  return out;
}

std::string PageCursor::encode() const {
  return base64::encodeUrl(nlohmann::json{{"created_at", rfc3339Nano(created_ns)}, {"global_uid", global_uid}}.dump());
}

std::optional<PageCursor> PageCursor::decode(std::string_view text) {
  // Either alphabet, padding optional, ' ' read as '+' (an unencoded '+' in a
  // query string arrives as a space), a trailing line break ignored.
  auto raw = base64::decode(text, {.alphabet = base64::Alphabet::kEither, .skip_whitespace = true,
                                   .space_is_plus = true});
  if (!raw) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(*raw);
    if (!j.is_object() || !j.contains("created_at") || !j.contains("global_uid") || !j["created_at"].is_string() ||
        !j["global_uid"].is_string())
      return std::nullopt;
    auto ns = rfc3339::parseNanos(j["created_at"].get<std::string>());
    if (!ns) return std::nullopt;
    return PageCursor{*ns, j["global_uid"].get<std::string>()};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string rfc3339Nano(int64_t ns) {
  int64_t secs = ns / 1000000000;
  int64_t frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  const std::time_t t = secs;
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (frac) {
    std::string f = fmt::format("{:09}", frac);
    while (f.back() == '0') f.pop_back();
    out += '.' + f;
  }
  return out + 'Z';
}

std::optional<PresenterItem> itemFromFeed(const events::FeedEvent& e, const std::string& default_cluster,
                                          bool with_raw) {
  if (!e.local) return std::nullopt;
  const auto& r = e.row;
  PresenterItem it;
  it.cursor = r.cursor;
  it.created_ns = r.cursor.ts_ns;
  it.event_uid = e.local->event_uid;
  it.cluster_name = e.local->cluster_name.empty() ? default_cluster : e.local->cluster_name;
  it.global_uid = it.cluster_name + ":" + it.event_uid;
  it.ns = r.obj_namespace;
  it.kind = r.obj_kind;
  it.name = r.obj_name;
  it.obj_uid = r.obj_uid;
  it.type = r.type;
  it.reason = r.reason;
  it.message = r.message;
  it.composition_id = r.composition_id;
  if (with_raw) it.raw = e.local->raw;
  return it;
}

}  // namespace kobs::serve::presenter
