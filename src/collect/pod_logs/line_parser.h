// Container log line parsing: CRI (CRI-O and containerd,
// `<RFC3339Nano> <stdout|stderr> <P|F> <log>`) and docker json-file
// (`{"log":"...","stream":"...","time":"..."}`), the format detected per file
// from its first line as the stock `container` operator does (a leading `{`
// is docker), plus the recombination of partial lines.
//
// Hot path: a CRI line is split in place (no copy); the timestamp's
// calendar part is parsed by the shared RFC 3339 parser once per distinct
// second and zone, the fraction by hand.
//
// Threading: a LineParser and a Recombiner belong to one file's tailer (one
// thread); they keep scratch state between calls.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kobs::collect::pod_logs {

enum class LogFormat : uint8_t { kUnknown = 0, kCri = 1, kDocker = 2 };
enum class Stream : uint8_t { kStdout = 0, kStderr = 1 };

std::string_view formatName(LogFormat f);
std::string_view streamName(Stream s);

// kDocker when the line starts with '{', else kCri; kUnknown for an empty line.
LogFormat detectFormat(std::string_view line);

struct ParsedLine {
  int64_t time_ns = 0;
  std::string_view time_text;  // as written (views the line)
  Stream stream = Stream::kStdout;
  bool partial = false;        // CRI tag P, or a docker log without its trailing newline
  std::string_view log;        // views the line (CRI) or the parser's scratch (docker)
};

// RFC 3339 timestamps with a per-second cache. Returns false when malformed.
class TimeParser {
 public:
  bool parse(std::string_view text, int64_t& ns);

 private:
  std::string key_;  // the text without its fraction, of the cached second
  int64_t base_ns_ = 0;
  bool valid_ = false;
};

class LineParser {
 public:
  // `line` excludes its '\n'. False (and `error` set) for a malformed line.
  bool parse(LogFormat format, std::string_view line, ParsedLine& out, std::string_view& error);
  bool parseCri(std::string_view line, ParsedLine& out, std::string_view& error);
  bool parseDocker(std::string_view line, ParsedLine& out, std::string_view& error);

 private:
  TimeParser time_;
  std::string scratch_;
};

// Joins partial pieces into one record of at most max_size bytes; a record
// that grows past it is cut into pieces of max_size, each flagged as split.
class Recombiner {
 public:
  explicit Recombiner(size_t max_size) : max_size_(max_size) {}

  struct Record {
    std::string_view body;
    int64_t time_ns = 0;      // of the first piece
    std::string_view time_text;
    Stream stream = Stream::kStdout;
    bool split = false;       // part of a record longer than max_size
  };

  // Feeds one parsed line; calls emit(Record) for each finished record (0, 1
  // or more). Views passed to emit are valid during the call only.
  template <typename Emit>
  void add(const ParsedLine& line, Emit&& emit);

  bool pending() const { return active_; }
  size_t pendingBytes() const { return buf_.size(); }
  // Memory held (capacity, not size: a record's buffer outlives it).
  size_t heldBytes() const { return buf_.capacity() + time_text_.capacity(); }
  // Between records, gives back a buffer grown past `keep` by a long one.
  void trim(size_t keep) {
    if (!active_ && buf_.capacity() > keep) std::string().swap(buf_);
  }
  void reset() {
    active_ = false;
    split_ = false;
    buf_.clear();
  }

 private:
  size_t max_size_;
  bool active_ = false;
  bool split_ = false;
  int64_t time_ns_ = 0;
  std::string time_text_;
  Stream stream_ = Stream::kStdout;
  std::string buf_;
};

template <typename Emit>
void Recombiner::add(const ParsedLine& line, Emit&& emit) {
  if (!active_) {
    if (!line.partial && line.log.size() <= max_size_) {
      emit(Record{line.log, line.time_ns, line.time_text, line.stream, false});
      return;
    }
    active_ = true;
    split_ = false;
    time_ns_ = line.time_ns;
    time_text_.assign(line.time_text);
    stream_ = line.stream;
    buf_.clear();
  }
  std::string_view rest = line.log;
  while (buf_.size() + rest.size() > max_size_) {
    size_t take = max_size_ - buf_.size();
    buf_.append(rest.substr(0, take));
    rest.remove_prefix(take);
    split_ = true;
    emit(Record{buf_, time_ns_, time_text_, stream_, true});
    buf_.clear();
  }
  buf_.append(rest);
  if (!line.partial) {
    // An empty last piece after a split adds no record.
    if (!(split_ && buf_.empty())) emit(Record{buf_, time_ns_, time_text_, stream_, split_});
    reset();
  }
}

}  // namespace kobs::collect::pod_logs
