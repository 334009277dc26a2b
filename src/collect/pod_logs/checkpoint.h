// The pod logs checkpoint: per file, the resumable offset the store has
// everything before (the start of any unfinished partial record), advanced
// only from the pipeline's commit callbacks.
//
// A file is known by device + inode + a hash of its first bytes (the
// fingerprint): an inode reused by a new file has another fingerprint.
// `last_time_ns` is the Timestamp of the newest row committed from the file:
// after a crash, rows of this file stored after it (replayed from the disk
// buffer) are not stored again (see pod_logs_receiver.h).
//
// On disk: <dir>/checkpoint.json,
//   {"version":1,"files":[{"path","dev","ino","fp_len","fp","offset","last_time_ns","seen_ns"}]}
// written tmp + fsync + rename + fsync(dir). Fields are only added, each
// optional when read (seen_ns: 0 when absent), so the version stays 1 and a
// kobs on either side of an upgrade reads the other's file; a field whose
// absence would mislead needs a new version.
//
// Threading: plain values and free functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kobs::collect::pod_logs {

struct FileCheckpoint {
  std::string path;
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint32_t fp_len = 0;  // bytes hashed into fp
  uint64_t fp = 0;
  uint64_t offset = 0;
  int64_t last_time_ns = 0;
  // Wall time the receiver first opened the file (ns; 0 in older files):
  // a generation whose first line is newer was written after it, so a copy
  // of one is ours even when nothing of the file was committed yet.
  int64_t seen_ns = 0;
};

struct CheckpointFile {
  static constexpr int kVersion = 1;
  std::vector<FileCheckpoint> files;
};

std::string checkpointToJson(const CheckpointFile& c);
// Throws kobs::Exception(kCorruptData) on a malformed or unknown-version document.
CheckpointFile checkpointFromJson(std::string_view json);
// nullopt when the file does not exist; a corrupt file throws kCorruptData.
std::optional<CheckpointFile> loadCheckpoint(const std::filesystem::path& file);
void writeCheckpoint(const std::filesystem::path& file, const CheckpointFile& c);

// FNV-1a 64 of `data`: the fingerprint hash.
uint64_t fingerprintHash(std::string_view data);

}  // namespace kobs::collect::pod_logs
