#include "store/embedded/dedup_log_repair.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "common/error.h"

namespace kobs::store {
namespace {

namespace fs = std::filesystem;

struct PartRange {
  std::string partition;
  uint64_t min_block = 0;
  uint64_t max_block = 0;
};

bool parseNumber(std::string_view s, uint64_t& v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

// "<partition>_<min>_<max>_<level>[_<mutation>]"; the partition id has no '_'.
// Anything else (tmp_insert_*, delete_tmp_*, detached, files) is not a part.
std::optional<PartRange> parsePartName(std::string_view name) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  for (;;) {
    size_t us = name.find('_', start);
    fields.push_back(name.substr(start, us == std::string_view::npos ? std::string_view::npos : us - start));
    if (us == std::string_view::npos) break;
    start = us + 1;
  }
  if (fields.size() != 4 && fields.size() != 5) return std::nullopt;
  if (fields[0].empty()) return std::nullopt;
  uint64_t numbers[4] = {0, 0, 0, 0};
  for (size_t i = 1; i < fields.size(); ++i)
    if (!parseNumber(fields[i], numbers[i - 1])) return std::nullopt;
  if (numbers[0] > numbers[1]) return std::nullopt;
  return PartRange{std::string(fields[0]), numbers[0], numbers[1]};
}

// deduplication_log_<n>.txt -> n
std::optional<uint64_t> logNumber(const std::string& file_name) {
  constexpr std::string_view kPrefix = "deduplication_log_", kSuffix = ".txt";
  if (!file_name.starts_with(kPrefix) || !file_name.ends_with(kSuffix)) return std::nullopt;
  uint64_t n = 0;
  if (!parseNumber(std::string_view(file_name).substr(kPrefix.size(), file_name.size() - kPrefix.size() - kSuffix.size()),
                   n))
    return std::nullopt;
  return n;
}

std::string readAll(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Exception(ErrorCode::kIo, "cannot read {}", file.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes a new file (never an existing one) and makes it and its name durable.
// Not tmp + rename: the engine reads every file in the logs directory as a
// log and refuses names it cannot number. A crash mid-write leaves a torn
// last line, which the engine skips; the next repair writes the records again.
void writeNewFile(const fs::path& file, std::string_view data) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Exception(ErrorCode::kIo, "cannot create {}: {}", file.string(), std::strerror(errno));
  int err = 0;
  const char* step = "write";
  while (!data.empty()) {
    ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = w < 0 ? errno : ENOSPC;
      break;
    }
    data.remove_prefix(static_cast<size_t>(w));
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno, step = "fsync";
  if (::close(fd) != 0 && err == 0) err = errno, step = "close";
  if (err == 0) {
    int dfd = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      if (::fsync(dfd) != 0) err = errno, step = "fsync the directory of";
      ::close(dfd);
    }
  }
  if (err != 0) {
    ::unlink(file.c_str());
    throw Exception(ErrorCode::kIo, "cannot {} {}: {}", step, file.string(), std::strerror(err));
  }
}

}  // namespace

DedupRepairResult repairTableDeduplicationLog(const fs::path& table_dir) {
  DedupRepairResult result;
  result.table_dir = table_dir;
  const fs::path logs_dir = table_dir / "deduplication_logs";
  std::error_code ec;
  if (!fs::is_directory(logs_dir, ec)) return result;
  // Part names below are format_version 1 names; an old-style table is left alone.
  {
    std::ifstream fv(table_dir / "format_version.txt");
    int version = -1;
    if (!(fv >> version) || version != 1) return result;
  }

  std::map<uint64_t, fs::path> logs;
  for (const auto& f : fs::directory_iterator(logs_dir, ec)) {
    if (auto n = logNumber(f.path().filename().string())) logs[*n] = f.path();
  }
  if (ec) throw Exception(ErrorCode::kIo, "cannot list {}: {}", logs_dir.string(), ec.message());
  if (logs.empty()) return result;

  // The records in effect, as the engine will load them: block id -> part.
  std::unordered_map<std::string, std::string> in_effect;
  bool torn_tail = false;
  for (const auto& [n, path] : logs) {
    const std::string text = readAll(path);
    std::string_view rest = text;
    while (!rest.empty()) {
      const size_t nl = rest.find('\n');
      if (nl == std::string_view::npos) {  // a record cut by a crash: the engine skips it too
        torn_tail = n == logs.rbegin()->first;
        break;
      }
      std::string_view line = rest.substr(0, nl);
      rest.remove_prefix(nl + 1);
      const size_t t1 = line.find('\t');
      const size_t t2 = t1 == std::string_view::npos ? t1 : line.find('\t', t1 + 1);
      if (t2 == std::string_view::npos) continue;
      const std::string_view op = line.substr(0, t1);
      std::string part(line.substr(t1 + 1, t2 - t1 - 1)), block(line.substr(t2 + 1));
      if (op == "1") in_effect[block] = std::move(part);
      else if (op == "2") in_effect.erase(block);
    }
  }

  // The parts on disk, by partition.
  std::unordered_map<std::string, std::vector<std::pair<uint64_t, uint64_t>>> parts;
  for (const auto& f : fs::directory_iterator(table_dir, ec)) {
    if (!f.is_directory(ec) || f.is_symlink(ec)) continue;
    if (auto p = parsePartName(f.path().filename().string()))
      parts[p->partition].emplace_back(p->min_block, p->max_block);
  }
  if (ec) throw Exception(ErrorCode::kIo, "cannot list {}: {}", table_dir.string(), ec.message());
  auto landed = [&](const PartRange& r) {
    auto it = parts.find(r.partition);
    if (it == parts.end()) return false;
    return std::any_of(it->second.begin(), it->second.end(),
                       [&](const auto& p) { return p.first <= r.min_block && r.max_block <= p.second; });
  };

  std::string drops;
  std::vector<std::pair<std::string, std::string>> dangling;  // (part, block id), sorted for a stable file
  for (const auto& [block, part] : in_effect) {
    auto range = parsePartName(part);
    if (!range || landed(*range)) continue;
    dangling.emplace_back(part, block);
  }
  std::sort(dangling.begin(), dangling.end());
  for (const auto& [part, block] : dangling) {
    drops += "2\t" + part + "\t" + block + "\n";
    result.dropped_parts.push_back(part);
  }
  // A new log also when the newest one ends in a cut record: the engine
  // appends to the newest log, and a record glued to a cut one would make it
  // skip every later record of that file at the next load.
  if (!drops.empty() || torn_tail) {
    writeNewFile(logs_dir / ("deduplication_log_" + std::to_string(logs.rbegin()->first + 1) + ".txt"), drops);
  }
  return result;
}

std::vector<DedupRepairResult> repairDeduplicationLogs(const fs::path& clickhouse_path) {
  std::vector<DedupRepairResult> repaired;
  std::error_code ec;
  // Atomic databases keep tables in store/<uuid prefix>/<uuid>/, Ordinary ones
  // in data/<database>/<table>/ (Atomic ones have symlinks there: skipped).
  for (const char* top : {"store", "data"}) {
    const fs::path root = clickhouse_path / top;
    if (!fs::is_directory(root, ec)) continue;
    for (const auto& d1 : fs::directory_iterator(root, ec)) {
      if (!d1.is_directory(ec) || d1.is_symlink(ec)) continue;
      for (const auto& d2 : fs::directory_iterator(d1.path(), ec)) {
        if (!d2.is_directory(ec) || d2.is_symlink(ec)) continue;
        auto r = repairTableDeduplicationLog(d2.path());
        if (!r.dropped_parts.empty()) repaired.push_back(std::move(r));
      }
    }
  }
  return repaired;
}

}  // namespace kobs::store
