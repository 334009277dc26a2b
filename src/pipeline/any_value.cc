#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/base64.h"
#include "common/json_escape.h"
#include "pipeline/record.h"
#include "pipeline/record_ref.h"

namespace kobs::pipeline {
namespace {

// ES6 Number::toString for doubles, which Go's pcommon uses for AsString:
// shortest round-trip digits, exponent form outside [1e-6, 1e21).
void appendDouble(std::string& out, double d) {
  if (std::isnan(d)) { out += "NaN"; return; }
  if (std::isinf(d)) { out += d > 0 ? "Infinity" : "-Infinity"; return; }
  if (d == 0) { out += "0"; return; }
  char buf[64];
  double a = std::fabs(d);
  std::to_chars_result r;
  if (a >= 1e-6 && a < 1e21) {
    r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
  } else {
    r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    // C++ writes 1e+21 / 1e-07; ES6 writes 1e+21 / 1e-7.
    std::string s(buf, r.ptr);
    auto e = s.find('e');
    std::string mant = s.substr(0, e), exp = s.substr(e + 1);
    char sign = exp[0];
    exp = exp.substr(1);
    exp.erase(0, std::min(exp.find_first_not_of('0'), exp.size() - 1));
    out += mant + "e" + sign + exp;
    return;
  }
  out.append(buf, r.ptr);
}

void appendJson(std::string& out, const AnyValue& v);

void appendKvJson(std::string& out, const KeyValueList& kv) {
  std::vector<const std::pair<std::string, AnyValue>*> sorted;
  sorted.reserve(kv.size());
  for (auto& p : kv) sorted.push_back(&p);
  std::stable_sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  out.push_back('{');
  bool first = true;
  for (size_t i = 0; i < sorted.size(); ++i) {
    // A later duplicate key wins, as in a map.
    if (i + 1 < sorted.size() && sorted[i + 1]->first == sorted[i]->first) continue;
    if (!first) out.push_back(',');
    first = false;
    json::appendString(out, sorted[i]->first);
    out.push_back(':');
    appendJson(out, sorted[i]->second);
  }
  out.push_back('}');
}

void appendJson(std::string& out, const AnyValue& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) out += "null";
        else if constexpr (std::is_same_v<T, std::string>) json::appendString(out, x);
        else if constexpr (std::is_same_v<T, bool>) out += x ? "true" : "false";
        else if constexpr (std::is_same_v<T, int64_t>) out += std::to_string(x);
        else if constexpr (std::is_same_v<T, double>) {
          if (std::isfinite(x)) appendDouble(out, x);
          else { out.push_back('"'); appendDouble(out, x); out.push_back('"'); }
        } else if constexpr (std::is_same_v<T, Bytes>) {
          out.push_back('"'); base64::append(out, x.data); out.push_back('"');
        } else if constexpr (std::is_same_v<T, ArrayValue>) {
          out.push_back('[');
          for (size_t i = 0; i < x.size(); ++i) {
            if (i) out.push_back(',');
            appendJson(out, x[i]);
          }
          out.push_back(']');
        } else {
          appendKvJson(out, x);
        }
      },
      v.value);
}

}  // namespace

void appendAsString(std::string& out, const AnyValue& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
        } else if constexpr (std::is_same_v<T, std::string>) out += x;
        else if constexpr (std::is_same_v<T, bool>) out += x ? "true" : "false";
        else if constexpr (std::is_same_v<T, int64_t>) {
          char buf[24];
          auto r = std::to_chars(buf, buf + sizeof buf, x);
          out.append(buf, r.ptr);
        } else if constexpr (std::is_same_v<T, double>) appendDouble(out, x);
        else if constexpr (std::is_same_v<T, Bytes>) base64::append(out, x.data);
        else appendJson(out, v);
      },
      v.value);
}

std::string asString(const AnyValue& v) {
  std::string out;
  appendAsString(out, v);
  return out;
}

AnyValue toAnyValue(const AnyValueRef& v) {
  switch (v.kind) {
    case AnyValueRef::kEmpty: return {};
    case AnyValueRef::kString: return AnyValue(std::string(v.s));
    case AnyValueRef::kBool: return AnyValue(v.b);
    case AnyValueRef::kInt: return AnyValue(v.i);
    case AnyValueRef::kDouble: return AnyValue(v.d);
    case AnyValueRef::kBytes: return AnyValue(Bytes{std::string(v.s)});
    case AnyValueRef::kOwned: return v.owned ? *v.owned : AnyValue{};
  }
  return {};
}

void appendAsString(std::string& out, const AnyValueRef& v) {
  switch (v.kind) {
    case AnyValueRef::kEmpty: return;
    case AnyValueRef::kString: out.append(v.s); return;
    case AnyValueRef::kBool: out += v.b ? "true" : "false"; return;
    case AnyValueRef::kInt: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, v.i);
      out.append(buf, r.ptr);
      return;
    }
    case AnyValueRef::kDouble: appendDouble(out, v.d); return;
    case AnyValueRef::kBytes: base64::append(out, v.s); return;
    case AnyValueRef::kOwned:
      if (v.owned) appendAsString(out, *v.owned);
      return;
  }
}

}  // namespace kobs::pipeline
