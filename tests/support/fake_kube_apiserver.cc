#include "support/fake_kube_apiserver.h"

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <sstream>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace kobs::testing {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::json;

std::string key(const std::string& group, const std::string& resource) {
  return group.empty() ? resource : resource + "." + group;
}

std::string apiVersionOf(const FakeResourceType& t) { return t.group.empty() ? t.version : t.group + "/" + t.version; }

std::string objectKey(const std::string& ns, const std::string& name) { return ns + "/" + name; }

json status(int code, const std::string& reason, const std::string& message) {
  return json{{"kind", "Status"}, {"apiVersion", "v1"},  {"metadata", json::object()}, {"status", "Failure"},
              {"message", message}, {"reason", reason}, {"code", code}};
}

std::string urlDecode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (in[i] == '+') {
      out += ' ';
    } else {
      out += in[i];
    }
  }
  return out;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    auto pos = s.find(sep, start);
    if (pos == std::string_view::npos) pos = s.size();
    out.emplace_back(s.substr(start, pos - start));
    start = pos + 1;
  }
  return out;
}

// Equality-based selectors only ("a=b,c==d,e!=f").
bool labelsMatch(const json& object, const std::string& selector) {
  if (selector.empty()) return true;
  const json* labels = nullptr;
  if (object.contains("metadata") && object["metadata"].contains("labels")) labels = &object["metadata"]["labels"];
  for (const auto& term : split(selector, ',')) {
    if (term.empty()) continue;
    bool negate = false;
    std::string k, v;
    if (auto p = term.find("!="); p != std::string::npos) {
      negate = true;
      k = term.substr(0, p);
      v = term.substr(p + 2);
    } else if (auto q = term.find("=="); q != std::string::npos) {
      k = term.substr(0, q);
      v = term.substr(q + 2);
    } else if (auto r = term.find('='); r != std::string::npos) {
      k = term.substr(0, r);
      v = term.substr(r + 1);
    } else {
      bool has = labels && labels->contains(term);
      if (!has) return false;
      continue;
    }
    bool eq = labels && labels->contains(k) && (*labels)[k].is_string() && (*labels)[k].get<std::string>() == v;
    if (eq == negate) return false;
  }
  return true;
}

std::string nowRfc3339() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

struct FakeKubeApiServer::Request {
  std::string method;
  std::string path;
  std::map<std::string, std::string> query;
  std::string authorization;
  std::string body;
  std::string param(const std::string& k) const {
    auto it = query.find(k);
    return it == query.end() ? std::string() : it->second;
  }
};

struct FakeKubeApiServer::Response {
  int status = 200;
  std::string body;
};

struct FakeKubeApiServer::Connection {
  std::mutex mutex;
  int fd = -1;
  bool closed = false;
};

struct FakeKubeApiServer::Impl {
  net::io_context ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<ssl::context> tls;
};

FakeKubeApiServer::FakeKubeApiServer(FakeKubeApiServerOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  if (options_.default_resource_types) {
    types_ = {
        {"", "v1", "pods", "Pod", true},
        {"", "v1", "events", "Event", true},
        {"", "v1", "configmaps", "ConfigMap", true},
        {"", "v1", "services", "Service", true},
        {"", "v1", "namespaces", "Namespace", false},
        {"", "v1", "secrets", "Secret", true},
        {"", "v1", "nodes", "Node", false},
        {"apps", "v1", "deployments", "Deployment", true},
        {"apps", "v1", "replicasets", "ReplicaSet", true},
        {"apps", "v1", "statefulsets", "StatefulSet", true},
        {"events.k8s.io", "v1", "events", "Event", true},
        {"coordination.k8s.io", "v1", "leases", "Lease", true},
        // Krateo: a composition generated from a CompositionDefinition of the
        // FireworksApp chart, and the definition itself.
        {"composition.krateo.io", "v1-2-0", "fireworksapps", "FireworksApp", true},
        {"core.krateo.io", "v1alpha1", "compositiondefinitions", "CompositionDefinition", true},
    };
  }
  if (options_.tls) makeCertificate();
}

FakeKubeApiServer::~FakeKubeApiServer() { stop(); }

