// WatchDecoder: turns the bytes of a watch response (newline-delimited JSON
// `{"type":..., "object":{...}}`) into WatchEvents, parsed with simdjson
// without copying the object. A line that is not a complete watch event
// (truncated, not JSON, unknown type, no object) is counted and skipped;
// a line longer than the bound is dropped unparsed and counted, so one huge
// or endless line cannot exhaust memory.
//
// Threading: one decoder per stream, used by one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace kobs::k8s {

enum class WatchEventType : uint8_t { kAdded = 0, kModified = 1, kDeleted = 2, kBookmark = 3, kError = 4 };

std::string_view watchEventTypeName(WatchEventType type);

// Views are valid only during the handler call.
struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  std::string_view object;            // raw JSON of the object as the server sent it
  std::string_view resource_version;  // object.metadata.resourceVersion ("" if absent)
  // kError only: the metav1.Status fields.
  int error_code = 0;
  std::string_view error_reason;
  std::string_view error_message;
};

class WatchDecoder {
 public:
  using Handler = std::function<void(const WatchEvent&)>;
  static constexpr size_t kDefaultMaxLineBytes = 16u << 20;

  explicit WatchDecoder(Handler handler, size_t max_line_bytes = kDefaultMaxLineBytes);
  ~WatchDecoder();

  void feed(std::string_view bytes);
  // End of stream: a pending partial line is a truncated event (counted bad).
  void finish();

  uint64_t events() const { return events_; }
  uint64_t badLines() const { return bad_lines_; }
  uint64_t oversizeLines() const { return oversize_lines_; }

 private:
  struct Parsers;
  void parseLine(size_t begin, size_t end);

  Handler handler_;
  size_t max_line_bytes_;
  std::unique_ptr<Parsers> parsers_;
  std::string buf_;
  size_t scan_ = 0;         // bytes of buf_ already searched for '\n'
  bool discarding_ = false;  // inside an oversize line, dropping until '\n'
  uint64_t events_ = 0;
  uint64_t bad_lines_ = 0;
  uint64_t oversize_lines_ = 0;
};

}  // namespace kobs::k8s
