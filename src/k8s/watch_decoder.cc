#include "k8s/watch_decoder.h"

#include <simdjson.h>

namespace kobs::k8s {

namespace od = simdjson::ondemand;

std::string_view watchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded: return "ADDED";
    case WatchEventType::kModified: return "MODIFIED";
    case WatchEventType::kDeleted: return "DELETED";
    case WatchEventType::kBookmark: return "BOOKMARK";
    case WatchEventType::kError: return "ERROR";
  }
  return "UNKNOWN";
}

// Two parsers: the envelope's strings (type) stay valid while the object is
// parsed a second time for its metadata.
struct WatchDecoder::Parsers {
  od::parser envelope;
  od::parser object;
};

WatchDecoder::WatchDecoder(Handler handler, size_t max_line_bytes)
    : handler_(std::move(handler)), max_line_bytes_(max_line_bytes), parsers_(std::make_unique<Parsers>()) {}

WatchDecoder::~WatchDecoder() = default;

void WatchDecoder::feed(std::string_view bytes) {
  while (discarding_ && !bytes.empty()) {
    auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) return;
    discarding_ = false;
    bytes.remove_prefix(nl + 1);
  }
  buf_.append(bytes);
  size_t line_start = 0;
  while (true) {
    auto nl = buf_.find('\n', scan_);
    if (nl == std::string::npos) break;
    if (nl - line_start > max_line_bytes_) {
      ++oversize_lines_;
    } else {
      parseLine(line_start, nl);
    }
    line_start = nl + 1;
    scan_ = line_start;
  }
  buf_.erase(0, line_start);
  scan_ = buf_.size();
  if (buf_.size() > max_line_bytes_) {
    ++oversize_lines_;
    buf_.clear();
    buf_.shrink_to_fit();  // give back the memory the huge line took
    scan_ = 0;
    discarding_ = true;
  }
}

void WatchDecoder::finish() {
  bool partial = !buf_.empty() && buf_.find_first_not_of(" \t\r") != std::string::npos;
  if (partial) ++bad_lines_;
  buf_.clear();
  scan_ = 0;
  discarding_ = false;
}

void WatchDecoder::parseLine(size_t begin, size_t end) {
  while (begin < end && (buf_[begin] == ' ' || buf_[begin] == '\t' || buf_[begin] == '\r')) ++begin;
  while (end > begin && (buf_[end - 1] == ' ' || buf_[end - 1] == '\t' || buf_[end - 1] == '\r')) --end;
  if (begin == end) return;  // keep-alive blank line
  // simdjson reads up to SIMDJSON_PADDING bytes past the end; the buffer's
  // capacity provides them (their content does not matter).
  buf_.reserve(buf_.size() + simdjson::SIMDJSON_PADDING);
  const char* data = buf_.data();
  const size_t capacity = buf_.capacity();

  WatchEvent event;
  std::string_view type;
  bool have_object = false;
  {
    od::document doc;
    if (parsers_->envelope.iterate(data + begin, end - begin, capacity - begin).get(doc)) {
      ++bad_lines_;
      return;
    }
    od::object top;
    if (doc.get_object().get(top)) {
      ++bad_lines_;
      return;
    }
    for (auto field : top) {
      std::string_view key;
      if (field.unescaped_key().get(key)) {
        ++bad_lines_;
        return;
      }
      if (key == "type") {
        if (field.value().get_string().get(type)) {
          ++bad_lines_;
          return;
        }
      } else if (key == "object") {
        od::object obj;
        if (field.value().get_object().get(obj) || obj.raw_json().get(event.object)) {
          ++bad_lines_;
          return;
        }
        have_object = true;
      }
    }
    // A truncated line fails above: simdjson checks the closing brace of the
    // root object and the depth while skipping into the object.
  }
  if (type == "ADDED") event.type = WatchEventType::kAdded;
  else if (type == "MODIFIED") event.type = WatchEventType::kModified;
  else if (type == "DELETED") event.type = WatchEventType::kDeleted;
  else if (type == "BOOKMARK") event.type = WatchEventType::kBookmark;
  else if (type == "ERROR") event.type = WatchEventType::kError;
  else {
    ++bad_lines_;
    return;
  }
  if (!have_object) {
    ++bad_lines_;
    return;
  }

  // Second pass over the object alone, fully validated: metadata.resourceVersion
  // (and the Status fields of an ERROR).
  od::document obj_doc;
  size_t obj_offset = static_cast<size_t>(event.object.data() - data);
  if (parsers_->object.iterate(event.object.data(), event.object.size(), capacity - obj_offset).get(obj_doc)) {
    ++bad_lines_;
    return;
  }
  od::object obj;
  if (obj_doc.get_object().get(obj)) {
    ++bad_lines_;
    return;
  }
  bool ok = true;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      ok = false;
      break;
    }
    if (key == "metadata") {
      od::object meta;
      if (field.value().get_object().get(meta)) continue;
      for (auto m : meta) {
        std::string_view mkey;
        if (m.unescaped_key().get(mkey)) {
          ok = false;
          break;
        }
        if (mkey == "resourceVersion") {
          if (m.value().get_string().get(event.resource_version)) ok = false;
        }
      }
    } else if (event.type == WatchEventType::kError && key == "code") {
      int64_t code = 0;
      if (!field.value().get_int64().get(code)) event.error_code = static_cast<int>(code);
    } else if (event.type == WatchEventType::kError && key == "reason") {
      if (field.value().get_string().get(event.error_reason)) event.error_reason = {};
    } else if (event.type == WatchEventType::kError && key == "message") {
      if (field.value().get_string().get(event.error_message)) event.error_message = {};
    }
  }
  if (!ok) {
    ++bad_lines_;
    return;
  }
  ++events_;
  handler_(event);
}

}  // namespace kobs::k8s