void FakeKubeApiServer::makeCertificate() {
  // A self-signed CA:TRUE certificate for 127.0.0.1/localhost: the client
  // trusts it as its CA bundle and verifies the host name against the SAN.
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_version(cert, 2);
  X509_set_pubkey(cert, pkey);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("fake-kube-apiserver"), -1,
                             -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                            std::pair{NID_key_usage, "critical,digitalSignature,keyCertSign"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert, pkey, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  cert_pem_.assign(data, static_cast<size_t>(len));
  BIO_free(bio);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  len = BIO_get_mem_data(bio, &data);
  key_pem_.assign(data, static_cast<size_t>(len));
  BIO_free(bio);
  X509_free(cert);
  EVP_PKEY_free(pkey);
}

std::string FakeKubeApiServer::url() const {
  return std::string(options_.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

void FakeKubeApiServer::setToken(std::string token) {
  std::lock_guard lock(mutex_);
  options_.token = std::move(token);
}

void FakeKubeApiServer::start() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  if (options_.tls && !impl_->tls) {
    impl_->tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    impl_->tls->use_certificate_chain(net::buffer(cert_pem_));
    impl_->tls->use_private_key(net::buffer(key_pem_), ssl::context::pem);
  }
  auto acceptor = std::make_unique<tcp::acceptor>(impl_->ioc);
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port_);
  acceptor->open(ep.protocol());
  acceptor->set_option(net::socket_base::reuse_address(true));
  acceptor->bind(ep);
  acceptor->listen();
  port_ = acceptor->local_endpoint().port();
  impl_->acceptor = std::move(acceptor);
  acceptor_thread_ = std::thread([this] { acceptLoop(); });
}

void FakeKubeApiServer::stop() {
  if (!acceptor_thread_.joinable()) return;
  std::vector<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    conns = connections_;
  }
  cv_.notify_all();
  // shutdown() wakes the blocking accept()/read()/write() of the other threads.
  ::shutdown(impl_->acceptor->native_handle(), SHUT_RDWR);
  acceptor_thread_.join();
  for (auto& c : conns) {
    std::lock_guard lock(c->mutex);
    if (!c->closed) ::shutdown(c->fd, SHUT_RDWR);
  }
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    threads = std::move(connection_threads_);
    connection_threads_.clear();
  }
  for (auto& t : threads) t.join();
  {
    std::lock_guard lock(mutex_);
    connections_.clear();
  }
  boost::system::error_code ec;
  impl_->acceptor->close(ec);
  impl_->acceptor.reset();
}

void FakeKubeApiServer::restart(bool keep_state) {
  stop();
  if (!keep_state) {
    std::lock_guard lock(mutex_);
    objects_.clear();
    log_.clear();
    snapshots_.clear();
    compacted_rv_ = rv_;
  }
  start();
}

void FakeKubeApiServer::acceptLoop() {
  while (true) {
    tcp::socket socket(impl_->ioc);
    boost::system::error_code ec;
    impl_->acceptor->accept(socket, ec);
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    if (ec) continue;
    auto conn = std::make_shared<Connection>();
    conn->fd = socket.native_handle();
    connections_.push_back(conn);
    connection_threads_.emplace_back([this, conn, s = std::move(socket)]() mutable {
      try {
        if (options_.tls) {
          ssl::stream<tcp::socket> stream(std::move(s), *impl_->tls);
          boost::system::error_code hec;
          stream.handshake(ssl::stream_base::server, hec);
          if (!hec) serve(stream, *conn);
          std::lock_guard l(conn->mutex);
          conn->closed = true;
          boost::system::error_code ignored;
          stream.next_layer().close(ignored);
        } else {
          serve(s, *conn);
          std::lock_guard l(conn->mutex);
          conn->closed = true;
          boost::system::error_code ignored;
          s.close(ignored);
        }
      } catch (const std::exception&) {
        std::lock_guard l(conn->mutex);
        conn->closed = true;
      }
    });
  }
}

