#include "k8s/api_client.h"

#include <simdjson.h>

namespace kobs::k8s {
namespace od = simdjson::ondemand;

namespace {

void addParam(std::string& target, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  target += target.find('?') == std::string::npos ? '?' : '&';
  target += key;
  target += '=';
  target += urlEncode(value);
}

// Parses a List body; items are copied out as raw JSON text.
ListResult parseList(std::string& body, std::string_view what) {
  ListResult result;
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  od::parser parser;
  od::document doc;
  auto fail = [&](simdjson::error_code e) {
    return Exception(ErrorCode::kBadInput, "{}: list response is not valid JSON: {}", what, simdjson::error_message(e));
  };
  if (auto e = parser.iterate(body.data(), body.size(), body.capacity()).get(doc)) throw fail(e);
  od::object top;
  if (auto e = doc.get_object().get(top)) throw fail(e);
  for (auto field : top) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) throw fail(e);
    if (key == "metadata") {
      od::object meta;
      if (auto e = field.value().get_object().get(meta)) throw fail(e);
      for (auto m : meta) {
        std::string_view mkey;
        if (auto e = m.unescaped_key().get(mkey)) throw fail(e);
        std::string_view s;
        if (mkey == "resourceVersion") {
          if (auto e = m.value().get_string().get(s)) throw fail(e);
          result.resource_version = s;
        } else if (mkey == "continue") {
          if (auto e = m.value().get_string().get(s)) throw fail(e);
          result.continue_token = s;
        } else if (mkey == "remainingItemCount") {
          int64_t n = 0;
          if (!m.value().get_int64().get(n)) result.remaining_item_count = n;
        }
      }
    } else if (key == "items") {
      od::value items_value;
      if (auto e = field.value().get(items_value)) throw fail(e);
      if (items_value.is_null()) continue;  // "items": null for an empty list from some servers
      od::array items;
      if (auto e = items_value.get_array().get(items)) throw fail(e);
      for (auto item : items) {
        od::object obj;
        std::string_view raw;
        if (auto e = item.get_object().get(obj)) throw fail(e);
        if (auto e = obj.raw_json().get(raw)) throw fail(e);
        result.items.emplace_back(raw);
      }
    }
  }
  return result;
}

}  // namespace

std::string_view watchOutcomeName(WatchOutcome outcome) {
  switch (outcome) {
    case WatchOutcome::kClosed: return "closed";
    case WatchOutcome::kExpired: return "expired";
    case WatchOutcome::kStopped: return "stopped";
    case WatchOutcome::kIdleTimeout: return "idle_timeout";
    case WatchOutcome::kFailed: return "failed";
  }
  return "unknown";
}

ApiClient::ApiClient(ClusterConfig config, HttpOptions http_options, DiscoveryOptions discovery_options)
    : http_(std::make_unique<HttpClient>(std::move(config), std::move(http_options))),
      discovery_(std::make_unique<Discovery>(*http_, discovery_options)) {}

ApiClient::~ApiClient() = default;

std::string ApiClient::checked(HttpResponse response, std::string_view what) {
  if (response.status >= 200 && response.status < 300) return std::move(response.body);
  errors_.fetch_add(1, std::memory_order_relaxed);
  throw apiErrorFromResponse(response.status, response.body, what);
}

ListResult ApiClient::list(const ResourceRef& ref, std::string_view ns, const ListOptions& options) {
  std::string target = resourcePath(ref, ns);
  addParam(target, "labelSelector", options.label_selector);
  addParam(target, "fieldSelector", options.field_selector);
  if (options.limit > 0) addParam(target, "limit", std::to_string(options.limit));
  addParam(target, "continue", options.continue_token);
  addParam(target, "resourceVersion", options.resource_version);
  addParam(target, "resourceVersionMatch", options.resource_version_match);
  std::string body;
  try {
    body = checked(http_->request("GET", target), "list " + target);
  } catch (const ApiError& e) {
    if (e.httpStatus() == 0) errors_.fetch_add(1, std::memory_order_relaxed);
    throw;
  }
  return parseList(body, target);
}

std::string ApiClient::listPages(const ResourceRef& ref, std::string_view ns, ListOptions options, int64_t page_size,
                                 const std::function<void(ListResult&)>& on_page) {
  options.limit = page_size;
  std::string rv;
  bool first = true;
  while (true) {
    ListResult page = list(ref, ns, options);
    if (first) rv = page.resource_version;
    first = false;
    std::string next = std::move(page.continue_token);
    on_page(page);
    if (next.empty()) return rv;
    // A continue token pins the snapshot; resourceVersion must not be sent with it.
    options.continue_token = std::move(next);
    options.resource_version.clear();
    options.resource_version_match.clear();
  }
}

