#include "pipeline/disk_buffer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/logging.h"
#include "pipeline/rowbinary_writer.h"

namespace kobs::pipeline {
namespace {

constexpr uint32_t kMagic = 0x57424F4B;  // "KOBW" little-endian
constexpr uint8_t kRecordVersion = 1;
constexpr size_t kFixedHeader = 4 + 1 + 3 + 8 + 4 + 4 + 4;  // magic, version, pad, seq, hlen, blen, crc
constexpr uint64_t kMaxRecordPart = 1ull << 31;

namespace fs = std::filesystem;

void writeAll(int fd, const char* data, size_t n, const fs::path& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Exception(ErrorCode::kIo, "write to {} failed: {}", path.string(), std::strerror(errno));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
}

void fsyncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::string encodeHeader(const BatchHeader& h) {
  std::string out;
  RowBinaryWriter w(out);
  w.fixed<uint64_t>(h.rows);
  w.string(h.table);
  w.string(h.format);
  w.varUInt(h.columns.size());
  for (const auto& c : h.columns) w.string(c);
  return out;
}

// Reads what encodeHeader wrote; false on malformed input.
bool decodeHeader(std::string_view in, BatchHeader& h) {
  size_t pos = 0;
  auto varuint = [&](uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= in.size()) return false;
      uint8_t b = static_cast<uint8_t>(in[pos++]);
      v |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  };
  auto str = [&](std::string& s) {
    uint64_t n;
    if (!varuint(n) || n > in.size() - pos) return false;
    s.assign(in.substr(pos, n));
    pos += n;
    return true;
  };
  if (in.size() < 8) return false;
  std::memcpy(&h.rows, in.data(), 8);
  pos = 8;
  uint64_t ncols;
  if (!str(h.table) || !str(h.format) || !varuint(ncols) || ncols > 10000) return false;
  h.columns.resize(ncols);
  for (auto& c : h.columns)
    if (!str(c)) return false;
  return pos == in.size();
}

std::string segmentName(uint64_t first_seq) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "wal-%020llu.seg", static_cast<unsigned long long>(first_seq));
  return buf;
}

std::string randomHex(size_t bytes) {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xFF;
    out.push_back(kHex[v >> 4]);
    out.push_back(kHex[v & 0xF]);
  }
  return out;
}

}  // namespace

DiskBuffer::DiskBuffer(DiskBufferOptions options) : options_(std::move(options)) {
  fs::create_directories(options_.dir);
  recover();
}

DiskBuffer::~DiskBuffer() {
  close();
  if (active_fd_ >= 0) {
    if (options_.fsync != FsyncPolicy::kNever) ::fsync(active_fd_);
    ::close(active_fd_);
  }
}

void DiskBuffer::recover() {
  auto log = logging::get("wal");
  const fs::path state_path = options_.dir / "state.json";
  if (fs::exists(state_path)) {
    std::ifstream in(state_path);
    nlohmann::json state;
    try {
      in >> state;
    } catch (const std::exception& e) {
      throw Exception(ErrorCode::kCorruptData, "cannot parse {}: {}", state_path.string(), e.what());
    }
    if (state.value("version", 0) != 1)
      throw Exception(ErrorCode::kCorruptData, "{} has unsupported version {}", state_path.string(),
                      state.value("version", 0));
    instance_ = state.at("instance").get<std::string>();
    committed_seq_ = state.at("committed_seq").get<uint64_t>();
  } else {
    instance_ = randomHex(8);
    persistState(0);
  }
  next_seq_ = committed_seq_ + 1;

  std::vector<uint64_t> firsts;
  for (const auto& f : fs::directory_iterator(options_.dir)) {
    auto name = f.path().filename().string();
    if (name.starts_with("wal-") && name.ends_with(".seg")) firsts.push_back(std::stoull(name.substr(4, 20)));
  }
  std::sort(firsts.begin(), firsts.end());
  for (size_t i = 0; i < firsts.size(); ++i) {
    Segment seg{firsts[i], firsts[i] ? firsts[i] - 1 : 0, 0, options_.dir / segmentName(firsts[i])};
    replaySegment(seg, i + 1 == firsts.size());
    segments_[seg.first_seq] = seg;
  }
  for (auto& e : entries_) pending_bytes_ += e.record_bytes;
  stats_.recovered_batches = entries_.size();
  if (!entries_.empty())
    log->info("replaying {} batches ({} bytes) not yet committed to the store", entries_.size(), pending_bytes_);
  dropCommittedSegments();
}

