// SSE capacity benchmark (prints a table): how many concurrent
// GET /notifications clients one `kobs serve` process pinned to one core
// holds, and what each costs in resident memory.
//
// The server under test is the real kobs binary in a child process (embedded
// store in a temp data dir, short keepalive), pinned with sched_setaffinity to
// one core; its RSS and CPU come from /proc/<pid>/status and /proc/<pid>/stat.
// The load comes from G generator processes (forked from this one, pinned to
// another core), each an epoll loop over non-blocking sockets from its own
// source address 127.0.0.(2+g). They open clients in steps (1k, 5k, ...), at
// most `inflight` handshakes in flight each, and stop at the first failure.
// A client counts as connected once it has the 200 header and the
// ": connected" comment. After each step every generator resets its clients'
// flags and the bench waits until every client has seen a ": keepalive"
// comment (and, with demo=1, a pushed event): the streams are alive, not just
// accepted. RSS per connection = (RSS_N - RSS_0) / N, read after that round,
// i.e. in the steady state where every stream has written at least once.
//
// Events flowing (events=R, R > 0): kobs runs `kobs all` watching a stand-in
// Kubernetes API server in this process (tests/support FakeKubeApiServer; no
// real cluster here, and the bench measures kobs, not the API server), which
// gets R new Events per second for the whole run, each about a Pod labelled
// with a composition id: every event goes to every client as two frames
// (`krateo` and the composition's topic). The baseline is read with events
// already flowing, and a step is live once every client saw a keepalive and
// an event after it; KB/conn then includes what streaming costs per client
// (queued frames, chunks in flight), not just an idle stream.
//
// Latency (latency=S with events=R): once every step is open and live, the
// bench measures for S seconds how long each event takes from the moment the
// stand-in API server is told to create it (and notifies kobs's watch) to
// the moment each client reads its first frame: every event's message carries
// "@t=<CLOCK_MONOTONIC ns>@", the generators read the clock when the bytes
// arrive and keep a 100 us histogram per process. p50/p90/p99/max are over
// every (event, client) pair; `got` counts pairs seen, against R*S*clients
// expected. What the figure includes: the watch, the batch linger, the disk
// buffer append, the chDB insert and commit, the feed's tail query, the
// fan-out, the kernel, and the generator's own epoll loop over N sockets on
// its core.
//
// Limits: RLIMIT_NOFILE is raised to the hard limit for the bench and for
// kobs (inherited through fork/exec); kobs's own files (chDB) count against
// it, so the reachable N is a little under the hard limit.
//
// Usage: bench_sse_capacity [key=value ...]
//   steps=1000,5000,10000,15000,19000,19500,20000   cumulative client counts
//   generators=2  inflight=256  keepalive=2s  timeout=10s
//   cpu=0 (kobs) gen_cpu=1 (generators)  demo=0 (1: `kobs all --demo`, also
//   wait for a pushed event)  events=0 (R events/s flowing, see above)
//   kobs=<path of the kobs binary>  latency=0 (S seconds of latency sampling, needs events=R)
//   fsync=never (buffer.fsync for kobs in events mode)  set=key=value (extra --set for kobs; repeatable)
// Arguments starting with "--" (bench/run.sh passes Google Benchmark flags)
// are ignored.
//
// Threading: single-threaded processes throughout; the orchestrator talks to
// each generator over a pipe, one line per command and one per reply.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support/fake_kube_apiserver.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

#ifndef KOBS_BINARY
#define KOBS_BINARY "kobs"
#endif

[[noreturn]] void die(const std::string& what) {
  std::cerr << "bench_sse_capacity: " << what << std::endl;
  std::exit(1);
}

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

// CLOCK_MONOTONIC in ns: one clock for this process and the forked generators.
int64_t monoNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void pinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) die(fmt::format("sched_setaffinity({}): {}", cpu, strerror(errno)));
}

size_t raiseFdLimit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

// ---------------------------------------------------------------- generator

