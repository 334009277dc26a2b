// Multi-line records (Java stack traces, Python tracebacks, Go panics): the
// lines of one container that belong together are joined into one record,
// after the CRI partial (P/F) recombination, as the OpenTelemetry Collector's
// `recombine` operator does with is_first_entry / is_last_entry.
//
// A rule (pod_logs.multiline) is matched per file by a glob over
// "<namespace>/<pod>/<container>", the first match winning; files without a
// rule never reach this code. Each stream (stdout, stderr) is combined on its
// own. An entry ends when the next first line comes (is_first_entry) or with
// its last line (is_last_entry), at max_lines, before it would pass
// max_bytes (cut between lines; one line longer than max_bytes is cut inside
// it; every piece flagged split), or flush_timeout after its last line once
// the file is read to its end. Lines before any first line are combined as
// an entry of their own (the Collector's unmatched batch).
//
// Offsets, for checkpoints. resumeLimit() is the start of the latest line
// that began an entry while no entry of the other stream was open: no entry
// spans that point, so reading again from there rebuilds the same entries.
// The checkpoint never moves past it, so a restart re-reads an open entry
// whole; busyFirstTime() (the earliest first-line time since that point)
// bounds the store lookup that skips rows re-read and already stored. Not
// rebuilt the same: entries a flush_timeout ended while the other stream's
// entry stayed open (a later line then starts another entry; read again at
// once, it joins the first).
//
// Regex: RE2 (linear time, no backtracking blow-up on a hostile line); a
// match is a search anywhere in the line, as Go's regexp.MatchString.
//
// Threading: a MultilineRules set is immutable once built and shared by the
// tailer's files; a MultilineCombiner belongs to one file (tailer thread).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collect/pod_logs/line_parser.h"

namespace re2 {
class RE2;
}

namespace kobs::collect::pod_logs {

struct MultilineRule {
  std::string match = "*";  // fnmatch glob over "<namespace>/<pod>/<container>"
  std::string is_first_entry;  // exactly one of the two regexes
  std::string is_last_entry;
  size_t max_lines = 1000;
  size_t max_bytes = 0;  // 0: the receiver's max_log_size
  std::chrono::milliseconds flush_timeout{1000};
  std::string separator = "\n";
};

// The rules of pod_logs.multiline: a YAML (or JSON) list of maps with the
// keys above. Throws kobs::Exception(kBadConfig) naming the rule and the key
// (unknown key, both or neither regex, a regex RE2 refuses, a bad number).
std::vector<MultilineRule> parseMultilineRules(std::string_view yaml);

// A rule with its regex compiled.
class CompiledRule {
 public:
  explicit CompiledRule(MultilineRule rule, size_t default_max_bytes);
  ~CompiledRule();
  const MultilineRule& rule() const { return rule_; }
  bool firstMode() const { return first_; }
  bool matches(std::string_view line) const;

 private:
  MultilineRule rule_;
  bool first_ = true;
  std::unique_ptr<re2::RE2> re_;
};

class MultilineRules {
 public:
  MultilineRules() = default;
  // Throws kBadConfig when a regex does not compile.
  MultilineRules(const std::vector<MultilineRule>& rules, size_t default_max_bytes);
  bool empty() const { return rules_.empty(); }
  // The first rule whose glob matches "<ns>/<pod>/<container>"; null if none.
  std::shared_ptr<const CompiledRule> find(std::string_view ns, std::string_view pod, std::string_view container) const;

 private:
  std::vector<std::shared_ptr<const CompiledRule>> rules_;
};

class MultilineCombiner {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr uint64_t kNoOffset = std::numeric_limits<uint64_t>::max();

  explicit MultilineCombiner(std::shared_ptr<const CompiledRule> rule) : rule_(std::move(rule)) {}

  // One record of the CRI recombiner: its bytes span [start, end) of the file.
  struct Line {
    std::string_view body;
    int64_t time_ns = 0;
    std::string_view time_text;
    Stream stream = Stream::kStdout;
    bool split = false;  // a piece of a line longer than max_log_size: passes alone
    uint64_t start = 0;
    uint64_t end = 0;
  };
  using Record = Recombiner::Record;

  // Calls emit(const Record&) for each finished record; views are valid
  // during the call only.
  template <typename Emit>
  void add(const Line& line, Clock::time_point now, Emit&& emit);
  // Ends the entries whose last line is flush_timeout old; how many.
  template <typename Emit>
  size_t flushExpired(Clock::time_point now, Emit&& emit);
  // Ends every open entry (a drained file).
  template <typename Emit>
  void flushAll(Emit&& emit);

  bool pending() const { return entries_[0].active || entries_[1].active; }
  // Memory held by the open entries' buffers (capacity).
  size_t heldBytes() const {
    size_t n = 0;
    for (const Entry& e : entries_) n += e.buf.capacity() + e.time_text.capacity();
    return n;
  }
  // With no entry open, gives back buffers grown past `keep`.
  void trim(size_t keep) {
    for (Entry& e : entries_)
      if (!e.active && e.buf.capacity() > keep) std::string().swap(e.buf);
  }
  // Where reading again rebuilds the open entries; kNoOffset when none is open.
  uint64_t resumeLimit() const { return busy_start_; }
  // The earliest first-line time of the busy period (INT64_MAX when none).
  int64_t busyFirstTime() const { return busy_time_; }
  // Lines joined into the record being emitted (valid inside emit).
  size_t emittingLines() const { return emitting_lines_; }
  void reset();

