#include "pipeline/disk_buffer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/crc32c.h"
#include "common/error.h"
#include "common/logging.h"
#include "pipeline/rowbinary_writer.h"

namespace kobs::pipeline {
namespace {

constexpr uint32_t kMagic = 0x57424F4B;  // "KOBW" little-endian
// v1: header = rows, table, format, columns. v2 appends row ends and row days
// (see BatchHeader); v3 the batch's ingest time; v4 changes only the checksum,
// CRC-32C (a CPU instruction) instead of zlib's CRC-32. A reader takes every
// older one.
constexpr uint8_t kRecordVersion = 4;
// What a segment recycled from a committed one is called until it is reused
// (not "wal-*.seg": replay never reads it).
constexpr const char* kSpareName = "spare-segment";
constexpr size_t kFixedHeader = 4 + 1 + 3 + 8 + 4 + 4 + 4;  // magic, version, pad, seq, hlen, blen, crc
constexpr uint64_t kMaxRecordPart = 1ull << 31;

namespace fs = std::filesystem;

std::string errnoText(int err) {
  std::string name = err == ENOSPC ? "ENOSPC, disk full" : err == EIO ? "EIO" : err == EDQUOT ? "EDQUOT" : "";
  return name.empty() ? std::strerror(err) : std::string(std::strerror(err)) + " (" + name + ")";
}

// Writes all of `data` at `offset`; returns 0 or the errno of the failure
// (a short write that makes no progress reports ENOSPC, as the kernel does).
// One pwritev for the record's head and body (one syscall per append).
int pwriteAll(int fd, std::string_view head, std::string_view body, uint64_t offset) {
  iovec iov[2] = {{const_cast<char*>(head.data()), head.size()}, {const_cast<char*>(body.data()), body.size()}};
  int first = 0, count = body.empty() ? 1 : 2;
  while (first < count) {
    ssize_t w = ::pwritev(fd, iov + first, count - first, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return ENOSPC;
    offset += static_cast<uint64_t>(w);
    size_t left = static_cast<size_t>(w);
    while (first < count && left >= iov[first].iov_len) left -= iov[first++].iov_len;
    if (first < count) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return 0;
}

// The checksum of a record's header and body, by the record's version.
uint32_t recordCrc(uint8_t version, std::string_view payload) {
  if (version >= 4) return crc32c(0, payload);
  return static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(payload.data()), payload.size()));
}

void fsyncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Exception(ErrorCode::kIo, "cannot open directory {}: {}", dir.string(), errnoText(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) throw Exception(ErrorCode::kIo, "fsync of directory {} failed: {}", dir.string(), errnoText(err));
}

std::string encodeHeader(const BatchHeader& h) {
  std::string out;
  RowBinaryWriter w(out);
  w.fixed<uint64_t>(h.rows);
  w.string(h.table);
  w.string(h.format);
  w.varUInt(h.columns.size());
  for (const auto& c : h.columns) w.string(c);
  // v2: row lengths, then (day, run length) pairs.
  w.varUInt(h.row_ends.size());
  uint32_t prev = 0;
  for (uint32_t end : h.row_ends) {
    w.varUInt(end - prev);
    prev = end;
  }
  std::vector<std::pair<int32_t, uint64_t>> runs;
  for (int32_t d : h.row_days) {
    if (!runs.empty() && runs.back().first == d) ++runs.back().second;
    else runs.emplace_back(d, 1);
  }
  w.varUInt(runs.size());
  for (auto [day, n] : runs) {
    w.fixed<int32_t>(day);
    w.varUInt(n);
  }
  w.fixed<int64_t>(h.ingest_ns);  // v3
  return out;
}

// Reads what encodeHeader wrote (v1, v2 or v3); false on malformed input.
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
  if (pos == in.size()) return true;  // v1
  uint64_t nends;
  if (!varuint(nends) || nends > h.rows) return false;
  h.row_ends.resize(nends);
  uint64_t end = 0;
  for (auto& e : h.row_ends) {
    uint64_t len;
    if (!varuint(len)) return false;
    end += len;
    if (end > kMaxRecordPart) return false;
    e = static_cast<uint32_t>(end);
  }
  uint64_t nruns;
  if (!varuint(nruns) || nruns > h.rows) return false;
  for (uint64_t i = 0; i < nruns; ++i) {
    int32_t day;
    uint64_t n;
    if (in.size() - pos < 4) return false;
    std::memcpy(&day, in.data() + pos, 4);
    pos += 4;
    if (!varuint(n) || n > h.rows - h.row_days.size()) return false;
    h.row_days.insert(h.row_days.end(), n, day);
  }
  if (pos == in.size()) return true;  // v2
  if (in.size() - pos != 8) return false;
  std::memcpy(&h.ingest_ns, in.data() + pos, 8);
  return true;
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
  std::lock_guard append_lock(append_mutex_);
  sealActiveSegment();
}

void DiskBuffer::recover() {
  auto log = logging::get("wal");
  const fs::path state_path = options_.dir / "state.json";
  uint64_t recorded_group_last = 0;
  std::vector<std::pair<uint64_t, uint64_t>> recorded_groups;
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
    recorded_group_last = state.value("group_last", uint64_t{0});
    if (state.contains("groups"))
      for (const auto& g : state.at("groups")) recorded_groups.emplace_back(g.at(0).get<uint64_t>(), g.at(1).get<uint64_t>());
  } else {
    instance_ = randomHex(8);
    persistState(0, {});
  }
  next_seq_ = committed_seq_ + 1;

