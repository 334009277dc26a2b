#include "collect/pod_logs/pod_logs_receiver.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <tuple>
#include <set>
#include <unordered_set>

#include "collect/pod_logs/line_parser.h"
#include "collect/pod_logs/pod_path.h"
#include "collect/pod_logs/severity.h"
#include "common/error.h"
#include "common/logging.h"

namespace kobs::collect::pod_logs {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct RecoveryKey {
  int64_t time_ns;
  uint64_t length;
  uint32_t crc;
  bool operator==(const RecoveryKey&) const = default;
};
struct RecoveryKeyHash {
  size_t operator()(const RecoveryKey& k) const {
    return std::hash<int64_t>()(k.time_ns) ^ (k.length * 0x9E3779B97F4A7C15ull) ^ (uint64_t(k.crc) << 17);
  }
};

std::vector<std::string> globPaths(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  return out;
}

// The time of the first line of the file open as `fd` (its first 4 KiB).
std::optional<int64_t> firstLineTimeIn(std::string_view head) {
  const size_t nl = head.find('\n');
  if (nl == std::string_view::npos) return std::nullopt;
  std::string_view line = head.substr(0, nl);
  LineParser parser;
  ParsedLine p;
  std::string_view error;
  if (!parser.parse(detectFormat(line), line, p, error)) return std::nullopt;
  return p.time_ns;
}

std::optional<int64_t> firstLineTime(int fd) {
  char buf[4096];
  ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  if (n <= 0) return std::nullopt;
  return firstLineTimeIn(std::string_view(buf, size_t(n)));
}

}  // namespace

// A file in `dir` whose first fp_len bytes hash to fp and that holds at
// least min_size bytes, not already followed: the copy logrotate's
// copytruncate made before truncating. Opened, so a compressor deleting it
// right after cannot take it away.
std::optional<PodLogsReceiver::Copy> PodLogsReceiver::findCopy(const fs::path& dir, uint32_t fp_len, uint64_t fp,
                                                               uint64_t min_size) {
  if (fp_len == 0) return std::nullopt;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    struct stat st{};
    if (::stat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (uint64_t(st.st_size) < std::max<uint64_t>(min_size, fp_len)) continue;
    if (files_.count({uint64_t(st.st_dev), uint64_t(st.st_ino)})) continue;
    int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    if (headMatches(fd, fp_len, fp)) {
      struct stat fst{};
      if (::fstat(fd, &fst) == 0) return Copy{entry.path().string(), fd, fst};
    }
    ::close(fd);
  }
  return std::nullopt;
}

bool PodLogsReceiver::headMatches(int fd, uint32_t fp_len, uint64_t fp) {
  if (fp_len == 0) return false;
  std::string head(fp_len, '\0');
  return ::pread(fd, head.data(), fp_len, 0) == ssize_t(fp_len) && fingerprintHash(head) == fp;
}

struct PodLogsReceiver::RecoverySet {
  std::unordered_map<RecoveryKey, int, RecoveryKeyHash> rows;
};

PodLogsReceiver::Copy::~Copy() {
  if (fd >= 0) ::close(fd);
}

struct PodLogsReceiver::CommitState {
  std::mutex mutex;
  uint64_t generation = 0;
  uint64_t committed = 0;     // resumable offset the store has everything before
  int64_t last_time_ns = 0;   // Timestamp of the newest committed row
  std::atomic<int> in_flight{0};
};

struct PodLogsReceiver::File {
  std::string path;  // as discovered: log.file.path, and the path metadata
  uint64_t dev = 0;
  uint64_t ino = 0;
  int fd = -1;
  LogFormat format = LogFormat::kUnknown;
  LineParser parser;
  Recombiner recombiner;
  std::unique_ptr<MultilineCombiner> multiline;  // its container has a pod_logs.multiline rule
  uint64_t read_offset = 0;   // next byte to read
  std::string carry;          // an incomplete line, ending at read_offset
  uint64_t record_start = 0;  // where the pending (partial) record began
  uint64_t resumable = 0;     // everything before it is parsed into records
  bool skip_to_newline = false;
  // A raw line longer than the carry bound (CRI): its header, kept while its
  // remaining bytes are fed as pieces.
  bool overlong = false;
  int64_t overlong_time_ns = 0;
  std::string overlong_time_text;
  Stream overlong_stream = Stream::kStdout;
  uint32_t fp_len = 0;  // == head.size()
  uint64_t fp = 0;      // fingerprintHash(head)
  // The file's first bytes (up to fingerprint_size), kept to compare with
  // any shorter prefix: a file truncated and rewritten to fewer bytes than
  // the fingerprint is told from one that only grew (a hash of fp_len bytes
  // cannot tell, and the rewritten generation would be read as the old one).
  std::string head;
  bool draining = false;
  bool closed = false;
  bool dirty = true;
  bool more = false;  // the last round stopped at its budget
  bool severity = false;  // its container matches pod_logs.severity
  bool takeover_pending = false;  // truncated; its reading moves to the copy found (see takeOver)
  Clock::time_point last_data = Clock::now();
  uint64_t size = 0;
  uint64_t generation = 0;
  std::shared_ptr<CommitState> commit = std::make_shared<CommitState>();
  std::shared_ptr<const pipeline::Resource> resource;
  // The chunk being built, or refused by the pipeline and kept.
  std::vector<pipeline::LogRecord> held;
  uint64_t held_resumable = 0;
  int64_t held_last_time = 0;
  uint64_t held_generation = 0;
  bool blocked = false;
  uint64_t shipped_resumable = 0;
  int64_t last_time_ns = 0;
  int64_t seen_ns = 0;  // wall time first opened (kept across restarts in the checkpoint)
  int64_t opened_ns = 0;  // wall time this process opened it
  int64_t chunk_observed = 0;
  // Rows the store had at start (after a restart), as (Timestamp, length,
  // CRC32): re-read records matching one are skipped. Shared by the copies
  // of one path found at a restart (one store query for all of them).
  std::shared_ptr<RecoverySet> already_stored;
  bool probe_recovery = false;
  int64_t recovery_after = -1;  // at start: rows newer than this are looked up (runRecoveryQueries)
  std::string pod_uid;                       // from the path
  std::shared_ptr<const PodInfo> pod;        // from the pod watch, when known
  bool meta_wait = false;                    // not read until the pod is known or metadata_wait passed
  Clock::time_point discovered = Clock::now();  // not in the checkpoint at a restart: its rows may be in the store already

  explicit File(size_t max_log_size) : recombiner(max_log_size) {}
  // Memory held for its lines (capacities: a buffer outlives the record
  // that grew it, until trimBuffers).
  size_t heldBytes() const {
    size_t n = carry.capacity() + head.capacity() + overlong_time_text.capacity() + recombiner.heldBytes() +
               held.capacity() * sizeof(pipeline::LogRecord);
    if (multiline) n += multiline->heldBytes();
    for (const auto& r : held)
      if (const auto* body = std::get_if<std::string>(&r.body.value)) n += body->capacity();
    return n;
  }
  // Buffers a long line grew are given back once the file is read to its
  // end with nothing open: thousands of idle files must not each keep a
  // line's worth of memory (a 1 MiB record would otherwise stay per file).
  void trimBuffers() {
    constexpr size_t kKeep = 64u << 10;  // what ordinary lines need: kept, no reallocation per round
    if (carry.empty() && carry.capacity() > kKeep) std::string().swap(carry);
    recombiner.trim(kKeep);
    if (multiline) multiline->trim(kKeep);
    if (held.empty() && held.capacity() > 64) std::vector<pipeline::LogRecord>().swap(held);
  }
  ~File() {
    if (fd >= 0) ::close(fd);
  }
};