 private:
  struct Entry {
    bool active = false;
    bool split = false;  // this entry is a piece of a longer one
    bool cut = false;    // the previous entry was cut: the next continues it
    size_t lines = 0;
    int64_t time_ns = 0;
    std::string time_text;
    Stream stream = Stream::kStdout;
    std::string buf;
    Clock::time_point last_add{};
  };
  template <typename Emit>
  void start(Entry& e, const Line& line, Clock::time_point now, Emit& emit);
  template <typename Emit>
  void append(Entry& e, const Line& line, Clock::time_point now, Emit& emit);
  template <typename Emit>
  void flush(Entry& e, bool cut, Emit& emit);
  void settle() {
    if (!pending()) {
      busy_start_ = kNoOffset;
      busy_time_ = std::numeric_limits<int64_t>::max();
    }
  }

  std::shared_ptr<const CompiledRule> rule_;
  Entry entries_[2];
  uint64_t busy_start_ = kNoOffset;
  int64_t busy_time_ = std::numeric_limits<int64_t>::max();
  size_t emitting_lines_ = 1;
};

template <typename Emit>
void MultilineCombiner::flush(Entry& e, bool cut, Emit& emit) {
  if (!e.active) return;
  emitting_lines_ = e.lines;
  emit(Record{e.buf, e.time_ns, e.time_text, e.stream, e.split || cut});
  e.active = false;
  e.cut = cut;
  e.buf.clear();
  e.lines = 0;
}

template <typename Emit>
void MultilineCombiner::start(Entry& e, const Line& line, Clock::time_point now, Emit& emit) {
  const size_t max_bytes = rule_->rule().max_bytes;
  e.active = true;
  e.split = e.cut;  // continues an entry cut at max_lines or max_bytes
  e.cut = false;
  e.lines = 1;
  e.time_ns = line.time_ns;
  e.time_text.assign(line.time_text);
  e.stream = line.stream;
  e.last_add = now;
  // With the other stream's entry closed, nothing spans this line's start:
  // reading again from here rebuilds every entry after it.
  const Entry& other = &e == &entries_[0] ? entries_[1] : entries_[0];
  if (!other.active || busy_start_ == kNoOffset) {
    busy_start_ = line.start;
    busy_time_ = line.time_ns;
  } else {
    busy_start_ = std::min(busy_start_, line.start);
    busy_time_ = std::min(busy_time_, line.time_ns);
  }
  std::string_view rest = line.body;
  // One line longer than max_bytes: cut inside it, the rest stays open.
  while (rest.size() > max_bytes) {
    e.buf.assign(rest.substr(0, max_bytes));
    rest.remove_prefix(max_bytes);
    emitting_lines_ = 1;
    emit(Record{e.buf, e.time_ns, e.time_text, e.stream, true});
    e.split = true;
  }
  e.buf.assign(rest);
}

template <typename Emit>
void MultilineCombiner::append(Entry& e, const Line& line, Clock::time_point now, Emit& emit) {
  const auto& sep = rule_->rule().separator;
  if (e.buf.size() + sep.size() + line.body.size() > rule_->rule().max_bytes) {
    flush(e, /*cut=*/true, emit);
    start(e, line, now, emit);
    return;
  }
  e.buf.append(sep);
  e.buf.append(line.body);
  ++e.lines;
  e.last_add = now;
}

template <typename Emit>
void MultilineCombiner::add(const Line& line, Clock::time_point now, Emit&& emit) {
  Entry& e = entries_[line.stream == Stream::kStderr ? 1 : 0];
  if (line.split) {
    // Pieces of an overlong line pass alone; what was open ends before them.
    flush(e, false, emit);
    e.cut = false;
    emitting_lines_ = 1;
    emit(Record{line.body, line.time_ns, line.time_text, line.stream, true});
    settle();
    return;
  }
  const bool m = rule_->matches(line.body);
  if (rule_->firstMode()) {
    if (m) {
      flush(e, false, emit);
      e.cut = false;
      start(e, line, now, emit);
    } else if (e.active) {
      append(e, line, now, emit);
    } else {
      start(e, line, now, emit);  // before any first line, or continuing a cut entry
    }
    if (e.active && e.lines >= rule_->rule().max_lines) flush(e, true, emit);
  } else {
    if (e.active) append(e, line, now, emit);
    else start(e, line, now, emit);
    if (m) flush(e, false, emit);
    else if (e.active && e.lines >= rule_->rule().max_lines) flush(e, true, emit);
  }
  settle();
}

template <typename Emit>
size_t MultilineCombiner::flushExpired(Clock::time_point now, Emit&& emit) {
  size_t n = 0;
  for (auto& e : entries_)
    if (e.active && now - e.last_add >= rule_->rule().flush_timeout) {
      flush(e, false, emit);
      e.cut = false;
      ++n;
    }
  settle();
  return n;
}

template <typename Emit>
void MultilineCombiner::flushAll(Emit&& emit) {
  for (auto& e : entries_) {
    flush(e, false, emit);
    e.cut = false;
  }
  settle();
}

}  // namespace kobs::collect::pod_logs
