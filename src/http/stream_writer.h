// StreamWriter: the producer's handle on a streaming response (SSE).
//
// Threading model: write(), close() and onClose() may be called from any
// thread. write() never blocks: it appends to a bounded per-connection queue
// and wakes the connection, whose io thread sends everything queued as one
// HTTP chunk per wake-up. A full queue means the client reads slower than the
// producer writes; the connection is then dropped (write() returns false)
// rather than letting one slow client hold memory or block the producer.
// Frames are queued and sent as shared, immutable strings: a producer that
// sends the same bytes to many streams builds them once and queues the same
// Frame to each, so a client's queue holds pointers, not copies.
// The on-close callback runs exactly once, on an io thread (or on the caller's
// thread when registered after the stream already closed), whatever ended the
// stream: client gone, overflow, write timeout, close(), server stop.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace kobs::http {

namespace detail {
// What the writer needs from its connection (implemented by the server's
// connection object; all three post to the connection's strand).
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual void streamWakeup() = 0;  // frames are queued, or close() was called
  virtual void streamAbort() = 0;   // drop the connection now
};
}  // namespace detail

struct StreamLimits {
  size_t max_queued_frames = 1024;
  size_t max_queued_bytes = 4 * 1024 * 1024;
};

class StreamWriter {
 public:
  using Frame = std::shared_ptr<const std::string>;
  enum class CloseReason { kNone, kClosedByServer, kClientGone, kOverflow, kServerStopping, kWriteError };

  StreamWriter(std::weak_ptr<detail::StreamSink> sink, StreamLimits limits);
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  // Queues one frame (sent as is: an SSE frame includes its blank line).
  // False when the stream is closed, or when this frame overflowed the queue,
  // which closes the stream.
  bool write(std::string frame);
  // The same for a frame shared with other streams (never copied).
  bool write(Frame frame);
  // Sends what is queued, ends the chunked body, closes the connection.
  // `reason` is what closeReason() reports (the server passes kServerStopping).
  void close(CloseReason reason = CloseReason::kClosedByServer);
  bool closed() const;
  CloseReason closeReason() const;
  // Called once when the stream ends; see the threading note above.
  void onClose(std::function<void()> callback);

  // --- used by the connection (io thread) ---
  enum class Take { kData, kIdle, kEnd };
  // kData: queued frames were appended to `out`. kIdle: nothing queued; the
  // writer goes idle and the next write() or close() wakes the connection.
  // kEnd: close() was called and everything queued has been taken.
  Take take(std::vector<Frame>& out);
  // The connection ended: mark closed and run the on-close callback.
  void finish(CloseReason reason);
  // The connection starts its flush loop itself after the response header.
  void setFlushing(bool flushing);

 private:
  std::weak_ptr<detail::StreamSink> sink_;
  const StreamLimits limits_;
  mutable std::mutex mutex_;
  // A vector, not a deque: an empty std::deque still holds ~600 bytes, and
  // most streams sit idle with nothing queued.
  std::vector<Frame> queue_;
  size_t queued_bytes_ = 0;
  bool closing_ = false;   // close() called or overflowed: accept no more frames
  bool finished_ = false;  // connection ended, callback run (or pending registration)
  bool flushing_ = true;   // a flush loop is active or will start; no wakeup needed
  CloseReason reason_ = CloseReason::kNone;
  std::function<void()> on_close_;
};

}  // namespace kobs::http
