// What a ClickHouse failure means for kobs, decided in one place for both
// stores (the HTTP store reads the code from the response, the embedded store
// from chDB's message "Code: NNN. DB::Exception: ...").
//
// Codes come from ClickHouse's error table (src/Common/ErrorCodes.cpp). Two
// questions are answered here:
//   - errorCodeFor(): the kobs ErrorCode of a ClickHouse exception. Transient
//     server states (memory limit 241, timeouts 159/209, too many parts 252,
//     Keeper/replica trouble, read-only table, ...) are kStoreUnavailable or
//     kStoreTimeout, so one request is retried at once; auth codes are
//     kStoreAuth; everything else is kStoreQuery.
//   - classifyInsertFailure(): what the write path does with a failed insert.
//     Only malformed data and schema mismatches are permanent (dead-lettered).
//     "Too many partitions for single INSERT block" (also code 252) is fixed
//     by splitting the batch by partition, never by sending it again. A short
//     write is retried a bounded number of times, then the batch is bisected.
//     Everything else, including auth failures after a credential rotation, a
//     missing table and codes this table does not know, is retried: loudly
//     when a person has to act.
//
// Threading: pure functions.
#pragma once

#include <string_view>

#include "common/error.h"

namespace kobs::store {

ErrorCode errorCodeFor(int clickhouse_code, std::string_view message);

// True for ClickHouse's authentication failure codes (192, 193, 194, 516).
bool isAuthCode(int clickhouse_code);

// True for the codes that mean the rows themselves are bad or do not fit the
// table: sending them again can never succeed.
bool isMalformedDataOrSchemaCode(int clickhouse_code);

// ClickHouse's "Too many partitions for single INSERT block" (code 252).
bool isTooManyPartitions(int clickhouse_code, std::string_view message);

enum class InsertFailure {
  kRetry,              // transient: back off and send again
  kRetryLoud,          // needs a person (auth, permissions, missing table, unknown): retry, log as error
  kSplitByPartition,   // too many partitions in one block: split, then send the parts
  kShortWrite,         // fewer rows stored than sent: retry a few times, then bisect
  kPermanent,          // malformed data or schema mismatch: dead-letter
};

InsertFailure classifyInsertFailure(const Exception& error);
std::string_view insertFailureName(InsertFailure failure);

}  // namespace kobs::store
