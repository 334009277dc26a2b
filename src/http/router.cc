#include "http/router.h"

#include <algorithm>

#include "common/error.h"

namespace kobs::http {

void Router::add(std::string_view method, std::string path, Handler handler, RouteOptions options) {
  if (!handler) throw Exception(ErrorCode::kBadArguments, "route {} needs a handler", path);
  insert(method, std::move(path), false, std::move(handler), {}, options);
}

void Router::addDeferred(std::string_view method, std::string path, DeferredHandler handler, RouteOptions options) {
  if (!handler) throw Exception(ErrorCode::kBadArguments, "route {} needs a handler", path);
  insert(method, std::move(path), false, {}, std::move(handler), options);
}

void Router::addPrefix(std::string_view method, std::string prefix, Handler handler, RouteOptions options) {
  if (!handler) throw Exception(ErrorCode::kBadArguments, "route {} needs a handler", prefix);
  insert(method, std::move(prefix), true, std::move(handler), {}, options);
}

void Router::insert(std::string_view method, std::string path, bool prefix, Handler handler,
                    DeferredHandler deferred, RouteOptions options) {
  if (path.empty() || path.front() != '/')
    throw Exception(ErrorCode::kBadArguments, "route path '{}' must start with '/'", path);
  if (method.empty()) throw Exception(ErrorCode::kBadArguments, "route {} needs a method and a handler", path);
  for (const auto& r : routes_)
    if (r.method == method && r.path == path && r.prefix == prefix)
      throw Exception(ErrorCode::kBadArguments, "route {} {} registered twice", method, path);
  routes_.push_back(
      Route{std::string(method), std::move(path), prefix, std::move(handler), std::move(deferred), options});
}

Router::Match Router::resolve(std::string_view method, std::string_view path) const {
  // The most specific path first: exact, then the longest prefix. Only routes
  // on that one path compete on the method, so a 405 names its real Allow set.
  const Route* best = nullptr;
  for (const auto& r : routes_) {
    bool hit = r.prefix ? path.starts_with(r.path) : path == r.path;
    if (!hit) continue;
    if (!best || (best->prefix && !r.prefix) || (best->prefix && r.prefix && r.path.size() > best->path.size()))
      best = &r;
  }
  Match m;
  if (!best) {
    m.status = 404;
    return m;
  }
  std::vector<std::string> allowed;
  const Route* chosen = nullptr;
  const Route* get_route = nullptr;
  for (const auto& r : routes_) {
    if (r.prefix != best->prefix || r.path != best->path) continue;
    allowed.push_back(r.method);
    if (r.method == method) chosen = &r;
    if (r.method == "GET") get_route = &r;
  }
  if (!chosen && method == "HEAD") chosen = get_route;
  if (!chosen) {
    if (get_route && std::find(allowed.begin(), allowed.end(), "HEAD") == allowed.end()) allowed.push_back("HEAD");
    m.status = 405;
    for (const auto& a : allowed) m.allow += (m.allow.empty() ? "" : ", ") + a;
    return m;
  }
  if (chosen->deferred) m.deferred = &chosen->deferred;
  else m.handler = &chosen->handler;
  m.options = chosen->options;
  if (chosen->prefix) m.path_rest = std::string(path.substr(chosen->path.size()));
  return m;
}

}  // namespace kobs::http
