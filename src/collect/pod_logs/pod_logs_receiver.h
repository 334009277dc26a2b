// PodLogsReceiver: container logs under /var/log/pods → otel_logs, every line
// stored once across rotation, truncation and kill -9.
//
// Flow, on one thread:
//   discovery (include/exclude globs; inotify on the directories the globs
//   walk, plus a periodic full scan as a safety net)
//     → per file: pread chunks → split lines → LineParser (CRI or docker,
//       detected from the first line) → Recombiner (partial lines, up to
//       max_log_size) → LogRecord (resource from the path and, when the pod
//       watch runs, the pod's labels, workload and composition id)
//     → pipeline.logs().add(records of one chunk, commit callback)
//   commit callback (sender thread) → the file's committed offset
//   → checkpoint.json every checkpoint_interval (this thread).
//
// Identity and rotation. A file is known by device + inode + a fingerprint
// (hash of its first fingerprint_size bytes). A path whose inode changed was
// rotated by rename: the old file stays open and is drained to EOF, then
// released once idle for rotate_wait; a file deleted while open is drained
// the same way. A file shorter than the offset read, or whose first bytes
// changed, was truncated (copytruncate). logrotate copied it first: a file
// next to it with the same fingerprint and at least our offset's bytes is
// that copy, and the truncated file's whole reading state (offset, unfinished
// record, held records, commit state and so checkpoint entry) moves to it;
// it is drained and released like a renamed file, and the path is followed
// anew from 0. Without a copy the file is read again from 0 and commits of
// the old generation no longer move its checkpoint. Generations never seen
// (truncated twice between two looks, or while kobs was down) are copies
// next to it whose first line is newer than anything read from the path and
// older than the file's first line: read whole (findMissedGenerations).
// A checkpointed file truncated while kobs was down is resumed in its copy.
//
// Exactly once across kill -9. The checkpoint holds, per file, the offset
// before which every record is in the store and the Timestamp of the newest
// such row. Records after it may be (a) in the disk buffer, replayed at start
// with their batch's dedup token, or (b) lost in memory. At start, when a
// checkpoint exists, the receiver waits until the disk buffer has replayed
// what it held, then, for each checkpointed file, asks the store for the
// rows of its directory (LogAttributes['log.file.path']: one container's
// files, whatever name a rotated file had) newer than the checkpointed Timestamp, as (Timestamp, length, CRC32 of Body), and skips
// re-read records matching one of them (each match once). A file found at
// that start without a checkpoint entry (read, before the crash, after the
// last checkpoint write) gets the same lookup from its first line's time.
// Limits: records
// whose Timestamp was replaced by the observed time (absurd line times) and
// records with exactly the checkpointed Timestamp are not matched.
//
// Back-pressure: when the pipeline refuses a chunk (disk buffer full), the
// chunk's records are kept and that file is not read further until they are
// accepted; nothing is dropped.
//
// Metadata: with the pod watch on (PodMetadata), a file of a pod the watch
// does not know yet is not read for up to metadata_wait; then its lines go
// without the watch's attributes, which are added to later lines once known.
//
// Threading: one tailer thread owns every file, the inotify descriptor and
// the checkpoint; commit callbacks run on the pipeline's sender thread and
// touch only each file's CommitState (a mutex) and atomic counters.
#pragma once

#include <sys/stat.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "collect/pod_logs/checkpoint.h"
#include "collect/pod_logs/multiline.h"
#include "collect/k8s_pods/pod_metadata.h"
#include "common/component.h"
#include "common/config_table.h"
#include "common/metrics.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

