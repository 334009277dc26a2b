// ClickhouseServer: a real clickhouse-server child process for one test.
//
// Writes config.xml + users.xml into its own TempDir (listen 127.0.0.1 only,
// HTTP port only, data/tmp/log paths inside the dir, user `default` with a
// password), starts the binary, waits for GET /ping -> "Ok.", and SIGKILLs it
// in the destructor. kill() + start() restart it on the same port over the
// same data, to test clients across a server crash. The child also dies with
// the test process (PR_SET_PDEATHSIG), so a crashed test leaves no server.
//
// The binary: $KOBS_CLICKHOUSE_SERVER, else /usr/bin/clickhouse-server, else
// /usr/sbin/clickhouse-server (Debian's 18.16 package installs it there).
// 18.16 is old: use it for protocol behaviour, not for modern SQL types.
//
// Threading: not thread-safe; drive it from the test's main thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "support/temp_dir.h"

namespace kobs::testing {

class ClickhouseServer {
 public:
  // Path of the server binary, or "" when none is installed.
  static std::string binaryPath();

  // Starts the server (throws std::runtime_error with the log tail on failure).
  explicit ClickhouseServer(std::string password = "kobs-test-pw");
  ~ClickhouseServer();
  ClickhouseServer(const ClickhouseServer&) = delete;
  ClickhouseServer& operator=(const ClickhouseServer&) = delete;

  // Starts the process (again) on the same port and waits until it answers.
  void start();
  // SIGKILL, then reap. No-op when not running.
  void kill();
  bool running() const { return pid_ > 0; }

  uint16_t httpPort() const { return http_port_; }
  std::string url() const;  // http://127.0.0.1:<port>
  std::string user() const { return "default"; }
  const std::string& password() const { return password_; }
  pid_t pid() const { return pid_; }

  // Last lines of the server's logs, for failure messages.
  std::string logTail(size_t max_bytes = 4000) const;

 private:
  void writeConfig() const;
  void waitReady();

  TempDir dir_;
  std::string password_;
  uint16_t http_port_ = 0;
  pid_t pid_ = -1;
};

// A port on 127.0.0.1 that was free a moment ago.
uint16_t freeLoopbackPort();

}  // namespace kobs::testing