  spare_ready_ = fs::exists(options_.dir / kSpareName);
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
  pending_batches_ = entries_.size();
  stats_.recovered_batches = entries_.size();
  if (!entries_.empty()) {
    // The insert that may have been in flight at the crash: the group
    // recorded in state.json, else the first batch alone (see nextGroup).
    // Groups recorded by several writers in flight: each replays as it was.
    const uint64_t first = entries_.front().seq;
    for (auto [f, l] : recorded_groups)
      if (l >= f && f > committed_seq_) pins_[f] = Pin{f, l, true};
    if (recorded_groups.empty() && recorded_group_last > first) pins_[first] = Pin{first, recorded_group_last, true};
    else if (!pins_.count(first)) pins_[first] = Pin{first, first, false};
    log->info("replaying {} batches ({} bytes) not yet committed to the store", entries_.size(),
              pending_bytes_.load());
    replay_progress_.emplace("wal", "replaying the disk buffer into the store", entries_.size(), "batches");
  }
  for (const auto& path : dropCommittedSegmentsLocked()) {
    std::error_code ec;
    fs::remove(path, ec);
  }
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
  uint64_t prev_seq = 0;
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
    if (magic != kMagic || (uint8_t(fixed[4]) == 0 || uint8_t(fixed[4]) > kRecordVersion) || size - offset - kFixedHeader < uint64_t(hlen) + blen) {
      bad = true;
      break;
    }
    // Records in a segment have rising sequence numbers from the one it is
    // named after; anything else is the old content of a recycled segment.
    if (seq < seg.first_seq || seq <= prev_seq) {
      bad = true;
      break;
    }
    payload.resize(uint64_t(hlen) + blen);
    if (::pread(fd, payload.data(), payload.size(), offset + kFixedHeader) != ssize_t(payload.size()) ||
        recordCrc(uint8_t(fixed[4]), payload) != crc) {
      bad = true;
      break;
    }
    prev_seq = seq;
    Entry e{seq, seg.first_seq, offset, kFixedHeader + payload.size(), {}, nullptr, true, false, false, {}};
    e.body_bytes = blen;
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
      // A crash mid-append leaves a partial record at the end: never
      // acknowledged, safe to cut. So does a crash before a recycled
      // segment was cut to its records at seal (its old content follows).
      ++stats_.torn_tail_truncations;
      log->warn("{}: truncating at offset {} what follows the last whole record (a crash during append, or the old "
                "content of a recycled segment)",
                seg.path.string(), offset);
      if (::truncate(seg.path.c_str(), static_cast<off_t>(offset)) != 0)
        throw Exception(ErrorCode::kIo, "cannot truncate {}: {}", seg.path.string(), std::strerror(errno));
    } else {
      ++stats_.corrupt_records;
      log->error("{}: corrupt record at offset {}; replay of this segment stops there", seg.path.string(), offset);
    }
  }
}