namespace kobs::collect::pod_logs {

using k8s_pods::PodInfo;
using k8s_pods::PodMetadata;
using k8s_pods::PodMetadataOptions;

struct PodLogsOptions {
  std::filesystem::path state_dir;  // <data_dir>/pod_logs
  std::vector<std::string> include{"/var/log/pods/*/*/*.log"};
  std::vector<std::string> exclude;
  // "<namespace>/<pod name>" of a pod never tailed (kobs's own), told by the
  // path's pod directory under whatever root the include globs walk (a glob
  // on /var/log/pods would miss a DaemonSet mounting the logs elsewhere).
  std::string exclude_pod;
  bool start_at_beginning = false;  // first start only; later files are always read from 0
  size_t max_log_size = 1u << 20;
  size_t fingerprint_size = 1024;
  size_t read_chunk = 256u << 10;
  size_t max_read_per_round = 4u << 20;  // per file, so one busy file cannot starve the others
  std::chrono::milliseconds poll_interval{200};
  // The full scan is a safety net behind inotify (a lost event, an
  // overflowed queue); it costs a stat per file, so it runs rarely.
  std::chrono::milliseconds scan_interval{60000};
  std::chrono::milliseconds rotate_wait{5000};
  std::chrono::milliseconds checkpoint_interval{1000};
  // Containers whose lines get SeverityText/Number from the body
  // (severity.h), as fnmatch globs over "<namespace>/<container>".
  std::vector<std::string> severity;
  // Multi-line records (multiline.h): the first rule whose glob matches
  // "<namespace>/<pod>/<container>" joins that container's lines.
  std::vector<MultilineRule> multiline;
  std::string node_name;     // k8s.node.name on every row (empty: not set)
  std::string cluster_name;  // k8s.cluster.name (empty: not set)
  // Line times outside [min_time, observed + max_future] are absurd: the
  // row gets the observed time, the line's time goes to kobs.log.original_time.
  int64_t min_time_ns = 946684800LL * 1000000000LL;  // 2000-01-01
  std::chrono::hours max_future{24};
  // Pod metadata (labels, workload, composition id) from a node-scoped pod
  // watch; off when metadata.cluster is empty or node_name is.
  PodMetadataOptions metadata;
  // How long a file of a pod the watch does not know yet waits before its
  // lines go without the metadata (nothing is read meanwhile: bounded).
  std::chrono::milliseconds metadata_wait{5000};
  // Test hook: the observed clock (ns since the epoch).
  std::function<int64_t()> clock;
};

std::vector<config::KeySpec> configKeys();
// Options from the process configuration (env POD_NAME/POD_NAMESPACE exclude
// kobs's own pod when pod_logs.exclude_own_pod is on).
PodLogsOptions optionsFromConfig(const config::Values& v, const std::filesystem::path& data_dir);

#define KOBS_POD_LOGS_COUNTERS(X)                                                       \
  X(bytes_read, "bytes read from log files")                                            \
  X(lines_read, "lines read (CRI or docker lines, partial pieces included)")           \
  X(records, "records handed to the pipeline")                                          \
  X(partial_lines, "partial pieces (CRI P, docker lines without newline) recombined")  \
  X(split_records, "records longer than max_log_size, stored in pieces")               \
  X(multiline_records, "records joined from several lines by a pod_logs.multiline rule") \
  X(multiline_timeouts, "multi-line records ended by their rule's flush_timeout")       \
  X(malformed_lines, "lines that are neither CRI nor docker, skipped")                  \
  X(absurd_timestamps, "lines whose time was out of range, stored at the observed time") \
  X(rotations, "files rotated away by rename or deleted, then drained")                 \
  X(truncations, "files truncated (copytruncate), read again from 0")                   \
  X(truncation_copies, "truncated files whose unread tail was read from the copy next to them") \
  X(missed_generations, "copies of truncated generations never seen (truncated twice between looks, or while down), read whole") \
  X(files_opened, "log files opened")                                                   \
  X(files_closed, "log files released after draining")                                  \
  X(open_errors, "log files that could not be opened or read")                          \
  X(scans, "full discovery scans")                                                      \
  X(metadata_timeouts, "files of pods the watch did not know within metadata_wait, read without it") \
  X(partition_splits, "batches sealed early to keep an insert under 100 daily partitions") \
  X(buffer_full_pauses, "chunks the pipeline refused (buffer full); the file waits")   \
  X(records_retried, "records a full buffer refused, kept and offered again (none dropped; the pipeline counts each refusal in kobs_records_refused_total)") \
  X(recovered_duplicates, "re-read records skipped because the store had them")        \
  X(recovery_queries, "store queries made at start to find replayed rows")             \
  X(checkpoint_writes, "checkpoint files written")                                      \
  X(checkpoint_errors, "checkpoint writes or store queries that failed")

struct PodLogsStats {
#define KOBS_DECLARE_COUNTER(name, help) std::atomic<uint64_t> name{0};
  KOBS_POD_LOGS_COUNTERS(KOBS_DECLARE_COUNTER)
#undef KOBS_DECLARE_COUNTER
};

class PodLogsReceiver final : public Component {
 public:
  // `metrics` may be null (tests). A corrupt checkpoint is set aside
  // (renamed *.corrupt) and logged; start then behaves as a first start.
  PodLogsReceiver(PodLogsOptions options, pipeline::Pipeline& pipeline, store::IStore& store,
                  metrics::Registry* metrics);
  ~PodLogsReceiver() override;

