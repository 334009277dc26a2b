// FakeKubeApiServer: a stand-in for the real kube-apiserver, for what the
// real one (support/real_apiserver.h) cannot be made to do on demand:
// malformed or truncated watch lines, ERROR events mid-stream, failing
// reviews, counting the requests it gets. Each test that uses it says why,
// in one line. It serves, on 127.0.0.1 over HTTP or TLS
// (a self-signed certificate made at start), the subset of the documented
// Kubernetes API behaviour that kobs relies on:
//   - an in-memory store per resource with one cluster-wide, monotonically
//     increasing resourceVersion (as etcd's revision);
//   - list with limit/continue (pages of one consistent snapshot, an opaque
//     continue token, remainingItemCount, metadata.resourceVersion) and
//     equality labelSelectors; a continue token older than the compaction
//     point answers 410 Expired;
//   - watch (newline-delimited JSON over chunked HTTP) with ADDED, MODIFIED,
//     DELETED, BOOKMARK (allowWatchBookmarks: periodically and on demand),
//     ERROR; resourceVersion "" or "0" starts with synthetic ADDEDs of the
//     current objects, a version replays the changes after it, a version
//     older than the compaction point gets the ERROR event the real server
//     sends over an open watch: Status{code 410, reason Expired,
//     "too old resource version: X (Y)"}; timeoutSeconds ends the watch;
//   - discovery: /api, /api/v1, /apis, /apis/<group>/<version>;
//   - GET/POST/PUT/DELETE of one object, PUT with a stale
//     metadata.resourceVersion answers 409 Conflict (optimistic concurrency,
//     used by Lease-based leader election), POST of an existing name 409
//     AlreadyExists;
//   - a bearer-token check answering 401 with a Status object;
//   - SubjectAccessReview (POST /apis/authorization.k8s.io/v1/
//     subjectaccessreviews): answered 201 with status.allowed from
//     test-configured grants standing in for RBAC bindings (a grant in one
//     namespace is a RoleBinding, in namespace "" a ClusterRoleBinding, which
//     also answers a namespace-"" review); a spec without user and groups, or
//     without resourceAttributes, is refused 422 Invalid as the real server
//     does. A hook makes every review fail with a chosen HTTP status.
// Field selectors, patch, server-side apply, protobuf and watch-list are not
// implemented. Test hooks inject bad watch lines, ERROR events and
// bookmarks, end all watches, compact history and restart the server on the
// same port, keeping or dropping its state.
//
// Threading: one acceptor thread plus one thread per connection; every public
// method is thread-safe and may be called while clients are connected.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace kobs::testing {

struct FakeResourceType {
  std::string group;     // "" for core
  std::string version;
  std::string resource;  // plural, e.g. "events"
  std::string kind;
  bool namespaced = true;
};

struct FakeKubeApiServerOptions {
  bool tls = false;
  std::string token;                                     // required bearer token; empty: no auth
  std::chrono::milliseconds bookmark_interval{0};        // periodic BOOKMARKs when > 0
  bool default_resource_types = true;                    // core, apps, events, coordination, Krateo groups
};

// One grant for SubjectAccessReview: `verb` on `resource` of `api_group` to a
// user or to the members of a group, in namespace `ns` ("" = every namespace,
// and cluster-wide reviews). "*" matches any verb, resource or group.
struct FakeAccessRule {
  std::string user;                 // spec.user, or
  std::string group;                // one of spec.groups
  std::string ns;                   // "" = cluster-wide (ClusterRoleBinding)
  std::string verb = "list";
  std::string resource = "events";
  std::string api_group;            // "" = core
};

class FakeKubeApiServer {
 public:
  explicit FakeKubeApiServer(FakeKubeApiServerOptions options = {});
  ~FakeKubeApiServer();
  FakeKubeApiServer(const FakeKubeApiServer&) = delete;
  FakeKubeApiServer& operator=(const FakeKubeApiServer&) = delete;

  // Binds (port 0 the first time, the same port after) and serves.
  void start();
  // Closes the listener and every connection (watches end mid-stream).
  void stop();
  // stop() + start() on the same port. Without keep_state the objects and the
  // watch history are gone and older versions are compacted (410).
  void restart(bool keep_state = true);

  uint16_t port() const { return port_; }
  std::string url() const;            // "http://127.0.0.1:port" or "https://..."
  const std::string& caPem() const { return cert_pem_; }  // the self-signed server certificate (TLS)
  void setToken(std::string token);

  // --- resource types (discovery) ---
  void addResourceType(FakeResourceType type);

  // --- store, bypassing HTTP; `resource` is "events" for core or
  // "<plural>.<group>" ("leases.coordination.k8s.io") ---
  nlohmann::json create(const std::string& resource, nlohmann::json object);  // sets uid, rv, timestamps
  nlohmann::json update(const std::string& resource, nlohmann::json object);  // unconditional, bumps rv
  nlohmann::json upsert(const std::string& resource, nlohmann::json object);
  void remove(const std::string& resource, const std::string& ns, const std::string& name);
  std::optional<nlohmann::json> get(const std::string& resource, const std::string& ns, const std::string& name) const;
  size_t objectCount(const std::string& resource) const;
  uint64_t resourceVersion() const;   // the latest version handed out

