// What HttpStore's tests talk to, so each test runs against both:
//   - clickhouse_server: a real clickhouse-server child (Debian's 18.16 in CI);
//   - central_kobs: a central kobs's ClickHouse-compatible endpoint with its
//     write path on (serve/chcompat), in front of the embedded store: a
//     current engine, so the store meets Map columns, deduplication tokens
//     and the X-ClickHouse-Summary header as a node agent does. The endpoint
//     runs in the test process (kill() stops its listener and writer at once,
//     start() brings them back on the same port over the same data).
// Where the two differ on purpose (the code of a failed login, tables the
// write path does not take), the backend says what to expect.
//
// Threading: drive from the test's main thread.
#pragma once

#include <fstream>
#include <memory>
#include <set>
#include <string>

#include <fmt/format.h>

#include "common/metrics.h"
#include "http/http_server.h"
#include "serve/chcompat/clickhouse_endpoint.h"
#include "serve/chcompat/write_path.h"
#include "store/embedded/embedded_store.h"
#include "support/clickhouse_server.h"
#include "support/embedded_store.h"
#include "support/temp_dir.h"

namespace kobs::store {

class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  virtual uint16_t httpPort() const = 0;
  std::string url() const { return fmt::format("http://127.0.0.1:{}", httpPort()); }
  virtual std::string user() const { return "default"; }
  virtual std::string password() const { return "kobs-test-pw"; }
  virtual std::string database() const { return "default"; }
  virtual void kill() = 0;
  virtual void start() = 0;
  virtual std::string logTail() const { return {}; }
  // Creates `name` (a UInt32, s String, d DateTime) with a dedup window when asked.
  virtual void createTable(IStore& through, const std::string& name, bool dedup_window) = 0;
  // What a wrong password answers: 193 WRONG_PASSWORD from a server, 516 from kobs.
  virtual int wrongPasswordCode() const = 0;
  // An insert into a table that is not there: 60 UNKNOWN_TABLE, or 497 from
  // kobs's write path, which takes only the tables it knows.
  virtual int missingTableCode() const = 0;
  // Serves databases other than its own (kobs: only its own).
  virtual bool servesOtherDatabases() const = 0;
};

class ClickhouseServerBackend final : public StoreBackend {
 public:
  uint16_t httpPort() const override { return server_.httpPort(); }
  std::string password() const override { return server_.password(); }
  void kill() override { server_.kill(); }
  void start() override { server_.start(); }
  std::string logTail() const override { return server_.logTail(); }
  void createTable(IStore& through, const std::string& name, bool dedup_window) override {
    through.execute("CREATE TABLE " + name + " (a UInt32, s String, d DateTime) ENGINE = MergeTree ORDER BY a" +
                    (dedup_window ? " SETTINGS non_replicated_deduplication_window = 1000" : ""));
  }
  int wrongPasswordCode() const override { return 193; }
  int missingTableCode() const override { return 60; }
  bool servesOtherDatabases() const override { return true; }

 private:
  testing::ClickhouseServer server_;
};

class CentralKobsBackend final : public StoreBackend {
 public:
  CentralKobsBackend() {
    static int counter = 0;
    // One engine per process: a store kept open keeps it up between tests.
    static auto* keep = testing::openEmbeddedStore("default").release();
    (void)keep;
    database_ = fmt::format("central{}", counter++);
    store_ = testing::openEmbeddedStore(database_);
    readonly_ = store_->openReadOnly(2, 2);
    users_file_ = (dir_.path() / "users").string();
    std::ofstream(users_file_) << user() << ":" << password() << "\n";
    start();
  }
  ~CentralKobsBackend() override { kill(); }

  uint16_t httpPort() const override { return port_; }
  std::string database() const override { return database_; }
  void kill() override {
    if (server_) server_->stop(std::chrono::milliseconds(0));
    if (writer_) writer_->stop();
    server_.reset();
    endpoint_.reset();
    writer_.reset();
  }
  void start() override {
    serve::chcompat::WritePathOptions wo;
    wo.database = database_;
    wo.tables = tables_;
    wo.users_file = users_file_;
    wo.metrics = &registry_;
    writer_ = std::make_unique<serve::chcompat::WritePath>(*store_, *readonly_, wo);
    writer_->start();
    serve::chcompat::EndpointOptions eo;
    eo.database = database_;
    eo.users_file = users_file_;  // the read side asks for the same credentials
    eo.metrics = &registry_;
    eo.writer = writer_.get();
    endpoint_ = std::make_unique<serve::chcompat::ClickHouseEndpoint>(*readonly_, eo);
    http::Router router;
    endpoint_->addRoutes(router);
    http::ServerOptions so;
    so.listen = fmt::format("127.0.0.1:{}", port_);
    so.body_limit = wo.max_body_bytes;
    so.worker_threads = 4;
    server_ = std::make_unique<http::Server>(so, std::move(router));
    server_->start();
    port_ = server_->port();
  }
  void createTable(IStore&, const std::string& name, bool dedup_window) override {
    store_->execute(fmt::format("CREATE TABLE `{}`.`{}` (a UInt32, s String, d DateTime) ENGINE = MergeTree "
                                "ORDER BY a SETTINGS non_replicated_deduplication_window = {}",
                                database_, name, dedup_window ? 1000 : 0));
    tables_.insert(name);  // the write path takes it from the next start
    kill();
    start();
  }
  int wrongPasswordCode() const override { return 516; }
  int missingTableCode() const override { return 497; }
  bool servesOtherDatabases() const override { return false; }

 private:
  testing::TempDir dir_;
  std::string database_;
  std::string users_file_;
  std::set<std::string> tables_;
  std::unique_ptr<EmbeddedStore> store_;
  std::unique_ptr<IStore> readonly_;
  metrics::Registry registry_;
  std::unique_ptr<serve::chcompat::WritePath> writer_;
  std::unique_ptr<serve::chcompat::ClickHouseEndpoint> endpoint_;
  std::unique_ptr<http::Server> server_;
  uint16_t port_ = 0;
};

}  // namespace kobs::store