template <class Stream>
void FakeKubeApiServer::serve(Stream& stream, Connection& conn) {
  boost::beast::flat_buffer buffer;
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    boost::system::error_code ec;
    http::read(stream, buffer, parser, ec);
    if (ec) return;
    auto& raw = parser.get();
    Request req;
    req.method = std::string(raw.method_string());
    std::string target(raw.target());
    auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) {
      for (const auto& kv : split(std::string_view(target).substr(q + 1), '&')) {
        auto eq = kv.find('=');
        if (eq == std::string::npos) req.query[urlDecode(kv)] = "";
        else req.query[urlDecode(kv.substr(0, eq))] = urlDecode(kv.substr(eq + 1));
      }
    }
    req.authorization = std::string(raw[http::field::authorization]);
    req.body = std::move(raw.body());
    bool is_watch = false;
    FakeResourceType type;
    std::string ns;
    Response res = handle(req, is_watch, type, ns);
    if (is_watch) {
      serveWatch(stream, req, type, ns);
      return;  // watch responses end the connection
    }
    http::response<http::string_body> out{static_cast<http::status>(res.status), 11};
    out.set(http::field::content_type, "application/json");
    out.keep_alive(raw.keep_alive());
    out.body() = std::move(res.body);
    out.prepare_payload();
    http::write(stream, out, ec);
    if (ec || !out.keep_alive()) return;
  }
}