ListResult ApiClient::listAll(const ResourceRef& ref, std::string_view ns, ListOptions options, int64_t page_size) {
  ListResult all;
  all.resource_version = listPages(ref, ns, std::move(options), page_size, [&](ListResult& page) {
    all.items.insert(all.items.end(), std::make_move_iterator(page.items.begin()),
                     std::make_move_iterator(page.items.end()));
  });
  return all;
}

WatchResult ApiClient::watch(const ResourceRef& ref, std::string_view ns, const WatchOptions& options,
                             const WatchHandler& handler) {
  std::string target = resourcePath(ref, ns);
  addParam(target, "watch", "1");
  addParam(target, "resourceVersion", options.resource_version);
  addParam(target, "labelSelector", options.label_selector);
  addParam(target, "fieldSelector", options.field_selector);
  if (options.allow_bookmarks) addParam(target, "allowWatchBookmarks", "true");
  if (options.timeout_seconds > 0) addParam(target, "timeoutSeconds", std::to_string(options.timeout_seconds));

  WatchResult result;
  bool expired = false;
  WatchDecoder decoder(
      [&](const WatchEvent& event) {
        if (event.type == WatchEventType::kError) {
          if (event.error_code == 410 || event.error_reason == "Expired" || event.error_reason == "Gone") {
            expired = true;
            result.error = fmt::format("watch {}: {} ({})", target, event.error_message, event.error_reason);
          } else {
            ++result.error_events;
          }
          return;
        }
        if (expired) return;
        if (event.type == WatchEventType::kBookmark) {
          ++result.bookmarks;
        } else {
          ++result.events;
        }
        if (!event.resource_version.empty()) result.last_resource_version = event.resource_version;
        handler(event);
      },
      options.max_line_bytes);

  StreamOptions stream_options;
  stream_options.stop = options.stop;
  stream_options.idle_timeout = options.idle_timeout.count() > 0
                                    ? options.idle_timeout
                                    : std::chrono::seconds(std::max(options.timeout_seconds, 0) + 30);
  StreamResult stream = http_->stream(
      target,
      [&](std::string_view bytes) {
        decoder.feed(bytes);
        return !expired;  // stop reading once the server said the version is gone
      },
      stream_options);
  if (stream.end == StreamEnd::kComplete && stream.status >= 200 && stream.status < 300) decoder.finish();
  result.bad_lines = decoder.badLines();
  result.oversize_lines = decoder.oversizeLines();
  result.http_status = stream.status;

  if (expired) {
    result.outcome = WatchOutcome::kExpired;
  } else if (stream.end == StreamEnd::kStopped) {
    result.outcome = WatchOutcome::kStopped;
  } else if (stream.end == StreamEnd::kIdleTimeout) {
    result.outcome = WatchOutcome::kIdleTimeout;
  } else if (stream.end == StreamEnd::kFailed) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    result.outcome = WatchOutcome::kFailed;
    result.error = fmt::format("watch {}: {}", target, stream.error);
  } else if (stream.status < 200 || stream.status >= 300) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    ApiError e = apiErrorFromResponse(stream.status, stream.error_body, "watch " + target);
    result.outcome = e.isGone() ? WatchOutcome::kExpired : WatchOutcome::kFailed;
    result.error = e.what();
  } else {
    result.outcome = WatchOutcome::kClosed;
  }
  return result;
}

std::optional<std::string> ApiClient::get(const ResourceRef& ref, std::string_view ns, std::string_view name) {
  std::string target = resourcePath(ref, ns, name);
  auto response = http_->request("GET", target);
  if (response.status == 404) return std::nullopt;
  return checked(std::move(response), "get " + target);
}

std::optional<std::string> ApiClient::getObject(std::string_view api_version, std::string_view kind,
                                                std::string_view ns, std::string_view name) {
  auto info = discovery_->resolve(api_version, kind);
  if (!info) return std::nullopt;
  return get(info->ref, info->namespaced ? ns : std::string_view(), name);
}

std::string ApiClient::create(const ResourceRef& ref, std::string_view ns, std::string_view object_json) {
  std::string target = resourcePath(ref, ns);
  return checked(http_->request("POST", target, object_json), "create " + target);
}

std::string ApiClient::update(const ResourceRef& ref, std::string_view ns, std::string_view name,
                              std::string_view object_json) {
  std::string target = resourcePath(ref, ns, name);
  return checked(http_->request("PUT", target, object_json), "update " + target);
}

void ApiClient::remove(const ResourceRef& ref, std::string_view ns, std::string_view name) {
  std::string target = resourcePath(ref, ns, name);
  auto response = http_->request("DELETE", target);
  if (response.status == 404) return;
  checked(std::move(response), "delete " + target);
}

}  // namespace kobs::k8s
