#include "alert/webhook_client.h"

#include <memory>

#include <curl/curl.h>
#include <fmt/format.h>

namespace kobs::alert {

namespace {

// The answer's body is not needed; reading it keeps the connection sane.
size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

PostOutcome postJson(const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
                     const std::string& body, const PostOptions& options) {
  PostOutcome out;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> easy(curl_easy_init(), &curl_easy_cleanup);
  if (!easy) {
    out.error = "curl_easy_init failed";
    return out;
  }
  CURL* h = easy.get();
  curl_slist* list = nullptr;
  list = curl_slist_append(list, "Content-Type: application/json");
  list = curl_slist_append(list, "Expect:");
  for (const auto& [k, v] : headers) list = curl_slist_append(list, (k + ": " + v).c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> guard(list, &curl_slist_free_all);
  std::string sink;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(h, CURLOPT_PROTOCOLS, long(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, long(options.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, long(options.timeout.count()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "kobs-alert");
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    out.kind = PostOutcome::Kind::kRetry;
    out.error = fmt::format("network: {}", curl_easy_strerror(rc));
    return out;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.status);
  if (out.status >= 200 && out.status < 300) {
    out.kind = PostOutcome::Kind::kDelivered;
  } else if (out.status >= 500 || out.status == 408 || out.status == 429) {
    out.kind = PostOutcome::Kind::kRetry;
    out.error = fmt::format("HTTP {}", out.status);
  } else if (out.status >= 300 && out.status < 400) {
    out.kind = PostOutcome::Kind::kPermanent;
    out.error = fmt::format("HTTP {}: redirect refused", out.status);
  } else {
    out.kind = PostOutcome::Kind::kPermanent;
    out.error = fmt::format("HTTP {}", out.status);
  }
  return out;
}

}  // namespace kobs::alert
