// The Krateo frontend API on the main listener (the old sse-proxy's routes):
//   GET /health                      200 "ok"
//   GET /events                      SSEK8sEvent array, newest first, <= 200
//       ?composition_id=ID&limit=N   one composition; N capped at max_limit
//       ?before=<cursor>             the page after a previous one (its
//                                    X-Kobs-Next-Before response header)
//   GET /events/{compositionId}      same as ?composition_id=
//       one composition's pages come from memory (recent_events.h) when it
//       is active and the page lies in what is held, else from the store;
//       the bytes are the same either way
//   GET /notifications[/...]         SSE (sse_hub.h); Last-Event-ID header or
//                                    ?lastEventId=; repeatable ?topic=
//       ?topic=alerts                the alerts stream alone (serve/alerts/
//                                    alert_stream.h); with other topics 400
//   OPTIONS on those                 CORS preflight, 204
// Every response carries Access-Control-Allow-Origin. A store failure on
// /events answers 500 "internal error\n" as the old proxy did. With an
// Authenticator every route but /health and OPTIONS needs a bearer token.
//
// The routes exist from start; the store-backed parts answer 503 until
// attach() (kobs's listener is up before the store is).
//
// Threading: /events runs on the server's worker pool (blocking store
// query), except a page held in memory, answered on the io thread (a shared
// lock, no I/O); /notifications opens on an io thread and hands off to the SseHub.
// attach() is called once, from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "serve/alerts/alert_stream.h"
#include "serve/auth/authenticator.h"
#include "serve/events/event_feed.h"
#include "serve/events/event_reader.h"
#include "serve/events/recent_events.h"
#include "serve/events/sse_hub.h"
#include "http/router.h"

namespace kobs::serve::events {

struct EventsApiOptions {
  std::string allow_origin = "*";
  size_t default_limit = 200;
  size_t max_limit = 1000;
  RecentOptions recent;  // recent.rows = 0: every page from the store
  SseOptions sse;
  alerts::AlertStreamOptions alerts;
};

class EventsApi {
 public:
  // `auth` may be null (no authentication); it must outlive the API.
  EventsApi(EventsApiOptions options, const auth::Authenticator* auth);
  ~EventsApi();

  void addRoutes(http::Router& router);
  // The store is ready: both must outlive the server's streams (stop the
  // server before destroying them).
  void attach(const EventReader& reader, EventFeed& feed);

  SseHub& hub() { return hub_; }
  // Null until attach(), or when options.recent.rows is 0.
  const RecentEvents* recent() const { return recent_.get(); }
  // Shared: the alert evaluator publishes to it (kobs all) and may outlive the API.
  const std::shared_ptr<alerts::AlertStream>& alertStream() const { return alerts_; }

 private:
  // kMemory runs on the io thread (the route's inline_first): a page held in
  // memory, or an answer that needs no store (bad request, not ready);
  // nullopt sends the request on to kStore, on the worker pool.
  enum class PageSource { kMemory, kStore };
  std::optional<http::Response> listEvents(const http::Request& request, std::optional<std::string> composition,
                                           PageSource source);
  http::Response notifications(const http::Request& request);
  http::Response alertNotifications(size_t topics, std::optional<std::string_view> last);
  http::Response preflight(const http::Request& request) const;
  http::Response withCors(http::Response r) const;
  // The handler behind authentication (when configured).
  http::Handler guarded(http::Handler handler) const;
  http::InlineHandler guardedInline(http::InlineHandler handler) const;

  const EventsApiOptions options_;
  const auth::Authenticator* auth_;
  std::atomic<const EventReader*> reader_{nullptr};
  std::atomic<EventFeed*> feed_{nullptr};
  SseHub hub_;
  std::unique_ptr<RecentEvents> recent_;  // set once, in attach(), before reader_
  std::shared_ptr<alerts::AlertStream> alerts_;
};

}  // namespace kobs::serve::events
