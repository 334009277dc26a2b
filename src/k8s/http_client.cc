#include "k8s/http_client.h"

#include <curl/curl.h>

#include <exception>
#include <mutex>

#include "k8s/api_error.h"

namespace kobs::k8s {
namespace {

constexpr size_t kMaxErrorBody = 64 * 1024;

void globalInit() {
  // curl_global_init is not thread-safe itself; run it once before any handle.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

size_t appendToString(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

void setBlob(CURL* easy, CURLoption option, const std::string& pem) {
  curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
  curl_easy_setopt(easy, option, &blob);
}

struct StreamState {
  CURL* easy = nullptr;
  const std::function<bool(std::string_view)>* on_data = nullptr;
  int status = 0;
  std::string error_body;
  std::exception_ptr exception;
  bool aborted = false;
  std::chrono::steady_clock::time_point last_data;
};

size_t streamWrite(char* data, size_t size, size_t n, void* user) {
  auto* state = static_cast<StreamState*>(user);
  size_t len = size * n;
  state->last_data = std::chrono::steady_clock::now();
  if (state->status == 0) {
    long code = 0;
    curl_easy_getinfo(state->easy, CURLINFO_RESPONSE_CODE, &code);
    state->status = static_cast<int>(code);
  }
  if (state->status < 200 || state->status >= 300) {
    if (state->error_body.size() < kMaxErrorBody)
      state->error_body.append(data, std::min(len, kMaxErrorBody - state->error_body.size()));
    return len;
  }
  try {
    if (!(*state->on_data)(std::string_view(data, len))) {
      state->aborted = true;
      return 0;
    }
  } catch (...) {
    state->exception = std::current_exception();
    return 0;
  }
  return len;
}

}  // namespace

void HttpClient::EasyDeleter::operator()(void* handle) const { curl_easy_cleanup(static_cast<CURL*>(handle)); }

HttpClient::HttpClient(ClusterConfig config, HttpOptions options)
    : config_(std::move(config)), options_(std::move(options)) {
  globalInit();
}

HttpClient::~HttpClient() = default;

HttpClient::Easy HttpClient::acquire() {
  {
    std::lock_guard lock(pool_mutex_);
    if (!idle_.empty()) {
      Easy e = std::move(idle_.back());
      idle_.pop_back();
      // Reset drops options but keeps the handle's live connections and TLS sessions.
      curl_easy_reset(static_cast<CURL*>(e.get()));
      return e;
    }
  }
  Easy e(curl_easy_init());
  if (!e) throw Exception(ErrorCode::kInternal, "curl_easy_init failed");
  return e;
}

void HttpClient::release(Easy handle) {
  std::lock_guard lock(pool_mutex_);
  if (idle_.size() < options_.max_idle_handles) idle_.push_back(std::move(handle));
}

void HttpClient::configure(void* handle, const std::string& target, void** headers_out,
                           std::string_view content_type, bool streaming) {
  auto* easy = static_cast<CURL*>(handle);
  std::string url = config_.server + target;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, streaming ? 0L : static_cast<long>(options_.request_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");  // large lists come gzip'd
  if (!config_.ca_pem.empty()) setBlob(easy, CURLOPT_CAINFO_BLOB, config_.ca_pem);
  if (!config_.client_cert_pem.empty()) {
    setBlob(easy, CURLOPT_SSLCERT_BLOB, config_.client_cert_pem);
    curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
    setBlob(easy, CURLOPT_SSLKEY_BLOB, config_.client_key_pem);
    curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (config_.insecure_skip_tls_verify) {
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  if (!content_type.empty()) headers = curl_slist_append(headers, fmt::format("Content-Type: {}", content_type).c_str());
  if (config_.token) {
    std::string token = config_.token->token();
    if (!token.empty()) headers = curl_slist_append(headers, fmt::format("Authorization: Bearer {}", token).c_str());
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  *headers_out = headers;
}

HttpResponse HttpClient::request(std::string_view method, const std::string& target, std::string_view body,
                                 std::string_view content_type) {
  for (int attempt = 0;; ++attempt) {
    Easy handle = acquire();
    auto* easy = static_cast<CURL*>(handle.get());
    void* raw_headers = nullptr;
    configure(easy, target, &raw_headers, body.empty() ? std::string_view() : content_type, false);
    Slist headers(static_cast<curl_slist*>(raw_headers));
    std::string method_str(method);
    if (method == "GET") {
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method_str.c_str());
      if (!body.empty() || method == "POST" || method == "PUT") {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      }
    }
    HttpResponse response;
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, appendToString);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response.body);
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
    requests_.fetch_add(1, std::memory_order_relaxed);
    CURLcode rc = curl_easy_perform(easy);
    if (rc != CURLE_OK) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      // A handle whose connection broke is not worth keeping.
      throw ApiError(ErrorCode::kApiUnavailable, 0, "",
                     fmt::format("{} {}{}: {}", method, config_.server, target, errbuf[0] ? errbuf : curl_easy_strerror(rc)));
    }
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    release(std::move(handle));
    response.status = static_cast<int>(code);
    if (response.status >= 500) failures_.fetch_add(1, std::memory_order_relaxed);
    if (response.status == 401 && config_.token && attempt == 0) {
      config_.token->invalidate();  // rotated file or expired plugin token: fetch and try once more
      continue;
    }
    return response;
  }
}

StreamResult HttpClient::stream(const std::string& target, const std::function<bool(std::string_view)>& on_data,
                                const StreamOptions& options) {
  Easy handle = acquire();
  auto* easy = static_cast<CURL*>(handle.get());
  void* raw_headers = nullptr;
  configure(easy, target, &raw_headers, {}, true);
  Slist headers(static_cast<curl_slist*>(raw_headers));
  curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  StreamState state;
  state.easy = easy;
  state.on_data = &on_data;
  state.last_data = std::chrono::steady_clock::now();
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, streamWrite);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &state);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);