void DiskBuffer::openNewSegment(uint64_t first_seq) {
  sealActiveSegment();
  fs::path path = options_.dir / segmentName(first_seq);
  // A committed segment kept as the spare is reused rather than a new file
  // made: writing over pages the page cache already holds costs about half
  // of filling new ones (no allocation, zeroing or block reservation). Its
  // old content past the new records is cut at seal; a crash before that
  // leaves it for replay to cut (older sequence numbers, see replaySegment).
  bool recycled = false;
  {
    std::lock_guard spare_lock(spare_mutex_);
    if (spare_ready_) {
      spare_ready_ = false;
      recycled = ::rename((options_.dir / kSpareName).c_str(), path.c_str()) == 0;
    }
  }
  // No O_APPEND: records go at explicit offsets so a failed one can be cut.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | (recycled ? 0 : O_TRUNC) | O_CLOEXEC, 0644);
  if (fd < 0) throw Exception(ErrorCode::kIo, "cannot create {}: {}", path.string(), errnoText(errno));
  try {
    if (options_.fsync != FsyncPolicy::kNever) fsyncDir(options_.dir);
  } catch (...) {
    ::close(fd);
    std::error_code ec;
    fs::remove(path, ec);
    throw;
  }
  active_fd_ = fd;
  active_bytes_ = 0;
  active_recycled_ = recycled;
  active_segment_ = first_seq;
  std::lock_guard lock(mutex_);
  // A new segment's last_seq is below its first until a record lands, so an
  // empty one is never mistaken for holding uncommitted batches.
  segments_[first_seq] = Segment{first_seq, first_seq - 1, 0, path};
}

void DiskBuffer::sealActiveSegment() {
  if (active_fd_ < 0) return;
  if (active_recycled_ && ::ftruncate(active_fd_, static_cast<off_t>(active_bytes_)) != 0)
    logging::get("wal")->warn("cannot cut recycled segment {} to its records at seal: {} (replay stops at them)",
                              active_segment_.load(), errnoText(errno));
  if (options_.fsync != FsyncPolicy::kNever && ::fdatasync(active_fd_) != 0)
    logging::get("wal")->error("fdatasync of segment {} at seal failed: {}", active_segment_.load(), errnoText(errno));
  ::close(active_fd_);
  active_fd_ = -1;
}

