// One POST of a notification with libcurl: no redirects followed (a 3xx is
// a permanent failure: a webhook that moved must be reconfigured, and a
// redirect could carry the payload elsewhere), http/https only, connect and
// whole-request timeouts. The URL is a secret: it never appears in the
// outcome's text (curl's error buffer names the host, so only the code's
// generic text is kept).
//
// Threading: stateless; each call uses its own easy handle.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace kobs::alert {

struct PostOutcome {
  enum class Kind { kDelivered, kRetry, kPermanent };
  Kind kind = Kind::kRetry;
  long status = 0;    // HTTP status, 0 when none came
  std::string error;  // why, without the URL
};

struct PostOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds timeout{30000};
};

// 2xx delivered; 5xx, 408, 429 and network errors retry; anything else
// (3xx, other 4xx) is permanent.
PostOutcome postJson(const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
                     const std::string& body, const PostOptions& options);

}  // namespace kobs::alert
