// Base64 (RFC 4648): the standard alphabet with '=' padding (§4: OTLP bytes
// as JSON, kubeconfig *-data fields) and the URL-safe alphabet without
// padding (§5: JWT segments, page cursors). The one implementation in kobs.
//
// Threading: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kobs::base64 {

// Standard alphabet, padded.
void append(std::string& out, std::string_view bytes);
std::string encode(std::string_view bytes);
// URL-safe alphabet, unpadded.
std::string encodeUrl(std::string_view bytes);

enum class Alphabet : uint8_t {
  kStandard = 0,  // + and /
  kUrl = 1,       // - and _
  kEither = 2,    // both, even mixed (lenient readers)
};

struct DecodeOptions {
  Alphabet alphabet = Alphabet::kEither;
  bool skip_whitespace = false;  // line breaks and blanks anywhere (PEM-style wrapping)
  bool space_is_plus = false;    // ' ' read as '+' (an unencoded '+' in a query string arrives as a space)
};

// Decodes `text`; trailing '=' padding is optional. nullopt when a character
// is outside the alphabet, '=' is followed by data, or the length cannot be
// base64 (one symbol left over).
std::optional<std::string> decode(std::string_view text, DecodeOptions options = {});
inline std::optional<std::string> decodeUrl(std::string_view text) {
  return decode(text, {.alphabet = Alphabet::kUrl});
}

}  // namespace kobs::base64
