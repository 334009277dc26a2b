#include "http/stream_writer.h"

namespace kobs::http {

StreamWriter::StreamWriter(std::weak_ptr<detail::StreamSink> sink, StreamLimits limits)
    : sink_(std::move(sink)), limits_(limits) {}

bool StreamWriter::write(std::string frame) { return write(std::make_shared<const std::string>(std::move(frame))); }

bool StreamWriter::write(Frame frame) {
  if (!frame) return !closed();
  enum { kNothing, kWake, kAbort } action = kNothing;
  {
    std::lock_guard lock(mutex_);
    if (closing_ || finished_) return false;
    if (queue_.size() + 1 > limits_.max_queued_frames || queued_bytes_ + frame->size() > limits_.max_queued_bytes) {
      closing_ = true;
      reason_ = CloseReason::kOverflow;
      std::vector<Frame>().swap(queue_);
      queued_bytes_ = 0;
      action = kAbort;
    } else {
      queued_bytes_ += frame->size();
      queue_.push_back(std::move(frame));
      if (!flushing_) {
        flushing_ = true;
        action = kWake;
      }
    }
  }
  // Outside the lock: keep lock scopes free of calls into other objects.
  if (action != kNothing) {
    if (auto sink = sink_.lock()) {
      if (action == kAbort) sink->streamAbort();
      else sink->streamWakeup();
    }
  }
  return action != kAbort;
}

void StreamWriter::close(CloseReason reason) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (closing_ || finished_) return;
    closing_ = true;
    reason_ = reason;
    wake = !flushing_;
    flushing_ = true;
  }
  if (wake)
    if (auto sink = sink_.lock()) sink->streamWakeup();
}

bool StreamWriter::closed() const {
  std::lock_guard lock(mutex_);
  return closing_ || finished_;
}

StreamWriter::CloseReason StreamWriter::closeReason() const {
  std::lock_guard lock(mutex_);
  return reason_;
}

void StreamWriter::onClose(std::function<void()> callback) {
  {
    std::lock_guard lock(mutex_);
    if (!finished_) {
      on_close_ = std::move(callback);
      return;
    }
  }
  if (callback) callback();
}

StreamWriter::Take StreamWriter::take(std::vector<Frame>& out) {
  std::lock_guard lock(mutex_);
  if (!queue_.empty()) {
    if (out.empty()) {
      out.swap(queue_);
    } else {
      for (auto& f : queue_) out.push_back(std::move(f));
      queue_.clear();
    }
    // Keep room for the usual one or two frames; a burst's capacity goes back.
    if (queue_.capacity() > 4) std::vector<Frame>().swap(queue_);
    queued_bytes_ = 0;
    return Take::kData;
  }
  if (closing_) return Take::kEnd;  // flushing_ stays true: no further wakeups
  flushing_ = false;
  return Take::kIdle;
}

void StreamWriter::finish(CloseReason reason) {
  std::function<void()> callback;
  {
    std::lock_guard lock(mutex_);
    if (finished_) return;
    finished_ = true;
    if (reason_ == CloseReason::kNone) reason_ = reason;
    std::vector<Frame>().swap(queue_);
    queued_bytes_ = 0;
    callback = std::move(on_close_);
  }
  if (callback) callback();
}

void StreamWriter::setFlushing(bool flushing) {
  std::lock_guard lock(mutex_);
  flushing_ = flushing;
}

}  // namespace kobs::http