uint64_t DiskBuffer::append(const BatchHeader& header, std::string&& body, CommitCallback on_commit,
                            std::chrono::milliseconds wait) {
  std::string head = encodeHeader(header);
  const uint64_t record_bytes = kFixedHeader + head.size() + body.size();
  if (body.size() >= kMaxRecordPart || head.size() >= kMaxRecordPart || record_bytes > options_.max_bytes) {
    ++stats_.rejected_full;
    throw Exception(ErrorCode::kBufferFull, "a batch of {} bytes exceeds the disk buffer bound of {} bytes",
                    record_bytes, options_.max_bytes);
  }
  const uint32_t crc = crc32c(crc32c(0, head), body);

  // Appends take turns here; the state mutex is held only for bookkeeping.
  std::unique_lock append_lock(append_mutex_);
  uint64_t seq;
  {
    std::unique_lock lock(mutex_);
    if (pending_bytes_ + record_bytes > options_.max_bytes) {
      ++stats_.full_waits;
      if (!space_cv_.wait_for(lock, wait,
                              [&] { return closed_ || pending_bytes_ + record_bytes <= options_.max_bytes; })) {
        ++stats_.rejected_full;
        throw Exception(ErrorCode::kBufferFull,
                        "disk buffer full ({} of {} bytes pending): the store is not keeping up",
                        pending_bytes_.load(), options_.max_bytes);
      }
    }
    if (closed_) throw Exception(ErrorCode::kShuttingDown, "disk buffer is closed");
    seq = next_seq_++;
    pending_bytes_ += record_bytes;  // reserved: the bound holds while we write
  }
  // A failed append gives its sequence number back: appends take turns, so
  // no later one holds a number yet, and the number never reached the store.
  // Sequence numbers stay contiguous (readers count on committed + pending).
  auto unreserve = [&] {
    {
      std::lock_guard lock(mutex_);
      pending_bytes_ -= record_bytes;
      if (next_seq_ == seq + 1) next_seq_ = seq;
    }
    space_cv_.notify_all();
  };

  try {
    if (active_fd_ < 0 || active_bytes_ >= options_.segment_bytes) openNewSegment(seq);
  } catch (...) {
    ++stats_.append_errors;
    unreserve();
    throw;
  }
  const uint64_t offset = active_bytes_;
  const uint64_t segment = active_segment_;
  fs::path path = options_.dir / segmentName(segment);

  std::string fixed(kFixedHeader, '\0');
  uint32_t magic = kMagic, hlen = static_cast<uint32_t>(head.size()), blen = static_cast<uint32_t>(body.size());
  std::memcpy(fixed.data(), &magic, 4);
  fixed[4] = static_cast<char>(kRecordVersion);
  std::memcpy(fixed.data() + 8, &seq, 8);
  std::memcpy(fixed.data() + 16, &hlen, 4);
  std::memcpy(fixed.data() + 20, &blen, 4);
  std::memcpy(fixed.data() + 24, &crc, 4);
  fixed += head;

  const char* failed_op = nullptr;
  int err = pwriteAll(active_fd_, fixed, body, offset);
  if (err != 0) failed_op = "write";
  auto now = std::chrono::steady_clock::now();
  if (err == 0 && (options_.fsync == FsyncPolicy::kAlways ||
                   (options_.fsync == FsyncPolicy::kInterval && now - last_sync_ >= options_.fsync_interval))) {
    if (::fdatasync(active_fd_) != 0) {
      err = errno;
      failed_op = "fdatasync";
    } else {
      last_sync_ = now;
    }
  }
  if (err != 0) {
    // Cut the partial record so nothing written later sits behind it. After a
    // failed fsync the kernel may have dropped dirty pages it reported clean,
    // so that segment is not trusted with more records either: seal it.
    ++stats_.append_errors;
    auto log = logging::get("wal");
    bool truncated = ::ftruncate(active_fd_, static_cast<off_t>(offset)) == 0;
    if (!truncated || std::string_view(failed_op) == "fdatasync") {
      if (!truncated)
        log->error("{}: cannot truncate back to offset {} after a failed {}: {}; sealing the segment",
                   path.string(), offset, failed_op, errnoText(errno));
      ::close(active_fd_);  // no fsync: it just failed
      active_fd_ = -1;
      ++stats_.sealed_segments;
    }
    unreserve();
    throw Exception(ErrorCode::kIo, "disk buffer append of batch {} ({} bytes) to {} failed ({}): {}; rolled back",
                    seq, record_bytes, path.string(), failed_op, errnoText(err));
  }
  active_bytes_ = offset + record_bytes;

  {
    std::lock_guard lock(mutex_);
    Entry e{seq, segment, offset, record_bytes, header, nullptr, false, false, false, {}};
    e.body_bytes = body.size();
    // Counted by capacity: a body taken from a growing buffer may hold up to
    // twice its size, and the budget is memory, not bytes of rows.
    if (cached_bytes_ + body.capacity() <= options_.memory_cache_bytes) {
      cached_bytes_ += body.capacity();
      e.body = std::make_shared<std::string>(std::move(body));  // taken, not copied
    }
    if (on_commit) e.callbacks.push_back(std::move(on_commit));
    Segment& seg = segments_[segment];
    seg.bytes = active_bytes_;
    seg.last_seq = seq;
    entries_.push_back(std::move(e));
    ++pending_batches_;
    ++stats_.appended_batches;
  }
  append_lock.unlock();
  data_cv_.notify_all();
  return seq;
}