// One process's clients. Commands on stdin, one reply line each on stdout:
//   open <n>  -> "opened <ok> <failed> <ms> <reason>"  (stops at the first failure)
//   mark      -> "marked"   (forget which clients saw a keepalive/event)
//   seen      -> "seen <live> <keepalive> <event> <dropped>"
//   lat_reset -> "lat_reset"  (start a latency window)
//   lat       -> "lat <samples> <bin>:<count> ..."  (100 us bins of event latency since lat_reset)
//   quit      -> exits, closing every socket
class Generator {
 public:
  Generator(uint16_t port, std::string source, size_t inflight, int64_t timeout_ms)
      : port_(port), source_(std::move(source)), inflight_max_(inflight), timeout_ms_(timeout_ms) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kStdin;
    epoll_ctl(ep_, EPOLL_CTL_ADD, 0, &ev);
    request_ = fmt::format("GET /notifications HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: text/event-stream\r\n\r\n", port_);
  }

  int run() {
    std::vector<epoll_event> events(1024);
    while (!quit_) {
      if (opening_) startConnects();
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 50);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.u64 == kStdin) {
          readCommands();
          continue;
        }
        onSocket(static_cast<size_t>(events[i].data.u64), events[i].events);
      }
      if (opening_) {
        checkTimeouts();
        finishOpenIfDone();
      }
    }
    for (auto& c : clients_)
      if (c.fd >= 0) close(c.fd);
    return 0;
  }

 private:
  static constexpr uint64_t kStdin = ~uint64_t{0};
  enum class State : uint8_t { kConnecting, kHandshake, kLive, kDead };
  struct Client {
    int fd = -1;
    State state = State::kConnecting;
    bool keepalive = false;
    bool event = false;
    uint8_t carry_len = 0;
    char carry[31];  // tail of the last read, so a marker split across reads is found
    int64_t last_t = 0;  // newest latency marker seen (an event's second frame has the same)
    int64_t deadline = 0;
    std::string head;  // handshake bytes; freed once live
  };

  void reply(const std::string& line) {
    std::string l = line + "\n";
    (void)!write(1, l.data(), l.size());
  }

  void readCommands() {
    char buf[256];
    ssize_t n = read(0, buf, sizeof buf);
    if (n <= 0) {
      quit_ = true;
      return;
    }
    in_.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = in_.find('\n')) != std::string::npos) {
      std::string cmd = in_.substr(0, nl);
      in_.erase(0, nl + 1);
      handle(cmd);
    }
  }

  void handle(const std::string& cmd) {
    std::istringstream is(cmd);
    std::string verb;
    is >> verb;
    if (verb == "open") {
      size_t n = 0;
      is >> n;
      opening_ = true;
      open_target_ = clients_.size() + n;
      open_ok_ = open_failed_ = 0;
      open_reason_.clear();
      open_start_ = nowMs();
      failed_ = false;
    } else if (verb == "mark") {
      for (auto& c : clients_) c.keepalive = c.event = false;
      reply("marked");
    } else if (verb == "seen") {
      size_t live = 0, ka = 0, ev = 0;
      for (auto& c : clients_) {
        if (c.state != State::kLive) continue;
        ++live;
        ka += c.keepalive;
        ev += c.event;
      }
      reply(fmt::format("seen {} {} {} {}", live, ka, ev, dropped_));
    } else if (verb == "lat_reset") {
      lat_bins_.assign(kLatBins, 0);
      lat_samples_ = 0;
      reply("lat_reset");
    } else if (verb == "lat") {
      std::string out = fmt::format("lat {}", lat_samples_);
      for (size_t i = 0; i < lat_bins_.size(); ++i)
        if (lat_bins_[i]) out += fmt::format(" {}:{}", i, lat_bins_[i]);
      reply(out);
    } else if (verb == "quit") {
      quit_ = true;
    }
  }

  void fail(Client& c, std::string reason) {
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    c.head.clear();
    c.head.shrink_to_fit();
    if (c.state == State::kLive) {
      ++dropped_;
    } else {
      --inflight_;
      ++open_failed_;
      if (!failed_) open_reason_ = std::move(reason);
      failed_ = true;
    }
    c.state = State::kDead;
  }

  void startConnects() {
    while (!failed_ && inflight_ < inflight_max_ && clients_.size() < open_target_) {
      clients_.emplace_back();
      size_t idx = clients_.size() - 1;
      Client& c = clients_.back();
      c.deadline = nowMs() + timeout_ms_;
      ++inflight_;
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) return fail(c, fmt::format("socket:{}", errno == EMFILE ? "EMFILE" : strerror(errno)));
      c.fd = fd;
      int one = 1;
      setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sockaddr_in src{};
      src.sin_family = AF_INET;
      inet_pton(AF_INET, source_.c_str(), &src.sin_addr);
      if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0)
        return fail(c, fmt::format("bind:{}", strerror(errno)));
      sockaddr_in dst{};
      dst.sin_family = AF_INET;
      dst.sin_port = htons(port_);
      dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS)
        return fail(c, fmt::format("connect:{}", strerror(errno)));
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.u64 = idx;
      epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    }
  }

  void onSocket(size_t idx, uint32_t what) {
    Client& c = clients_[idx];
    if (c.fd < 0) return;
    if (c.state == State::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (what & (EPOLLERR | EPOLLHUP))) return fail(c, fmt::format("connect:{}", strerror(err)));
      if (send(c.fd, request_.data(), request_.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request_.size()))
        return fail(c, "send");
      c.state = State::kHandshake;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.u64 = idx;
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
      return;
    }
    for (;;) {
      ssize_t n = recv(c.fd, buf_, sizeof buf_, 0);
      if (n == 0) return fail(c, "closed by server");
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return fail(c, fmt::format("recv:{}", strerror(errno)));
      }
      onBytes(c, std::string_view(buf_, static_cast<size_t>(n)));
      if (c.state == State::kDead) return;
    }
  }

  void onBytes(Client& c, std::string_view data) {
    if (c.state == State::kHandshake) {
      c.head.append(data);
      if (c.head.size() >= 12 && c.head.compare(0, 12, "HTTP/1.1 200") != 0)
        return fail(c, "status " + c.head.substr(0, c.head.find('\r')));
      size_t at = c.head.find(": connected\n\n");
      if (at == std::string::npos) {
        if (c.head.size() > 8192) fail(c, "no ': connected' in 8 KiB");
        return;
      }
      std::string rest = c.head.substr(at + 13);
      std::string().swap(c.head);
      c.state = State::kLive;
      --inflight_;
      ++open_ok_;
      scan(c, rest);
      return;
    }
    scan(c, data);
  }

  // Looks for the keepalive comment and an event line, across read boundaries.
  void scan(Client& c, std::string_view data) {
    std::string joined(c.carry, c.carry_len);
    joined.append(data);
    if (joined.find(": keepalive") != std::string::npos) c.keepalive = true;
    if (joined.find("event: ") != std::string::npos) c.event = true;
    if (!lat_bins_.empty()) {
      const int64_t now = monoNs();
      for (size_t at = joined.find("@t="); at != std::string::npos; at = joined.find("@t=", at + 3)) {
        size_t end = joined.find('@', at + 3);
        if (end == std::string::npos) break;  // split: the carry keeps it for the next read
        const int64_t t = std::strtoll(joined.c_str() + at + 3, nullptr, 10);
        if (t <= c.last_t) continue;
        c.last_t = t;
        const int64_t bin = (now - t) / 100000;
        ++lat_bins_[static_cast<size_t>(std::clamp<int64_t>(bin, 0, kLatBins - 1))];
        ++lat_samples_;
      }
    }
    size_t keep = std::min<size_t>(sizeof c.carry, joined.size());
    std::memcpy(c.carry, joined.data() + joined.size() - keep, keep);
    c.carry_len = static_cast<uint8_t>(keep);
  }

  void checkTimeouts() {
    int64_t now = nowMs();
    for (size_t i = timeout_scan_from_; i < clients_.size(); ++i) {
      Client& c = clients_[i];
      if ((c.state == State::kConnecting || c.state == State::kHandshake) && now > c.deadline)
        fail(c, c.state == State::kConnecting ? "connect timeout" : "no ': connected' within timeout");
    }
    while (timeout_scan_from_ < clients_.size() && (clients_[timeout_scan_from_].state == State::kLive ||
                                                    clients_[timeout_scan_from_].state == State::kDead))
      ++timeout_scan_from_;
  }

  void finishOpenIfDone() {
    bool all_started = failed_ || clients_.size() >= open_target_;
    if (!all_started || inflight_ > 0) return;
    opening_ = false;
    reply(fmt::format("opened {} {} {} {}", open_ok_, open_failed_, nowMs() - open_start_,
                      open_reason_.empty() ? std::string_view("-") : std::string_view(open_reason_)));
  }

  const uint16_t port_;
  const std::string source_;
  const size_t inflight_max_;
  const int64_t timeout_ms_;
  int ep_ = -1;
  std::string request_;
  std::string in_;
  std::vector<Client> clients_;
  char buf_[16384];
  bool quit_ = false;
  bool opening_ = false;
  bool failed_ = false;
  size_t open_target_ = 0, open_ok_ = 0, open_failed_ = 0, inflight_ = 0, dropped_ = 0;
  size_t timeout_scan_from_ = 0;
  int64_t open_start_ = 0;
  std::string open_reason_;
  static constexpr int64_t kLatBins = 100000;  // 100 us each: 10 s, the last bin holds the rest
  std::vector<uint32_t> lat_bins_;               // empty: not sampling
  uint64_t lat_samples_ = 0;
};