  std::unique_ptr<CURLM, decltype(&curl_multi_cleanup)> multi(curl_multi_init(), curl_multi_cleanup);
  curl_multi_add_handle(multi.get(), easy);
  requests_.fetch_add(1, std::memory_order_relaxed);
  StreamResult result;
  {
    // Wakes the poll below from the stopping thread (curl_multi_wakeup is thread-safe).
    std::stop_callback wake(options.stop, [&] { curl_multi_wakeup(multi.get()); });
    int running = 1;
    CURLcode done_code = CURLE_OK;
    bool done = false;
    while (true) {
      curl_multi_perform(multi.get(), &running);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left)) {
        if (msg->msg == CURLMSG_DONE) {
          done = true;
          done_code = msg->data.result;
        }
      }
      if (done || running == 0) break;
      if (options.stop.stop_requested()) {
        result.end = StreamEnd::kStopped;
        break;
      }
      if (options.idle_timeout.count() > 0 &&
          std::chrono::steady_clock::now() - state.last_data >= options.idle_timeout) {
        result.end = StreamEnd::kIdleTimeout;
        break;
      }
      curl_multi_poll(multi.get(), nullptr, 0, 500, nullptr);
    }
    if (done) {
      if (state.exception) {
        curl_multi_remove_handle(multi.get(), easy);
        std::rethrow_exception(state.exception);
      }
      if (state.aborted) {
        result.end = StreamEnd::kAborted;
      } else if (done_code != CURLE_OK) {
        result.end = StreamEnd::kFailed;
        result.error = errbuf[0] ? errbuf : curl_easy_strerror(done_code);
        failures_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  long code = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
  result.status = static_cast<int>(code);
  result.error_body = std::move(state.error_body);
  curl_multi_remove_handle(multi.get(), easy);
  if (result.status == 401 && config_.token) config_.token->invalidate();
  if (result.end == StreamEnd::kComplete) release(std::move(handle));
  return result;
}

}  // namespace kobs::k8s