template <class Stream>
void FakeKubeApiServer::serveWatch(Stream& stream, const Request& req, const FakeResourceType& type,
                                   const std::string& ns) {
  const std::string rkey = key(type.group, type.resource);
  const std::string selector = req.param("labelSelector");
  const bool bookmarks = req.param("allowWatchBookmarks") == "true";
  const std::string from = req.param("resourceVersion");
  const int timeout_s = req.param("timeoutSeconds").empty() ? 0 : std::stoi(req.param("timeoutSeconds"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  auto event_line = [&](const std::string& t, const json& obj) { return json{{"type", t}, {"object", obj}}.dump() + "\n"; };
  auto bookmark_line = [&](uint64_t rv) {
    return json{{"type", "BOOKMARK"},
                {"object",
                 {{"kind", type.kind}, {"apiVersion", apiVersionOf(type)}, {"metadata", {{"resourceVersion", std::to_string(rv)}}}}}}
               .dump() + "\n";
  };
  auto matches = [&](const LogEntry& e) {
    if (e.resource != rkey) return false;
    if (!e.type.empty() && !ns.empty() && e.ns != ns) return false;
    return e.type.empty() || labelsMatch(*e.object, selector);
  };

  std::vector<std::string> pending;
  size_t pos = 0;
  uint64_t generation = 0;
  uint64_t bookmark_seq = 0;
  bool expired = false;
  {
    std::lock_guard lock(mutex_);
    ++open_watches_;
    pos = log_.size();
    generation = watch_generation_;
    bookmark_seq = bookmark_seq_;
    if (from.empty() || from == "0") {
      for (const auto& [k, obj] : objects_[rkey]) {
        if (!ns.empty() && (*obj)["metadata"].value("namespace", "") != ns) continue;
        if (labelsMatch(*obj, selector)) pending.push_back(event_line("ADDED", *obj));
      }
    } else {
      uint64_t from_rv = std::stoull(from);
      if (from_rv < compacted_rv_) {
        expired = true;
        pending.push_back(
            json{{"type", "ERROR"},
                 {"object", status(410, "Expired",
                                   "too old resource version: " + from + " (" + std::to_string(compacted_rv_ + 1) + ")")}}
                .dump() + "\n");
      } else {
        for (const auto& e : log_)
          if (e.rv > from_rv && !e.type.empty() && matches(e)) pending.push_back(event_line(e.type, *e.object));
      }
    }
  }
  struct Closer {
    FakeKubeApiServer* self;
    ~Closer() {
      std::lock_guard lock(self->mutex_);
      --self->open_watches_;
    }
  } closer{this};

  http::response<http::empty_body> res{http::status::ok, 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::transfer_encoding, "chunked");
  res.keep_alive(false);
  http::response_serializer<http::empty_body> sr{res};
  boost::system::error_code ec;
  http::write_header(stream, sr, ec);
  if (ec) return;
  auto flush = [&](std::vector<std::string>& lines) {
    for (auto& l : lines) {
      net::write(stream, http::make_chunk(net::buffer(l)), ec);
      if (ec) return false;
    }
    lines.clear();
    return true;
  };
  if (!flush(pending)) return;
  auto next_bookmark = std::chrono::steady_clock::now() + options_.bookmark_interval;
  while (!expired) {
    bool end = false;
    {
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, std::chrono::milliseconds(50), [&] {
        return stopping_ || log_.size() > pos || watch_generation_ != generation || bookmark_seq_ != bookmark_seq;
      });
      if (stopping_) return;  // connection is cut, as when a real server dies
      for (; pos < log_.size(); ++pos) {
        const auto& e = log_[pos];
        if (!matches(e)) continue;
        pending.push_back(e.type.empty() ? e.raw + "\n" : event_line(e.type, *e.object));
      }
      auto now = std::chrono::steady_clock::now();
      bool periodic = options_.bookmark_interval.count() > 0 && now >= next_bookmark;
      if (bookmarks && (bookmark_seq_ != bookmark_seq || periodic)) pending.push_back(bookmark_line(rv_));
      if (periodic) next_bookmark = now + options_.bookmark_interval;
      bookmark_seq = bookmark_seq_;
      end = watch_generation_ != generation || (timeout_s > 0 && now >= deadline);
    }
    if (!flush(pending)) return;
    if (end) break;
  }
  net::write(stream, http::make_chunk_last(), ec);
}

FakeKubeApiServer::Response FakeKubeApiServer::handle(const Request& req, bool& is_watch, FakeResourceType& type_out,
                                                      std::string& ns_out) {
  {
    std::lock_guard lock(mutex_);
    last_authorization_ = req.authorization;
    if (!options_.token.empty() && req.authorization != "Bearer " + options_.token) {
      unauthorized_requests_.fetch_add(1);
      return {401, status(401, "Unauthorized", "Unauthorized").dump()};
    }
  }
  if (req.method == "POST" && req.path == "/apis/authorization.k8s.io/v1/subjectaccessreviews") return accessReview(req);
  auto parts = split(req.path, '/');  // "", "api", "v1", ...
  if (parts.size() < 2) return {404, status(404, "NotFound", "the server could not find the requested resource").dump()};
  std::string group, version;
  size_t rest = 0;
  if (parts[1] == "api") {
    if (parts.size() == 2 || parts.size() == 3) return discovery(req.path);
    version = parts[2];
    rest = 3;
  } else if (parts[1] == "apis") {
    if (parts.size() <= 4) return discovery(req.path);
    group = parts[2];
    version = parts[3];
    rest = 4;
  } else {
    return {404, status(404, "NotFound", "the server could not find the requested resource").dump()};
  }
  std::vector<std::string> segs(parts.begin() + static_cast<long>(rest), parts.end());
  std::string ns, resource, name;
  if (segs.size() >= 3 && segs[0] == "namespaces") {
    ns = segs[1];
    resource = segs[2];
    if (segs.size() >= 4) name = segs[3];
  } else {
    resource = segs[0];
    if (segs.size() >= 2) name = segs[1];
  }
  FakeResourceType type;
  {
    std::lock_guard lock(mutex_);
    const auto* t = findTypeLocked(group, version, resource);
    if (!t) return {404, status(404, "NotFound", "the server could not find the requested resource").dump()};
    type = *t;
  }
  const std::string rkey = key(group, resource);
  const std::string qualified = key(type.group, type.resource);
  if (req.method == "GET" && name.empty()) {
    std::string w = req.param("watch");
    if (w == "1" || w == "true") {
      watch_requests_.fetch_add(1);
      is_watch = true;
      type_out = type;
      ns_out = ns;
      return {};
    }
    list_requests_.fetch_add(1);
    return handleList(req, type, ns);
  }
  if (req.method == "GET") {
    std::lock_guard lock(mutex_);
    auto& m = objects_[rkey];
    auto it = m.find(objectKey(ns, name));
    if (it == m.end())
      return {404, status(404, "NotFound", qualified + " \"" + name + "\" not found").dump()};
    return {200, it->second->dump()};
  }
  if (req.method == "POST" || req.method == "PUT") {
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object()) return {400, status(400, "BadRequest", "the body is not a JSON object").dump()};
    if (!ns.empty()) body["metadata"]["namespace"] = ns;
    if (req.method == "PUT") body["metadata"]["name"] = name;
    std::string obj_name = body["metadata"].value("name", "");
    if (obj_name.empty()) return {422, status(422, "Invalid", "metadata.name: Required value").dump()};
    std::lock_guard lock(mutex_);
    auto& m = objects_[rkey];
    auto it = m.find(objectKey(ns, obj_name));
    if (req.method == "POST") {
      if (it != m.end())
        return {409, status(409, "AlreadyExists", qualified + " \"" + obj_name + "\" already exists").dump()};
      return {201, storeLocked(rkey, std::move(body), false, true).dump()};
    }
    if (it == m.end()) return {404, status(404, "NotFound", qualified + " \"" + obj_name + "\" not found").dump()};
    std::string sent_rv = body["metadata"].value("resourceVersion", "");
    if (!sent_rv.empty() && sent_rv != (*it->second)["metadata"].value("resourceVersion", ""))
      return {409, status(409, "Conflict",
                          "Operation cannot be fulfilled on " + qualified + " \"" + obj_name +
                              "\": the object has been modified; please apply your changes to the latest version and "
                              "try again")
                       .dump()};
    return {200, storeLocked(rkey, std::move(body), true, false).dump()};
  }
  if (req.method == "DELETE") {
    std::lock_guard lock(mutex_);
    auto& m = objects_[rkey];
    auto it = m.find(objectKey(ns, name));
    if (it == m.end()) return {404, status(404, "NotFound", qualified + " \"" + name + "\" not found").dump()};
    auto obj = std::make_shared<json>(*it->second);
    m.erase(it);
    (*obj)["metadata"]["resourceVersion"] = std::to_string(++rv_);
    log_.push_back({rv_, rkey, ns, "DELETED", obj, {}});
    cv_.notify_all();
    return {200, obj->dump()};
  }
  return {405, status(405, "MethodNotAllowed", "method not allowed").dump()};
}