// ------------------------------------------------------------- orchestrator

struct Options {
  std::string kobs = KOBS_BINARY;
  std::vector<size_t> steps{1000, 5000, 10000, 15000, 19000, 19500, 20000};
  size_t generators = 2;
  size_t inflight = 256;
  int64_t keepalive_ms = 2000;
  int64_t timeout_ms = 10000;
  int cpu = 0;
  int gen_cpu = 1;
  bool demo = false;
  double events = 0;  // events per second flowing through kobs (0: none)
  int64_t latency_s = 0;  // latency window after the last step (needs events)
  std::string fsync = "never";
  std::vector<std::string> sets;
  // split=1 (with events): the roles apart, as in a cluster: a central kobs
  // holding the embedded store (its :8123 with the write path on stands in
  // for a ClickHouse server), `kobs collect` watching the API server and
  // writing to it over HTTP, and the measured `kobs serve` polling it.
  bool split = false;
};

int64_t parseMs(const std::string& v) {
  size_t pos = 0;
  double x = std::stod(v, &pos);
  std::string unit = v.substr(pos);
  if (unit == "ms") return static_cast<int64_t>(x);
  if (unit == "s" || unit.empty()) return static_cast<int64_t>(x * 1000);
  die("bad duration " + v);
}

Options parseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.starts_with("--")) continue;
    auto eq = a.find('=');
    if (eq == std::string::npos) die("argument '" + a + "': expected key=value");
    std::string k = a.substr(0, eq), v = a.substr(eq + 1);
    if (k == "steps") {
      o.steps.clear();
      std::istringstream is(v);
      for (std::string s; std::getline(is, s, ',');) o.steps.push_back(std::stoul(s));
    } else if (k == "generators") o.generators = std::max<size_t>(1, std::stoul(v));
    else if (k == "inflight") o.inflight = std::max<size_t>(1, std::stoul(v));
    else if (k == "keepalive") o.keepalive_ms = parseMs(v);
    else if (k == "timeout") o.timeout_ms = parseMs(v);
    else if (k == "cpu") o.cpu = std::stoi(v);
    else if (k == "gen_cpu") o.gen_cpu = std::stoi(v);
    else if (k == "demo") o.demo = v == "1" || v == "true";
    else if (k == "events") o.events = std::stod(v);
    else if (k == "kobs") o.kobs = v;
    else if (k == "latency") o.latency_s = std::stoll(v);
    else if (k == "fsync") o.fsync = v;
    else if (k == "set") o.sets.push_back(v);
    else if (k == "split") o.split = v == "1" || v == "true";
    else die("unknown key " + k);
  }
  std::sort(o.steps.begin(), o.steps.end());
  return o;
}

