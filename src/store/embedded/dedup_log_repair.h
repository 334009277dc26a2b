// Repair of the embedded engine's insert-deduplication logs after a crash,
// run before the engine boots.
//
// Why: a plain MergeTree table with non_replicated_deduplication_window keeps
// the block ids of recent inserts (the insert_deduplication_token kobs sends)
// in <table>/deduplication_logs/deduplication_log_<n>.txt. ClickHouse appends
// a block's record there *before* it renames the new part from
// tmp_insert_<part> to <part>. A process killed between the two (SIGKILL, OOM,
// power) leaves a record for rows that never landed; the engine loads it at
// the next start, and kobs's replay of that batch from the disk buffer, with
// the same token, is then dropped as a duplicate: the batch is lost (and a
// later batch of the same producer that did land makes the loss a gap).
//
// What: for every table with such logs, each ADD record still in effect whose
// part is neither on disk nor covered by a part on disk (same partition, its
// block range inside) is cancelled by a DROP record, written to a new log file
// (tmp + rename, so a crash here leaves the logs as they were). The engine
// reads the logs in order, so the replay then stores the batch once. Before
// boot no merge can have joined blocks across the missing one, so "covered"
// means "landed". Records of parts that landed stay, so a replay of a batch
// that did land is still deduplicated.
//
// The record format ("<op>\t<part>\t<block id>\n", op 1 = add, 2 = drop) and
// part names ("<partition>_<min block>_<max block>_<level>[_<mutation>]") are
// the engine's on-disk formats (MergeTree format_version 1). Tables in another
// format, unreadable logs or names that do not parse are left alone.
//
// Threading: plain functions; call only while no engine has the path open.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace kobs::store {

struct DedupRepairResult {
  std::filesystem::path table_dir;
  std::vector<std::string> dropped_parts;  // parts whose records were cancelled
};

// Repairs every table under <clickhouse_path>/store/*/* and <clickhouse_path>/data/*/*.
// Throws kobs::Exception(kIo) when a repair file cannot be written.
std::vector<DedupRepairResult> repairDeduplicationLogs(const std::filesystem::path& clickhouse_path);

// One table directory (holding deduplication_logs/); empty result when nothing dangles.
DedupRepairResult repairTableDeduplicationLog(const std::filesystem::path& table_dir);

}  // namespace kobs::store