PodLogsReceiver::PodLogsReceiver(PodLogsOptions options, pipeline::Pipeline& pipeline, store::IStore& store,
                                 metrics::Registry* metrics)
    : options_(std::move(options)), pipeline_(pipeline), store_(store) {
  if (!options_.clock)
    options_.clock = [] {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  auto scope = std::make_shared<pipeline::Scope>();
  scope->name = "kobs/pod_logs";
  scope_ = std::move(scope);
  checkpoint_file_ = options_.state_dir / "checkpoint.json";
  read_buf_.resize(options_.read_chunk);
  if (options_.metadata.cluster && !options_.metadata.node_name.empty())
    metadata_ = std::make_unique<PodMetadata>(options_.metadata);
  multiline_ = MultilineRules(options_.multiline, options_.max_log_size);
  if (auto slash = options_.exclude_pod.find('/'); slash != std::string::npos)
    excluded_pod_dir_ = options_.exclude_pod.substr(0, slash) + "_" + options_.exclude_pod.substr(slash + 1) + "_";
  if (metrics) registerMetrics(*metrics);
}

PodLogsReceiver::~PodLogsReceiver() { shutdown(Clock::now() + std::chrono::seconds(5)); }

int64_t PodLogsReceiver::now() const { return options_.clock(); }

void PodLogsReceiver::start() {
  std::lock_guard lock(lifecycle_mutex_);
  if (started_ || shut_down_) return;
  started_ = true;
  fs::create_directories(options_.state_dir);
  try {
    auto cp = loadCheckpoint(checkpoint_file_);
    if (cp) {
      had_checkpoint_ = true;
      for (auto& f : cp->files) restored_[{f.dev, f.ino}] = f;
    }
  } catch (const Exception& e) {
    auto aside = checkpoint_file_;
    aside += ".corrupt";
    std::error_code ec;
    fs::rename(checkpoint_file_, aside, ec);
    logging::get("pod_logs")->error("{}; set aside as {}, starting as on a first start", e.what(), aside.string());
  }
  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0)
    logging::get("pod_logs")->warn("inotify unavailable ({}); discovery and reads by polling only", std::strerror(errno));
  if (metadata_) metadata_->start();
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void PodLogsReceiver::shutdown(std::chrono::steady_clock::time_point) {
  std::lock_guard lock(lifecycle_mutex_);
  if (shut_down_) return;
  shut_down_ = true;
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
    persistCheckpoint(true);
  }
  if (metadata_) metadata_->stop();
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  inotify_fd_ = -1;
}

void PodLogsReceiver::run(std::stop_token stop) {
  auto log = logging::get("pod_logs");
  if (had_checkpoint_ && !recover(stop)) return;
  setupWatches();
  recovery_batch_ = had_checkpoint_;
  scan(true);
  takeOver();
  runRecoveryQueries();
  // Before anything is read: a crash from here on is a restart, not a first
  // start (whose files would be read again with no lookup of what the store
  // has, and whose copytruncate generations would not be looked for).
  persistCheckpoint(true);
  ready_ = true;
  while (!stop.stop_requested()) {
    bool read_all = inotify_fd_ < 0;
    // More to read at once: no wait. Files drained, refused by a full
    // buffer or waiting for their pod: poll_interval. Otherwise inotify
    // wakes the loop; the timeout only paces checkpoints and the scan.
    bool busy = false, waiting = false;
    for (auto& [k, f] : files_) {
      busy = busy || f->more;
      waiting = waiting || f->blocked || (f->draining && !f->closed) || f->meta_wait || (f->closed) ||
                (f->multiline && f->multiline->pending());
    }
    if (inotify_fd_ >= 0) {
      pollfd p{inotify_fd_, POLLIN, 0};
      const auto idle_wait = std::max(options_.poll_interval, options_.checkpoint_interval);
      int timeout = busy ? 0 : int((waiting ? options_.poll_interval : idle_wait).count());
      int r = ::poll(&p, 1, timeout);
      // Let a burst of writes land before reading: fewer, larger reads.
      if (r > 0 && !busy) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } else {
      std::this_thread::sleep_for(options_.poll_interval);
    }
    caught_up_ = false;
    std::vector<std::string> dirty;
    bool need_scan = drainInotify(dirty);
    for (const auto& p : dirty) {
      auto it = by_path_.find(p);
      if (it != by_path_.end()) it->second->dirty = true;
    }
    auto t = Clock::now();
    // Without inotify the scan is also how new files are found.
    const auto scan_every =
        inotify_fd_ >= 0 ? options_.scan_interval : std::min<std::chrono::milliseconds>(options_.scan_interval, std::chrono::seconds(10));
    if (need_scan || t - last_scan_ >= scan_every) {
      // New directories announce themselves (IN_CREATE on their parent).
      if (need_scan) setupWatches();
      scan(false);  // marks the files whose size moved
    }
    uint64_t lag = 0, lag_max = 0, buffered = read_buf_.capacity();
    std::array<uint64_t, 4> lag_files{};
    for (auto& [k, f] : files_) {
      if (stop.stop_requested()) break;
      if (f->closed) continue;
      if (f->meta_wait) {
        refreshMetadata(*f, Clock::now() - f->discovered >= options_.metadata_wait);
        if (f->meta_wait) continue;
        f->dirty = true;
      } else if (read_all && metadata_ && !f->pod_uid.empty()) {
        refreshMetadata(*f, false);  // labels changed, or the pod became known late
      }
      if (read_all || f->dirty || f->draining || f->blocked || f->more) readFile(*f);
      if (f->multiline && f->multiline->pending() && !f->blocked && !f->more) flushMultiline(*f, false);
      if (f->multiline && !f->held.empty() && !f->blocked) ship(*f);  // flushed at a truncation
      // Counted before trimming: the round's high-water mark.
      buffered += f->heldBytes();
      if (!f->more && !f->blocked) f->trimBuffers();
      const uint64_t file_lag = f->size > f->read_offset ? f->size - f->read_offset : 0;
      lag += file_lag;
      lag_max = std::max(lag_max, file_lag);
      if (file_lag > 0) {
        size_t bucket = 0;
        while (bucket < std::size(kLagBounds) && file_lag >= kLagBounds[bucket]) ++bucket;
        ++lag_files[bucket];
      }
    }
    lag_bytes_ = lag;
    lag_max_ = lag_max;
    buffered_bytes_ = buffered;
    if (buffered > buffered_max_) buffered_max_ = buffered;
    for (size_t i = 0; i < lag_files.size(); ++i) lag_files_[i] = lag_files[i];
    takeOver();
    recovery_cache_.clear();  // only the start's files share sets
    bool held = false;
    for (auto& [k, f] : files_)
      held = held || f->more || f->blocked || f->dirty || (f->multiline && f->multiline->pending());
    caught_up_ = lag == 0 && !held && takeovers_.empty();
    closeDrained(Clock::now());
    persistCheckpoint(false);
  }
}

