// Bearer tokens for the API server: a fixed string, a file that is re-read
// when it changes (projected service-account tokens rotate), or an exec
// credential plugin (client.authentication.k8s.io/v1 and v1beta1) whose token
// is cached until its expirationTimestamp.
//
// Threading: every TokenSource is thread-safe; token() may block (file read,
// running the plugin) and is called once per HTTP request.
#pragma once

#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace kobs::k8s {

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // The token to send as `Authorization: Bearer ...` (empty: send none).
  virtual std::string token() = 0;
  // The server answered 401 with the last token: fetch afresh next time.
  virtual void invalidate() {}
};

class StaticTokenSource final : public TokenSource {
 public:
  explicit StaticTokenSource(std::string token) : token_(std::move(token)) {}
  std::string token() override { return token_; }

 private:
  const std::string token_;
};

// Re-reads the file when its mtime changed, checking at most once per
// `recheck` so a request does not stat the file every time.
class FileTokenSource final : public TokenSource {
 public:
  explicit FileTokenSource(std::filesystem::path path, std::chrono::milliseconds recheck = std::chrono::seconds(5));
  std::string token() override;
  void invalidate() override;

 private:
  void reloadLocked();

  const std::filesystem::path path_;
  const std::chrono::milliseconds recheck_;
  std::mutex mutex_;
  std::string token_;
  std::filesystem::file_time_type mtime_{};
  std::chrono::steady_clock::time_point next_check_{};
  bool loaded_ = false;
};

struct ExecConfig {
  std::string api_version = "client.authentication.k8s.io/v1";
  std::string command;                                    // found on PATH unless it contains '/'
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;   // added to the inherited environment
  std::filesystem::path base_dir;                         // relative command paths resolve here (kubeconfig dir)
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
};

// Runs the plugin when no cached token is valid; a token without an
// expirationTimestamp is kept until invalidate().
class ExecTokenSource final : public TokenSource {
 public:
  explicit ExecTokenSource(ExecConfig config) : config_(std::move(config)) {}
  std::string token() override;
  void invalidate() override;

  // How many times the plugin ran (tests, metrics).
  int runs() const;

 private:
  const ExecConfig config_;
  mutable std::mutex mutex_;
  std::string token_;
  std::chrono::system_clock::time_point expiry_{};
  bool has_expiry_ = false;
  bool valid_ = false;
  int runs_ = 0;
};

// Runs argv with extra environment, returns stdout; throws kobs::Exception
// (kIo) on spawn failure, non-zero exit, or timeout (the child is killed).
std::string runCommand(const std::string& command, const std::vector<std::string>& args,
                       const std::vector<std::pair<std::string, std::string>>& env,
                       std::chrono::milliseconds timeout);

// RFC 3339 ("2024-05-01T10:00:00Z", fractions and offsets accepted) → time point.
std::chrono::system_clock::time_point parseRfc3339(std::string_view text);

}  // namespace kobs::k8s
