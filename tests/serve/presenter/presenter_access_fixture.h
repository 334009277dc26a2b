// Shared by the presenter access tests (real and fake API server): JWTs for
// users, event rows in chosen namespaces, and the presenter wired with its
// clientconfig check and namespace authorizer.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "k8s/api_client.h"
#include "serve/auth/access_review.h"
#include "serve/auth/authenticator.h"
#include "serve/auth/clientconfig_check.h"
#include "serve/events/events_fixture.h"
#include "serve/events/sse_client.h"
#include "http/http_server.h"
#include "serve/presenter/event_namespaces.h"
#include "serve/presenter/presenter_api.h"
#include "support/http_client.h"
#include "support/jwt.h"
#include "support/temp_dir.h"

namespace kobs::serve::presenter::testing {

using kobs::http::testing::Client;
using serve::testing::SseClient;
using json = nlohmann::json;

inline int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline std::string hs256(const json& payload, const std::string& secret = "jwt-sign-key") {
  return kobs::testing::jwt::hs256(payload, secret);
}

inline std::string tokenFor(const std::string& user, const std::vector<std::string>& groups = {}) {
  const int64_t now = nowNs() / 1000000000;
  return hs256({{"username", user}, {"groups", groups}, {"iss", "krateo.io"}, {"exp", now + 3600}, {"nbf", now - 5}});
}

struct Access {
  bool clientconfig = false;
  bool scoping = false;
  std::chrono::milliseconds ttl{30000};
};

// The presenter with its access checks over a real embedded store and HTTP
// listener; the subclass says which API server answers (apiConfig()).
class PresenterAccessFixture : public serve::testing::EventsStoreTest {
 protected:
  virtual k8s::ClusterConfig apiConfig() = 0;

  // One event row in namespace `ns` (event uid `uid`).
  void insert(const std::vector<std::pair<std::string, std::string>>& rows) {
    std::string body;
    int64_t ts = nowNs() - 60'000'000'000LL;
    for (const auto& [uid, ns] : rows) {
      json obj = {{"metadata", {{"name", uid}, {"namespace", ns}, {"uid", uid}}},
                  {"involvedObject", {{"apiVersion", "v1"}, {"kind", "Pod"}, {"name", "p-" + uid}, {"namespace", ns},
                                      {"uid", "obj-" + uid}}},
                  {"reason", "Created"}, {"message", "m"}, {"type", "Normal"},
                  {"source", {{"component", "kubelet"}}}, {"lastTimestamp", "2026-03-15T10:00:00Z"}};
      body += json{{"Timestamp", isoNanos(ts += 1000)}, {"SeverityText", "Normal"},
                   {"Body", json{{"type", "ADDED"}, {"object", obj}}.dump()},
                   {"ResourceAttributes", {{"telemetry.source", "k8s-events"}, {"k8s.cluster.name", "c1"}}},
                   {"LogAttributes", json::object()}}.dump() + "\n";
    }
    store_->execute(fmt::format(
        "INSERT INTO `{}`.otel_logs SETTINGS date_time_input_format='best_effort' FORMAT JSONEachRow\n{}", database_,
        body));
  }

  void start(Access access, const std::string& tokens_file = "") {
    k8s::ClusterConfig cc = apiConfig();
    k8s::HttpOptions ho;
    ho.connect_timeout = std::chrono::milliseconds(1000);
    ho.request_timeout = std::chrono::milliseconds(2000);
    api_client_ = std::make_unique<k8s::ApiClient>(cc, ho);
    auth::ApiClientSource source = [this]() -> k8s::ApiClient& { return *api_client_; };
    auth::AuthOptions ao;
    ao.jwt_hs256_secret = "jwt-sign-key";
    ao.tokens_file = tokens_file;
    authn_ = auth::Authenticator::create(ao);
    PresenterAccess pa;
    if (access.clientconfig) {
      clientconfig_ = std::make_unique<auth::ClientConfigCheck>(
          source, auth::ClientConfigOptions{.ns = "krateo-system", .ttl = access.ttl}, &metrics_);
      pa.clientconfig = clientconfig_.get();
    }
    if (access.scoping) {
      authorizer_ = std::make_unique<auth::NamespaceAuthorizer>(
          source, auth::AccessReviewOptions{.ttl = access.ttl, .max_entries = 1000}, &metrics_);
      namespaces_ = std::make_unique<EventNamespaces>(*store_, database_, "krateo_events", access.ttl);
      pa.authorizer = authorizer_.get();
      pa.namespaces = namespaces_.get();
    }
    reader_ = std::make_unique<PresenterReader>(*store_, database_, "krateo_events", "default-cluster");
    event_reader_ = std::make_unique<events::EventReader>(*store_, database_, "krateo_events");
    feed_ = std::make_unique<events::EventFeed>(*event_reader_,
                                                events::FeedOptions{.poll_interval = std::chrono::milliseconds(50)});
    feed_->start();
    PresenterApiOptions o;
    o.sse.retry = std::chrono::milliseconds(0);
    api_ = std::make_unique<PresenterApi>(o, authn_.get(), pa);
    http::Router router;
    api_->addRoutes(router);
    api_->attach(*reader_, *feed_);
    server_ = std::make_unique<http::Server>(http::ServerOptions{.listen = "127.0.0.1:0"}, std::move(router));
    server_->start();
  }

  void TearDown() override {
    if (server_) server_->stop(std::chrono::milliseconds(500));
    api_.reset();
    if (feed_) feed_->stop();
  }

  std::string url(const std::string& target) const { return fmt::format("http://127.0.0.1:{}{}", server_->port(), target); }

  // The namespaces of the listed events, and the status.
  std::pair<long, std::multiset<std::string>> list(const std::string& token, const std::string& query = "") {
    Client c;
    auto r = c.fetch(url("/events" + query), {.headers = {"Authorization: Bearer " + token}});
    std::multiset<std::string> out;
    if (r.status == 200) {
      const json page = json::parse(r.body);
      for (const auto& it : page["resources"]) out.insert(it["namespace"].get<std::string>());
    }
    last_body_ = r.body;
    return {r.status, out};
  }

  metrics::Registry metrics_;
  std::unique_ptr<k8s::ApiClient> api_client_;
  std::unique_ptr<auth::Authenticator> authn_;
  std::unique_ptr<auth::ClientConfigCheck> clientconfig_;
  std::unique_ptr<auth::NamespaceAuthorizer> authorizer_;
  std::unique_ptr<EventNamespaces> namespaces_;
  std::unique_ptr<PresenterReader> reader_;
  std::unique_ptr<events::EventReader> event_reader_;
  std::unique_ptr<events::EventFeed> feed_;
  std::unique_ptr<PresenterApi> api_;
  std::unique_ptr<http::Server> server_;
  std::string last_body_;
};

using NsSet = std::multiset<std::string>;

inline void expectStatus(const std::string& body, int code, const std::string& reason) {
  auto st = json::parse(body);
  EXPECT_EQ(st["kind"], "Status");
  EXPECT_EQ(st["apiVersion"], "v1");
  EXPECT_EQ(st["status"], "Failure");
  EXPECT_EQ(st["reason"], reason);
  EXPECT_EQ(st["code"], code);
}

}  // namespace kobs::serve::presenter::testing