// Waits until every batch the disk buffer held at start is committed, then
// nothing replayed can land after the recovery queries.
bool PodLogsReceiver::recover(std::stop_token& stop) {
  auto& buffer = pipeline_.buffer();
  const uint64_t target = buffer.committedSeq() + buffer.pendingBatches();
  while (buffer.committedSeq() < target) {
    if (stop.stop_requested()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Rows of any file in the same directory (one container's logs): a file
// rotated by rename may have been stored under its earlier name. A record
// matches only with the same Timestamp, length and CRC32 of its body.
void PodLogsReceiver::loadRecoverySet(File& f, int64_t after_ns) {
  if (recovery_batch_) {
    // During the start's scan: one query per directory once it is done.
    f.recovery_after = f.recovery_after < 0 ? after_ns : std::min(f.recovery_after, after_ns);
    return;
  }
  const std::string dir = fs::path(f.path).parent_path().string() + "/";
  if (auto c = recovery_cache_.find({dir, after_ns}); c != recovery_cache_.end()) {
    f.already_stored = c->second;
    return;
  }
  f.already_stored = queryRecoverySet(dir, after_ns, f.path);
  recovery_cache_[{dir, after_ns}] = f.already_stored;
}

// At start, the files of one directory (a container's files: the file, its
// copies, its rotated names) share one query and one set, from the oldest
// bound any of them needs: each stored row matches in the one file it came
// from (a record matches only with its Timestamp, length and CRC32), and a
// file's re-read records are all newer than its own bound. One query per
// file made a restart among hundreds of rotated files take minutes on a
// loaded node, reading nothing new meanwhile.
void PodLogsReceiver::runRecoveryQueries() {
  recovery_batch_ = false;
  std::map<std::string, std::pair<int64_t, std::vector<File*>>> by_dir;
  for (auto& [key, f] : files_) {
    if (f->recovery_after < 0) continue;
    auto& [after, files] = by_dir.try_emplace(fs::path(f->path).parent_path().string() + "/",
                                              std::numeric_limits<int64_t>::max(), std::vector<File*>{})
                               .first->second;
    after = std::min(after, f->recovery_after);
    files.push_back(f.get());
    f->recovery_after = -1;
  }
  for (auto& [dir, v] : by_dir) {
    auto set = queryRecoverySet(dir, v.first, dir);
    for (File* f : v.second) f->already_stored = set;
  }
}

std::shared_ptr<PodLogsReceiver::RecoverySet> PodLogsReceiver::queryRecoverySet(const std::string& dir, int64_t after_ns,
                                                                              const std::string& what) {
  ++stats_.recovery_queries;
  auto set = std::make_shared<RecoverySet>();
  const std::string sql = fmt::format(
      "SELECT toUnixTimestamp64Nano(Timestamp), length(Body), CRC32(Body) FROM {}.{} "
      "WHERE startsWith(LogAttributes['log.file.path'], {}) AND Timestamp > fromUnixTimestamp64Nano(toInt64({}))",
      store::quoteIdentifier(store_.database()), store::quoteIdentifier(pipeline_.logs().encoder().table()),
      store::quoteString(dir), after_ns);
  try {
    auto r = store_.query(sql, "TabSeparated");
    size_t pos = 0;
    const std::string& d = r.data;
    while (pos < d.size()) {
      size_t nl = d.find('\n', pos);
      if (nl == std::string::npos) nl = d.size();
      std::string_view row(d.data() + pos, nl - pos);
      pos = nl + 1;
      auto t1 = row.find('\t');
      auto t2 = row.find('\t', t1 + 1);
      if (t1 == std::string_view::npos || t2 == std::string_view::npos) continue;
      RecoveryKey k{std::stoll(std::string(row.substr(0, t1))), std::stoull(std::string(row.substr(t1 + 1, t2 - t1 - 1))),
                    uint32_t(std::stoul(std::string(row.substr(t2 + 1))))};
      ++set->rows[k];
    }
  } catch (const std::exception& e) {
    ++stats_.checkpoint_errors;
    logging::get("pod_logs")->error("recovery query for {} failed ({}); its records after the checkpoint may be stored twice",
                                    what, e.what());
  }
  return set;
}

// The rows the store has of a file that is not in the checkpoint: those at
// or after its first line's time.
void PodLogsReceiver::probeRecovery(File& f) {
  f.probe_recovery = false;
  std::string head(std::min<uint64_t>(f.size, 64u << 10), '\0');
  ssize_t n = ::pread(f.fd, head.data(), head.size(), 0);
  if (n <= 0) return;
  head.resize(size_t(n));
  auto nl = head.find('\n');
  if (nl == std::string::npos) return;
  std::string_view line(head.data(), nl);
  LineParser parser;
  ParsedLine p;
  std::string_view error;
  if (!parser.parse(detectFormat(line), line, p, error)) return;
  loadRecoverySet(f, p.time_ns - 1);
}

void PodLogsReceiver::setupWatches() {
  if (inotify_fd_ < 0) return;
  // Every directory the include globs walk through, down to the files' own.
  for (const auto& pattern : options_.include) {
    fs::path p(pattern);
    std::vector<std::string> parts;
    for (const auto& c : p) parts.push_back(c.string());
    // Directories above the deepest literal one are not watched: their
    // other children (/var/log's, /tmp's) would trigger scans for nothing.
    size_t first_wild = parts.size() - 1;
    for (size_t i = 0; i < parts.size(); ++i)
      if (parts[i].find_first_of("*?[") != std::string::npos) {
        first_wild = i;
        break;
      }
    std::string prefix;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      if (i == 0) prefix = parts[0];
      else prefix = (fs::path(prefix) / parts[i]).string();
      if (i + 1 < first_wild) continue;
      const bool leaf = i + 2 == parts.size();
      for (const auto& dir : globPaths(prefix)) {
        if (dir_watches_.count(dir)) continue;
        uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_ONLYDIR;
        if (leaf) mask |= IN_MODIFY;
        int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(), mask);
        if (wd < 0) continue;
        watch_dirs_[wd] = dir;
        dir_watches_[dir] = wd;
      }
    }
  }
}

bool PodLogsReceiver::drainInotify(std::vector<std::string>& dirty) {
  if (inotify_fd_ < 0) return false;
  bool need_scan = false;
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
    if (n <= 0) break;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        need_scan = true;
        continue;
      }
      auto it = watch_dirs_.find(ev->wd);
      if (ev->mask & IN_IGNORED) {
        if (it != watch_dirs_.end()) {
          dir_watches_.erase(it->second);
          watch_dirs_.erase(it);
        }
        continue;
      }
      if (it == watch_dirs_.end()) continue;
      if (ev->mask & (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF)) need_scan = true;
      if ((ev->mask & IN_MODIFY) && ev->len > 0) dirty.push_back(it->second + "/" + ev->name);
    }
  }
  return need_scan;
}

bool PodLogsReceiver::included(const std::string& path) const {
  if (excluded(path)) return false;
  for (const auto& g : options_.include)
    if (::fnmatch(g.c_str(), path.c_str(), FNM_PATHNAME) == 0) return true;
  return false;
}

bool PodLogsReceiver::excluded(const std::string& path) const {
  for (const auto& e : options_.exclude)
    if (::fnmatch(e.c_str(), path.c_str(), FNM_PATHNAME) == 0) return true;
  if (!excluded_pod_dir_.empty()) {
    // <root>/<ns>_<pod>_<uid>/<container>/<file>: any file of the pod,
    // rotated names too (namespaces and pod names hold no '_').
    std::string_view p = path;
    for (int i = 0; i < 2 && !p.empty(); ++i) p = p.substr(0, std::min(p.size(), p.rfind('/')));
    const auto slash = p.rfind('/');
    if (p.substr(slash == std::string_view::npos ? 0 : slash + 1).starts_with(excluded_pod_dir_)) return true;
  }
  return false;
}