std::string DiskBuffer::readBody(const fs::path& path, uint64_t offset, uint64_t seq, uint64_t rows) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Exception(ErrorCode::kIo, "cannot open {}: {}", path.string(), errnoText(errno));
  std::string fixed(kFixedHeader, '\0');
  std::string payload;
  int err = 0;
  bool ok = false;
  uint32_t hlen = 0, blen = 0, crc = 0;
  uint64_t rec_seq = 0;
  ssize_t n = ::pread(fd, fixed.data(), kFixedHeader, static_cast<off_t>(offset));
  if (n < 0) err = errno;
  if (n == ssize_t(kFixedHeader)) {
    std::memcpy(&rec_seq, fixed.data() + 8, 8);
    std::memcpy(&hlen, fixed.data() + 16, 4);
    std::memcpy(&blen, fixed.data() + 20, 4);
    std::memcpy(&crc, fixed.data() + 24, 4);
    if (rec_seq == seq && uint64_t(hlen) + blen < kMaxRecordPart) {
      payload.resize(uint64_t(hlen) + blen);
      n = ::pread(fd, payload.data(), payload.size(), static_cast<off_t>(offset + kFixedHeader));
      if (n < 0) err = errno;
      ok = n == ssize_t(payload.size()) && recordCrc(uint8_t(fixed[4]), payload) == crc;
    }
  }
  ::close(fd);
  if (err != 0)
    throw Exception(ErrorCode::kIo, "cannot re-read batch {} from {}: {}", seq, path.string(), errnoText(err));
  if (!ok || (blen == 0 && rows > 0))
    throw Exception(ErrorCode::kCorruptData, "batch {} in {} at offset {} failed its length or checksum check", seq,
                    path.string(), offset);
  return payload.substr(hlen);
}

namespace {

bool sameInsert(const BatchHeader& a, const BatchHeader& b) {
  return a.table == b.table && a.format == b.format && a.columns == b.columns;
}

// Row boundaries let the sender split a merged group the store refuses whole.
bool hasRowBoundaries(const BatchHeader& h) { return h.row_ends.size() == h.rows && h.row_days.size() == h.rows; }

}  // namespace

bool DiskBuffer::waitingToBeSent(uint64_t seq) const {
  std::lock_guard lock(mutex_);
  auto it = std::lower_bound(entries_.begin(), entries_.end(), seq, [](const Entry& e, uint64_t s) { return e.seq < s; });
  if (it == entries_.end() || it->seq != seq || it->done) return false;
  auto pin = pins_.upper_bound(seq);
  return pin == pins_.begin() || std::prev(pin)->second.last < seq;
}

DiskBuffer::Run DiskBuffer::mergeableRunLocked(size_t at, GroupLimits limits) const {
  const Entry& head = entries_[at];
  uint64_t rows = head.header.rows, bytes = head.body_bytes;
  int64_t ingest = head.header.ingest_ns;
  size_t i = at + 1;
  for (; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    // A group never reaches into a range handed out to another writer.
    if (e.done || e.seq != entries_[i - 1].seq + 1 || !sameInsert(e.header, head.header) ||
        !hasRowBoundaries(e.header) || rows + e.header.rows > limits.max_rows ||
        bytes + e.body_bytes > limits.max_bytes || pins_.count(e.seq) ||
        (ingest != 0 && e.header.ingest_ns != 0 && e.header.ingest_ns != ingest))
      return Run{i, true};
    if (ingest == 0) ingest = e.header.ingest_ns;
    rows += e.header.rows;
    bytes += e.body_bytes;
  }
  // At the newest batch: full already, or room for more.
  return Run{i, rows >= limits.max_rows || bytes >= limits.max_bytes};
}

