// OTLP JSON differs from protobuf's JSON mapping in one point that matters
// for decoding: trace and span ids are hex, not base64. The body is parsed
// once (boost::json, depth-bounded, UTF-8 checked), the id members are
// rewritten to base64, and protobuf's own JSON parser does the rest (camelCase
// and snake_case keys, int64 as string or number, enums as ints, unknown
// fields ignored).

#include <boost/json.hpp>

#include "collect/otlp/otlp_decode.h"
#include "common/base64.h"
#include "common/error.h"

namespace kobs::collect::otlp {
namespace {

// Deep enough for OTLP's own nesting (about 10 levels to an attribute value)
// plus kMaxAnyValueDepth levels of AnyValue (3 JSON levels each).
constexpr size_t kMaxJsonDepth = 16 + 3 * size_t(kMaxAnyValueDepth) + 8;

int hexNibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string hexToBase64(std::string_view key, std::string_view hex) {
  if (hex.size() % 2 != 0)
    throw Exception(ErrorCode::kBadInput, "{} \"{}\" is not hex (odd length)", key, hex.substr(0, 64));
  std::string raw(hex.size() / 2, '\0');
  for (size_t i = 0; i < raw.size(); ++i) {
    int hi = hexNibble(hex[2 * i]), lo = hexNibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) throw Exception(ErrorCode::kBadInput, "{} \"{}\" is not hex", key, hex.substr(0, 64));
    raw[i] = char((hi << 4) | lo);
  }
  return base64::encode(raw);
}

bool isIdKey(std::string_view k) { return k == "traceId" || k == "spanId" || k == "parentSpanId" ||
                                          k == "trace_id" || k == "span_id" || k == "parent_span_id"; }

// Recursion is bounded by the parser's max_depth.
void rewrite(boost::json::value& v) {
  if (auto* o = v.if_object()) {
    for (auto& member : *o) {
      if (isIdKey(member.key()) && member.value().is_string()) {
        auto& s = member.value().get_string();
        member.value() = hexToBase64(member.key(), std::string_view(s.data(), s.size()));
      } else {
        rewrite(member.value());
      }
    }
  } else if (auto* a = v.if_array()) {
    for (auto& e : *a) rewrite(e);
  }
}

}  // namespace

std::string otlpJsonToProtoJson(std::string_view json) {
  boost::json::parse_options opts;
  opts.max_depth = kMaxJsonDepth;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec, {}, opts);
  if (ec) throw Exception(ErrorCode::kBadInput, "malformed JSON: {}", ec.message());
  if (!v.is_object()) throw Exception(ErrorCode::kBadInput, "malformed OTLP JSON: the request is not an object");
  rewrite(v);
  return boost::json::serialize(v);
}

}  // namespace kobs::collect::otlp