  // --- history and watch hooks ---
  void compact();                                             // versions up to now become "too old"
  void injectRawLine(const std::string& resource, std::string line);  // sent as-is plus '\n' to current watches
  void injectErrorEvent(const std::string& resource, int code, const std::string& reason, const std::string& message);
  void sendBookmark();                                        // to watches that allowed bookmarks
  void endAllWatches();                                       // ends open watch responses cleanly

  // --- SubjectAccessReview ---
  void allowAccess(FakeAccessRule rule);
  void clearAccessRules();
  // Every review answers this HTTP status with a Status body (0: normal).
  void failAccessReviews(int http_status);
  uint64_t accessReviewRequests() const { return access_review_requests_.load(); }
  std::vector<nlohmann::json> accessReviews() const;  // the request bodies, in order

  // --- observation ---
  uint64_t watchRequests() const { return watch_requests_.load(); }
  uint64_t listRequests() const { return list_requests_.load(); }
  uint64_t discoveryRequests() const { return discovery_requests_.load(); }
  uint64_t unauthorizedRequests() const { return unauthorized_requests_.load(); }
  size_t openWatches() const;
  std::string lastAuthorization() const;

 private:
  struct Connection;
  struct LogEntry {
    uint64_t rv = 0;             // 0 for injected lines
    std::string resource;
    std::string ns;
    std::string type;            // ADDED/MODIFIED/DELETED, or "" for an injected raw line
    std::shared_ptr<const nlohmann::json> object;
    std::string raw;             // injected line
  };
  struct Snapshot {
    uint64_t rv = 0;
    std::vector<std::shared_ptr<const nlohmann::json>> items;
  };
  struct Request;
  struct Response;

  void acceptLoop();
  template <class Stream>
  void serve(Stream& stream, Connection& conn);
  template <class Stream>
  void serveWatch(Stream& stream, const Request& req, const FakeResourceType& type, const std::string& ns);
  Response handle(const Request& req, bool& is_watch, FakeResourceType& type, std::string& ns);
  Response handleList(const Request& req, const FakeResourceType& type, const std::string& ns);
  Response discovery(const std::string& path);
  Response accessReview(const Request& req);

  const FakeResourceType* findTypeLocked(const std::string& group, const std::string& version,
                                         const std::string& resource) const;
  const FakeResourceType* findTypeByKeyLocked(const std::string& key) const;
  nlohmann::json storeLocked(const std::string& key, nlohmann::json object, bool must_exist, bool must_not_exist);
  void makeCertificate();

  FakeKubeApiServerOptions options_;
  std::string cert_pem_;
  std::string key_pem_;
  uint16_t port_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<FakeResourceType> types_;
  // resource key → "ns/name" → object
  std::map<std::string, std::map<std::string, std::shared_ptr<const nlohmann::json>>> objects_;
  std::vector<LogEntry> log_;
  uint64_t rv_ = 0;
  uint64_t compacted_rv_ = 0;
  uint64_t uid_seq_ = 0;
  std::map<uint64_t, Snapshot> snapshots_;
  uint64_t snapshot_seq_ = 0;
  uint64_t watch_generation_ = 0;
  uint64_t bookmark_seq_ = 0;
  size_t open_watches_ = 0;
  std::string last_authorization_;
  bool stopping_ = false;
  std::vector<FakeAccessRule> access_rules_;
  int access_review_failure_ = 0;
  std::vector<nlohmann::json> access_reviews_;

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread acceptor_thread_;
  std::vector<std::shared_ptr<Connection>> connections_;
  std::vector<std::thread> connection_threads_;

  std::atomic<uint64_t> watch_requests_{0};
  std::atomic<uint64_t> list_requests_{0};
  std::atomic<uint64_t> discovery_requests_{0};
  std::atomic<uint64_t> unauthorized_requests_{0};
  std::atomic<uint64_t> access_review_requests_{0};
};

// A core/v1 Event as the API server stores it, for feeding the fake.
struct FakeEventSpec {
  std::string ns = "default";
  std::string name;                       // e.g. "web-0.17a8c2f3b1e4d5c6"
  std::string involved_api_version = "v1";
  std::string involved_kind = "Pod";
  std::string involved_name;
  std::string involved_namespace;         // default: ns
  std::string involved_uid;
  std::string involved_field_path;        // "spec.containers{app}"
  std::string involved_resource_version;
  std::string reason = "Scheduled";
  std::string message;
  std::string type = "Normal";            // Normal / Warning
  std::string source_component = "default-scheduler";
  std::string source_host;                // node name, when set
  int count = 1;
  std::string first_timestamp = "2024-05-01T10:00:00Z";
  std::string last_timestamp = "2024-05-01T10:00:00Z";
  std::optional<std::string> event_time;  // null unless set ("2024-05-01T10:00:00.123456Z")
  std::string reporting_controller;
  std::string reporting_instance;
  std::string action;
  std::optional<int> series_count;        // events.k8s.io-style series, when set
  std::string series_last_observed_time;
};

nlohmann::json makeEvent(const FakeEventSpec& spec);

}  // namespace kobs::testing
