#include "collect/pod_logs/line_parser.h"

#include <cstring>

#include "common/rfc3339.h"

namespace kobs::collect::pod_logs {

std::string_view formatName(LogFormat f) {
  switch (f) {
    case LogFormat::kCri: return "cri";
    case LogFormat::kDocker: return "docker";
    default: return "unknown";
  }
}

std::string_view streamName(Stream s) { return s == Stream::kStderr ? "stderr" : "stdout"; }

LogFormat detectFormat(std::string_view line) {
  if (line.empty()) return LogFormat::kUnknown;
  return line.front() == '{' ? LogFormat::kDocker : LogFormat::kCri;
}

bool TimeParser::parse(std::string_view text, int64_t& ns) {
  // "YYYY-MM-DDTHH:MM:SS" [".fraction"] zone
  if (text.size() < 20) return false;
  std::string_view secs = text.substr(0, 19);
  std::string_view rest = text.substr(19);
  int64_t frac = 0;
  if (rest.front() == '.') {
    size_t i = 1;
    int digits = 0;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') {
      if (digits < 9) {
        frac = frac * 10 + (rest[i] - '0');
        ++digits;
      }
      ++i;
    }
    if (i == 1) return false;
    while (digits++ < 9) frac *= 10;
    rest.remove_prefix(i);
  }
  if (rest.empty()) return false;
  // Cache hit: same second and zone as the previous line.
  if (valid_ && key_.size() == secs.size() + rest.size() && std::memcmp(key_.data(), secs.data(), secs.size()) == 0 &&
      std::memcmp(key_.data() + secs.size(), rest.data(), rest.size()) == 0) {
    ns = base_ns_ + frac;
    return true;
  }
  // The calendar fields in range (the shared parser normalises 13-45 into the next year).
  auto two = [&](size_t i) { return (secs[i] - '0') * 10 + (secs[i + 1] - '0'); };
  for (size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u, 11u, 12u, 14u, 15u, 17u, 18u})
    if (secs[i] < '0' || secs[i] > '9') return false;
  if (secs[4] != '-' || secs[7] != '-' || (secs[10] != 'T' && secs[10] != 't' && secs[10] != ' ') || secs[13] != ':' ||
      secs[16] != ':')
    return false;
  if (two(5) < 1 || two(5) > 12 || two(8) < 1 || two(8) > 31 || two(11) > 23 || two(14) > 59 || two(17) > 60) return false;
  key_.assign(secs);
  key_.append(rest);
  auto parsed = rfc3339::parseNanos(key_);
  valid_ = parsed.has_value();
  if (!valid_) return false;
  base_ns_ = *parsed;
  ns = base_ns_ + frac;
  return true;
}

bool LineParser::parse(LogFormat format, std::string_view line, ParsedLine& out, std::string_view& error) {
  return format == LogFormat::kDocker ? parseDocker(line, out, error) : parseCri(line, out, error);
}

bool LineParser::parseCri(std::string_view line, ParsedLine& out, std::string_view& error) {
  const char* p = line.data();
  const char* end = p + line.size();
  const char* sp = static_cast<const char*>(std::memchr(p, ' ', line.size()));
  if (!sp) {
    error = "no space after the timestamp";
    return false;
  }
  out.time_text = std::string_view(p, size_t(sp - p));
  if (!time_.parse(out.time_text, out.time_ns)) {
    error = "bad timestamp";
    return false;
  }
  p = sp + 1;
  if (end - p >= 7 && std::memcmp(p, "stdout ", 7) == 0) {
    out.stream = Stream::kStdout;
  } else if (end - p >= 7 && std::memcmp(p, "stderr ", 7) == 0) {
    out.stream = Stream::kStderr;
  } else {
    error = "stream is neither stdout nor stderr";
    return false;
  }
  p += 7;
  // Tags are ':'-separated; the first is P (partial) or F (full).
  const char* tag = p;
  while (p < end && *p != ' ') ++p;
  if (p == tag || (*tag != 'P' && *tag != 'F')) {
    error = "log tag is neither P nor F";
    return false;
  }
  out.partial = *tag == 'P';
  if (p < end) ++p;  // the space before the log (absent when the log is empty)
  std::string_view log(p, size_t(end - p));
  // A CRLF-terminated line: the runtime split at '\n', the '\r' is not content.
  if (!out.partial && !log.empty() && log.back() == '\r') log.remove_suffix(1);
  out.log = log;
  return true;
}

namespace {

// Appends the UTF-8 encoding of `cp`.
void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

// The first '"' or '\\' in [p, end), else end: two memchr (vectorised in
// libc) instead of a loop over bytes; a log line is mostly plain text.
const char* nextQuoteOrEscape(const char* p, const char* end) {
  const char* q = static_cast<const char*>(std::memchr(p, '"', size_t(end - p)));
  if (!q) q = end;
  const char* b = static_cast<const char*>(std::memchr(p, '\\', size_t(q - p)));
  return b ? b : q;
}

bool hex4(const char* p, const char* end, uint32_t& v) {
  if (end - p < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
    else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
    else return false;
  }
  return true;
}

// A flat JSON object reader for docker's json-file lines: string values are
// returned (unescaped into `scratch` when they contain escapes), other
// values skipped.
class JsonObject {
 public:
  JsonObject(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}

