#include "serve/events/events_api.h"

#include <algorithm>
#include <charconv>

#include "common/logging.h"

namespace kobs::serve::events {

EventsApi::EventsApi(EventsApiOptions options, const auth::Authenticator* auth)
    : options_(std::move(options)),
      auth_(auth),
      hub_(options_.sse),
      alerts_(std::make_shared<alerts::AlertStream>(options_.alerts)) {}

EventsApi::~EventsApi() {
  if (recent_) recent_->stop();
  hub_.stop();
  alerts_->stop();
}

void EventsApi::attach(const EventReader& reader, EventFeed& feed) {
  hub_.attach(reader, feed);
  if (options_.recent.rows > 0) {
    recent_ = std::make_unique<RecentEvents>(reader, feed, options_.recent);
    recent_->start();
  }
  feed_ = &feed;
  reader_ = &reader;
}

http::Response EventsApi::withCors(http::Response r) const {
  r.headers.set("Access-Control-Allow-Origin", options_.allow_origin);
  return r;
}

http::Response EventsApi::preflight(const http::Request& request) const {
  http::Response r;
  r.status = 204;
  r.headers.set("Access-Control-Allow-Origin", options_.allow_origin);
  r.headers.set("Access-Control-Allow-Methods", "GET, OPTIONS");
  const auto asked = request.header("Access-Control-Request-Headers");
  r.headers.set("Access-Control-Allow-Headers",
                asked ? std::string(*asked) : std::string("Authorization, Last-Event-ID, Cache-Control, Content-Type"));
  r.headers.set("Access-Control-Max-Age", "86400");
  if (options_.allow_origin != "*") r.headers.set("Vary", "Origin");
  return r;
}

http::Handler EventsApi::guarded(http::Handler handler) const {
  if (!auth_) return handler;
  return [this, handler = std::move(handler)](const http::Request& request) {
    if (auto verdict = auth_->authenticate(request, auth::TokenSources{}); !verdict.ok())
      return withCors(auth::Authenticator::refusal(verdict));
    return handler(request);
  };
}

http::InlineHandler EventsApi::guardedInline(http::InlineHandler handler) const {
  if (!auth_) return handler;
  return [this, handler = std::move(handler)](const http::Request& request) -> std::optional<http::Response> {
    if (auto verdict = auth_->authenticate(request, auth::TokenSources{}); !verdict.ok())
      return withCors(auth::Authenticator::refusal(verdict));
    return handler(request);
  };
}

void EventsApi::addRoutes(http::Router& router) {
  router.get("/health", [](const http::Request&) { return http::Response::text(200, "ok"); });
  // A page held in memory is answered on the io thread; the rest from the pool.
  auto pathComposition = [](const http::Request& r) {
    return r.path_rest.empty() ? std::nullopt : std::optional<std::string>(r.path_rest);
  };
  auto list = [this](auto composition_of, PageSource source) {
    return [this, composition_of, source](const http::Request& r) { return listEvents(r, composition_of(r), source); };
  };
  auto none = [](const http::Request&) { return std::optional<std::string>(); };
  auto store = [](auto f) { return [f](const http::Request& r) { return *f(r); }; };  // kStore always answers
  router.get("/events", guarded(store(list(none, PageSource::kStore))),
             {.blocking = true, .inline_first = guardedInline(http::InlineHandler(list(none, PageSource::kMemory)))});
  router.addPrefix("GET", "/events/", guarded(store(list(pathComposition, PageSource::kStore))),
                   {.blocking = true, .inline_first = guardedInline(http::InlineHandler(list(pathComposition, PageSource::kMemory)))});
  router.get("/notifications", guarded([this](const http::Request& r) { return notifications(r); }));
  router.addPrefix("GET", "/notifications/", guarded([this](const http::Request& r) { return notifications(r); }));
  auto pre = [this](const http::Request& r) { return preflight(r); };
  router.add("OPTIONS", "/events", pre);
  router.addPrefix("OPTIONS", "/events/", pre);
  router.add("OPTIONS", "/notifications", pre);
  router.addPrefix("OPTIONS", "/notifications/", pre);
}

std::optional<http::Response> EventsApi::listEvents(const http::Request& request,
                                                    std::optional<std::string> composition, PageSource source) {
  auto bad = [this](std::string why) {
    return withCors(http::Response::json(400, "{\"error\":\"bad_request\",\"message\":\"" + why + "\"}\n"));
  };
  if (!composition) {
    if (auto c = request.queryParam("composition_id"); c && !c->empty()) composition = std::string(*c);
  }
  size_t limit = options_.default_limit;
  if (auto l = request.queryParam("limit"); l && !l->empty()) {
    auto r = std::from_chars(l->data(), l->data() + l->size(), limit);
    if (r.ec != std::errc() || r.ptr != l->data() + l->size() || limit == 0) return bad("limit must be a positive integer");
    limit = std::min(limit, options_.max_limit);
  }
  std::optional<EventCursor> before;
  if (auto b = request.queryParam("before"); b && !b->empty()) {
    auto p = ResumePoint::parse(*b);
    if (!p) return bad("before must be an event cursor");
    before = p->cursor;
  }
  const EventReader* reader = reader_.load();
  if (!reader) return withCors(http::Response::text(503, "store not ready\n"));
  // One composition's page from memory when it can be (the same bytes).
  std::string body = "[";
  size_t count = 0;
  std::optional<EventCursor> last;
  auto add = [&](const std::string& json, const EventCursor& cursor) {
    if (count++) body.push_back(',');
    body += json;
    last = cursor;
  };
  std::optional<std::vector<std::shared_ptr<const FeedEvent>>> held;
  if (source == PageSource::kMemory) {
    if (composition && recent_) held = recent_->page(*composition, limit, before);
    if (!held) return std::nullopt;  // to the store, on the worker pool
  }
  if (held) {
    for (const auto& e : *held) add(e->json, e->row.cursor);
  } else {
    std::vector<StoredEvent> rows;
    try {
      rows = reader->newest(composition, limit, before);
    } catch (const std::exception& e) {
      logging::get("events.api")->warn("GET {}: store query failed: {}", request.target, e.what());
      return withCors(http::Response::text(500, "internal error\n"));
    }
    for (const auto& r : rows) add(sseK8sEventJson(r), r.cursor);
  }
  body += "]\n";
  auto response = withCors(http::Response::json(200, std::move(body)));
  if (count == limit && last) response.headers.set("X-Kobs-Next-Before", last->str());
  return response;
}

http::Response EventsApi::notifications(const http::Request& request) {
  // The alerts topic does not need the events feed.
  size_t topics = 0;
  bool alerts = false;
  for (const auto& [k, v] : request.query)
    if (k == "topic" && !v.empty()) {
      ++topics;
      alerts = alerts || v == alerts::kAlertsTopic;
    }
  if (alerts) {
    std::optional<std::string_view> last = request.header("Last-Event-ID");
    if (!last || last->empty()) last = request.queryParam("lastEventId");
    return alertNotifications(topics, last);
  }
  const EventReader* reader = reader_.load();
  EventFeed* feed = feed_.load();
  if (!reader || !feed) {
    // A browser's EventSource gives up for good on any status but 200, so a
    // reconnect that lands while the store is still attaching (kobs restarting)
    // gets an empty 200 stream with a retry hint: it ends, and the browser
    // comes back with the same Last-Event-ID a second later.
    auto r = withCors(http::Response::text(200, ": store not ready\nretry: 1000\n\n"));
    r.headers.set("Content-Type", "text/event-stream");
    r.headers.set("Cache-Control", "no-cache");
    return r;
  }
  StreamParams params;
  for (const auto& [k, v] : request.query)
    if (k == "topic" && !v.empty()) params.topics.push_back(v);
  std::optional<std::string_view> last = request.header("Last-Event-ID");
  if (!last || last->empty()) last = request.queryParam("lastEventId");
  if (last && !last->empty()) {
    params.resume = ResumePoint::parse(*last);
    // An id from something else (the old eventsse's "88888888") starts live.
    if (!params.resume) logging::get("events.sse")->debug("ignoring unknown Last-Event-ID '{}'", *last);
  }
  auto response = http::Response::stream(
      "text/event-stream",
      [this, params = std::move(params)](std::shared_ptr<http::StreamWriter> writer) mutable {
        hub_.open(std::move(writer), std::move(params));
      },
      hub_.preamble());
  response.headers.set("Cache-Control", "no-cache");
  response.headers.set("Connection", "keep-alive");
  response.headers.set("Access-Control-Allow-Origin", options_.allow_origin);
  response.headers.set("X-Accel-Buffering", "no");
  return response;
}

// The alerts topic is a stream of its own: its ids are not event cursors, so
// one stream cannot resume both.
http::Response EventsApi::alertNotifications(size_t topics, std::optional<std::string_view> last) {
  if (topics > 1)
    return withCors(http::Response::text(400, "topic=alerts is a stream of its own: open another for the other topics\n"));
  std::optional<std::string> last_id;
  if (last && !last->empty()) last_id = std::string(*last);
  auto response = http::Response::stream(
      "text/event-stream",
      [stream = alerts_, last_id](std::shared_ptr<http::StreamWriter> writer) { stream->open(std::move(writer), last_id); },
      alerts_->preamble());
  response.headers.set("Cache-Control", "no-cache");
  response.headers.set("Connection", "keep-alive");
  response.headers.set("Access-Control-Allow-Origin", options_.allow_origin);
  response.headers.set("X-Accel-Buffering", "no");
  return response;
}

}  // namespace kobs::serve::events
