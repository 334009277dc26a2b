// AlertStream: firing and resolved alerts as their own SSE topic on
// /notifications (`?topic=alerts`), for the Krateo frontend. A stream that
// does not ask for the topic gets exactly the events bytes it always got.
//
// Frame per announcement (an alert group firing, or resolved):
//   event: alerts
//   data: {"rule":..,"group":..,"state":"ALERT"|"OK","windowStart":..,"windowEnd":..,"value":..}
//   id: alert-<windowEnd unix s>-<16 hex of rule, group, state, window>
// State and windows as in alert_history: the same announcement has the same
// id whichever process reports it.
//
// Sources: publish() from the alert evaluator in the same process (`kobs
// all`), or, when the alerts run elsewhere (split roles), a tail of the
// store's alert_history (rows with Notified != 0) every poll period. Both
// dedupe by id. The last `history` announcements are kept (loaded from the
// store at attach), so a reconnect with Last-Event-ID gets those after its
// id; an id that is gone falls back to its window end.
//
// Threading: publish() and open() from any thread, never blocking on I/O
// (open() runs on an io thread). The store is read by the tail thread only
// (attach() starts it; the initial load runs there too). One keepalive
// thread. stop() (idempotent) before the store goes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http/stream_writer.h"
#include "store/store.h"

namespace kobs::serve::alerts {

inline constexpr const char* kAlertsTopic = "alerts";

struct Announcement {
  std::string rule;
  std::string group;  // "col=value, col=value" as alert_history's GroupKey
  std::string state;  // "ALERT" (firing) or "OK" (resolved)
  int64_t window_start = 0, window_end = 0;  // epoch seconds
  std::optional<double> value;
};

// The frame's id and bytes (exposed for tests).
std::string announcementId(const Announcement& a);
std::string announcementFrame(const Announcement& a);

struct AlertStreamOptions {
  std::chrono::milliseconds keepalive{25000};
  std::chrono::milliseconds retry{3000};
  std::chrono::milliseconds poll{2000};  // store tail period
  size_t history = 1000;                 // announcements kept for Last-Event-ID
};

class AlertStream {
 public:
  explicit AlertStream(AlertStreamOptions options);
  ~AlertStream();
  AlertStream(const AlertStream&) = delete;
  AlertStream& operator=(const AlertStream&) = delete;

  // Loads the recent announcements from `database`.`table` and, with
  // `tail` (the alerts run in another process), keeps reading it. `store`
  // must outlive stop(). Once.
  void attach(store::IStore& store, std::string database, std::string table, bool tail);
  void publish(const Announcement& a);

  std::string preamble() const;
  // Takes over a stream whose preamble was sent; `last_id` from Last-Event-ID.
  void open(std::shared_ptr<http::StreamWriter> writer, std::optional<std::string> last_id);

  size_t streams() const;
  uint64_t published() const;
  void stop();

 private:
  struct Kept {
    std::string id;
    int64_t window_end;
    http::StreamWriter::Frame frame;
  };
  void tailLoop();
  void keepaliveLoop();
  size_t readStore(int64_t since);

  const AlertStreamOptions options_;
  store::IStore* store_ = nullptr;
  std::string database_, table_;
  bool tail_store_ = false;

  mutable std::mutex mutex_;
  std::deque<Kept> kept_;
  std::set<std::string> known_;  // ids in kept_
  std::vector<std::shared_ptr<http::StreamWriter>> streams_;
  uint64_t published_ = 0;
  bool stopping_ = false;
  std::condition_variable cv_;
  std::thread tail_, keepalive_;
};

}  // namespace kobs::serve::alerts