FakeKubeApiServer::Response FakeKubeApiServer::handleList(const Request& req, const FakeResourceType& type,
                                                          const std::string& ns) {
  const std::string rkey = key(type.group, type.resource);
  std::lock_guard lock(mutex_);
  uint64_t id = 0;
  size_t offset = 0;
  if (std::string cont = req.param("continue"); !cont.empty()) {
    auto colon = cont.find(':');
    if (colon != std::string::npos) {
      id = std::stoull(cont.substr(0, colon));
      offset = std::stoull(cont.substr(colon + 1));
    }
    auto it = snapshots_.find(id);
    if (it == snapshots_.end() || it->second.rv < compacted_rv_)
      return {410, status(410, "Expired",
                          "The provided continue parameter is too old to display a consistent list result. You can "
                          "start a new list without the continue parameter.")
                       .dump()};
  } else {
    if (req.param("resourceVersionMatch") == "Exact" && !req.param("resourceVersion").empty() &&
        std::stoull(req.param("resourceVersion")) < compacted_rv_)
      return {410, status(410, "Expired", "too old resource version: " + req.param("resourceVersion")).dump()};
    Snapshot snap;
    snap.rv = rv_;
    for (const auto& [k, obj] : objects_[rkey]) {
      if (!ns.empty() && (*obj)["metadata"].value("namespace", "") != ns) continue;
      if (labelsMatch(*obj, req.param("labelSelector"))) snap.items.push_back(obj);
    }
    id = ++snapshot_seq_;
    snapshots_[id] = std::move(snap);
    while (snapshots_.size() > 64) snapshots_.erase(snapshots_.begin());
  }
  const Snapshot& snap = snapshots_[id];
  size_t limit = req.param("limit").empty() ? 0 : std::stoull(req.param("limit"));
  size_t end = limit > 0 ? std::min(snap.items.size(), offset + limit) : snap.items.size();
  std::string body = "{\"kind\":\"" + type.kind + "List\",\"apiVersion\":\"" + apiVersionOf(type) +
                     "\",\"metadata\":{\"resourceVersion\":\"" + std::to_string(snap.rv) + "\"";
  if (end < snap.items.size()) {
    body += ",\"continue\":\"" + std::to_string(id) + ":" + std::to_string(end) + "\"";
    body += ",\"remainingItemCount\":" + std::to_string(snap.items.size() - end);
  }
  body += "},\"items\":[";
  for (size_t i = offset; i < end; ++i) {
    if (i > offset) body += ',';
    body += snap.items[i]->dump();
  }
  body += "]}";
  if (end >= snap.items.size()) snapshots_.erase(id);
  return {200, std::move(body)};
}