void PodLogsReceiver::scan(bool first) {
  ++stats_.scans;
  last_scan_ = Clock::now();
  std::set<std::pair<uint64_t, uint64_t>> seen;
  std::unordered_set<std::string> seen_paths;
  for (const auto& pattern : options_.include) {
    for (auto& path : globPaths(pattern)) {
      struct stat lst{};
      if (::lstat(path.c_str(), &lst) != 0) continue;
      if (S_ISLNK(lst.st_mode)) {
        // /var/log/containers links: the target carries the pod's path.
        std::error_code ec;
        auto target = fs::canonical(path, ec);
        if (ec) continue;
        path = target.string();
      }
      if (excluded(path) || !seen_paths.insert(path).second) continue;
      struct stat st{};
      if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      std::pair<uint64_t, uint64_t> key{uint64_t(st.st_dev), uint64_t(st.st_ino)};
      seen.insert(key);
      auto it = files_.find(key);
      if (it != files_.end() && !it->second->closed) {
        File& f = *it->second;
        f.size = uint64_t(st.st_size);
        if (f.draining) {
          // Back under an included name (renamed back, or rotated onto a matched name).
          f.draining = false;
        }
        if (f.path != path) by_path_.erase(f.path);
        by_path_[path] = &f;
        // Only a file whose size moved is looked at again (its first bytes
        // too): idle files cost one stat per scan.
        if (uint64_t(st.st_size) != f.read_offset) {
          f.dirty = true;
          checkTruncation(f, st);
        }
        continue;
      }
      if (it != files_.end()) files_.erase(it);  // closed, waiting for commits: a reused inode
      // Another inode under a known path: the old one was rotated away.
      auto old = by_path_.find(path);
      if (old != by_path_.end()) {
        old->second->draining = true;
        logging::get("pod_logs")->debug("{} ino={} rotated away (path now ino={})", path, old->second->ino, uint64_t(st.st_ino));
        ++stats_.rotations;
        by_path_.erase(old);
      }
      openFile(path, st, first);
    }
  }
  for (auto& [key, f] : files_) {
    if (f->closed || f->draining || seen.count(key)) continue;
    f->draining = true;  // renamed outside the globs, or deleted
    logging::get("pod_logs")->debug("{} ino={} gone from the globs", f->path, f->ino);
    ++stats_.rotations;
    if (auto it = by_path_.find(f->path); it != by_path_.end() && it->second == f.get()) by_path_.erase(it);
  }
  if (first) {
    // Checkpointed files no longer under an included name: look for them,
    // renamed, next to where they were (rotation while kobs was down).
    auto unmatched = std::move(restored_);
    restored_.clear();
    for (auto& [key, cp] : unmatched) {
      if (files_.count(key)) continue;
      std::error_code ec;
      bool found = false;
      for (const auto& entry : fs::directory_iterator(fs::path(cp.path).parent_path(), ec)) {
        struct stat st{};
        if (::stat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (uint64_t(st.st_dev) != cp.dev || uint64_t(st.st_ino) != cp.ino) continue;
        int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
        found = fd >= 0 && headMatches(fd, cp.fp_len, cp.fp);  // else a reused inode, not ours
        if (fd >= 0) ::close(fd);
        if (!found) break;
        const std::string open_path = entry.path().string();
        restored_[key] = cp;
        openFile(cp.path, st, true, /*active=*/false, &open_path);  // keeps the path its rows were stored under
        restored_.clear();
        break;
      }
      // Gone (copied and removed, or truncated and replaced): its copy.
      if (!found && cp.fp_len > 0 && recoverFromCopy(cp)) {
        ++stats_.truncations;
        findMissedGenerations(cp.path, std::max(cp.last_time_ns, cp.seen_ns), /*after_restart=*/true);
      }
    }
  }
  files_watched_ = files_.size();
}

void PodLogsReceiver::openFile(const std::string& path, const struct stat& st, bool first_scan, bool active,
                               const std::string* open_path) {
  int fd = ::open((open_path ? *open_path : path).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ++stats_.open_errors;
    return;
  }
  struct stat fst{};
  if (::fstat(fd, &fst) != 0 || fst.st_ino != st.st_ino || fst.st_dev != st.st_dev) {
    ::close(fd);  // replaced between stat and open: the next scan sees the new one
    return;
  }
  auto f = std::make_unique<File>(options_.max_log_size);
  f->path = path;
  f->dev = uint64_t(st.st_dev);
  f->ino = uint64_t(st.st_ino);
  f->fd = fd;
  f->size = uint64_t(fst.st_size);
  f->seen_ns = f->opened_ns = now();
  std::optional<FileCheckpoint> cp, truncated_cp;
  if (auto it = restored_.find({f->dev, f->ino}); it != restored_.end()) {
    // Same inode; the same file only if its first bytes hash the same.
    if (headMatches(fd, it->second.fp_len, it->second.fp)) cp = it->second;
    else truncated_cp = it->second;  // truncated while kobs was down (or empty when checkpointed: fp_len 0)
    restored_.erase(it);
  }
  if (cp && cp->seen_ns > 0) f->seen_ns = cp->seen_ns;
  if (truncated_cp && truncated_cp->seen_ns > 0) f->seen_ns = truncated_cp->seen_ns;
  if (cp) {
    f->path = cp->path;
    f->read_offset = f->resumable = f->record_start = f->shipped_resumable = cp->offset;
    f->commit->committed = cp->offset;
    f->commit->last_time_ns = f->last_time_ns = cp->last_time_ns;
    f->fp_len = cp->fp_len;
    f->fp = cp->fp;
    f->head.resize(cp->fp_len);
    if (::pread(fd, f->head.data(), f->head.size(), 0) != ssize_t(f->head.size())) f->head.clear();  // matched just above
    if (cp->offset > f->size) f->read_offset = f->size + 1;  // checkTruncation below restarts it from 0
    // Nothing after the offset: nothing read past it before the crash.
    if (f->size != cp->offset) loadRecoverySet(*f, cp->last_time_ns);
  } else if (first_scan && had_checkpoint_) {
    // Read from 0, but it may have been read after the last checkpoint write
    // before a crash: the rows the store has from its first line's time on
    // are looked up.
    // (Empty: nothing of it can have been read.)
    if (f->size > 0) {
      if (auto t = recovery_batch_ ? firstLineTime(fd) : std::nullopt) loadRecoverySet(*f, *t - 1);
      else f->probe_recovery = true;  // no complete first line yet: looked up at its first read
    }
    // Truncated while down: the newest line time read from the path bounds
    // the search for generations missed, now and at the next truncation.
    if (truncated_cp) f->commit->last_time_ns = f->last_time_ns = truncated_cp->last_time_ns;
  } else if (first_scan && !had_checkpoint_ && !options_.start_at_beginning) {
    // start_at end: only at the very first start, for files already there.
    f->read_offset = f->resumable = f->record_start = f->shipped_resumable = f->size;
    f->commit->committed = f->size;
    if (f->size > 0) {
      char last = 0;
      if (::pread(fd, &last, 1, off_t(f->size - 1)) == 1 && last != '\n') f->skip_to_newline = true;
    }
  }
  if (auto pp = parsePodPath(f->path)) {
    f->pod_uid = pp->pod_uid;
    const std::string ns_container = pp->ns + "/" + pp->container_name;
    for (const auto& g : options_.severity)
      if (::fnmatch(g.c_str(), ns_container.c_str(), 0) == 0) f->severity = true;
    if (auto rule = multiline_.find(pp->ns, pp->pod_name, pp->container_name))
      f->multiline = std::make_unique<MultilineCombiner>(std::move(rule));
  }
  if (metadata_ && !f->pod_uid.empty()) {
    f->pod = metadata_->find(f->pod_uid);
    f->meta_wait = !f->pod;
  }
  updateFingerprint(*f, f->size);  // a truncation before its first read is seen too
  buildResource(*f);
  ++stats_.files_opened;
  File* raw = f.get();
  files_[{raw->dev, raw->ino}] = std::move(f);
  if (active) by_path_[path] = raw;
  else raw->draining = true;
  checkTruncation(*raw, fst);
  logging::get("pod_logs")->debug("open {} as {} ino={} size={} offset={} {} active={}", path,
                                  open_path ? *open_path : path, raw->ino, raw->size, raw->read_offset,
                                  cp ? "checkpointed" : truncated_cp ? "truncated-while-down" : "new", active);
  if (truncated_cp) {
    ++stats_.truncations;
    recoverFromCopy(*truncated_cp);
    findMissedGenerations(truncated_cp->path, std::max(truncated_cp->last_time_ns, truncated_cp->seen_ns),
                          /*after_restart=*/true);
  }
}

// A checkpointed file truncated (or replaced) while kobs was down: its copy
// next to it, when there is one, is read from the checkpointed offset.
bool PodLogsReceiver::recoverFromCopy(const FileCheckpoint& cp) {
  auto copy = findCopy(fs::path(cp.path).parent_path(), cp.fp_len, cp.fp, cp.offset);
  if (!copy) return false;
  restored_[{uint64_t(copy->st.st_dev), uint64_t(copy->st.st_ino)}] = cp;
  openFile(cp.path, copy->st, /*first_scan=*/true, /*active=*/false, &copy->path);
  restored_.erase({uint64_t(copy->st.st_dev), uint64_t(copy->st.st_ino)});
  ++stats_.truncation_copies;
  return true;
}

// Resource attributes: the path's, as the stock container operator sets
// them, then the pod watch's.
void PodLogsReceiver::buildResource(File& f) {
  auto resource = std::make_shared<pipeline::Resource>();
  if (auto pp = parsePodPath(f.path)) {
    resource->attributes.emplace_back("k8s.namespace.name", pp->ns);
    resource->attributes.emplace_back("k8s.pod.name", pp->pod_name);
    resource->attributes.emplace_back("k8s.pod.uid", pp->pod_uid);
    resource->attributes.emplace_back("k8s.container.name", pp->container_name);
    resource->attributes.emplace_back("k8s.container.restart_count", pp->restart_count);
  }
  if (!options_.node_name.empty()) resource->attributes.emplace_back("k8s.node.name", options_.node_name);
  if (!options_.cluster_name.empty()) resource->attributes.emplace_back("k8s.cluster.name", options_.cluster_name);
  if (f.pod)
    for (const auto& a : f.pod->resource) resource->attributes.push_back(a);
  f.resource = std::move(resource);
}

void PodLogsReceiver::refreshMetadata(File& f, bool force_release) {
  auto pod = metadata_ ? metadata_->find(f.pod_uid) : nullptr;
  if (pod && pod != f.pod) {
    f.pod = std::move(pod);
    buildResource(f);
  }
  if (f.meta_wait && (f.pod || force_release)) {
    f.meta_wait = false;
    if (!f.pod) ++stats_.metadata_timeouts;
  }
}

void PodLogsReceiver::checkTruncation(File& f, const struct stat& st) {
  if (f.takeover_pending) return;
  // Shorter than read, or than its head: truncated. Its first bytes
  // changed: truncated and rewritten (to any length).
  const bool truncated = uint64_t(st.st_size) < f.read_offset || headChanged(f);
  if (truncated) handleTruncation(f, uint64_t(st.st_size));
}

// True when the file no longer begins with the head taken from it: it was
// truncated (files only grow otherwise).
bool PodLogsReceiver::headChanged(File& f) {
  if (f.head.empty()) return false;
  std::string now(f.head.size(), '\0');
  ssize_t n;
  do n = ::pread(f.fd, now.data(), now.size(), 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) return false;  // a read error is counted where the data is read
  return size_t(n) != f.head.size() || now != f.head;
}

void PodLogsReceiver::handleTruncation(File& f, uint64_t size) {
  ++stats_.truncations;
  // Nothing read yet: generations newer than when this process opened the
  // file (older ones were looked for at start, where the store's rows are
  // looked up: none is here, so nothing read before may qualify).
  missed_checks_.push_back({f.path, std::max(f.last_time_ns, f.opened_ns), std::numeric_limits<int64_t>::max()});
  // copytruncate copies, then truncates: what was written after our last
  // read and before the copy is in the copy. Its reading goes on there
  // (after this round's loop over files_); only what was written between
  // the copy and the truncation is lost, which no reader can prevent.
  // Also for a file not read yet (its fingerprint is taken when opened).
  logging::get("pod_logs")->debug("truncated {} ino={} size={} read_offset={} fp_len={}", f.path, f.ino, size,
                                  f.read_offset, f.fp_len);
  if (f.fp_len > 0) {
    if (auto copy = findCopy(fs::path(f.path).parent_path(), f.fp_len, f.fp, f.read_offset)) {
      logging::get("pod_logs")->debug("copy of {} ino={}: {} ino={}", f.path, f.ino, copy->path, uint64_t(copy->st.st_ino));
      f.takeover_pending = true;
      takeovers_.push_back(Takeover{&f, std::move(*copy)});
      return;
    }
  }
  restartFromZero(f);
}

void PodLogsReceiver::restartFromZero(File& f) {
  logging::get("pod_logs")->debug("{} ino={} read again from 0", f.path, f.ino);
  if (f.multiline && f.multiline->pending()) {
    // The open entry's lines were read whole: stored (shipped by the run
    // loop), not dropped with the old generation.
    f.chunk_observed = now();
    f.held_generation = f.generation;
    flushMultiline(f, /*all=*/true);
  }
  ++f.generation;
  {
    std::lock_guard lock(f.commit->mutex);
    f.commit->generation = f.generation;
    f.commit->committed = 0;
    // last_time_ns stays: the new generation's rows are newer still, and it
    // bounds the search for generations missed (findMissedGenerations).
  }
  f.read_offset = f.resumable = f.record_start = f.shipped_resumable = 0;
  f.carry.clear();
  f.recombiner.reset();
  if (f.multiline) f.multiline->reset();
  f.overlong = false;
  f.skip_to_newline = false;
  f.fp_len = 0;
  f.fp = 0;
  f.head.clear();
  f.already_stored.reset();
}

// The truncated file's whole reading state (offset, unfinished line and
// record, held records, commit state: its checkpoint entry) moves to the
// copy, drained then released like a renamed file; the truncated path is
// followed anew from 0.
void PodLogsReceiver::takeOver() {
  auto pending = std::move(takeovers_);
  takeovers_.clear();
  for (auto& t : pending) {
    File& f = *t.file;
    f.takeover_pending = false;
    auto it = files_.find({f.dev, f.ino});
    const std::pair<uint64_t, uint64_t> copy_key{uint64_t(t.copy.st.st_dev), uint64_t(t.copy.st.st_ino)};
    if (it == files_.end() || it->second.get() != &f || f.closed || files_.count(copy_key)) {
      logging::get("pod_logs")->debug("takeover of {} by {} not done (closed {}, copy followed {})", f.path,
                                      t.copy.path, f.closed, files_.count(copy_key) > 0);
      if (it != files_.end() && it->second.get() == &f) restartFromZero(f);
      continue;
    }
    auto b = by_path_.find(f.path);
    const bool active = b != by_path_.end() && b->second == &f;
    if (active) by_path_.erase(b);
    auto node = files_.extract(it);
    ::close(f.fd);
    f.fd = std::exchange(t.copy.fd, -1);
    f.dev = copy_key.first;
    f.ino = copy_key.second;
    f.size = uint64_t(t.copy.st.st_size);
    f.draining = true;
    f.dirty = true;
    f.last_data = Clock::now();
    ++stats_.truncation_copies;
    node.key() = copy_key;
    files_.insert(std::move(node));
    logging::get("pod_logs")->debug("{} continues in {} ino={} at {}; path active {}", f.path, t.copy.path, f.ino,
                                    f.read_offset, active);
    if (active) {
      struct stat st{};
      if (::stat(f.path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
          !files_.count({uint64_t(st.st_dev), uint64_t(st.st_ino)}))
      {
        openFile(f.path, st, /*first_scan=*/false);
        // The path's newest line time read carries over: it bounds the
        // search for missed generations (and the recovery query) later.
        if (auto n = files_.find({uint64_t(st.st_dev), uint64_t(st.st_ino)}); n != files_.end()) {
          std::lock_guard lock(n->second->commit->mutex);
          n->second->commit->last_time_ns = n->second->last_time_ns = f.last_time_ns;
        }
      }
    }
  }
  auto checks = std::move(missed_checks_);
  missed_checks_.clear();
  for (const auto& c : checks) findMissedGenerations(c.path, c.after_ns, /*after_restart=*/false, c.before_ns);
}


// Generations of `path` whose copy was never matched: two copytruncates
// between two looks at the file (a busy node), or several while kobs was
// down. Their copies sit next to it, unfollowed, and begin after the newest
// line read from the path (`after_ns`) and before the current file's first
// line. Read whole, as drained files under the path's name; after a restart
// rows the store already has are skipped (recovery set from after_ns).
void PodLogsReceiver::findMissedGenerations(const std::string& path, int64_t after_ns, bool after_restart,
                                            int64_t before_limit) {
  if (after_ns <= 0) return;  // nothing read yet: every old copy would qualify
  // Newer than anything read from the path this run: a copy read and
  // released already is not read again.
  // (Files still open are skipped below as followed; their line times do
  // not bound it: the live file may already hold a newer generation than
  // the ones looked for.)
  if (auto n = path_newest_.find(path); n != path_newest_.end()) after_ns = std::max(after_ns, n->second);
  int64_t before_ns = before_limit;
  if (auto b = by_path_.find(path); b != by_path_.end() && b->second->fd >= 0)
    // The generation the live file holds is its own, read from it (or from
    // its copy once truncated): its head, when taken, not what the file holds
    // now (a newer generation, after the head's was copied and truncated).
    if (auto t = !b->second->head.empty() ? firstLineTimeIn(b->second->head) : firstLineTime(b->second->fd))
      before_ns = std::min(before_ns, *t);
  std::vector<std::tuple<int64_t, std::string, struct stat>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path(), ec)) {
    struct stat st{};
    if (::stat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) continue;
    if (files_.count({uint64_t(st.st_dev), uint64_t(st.st_ino)})) continue;
    // A name the globs match (rotated names included by a glob like
    // *.log*) is a file discovery follows under its own name and checkpoint,
    // not a generation of this one: taking it here would read it twice.
    if (included(entry.path().string())) continue;
    int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    auto t = firstLineTime(fd);
    ::close(fd);
    if (t && *t > after_ns && *t < before_ns) found.emplace_back(*t, entry.path().string(), st);
  }
  std::sort(found.begin(), found.end(), [](const auto& x, const auto& y) { return std::get<0>(x) < std::get<0>(y); });
  logging::get("pod_logs")->debug("missed generations of {} in ({}, {}): {}", path, after_ns, before_ns, found.size());
  std::shared_ptr<RecoverySet> stored;
  for (const auto& [t, copy_path, st] : found) {
    const std::pair<uint64_t, uint64_t> key{uint64_t(st.st_dev), uint64_t(st.st_ino)};
    const bool checkpointed = restored_.count(key) > 0;  // followed before a restart: resumes at its offset
    openFile(path, st, /*first_scan=*/false, /*active=*/false, &copy_path);
    auto it = files_.find(key);
    if (it == files_.end()) continue;
    ++stats_.missed_generations;
    if (!checkpointed) {
      // Its rows are newer than after_ns: the bound of its recovery query.
      std::lock_guard lock(it->second->commit->mutex);
      it->second->commit->last_time_ns = it->second->last_time_ns = after_ns;
    }
    if (after_restart && !checkpointed) {
      if (!stored) {
        loadRecoverySet(*it->second, after_ns);
        stored = it->second->already_stored;
      } else {
        it->second->already_stored = stored;
      }
    }
  }
}