  std::string_view name() const override { return "pod_logs"; }
  void start() override;
  void shutdown(std::chrono::steady_clock::time_point deadline) override;

  const PodLogsStats& stats() const { return stats_; }
  size_t filesWatched() const { return files_watched_.load(); }
  int64_t linesInFlight() const { return int64_t(stats_.records.load()) - int64_t(shared_->done.load()); }
  uint64_t recordsCommitted() const { return shared_->committed.load(); }
  uint64_t lagBytes() const { return lag_bytes_.load(); }
  uint64_t maxLagBytes() const { return lag_max_.load(); }
  // Memory the receiver holds for lines (read buffer, unfinished lines and
  // records, heads, records not shipped yet), as of the last round, and the
  // most it has held.
  uint64_t bufferedBytes() const { return buffered_bytes_.load(); }
  uint64_t bufferedBytesMax() const { return buffered_max_.load(); }
  // True when the last round ended with every byte read and nothing held
  // back; false while a round runs (a long one reading many copies too).
  bool caughtUp() const { return caught_up_.load(); }
  // True once the first scan after start (and any recovery) is done.
  bool ready() const { return ready_.load(); }
  const PodMetadata* metadata() const { return metadata_.get(); }

 private:
  struct File;
  struct CommitState;
  struct RecoverySet;
  // A file found to be another's copy (copytruncate), open; closes its fd
  // unless taken.
  struct Copy {
    std::string path;
    int fd = -1;
    struct stat st{};
    Copy(std::string p, int d, const struct stat& s) : path(std::move(p)), fd(d), st(s) {}
    Copy(Copy&& o) noexcept : path(std::move(o.path)), fd(std::exchange(o.fd, -1)), st(o.st) {}
    Copy& operator=(Copy&&) = delete;
    ~Copy();
  };
  struct Takeover {
    File* file;
    Copy copy;
  };

  void run(std::stop_token stop);
  bool recover(std::stop_token& stop);
  void setupWatches();
  bool drainInotify(std::vector<std::string>& dirty);
  void scan(bool first);
  // `path` is the name the file's rows carry; `open_path` (when set) the
  // name it is opened by (a file rotated or copied while kobs was down).
  void openFile(const std::string& path, const struct stat& st, bool first_scan, bool active = true,
                const std::string* open_path = nullptr);
  std::optional<Copy> findCopy(const std::filesystem::path& dir, uint32_t fp_len, uint64_t fp, uint64_t min_size);
  void takeOver();
  void findMissedGenerations(const std::string& path, int64_t after_ns, bool after_restart,
                             int64_t before_limit = std::numeric_limits<int64_t>::max());
  bool recoverFromCopy(const FileCheckpoint& cp);
  void restartFromZero(File& f);
  static bool headMatches(int fd, uint32_t fp_len, uint64_t fp);
  void readFile(File& f);
  bool ship(File& f);
  void processChunk(File& f, std::string_view data, bool eof_flush);
  void handleLine(File& f, std::string_view line, uint64_t line_start, uint64_t line_end);
  void emitRecord(File& f, std::string_view body, int64_t time_ns, std::string_view time_text, int stream, bool split);
  // A record of the CRI recombiner spanning [start, end): to emitRecord,
  // through the file's multi-line rule when it has one.
  void emitLine(File& f, const Recombiner::Record& r, uint64_t start, uint64_t end);
  void flushMultiline(File& f, bool all);
  void checkTruncation(File& f, const struct stat& st);
  bool headChanged(File& f);
  void handleTruncation(File& f, uint64_t size);
  void updateFingerprint(File& f, uint64_t size);
  void closeDrained(std::chrono::steady_clock::time_point now);
  void persistCheckpoint(bool force);
  void loadRecoverySet(File& f, int64_t after_ns);
  void runRecoveryQueries();
  std::shared_ptr<RecoverySet> queryRecoverySet(const std::string& dir, int64_t after_ns, const std::string& what);
  void probeRecovery(File& f);
  bool excluded(const std::string& path) const;
  bool included(const std::string& path) const;  // matches an include glob and no exclude
  void registerMetrics(metrics::Registry& m);
  int64_t now() const;
  void buildResource(File& f);
  void refreshMetadata(File& f, bool force_release);