std::optional<BufferedBatch> DiskBuffer::nextGroup(uint64_t after_seq, GroupLimits limits,
                                                   std::chrono::milliseconds wait, bool record_single) {
  struct Piece {
    uint64_t seq, rows;
    BatchHeader header;
    std::shared_ptr<std::string> body;  // null: read from disk
    fs::path path;
    uint64_t offset;
    bool recovered;
  };
  std::vector<Piece> pieces;
  bool persisted = false;
  {
    std::unique_lock lock(mutex_);
    auto find = [&]() -> std::optional<size_t> {
      for (size_t i = 0; i < entries_.size(); ++i)
        if (entries_[i].seq > after_seq && !entries_[i].done) return i;
      return std::nullopt;
    };
    std::optional<size_t> at;
    data_cv_.wait_for(lock, wait, [&] { return closed_ || (at = find()).has_value(); });
    if (!at) at = find();
    // Linger (GroupLimits::linger): wait for more while the group can grow.
    // Found again after each wait: entries_ may have lost its front.
    while (at && !closed_ && limits.linger.count() > 0 && limits.max_rows > 0) {
      const Entry& first = entries_[*at];
      const auto deadline = first.appended_at + limits.linger;
      if (pins_.count(first.seq) || !hasRowBoundaries(first.header) || std::chrono::steady_clock::now() >= deadline ||
          mergeableRunLocked(*at, limits).closed)
        break;
      data_cv_.wait_until(lock, deadline);
      at = find();
    }
    if (!at) return std::nullopt;
    Entry& head = entries_[*at];
    std::vector<Entry*> group{&head};
    auto pinned = pins_.find(head.seq);
    if (pinned != pins_.end()) {
      // Handed out before (or in flight at the crash): the same range again.
      const Pin& pin = pinned->second;
      for (size_t i = *at + 1; i < entries_.size() && entries_[i].seq <= pin.last; ++i) {
        if (entries_[i].done || entries_[i].seq != group.back()->seq + 1) break;
        group.push_back(&entries_[i]);
      }
      if (group.back()->seq != pin.last)
        logging::get("wal")->error("the group of batches {}..{} handed out for one insert is incomplete in the "
                                   "buffer (up to {}); sending what is left",
                                   pin.first, pin.last, group.back()->seq);
    } else if (limits.max_rows > 0 && hasRowBoundaries(head.header)) {
      const Run run = mergeableRunLocked(*at, limits);
      for (size_t i = *at + 1; i < run.end; ++i) group.push_back(&entries_[i]);
    }
    if (pinned == pins_.end()) pinned = pins_.emplace(head.seq, Pin{head.seq, group.back()->seq, false}).first;
    persisted = pinned->second.persisted;
    for (Entry* e : group) {
      // The cached body goes to the sender rather than being copied (a 2 MiB
      // memmove per batch; and the budget frees up for batches not sent yet).
      std::shared_ptr<std::string> body = std::move(e->body);
      if (body) cached_bytes_ -= body->capacity();
      const fs::path path = body ? fs::path() : segments_.at(e->segment).path;
      pieces.push_back(Piece{e->seq, e->header.rows, e->header, std::move(body), path, e->offset, e->recovered});
    }
  }
  // Reads and copies run outside the lock; the entries cannot go away
  // meanwhile, as only the caller (the sender) completes them.
  std::vector<std::string> read(pieces.size());
  std::string read_error;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (pieces[i].body) continue;
    try {
      read[i] = readBody(pieces[i].path, pieces[i].offset, pieces[i].seq, pieces[i].rows);
    } catch (const std::exception& ex) {
      ++stats_.read_errors;
      if (i > 0 && !persisted) {
        // Not promised to anyone yet: the group ends before the unreadable
        // batch, which then comes first in the next group, alone.
        pieces.resize(i);
        read.resize(i);
        std::lock_guard lock(mutex_);
        pins_[pieces.front().seq].last = pieces.back().seq;
        break;
      }
      read_error = ex.what();
      break;
    }
  }
  if ((pieces.size() > 1 || record_single) && !persisted) {
    std::lock_guard commit_lock(commit_mutex_);
    std::vector<std::pair<uint64_t, uint64_t>> groups;
    {
      std::lock_guard lock(mutex_);
      pins_[pieces.front().seq].persisted = true;
      groups = persistedGroupsLocked(committed_seq_);
    }
    try {
      persistState(committed_seq_, groups);
    } catch (...) {  // kIo: nothing handed out, the pin stays in memory, unrecorded
      std::lock_guard lock(mutex_);
      pins_[pieces.front().seq].persisted = false;
      throw;
    }
  }

  BufferedBatch b;
  b.seq = pieces.front().seq;
  b.last_seq = pieces.back().seq;
  b.header = std::move(pieces.front().header);
  // The group's ingest time: its batches' (see BatchHeader).
  for (const auto& p : pieces)
    if (p.header.ingest_ns != 0) {
      b.header.ingest_ns = p.header.ingest_ns;
      break;
    }
  if (!read_error.empty()) {
    b.read_error = std::move(read_error);
    for (size_t i = 1; i < pieces.size(); ++i) b.header.rows += pieces[i].rows;
    for (const auto& p : pieces) b.recovered = b.recovered || p.recovered;
    b.header.row_ends.clear();
    b.header.row_days.clear();
    return b;
  }
  auto bodyOf = [&](size_t i) -> std::string& { return pieces[i].body ? *pieces[i].body : read[i]; };
  b.recovered = pieces.front().recovered;
  b.body = std::move(bodyOf(0));  // each piece's body is this call's own (see above)
  if (pieces.size() == 1) return b;
  size_t total = b.body.size();
  for (size_t i = 1; i < pieces.size(); ++i) total += bodyOf(i).size();
  b.body.reserve(total);
  for (size_t i = 1; i < pieces.size(); ++i) {
    const uint32_t base = static_cast<uint32_t>(b.body.size());
    b.body += bodyOf(i);
    b.header.rows += pieces[i].rows;
    for (uint32_t end : pieces[i].header.row_ends) b.header.row_ends.push_back(base + end);
    b.header.row_days.insert(b.header.row_days.end(), pieces[i].header.row_days.begin(),
                             pieces[i].header.row_days.end());
    b.recovered = b.recovered || pieces[i].recovered;
  }
  return b;
}

