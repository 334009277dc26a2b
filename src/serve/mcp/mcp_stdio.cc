#include "serve/mcp/mcp_stdio.h"

#include <string>

namespace kobs::serve::mcp {

size_t runStdio(McpServer& server, std::istream& in, std::ostream& out) {
  std::shared_ptr<Session> session;
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++n;
    auto reply = server.handle(line, session);
    if (reply.created) {
      if (session) server.close(session->id());
      session = reply.created;
    }
    if (reply.body) {
      // dump() escapes control characters, so a message never spans lines.
      out << reply.body->dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
      out.flush();
    }
  }
  if (session) server.close(session->id());
  return n;
}

}  // namespace kobs::serve::mcp