void PodLogsReceiver::updateFingerprint(File& f, uint64_t size) {
  if (f.head.size() >= options_.fingerprint_size || size <= f.head.size()) return;
  uint32_t len = uint32_t(std::min<uint64_t>(size, options_.fingerprint_size));
  std::string head(len, '\0');
  if (::pread(f.fd, head.data(), len, 0) != ssize_t(len)) return;
  // Rewritten since the head was taken: not extended (checkTruncation sees it).
  if (head.compare(0, f.head.size(), f.head) != 0) return;
  f.head = std::move(head);
  f.fp_len = len;
  f.fp = fingerprintHash(f.head);
}

void PodLogsReceiver::readFile(File& f) {
  f.dirty = false;
  f.more = false;
  if (f.blocked && !ship(f)) return;
  struct stat st{};
  if (::fstat(f.fd, &st) != 0) {
    ++stats_.open_errors;
    return;
  }
  f.size = uint64_t(st.st_size);
  checkTruncation(f, st);
  if (f.takeover_pending) return;  // its reading moves to the copy after this round
  const bool had_head = !f.head.empty();
  updateFingerprint(f, f.size);
  // Empty until now: a generation written after it was opened may have been
  // truncated away before this first look (no head to tell): its copy is
  // newer than the open.
  // Only those older than the generation it now holds: newer ones are the
  // truncation path's (and its copy, once made, is no missed one).
  if (!had_head && !f.head.empty() && !f.draining)
    if (auto t = firstLineTimeIn(f.head)) missed_checks_.push_back({f.path, f.opened_ns, *t});
  if (f.probe_recovery && f.read_offset == 0 && f.size > 0) probeRecovery(f);
  size_t budget = options_.max_read_per_round;
  while (budget > 0) {
    ssize_t n = ::pread(f.fd, read_buf_.data(), read_buf_.size(), off_t(f.read_offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      ++stats_.open_errors;
      return;
    }
    if (n == 0) break;
    // Truncated (and rewritten) between the check above and this read: the
    // bytes may be the new generation's, read at the old one's offset. Not
    // used; the copy (or the file from 0) is read instead.
    if (headChanged(f)) {
      handleTruncation(f, f.size);
      if (f.takeover_pending) return;
      continue;
    }
    f.read_offset += uint64_t(n);
    stats_.bytes_read += uint64_t(n);
    budget -= std::min(budget, size_t(n));
    f.last_data = Clock::now();
    processChunk(f, std::string_view(read_buf_.data(), size_t(n)), false);
    if (!ship(f)) return;  // refused: the file waits, its records kept
    if (size_t(n) < read_buf_.size()) break;
  }
  f.more = budget == 0;
}

void PodLogsReceiver::processChunk(File& f, std::string_view data, bool) {
  f.chunk_observed = now();
  f.held_generation = f.generation;
  // Offset of data[0] in the file.
  uint64_t base = f.read_offset - data.size();
  if (!f.carry.empty()) {
    // Complete the carried line first.
    const char* nl = static_cast<const char*>(std::memchr(data.data(), '\n', data.size()));
    const uint64_t carry_start = base - f.carry.size();
    if (!nl) {
      f.carry.append(data);
      // Bound a line without newline: feed it on as pieces.
      if (f.carry.size() > options_.max_log_size + 4096) {
        handleLine(f, f.carry, carry_start, f.read_offset);
        f.carry.clear();
      }
      return;
    }
    size_t len = size_t(nl - data.data());
    f.carry.append(data.substr(0, len));
    std::string line = std::move(f.carry);
    f.carry.clear();
    handleLine(f, line, carry_start, base + len + 1);
    data.remove_prefix(len + 1);
    base += len + 1;
  }
  while (!data.empty()) {
    const char* nl = static_cast<const char*>(std::memchr(data.data(), '\n', data.size()));
    if (!nl) {
      f.carry.assign(data);
      if (f.carry.size() > options_.max_log_size + 4096) {
        handleLine(f, f.carry, base, f.read_offset);
        f.carry.clear();
      }
      return;
    }
    size_t len = size_t(nl - data.data());
    handleLine(f, data.substr(0, len), base, base + len + 1);
    data.remove_prefix(len + 1);
    base += len + 1;
  }
}

// `line_end` is the offset after the line's '\n', or, for an overlong piece
// without one yet, the offset after its last byte.
void PodLogsReceiver::handleLine(File& f, std::string_view line, uint64_t line_start, uint64_t line_end) {
  const bool complete = line_end > line_start && line_end - line_start == line.size() + 1;
  if (f.skip_to_newline) {
    // start_at end in the middle of a line: its head is not ours.
    if (complete) {
      f.skip_to_newline = false;
      f.resumable = f.record_start = line_end;
    }
    return;
  }
  ++stats_.lines_read;
  ParsedLine p;
  if (f.overlong) {
    // The rest of an overlong raw line: more content of the same piece.
    p.time_ns = f.overlong_time_ns;
    p.time_text = f.overlong_time_text;
    p.stream = f.overlong_stream;
    p.log = line;
    p.partial = !complete;
    if (complete) {
      f.overlong = false;
      if (!p.log.empty() && p.log.back() == '\r') p.log.remove_suffix(1);
    }
  } else {
    if (f.format == LogFormat::kUnknown) f.format = detectFormat(line);
    std::string_view error;
    bool ok = line.empty() ? (error = "empty line", false) : f.parser.parse(f.format, line, p, error);
    if (ok && !complete) {
      if (f.format == LogFormat::kCri) {
        // An overlong CRI line: what follows until '\n' continues this piece.
        f.overlong = true;
        f.overlong_time_ns = p.time_ns;
        f.overlong_time_text.assign(p.time_text);
        f.overlong_stream = p.stream;
        p.partial = true;
      } else {
        ok = false;  // docker JSON cannot be read in pieces
        error = "docker line longer than max_log_size";
      }
    }
    if (!ok) {
      ++stats_.malformed_lines;
      if (stats_.malformed_lines.load() % 10000 == 1)
        logging::get("pod_logs")->warn("{}: malformed line at offset {} ({}); skipped (counted in "
                                       "kobs_pod_logs_malformed_lines_total)",
                                       f.path, line_start, error);
      if (!f.recombiner.pending()) f.resumable = f.record_start = line_end;
      return;
    }
  }
  if (p.partial) ++stats_.partial_lines;
  if (!f.recombiner.pending()) f.record_start = line_start;
  f.recombiner.add(p, [&](const Recombiner::Record& r) { emitLine(f, r, f.record_start, line_end); });
  f.resumable = f.recombiner.pending() ? f.record_start : line_end;
}

void PodLogsReceiver::emitLine(File& f, const Recombiner::Record& r, uint64_t start, uint64_t end) {
  if (!f.multiline) {
    emitRecord(f, r.body, r.time_ns, r.time_text, int(r.stream), r.split);
    return;
  }
  MultilineCombiner::Line line{r.body, r.time_ns, r.time_text, r.stream, r.split, start, end};
  f.multiline->add(line, Clock::now(), [&](const MultilineCombiner::Record& m) {
    if (f.multiline->emittingLines() > 1) ++stats_.multiline_records;
    emitRecord(f, m.body, m.time_ns, m.time_text, int(m.stream), m.split);
  });
}

// Ends the file's open multi-line entries: those flush_timeout old once
// everything written is read, and ships them; `all`: every one, left held
// for the caller to ship (a drained file).
void PodLogsReceiver::flushMultiline(File& f, bool all) {
  if (!all) {
    if (f.read_offset < f.size) return;  // more lines may continue the entry
    f.chunk_observed = now();
    f.held_generation = f.generation;
  }
  auto emit = [&](const MultilineCombiner::Record& m) {
    if (f.multiline->emittingLines() > 1) ++stats_.multiline_records;
    emitRecord(f, m.body, m.time_ns, m.time_text, int(m.stream), m.split);
  };
  if (all) {
    f.multiline->flushAll(emit);
    return;
  }
  stats_.multiline_timeouts += f.multiline->flushExpired(Clock::now(), emit);
  if (!f.held.empty()) ship(f);
}

void PodLogsReceiver::emitRecord(File& f, std::string_view body, int64_t time_ns, std::string_view time_text, int stream,
                                 bool split) {
  const int64_t observed = f.chunk_observed;
  const bool absurd = time_ns < options_.min_time_ns ||
                      time_ns > observed + std::chrono::duration_cast<std::chrono::nanoseconds>(options_.max_future).count();
  const int64_t ts = absurd ? observed : time_ns;
  if (f.already_stored && !f.already_stored->rows.empty()) {
    RecoveryKey k{ts, body.size(), uint32_t(crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size())))};
    auto it = f.already_stored->rows.find(k);
    if (it != f.already_stored->rows.end()) {
      if (--it->second == 0) f.already_stored->rows.erase(it);
      ++stats_.recovered_duplicates;
      f.last_time_ns = ts;
      return;
    }
  }
  if (split) ++stats_.split_records;
  if (absurd) ++stats_.absurd_timestamps;
  pipeline::LogRecord& r = f.held.emplace_back();
  r.resource = f.resource;
  r.scope = scope_;
  r.time_unix_nano = ts;
  r.observed_time_unix_nano = observed;
  r.body = pipeline::AnyValue(std::string(body));
  r.attributes.reserve(6);
  r.attributes.emplace_back("log.file.path", f.path);
  r.attributes.emplace_back("log.iostream", std::string(streamName(Stream(stream))));
  r.attributes.emplace_back("logtag", "F");
  if (f.severity)
    if (auto sev = detectSeverity(body)) {
      r.severity_number = sev->number;
      r.severity_text.assign(sev->text);
    }
  if (split) r.attributes.emplace_back("kobs.log.split", true);
  if (f.pod && !f.pod->composition_id.empty()) r.attributes.emplace_back("krateo.io/composition-id", f.pod->composition_id);
  if (absurd) r.attributes.emplace_back("kobs.log.original_time", std::string(time_text));
  f.last_time_ns = ts;
}

