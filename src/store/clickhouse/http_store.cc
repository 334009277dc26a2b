#include "store/clickhouse/http_store.h"

#include <curl/curl.h>

#include <charconv>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/logging.h"
#include "store/clickhouse/clickhouse_error.h"

namespace kobs::store {
namespace {

void initCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Percent-encodes everything outside RFC 3986's unreserved set.
std::string urlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string sqlPreview(std::string_view sql) {
  constexpr size_t kMax = 200;
  std::string out = "query [" + std::string(sql.substr(0, kMax));
  if (sql.size() > kMax) out += "...";
  out += "]";
  return out;
}

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  return s;
}

// X-ClickHouse-Summary values are strings ("3"); accept numbers too.
uint64_t summaryField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    uint64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  }
  return 0;
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

void appendHeader(Slist& list, const std::string& header) {
  curl_slist* next = curl_slist_append(list.get(), header.c_str());
  if (next == nullptr) throw Exception(ErrorCode::kInternal, "curl_slist_append failed");
  list.release();
  list.reset(next);
}

Exception transportError(CURLcode rc, const char* errbuf, const HttpStoreOptions& o, std::string_view what) {
  std::string detail = errbuf && *errbuf ? errbuf : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return Exception(ErrorCode::kStoreTimeout, "ClickHouse at {} timed out on {}: {}", o.url, what, detail);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Exception(ErrorCode::kBadConfig, "bad ClickHouse URL '{}': {}", o.url, detail);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
      return Exception(ErrorCode::kBadConfig, "TLS verification of ClickHouse at {} failed: {}", o.url, detail);
    default:
      return Exception(ErrorCode::kStoreUnavailable, "ClickHouse at {} unreachable on {}: {}", o.url, what, detail);
  }
}

}  // namespace

