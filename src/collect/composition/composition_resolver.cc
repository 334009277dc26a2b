#include "collect/composition/composition_resolver.h"

#include <vector>

#include <simdjson.h>

#include "common/logging.h"
#include "k8s/api_client.h"

namespace kobs::collect::composition {
namespace {

std::string groupOf(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string() : std::string(api_version.substr(0, slash));
}

struct ObjectInfo {
  std::string label;  // the composition-id label value
  std::string uid;
  std::vector<ObjectRef> owners;
};

ObjectInfo parseObject(const std::string& json, const std::string& label_key, const std::string& ns) {
  ObjectInfo info;
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  if (parser.parse(json).get(root) != simdjson::SUCCESS) return info;
  simdjson::dom::object meta;
  if (root["metadata"].get(meta) != simdjson::SUCCESS) return info;
  std::string_view s;
  if (meta["uid"].get(s) == simdjson::SUCCESS) info.uid = s;
  simdjson::dom::object labels;
  if (meta["labels"].get(labels) == simdjson::SUCCESS && labels[label_key].get(s) == simdjson::SUCCESS) info.label = s;
  simdjson::dom::array owners;
  if (meta["ownerReferences"].get(owners) == simdjson::SUCCESS) {
    for (auto o : owners) {
      ObjectRef ref;
      ref.ns = ns;  // owners live in the dependent's namespace (or are cluster-scoped)
      if (o["apiVersion"].get(s) == simdjson::SUCCESS) ref.api_version = s;
      if (o["kind"].get(s) == simdjson::SUCCESS) ref.kind = s;
      if (o["name"].get(s) == simdjson::SUCCESS) ref.name = s;
      if (o["uid"].get(s) == simdjson::SUCCESS) ref.uid = s;
      if (!ref.kind.empty() && !ref.name.empty() && !ref.uid.empty()) info.owners.push_back(std::move(ref));
    }
  }
  return info;
}

}  // namespace

ObjectFetcher apiFetcher(k8s::ApiClient& api) {
  return [&api](const ObjectRef& ref) { return api.getObject(ref.api_version, ref.kind, ref.ns, ref.name); };
}

CompositionResolver::CompositionResolver(ObjectFetcher fetch, ResolverOptions options)
    : fetch_(std::move(fetch)),
      options_(std::move(options)),
      cache_(options_.cache_size),
      budget_(options_.api_calls_per_second, options_.api_burst,
              options_.clock ? options_.clock() : std::chrono::steady_clock::now()) {}

std::chrono::steady_clock::time_point CompositionResolver::now() const {
  return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
}

std::string CompositionResolver::resolve(const ObjectRef& object) {
  if (object.kind.empty() || object.name.empty() || object.uid.empty()) {
    ++stats_.unresolved;
    return {};
  }
  std::string id;
  lookup(object, 0, id);
  ++(id.empty() ? stats_.unresolved : stats_.resolved);
  return id;
}

CompositionResolver::Outcome CompositionResolver::lookup(const ObjectRef& object, int depth, std::string& id) {
  {
    std::lock_guard lock(mutex_);
    if (auto hit = cache_.get(object.uid, now())) {
      ++stats_.cache_hits;
      id = *hit;
      return id.empty() ? Outcome::kNone : Outcome::kFound;
    }
    ++stats_.cache_misses;
    if (!budget_.tryTake(now())) {
      ++stats_.budget_exhausted;
      return Outcome::kSkipped;
    }
  }
  auto remember = [&](const std::string& value) {
    std::lock_guard lock(mutex_);
    cache_.put(object.uid, value, now() + (value.empty() ? options_.ttl_not_found : options_.ttl_found));
  };

  ++stats_.api_calls;
  std::optional<std::string> json;
  try {
    json = fetch_(object);
  } catch (const std::exception& e) {
    // Cached as "no id" for the short TTL: an API server in trouble is not
    // asked again for this object on every event.
    ++stats_.api_errors;
    logging::get("k8s.composition")->debug("lookup of {} {}/{} failed: {}", object.kind, object.ns, object.name, e.what());
    remember("");
    return Outcome::kNone;
  }
  if (!json) {
    ++stats_.not_found;
    remember("");
    return Outcome::kNone;
  }
  auto info = parseObject(*json, options_.label_key, object.ns);
  if (!info.label.empty()) {
    id = info.label;
  } else if (groupOf(object.api_version) == options_.composition_group) {
    id = info.uid.empty() ? object.uid : info.uid;
  }
  if (!id.empty()) {
    remember(id);
    return Outcome::kFound;
  }
  bool skipped = false;
  if (depth < options_.max_owner_depth) {
    for (const auto& owner : info.owners) {
      std::string owner_id;
      auto outcome = lookup(owner, depth + 1, owner_id);
      if (outcome == Outcome::kFound) {
        id = owner_id;
        remember(id);
        return Outcome::kFound;
      }
      skipped = skipped || outcome == Outcome::kSkipped;
    }
  }
  if (skipped) return Outcome::kSkipped;  // an owner was not looked at: do not cache "none"
  remember("");
  return Outcome::kNone;
}

size_t CompositionResolver::cacheSize() const {
  std::lock_guard lock(mutex_);
  return cache_.size();
}

uint64_t CompositionResolver::cacheEvictions() const {
  std::lock_guard lock(mutex_);
  return cache_.evictions();
}

double CompositionResolver::hitRatio() const {
  double hits = double(stats_.cache_hits.load()), misses = double(stats_.cache_misses.load());
  return hits + misses == 0 ? 0.0 : hits / (hits + misses);
}

}  // namespace kobs::collect::composition