void DiskBuffer::replaySegment(Segment& seg, bool newest) {
  auto log = logging::get("wal");
  int fd = ::open(seg.path.c_str(), O_RDONLY);
  if (fd < 0) throw Exception(ErrorCode::kIo, "cannot open {}: {}", seg.path.string(), std::strerror(errno));
  struct stat st{};
  ::fstat(fd, &st);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t offset = 0;
  std::string fixed(kFixedHeader, '\0'), payload;
  bool bad = false;
  while (offset < size) {
    if (size - offset < kFixedHeader || ::pread(fd, fixed.data(), kFixedHeader, offset) != ssize_t(kFixedHeader)) {
      bad = true;
      break;
    }
    uint32_t magic, hlen, blen, crc;
    uint64_t seq;
    std::memcpy(&magic, fixed.data(), 4);
    std::memcpy(&seq, fixed.data() + 8, 8);
    std::memcpy(&hlen, fixed.data() + 16, 4);
    std::memcpy(&blen, fixed.data() + 20, 4);
    std::memcpy(&crc, fixed.data() + 24, 4);
    if (magic != kMagic || uint8_t(fixed[4]) != kRecordVersion || size - offset - kFixedHeader < uint64_t(hlen) + blen) {
      bad = true;
      break;
    }
    payload.resize(uint64_t(hlen) + blen);
    if (::pread(fd, payload.data(), payload.size(), offset + kFixedHeader) != ssize_t(payload.size()) ||
        crc32(0, reinterpret_cast<const Bytef*>(payload.data()), payload.size()) != crc) {
      bad = true;
      break;
    }
    Entry e{seq, seg.first_seq, offset, kFixedHeader + payload.size(), {}, std::nullopt, true, false, false, {}};
    if (!decodeHeader(std::string_view(payload).substr(0, hlen), e.header)) {
      bad = true;
      break;
    }
    seg.last_seq = std::max(seg.last_seq, seq);
    next_seq_ = std::max(next_seq_, seq + 1);
    if (seq > committed_seq_) entries_.push_back(std::move(e));
    offset += kFixedHeader + payload.size();
  }
  ::close(fd);
  seg.bytes = offset;
  if (bad) {
    if (newest) {
      // A crash mid-append leaves a partial record at the end: never acknowledged, safe to cut.
      ++stats_.torn_tail_truncations;
      log->warn("{}: truncating a torn record at offset {} (a crash during append)", seg.path.string(), offset);
      if (::truncate(seg.path.c_str(), static_cast<off_t>(offset)) != 0)
        throw Exception(ErrorCode::kIo, "cannot truncate {}: {}", seg.path.string(), std::strerror(errno));
    } else {
      ++stats_.corrupt_records;
      log->error("{}: corrupt record at offset {}; replay of this segment stops there", seg.path.string(), offset);
    }
  }
}

void DiskBuffer::openNewSegment(uint64_t first_seq) {
  if (active_fd_ >= 0) {
    if (options_.fsync != FsyncPolicy::kNever) ::fsync(active_fd_);
    ::close(active_fd_);
  }
  fs::path path = options_.dir / segmentName(first_seq);
  active_fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (active_fd_ < 0) throw Exception(ErrorCode::kIo, "cannot create {}: {}", path.string(), std::strerror(errno));
  fsyncDir(options_.dir);
  active_segment_ = first_seq;
  segments_[first_seq] = Segment{first_seq, first_seq, 0, path};
}

