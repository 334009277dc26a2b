#include "common/json_escape.h"

namespace kobs::json {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void appendU00(std::string& out, unsigned char c) {
  out += "\\u00";
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0xF]);
}

// Length of the valid UTF-8 sequence at s[i] (a byte >= 0x80), or 0 when it
// is not one (overlong forms, surrogates, past U+10FFFF, truncated).
size_t utf8Length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
  if (c >= 0xF5 || (c >= 0x80 && c < 0xC2)) return 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  const auto c1 = static_cast<unsigned char>(s[i + 1]);
  if (c == 0xE0 && c1 < 0xA0) return 0;   // overlong
  if (c == 0xED && c1 >= 0xA0) return 0;  // surrogates
  if (c == 0xF0 && c1 < 0x90) return 0;   // overlong
  if (c == 0xF4 && c1 >= 0x90) return 0;  // past U+10FFFF
  return n;
}

}  // namespace

void appendString(std::string& out, std::string_view s, Escape style) {
  out.push_back('"');
  appendEscaped(out, s, style);
  out.push_back('"');
}

void appendEscaped(std::string& out, std::string_view s, Escape style) {
  const bool go = style == Escape::kGo;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80 || !go) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': go ? appendU00(out, c) : void(out += "\\b"); break;
        case '\f': go ? appendU00(out, c) : void(out += "\\f"); break;
        default:
          if (c < 0x20 || (go && (c == '<' || c == '>' || c == '&'))) appendU00(out, c);
          else out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    const size_t n = utf8Length(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    // U+2028 / U+2029 (E2 80 A8/A9) break JavaScript string literals.
    if (n == 3 && c == 0xE2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) & 0xFE) == 0xA8) {
      out += static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
}

std::string quote(std::string_view s, Escape style) {
  std::string out;
  out.reserve(s.size() + 2);
  appendString(out, s, style);
  return out;
}

}  // namespace kobs::json
