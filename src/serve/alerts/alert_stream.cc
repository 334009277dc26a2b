#include "serve/alerts/alert_stream.h"
#include "common/tsv.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <sstream>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/json_escape.h"
#include "common/logging.h"

namespace kobs::serve::alerts {

namespace {

uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string utc(int64_t s) {
  std::time_t t = s;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", tm);
}

std::optional<int64_t> windowEndOfId(std::string_view id) {
  if (!id.starts_with("alert-")) return std::nullopt;
  id.remove_prefix(6);
  auto dash = id.find('-');
  if (dash == std::string_view::npos || dash == 0) return std::nullopt;
  int64_t v = 0;
  for (char c : id.substr(0, dash)) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

std::string announcementId(const Announcement& a) {
  uint64_t h = fnv1a(a.rule);
  for (std::string_view p : {std::string_view("\0", 1), std::string_view(a.group), std::string_view("\0", 1),
                             std::string_view(a.state)})
    h = fnv1a(p, h);
  h = fnv1a(std::to_string(a.window_start), h);
  return fmt::format("alert-{}-{:016x}", a.window_end, h);
}

std::string announcementFrame(const Announcement& a) {
  std::string data = "{\"rule\":";
  json::appendString(data, a.rule);
  data += ",\"group\":";
  json::appendString(data, a.group);
  data += ",\"state\":";
  json::appendString(data, a.state);
  data += ",\"windowStart\":\"" + utc(a.window_start) + "\",\"windowEnd\":\"" + utc(a.window_end) + "\",\"value\":";
  data += a.value && std::isfinite(*a.value) ? fmt::format("{}", *a.value) : "null";
  data += "}";
  return fmt::format("event: {}\ndata: {}\nid: {}\n\n", kAlertsTopic, data, announcementId(a));
}

AlertStream::AlertStream(AlertStreamOptions options) : options_(std::move(options)) {
  keepalive_ = std::thread([this] { keepaliveLoop(); });
}

AlertStream::~AlertStream() { stop(); }

void AlertStream::attach(store::IStore& store, std::string database, std::string table, bool tail) {
  std::lock_guard lock(mutex_);
  if (store_ || stopping_) return;
  store_ = &store;
  database_ = std::move(database);
  table_ = std::move(table);
  tail_store_ = tail;
  tail_ = std::thread([this] { tailLoop(); });
}

void AlertStream::publish(const Announcement& a) {
  auto id = announcementId(a);
  auto frame = std::make_shared<const std::string>(announcementFrame(a));
  std::lock_guard lock(mutex_);
  if (!known_.insert(id).second) return;  // reported by both sources
  kept_.push_back({id, a.window_end, frame});
  while (kept_.size() > options_.history) {
    known_.erase(kept_.front().id);
    kept_.pop_front();
  }
  ++published_;
  std::erase_if(streams_, [&](const auto& w) { return !w->write(frame); });
}

std::string AlertStream::preamble() const {
  std::string p = ": connected\n\n";
  if (options_.retry.count() > 0) p += fmt::format("retry: {}\n\n", options_.retry.count());
  return p;
}

void AlertStream::open(std::shared_ptr<http::StreamWriter> writer, std::optional<std::string> last_id) {
  std::lock_guard lock(mutex_);
  if (stopping_) {
    writer->close(http::StreamWriter::CloseReason::kServerStopping);
    return;
  }
  if (last_id && !last_id->empty()) {
    auto at = std::find_if(kept_.begin(), kept_.end(), [&](const Kept& k) { return k.id == *last_id; });
    if (at != kept_.end()) {
      for (++at; at != kept_.end(); ++at)
        if (!writer->write(at->frame)) return;
    } else if (auto end = windowEndOfId(*last_id)) {
      for (const auto& k : kept_)
        if (k.window_end > *end && !writer->write(k.frame)) return;
    }
  }
  streams_.push_back(std::move(writer));
}

size_t AlertStream::streams() const {
  std::lock_guard lock(mutex_);
  return streams_.size();
}

uint64_t AlertStream::published() const {
  std::lock_guard lock(mutex_);
  return published_;
}

size_t AlertStream::readStore(int64_t since) {
  // Announced transitions only (Notified 2: decided, 1: delivered; both rows of
  // one decision have one id), oldest first; the ids dedupe re-reads.
  auto sql = fmt::format(
      "SELECT Rule, GroupKey, State, toUnixTimestamp(WindowStart), toUnixTimestamp(WindowEnd), Value FROM {}.{} "
      "WHERE Notified != 0 AND State IN ('ALERT', 'OK') AND WindowEnd >= toDateTime({}) ORDER BY WindowEnd, Rule, "
      "GroupKey LIMIT {}",
      store::quoteIdentifier(database_), store::quoteIdentifier(table_), std::max<int64_t>(since, 0),
      options_.history * 4);
  auto res = store_->query(sql, "TabSeparated");
  std::istringstream in(res.data);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string_view> f;
    std::string_view v = line;
    for (size_t b = 0;;) {
      auto t = v.find('\t', b);
      f.push_back(v.substr(b, t == std::string_view::npos ? std::string_view::npos : t - b));
      if (t == std::string_view::npos) break;
      b = t + 1;
    }
    if (f.size() != 6) continue;
    Announcement a;
    a.rule = unescapeTsv(f[0]);
    a.group = unescapeTsv(f[1]);
    a.state = unescapeTsv(f[2]);
    a.window_start = std::strtoll(std::string(f[3]).c_str(), nullptr, 10);
    a.window_end = std::strtoll(std::string(f[4]).c_str(), nullptr, 10);
    if (f[5] != "\\N") a.value = std::strtod(std::string(f[5]).c_str(), nullptr);
    publish(a);
    ++n;
  }
  return n;
}

void AlertStream::tailLoop() {
  auto log = logging::get("alerts.sse");
  // The first read fills the kept announcements (a day back), then, when the
  // alerts run elsewhere, the tail goes on; later reads
  // look an hour behind the newest window seen, for windows evaluated late.
  int64_t since = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count() - 86400;
  bool loaded = false;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    auto wait = options_.poll;
    try {
      readStore(since);
      loaded = true;
      std::lock_guard l(mutex_);
      if (!kept_.empty()) since = std::max(since, kept_.back().window_end - 3600);
    } catch (const std::exception& e) {
      // No alert_history yet (the alert role creates it): quiet, and less often, until it appears.
      log->debug("alert history not read: {}", e.what());
      wait = options_.poll * 5;
    }
    lock.lock();
    if (loaded && !tail_store_) break;
    cv_.wait_for(lock, wait, [this] { return stopping_; });
  }
}

void AlertStream::keepaliveLoop() {
  auto frame = std::make_shared<const std::string>(": keepalive\n\n");
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.keepalive, [this] { return stopping_; });
    if (stopping_) break;
    std::erase_if(streams_, [&](const auto& w) { return !w->write(frame); });
  }
}

void AlertStream::stop() {
  std::vector<std::shared_ptr<http::StreamWriter>> streams;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    streams.swap(streams_);
  }
  cv_.notify_all();
  for (auto& w : streams) w->close(http::StreamWriter::CloseReason::kServerStopping);
  if (tail_.joinable()) tail_.join();
  if (keepalive_.joinable()) keepalive_.join();
}

}  // namespace kobs::serve::alerts