uint64_t DiskBuffer::append(const BatchHeader& header, std::string_view body, CommitCallback on_commit,
                            std::chrono::milliseconds wait) {
  std::string hdr = encodeHeader(header);
  const uint64_t record_bytes = kFixedHeader + hdr.size() + body.size();
  if (body.size() >= kMaxRecordPart || record_bytes > options_.max_bytes) {
    ++stats_.rejected_full;
    throw Exception(ErrorCode::kBufferFull, "a batch of {} bytes exceeds the disk buffer bound of {} bytes",
                    record_bytes, options_.max_bytes);
  }
  uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(hdr.data()), hdr.size());
  crc = crc32(crc, reinterpret_cast<const Bytef*>(body.data()), body.size());

  std::unique_lock lock(mutex_);
  if (pending_bytes_ + record_bytes > options_.max_bytes) {
    ++stats_.full_waits;
    if (!space_cv_.wait_for(lock, wait, [&] { return closed_ || pending_bytes_ + record_bytes <= options_.max_bytes; })) {
      ++stats_.rejected_full;
      throw Exception(ErrorCode::kBufferFull, "disk buffer full ({} of {} bytes pending): the store is not keeping up",
                      pending_bytes_, options_.max_bytes);
    }
  }
  if (closed_) throw Exception(ErrorCode::kShuttingDown, "disk buffer is closed");

  const uint64_t seq = next_seq_++;
  if (active_fd_ < 0 || segments_[active_segment_].bytes >= options_.segment_bytes) openNewSegment(seq);
  Segment& seg = segments_[active_segment_];

  std::string fixed(kFixedHeader, '\0');
  uint32_t magic = kMagic, hlen = static_cast<uint32_t>(hdr.size()), blen = static_cast<uint32_t>(body.size());
  std::memcpy(fixed.data(), &magic, 4);
  fixed[4] = static_cast<char>(kRecordVersion);
  std::memcpy(fixed.data() + 8, &seq, 8);
  std::memcpy(fixed.data() + 16, &hlen, 4);
  std::memcpy(fixed.data() + 20, &blen, 4);
  std::memcpy(fixed.data() + 24, &crc, 4);
  // One write for small records keeps a crash from splitting the header from its payload needlessly;
  // torn records are detected by length and checksum either way.
  writeAll(active_fd_, fixed.data(), fixed.size(), seg.path);
  writeAll(active_fd_, hdr.data(), hdr.size(), seg.path);
  writeAll(active_fd_, body.data(), body.size(), seg.path);
  auto now = std::chrono::steady_clock::now();
  if (options_.fsync == FsyncPolicy::kAlways ||
      (options_.fsync == FsyncPolicy::kInterval && now - last_sync_ >= options_.fsync_interval)) {
    if (::fdatasync(active_fd_) != 0)
      throw Exception(ErrorCode::kIo, "fdatasync of {} failed: {}", seg.path.string(), std::strerror(errno));
    last_sync_ = now;
  }

  Entry e{seq, active_segment_, seg.bytes, record_bytes, header, std::nullopt, false, false, false, {}};
  if (cached_bytes_ + body.size() <= options_.memory_cache_bytes) {
    e.body.emplace(body);
    cached_bytes_ += body.size();
  }
  if (on_commit) e.callbacks.push_back(std::move(on_commit));
  seg.bytes += record_bytes;
  seg.last_seq = seq;
  pending_bytes_ += record_bytes;
  entries_.push_back(std::move(e));
  ++stats_.appended_batches;
  lock.unlock();
  data_cv_.notify_all();
  return seq;
}