void DiskBuffer::commit(uint64_t first_seq, uint64_t last_seq, bool committed) {
  std::lock_guard commit_lock(commit_mutex_);
  uint64_t new_committed = 0;
  std::vector<std::pair<uint64_t, uint64_t>> groups;
  {
    std::lock_guard lock(mutex_);
    for (auto& e : entries_)
      if (e.seq >= first_seq && e.seq <= last_seq) {
        if (e.recovered && !e.done && replay_progress_) {
          replay_progress_->add(1);
          if (replay_progress_->done() == stats_.recovered_batches.load()) replay_progress_->finish();
        }
        e.done = true;
        e.committed = committed;
      }
    new_committed = committed_seq_;
    for (const auto& e : entries_) {
      if (!e.done) break;
      new_committed = e.seq;
    }
    // A range stays recorded until the watermark passes it, done or not:
    // several writers finish out of order, and a restart replays a range
    // stored above the watermark as it was sent (its token), not regrouped.
    for (auto it = pins_.begin(); it != pins_.end();)
      it = it->second.last <= new_committed ? pins_.erase(it) : std::next(it);
    groups = persistedGroupsLocked(new_committed);
  }
  if (new_committed == committed_seq_) return;
  // Written before anything is released: if this throws, the entries stay
  // (marked done) with their callbacks, and the next commit() writes it again.
  try {
    persistState(new_committed, groups);
  } catch (...) {
    ++stats_.commit_errors;
    throw;
  }
  std::vector<std::pair<std::vector<CommitCallback>, bool>> to_run;
  std::vector<fs::path> to_remove;
  {
    std::lock_guard lock(mutex_);
    while (!entries_.empty() && entries_.front().seq <= new_committed) {
      Entry& f = entries_.front();
      pending_bytes_ -= f.record_bytes;
      if (f.body) cached_bytes_ -= f.body->capacity();
      ++stats_.committed_batches;
      to_run.emplace_back(std::move(f.callbacks), f.committed);
      entries_.pop_front();
      --pending_batches_;
    }
    committed_seq_ = new_committed;
    to_remove = dropCommittedSegmentsLocked();
  }
  space_cv_.notify_all();
  drained_cv_.notify_all();
  for (const auto& path : to_remove) {
    {
      // One committed segment is kept for the next one to write over (see openNewSegment).
      std::lock_guard spare_lock(spare_mutex_);
      if (!spare_ready_ && ::rename(path.c_str(), (options_.dir / kSpareName).c_str()) == 0) {
        spare_ready_ = true;
        continue;
      }
    }
    std::error_code ec;
    fs::remove(path, ec);
    if (ec) logging::get("wal")->warn("cannot remove committed segment {}: {}", path.string(), ec.message());
  }
  for (auto& [callbacks, ok] : to_run)
    for (auto& cb : callbacks) {
      try {
        cb(ok);
      } catch (const std::exception& e) {
        logging::get("wal")->error("a commit callback of a batch up to {} threw: {}", new_committed, e.what());
      }
    }
}

