#include "pipeline/store_sender.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/logging.h"
#include "store/schema/krateo_events.h"

namespace kobs::pipeline {
namespace {

namespace fs = std::filesystem;
using store::InsertFailure;

constexpr int kMaxSplitDepth = 64;

std::string_view bodyOf(const BufferedBatch& batch, const std::string& part_body, bool whole) {
  return whole ? std::string_view(batch.body) : std::string_view(part_body);
}

// "5", or "5..8" for a group of batches merged into one insert: in logs,
// dead-letter names and the deduplication token.
std::string seqName(const BufferedBatch& batch) {
  return batch.last_seq > batch.seq ? std::to_string(batch.seq) + ".." + std::to_string(batch.last_seq)
                                    : std::to_string(batch.seq);
}

}  // namespace

StoreSender::StoreSender(store::IStore& store, DiskBuffer& buffer, SenderOptions options, LatencyObserver observe)
    : store_(store), buffer_(buffer), options_(std::move(options)), observe_(std::move(observe)) {
  options_.writers = std::max(1, options_.writers);
  options_.short_write_retries = std::max(1, options_.short_write_retries);
  options_.max_partitions_per_insert = std::max<size_t>(1, options_.max_partitions_per_insert);
  options_.read_retries = std::max(1, options_.read_retries);
}

StoreSender::~StoreSender() { stop(); }

void StoreSender::start() {
  if (!threads_.empty()) return;
  stopping_ = false;
  handed_after_.reset();
  for (int i = 0; i < options_.writers; ++i) {
    store::IStore& store = i == 0 || writer_stores_.empty()
                               ? store_
                               : *writer_stores_[static_cast<size_t>(i - 1) % writer_stores_.size()];
    threads_.emplace_back([this, &store] { run(store); });
  }
}

void StoreSender::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

bool StoreSender::sleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, d, [&] { return stopping_.load(); });
  return !stopping_;
}

bool StoreSender::backoff(std::chrono::milliseconds& current) {
  // Full jitter: a random time in [0, current].
  std::uniform_int_distribution<int64_t> jitter(0, std::max<int64_t>(0, current.count()));
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto wait = std::chrono::milliseconds(jitter(rng));
  current = std::min(options_.backoff_max, std::max(current * 2, std::chrono::milliseconds(1)));
  return sleepFor(wait);
}

void StoreSender::countFailure(InsertFailure f) {
  switch (f) {
    case InsertFailure::kRetry: ++stats_.failures_retry; break;
    case InsertFailure::kRetryLoud: ++stats_.failures_retry_loud; break;
    case InsertFailure::kSplitByPartition: ++stats_.failures_too_many_partitions; break;
    case InsertFailure::kShortWrite: ++stats_.failures_short_write; break;
    case InsertFailure::kPermanent: ++stats_.failures_permanent; break;
  }
}

void StoreSender::run(store::IStore& store) {
  auto log = logging::get("sender");
  auto delay = options_.backoff_initial;
  const bool several = options_.writers > 1;
  const GroupLimits limits{options_.merge_max_rows, options_.merge_max_bytes, options_.merge_linger};
  // The insert this writer holds: kept until it is done (stored or set aside)
  // and recorded, then the writer takes the next range after the last one
  // handed out to any writer.
  std::optional<BufferedBatch> held;
  while (!stopping_) {
    // Nothing thrown here may end the thread (std::terminate) or skip a batch.
    try {
      if (!held) {
        std::lock_guard lock(dispatch_mutex_);
        if (!handed_after_) handed_after_ = buffer_.committedSeq();
        held = buffer_.nextGroup(*handed_after_, limits, std::chrono::milliseconds(200), several);
        if (!held) continue;
        if (held->last_seq < held->seq) held->last_seq = held->seq;
        handed_after_ = held->last_seq;
      } else if (!held->read_error.empty()) {
        // The same range again (it stays pinned in the buffer), read anew.
        auto again = buffer_.nextGroup(held->seq - 1, limits, std::chrono::milliseconds(200), several);
        if (again && again->seq == held->seq) {
          if (again->last_seq < again->seq) again->last_seq = again->seq;
          held = std::move(again);
        }
      }
      if (process(store, *held)) {
        held.reset();
        delay = options_.backoff_initial;
      }
    } catch (const std::exception& e) {
      ++stats_.internal_errors;
      log->error("unexpected error {}; retrying: {}",
                 held ? "with batch " + seqName(*held) : std::string("taking the next batch"), e.what());
      backoff(delay);
    } catch (...) {
      ++stats_.internal_errors;
      log->error("unexpected non-standard exception; retrying");
      backoff(delay);
    }
  }
}