// Hands the file's held records to the pipeline. False when refused (kept).
bool PodLogsReceiver::ship(File& f) {
  if (!f.blocked) {
    f.held_resumable = f.resumable;
    f.held_last_time = f.last_time_ns;
    // An open multi-line entry is read again whole after a restart: the
    // checkpoint stays at its start, and the store lookup that skips rows
    // re-read (Timestamp > last time) reaches back to its first line.
    if (f.multiline && f.multiline->pending()) {
      f.held_resumable = std::min(f.held_resumable, f.multiline->resumeLimit());
      f.held_last_time = std::min(f.held_last_time, f.multiline->busyFirstTime() - 1);
    }
  }
  if (f.held.empty()) {
    f.blocked = false;
    // Nothing to wait for: with no batch of this file in flight, the
    // skipped lines (malformed, already stored) count as committed now.
    if (f.held_resumable != f.shipped_resumable && f.commit->in_flight.load() == 0) {
      std::lock_guard lock(f.commit->mutex);
      if (f.commit->generation == f.held_generation && f.held_resumable > f.commit->committed) {
        f.commit->committed = f.held_resumable;
        f.commit->last_time_ns = f.held_last_time;
      }
      f.shipped_resumable = f.held_resumable;
    }
    return true;
  }
  // ClickHouse refuses an insert touching more than 100 partitions (daily
  // here): the open batch is sealed before rows of a 91st day join it, so a
  // replay of old logs never fails for that reason.
  constexpr int64_t kDayNs = 86400LL * 1000000000LL;
  constexpr size_t kMaxDaysPerBatch = 90;
  size_t begin = 0;
  while (begin < f.held.size()) {
    size_t end = begin;
    while (end < f.held.size()) {
      const int64_t t = f.held[end].time_unix_nano;
      const int64_t day = t >= 0 ? t / kDayNs : -((-t + kDayNs - 1) / kDayNs);
      if (!batch_days_.count(day)) {
        if (batch_days_.size() >= kMaxDaysPerBatch) break;
        batch_days_.insert(day);
      }
      ++end;
    }
    if (end == begin) {
      try {
        pipeline_.logs().flush();
      } catch (const Exception&) {
        f.held.erase(f.held.begin(), f.held.begin() + ptrdiff_t(begin));
        ++stats_.buffer_full_pauses;
        stats_.records_retried += f.held.size();
        f.blocked = true;
        return false;
      }
      ++stats_.partition_splits;
      batch_days_.clear();
      continue;
    }
    const size_t n = end - begin;
    const bool last = end == f.held.size();
    auto commit = f.commit;
    ++commit->in_flight;
    // Only the chunk's last add moves the file's checkpoint.
    auto cb = [commit, last, gen = f.held_generation, off = f.held_resumable, ts = f.held_last_time, n,
               shared = shared_](bool ok) {
      if (ok && last) {
        std::lock_guard lock(commit->mutex);
        if (gen == commit->generation && off >= commit->committed) {
          commit->committed = off;
          commit->last_time_ns = ts;
        }
      }
      if (ok) shared->committed += n;
      shared->done += n;
      --commit->in_flight;
    };
    try {
      pipeline_.logs().add(std::span<const pipeline::LogRecord>(f.held.data() + begin, n), std::move(cb));
    } catch (const Exception&) {
      --commit->in_flight;
      f.held.erase(f.held.begin(), f.held.begin() + ptrdiff_t(begin));
      ++stats_.buffer_full_pauses;
      stats_.records_retried += f.held.size();
      f.blocked = true;
      return false;
    }
    stats_.records += n;
    begin = end;
  }
  f.shipped_resumable = f.held_resumable;
  f.held.clear();
  f.blocked = false;
  return true;
}