struct ProcStat {
  double rss_kb = 0, anon_kb = 0, hwm_kb = 0, cpu_s = 0;
  int threads = 0;
};

ProcStat procStat(pid_t pid) {
  ProcStat s;
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(status, line);) {
    auto num = [&] { return std::stod(line.substr(line.find(':') + 1)); };
    if (line.starts_with("VmRSS:")) s.rss_kb = num();
    else if (line.starts_with("RssAnon:")) s.anon_kb = num();
    else if (line.starts_with("VmHWM:")) s.hwm_kb = num();
    else if (line.starts_with("Threads:")) s.threads = static_cast<int>(num());
  }
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close_paren = all.rfind(')');
  if (close_paren != std::string::npos) {
    std::istringstream is(all.substr(close_paren + 2));
    std::vector<std::string> f;
    for (std::string x; is >> x;) f.push_back(x);
    // After "pid (comm) ": state is field 3; utime/stime are fields 14/15.
    if (f.size() > 12) s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return s;
}

size_t openFds(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    ++n;
  return n;
}

uint16_t freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind for a free port");
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Status code of GET <path>, or 0 when nothing answered.
int httpStatus(uint16_t port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int status = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    (void)!write(fd, req.data(), req.size());
    char buf[64] = {};
    if (read(fd, buf, sizeof buf - 1) > 12) status = std::atoi(buf + 9);
  }
  close(fd);
  return status;
}

// Body of GET <path> (HTTP/1.0, read until close), or "" when nothing answered.
std::string httpGet(uint16_t port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: x\r\nConnection: close\r\n\r\n";
    (void)!write(fd, req.data(), req.size());
    char buf[65536];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  auto body = out.find("\r\n\r\n");
  return body == std::string::npos ? "" : out.substr(body + 4);
}

// A counter's value in a /metrics text (0 when absent).
double counterValue(const std::string& text, const std::string& name) {
  std::istringstream is(text);
  for (std::string line; std::getline(is, line);)
    if (line.starts_with(name + " ")) return std::stod(line.substr(line.rfind(' ') + 1));
  return 0;
}

// Sum and count of a Prometheus histogram in a /metrics text.
std::pair<double, double> histogramSumCount(const std::string& text, const std::string& name) {
  double sum = 0, count = 0;
  std::istringstream is(text);
  for (std::string line; std::getline(is, line);) {
    if (line.starts_with(name + "_sum")) sum += std::stod(line.substr(line.rfind(' ') + 1));
    else if (line.starts_with(name + "_count")) count += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return {sum, count};
}

struct Child {
  pid_t pid = -1;
  FILE* to = nullptr;
  FILE* from = nullptr;
};

Child spawnGenerator(size_t index, const Options& o, uint16_t port) {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // bounded: never outlive the bench
    pinTo(o.gen_cpu);
    Generator g(port, fmt::format("127.0.0.{}", 2 + index), o.inflight, o.timeout_ms);
    std::_Exit(g.run());
  }
  close(in[0]);
  close(out[1]);
  Child c;
  c.pid = pid;
  c.to = fdopen(in[1], "w");
  c.from = fdopen(out[0], "r");
  setvbuf(c.to, nullptr, _IOLBF, 0);
  return c;
}

void ask(Child& c, const std::string& cmd) {
  fputs((cmd + "\n").c_str(), c.to);
  fflush(c.to);
}