bool StoreSender::process(store::IStore& store, const BufferedBatch& batch) {
  auto log = logging::get("sender");
  if (!batch.read_error.empty()) {
    ++stats_.read_errors;
    // Per writer: each retries the batch it holds.
    thread_local uint64_t read_failures_seq_ = 0;
    thread_local int read_failures_ = 0;
    if (read_failures_seq_ != batch.seq) {
      read_failures_seq_ = batch.seq;
      read_failures_ = 0;
    }
    if (++read_failures_ < options_.read_retries) {
      log->warn("batch {} ({} rows into {}) cannot be read back from the disk buffer (attempt {} of {}): {}",
                seqName(batch), batch.header.rows, batch.header.table, read_failures_, options_.read_retries,
                batch.read_error);
      auto d = options_.backoff_initial * (1 << std::min(read_failures_, 10));
      sleepFor(std::min(d, options_.backoff_max));
      return false;
    }
    // The disk lost what it had acknowledged: nothing can send it. Counted
    // and reported; the queue moves on.
    ++stats_.batches_unreadable;
    stats_.rows_unreadable += batch.header.rows;
    log->error("batch {} ({} rows into {}) is unreadable in the disk buffer after {} attempts and is lost "
               "(counted in kobs_records_dropped_total{{reason=\"unreadable\"}}): {}",
               seqName(batch), batch.header.rows, batch.header.table, read_failures_, batch.read_error);
    return commitDurably(batch, false);
  }

  Part whole;
  whole.rows = batch.header.rows;
  whole.row_ends = batch.header.row_ends;
  whole.row_days = batch.header.row_days;
  // A group's token names its range: the buffer records a group before it is
  // sent and replays it whole, so a replay carries the same token.
  whole.base_token = "kobs-" + buffer_.instanceId() + "-" + seqName(batch);
  whole.token = whole.base_token;
  Outcome o = sendPart(store, batch, whole, 0);
  if (o == Outcome::kStopped) return false;
  if (!commitDurably(batch, o == Outcome::kStored)) return false;
  const uint64_t batches = batch.last_seq - batch.seq + 1;
  if (o == Outcome::kStored) stats_.batches_committed += batches;
  ++stats_.inserts_committed;
  if (batches > 1) stats_.batches_merged += batches;
  {  // a batch set aside in part may still have stored rows: wake readers either way
    std::lock_guard lock(listeners_mutex_);  // one call at a time, whichever writer
    for (const auto& listener : listeners_) {
      try {
        listener(batch.header.table, batch.header.rows);
      } catch (const std::exception& e) {
        log->error("a commit listener threw after batch {}: {}", seqName(batch), e.what());
      }
    }
  }
  return true;
}