  bool open() {
    ws();
    return p_ < end_ && *p_++ == '{';
  }
  // Next key; false at '}' (done_ set) or on error.
  bool key(std::string_view& k, std::string& scratch) {
    ws();
    if (p_ < end_ && *p_ == ',') {
      ++p_;
      ws();
    }
    if (p_ < end_ && *p_ == '}') {
      done_ = true;
      return false;
    }
    if (!string(k, scratch)) return false;
    ws();
    if (p_ >= end_ || *p_++ != ':') return false;
    ws();
    return true;
  }
  bool isString() const { return p_ < end_ && *p_ == '"'; }
  // Reads a string value; escapes are decoded into `scratch` (cleared).
  bool string(std::string_view& out, std::string& scratch) {
    if (p_ >= end_ || *p_ != '"') return false;
    const char* start = ++p_;
    p_ = nextQuoteOrEscape(p_, end_);
    if (p_ >= end_) return false;
    if (*p_ == '"') {
      out = std::string_view(start, size_t(p_ - start));
      ++p_;
      return true;
    }
    scratch.assign(start, size_t(p_ - start));
    // p_ is at a '"' or a '\\': the string's end, or an escape followed by
    // a run of plain bytes copied at once.
    while (p_ < end_) {
      char c = *p_++;
      if (c == '"') {
        out = scratch;
        return true;
      }
      if (p_ >= end_) return false;
      char e = *p_++;
      switch (e) {
        case '"': scratch.push_back('"'); break;
        case '\\': scratch.push_back('\\'); break;
        case '/': scratch.push_back('/'); break;
        case 'b': scratch.push_back('\b'); break;
        case 'f': scratch.push_back('\f'); break;
        case 'n': scratch.push_back('\n'); break;
        case 'r': scratch.push_back('\r'); break;
        case 't': scratch.push_back('\t'); break;
        case 'u': {
          uint32_t cp;
          if (!hex4(p_, end_, cp)) return false;
          p_ += 4;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u' && hex4(p_ + 2, end_, lo) && lo >= 0xDC00 &&
                lo <= 0xDFFF) {
              p_ += 6;
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              cp = 0xFFFD;  // a lone surrogate
            }
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            cp = 0xFFFD;
          }
          appendUtf8(scratch, cp);
          break;
        }
        default: return false;
      }
      const char* run = p_;
      p_ = nextQuoteOrEscape(p_, end_);
      scratch.append(run, size_t(p_ - run));
    }
    return false;
  }
  // Skips any value (objects and arrays by depth, minding strings).
  bool skip() {
    int depth = 0;
    while (p_ < end_) {
      char c = *p_;
      if (c == '"') {
        ++p_;
        while (p_ < end_ && *p_ != '"') p_ += (*p_ == '\\') ? 2 : 1;
        if (p_ >= end_) return false;
        ++p_;
        if (depth == 0) return true;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      else if (c == '}' || c == ']') {
        if (depth == 0) return true;  // the enclosing object's end
        --depth;
      } else if (depth == 0 && c == ',') {
        return true;
      }
      ++p_;
    }
    return false;
  }
  bool done() const { return done_; }

 private:
  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\r' || *p_ == '\n')) ++p_;
  }
  const char* p_;
  const char* end_;
  bool done_ = false;
};

}  // namespace

bool LineParser::parseDocker(std::string_view line, ParsedLine& out, std::string_view& error) {
  JsonObject obj(line);
  if (!obj.open()) {
    error = "not a JSON object";
    return false;
  }
  std::string key_scratch, other_scratch;
  std::string_view key, log, stream, time;
  bool has_log = false;
  while (obj.key(key, key_scratch)) {
    if (key == "log" && obj.isString()) {
      if (!obj.string(log, scratch_)) break;
      has_log = true;
    } else if (key == "stream" && obj.isString()) {
      if (!obj.string(stream, other_scratch)) break;
    } else if (key == "time" && obj.isString()) {
      // Timestamps have no escapes; a view into the line stays valid.
      std::string t;
      if (!obj.string(time, t) || !t.empty()) break;
    } else if (!obj.skip()) {
      break;
    }
  }
  if (!obj.done()) {
    error = "malformed JSON";
    return false;
  }
  if (!has_log) {
    error = "no \"log\" field";
    return false;
  }
  if (stream == "stdout") out.stream = Stream::kStdout;
  else if (stream == "stderr") out.stream = Stream::kStderr;
  else {
    error = "stream is neither stdout nor stderr";
    return false;
  }
  out.time_text = time;
  if (!time_.parse(time, out.time_ns)) {
    error = "bad timestamp";
    return false;
  }
  // Docker ends a full line's log with "\n"; pieces of a long line lack it.
  out.partial = log.empty() || log.back() != '\n';
  if (!out.partial) {
    log.remove_suffix(1);
    if (!log.empty() && log.back() == '\r') log.remove_suffix(1);
  }
  out.log = log;
  return true;
}

}  // namespace kobs::collect::pod_logs