void PodLogsReceiver::closeDrained(Clock::time_point t) {
  for (auto it = files_.begin(); it != files_.end();) {
    File& f = *it->second;
    if (f.draining && !f.closed && !f.blocked && !f.more && t - f.last_data >= options_.rotate_wait) {
      // Drained: whatever partial record is left ends with the file.
      if (f.recombiner.pending() || (f.multiline && f.multiline->pending())) {
        f.chunk_observed = now();
        f.held_generation = f.generation;
        ParsedLine end;
        end.partial = false;
        const uint64_t end_offset = f.read_offset - f.carry.size();
        if (f.recombiner.pending())
          f.recombiner.add(end, [&](const Recombiner::Record& r) { emitLine(f, r, f.record_start, end_offset); });
        if (f.multiline) flushMultiline(f, /*all=*/true);
        f.resumable = end_offset;
        if (!ship(f)) {
          ++it;
          continue;
        }
      }
      logging::get("pod_logs")->debug("{} ino={} drained at {}, closed", f.path, f.ino, f.read_offset);
      ::close(f.fd);
      f.fd = -1;
      f.closed = true;
      ++stats_.files_closed;
    }
    // Released once its last batch is in the store.
    if (f.closed && f.commit->in_flight.load() == 0) {
      if (!by_path_.count(f.path)) {
        path_newest_.erase(f.path);  // nothing of the path is followed: no truncation to come
      } else if (f.last_time_ns > 0) {
        auto& newest = path_newest_[f.path];
        newest = std::max(newest, f.last_time_ns);
      }
      it = files_.erase(it);
      continue;
    }
    ++it;
  }
  files_watched_ = files_.size();
}

