// Request and Response: the plain values a route handler sees and returns.
// Independent of Boost.Beast so handlers and their tests need no asio.
//
// Threading: plain values; a Request is read-only while a handler runs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kobs::http {

class StreamWriter;

// Header fields in arrival order; lookups ignore case (RFC 9110 §5.1).
class Headers {
 public:
  // First value of `name`, or nullopt.
  std::optional<std::string_view> get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
  // Replaces every field called `name` with one field.
  void set(std::string_view name, std::string_view value);
  // Adds a field, keeping existing ones (for repeatable fields).
  void add(std::string_view name, std::string_view value);
  void remove(std::string_view name);

  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

bool iequals(std::string_view a, std::string_view b);

using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;   // "GET", as sent (methods are case-sensitive)
  std::string target;   // raw request-target: "/events?composition_id=a%20b"
  std::string path;     // percent-decoded path: "/events"
  std::string raw_query;  // undecoded part after '?', without the '?'
  QueryParams query;    // decoded, in order, repeats kept; '+' means space
  // For a prefix route, the decoded path after the prefix ("/events/" + "abc"
  // → "abc"); empty for exact routes.
  std::string path_rest;
  Headers headers;
  std::string body;
  std::string remote_address;  // peer IP ("127.0.0.1", "::1")
  uint16_t remote_port = 0;
  unsigned version = 11;       // 10 or 11

  // First value of a query parameter, or nullopt.
  std::optional<std::string_view> queryParam(std::string_view name) const;
  std::optional<std::string_view> header(std::string_view name) const { return headers.get(name); }
};

// What a stream response calls once the connection is a stream (see
// Response::stream). Runs on the connection's io thread: must not block.
using StreamOpen = std::function<void(std::shared_ptr<StreamWriter>)>;

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
  // Set by Response::stream(): the server sends the headers with
  // `Transfer-Encoding: chunked`, sends `body` (if any) as the first chunk,
  // then hands a StreamWriter to this callback. Content-Length is not sent.
  StreamOpen stream_open;

  static Response text(int status, std::string body);   // text/plain; charset=utf-8
  static Response json(int status, std::string body);   // application/json
  // A streaming response (SSE): status 200 with `content_type`; `initial` is
  // written first (e.g. ": connected\n\n"), then `open` gets the writer.
  static Response stream(std::string content_type, StreamOpen open, std::string initial = {});
};

// Percent-decoding (RFC 3986). With `plus_as_space`, '+' decodes to ' '
// (application/x-www-form-urlencoded, used for query strings). Returns nullopt
// on a malformed escape ("%G1", "%4").
std::optional<std::string> percentDecode(std::string_view in, bool plus_as_space);

// "a=1&b=x%20y&c" → {{a,1},{b,"x y"},{c,""}}; nullopt on a malformed escape.
std::optional<QueryParams> parseQuery(std::string_view raw);

// The reason phrase of a status code ("Not Found").
std::string_view reasonPhrase(int status);

}  // namespace kobs::http
