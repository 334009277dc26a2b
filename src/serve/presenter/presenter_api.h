// The events-presenter API (the current Krateo frontend) on its own listener
// (its paths and `krateo` event name collide with the old API's):
//   GET|POST /events     {"cursor":"...","resources":[item...]} (presenter_item.h)
//       cluster, namespace, kind (exact), name (ILIKE), labels (JSON object),
//       since (RFC3339), limit (default 50; <=0 -> default; capped at
//       max_limit), cursor; as query parameters, or a JSON body for POST
//       (unknown fields or an empty body: 400). The cursor is empty on the
//       last page. 400 "invalid params: ..." / "invalid cursor: ...".
//   GET /notifications   SSE (notification_hub.h); ?composition_id=,
//       ?lastEventId= or Last-Event-ID to resume. Exact path.
//   OPTIONS on both      CORS preflight, 200, answered before auth.
//   GET /livez /readyz /health   open; readyz 503 until the store is attached.
// CORS on every response (401 and streams too): the request's Origin echoed
// (or *), methods GET, POST, OPTIONS, the frontend's headers, Link exposed,
// Max-Age 300, no credentials.
// Auth (when configured): Bearer header or the krateo-session cookie (never a
// query token here); 401/503 as Kubernetes Status JSON.
//
// Threading: /events and /notifications run on the server's worker pool
// (store queries; a JWKS fetch may block); attach() once, from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "serve/auth/authenticator.h"
#include "serve/events/event_feed.h"
#include "serve/http/router.h"
#include "serve/presenter/notification_hub.h"
#include "serve/presenter/presenter_reader.h"

namespace kobs::serve::presenter {

struct PresenterApiOptions {
  size_t default_limit = 50;
  size_t max_limit = 500;
  NotificationOptions sse;
};

class PresenterApi {
 public:
  // `auth` may be null (no authentication); it must outlive the API.
  PresenterApi(PresenterApiOptions options, const auth::Authenticator* auth);
  ~PresenterApi();

  void addRoutes(http::Router& router);
  // The store is ready; both must outlive the server's streams.
  void attach(const PresenterReader& reader, events::EventFeed& feed);

  NotificationHub& hub() { return hub_; }

  // The list query of a request (exposed for tests); throws
  // kobs::Exception(kBadInput) with the 400 message.
  ListQuery parseListQuery(const http::Request& request) const;

 private:
  http::Response listEvents(const http::Request& request);
  http::Response notifications(const http::Request& request);
  http::Response guarded(const http::Request& request, http::Response (PresenterApi::*handler)(const http::Request&));

  const PresenterApiOptions options_;
  const auth::Authenticator* auth_;
  std::atomic<const PresenterReader*> reader_{nullptr};
  NotificationHub hub_;
};

}  // namespace kobs::serve::presenter