// A curl easy handle; its connection cache is what keeps a connection alive
// between calls, so handles are pooled rather than made per request.
class HttpStore::Handle {
 public:
  Handle() : curl_(curl_easy_init()) {
    if (curl_ == nullptr) throw Exception(ErrorCode::kInternal, "curl_easy_init failed");
  }
  ~Handle() { curl_easy_cleanup(curl_); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  CURL* get() const { return curl_; }

 private:
  CURL* curl_;
};

struct HttpStore::Request {
  bool get = false;
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> params;
  std::string_view body;
  std::string_view content_type;
  std::string_view content_encoding;
  std::string what;  // for error messages: "query [SELECT ...]", "insert into t"
};

struct HttpStore::Response {
  long status = 0;
  std::string body;
  std::string summary;         // X-ClickHouse-Summary, empty when absent
  std::string exception_code;  // X-ClickHouse-Exception-Code
};

HttpStore::HttpStore(HttpStoreOptions options) : HttpStore(std::move(options), RetryPolicy::Rng{}) {}

HttpStore::HttpStore(HttpStoreOptions options, RetryPolicy::Rng rng)
    : options_(std::move(options)), retry_(options_.retry, std::move(rng)) {
  initCurlOnce();
  while (!options_.url.empty() && options_.url.back() == '/') options_.url.pop_back();
  if (options_.url.empty()) throw Exception(ErrorCode::kBadConfig, "ClickHouse URL is empty");
  if (options_.database.empty()) throw Exception(ErrorCode::kBadConfig, "ClickHouse database is empty");
}

HttpStore::~HttpStore() = default;

std::unique_ptr<HttpStore::Handle> HttpStore::acquire() {
  {
    std::lock_guard lock(pool_mutex_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  return std::make_unique<Handle>();
}

void HttpStore::release(std::unique_ptr<Handle> handle) {
  std::lock_guard lock(pool_mutex_);
  if (idle_.size() < options_.max_idle_handles) idle_.push_back(std::move(handle));
}

HttpStore::Response HttpStore::perform(const Request& req) {
  struct Lease {
    HttpStore* store;
    std::unique_ptr<Handle> handle;
    ~Lease() { store->release(std::move(handle)); }
  } lease{this, acquire()};
  CURL* c = lease.handle->get();
  // reset keeps the handle's live connections, which is the point of pooling.
  curl_easy_reset(c);

  std::string url = options_.url + req.path;
  for (size_t i = 0; i < req.params.size(); ++i) {
    url += i == 0 ? '?' : '&';
    url += urlEncode(req.params[i].first);
    url += '=';
    url += urlEncode(req.params[i].second);
  }

  if (options_.stop.stopRequested())
    throw Exception(ErrorCode::kShuttingDown, fmt::format("{}: not sent, kobs is shutting down", req.what));
  Response resp;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  // A stop due before the request timeout bounds it (at least 1 ms: 0 would mean none).
  const auto timeout = std::max(std::chrono::milliseconds(1), std::chrono::ceil<std::chrono::milliseconds>(
                                                                  options_.stop.remaining(options_.request_timeout)));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  // A stop requested now aborts the transfer (the callback runs at least about once a second).
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION,
                   +[](void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
                     return static_cast<const StopToken*>(ud)->stopRequested() ? 1 : 0;
                   });
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &options_.stop);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t size, size_t n, void* ud) -> size_t {
    static_cast<Response*>(ud)->body.append(p, size * n);
    return size * n;
  });
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, +[](char* p, size_t size, size_t n, void* ud) -> size_t {
    auto* r = static_cast<Response*>(ud);
    std::string_view line(p, size * n);
    if (startsWithNoCase(line, "HTTP/")) {  // a new response (after 100 Continue): forget the last
      r->summary.clear();
      r->exception_code.clear();
    } else if (startsWithNoCase(line, "X-ClickHouse-Summary:")) {
      r->summary = trim(line.substr(21));
    } else if (startsWithNoCase(line, "X-ClickHouse-Exception-Code:")) {
      r->exception_code = trim(line.substr(28));
    }
    return size * n;
  });
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp);
  if (url.starts_with("https")) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, options_.tls_verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, options_.tls_verify ? 2L : 0L);
    if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  }

  Slist headers;
  appendHeader(headers, "Expect:");  // no 100-continue round trip before large bodies
  if (options_.auth == HttpAuthMode::kBasic) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, options_.user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, options_.password.c_str());
  } else {
    appendHeader(headers, "X-ClickHouse-User: " + options_.user);
    appendHeader(headers, "X-ClickHouse-Key: " + options_.password);
  }
  if (req.get) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    appendHeader(headers, "Content-Type: " + std::string(req.content_type.empty() ? "text/plain; charset=UTF-8" : req.content_type));
    if (!req.content_encoding.empty()) appendHeader(headers, "Content-Encoding: " + std::string(req.content_encoding));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  CURLcode rc = curl_easy_perform(c);
  long connects = 0;
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
  counters_.connections_opened.fetch_add(static_cast<uint64_t>(connects), std::memory_order_relaxed);
  counters_.requests.fetch_add(1, std::memory_order_relaxed);
  counters_.bytes_sent.fetch_add(req.body.size(), std::memory_order_relaxed);
  if (rc != CURLE_OK) {
    if (options_.stop.stopRequested())
      throw Exception(ErrorCode::kShuttingDown, fmt::format("{}: abandoned, kobs is shutting down", req.what));
    throw transportError(rc, errbuf, options_, req.what);
  }

  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  if (resp.status < 200 || resp.status >= 300) {
    throw clickhouse::errorFromResponse({.http_status = resp.status,
                                         .exception_code_header = resp.exception_code,
                                         .body = resp.body,
                                         .user = options_.user,
                                         .url = options_.url,
                                         .what = req.what});
  }
  return resp;
}

template <typename OnRetry>
HttpStore::Response HttpStore::performWithRetries(const Request& request, OnRetry&& on_retry) {
  for (int retry = 0;; ++retry) {
    try {
      return perform(request);
    } catch (Exception& e) {
      if (!retry_.shouldRetry(e, retry)) {
        counters_.errors.fetch_add(1, std::memory_order_relaxed);
        if (retry > 0) e.addContext(fmt::format("after {} retries", retry));
        throw;
      }
      auto wait = retry_.backoff(retry);
      logging::get("store.clickhouse")
          ->warn("ClickHouse request failed, retrying retry={} wait_ms={} error={}", retry + 1, wait.count(), e.what());
      on_retry(e);
      counters_.retries.fetch_add(1, std::memory_order_relaxed);
      if (!options_.stop.sleepFor(wait)) {
        counters_.errors.fetch_add(1, std::memory_order_relaxed);
        throw Exception(ErrorCode::kShuttingDown,
                        fmt::format("{} (not retried, kobs is shutting down)", e.what()));
      }
    }
  }
}

namespace {

// Compresses `body` into `storage` when the options say so; returns what to send.
std::string_view maybeCompress(const HttpStoreOptions& o, std::string_view body, std::string& storage,
                               std::string_view& encoding) {
  encoding = {};
  if (o.compression == BodyCompression::kNone || body.size() < o.compress_min_bytes) return body;
  int level = o.compression_level > 0 ? o.compression_level : 1;
  storage = compressBody(o.compression, body, level);
  encoding = contentEncoding(o.compression);
  return storage;
}

}  // namespace