std::string answer(Child& c) {
  char* line = nullptr;
  size_t cap = 0;
  if (getline(&line, &cap, c.from) < 0) die("generator exited");
  std::string s(line);
  free(line);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// A kobs role's store: the central kobs's ClickHouse-compatible endpoint.
std::vector<std::string> storeArgs(uint16_t store_port) {
  return {"--set", "store.kind=clickhouse",
          "--set", fmt::format("store.clickhouse.url=http://127.0.0.1:{}", store_port),
          "--set", "store.clickhouse.user=agent", "--set", "store.clickhouse.password=s3cret",
          "--set", "store.clickhouse.auth=headers"};
}

// A process with stdout and stderr to `log`, pinned to `cpu`, ended with the bench.
pid_t spawnProcess(const std::vector<std::string>& args, const fs::path& log_path, int cpu) {
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(log, 1);
    dup2(log, 2);
    close(log);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    pinTo(cpu);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    std::fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    std::_Exit(127);
  }
  return pid;
}

// split=1: the central store and the agent. Returns their pids; `store_port`
// is the central's ClickHouse-compatible port.
std::vector<pid_t> spawnSplitRoles(const Options& o, const fs::path& dir, const std::string& kubeconfig,
                                   uint16_t store_port) {
  std::ofstream(dir / "writers") << "agent:s3cret\n";
  const std::vector<std::string> quiet{"--set", "otlp.http_listen=", "--set", "otlp.grpc_listen=", "--set",
                                       "mcp.listen=", "--set", "host_metrics.enabled=false", "--set", "log.level=warn"};
  std::vector<std::string> central{o.kobs, "all", "--data-dir", (dir / "central").string(),
                                   "--set", fmt::format("http.listen=127.0.0.1:{}", freePort()),
                                   "--set", fmt::format("serve.clickhouse_listen=127.0.0.1:{}", store_port),
                                   "--set", "serve.clickhouse_write.enabled=true",
                                   "--set", "serve.clickhouse_write.users_file=" + (dir / "writers").string(),
                                   "--set", "k8s.events.enabled=false"};
  central.insert(central.end(), quiet.begin(), quiet.end());
  std::vector<std::string> agent{o.kobs, "collect", "--data-dir", (dir / "agent").string(),
                                 "--set", "http.listen=127.0.0.1:0",
                                 "--set", "k8s.kubeconfig=" + kubeconfig, "--set", "k8s.events.namespaces=bench",
                                 "--set", "buffer.fsync=" + o.fsync};
  for (const auto& a : storeArgs(store_port)) agent.push_back(a);
  agent.insert(agent.end(), quiet.begin(), quiet.end());
  for (const auto& set : o.sets) {
    agent.push_back("--set");
    agent.push_back(set);
  }
  std::vector<pid_t> pids{spawnProcess(central, dir / "central.log", o.cpu)};
  auto by = Clock::now() + std::chrono::seconds(180);
  while (httpStatus(store_port, "/ping") != 200) {
    if (Clock::now() > by) die("central kobs not answering on :" + std::to_string(store_port) + "; see central.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  pids.push_back(spawnProcess(agent, dir / "agent.log", o.cpu));
  return pids;
}

pid_t spawnKobs(const Options& o, uint16_t port, const fs::path& dir, const std::string& kubeconfig,
                uint16_t store_port = 0) {
  std::vector<std::string> args{o.kobs,
                                (o.demo || !kubeconfig.empty()) && !o.split ? "all" : "serve",
                                "--data-dir",
                                (dir / "data").string(),
                                "--set",
                                fmt::format("http.listen=127.0.0.1:{}", port),
                                "--set",
                                "serve.clickhouse_listen=",
                                "--set",
                                "otlp.http_listen=",
                                "--set",
                                "otlp.grpc_listen=",
                                "--set",
                                "mcp.listen=",
                                "--set",
                                fmt::format("serve.sse_keepalive={}ms", o.keepalive_ms),
                                "--set",
                                "log.level=warn"};
  if (o.demo) args.push_back("--demo");
  if (o.split) {  // set=... goes to the agent (spawnSplitRoles), the role that writes
    for (const auto& a : storeArgs(store_port)) args.push_back(a);
    return spawnProcess(args, dir / "kobs.log", o.cpu);
  }
  for (const auto& set : o.sets) {
    args.push_back("--set");
    args.push_back(set);
  }
  if (!kubeconfig.empty()) {
    for (std::string set : {"k8s.kubeconfig=" + kubeconfig, std::string("k8s.events.namespaces=bench"),
                            "buffer.fsync=" + o.fsync}) {
      args.push_back("--set");
      args.push_back(set);
    }
  }
  return spawnProcess(args, dir / "kobs.log", o.cpu);
}

// Events mode: the stand-in API server and a thread creating Events at a
// steady rate until stopped.
class EventSource {
 public:
  EventSource(double rate, const fs::path& dir) : rate_(rate) {
    server_.start();
    // The involved Pod carries the composition label the resolver reads.
    server_.create("pods", {{"metadata",
                             {{"name", "web-0"}, {"namespace", "bench"}, {"uid", "pod-uid-bench"},
                              {"labels", {{"krateo.io/composition-id", "bench-composition"}}}}}});
    kubeconfig_ = (dir / "kubeconfig").string();
    std::ofstream(kubeconfig_) << fmt::format(
        "apiVersion: v1\ncurrent-context: c\nclusters: [{{name: k, cluster: {{server: \"{}\"}}}}]\n"
        "contexts: [{{name: c, context: {{cluster: k, user: u}}}}]\nusers: [{{name: u, user: {{}}}}]\n",
        server_.url());
    thread_ = std::thread([this] { run(); });
  }
  ~EventSource() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::string& kubeconfig() const { return kubeconfig_; }
  uint64_t created() const { return created_.load(); }

 private:
  void run() {
    const auto period = std::chrono::duration<double>(1.0 / rate_);
    auto next = Clock::now();
    while (!stop_) {
      next += std::chrono::duration_cast<Clock::duration>(period);
      std::this_thread::sleep_until(next);
      const uint64_t n = created_.load();
      char ts[32];
      const std::time_t now = std::time(nullptr);
      std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
      kobs::testing::FakeEventSpec e;
      e.ns = "bench";
      e.name = fmt::format("web-0.{:016x}", n);
      e.involved_name = "web-0";
      e.involved_uid = "pod-uid-bench";
      e.reason = "Pulled";
      e.message = fmt::format("Successfully pulled image \"registry.example/app:1.{}\" in 1.2s @t={}@", n, monoNs());
      e.source_component = "kubelet";
      e.source_host = "node-1";
      e.first_timestamp = e.last_timestamp = ts;
      server_.create("events", kobs::testing::makeEvent(e));
      created_.fetch_add(1);
    }
  }

  const double rate_;
  kobs::testing::FakeKubeApiServer server_;
  std::string kubeconfig_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> created_{0};
  std::thread thread_;
};

struct Liveness {
  size_t live = 0, keepalive = 0, event = 0, dropped = 0;
  double seconds = 0;
};

// Resets every client's flags, then polls until every live client saw a
// keepalive (and an event when `want_event`) or `limit_ms` passes.
Liveness waitLive(std::vector<Child>& gens, bool want_event, int64_t limit_ms) {
  for (auto& g : gens) ask(g, "mark");
  for (auto& g : gens) answer(g);
  auto start = Clock::now();
  Liveness l;
  for (;;) {
    l = {};
    for (auto& g : gens) ask(g, "seen");
    for (auto& g : gens) {
      std::istringstream is(answer(g));
      std::string verb;
      size_t live, ka, ev, dr;
      is >> verb >> live >> ka >> ev >> dr;
      l.live += live;
      l.keepalive += ka;
      l.event += ev;
      l.dropped += dr;
    }
    l.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    bool done = l.keepalive == l.live && (!want_event || l.event == l.live);
    if (done || l.seconds * 1000 > static_cast<double>(limit_ms)) return l;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int orchestrate(const Options& o) {
  size_t fd_limit = raiseFdLimit();
  if (access(o.kobs.c_str(), X_OK) != 0) die("kobs binary not found: " + o.kobs + " (pass kobs=<path>)");
  auto dir = fs::temp_directory_path() / fmt::format("kobs-sse-capacity-{}", getpid());
  fs::create_directories(dir);
  const uint16_t port = freePort();

  // Generators are forked before any thread of this process starts (the
  // events mode's API server), so each child is a clean single-threaded copy.
  std::vector<Child> gens;
  for (size_t g = 0; g < o.generators; ++g) gens.push_back(spawnGenerator(g, o, port));
  std::unique_ptr<EventSource> source;
  if (o.events > 0) source = std::make_unique<EventSource>(o.events, dir);
  const bool want_event = o.demo || source;

  std::cout << fmt::format(
                   "SSE capacity: kobs {} pinned to cpu {}, {} generator process(es) on cpu {}, {} handshakes in "
                   "flight each, keepalive {} ms; RLIMIT_NOFILE {} (bench, generators and kobs)\n",
                   o.demo ? "all --demo"
                   : source ? fmt::format("{}, {} events/s flowing", o.split ? "serve (split roles: collect -> central store <- serve)" : "all", o.events)
                            : "serve",
                   o.cpu, o.generators, o.gen_cpu, o.inflight, o.keepalive_ms,
                   fd_limit)
            << std::flush;

  if (o.split && !source) die("split=1 needs events=R");
  std::vector<pid_t> roles;
  const uint16_t store_port = o.split ? freePort() : 0;
  if (o.split) roles = spawnSplitRoles(o, dir, source->kubeconfig(), store_port);
  pid_t kobs = spawnKobs(o, port, dir, source ? source->kubeconfig() : "", store_port);
  auto ready_by = Clock::now() + std::chrono::seconds(180);
  while (httpStatus(port, "/readyz") != 200) {
    int st;
    if (waitpid(kobs, &st, WNOHANG) == kobs) die("kobs exited during start; see " + (dir / "kobs.log").string());
    if (Clock::now() > ready_by) die("kobs not ready after 180 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // The demo's scenario inserts for 30 s; let the store settle before the baseline.
  // With events flowing, settle for a while too: the baseline then includes
  // what the write path and the store hold in the steady state.
  std::this_thread::sleep_for(o.demo ? std::chrono::seconds(35) : source ? std::chrono::seconds(20) : std::chrono::seconds(3));
  ProcStat base = procStat(kobs);
  // With events flowing the process grows without any client too (the
  // store's caches and parts): measure that drift over `drift_s` with no
  // client, so a reader can tell it from what the clients cost. The
  // baseline is the second reading.
  double drift_kb_per_s = 0;
  if (source) {
    constexpr int kDriftS = 15;
    std::this_thread::sleep_for(std::chrono::seconds(kDriftS));
    const ProcStat later = procStat(kobs);
    drift_kb_per_s = (later.rss_kb - base.rss_kb) / kDriftS;
    std::cout << fmt::format("drift with no client, events flowing: {:+.1f} MiB over {} s\n",
                             (later.rss_kb - base.rss_kb) / 1024, kDriftS);
    base = later;
  }
  const auto base_time = Clock::now();
  const size_t base_fds = openFds(kobs);
  std::cout << fmt::format("baseline: kobs pid {} RSS {:.1f} MiB (anon {:.1f} MiB), {} threads, {} open fds\n\n", kobs,
                           base.rss_kb / 1024, base.anon_kb / 1024, base.threads, base_fds);

  std::cout << fmt::format("{:>8} {:>8} {:>9} {:>8} {:>8} {:>8} {:>9} {:>8} {:>9} {:>8} {:>15} {:>7}  {}\n", "target",
                           "clients", "RSS_MiB", "KB/conn", "anonKB/c", "netKB/c", "connect_s", "conn/s", "cpu_conn", "cpu_idle",
                           want_event ? "keepalive+event" : "keepalive", "live_s", "status");
  size_t connected = 0;
  size_t best = 0;
  std::string stop_reason;
  for (size_t target : o.steps) {
    if (target <= connected) continue;
    size_t want = target - connected;
    const ProcStat before = procStat(kobs);
    auto t0 = Clock::now();
    for (size_t g = 0; g < gens.size(); ++g) {
      size_t share = want / gens.size() + (g < want % gens.size() ? 1 : 0);
      ask(gens[g], fmt::format("open {}", share));
    }
    size_t ok = 0, failed = 0;
    std::string reason;
    for (auto& g : gens) {
      std::istringstream is(answer(g));
      std::string verb, why;
      size_t k, f;
      int64_t ms;
      is >> verb >> k >> f >> ms;
      std::getline(is, why);
      ok += k;
      failed += f;
      if (f && reason.empty()) reason = why.empty() ? "?" : why.substr(1);
    }
    double connect_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const ProcStat after_connect = procStat(kobs);
    connected += ok;

    // Liveness round: every stream writes a keepalive (and the demo an event).
    int64_t limit = want_event ? std::max<int64_t>(45000, 3 * o.keepalive_ms + 5000) : 3 * o.keepalive_ms + 10000;
    Liveness live = waitLive(gens, want_event, limit);
    const ProcStat idle_end = procStat(kobs);
    connected = live.live;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const ProcStat s = procStat(kobs);
    double per = connected ? (s.rss_kb - base.rss_kb) / static_cast<double>(connected) : 0;
    double per_anon = connected ? (s.anon_kb - base.anon_kb) / static_cast<double>(connected) : 0;
    const double drift_kb = drift_kb_per_s * std::chrono::duration<double>(Clock::now() - base_time).count();
    double per_net = connected ? (s.rss_kb - base.rss_kb - drift_kb) / static_cast<double>(connected) : 0;
    std::string status = failed ? fmt::format("stopped at first failure: {} ({} failed)", reason, failed) : "ok";
    bool all_live = live.keepalive == live.live && (!want_event || live.event == live.live);
    if (!all_live) status += fmt::format("; NOT all live: {} dropped", live.dropped);
    std::cout << fmt::format("{:>8} {:>8} {:>9.1f} {:>8.2f} {:>8.2f} {:>8.2f} {:>9.2f} {:>8.0f} {:>9.2f} {:>8.2f} {:>15} {:>7.1f}  {}\n",
                             target, connected, s.rss_kb / 1024, per, per_anon, per_net, connect_s,
                             connect_s > 0 ? static_cast<double>(ok) / connect_s : 0,
                             after_connect.cpu_s - before.cpu_s, idle_end.cpu_s - after_connect.cpu_s,
                             want_event ? fmt::format("{}+{}/{}", live.keepalive, live.event, live.live)
                                    : fmt::format("{}/{}", live.keepalive, live.live),
                             live.seconds, status)
              << std::flush;
    if (all_live) best = std::max(best, connected);
    if (failed || !all_live) {
      stop_reason = status;
      break;
    }
  }
  if (source && o.latency_s > 0 && best > 0) {
    for (auto& g : gens) ask(g, "lat_reset");
    for (auto& g : gens) answer(g);
    const uint64_t created0 = source->created();
    const std::string m0 = httpGet(port, "/metrics");
    const auto ins0 = histogramSumCount(m0, "kobs_store_insert_duration_seconds");
    const ProcStat cpu0 = procStat(kobs);
    std::this_thread::sleep_for(std::chrono::seconds(o.latency_s));
    const uint64_t created = source->created() - created0;
    const std::string m1 = httpGet(port, "/metrics");
    const auto ins1 = histogramSumCount(m1, "kobs_store_insert_duration_seconds");
    // Which path the events took: published when durable (ahead of the
    // store) or by the feed's tail query after the insert.
    auto delta = [&](const char* name) { return counterValue(m1, name) - counterValue(m0, name); };
    const double published = delta("kobs_events_feed_published_total"),
                 published_local = delta("kobs_events_feed_published_local_total");
    const ProcStat cpu1 = procStat(kobs);
    std::this_thread::sleep_for(std::chrono::seconds(2));  // the last events of the window arrive
    std::vector<uint64_t> bins(100000, 0);
    uint64_t samples = 0;
    for (auto& g : gens) {
      ask(g, "lat");
      std::istringstream is(answer(g));
      std::string verb, pair;
      uint64_t n = 0;
      is >> verb >> n;
      samples += n;
      while (is >> pair) {
        auto colon = pair.find(':');
        bins[std::stoul(pair.substr(0, colon))] += std::stoull(pair.substr(colon + 1));
      }
    }
    auto pct = [&](double q) {
      const uint64_t want = static_cast<uint64_t>(std::ceil(q * static_cast<double>(samples)));
      uint64_t acc = 0;
      for (size_t i = 0; i < bins.size(); ++i)
        if ((acc += bins[i]) >= std::max<uint64_t>(want, 1)) return (static_cast<double>(i) + 1) / 10.0;
      return 0.0;
    };
    double max_ms = 0;
    for (size_t i = bins.size(); i-- > 0;)
      if (bins[i]) {
        max_ms = (static_cast<double>(i) + 1) / 10.0;
        break;
      }
    std::cout << fmt::format(
        "\nlatency, API server notification -> first frame at the client, {} clients, {} events/s, {} s window:\n"
        "  events created {}, (event, client) pairs expected ~{}, got {}\n"
        "  p50 {:.1f} ms  p90 {:.1f} ms  p99 {:.1f} ms  max {:.1f} ms (100 us bins; upper edge)\n",
        best, o.events, o.latency_s, created, created * best, samples, pct(0.50), pct(0.90), pct(0.99), max_ms);
    const double inserts = ins1.second - ins0.second;
    std::cout << fmt::format("  in the window: {} inserts, mean insert {:.1f} ms; kobs CPU {:.2f} s of {} s\n", inserts,
                             inserts > 0 ? 1000 * (ins1.first - ins0.first) / inserts : 0.0, cpu1.cpu_s - cpu0.cpu_s,
                             o.latency_s);
    std::cout << fmt::format("  events published in the window: {}, of them when durable (ahead of the store) {}\n",
                             published, published_local);
  }
  const ProcStat end = procStat(kobs);
  std::cout << fmt::format(
      "\nmax concurrent SSE clients, all live: {}   kobs open fds {} (baseline {}), limit {}; VmHWM {:.1f} MiB; "
      "threads {}\n",
      best, openFds(kobs), base_fds, fd_limit, end.hwm_kb / 1024, end.threads);
  if (!stop_reason.empty()) std::cout << "stopped: " << stop_reason << "\n";
  std::cout << "columns: KB/conn = (VmRSS_N - VmRSS_0)/N after the liveness round; anonKB/c the same on RssAnon;\n"
               "  netKB/c = KB/conn less the no-client drift measured before (events mode; else = KB/conn);\n"
               "  cpu_conn = kobs CPU seconds while connecting the step; cpu_idle = during the liveness round;\n"
               "  live_s = time until every client had the keepalive" + std::string(want_event ? " and an event" : "") +
                   ". Kernel socket buffers are not in RSS.\n";

  if (source)
    std::cout << fmt::format("events created in the API server during the run: {}\n", source->created());
  for (auto& g : gens) ask(g, "quit");
  for (auto& g : gens) waitpid(g.pid, nullptr, 0);
  kill(kobs, SIGTERM);
  int st = 0;
  auto term_by = Clock::now() + std::chrono::seconds(20);
  while (waitpid(kobs, &st, WNOHANG) == 0) {
    if (Clock::now() > term_by) {
      kill(kobs, SIGKILL);
      waitpid(kobs, &st, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (pid_t r : roles) {
    kill(r, SIGTERM);
    waitpid(r, &st, 0);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return best > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  return orchestrate(parseArgs(argc, argv));
}
