#include "collect/pod_logs/checkpoint.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"

namespace kobs::collect::pod_logs {

std::string checkpointToJson(const CheckpointFile& c) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : c.files)
    files.push_back({{"path", f.path},
                     {"dev", f.dev},
                     {"ino", f.ino},
                     {"fp_len", f.fp_len},
                     {"fp", f.fp},
                     {"offset", f.offset},
                     {"last_time_ns", f.last_time_ns},
                     {"seen_ns", f.seen_ns}});
  return nlohmann::json{{"version", CheckpointFile::kVersion}, {"files", std::move(files)}}.dump();
}

CheckpointFile checkpointFromJson(std::string_view json) {
  try {
    auto j = nlohmann::json::parse(json);
    if (j.at("version").get<int>() != CheckpointFile::kVersion)
      throw Exception(ErrorCode::kCorruptData, "pod logs checkpoint: unknown version {}", j.at("version").dump());
    CheckpointFile c;
    for (const auto& f : j.at("files")) {
      FileCheckpoint fc;
      fc.path = f.at("path").get<std::string>();
      fc.dev = f.at("dev").get<uint64_t>();
      fc.ino = f.at("ino").get<uint64_t>();
      fc.fp_len = f.at("fp_len").get<uint32_t>();
      fc.fp = f.at("fp").get<uint64_t>();
      fc.offset = f.at("offset").get<uint64_t>();
      fc.last_time_ns = f.at("last_time_ns").get<int64_t>();
      fc.seen_ns = f.value("seen_ns", int64_t(0));  // absent in files of older kobs
      c.files.push_back(std::move(fc));
    }
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw Exception(ErrorCode::kCorruptData, "pod logs checkpoint: {}", e.what());
  }
}

std::optional<CheckpointFile> loadCheckpoint(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return checkpointFromJson(ss.str());
  } catch (Exception& e) {
    e.addContext("reading " + file.string());
    throw;
  }
}

void writeCheckpoint(const std::filesystem::path& file, const CheckpointFile& c) {
  writeFileAtomically(file, checkpointToJson(c));
}

uint64_t fingerprintHash(std::string_view data) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace kobs::collect::pod_logs
