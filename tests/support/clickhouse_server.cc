#include "support/clickhouse_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/asio.hpp>

namespace kobs::testing {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// GET /ping over a plain socket: "Ok." when the server is ready.
bool pingOk(uint16_t port) {
  try {
    asio::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    std::string req = "GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    asio::write(s, asio::buffer(req));
    std::string resp;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(resp), ec);  // HTTP/1.0: server closes
    return resp.find("200 OK") != std::string::npos && resp.find("Ok.") != std::string::npos;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

uint16_t freeLoopbackPort() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

std::string ClickhouseServer::binaryPath() {
  if (const char* env = std::getenv("KOBS_CLICKHOUSE_SERVER"); env && *env)
    return ::access(env, X_OK) == 0 ? env : "";
  for (const char* p : {"/usr/bin/clickhouse-server", "/usr/sbin/clickhouse-server"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

ClickhouseServer::ClickhouseServer(std::string password) : password_(std::move(password)) {
  if (binaryPath().empty()) throw std::runtime_error("clickhouse-server is not installed");
  http_port_ = freeLoopbackPort();
  writeConfig();
  start();
}

ClickhouseServer::~ClickhouseServer() { kill(); }

std::string ClickhouseServer::url() const { return "http://127.0.0.1:" + std::to_string(http_port_); }

void ClickhouseServer::writeConfig() const {
  const std::string d = dir_.str();
  std::ofstream cfg(dir_.path() / "config.xml");
  // The minimum 18.16 needs: paths it would otherwise put under /var/lib,
  // one listen address, one port, users and a default profile.
  cfg << "<?xml version=\"1.0\"?>\n<yandex>\n"
      << "  <logger><level>information</level><log>" << d << "/log/server.log</log><errorlog>" << d
      << "/log/server.err.log</errorlog><size>10M</size><count>1</count></logger>\n"
      << "  <listen_host>127.0.0.1</listen_host>\n"
      << "  <http_port>" << http_port_ << "</http_port>\n"
      << "  <path>" << d << "/data/</path>\n"
      << "  <tmp_path>" << d << "/tmp/</tmp_path>\n"
      << "  <user_files_path>" << d << "/user_files/</user_files_path>\n"
      << "  <format_schema_path>" << d << "/format_schemas/</format_schema_path>\n"
      << "  <users_config>" << d << "/users.xml</users_config>\n"
      << "  <default_profile>default</default_profile>\n"
      << "  <default_database>default</default_database>\n"
      << "  <mark_cache_size>268435456</mark_cache_size>\n"
      << "  <uncompressed_cache_size>268435456</uncompressed_cache_size>\n"
      << "  <keep_alive_timeout>30</keep_alive_timeout>\n"
      << "  <max_concurrent_queries>50</max_concurrent_queries>\n"
      << "  <mlock_executable>false</mlock_executable>\n"
      << "</yandex>\n";
  std::ofstream users(dir_.path() / "users.xml");
  users << "<?xml version=\"1.0\"?>\n<yandex>\n"
        << "  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>\n"
        << "  <users><default><password>" << password_ << "</password>"
        << "<networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota>"
        << "</default></users>\n"
        << "  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>"
        << "<result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>"
        << "</interval></default></quotas>\n"
        << "</yandex>\n";
}

void ClickhouseServer::start() {
  if (pid_ > 0) return;
  std::filesystem::create_directories(dir_.path() / "log");
  const std::string binary = binaryPath();
  const std::string config = "--config-file=" + (dir_.path() / "config.xml").string();
  const std::string out = (dir_.path() / "log" / "stdout.log").string();
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // Child: die with the test; stdout/stderr to a file; never return.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    ::chdir(dir_.str().c_str());
    ::execl(binary.c_str(), binary.c_str(), config.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_ = pid;
  waitReady();
}

void ClickhouseServer::waitReady() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("clickhouse-server exited during start-up:\n" + logTail());
    }
    if (pingOk(http_port_)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill();
  throw std::runtime_error("clickhouse-server did not answer /ping within 60 s:\n" + logTail());
}

void ClickhouseServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string ClickhouseServer::logTail(size_t max_bytes) const {
  std::string all;
  for (const char* name : {"stdout.log", "server.err.log"}) {
    std::string text = readFile(dir_.path() / "log" / name);
    if (text.size() > max_bytes) text = text.substr(text.size() - max_bytes);
    all += "--- " + std::string(name) + " ---\n" + text + "\n";
  }
  return all;
}

}  // namespace kobs::testing