StoreSender::Outcome StoreSender::sendPart(store::IStore& store, const BufferedBatch& batch, const Part& part,
                                          int depth) {
  auto log = logging::get("sender");
  auto delay = options_.backoff_initial;
  int short_writes = 0;
  // What the store kept of this part under its token, as far as it told us:
  // the most rows one short write reported written. Once the store kept any,
  // only this token may send these rows again (a retry is deduplicated by
  // ClickHouse, block by block); a split would carry new tokens and store the
  // kept rows a second time.
  uint64_t kept = 0;
  bool kept_unknown = false;  // "deduplicated" after a short write: it kept some, how many is unknown
  for (int attempt = 0; !stopping_; ++attempt) {
    store::InsertRequest req;
    req.table = batch.header.table;
    req.columns = batch.header.columns;
    req.format = batch.header.format;
    req.body = bodyOf(batch, part.body, part.whole);
    req.rows = part.rows;
    req.deduplication_token = part.token;
    if (batch.header.ingest_ns != 0)
      req.settings.emplace_back("log_comment", store::schema::ingestComment(batch.header.ingest_ns));
    req.may_be_duplicate = batch.recovered || attempt > 0;
    std::string error;
    InsertFailure failure;
    try {
      auto started = std::chrono::steady_clock::now();
      auto result = store.insert(req);
      if (observe_) {
        try {  // an observer's failure must not turn a stored insert into a retry
          observe_(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        } catch (const std::exception& e) {
          log->error("insert latency observer threw: {}", e.what());
        }
      }
      // After a short write, "nothing new written" is not proof the whole part
      // is stored: the store holds only what the short write kept.
      if (result.deduplicated && short_writes > 0) {
        kept_unknown = true;  // the store knows the token: it kept rows, maybe more than it reported
        throw Exception(ErrorCode::kStoreShortWrite, "short write into {}: a retry after a short write of {} rows "
                        "was deduplicated against the partial insert", req.table, req.rows);
      }
      if (result.deduplicated) {
        ++stats_.batches_deduplicated;
        stats_.rows_deduplicated += part.rows;
      } else {
        stats_.rows_committed += part.rows;
      }
      if (!stats_.store_healthy.exchange(true)) log->info("store reachable again; sending resumed");
      return Outcome::kStored;
    } catch (const store::ShortWrite& e) {
      failure = InsertFailure::kShortWrite;
      error = e.what();
      kept = std::max(kept, std::min(e.rowsWritten(), part.rows));
    } catch (const Exception& e) {
      failure = store::classifyInsertFailure(e);
      error = e.what();
    } catch (const std::exception& e) {
      failure = InsertFailure::kRetryLoud;
      error = e.what();
    }
    countFailure(failure);
    const std::string what = fmt::format("batch {}{} ({} rows into {})", seqName(batch), part.label, part.rows,
                                         batch.header.table);
    switch (failure) {
      case InsertFailure::kPermanent:
        log->error("{} rejected by the store for good ({}), set aside: {}", what,
                   store::insertFailureName(failure), error);
        return deadLetterDurably(batch, part, error, Kept{});
      case InsertFailure::kSplitByPartition:
        log->warn("{} spans too many partitions for one insert; splitting it by partition: {}", what, error);
        return splitByPartition(store, batch, part, depth);
      case InsertFailure::kShortWrite:
        if (++short_writes >= options_.short_write_retries) {
          if (kept == 0 && !kept_unknown) {
            log->error("{} short-written {} times with nothing kept; bisecting to find the rows that do not "
                       "store: {}", what, short_writes, error);
            return bisect(store, batch, part, depth);
          }
          // The store kept some rows and cannot say which: a split would send
          // them again under new tokens. Set the part aside whole, saying how
          // many of its rows the store holds under which token.
          log->error("{} short-written {} times; the store kept {} of its rows and cannot say which, so the "
                     "part is set aside whole (its copy names the token they are stored under): {}",
                     what, short_writes, kept_unknown ? std::string("some") : std::to_string(kept), error);
          return deadLetterDurably(batch, part, error, Kept{kept, kept_unknown});
        }
        log->warn("{} short-written (attempt {} of {}), retrying with the same token: {}", what, short_writes,
                  options_.short_write_retries, error);
        break;
      case InsertFailure::kRetryLoud:
        // Needs a person (credentials, grants, a missing table): say so every time it repeats a while.
        if (attempt == 0 || attempt % 10 == 0)
          log->error("{} not stored, retrying (attempt {}; this needs attention): {}", what, attempt + 1, error);
        stats_.store_healthy = false;
        break;
      case InsertFailure::kRetry:
        if (stats_.store_healthy.exchange(false)) log->warn("store unavailable, will retry: {}", error);
        break;
    }
    ++stats_.retries;
    if (!backoff(delay)) break;
  }
  return Outcome::kStopped;
}

namespace {

// Bytes [begin of row a, end of row b) of a part's body, with row ends rebased.
std::pair<size_t, size_t> rowSpan(const std::vector<uint32_t>& ends, size_t a, size_t b) {
  size_t from = a == 0 ? 0 : ends[a - 1];
  return {from, ends[b - 1]};
}

}  // namespace

StoreSender::Outcome StoreSender::splitByPartition(store::IStore& store, const BufferedBatch& batch, const Part& part,
                                                   int depth) {
  const std::string_view body = bodyOf(batch, part.body, part.whole);
  if (part.row_ends.size() != part.rows || part.row_days.size() != part.rows) {
    return deadLetterDurably(batch, part,
                             "the store refused it for spanning too many partitions, and the batch carries no row "
                             "boundaries to split it (written by an older kobs)",
                             Kept{});
  }
  std::set<int32_t> days(part.row_days.begin(), part.row_days.end());
  if (days.size() <= 1 || depth >= kMaxSplitDepth) return bisect(store, batch, part, depth);
  ++stats_.batches_split;
  // Consecutive days, at most max_partitions_per_insert per group.
  std::map<int32_t, size_t> group_of;
  size_t g = 0, in_group = 0;
  for (int32_t d : days) {
    if (in_group == options_.max_partitions_per_insert) {
      ++g;
      in_group = 0;
    }
    group_of[d] = g;
    ++in_group;
  }
  std::vector<Part> parts(g + 1);
  for (size_t i = 0; i < parts.size(); ++i) {
    parts[i].whole = false;
    parts[i].first_row = part.first_row;
  }
  for (size_t r = 0; r < part.rows; ++r) {
    Part& p = parts[group_of[part.row_days[r]]];
    auto [from, to] = rowSpan(part.row_ends, r, r + 1);
    p.body.append(body.substr(from, to - from));
    p.row_ends.push_back(static_cast<uint32_t>(p.body.size()));
    p.row_days.push_back(part.row_days[r]);
    ++p.rows;
  }
  bool all_stored = true;
  for (auto& p : parts) {
    // Derived from the part's own token and its first day: the same batch
    // splits the same way on a replay, so these dedup too.
    p.base_token = part.base_token;
    p.day_label = part.day_label + "-d" + std::to_string(p.row_days.front());
    p.label = p.day_label;
    p.token = p.base_token + p.label;
    Outcome o = sendPart(store, batch, p, depth + 1);
    if (o == Outcome::kStopped) return o;
    all_stored = all_stored && o == Outcome::kStored;
  }
  return all_stored ? Outcome::kStored : Outcome::kSetAside;
}

StoreSender::Outcome StoreSender::bisect(store::IStore& store, const BufferedBatch& batch, const Part& part,
                                         int depth) {
  if (part.rows <= 1 || part.row_ends.size() != part.rows || depth >= kMaxSplitDepth)
    return deadLetterDurably(batch, part,
                             part.rows <= 1 ? "the store does not store this row"
                                            : "the store does not store this batch whole, and it carries no row "
                                              "boundaries to split it (written by an older kobs)",
                             Kept{});
  ++stats_.batches_split;
  const std::string_view body = bodyOf(batch, part.body, part.whole);
  const size_t mid = part.rows / 2;
  bool all_stored = true;
  for (auto [a, b] : {std::pair<size_t, size_t>{0, mid}, std::pair<size_t, size_t>{mid, part.rows}}) {
    Part p;
    p.whole = false;
    auto [from, to] = rowSpan(part.row_ends, a, b);
    p.body.assign(body.substr(from, to - from));
    for (size_t r = a; r < b; ++r) p.row_ends.push_back(static_cast<uint32_t>(part.row_ends[r] - from));
    if (!part.row_days.empty()) p.row_days.assign(part.row_days.begin() + a, part.row_days.begin() + b);
    p.first_row = part.first_row + a;
    p.rows = b - a;
    const std::string range = "-r" + std::to_string(p.first_row) + "-" + std::to_string(p.first_row + p.rows);
    p.base_token = part.base_token;
    p.day_label = part.day_label;
    p.label = p.day_label + range;  // rows are numbered within the batch: the label names them alone
    p.token = p.base_token + p.label;
    Outcome o = sendPart(store, batch, p, depth + 1);
    if (o == Outcome::kStopped) return o;
    all_stored = all_stored && o == Outcome::kStored;
  }
  return all_stored ? Outcome::kStored : Outcome::kSetAside;
}

StoreSender::Outcome StoreSender::deadLetterDurably(const BufferedBatch& batch, const Part& part,
                                                    const std::string& error, Kept kept) {
  auto delay = options_.backoff_initial;
  for (int attempt = 0; !stopping_; ++attempt) {
    try {
      writeDeadLetter(batch, part, error, kept);
      ++stats_.batches_dead_lettered;
      // Rows the store kept count as stored; the copy holds the part whole.
      stats_.rows_dead_lettered += part.rows - kept.rows;
      stats_.rows_committed += kept.rows;
      if (kept.rows > 0 || kept.unknown) ++stats_.parts_kept_in_part;
      return Outcome::kSetAside;
    } catch (const std::exception& e) {
      ++stats_.dead_letter_errors;
      // The batch stays in the buffer until its copy is safe: a full disk
      // holds the queue (back-pressure) instead of losing the rows.
      if (attempt == 0 || attempt % 10 == 0)
        logging::get("sender")->error("cannot write dead-letter copy of batch {}{} (attempt {}); the batch stays "
                                      "in the buffer until it can: {}",
                                      seqName(batch), part.label, attempt + 1, e.what());
      if (!backoff(delay)) break;
    }
  }
  return Outcome::kStopped;
}

void StoreSender::writeDeadLetter(const BufferedBatch& batch, const Part& part, const std::string& error,
                                  Kept kept) {
  std::error_code ec;
  fs::create_directories(options_.dead_letter_dir, ec);
  if (ec)
    throw Exception(ErrorCode::kIo, "cannot create {}: {}", options_.dead_letter_dir.string(), ec.message());
  const std::string base = "batch-" + seqName(batch) + part.label;
  // The rows first, then the description: a .json names a complete batch.
  writeFileAtomically(options_.dead_letter_dir / (base + ".rowbinary"), bodyOf(batch, part.body, part.whole));
  nlohmann::json meta = {{"version", 1},
                         {"table", batch.header.table},
                         {"columns", batch.header.columns},
                         {"format", batch.header.format},
                         {"rows", part.rows},
                         {"first_row", part.first_row},
                         {"batch_rows", batch.header.rows},
                         {"error", error}};
  if (kept.rows > 0 || kept.unknown) {
    // The store kept some of these rows (which, it cannot say): sending this
    // copy again with the same token is deduplicated rather than stored twice.
    meta["rows_stored"] = kept.unknown ? nlohmann::json("unknown") : nlohmann::json(kept.rows);
    meta["rows_stored_at_least"] = kept.rows;
    meta["deduplication_token"] = part.token;
  }
  writeFileAtomically(options_.dead_letter_dir / (base + ".json"), meta.dump(2) + "\n");
}

bool StoreSender::commitDurably(const BufferedBatch& batch, bool stored) {
  auto delay = options_.backoff_initial;
  for (int attempt = 0;; ++attempt) {
    try {
      buffer_.commit(batch.seq, batch.last_seq, stored);
      return true;
    } catch (const std::exception& e) {
      // The insert stands (a replay of it is deduplicated by its token); only
      // the record of it failed. Retry the record, never the verdict.
      ++stats_.commit_errors;
      if (attempt == 0 || attempt % 10 == 0)
        logging::get("sender")->error("batch {} is {} but recording it failed (attempt {}); retrying: {}",
                                      seqName(batch),
                                      stored ? "in the store" : "set aside", attempt + 1, e.what());
      if (!backoff(delay)) return false;
    }
  }
}

}  // namespace kobs::pipeline