FakeKubeApiServer::Response FakeKubeApiServer::discovery(const std::string& path) {
  discovery_requests_.fetch_add(1);
  std::lock_guard lock(mutex_);
  auto parts = split(path, '/');
  if (path == "/api") return {200, json{{"kind", "APIVersions"}, {"versions", {"v1"}}}.dump()};
  if (path == "/apis") {
    json groups = json::array();
    std::map<std::string, std::vector<std::string>> versions;
    for (const auto& t : types_)
      if (!t.group.empty()) {
        auto& v = versions[t.group];
        if (std::find(v.begin(), v.end(), t.version) == v.end()) v.push_back(t.version);
      }
    for (const auto& [g, vs] : versions) {
      json vlist = json::array();
      for (const auto& v : vs) vlist.push_back({{"groupVersion", g + "/" + v}, {"version", v}});
      groups.push_back({{"name", g}, {"versions", vlist}, {"preferredVersion", vlist[0]}});
    }
    return {200, json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}}.dump()};
  }
  std::string group = parts[1] == "api" ? "" : parts[2];
  std::string version = parts[1] == "api" ? parts[2] : (parts.size() > 3 ? parts[3] : "");
  json resources = json::array();
  for (const auto& t : types_) {
    if (t.group != group || t.version != version) continue;
    resources.push_back({{"name", t.resource},
                         {"singularName", ""},
                         {"namespaced", t.namespaced},
                         {"kind", t.kind},
                         {"verbs", {"create", "delete", "get", "list", "patch", "update", "watch"}}});
    if (t.kind == "Pod")  // a subresource, which discovery clients must skip
      resources.push_back({{"name", "pods/log"}, {"namespaced", true}, {"kind", "Pod"}, {"verbs", {"get"}}});
  }
  if (resources.empty())
    return {404, status(404, "NotFound", "the server could not find the requested resource").dump()};
  std::string gv = group.empty() ? version : group + "/" + version;
  return {200, json{{"kind", "APIResourceList"}, {"apiVersion", "v1"}, {"groupVersion", gv}, {"resources", resources}}.dump()};
}

FakeKubeApiServer::Response FakeKubeApiServer::accessReview(const Request& req) {
  access_review_requests_.fetch_add(1);
  json body = json::parse(req.body, nullptr, false);
  std::lock_guard lock(mutex_);
  access_reviews_.push_back(body);
  if (access_review_failure_ != 0)
    return {access_review_failure_, status(access_review_failure_, "InternalError", "access review failed (test hook)").dump()};
  if (!body.is_object() || !body.contains("spec") || !body["spec"].is_object())
    return {400, status(400, "BadRequest", "the body is not a SubjectAccessReview").dump()};
  const json& spec = body["spec"];
  const std::string user = spec.value("user", "");
  std::vector<std::string> groups;
  if (spec.contains("groups") && spec["groups"].is_array())
    for (const auto& g : spec["groups"])
      if (g.is_string()) groups.push_back(g);
  if (user.empty() && groups.empty())
    return {422, status(422, "Invalid", "SubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.user: Invalid value: "
                                        "\"\": at least one of user or group must be specified").dump()};
  if (!spec.contains("resourceAttributes") || !spec["resourceAttributes"].is_object())
    return {422, status(422, "Invalid", "SubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: "
                                        "Invalid value: \"null\": exactly one of nonResourceAttributes or "
                                        "resourceAttributes must be specified").dump()};
  const json& ra = spec["resourceAttributes"];
  const std::string ns = ra.value("namespace", ""), verb = ra.value("verb", ""), resource = ra.value("resource", ""),
                    group = ra.value("group", "");
  auto any = [](const std::string& rule, const std::string& v) { return rule == "*" || rule == v; };
  bool allowed = false;
  for (const auto& r : access_rules_) {
    const bool subject = (!r.user.empty() && r.user == user) ||
                         (!r.group.empty() && std::find(groups.begin(), groups.end(), r.group) != groups.end());
    if (subject && any(r.verb, verb) && any(r.resource, resource) && any(r.api_group, group) &&
        (r.ns.empty() || r.ns == ns)) {
      allowed = true;
      break;
    }
  }
  json out = body;
  out["apiVersion"] = "authorization.k8s.io/v1";
  out["kind"] = "SubjectAccessReview";
  if (!out.contains("metadata")) out["metadata"] = json::object();
  out["status"] = {{"allowed", allowed}};
  if (allowed) out["status"]["reason"] = "allowed by the fake's access rules";
  return {201, out.dump()};
}

