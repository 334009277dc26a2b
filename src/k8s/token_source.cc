#include "k8s/token_source.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <iomanip>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/rfc3339.h"

#include "common/error.h"

extern char** environ;

namespace kobs::k8s {
namespace {

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

// Closes a file descriptor on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

}  // namespace

std::chrono::system_clock::time_point parseRfc3339(std::string_view text) {
  auto t = rfc3339::parse(text);
  if (!t) throw Exception(ErrorCode::kBadInput, "not an RFC 3339 time: '{}'", text);
  // system_clock counts nanoseconds in 64 bits (up to year 2262): clamp far-future times.
  if (t->seconds > int64_t(9'000'000'000)) return std::chrono::system_clock::time_point::max();
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(t->seconds) + std::chrono::nanoseconds(t->nanos)));
}

FileTokenSource::FileTokenSource(std::filesystem::path path, std::chrono::milliseconds recheck)
    : path_(std::move(path)), recheck_(recheck) {}

void FileTokenSource::reloadLocked() {
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(path_, ec);
  if (ec) throw Exception(ErrorCode::kIo, "cannot stat token file {}: {}", path_.string(), ec.message());
  if (loaded_ && mtime == mtime_) return;
  std::ifstream in(path_, std::ios::binary);
  if (!in) throw Exception(ErrorCode::kIo, "cannot read token file {}", path_.string());
  std::stringstream buf;
  buf << in.rdbuf();
  token_ = trim(buf.str());
  mtime_ = mtime;
  loaded_ = true;
}

std::string FileTokenSource::token() {
  std::lock_guard lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  if (!loaded_ || now >= next_check_) {
    reloadLocked();
    next_check_ = now + recheck_;
  }
  return token_;
}

void FileTokenSource::invalidate() {
  std::lock_guard lock(mutex_);
  // Same mtime but new content is possible (coarse timestamps): force a read.
  loaded_ = false;
  next_check_ = {};
}

std::string ExecTokenSource::token() {
  std::lock_guard lock(mutex_);
  auto now = std::chrono::system_clock::now();
  // Refresh slightly early so a token does not expire in flight.
  if (valid_ && (!has_expiry_ || now + std::chrono::seconds(10) < expiry_)) return token_;

  std::filesystem::path command(config_.command);
  std::string cmd = config_.command;
  if (cmd.find('/') != std::string::npos && command.is_relative() && !config_.base_dir.empty())
    cmd = (config_.base_dir / command).string();
  std::vector<std::pair<std::string, std::string>> env = config_.env;
  // Tells the plugin which API version to answer with (the kubectl protocol).
  env.emplace_back("KUBERNETES_EXEC_INFO",
                   nlohmann::json{{"apiVersion", config_.api_version},
                                  {"kind", "ExecCredential"},
                                  {"spec", {{"interactive", false}}}}
                       .dump());
  ++runs_;
  std::string out = runCommand(cmd, config_.args, env, config_.timeout);
  auto cred = nlohmann::json::parse(out, nullptr, false);
  if (!cred.is_object() || cred.value("kind", "") != "ExecCredential")
    throw Exception(ErrorCode::kBadInput, "exec plugin {} did not print an ExecCredential", config_.command);
  const auto& status = cred.contains("status") ? cred["status"] : nlohmann::json::object();
  if (!status.contains("token") || !status["token"].is_string())
    throw Exception(ErrorCode::kBadInput, "exec plugin {}: ExecCredential has no status.token", config_.command);
  token_ = status["token"].get<std::string>();
  has_expiry_ = status.contains("expirationTimestamp") && status["expirationTimestamp"].is_string();
  if (has_expiry_) expiry_ = parseRfc3339(status["expirationTimestamp"].get<std::string>());
  valid_ = true;
  return token_;
}

void ExecTokenSource::invalidate() {
  std::lock_guard lock(mutex_);
  valid_ = false;
}

int ExecTokenSource::runs() const {
  std::lock_guard lock(mutex_);
  return runs_;
}

std::string runCommand(const std::string& command, const std::vector<std::string>& args,
                       const std::vector<std::pair<std::string, std::string>>& env,
                       std::chrono::milliseconds timeout) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw Exception(ErrorCode::kIo, "pipe: {}", std::strerror(errno));
  Fd out_r{out_pipe[0]}, out_w{out_pipe[1]};
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw Exception(ErrorCode::kIo, "pipe: {}", std::strerror(errno));
  Fd err_r{err_pipe[0]}, err_w{err_pipe[1]};

  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    bool overridden = false;
    for (const auto& [k, v] : env)
      if (kv.substr(0, eq) == k) overridden = true;
    if (!overridden) env_strings.emplace_back(kv);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings{command};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, command.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw Exception(ErrorCode::kIo, "cannot run {}: {}", command, std::strerror(rc));
  out_w.reset();
  err_w.reset();

  std::string out, err;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  while (out_r.fd >= 0 || err_r.fd >= 0) {
    pollfd fds[2] = {{out_r.fd, POLLIN, 0}, {err_r.fd, POLLIN, 0}};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (i == 0 ? out : err).append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        (i == 0 ? out_r : err_r).reset();
      }
    }
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) throw Exception(ErrorCode::kIo, "{} timed out after {} ms", command, timeout.count());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Exception(ErrorCode::kIo, "{} failed (status {}): {}", command, status, err.substr(0, 500));
  return out;
}

}  // namespace kobs::k8s