void HttpStore::execute(std::string_view sql, const Settings& settings) {
  Request r;
  r.params.emplace_back("database", options_.database);
  r.params.insert(r.params.end(), settings.begin(), settings.end());
  std::string storage;
  r.body = maybeCompress(options_, sql, storage, r.content_encoding);
  r.what = sqlPreview(sql);
  performWithRetries(r, [](const Exception&) {});
}

QueryResult HttpStore::query(std::string_view sql, std::string_view format, const Settings& settings) {
  Request r;
  r.params.emplace_back("database", options_.database);
  if (!format.empty()) r.params.emplace_back("default_format", std::string(format));
  r.params.insert(r.params.end(), settings.begin(), settings.end());
  std::string storage;
  r.body = maybeCompress(options_, sql, storage, r.content_encoding);
  r.what = sqlPreview(sql);
  auto start = std::chrono::steady_clock::now();
  Response resp = performWithRetries(r, [](const Exception&) {});
  QueryResult out;
  out.data = std::move(resp.body);
  out.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!resp.summary.empty()) {
    auto j = nlohmann::json::parse(resp.summary, nullptr, false);
    if (j.is_object()) {
      out.rows_read = summaryField(j, "read_rows");
      out.bytes_read = summaryField(j, "read_bytes");
    }
  }
  return out;
}

InsertResult HttpStore::insert(const InsertRequest& request) {
  if (request.table.empty()) throw Exception(ErrorCode::kBadArguments, "insert without a table name");
  std::string sql = insertStatement(options_.database, request);
  sql += " FORMAT ";
  sql += request.format.empty() ? std::string("RowBinary") : request.format;

  Request r;
  const bool with_token = !request.deduplication_token.empty() && !no_dedup_token_.load();
  r.params.emplace_back("database", options_.database);
  r.params.emplace_back("query", sql);
  if (with_token) {
    r.params.emplace_back("insert_deduplication_token", request.deduplication_token);
    r.params.emplace_back("deduplicate_blocks_in_dependent_materialized_views", "1");
  }
  r.params.insert(r.params.end(), request.settings.begin(), request.settings.end());
  std::string storage;
  r.body = maybeCompress(options_, request.body, storage, r.content_encoding);
  r.content_type = "application/octet-stream";
  r.what = "insert into " + request.table;

  // Any failed attempt may have committed before its answer was lost.
  bool may_be_duplicate = request.may_be_duplicate;
  Response resp;
  try {
    resp = performWithRetries(r, [&](const Exception&) { may_be_duplicate = true; });
  } catch (const Exception& e) {
    // 115 UNKNOWN_SETTING: a server older than the token. Nothing was stored;
    // send it again without, and say once what that costs.
    if (!with_token || e.clickhouseCode() != 115 ||
        std::string_view(e.what()).find("insert_deduplication_token") == std::string_view::npos)
      throw;
    if (!no_dedup_token_.exchange(true))
      logging::get("store.clickhouse")
          ->warn("ClickHouse at {} does not know insert_deduplication_token (it needs 21.x or later): batches "
                 "replayed after a crash or a lost answer may be stored twice",
                 options_.url);
    InsertRequest plain = request;
    plain.deduplication_token.clear();
    InsertResult result = insert(plain);
    return result;
  }

  if (resp.summary.empty()) {
    // Pre-19.x servers send no summary: the 200 is all we know. Report the
    // rows sent, as the server accepted the whole body.
    counters_.rows_inserted.fetch_add(request.rows, std::memory_order_relaxed);
    return InsertResult{request.rows, false};
  }
  auto j = nlohmann::json::parse(resp.summary, nullptr, false);
  if (!j.is_object() || !j.contains("written_rows")) {
    logging::get("store.clickhouse")->warn("unreadable X-ClickHouse-Summary summary={}", resp.summary);
    counters_.rows_inserted.fetch_add(request.rows, std::memory_order_relaxed);
    return InsertResult{request.rows, false};
  }
  uint64_t written = summaryField(j, "written_rows");
  InsertRequest checked = request;
  checked.may_be_duplicate = may_be_duplicate;
  try {
    InsertResult result = checkRowsWritten(checked, written);
    counters_.rows_inserted.fetch_add(written, std::memory_order_relaxed);
    return result;
  } catch (const Exception&) {
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
    throw;
  }
}

void HttpStore::ping() {
  Request r;
  r.get = true;
  r.path = "/ping";
  r.what = "ping";
  Response resp;
  try {
    resp = perform(r);
  } catch (const Exception&) {
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
    throw;
  }
  if (!resp.body.starts_with("Ok.")) {
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
    throw Exception(ErrorCode::kStoreUnavailable, "{} /ping answered '{}' instead of 'Ok.'", options_.url,
                    resp.body.substr(0, 100));
  }
}

}  // namespace kobs::store