std::string DiskBuffer::readBody(const Entry& e) const {
  const Segment& seg = segments_.at(e.segment);
  int fd = ::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Exception(ErrorCode::kIo, "cannot open {}: {}", seg.path.string(), std::strerror(errno));
  std::string fixed(kFixedHeader, '\0');
  uint32_t hlen = 0, blen = 0;
  std::string body;
  if (::pread(fd, fixed.data(), kFixedHeader, e.offset) == ssize_t(kFixedHeader)) {
    std::memcpy(&hlen, fixed.data() + 16, 4);
    std::memcpy(&blen, fixed.data() + 20, 4);
    body.resize(blen);
    if (::pread(fd, body.data(), blen, e.offset + kFixedHeader + hlen) != ssize_t(blen)) body.clear();
  }
  ::close(fd);
  if (body.size() != blen || (blen == 0 && e.header.rows > 0))
    throw Exception(ErrorCode::kCorruptData, "cannot re-read batch {} from {}", e.seq, seg.path.string());
  return body;
}

std::optional<BufferedBatch> DiskBuffer::next(uint64_t after_seq, std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  auto find = [&]() -> Entry* {
    for (auto& e : entries_)
      if (e.seq > after_seq && !e.done) return &e;
    return nullptr;
  };
  Entry* e = nullptr;
  data_cv_.wait_for(lock, wait, [&] { return closed_ || (e = find()) != nullptr; });
  if (e == nullptr) e = find();
  if (e == nullptr) return std::nullopt;
  BufferedBatch b{e->seq, e->header, {}, e->recovered};
  b.body = e->body ? *e->body : readBody(*e);
  return b;
}

void DiskBuffer::commit(uint64_t seq, bool committed) {
  std::vector<std::pair<std::vector<CommitCallback>, bool>> to_run;
  {
    std::lock_guard lock(mutex_);
    for (auto& e : entries_)
      if (e.seq == seq) {
        e.done = true;
        e.committed = committed;
      }
    uint64_t new_committed = committed_seq_;
    while (!entries_.empty() && entries_.front().done) {
      Entry& f = entries_.front();
      new_committed = f.seq;
      pending_bytes_ -= f.record_bytes;
      if (f.body) cached_bytes_ -= f.body->size();
      ++stats_.committed_batches;
      to_run.emplace_back(std::move(f.callbacks), f.committed);
      entries_.pop_front();
    }
    if (new_committed != committed_seq_) {
      persistState(new_committed);
      committed_seq_ = new_committed;
      dropCommittedSegments();
    }
  }
  space_cv_.notify_all();
  drained_cv_.notify_all();
  for (auto& [callbacks, ok] : to_run)
    for (auto& cb : callbacks) cb(ok);
}

void DiskBuffer::persistState(uint64_t committed_seq) {
  const fs::path path = options_.dir / "state.json";
  const fs::path tmp = options_.dir / "state.json.tmp";
  nlohmann::json state = {{"version", 1}, {"instance", instance_}, {"committed_seq", committed_seq}};
  std::string text = state.dump();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Exception(ErrorCode::kIo, "cannot write {}: {}", tmp.string(), std::strerror(errno));
  writeAll(fd, text.data(), text.size(), tmp);
  if (options_.fsync != FsyncPolicy::kNever) ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw Exception(ErrorCode::kIo, "cannot rename {}: {}", tmp.string(), std::strerror(errno));
  if (options_.fsync != FsyncPolicy::kNever) fsyncDir(options_.dir);
}

void DiskBuffer::dropCommittedSegments() {
  for (auto it = segments_.begin(); it != segments_.end();) {
    const Segment& s = it->second;
    if (s.first_seq != active_segment_ && s.last_seq <= committed_seq_) {
      std::error_code ec;
      fs::remove(s.path, ec);
      it = segments_.erase(it);
    } else {
      ++it;
    }
  }
}

void DiskBuffer::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  space_cv_.notify_all();
  data_cv_.notify_all();
  drained_cv_.notify_all();
}

bool DiskBuffer::waitDrained(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return drained_cv_.wait_until(lock, deadline, [&] { return entries_.empty(); });
}

uint64_t DiskBuffer::committedSeq() const {
  std::lock_guard lock(mutex_);
  return committed_seq_;
}
uint64_t DiskBuffer::pendingBytes() const {
  std::lock_guard lock(mutex_);
  return pending_bytes_;
}
uint64_t DiskBuffer::pendingBatches() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace kobs::pipeline