void FakeKubeApiServer::allowAccess(FakeAccessRule rule) {
  std::lock_guard lock(mutex_);
  access_rules_.push_back(std::move(rule));
}

void FakeKubeApiServer::clearAccessRules() {
  std::lock_guard lock(mutex_);
  access_rules_.clear();
}

void FakeKubeApiServer::failAccessReviews(int http_status) {
  std::lock_guard lock(mutex_);
  access_review_failure_ = http_status;
}

std::vector<json> FakeKubeApiServer::accessReviews() const {
  std::lock_guard lock(mutex_);
  return access_reviews_;
}

const FakeResourceType* FakeKubeApiServer::findTypeLocked(const std::string& group, const std::string& version,
                                                          const std::string& resource) const {
  for (const auto& t : types_)
    if (t.group == group && t.version == version && t.resource == resource) return &t;
  return nullptr;
}

const FakeResourceType* FakeKubeApiServer::findTypeByKeyLocked(const std::string& k) const {
  for (const auto& t : types_)
    if (key(t.group, t.resource) == k) return &t;
  return nullptr;
}

void FakeKubeApiServer::addResourceType(FakeResourceType type) {
  std::lock_guard lock(mutex_);
  types_.push_back(std::move(type));
}

json FakeKubeApiServer::storeLocked(const std::string& rkey, json object, bool must_exist, bool must_not_exist) {
  const auto* type = findTypeByKeyLocked(rkey);
  if (!type) throw std::invalid_argument("fake apiserver: unknown resource " + rkey);
  auto& meta = object["metadata"];
  std::string ns = type->namespaced ? meta.value("namespace", "default") : "";
  if (type->namespaced) meta["namespace"] = ns;
  std::string name = meta.value("name", "");
  auto& m = objects_[rkey];
  auto it = m.find(objectKey(ns, name));
  if (must_exist && it == m.end()) throw std::invalid_argument("fake apiserver: no " + rkey + " " + name);
  if (must_not_exist && it != m.end()) throw std::invalid_argument("fake apiserver: exists " + rkey + " " + name);
  bool existed = it != m.end();
  if (existed) {
    meta["uid"] = (*it->second)["metadata"]["uid"];
    meta["creationTimestamp"] = (*it->second)["metadata"]["creationTimestamp"];
  } else {
    if (!meta.contains("uid")) {
      char uid[40];
      std::snprintf(uid, sizeof uid, "00000000-0000-4000-8000-%012llu", static_cast<unsigned long long>(++uid_seq_));
      meta["uid"] = uid;
    }
    if (!meta.contains("creationTimestamp")) meta["creationTimestamp"] = nowRfc3339();
  }
  if (!object.contains("kind")) object["kind"] = type->kind;
  if (!object.contains("apiVersion")) object["apiVersion"] = apiVersionOf(*type);
  meta["resourceVersion"] = std::to_string(++rv_);
  auto stored = std::make_shared<const json>(std::move(object));
  m[objectKey(ns, name)] = stored;
  log_.push_back({rv_, rkey, ns, existed ? "MODIFIED" : "ADDED", stored, {}});
  cv_.notify_all();
  return *stored;
}

json FakeKubeApiServer::create(const std::string& resource, json object) {
  std::lock_guard lock(mutex_);
  return storeLocked(resource, std::move(object), false, true);
}

json FakeKubeApiServer::update(const std::string& resource, json object) {
  std::lock_guard lock(mutex_);
  return storeLocked(resource, std::move(object), true, false);
}

