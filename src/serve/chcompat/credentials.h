// The credentials of a request to the ClickHouse-compatible endpoint, taken
// the three ways ClickHouse's HTTP interface takes them: basic auth,
// X-ClickHouse-User/X-ClickHouse-Key headers, or `user`/`password` URL
// parameters. None means user `default` with no password; more than one way
// at once is refused, as ClickHouse does.
//
// Threading: pure functions.
#pragma once

#include <string>
#include <variant>

#include "http/message.h"

namespace kobs::serve::chcompat {

struct Credentials {
  std::string user;
  std::string password;
};

// The credentials, or the reason they cannot be read (a ClickHouse message
// without the "Code: 516" prefix).
std::variant<Credentials, std::string> credentialsOf(const http::Request& request);

// The user name made safe for a message (printable, at most 64 bytes).
std::string shownUser(const std::string& user);

}  // namespace kobs::serve::chcompat
