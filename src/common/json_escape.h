// JSON string literals: the one escaper in kobs, in two styles.
//   kMinimal  RFC 8259: '"', '\\' and control characters (\n \r \t \b \f in
//             their short forms, others as \u00XX); other bytes as they are.
//   kGo       what Go's encoding/json writes (the old sse-proxy's bytes, the
//             wire contract of both frontend APIs): \n \r \t short, other
//             controls as \u00XX, '<' '>' '&' as \u003c \u003e \u0026,
//             U+2028/U+2029 escaped, each byte of invalid UTF-8 as \ufffd.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kobs::json {

enum class Escape : uint8_t { kMinimal = 0, kGo = 1 };

// Appends `s` quoted.
void appendString(std::string& out, std::string_view s, Escape style = Escape::kMinimal);
// Appends the escaped characters alone, without the quotes (a string built
// piecewise, e.g. a log line's message inside a pattern).
void appendEscaped(std::string& out, std::string_view s, Escape style = Escape::kMinimal);
std::string quote(std::string_view s, Escape style = Escape::kMinimal);

}  // namespace kobs::json