std::vector<std::pair<uint64_t, uint64_t>> DiskBuffer::persistedGroupsLocked(uint64_t committed_seq) const {
  std::vector<std::pair<uint64_t, uint64_t>> groups;
  for (const auto& [first, pin] : pins_)
    if (pin.persisted && pin.last > committed_seq) groups.emplace_back(pin.first, pin.last);
  return groups;
}

void DiskBuffer::persistState(uint64_t committed_seq, const std::vector<std::pair<uint64_t, uint64_t>>& groups) {
  nlohmann::json state = {{"version", 1}, {"instance", instance_}, {"committed_seq", committed_seq}};
  // Optional keys: a reader without them ignores them (and would resend the
  // groups batch by batch, so a downgrade may store those rows twice).
  // group_last: the oldest group, as one writer recorded it; groups: every
  // range in flight, as several writers record them.
  if (!groups.empty()) {
    state["group_last"] = groups.front().second;
    if (groups.size() > 1 || groups.front().first != committed_seq + 1) {
      nlohmann::json list = nlohmann::json::array();
      for (auto [f, l] : groups) list.push_back({f, l});
      state["groups"] = std::move(list);
    }
  }
  writeFileAtomically(options_.dir / "state.json", state.dump(),
                      options_.fsync == FsyncPolicy::kNever ? Durability::kNoFsync : Durability::kFsync);
}

std::vector<fs::path> DiskBuffer::dropCommittedSegmentsLocked() {
  std::vector<fs::path> removed;
  const uint64_t active = active_segment_;
  for (auto it = segments_.begin(); it != segments_.end();) {
    const Segment& s = it->second;
    bool has_pending = false;
    for (const auto& e : entries_)
      if (e.segment == s.first_seq) {
        has_pending = true;
        break;
      }
    if (s.first_seq != active && s.last_seq <= committed_seq_ && !has_pending) {
      removed.push_back(s.path);
      it = segments_.erase(it);
    } else {
      ++it;
    }
  }
  return removed;
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

// Lock-free: /metrics reads these while appends and commits run.
uint64_t DiskBuffer::committedSeq() const { return committed_seq_.load(); }
uint64_t DiskBuffer::pendingBytes() const { return pending_bytes_.load(); }
uint64_t DiskBuffer::pendingBatches() const { return pending_batches_.load(); }

std::chrono::steady_clock::duration DiskBuffer::oldestPendingAge() const {
  std::lock_guard lock(mutex_);
  for (const auto& e : entries_)
    if (!e.done) return std::chrono::steady_clock::now() - e.appended_at;
  return {};
}

}  // namespace kobs::pipeline