json FakeKubeApiServer::upsert(const std::string& resource, json object) {
  std::lock_guard lock(mutex_);
  return storeLocked(resource, std::move(object), false, false);
}

void FakeKubeApiServer::remove(const std::string& resource, const std::string& ns, const std::string& name) {
  std::lock_guard lock(mutex_);
  auto& m = objects_[resource];
  auto it = m.find(objectKey(ns, name));
  if (it == m.end()) return;
  auto obj = std::make_shared<json>(*it->second);
  m.erase(it);
  (*obj)["metadata"]["resourceVersion"] = std::to_string(++rv_);
  log_.push_back({rv_, resource, ns, "DELETED", obj, {}});
  cv_.notify_all();
}

std::optional<json> FakeKubeApiServer::get(const std::string& resource, const std::string& ns,
                                           const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto r = objects_.find(resource);
  if (r == objects_.end()) return std::nullopt;
  auto it = r->second.find(objectKey(ns, name));
  if (it == r->second.end()) return std::nullopt;
  return *it->second;
}

size_t FakeKubeApiServer::objectCount(const std::string& resource) const {
  std::lock_guard lock(mutex_);
  auto r = objects_.find(resource);
  return r == objects_.end() ? 0 : r->second.size();
}

uint64_t FakeKubeApiServer::resourceVersion() const {
  std::lock_guard lock(mutex_);
  return rv_;
}

void FakeKubeApiServer::compact() {
  std::lock_guard lock(mutex_);
  // Entries stay in log_ (open watches index into it); watches that start
  // from a version below this point are refused with 410.
  compacted_rv_ = rv_;
}

void FakeKubeApiServer::injectRawLine(const std::string& resource, std::string line) {
  std::lock_guard lock(mutex_);
  log_.push_back({0, resource, "", "", nullptr, std::move(line)});
  cv_.notify_all();
}

void FakeKubeApiServer::injectErrorEvent(const std::string& resource, int code, const std::string& reason,
                                         const std::string& message) {
  injectRawLine(resource, json{{"type", "ERROR"}, {"object", status(code, reason, message)}}.dump());
}

void FakeKubeApiServer::sendBookmark() {
  std::lock_guard lock(mutex_);
  ++bookmark_seq_;
  cv_.notify_all();
}

void FakeKubeApiServer::endAllWatches() {
  std::lock_guard lock(mutex_);
  ++watch_generation_;
  cv_.notify_all();
}

size_t FakeKubeApiServer::openWatches() const {
  std::lock_guard lock(mutex_);
  return open_watches_;
}

std::string FakeKubeApiServer::lastAuthorization() const {
  std::lock_guard lock(mutex_);
  return last_authorization_;
}

json makeEvent(const FakeEventSpec& s) {
  std::string involved_ns = s.involved_namespace.empty() ? s.ns : s.involved_namespace;
  json involved = {{"apiVersion", s.involved_api_version}, {"kind", s.involved_kind}, {"name", s.involved_name},
                   {"namespace", involved_ns}, {"uid", s.involved_uid}};
  if (!s.involved_resource_version.empty()) involved["resourceVersion"] = s.involved_resource_version;
  if (!s.involved_field_path.empty()) involved["fieldPath"] = s.involved_field_path;
  json source = json::object();
  if (!s.source_component.empty()) source["component"] = s.source_component;
  if (!s.source_host.empty()) source["host"] = s.source_host;
  json e = {{"apiVersion", "v1"},
            {"kind", "Event"},
            {"metadata", {{"name", s.name}, {"namespace", s.ns}}},
            {"involvedObject", involved},
            {"reason", s.reason},
            {"message", s.message},
            {"source", source},
            {"firstTimestamp", s.first_timestamp},
            {"lastTimestamp", s.last_timestamp},
            {"count", s.count},
            {"type", s.type},
            {"eventTime", s.event_time ? json(*s.event_time) : json(nullptr)},
            {"reportingComponent", s.reporting_controller},
            {"reportingInstance", s.reporting_instance}};
  if (!s.action.empty()) e["action"] = s.action;
  if (s.series_count)
    e["series"] = {{"count", *s.series_count}, {"lastObservedTime", s.series_last_observed_time}};
  return e;
}

}  // namespace kobs::testing