  PodLogsOptions options_;
  pipeline::Pipeline& pipeline_;
  store::IStore& store_;
  std::filesystem::path checkpoint_file_;
  std::shared_ptr<const pipeline::Scope> scope_;
  std::unique_ptr<PodMetadata> metadata_;
  MultilineRules multiline_;
  std::string excluded_pod_dir_;  // "<ns>_<pod>_" of exclude_pod: its pod directories' prefix

  // Owned by the tailer thread.
  std::map<std::pair<uint64_t, uint64_t>, std::unique_ptr<File>> files_;  // by (dev, ino)
  std::unordered_map<std::string, File*> by_path_;                          // active files by path
  std::map<std::pair<uint64_t, uint64_t>, FileCheckpoint> restored_;        // checkpoint at start, not yet matched
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<RecoverySet>> recovery_cache_;  // at start: (dir, after)
  std::vector<Takeover> takeovers_;
  // Newest line time read from each path's released files (copies,
  // rotated files): bounds the search for missed generations.
  std::unordered_map<std::string, int64_t> path_newest_;
  // Generations to look for after the round: copies of `path` whose first
  // line is in (after_ns, before_ns) (and before the live file's first line).
  struct MissedCheck {
    std::string path;
    int64_t after_ns;
    int64_t before_ns;
  };
  std::vector<MissedCheck> missed_checks_;
  std::unordered_map<int, std::string> watch_dirs_;                         // inotify wd → directory
  std::unordered_map<std::string, int> dir_watches_;
  int inotify_fd_ = -1;
  bool had_checkpoint_ = false;
  bool recovery_batch_ = false;  // during the start's scan: recovery queries wait for runRecoveryQueries
  std::string read_buf_;
  std::set<int64_t> batch_days_;  // days (UTC) of rows added since this receiver last sealed a batch
  std::string last_checkpoint_json_;
  uint64_t last_checkpoint_sig_ = 0;
  std::chrono::steady_clock::time_point last_checkpoint_{};
  std::chrono::steady_clock::time_point last_scan_{};

  std::atomic<size_t> files_watched_{0};
  std::atomic<uint64_t> lag_bytes_{0};
  // Per-file lag without a series per file: the largest, and how many files
  // lag by how much (kLagBounds; bounded cardinality).
  static constexpr uint64_t kLagBounds[] = {64u << 10, 1u << 20, 16u << 20};
  std::atomic<uint64_t> lag_max_{0};
  std::atomic<uint64_t> buffered_bytes_{0};
  std::atomic<uint64_t> buffered_max_{0};
  std::array<std::atomic<uint64_t>, 4> lag_files_{};
  // Counted by commit callbacks, which may outlive the receiver.
  struct Shared {
    std::atomic<uint64_t> committed{0};
    std::atomic<uint64_t> done{0};
  };
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::atomic<bool> ready_{false};
  std::atomic<bool> caught_up_{false};
  std::jthread thread_;
  std::mutex lifecycle_mutex_;
  bool started_ = false;
  bool shut_down_ = false;
  PodLogsStats stats_;
};

}  // namespace kobs::collect::pod_logs
