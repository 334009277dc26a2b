#include "serve/presenter/presenter_item.h"

#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace kobs::serve::presenter {
namespace {

void field(std::string& out, std::string_view key, std::string_view value) {
  if (out.size() > 1) out += ',';
  out += '"';
  out += key;
  out += "\":";
  events::appendGoJsonString(out, value);
}

std::string base64Encode(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out.push_back(kAlphabet[(v >> k) & 63]);
  }
  const size_t rest = in.size() - i;
  if (rest > 0) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (rest == 2) v |= uint8_t(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    if (rest == 2) out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

// Either alphabet; padding optional; ' ' read as '+' (an unencoded '+' in a
// query string decodes to a space).
std::optional<std::string> base64DecodeLenient(std::string_view in) {
  while (!in.empty() && (in.back() == '=' || in.back() == '\n')) in.remove_suffix(1);
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+' || c == ' ') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = val(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xFF));
    }
  }
  return out;
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
  return base64Encode(nlohmann::json{{"created_at", rfc3339Nano(created_ns)}, {"global_uid", global_uid}}.dump());
}

std::optional<PageCursor> PageCursor::decode(std::string_view text) {
  auto raw = base64DecodeLenient(text);
  if (!raw) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(*raw);
    if (!j.is_object() || !j.contains("created_at") || !j.contains("global_uid") || !j["created_at"].is_string() ||
        !j["global_uid"].is_string())
      return std::nullopt;
    auto ns = parseRfc3339(j["created_at"].get<std::string>());
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

std::optional<int64_t> parseRfc3339(std::string_view s) {
  auto digits = [&](size_t pos, size_t n, int& out) {
    if (pos + n > s.size()) return false;
    out = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, se;
  if (!digits(0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(5, 2, mo) || s[7] != '-' || !digits(8, 2, d) ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(11, 2, h) || s[13] != ':' || !digits(14, 2, mi) ||
      s[16] != ':' || !digits(17, 2, se))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  size_t pos = 19;
  int64_t frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 9) frac = frac * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (int i = std::min(n, 9); i < 9; ++i) frac *= 10;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(pos + 4, 2, om))
      return std::nullopt;
    offset = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  const int64_t secs = int64_t(timegm(&tm)) - offset;
  return secs * 1000000000 + frac;
}

}  // namespace kobs::serve::presenter
