#include "serve/presenter/presenter_api.h"

#include <charconv>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/rfc3339.h"
#include "common/logging.h"

namespace kobs::serve::presenter {
namespace {

constexpr const char* kAllowHeaders =
    "Accept, Authorization, Content-Type, X-Auth-Code, X-Krateo-TraceId, Last-Event-ID, Cache-Control";

http::Response withCors(const http::Request& request, http::Response r) {
  const auto origin = request.header("Origin");
  r.headers.set("Access-Control-Allow-Origin", origin && !origin->empty() ? *origin : std::string_view("*"));
  r.headers.set("Vary", "Origin");
  r.headers.set("Access-Control-Expose-Headers", "Link");
  return r;
}

http::Response preflight(const http::Request& request) {
  auto r = withCors(request, http::Response::text(200, ""));
  r.headers.set("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  r.headers.set("Access-Control-Allow-Headers", kAllowHeaders);
  r.headers.set("Access-Control-Max-Age", "300");
  return r;
}

// A Kubernetes Status object, as the authenticator's refusals.
http::Response kubeStatus(int code, std::string_view reason, const std::string& message) {
  nlohmann::json body = {{"kind", "Status"},       {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                         {"status", "Failure"},    {"message", message}, {"reason", reason},
                         {"code", code}};
  auto r = http::Response::json(code, body.dump() + "\n");
  if (code == 401) r.headers.set("WWW-Authenticate", "Bearer");
  if (code == 503) r.headers.set("Retry-After", "10");
  return r;
}

// The user's access as a stream scope: verdicts from the authorizer's cache,
// resolutions through it (SubjectAccessReviews, on the hub's pool).
class IdentityScope : public StreamScope {
 public:
  IdentityScope(auth::NamespaceAuthorizer& authorizer, auth::Identity who)
      : authorizer_(authorizer), who_(std::move(who)) {}
  std::optional<bool> verdict(const std::string& ns) const override { return authorizer_.cachedAllows(who_, ns); }
  std::map<std::string, bool> resolve(const std::vector<std::string>& namespaces) override {
    return authorizer_.decide(who_, namespaces);
  }

 private:
  auth::NamespaceAuthorizer& authorizer_;
  const auth::Identity who_;
};

[[noreturn]] void badParams(const std::string& why) { throw Exception(ErrorCode::kBadInput, "invalid params: {}", why); }

int64_t parseLimit(const nlohmann::json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    int64_t n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || p != s.data() + s.size()) badParams("limit is not an integer");
    return n;
  }
  badParams("limit is not an integer");
}

std::map<std::string, std::string> parseLabels(const nlohmann::json& v) {
  nlohmann::json obj = v;
  if (v.is_string()) {
    if (v.get<std::string>().empty()) return {};
    try {
      obj = nlohmann::json::parse(v.get<std::string>());
    } catch (const std::exception&) {
      badParams("labels is not a JSON object");
    }
  }
  if (!obj.is_object()) badParams("labels is not a JSON object");
  std::map<std::string, std::string> out;
  for (const auto& [k, val] : obj.items()) {
    if (!val.is_string()) badParams("label " + k + " is not a string");
    out[k] = val.get<std::string>();
  }
  return out;
}

}  // namespace

PresenterApi::PresenterApi(PresenterApiOptions options, const auth::Authenticator* auth, PresenterAccess access)
    : options_(options), auth_(auth), access_(access), hub_(options.sse) {
  if (access_.authorizer && !access_.namespaces)
    throw Exception(ErrorCode::kBadArguments, "presenter: namespace scoping needs the event namespaces");
}

PresenterApi::~PresenterApi() { hub_.stop(); }

void PresenterApi::attach(const PresenterReader& reader, events::EventFeed& feed) {
  hub_.attach(reader, feed);
  reader_.store(&reader);
}

void PresenterApi::addRoutes(http::Router& router) {
  auto ok = [](const http::Request&) { return http::Response::text(200, "ok\n"); };
  router.get("/livez", ok);
  router.get("/health", ok);
  router.get("/readyz", [this](const http::Request&) {
    return reader_.load() ? http::Response::text(200, "ready\n") : http::Response::text(503, "store not ready\n");
  });
  const http::RouteOptions blocking{.blocking = true};
  auto list = [this](const http::Request& r) { return guarded(r, &PresenterApi::listEvents); };
  router.get("/events", list, blocking);
  router.post("/events", list, blocking);
  router.add("OPTIONS", "/events", preflight);
  router.get("/notifications", [this](const http::Request& r) { return guarded(r, &PresenterApi::notifications); },
             blocking);
  router.add("OPTIONS", "/notifications", preflight);
}

http::Response PresenterApi::guarded(const http::Request& request, Handler handler) {
  auth::AuthResult verdict;
  if (auth_) {
    verdict = auth_->authenticate(request, auth::TokenSources{.bearer = true, .cookie = true, .query = false});
    if (!verdict.ok()) return withCors(request, auth::Authenticator::statusResponse(verdict));
  }
  try {
    if (auto refused = checkAccess(verdict)) return withCors(request, std::move(*refused));
    return withCors(request, (this->*handler)(request, verdict.identity));
  } catch (const Exception& e) {
    if (e.code() == ErrorCode::kBadInput) return withCors(request, http::Response::text(400, std::string(e.what()) + "\n"));
    // Fail closed: the access checks could not be made.
    if (e.code() == ErrorCode::kApiUnavailable) return withCors(request, kubeStatus(503, "ServiceUnavailable", e.what()));
    logging::get("presenter")->error("{} {}: {}", request.method, request.path, e.what());  // path only: no tokens
    return withCors(request, http::Response::text(500, "internal error\n"));
  }
}

std::optional<http::Response> PresenterApi::checkAccess(const auth::AuthResult& verdict) const {
  if (!access_.clientconfig && !access_.authorizer) return std::nullopt;
  // A static token (or no authentication) names no user: nothing to check
  // access for, so the checks refuse it rather than let it through unscoped.
  if (verdict.identity.username.empty()) {
    if (access_.clientconfig)
      return kubeStatus(401, "Unauthorized", "the token names no user whose client configuration could be checked");
    return kubeStatus(403, "Forbidden", "the token names no user whose namespace access could be reviewed");
  }
  if (access_.clientconfig && !access_.clientconfig->exists(verdict.identity.username))
    return kubeStatus(401, "Unauthorized",
                      fmt::format("secrets \"{}\" not found", auth::ClientConfigCheck::secretName(verdict.identity.username)));
  return std::nullopt;
}

ListQuery PresenterApi::parseListQuery(const http::Request& request) const {
  nlohmann::json params = nlohmann::json::object();
  if (request.method == "POST") {
    if (request.body.empty()) badParams("empty body");
    try {
      params = nlohmann::json::parse(request.body);
    } catch (const std::exception&) {
      badParams("body is not JSON");
    }
    if (!params.is_object()) badParams("body is not a JSON object");
    static const std::set<std::string> kKnown = {"cluster", "namespace", "kind", "name", "labels", "since", "limit",
                                                 "cursor"};
    for (const auto& [k, v] : params.items())
      if (!kKnown.count(k)) badParams("unknown field " + k);
  } else {
    for (const auto& [k, v] : request.query)
      if (!params.contains(k)) params[k] = v;
  }
  ListQuery q;
  q.limit = options_.default_limit;
  auto str = [&](const char* key) -> std::optional<std::string> {
    if (!params.contains(key) || params[key].is_null()) return std::nullopt;
    if (!params[key].is_string()) badParams(std::string(key) + " is not a string");
    auto s = params[key].get<std::string>();
    if (s.empty()) return std::nullopt;
    return s;
  };
  q.cluster = str("cluster");
  q.ns = str("namespace");
  q.kind = str("kind");
  q.name = str("name");
  if (params.contains("labels") && !params["labels"].is_null()) q.labels = parseLabels(params["labels"]);
  if (auto since = str("since")) {
    q.since_ns = rfc3339::parseNanos(*since);
    if (!q.since_ns) badParams("since is not RFC3339");
  }
  if (params.contains("limit") && !params["limit"].is_null()) {
    const int64_t n = parseLimit(params["limit"]);
    q.limit = n <= 0 ? options_.default_limit : std::min<size_t>(size_t(n), options_.max_limit);
  }
  if (auto c = str("cursor")) {
    q.after = PageCursor::decode(*c);
    if (!q.after) throw Exception(ErrorCode::kBadInput, "invalid cursor: cannot decode");
  }
  return q;
}

http::Response PresenterApi::listEvents(const http::Request& request, const auth::Identity& who) {
  ListQuery q = parseListQuery(request);
  const PresenterReader* reader = reader_.load();
  if (!reader) return http::Response::text(503, "store not ready\n");
  if (access_.authorizer) {
    // A namespace filter narrows the question to that one namespace.
    const std::vector<std::string> candidates = q.ns ? std::vector<std::string>{*q.ns} : access_.namespaces->get();
    q.allowed_namespaces = access_.authorizer->allowedAmong(who, candidates);
  }
  const ListPage page = reader->list(q);
  std::string body = "{\"cursor\":\"";
  if (page.next) body += page.next->encode();
  body += "\",\"resources\":[";
  for (size_t i = 0; i < page.items.size(); ++i) {
    if (i) body += ',';
    body += itemJson(page.items[i], true);
  }
  body += "]}\n";
  return http::Response::json(200, std::move(body));
}

http::Response PresenterApi::notifications(const http::Request& request, const auth::Identity& who) {
  if (!reader_.load() || !hub_.attached()) return http::Response::text(503, "store not ready\n");
  std::shared_ptr<StreamScope> scope;
  if (access_.authorizer) {
    // Reviewed now, so a stream that cannot be scoped is refused (503) rather
    // than opened; the answers are cached for the live items that follow.
    access_.authorizer->decide(who, access_.namespaces->get());
    scope = std::make_shared<IdentityScope>(*access_.authorizer, who);
  }
  std::optional<std::string> composition;
  if (auto c = request.queryParam("composition_id"); c && !c->empty()) composition = std::string(*c);
  // The polyfill sends ?lastEventId=; a malformed id starts live (a non-200
  // would make the polyfill give up for good).
  std::optional<events::EventCursor> resume;
  std::optional<std::string_view> id = request.queryParam("lastEventId");
  if (!id || id->empty()) id = request.header("Last-Event-ID");
  if (id && !id->empty()) {
    if (auto p = events::ResumePoint::parse(*id)) resume = p->cursor;
  }
  auto r = http::Response::stream(
      "text/event-stream",
      [this, composition, resume, scope](std::shared_ptr<http::StreamWriter> w) {
        hub_.open(std::move(w), composition, resume, scope);
      },
      hub_.preamble());
  r.headers.set("Cache-Control", "no-cache");
  r.headers.set("Connection", "keep-alive");
  r.headers.set("X-Accel-Buffering", "no");
  return r;
}

}  // namespace kobs::serve::presenter
