#include "serve/mcp/mcp_stdio.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kobs::serve::mcp {
namespace {

// Whether a message holds a tools/call (a request that waits on the store).
// A line that does not parse is answered on the reader (parse error).
bool holdsToolCall(const std::string& line) {
  const Json m = Json::parse(line, nullptr, false);
  if (m.is_discarded()) return false;
  auto isCall = [](const Json& x) {
    return x.is_object() && x.contains("method") && x["method"] == "tools/call" && x.contains("id");
  };
  if (m.is_array()) {
    for (const auto& x : m)
      if (isCall(x)) return true;
    return false;
  }
  return isCall(m);
}

}  // namespace

size_t runStdio(McpServer& server, std::istream& in, std::ostream& out) {
  std::mutex out_mutex;
  auto write = [&](const McpServer::Reply& reply) {
    if (!reply.body) return;
    // dump() escapes control characters, so a message never spans lines.
    const std::string text = reply.body->dump(-1, ' ', false, Json::error_handler_t::replace);
    std::lock_guard lock(out_mutex);
    out << text << '\n';
    out.flush();
  };

  struct Job {
    std::string line;
    std::shared_ptr<Session> session;
  };
  std::mutex queue_mutex;
  std::condition_variable queue_changed;
  std::deque<Job> queue;
  bool ended = false;

  std::vector<std::thread> workers;
  for (size_t i = 0; i < kStdioWorkers; ++i)
    workers.emplace_back([&] {
      for (;;) {
        Job job;
        {
          std::unique_lock lock(queue_mutex);
          queue_changed.wait(lock, [&] { return ended || !queue.empty(); });
          if (queue.empty()) return;
          job = std::move(queue.front());
          queue.pop_front();
        }
        queue_changed.notify_all();  // room for the reader
        write(server.handle(job.line, job.session));
      }
    });

  std::shared_ptr<Session> session;
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++n;
    if (holdsToolCall(line)) {
      std::unique_lock lock(queue_mutex);
      queue_changed.wait(lock, [&] { return queue.size() < kStdioQueue; });
      queue.push_back({std::move(line), session});
      lock.unlock();
      queue_changed.notify_all();
      continue;
    }
    auto reply = server.handle(line, session);
    if (reply.created) {
      if (session) server.close(session->id());
      session = reply.created;
    }
    write(reply);
  }
  {
    std::lock_guard lock(queue_mutex);
    ended = true;
  }
  queue_changed.notify_all();
  for (auto& w : workers) w.join();
  if (session) server.close(session->id());
  return n;
}

}  // namespace kobs::serve::mcp
