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
// Access checks (optional, PresenterAccess; they need a user, so only a JWT
// with a username passes them: a static token, or no auth at all, is refused
// 401 by the clientconfig check and 403 by namespace scoping, because there
// is no one whose access could be checked):
//   - clientconfig: the user's `<dns1123(username)>-clientconfig` Secret must
//     exist in the configured namespace (authn's AUTHN_NS), else 401, as
//     events-presenter does;
//   - namespace scoping: /events lists, and /notifications streams, only the
//     namespaces where the user (and their groups) may `list` `events`, as a
//     SubjectAccessReview answers (auth/access_review.h); the candidates are
//     the namespaces with stored events (event_namespaces.h); a ?namespace=
//     filter is reviewed alone.
//   Both fail closed: when the Kubernetes API cannot answer, 503 Status JSON
//   (reason ServiceUnavailable, Retry-After), for a list and for a stream at
//   connect; a stream whose scope cannot be refreshed later is closed.
//
// Threading: /events and /notifications run on the server's worker pool
// (store queries; a JWKS fetch may block); attach() once, from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "serve/auth/access_review.h"
#include "serve/auth/authenticator.h"
#include "serve/auth/clientconfig_check.h"
#include "serve/events/event_feed.h"
#include "http/router.h"
#include "serve/presenter/event_namespaces.h"
#include "serve/presenter/notification_hub.h"
#include "serve/presenter/presenter_reader.h"

namespace kobs::serve::presenter {

struct PresenterApiOptions {
  size_t default_limit = 50;
  size_t max_limit = 500;
  NotificationOptions sse;
};

// The optional access checks; each must outlive the API. Null: off.
struct PresenterAccess {
  auth::ClientConfigCheck* clientconfig = nullptr;
  auth::NamespaceAuthorizer* authorizer = nullptr;  // needs `namespaces`
  EventNamespaces* namespaces = nullptr;
};

class PresenterApi {
 public:
  // `auth` may be null (no authentication); it must outlive the API.
  PresenterApi(PresenterApiOptions options, const auth::Authenticator* auth, PresenterAccess access = {});
  ~PresenterApi();

  void addRoutes(http::Router& router);
  // The store is ready; both must outlive the server's streams.
  void attach(const PresenterReader& reader, events::EventFeed& feed);

  NotificationHub& hub() { return hub_; }

  // The list query of a request (exposed for tests); throws
  // kobs::Exception(kBadInput) with the 400 message.
  ListQuery parseListQuery(const http::Request& request) const;

 private:
  using Handler = http::Response (PresenterApi::*)(const http::Request&, const auth::Identity&);
  http::Response listEvents(const http::Request& request, const auth::Identity& who);
  http::Response notifications(const http::Request& request, const auth::Identity& who);
  http::Response guarded(const http::Request& request, Handler handler);
  // The clientconfig check's refusal, if any (throws kApiUnavailable).
  std::optional<http::Response> checkAccess(const auth::AuthResult& verdict) const;

  const PresenterApiOptions options_;
  const auth::Authenticator* auth_;
  const PresenterAccess access_;
  std::atomic<const PresenterReader*> reader_{nullptr};
  NotificationHub hub_;
};

}  // namespace kobs::serve::presenter
