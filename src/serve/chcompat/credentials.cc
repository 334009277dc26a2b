#include "serve/chcompat/credentials.h"

#include <cctype>
#include <optional>

#include "common/base64.h"
#include "store/sql_guard/sql_lexer.h"

namespace kobs::serve::chcompat {

std::variant<Credentials, std::string> credentialsOf(const http::Request& request) {
  std::optional<Credentials> basic, headers, params;
  if (auto a = request.header("authorization");
      a && a->size() > 6 && store::sql_guard::iequals(a->substr(0, 6), "Basic ")) {
    auto decoded = base64::decode(a->substr(6), {.alphabet = base64::Alphabet::kStandard});
    const size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) return std::string("Malformed basic authentication header");
    basic = Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
  }
  if (auto u = request.header("x-clickhouse-user"))
    headers = Credentials{std::string(*u), std::string(request.header("x-clickhouse-key").value_or(""))};
  else if (request.header("x-clickhouse-key"))
    headers = Credentials{"default", std::string(*request.header("x-clickhouse-key"))};
  if (auto u = request.queryParam("user"))
    params = Credentials{std::string(*u), std::string(request.queryParam("password").value_or(""))};
  else if (request.queryParam("password"))
    params = Credentials{"default", std::string(*request.queryParam("password"))};
  if (int(basic.has_value()) + int(headers.has_value()) + int(params.has_value()) > 1)
    return std::string(
        "Credentials were given in more than one way (basic authentication, X-ClickHouse-User/Key headers, "
        "user/password parameters): use one");
  if (basic) return *basic;
  if (headers) return *headers;
  if (params) return *params;
  return Credentials{"default", ""};
}

std::string shownUser(const std::string& user) {
  std::string shown;
  for (char c : user.substr(0, 64)) shown.push_back(std::isprint(static_cast<unsigned char>(c)) ? c : '?');
  return shown;
}

}  // namespace kobs::serve::chcompat
