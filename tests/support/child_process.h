// A child process started from a test, its stdout readable through a pipe:
// for crash tests that SIGKILL a writer and restart it on the same data dir.
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <string>
#include <vector>

namespace kobs::testing {

class ChildProcess {
 public:
  // Starts args[0] with args; stdout goes to out(), stderr is inherited.
  explicit ChildProcess(const std::vector<std::string>& args);
  ~ChildProcess();  // kills (SIGKILL) and reaps a child still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  FILE* out() const { return out_; }
  // One line of the child's stdout without its newline; "" at end of stream.
  std::string readLine();
  void kill(int signal);
  // Waits for the child to end; returns the raw waitpid status.
  int wait();

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  bool reaped_ = false;
};

}  // namespace kobs::testing