void PodLogsReceiver::persistCheckpoint(bool force) {
  auto t = Clock::now();
  if (!force && t - last_checkpoint_ < options_.checkpoint_interval) return;
  last_checkpoint_ = t;
  // A cheap signature first: serialising thousands of idle files every
  // interval would be most of an idle receiver's CPU.
  uint64_t sig = fingerprintHash(std::to_string(files_.size()) + "/" + std::to_string(restored_.size()));
  for (auto& [key, f] : files_) {
    uint64_t committed;
    int64_t last;
    {
      std::lock_guard lock(f->commit->mutex);
      committed = f->commit->committed;
      last = f->commit->last_time_ns;
    }
    for (uint64_t v : {f->dev, f->ino, f->fp, uint64_t(f->fp_len), committed, uint64_t(last)})
      sig = (sig ^ v) * 1099511628211ull + 0x9E3779B97F4A7C15ull;
  }
  if (!force && sig == last_checkpoint_sig_ && !last_checkpoint_json_.empty()) return;
  CheckpointFile c;
  for (auto& [key, f] : files_) {
    FileCheckpoint fc;
    fc.path = f->path;
    fc.dev = f->dev;
    fc.ino = f->ino;
    fc.fp_len = f->fp_len;
    fc.fp = f->fp;
    {
      std::lock_guard lock(f->commit->mutex);
      fc.offset = f->commit->committed;
      fc.last_time_ns = f->commit->last_time_ns;
    }
    fc.seen_ns = f->seen_ns;
    c.files.push_back(std::move(fc));
  }
  // Entries not matched yet (before the first scan) are kept as they were.
  for (auto& [key, fc] : restored_) c.files.push_back(fc);
  auto json = checkpointToJson(c);
  if (json == last_checkpoint_json_) {
    last_checkpoint_sig_ = sig;
    return;
  }
  try {
    writeCheckpoint(checkpoint_file_, c);
    last_checkpoint_json_ = std::move(json);
    last_checkpoint_sig_ = sig;  // only once written: a failed write is tried again
    ++stats_.checkpoint_writes;
  } catch (const std::exception& e) {
    ++stats_.checkpoint_errors;
    logging::get("pod_logs")->error("checkpoint write failed: {}", e.what());
  }
}

void PodLogsReceiver::registerMetrics(metrics::Registry& m) {
#define KOBS_REGISTER(name, help)                                                           \
  m.counterCallback("kobs_pod_logs_" #name "_total", "Pod logs: " help,                     \
                    [this] { return double(stats_.name.load()); });
  KOBS_POD_LOGS_COUNTERS(KOBS_REGISTER)
#undef KOBS_REGISTER
  m.counterCallback("kobs_pod_logs_records_committed_total", "Pod logs: records the store confirmed.",
                    [shared = shared_] { return double(shared->committed.load()); });
  m.gaugeCallback("kobs_pod_logs_files_watched", "Pod logs: files open or waiting for their last commit.",
                  [this] { return double(files_watched_.load()); });
  m.gaugeCallback("kobs_pod_logs_lag_bytes", "Pod logs: bytes written to watched files and not read yet, summed.",
                  [this] { return double(lag_bytes_.load()); });
  m.gaugeCallback("kobs_pod_logs_buffered_bytes",
                  "Pod logs: memory held for lines (read buffer, unfinished lines and records, records not shipped yet).",
                  [this] { return double(buffered_bytes_.load()); });
  m.gaugeCallback("kobs_pod_logs_buffered_bytes_max", "Pod logs: the most memory held for lines since start.",
                  [this] { return double(buffered_max_.load()); });
  m.gaugeCallback("kobs_pod_logs_lag_bytes_max", "Pod logs: bytes not read yet of the file furthest behind.",
                  [this] { return double(lag_max_.load()); });
  constexpr const char* kLagLabels[] = {"<64KiB", "<1MiB", "<16MiB", ">=16MiB"};
  for (size_t i = 0; i < lag_files_.size(); ++i)
    m.gaugeCallback("kobs_pod_logs_files_lagging", "Pod logs: files with bytes not read yet, by how many.",
                    [this, i] { return double(lag_files_[i].load()); }, {{"lag", kLagLabels[i]}});
  m.gaugeCallback("kobs_pod_logs_records_in_flight", "Pod logs: records handed to the pipeline, not yet committed.",
                  [this] { return double(linesInFlight()); });
}

}  // namespace kobs::collect::pod_logs
