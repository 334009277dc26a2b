// kobs_peer_sink: a loopback server that speaks as much of ClickHouse's HTTP
// interface as the side-by-side benchmarks need, so the OpenTelemetry
// Collector's ClickHouse exporter and kobs (store.kind=clickhouse) each do
// their whole decode -> map -> encode -> ship path against the same cheap
// receiver, and the rows each delivered are counted exactly.
//
// It answers: the exporter's opening query and DESCRIBE TABLE (Native), the
// schema queries kobs makes (version, system.databases/tables/columns,
// merge_tree_settings), CREATE TABLE (remembered, so DESCRIBE and
// system.columns describe what each client created), any other DDL (200),
// INSERT ... FORMAT Native|RowBinary (decoded to the last byte and counted;
// kobs gets its X-ClickHouse-Summary), /ping, and /sink/stats (JSON counts)
// for the drivers. Compressed bodies are refused with a clear error: run the
// exporter with `compression: none` and kobs with
// store.clickhouse.compression=none.
//
// Threading: one thread per connection (a handful of keep-alive connections
// from two clients), blocking sockets; the catalog and the counters are
// guarded by one mutex, taken once per request.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ch_format.h"

namespace ch = kobs::bench::ch;

namespace {

struct TableStats {
  uint64_t rows = 0;
  uint64_t inserts = 0;
  uint64_t bytes = 0;
};

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=UTF-8";
  std::vector<std::pair<std::string, std::string>> headers;
};

class SinkError : public std::runtime_error {
 public:
  SinkError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.back())) || s.back() == ';')) s.remove_suffix(1);
  return s;
}

bool istarts(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && lower(s.substr(0, p.size())) == lower(p);
}

std::string percentDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string jsonEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

// The '...' literals of a query, in order (kobs quotes its names that way).
std::vector<std::string> stringLiterals(std::string_view sql) {
  std::vector<std::string> out;
  for (size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] != '\'') continue;
    std::string lit;
    for (++i; i < sql.size() && sql[i] != '\''; ++i) {
      if (sql[i] == '\\' && i + 1 < sql.size()) ++i;
      lit.push_back(sql[i]);
    }
    out.push_back(std::move(lit));
  }
  return out;
}

double processCpuSeconds() {
  std::ifstream f("/proc/self/stat");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  size_t p = s.rfind(')');
  if (p == std::string::npos) return 0;
  std::vector<std::string> fields;
  size_t i = p + 2;
  while (i < s.size()) {
    size_t sp = s.find(' ', i);
    if (sp == std::string::npos) sp = s.size();
    fields.push_back(s.substr(i, sp - i));
    i = sp + 1;
  }
  // fields[0] is state (field 3); utime is field 14, stime 15.
  if (fields.size() < 13) return 0;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(fields[11]) + std::stod(fields[12])) / tick;
}

class Sink {
 public:
  explicit Sink(std::string version) : version_(std::move(version)) {}

  Reply handle(std::string_view method, std::string_view path, const std::map<std::string, std::string>& params,
               const std::string& content_encoding, std::string_view body) {
    requests_.fetch_add(1, std::memory_order_relaxed);
    try {
      if (path == "/ping") return Reply{200, "Ok.\n"};
      if (path == "/sink/stats") return Reply{200, stats(), "application/json"};
      if (path == "/sink/reset") {
        std::lock_guard lock(mu_);
        stats_.clear();
        return Reply{200, "reset\n"};
      }
      if (path != "/") throw SinkError(0, "unknown path " + std::string(path));
      (void)method;
      auto param = [&](const char* k) -> std::string {
        auto it = params.find(k);
        return it == params.end() ? std::string() : it->second;
      };
      if (param("compress") == "1" || param("decompress") == "1")
        throw SinkError(0, "the benchmark sink does not speak ClickHouse's compressed frames: configure the exporter "
                           "with `compression: none`");
      if (!content_encoding.empty())
        throw SinkError(0, "the benchmark sink does not decode Content-Encoding " + content_encoding +
                               ": run kobs with store.clickhouse.compression=none");
      const std::string database = param("database").empty() ? "default" : param("database");
      const bool native_out = param("default_format") == "Native";
      const bool block_info = !param("client_protocol_version").empty() && param("client_protocol_version") != "0";
      std::string_view sql, data;
      auto q = params.find("query");
      if (q != params.end()) {
        sql = q->second;
        data = body;
      } else {
        sql = body;
      }
      sql = trim(sql);
      if (istarts(sql, "INSERT")) return insert(sql, database, data);
      if (istarts(sql, "SELECT displayName()")) {
        ch::NativeBlockWriter w(block_info, 1);
        w.stringColumn("displayName()", {"kobs-peer-sink"});
        w.stringColumn("version()", {version_});
        w.uint32Column("revision()", {54479});
        w.stringColumn("timezone()", {"UTC"});
        return Reply{200, w.finish(), "application/octet-stream"};
      }
      if (istarts(sql, "DESCRIBE") || istarts(sql, "DESC ")) return describe(sql, database, native_out, block_info);
      if (istarts(sql, "CREATE TABLE")) {
        ch::Table t = ch::parseCreateTable(sql, database);
        std::lock_guard lock(mu_);
        // IF NOT EXISTS: the first definition stays.
        tables_.try_emplace(t.database + "." + t.name, std::move(t));
        return Reply{200, ""};
      }
      if (istarts(sql, "CREATE") || istarts(sql, "ALTER") || istarts(sql, "DROP") || istarts(sql, "SET"))
        return Reply{200, ""};
      if (istarts(sql, "SELECT version()")) return Reply{200, version_ + "\n"};
      std::string l = lower(sql);
      auto lits = stringLiterals(sql);
      if (l.find("from system.databases") != std::string::npos) return Reply{200, "1\n"};
      if (l.find("from system.merge_tree_settings") != std::string::npos) return Reply{200, "1000\n"};
      if (l.find("from system.tables") != std::string::npos && lits.size() >= 2) {
        std::lock_guard lock(mu_);
        auto it = tables_.find(lits[0] + "." + lits[1]);
        if (l.starts_with("select count()")) return Reply{200, it == tables_.end() ? "0\n" : "1\n"};
        if (it == tables_.end()) return Reply{200, ""};
        const auto& t = it->second;
        return Reply{200, "{\"engine\":\"" + jsonEscape(t.engine) + "\",\"engine_full\":\"" + jsonEscape(t.engine_full) +
                              "\",\"create_table_query\":\"" + jsonEscape(t.create_query) + "\"}\n"};
      }
      if (l.find("from system.columns") != std::string::npos && lits.size() >= 2) {
        std::lock_guard lock(mu_);
        auto it = tables_.find(lits[0] + "." + lits[1]);
        std::string out;
        if (it != tables_.end())
          for (const auto& c : it->second.columns)
            out += "{\"name\":\"" + jsonEscape(c.name) + "\",\"type\":\"" + jsonEscape(c.type) + "\",\"default_kind\":\"" +
                   jsonEscape(c.default_kind) + "\",\"default_expression\":\"" + jsonEscape(c.default_expression) +
                   "\"}\n";
        return Reply{200, out};
      }
      if (istarts(sql, "SELECT")) return Reply{200, ""};  // e.g. pod logs' recovery query: nothing stored before
      throw SinkError(62, "statement not understood by the benchmark sink: " + std::string(sql.substr(0, 200)));
    } catch (const SinkError& e) {
      return error(e.code(), e.what());
    } catch (const std::exception& e) {
      return error(0, e.what());
    }
  }

  void countFailure() { errors_.fetch_add(1, std::memory_order_relaxed); }

 private:
  Reply error(int code, const std::string& what) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    std::cerr << "kobs_peer_sink: refused: " << what << std::endl;
    Reply r{code == 60 ? 404 : 500, "Code: " + std::to_string(code) + ". DB::Exception: " + what + "\n"};
    r.headers.emplace_back("X-ClickHouse-Exception-Code", std::to_string(code));
    return r;
  }

  const ch::Table& table(const std::string& db, const std::string& name) {
    auto it = tables_.find(db + "." + name);
    if (it == tables_.end()) throw SinkError(60, "Table " + db + "." + name + " does not exist (no CREATE TABLE seen)");
    return it->second;
  }

  Reply describe(std::string_view sql, const std::string& database, bool native_out, bool block_info) {
    std::string_view rest = trim(sql.substr(istarts(sql, "DESCRIBE") ? 8 : 4));
    if (istarts(rest, "TABLE ")) rest = rest.substr(6);
    auto [db, name] = ch::parseQualifiedName(rest, database);
    std::vector<std::string> names, types, empty;
    {
      std::lock_guard lock(mu_);
      for (const auto& c : table(db, name).columns) {
        if (!c.insertable()) continue;
        names.push_back(c.name);
        // Plain types, so the exporter sends plain columns (see README).
        types.push_back(ch::withoutLowCardinality(c.type));
      }
    }
    empty.assign(names.size(), "");
    if (!native_out) {
      std::string out;
      for (size_t i = 0; i < names.size(); ++i) out += names[i] + "\t" + types[i] + "\t\t\t\t\t\n";
      return Reply{200, out};
    }
    ch::NativeBlockWriter w(block_info, names.size());
    w.stringColumn("name", names);
    w.stringColumn("type", types);
    for (const char* col : {"default_type", "default_expression", "comment", "codec_expression", "ttl_expression"})
      w.stringColumn(col, empty);
    return Reply{200, w.finish(), "application/octet-stream"};
  }

  Reply insert(std::string_view sql, const std::string& database, std::string_view data) {
    // INSERT INTO [db.]t [(cols)] FORMAT X
    std::string_view rest = trim(sql.substr(6));
    if (!istarts(rest, "INTO")) throw SinkError(62, "INSERT without INTO");
    rest = trim(rest.substr(4));
    if (istarts(rest, "TABLE ")) rest = trim(rest.substr(6));
    size_t used = 0;
    auto [db, name] = ch::parseQualifiedName(rest, database, &used);
    rest = trim(rest.substr(used));
    std::vector<std::string> columns;
    if (!rest.empty() && rest.front() == '(') {
      size_t close = rest.find(')');
      if (close == std::string_view::npos) throw SinkError(62, "unclosed column list");
      std::string_view list = rest.substr(1, close - 1);
      size_t pos = 0;
      while (pos < list.size()) {
        size_t n = 0;
        auto [a, b] = ch::parseQualifiedName(list.substr(pos), "", &n);
        columns.push_back(a.empty() ? b : a + "." + b);
        pos += n;
        while (pos < list.size() && (list[pos] == ',' || std::isspace(static_cast<unsigned char>(list[pos])))) ++pos;
      }
      rest = trim(rest.substr(close + 1));
    }
    // INSERT ... SELECT (kobs's events backfill view fill): nothing to count.
    if (istarts(rest, "SELECT") || istarts(rest, "WITH")) return Reply{200, ""};
    if (!istarts(rest, "FORMAT")) throw SinkError(62, "INSERT without FORMAT (the sink counts Native and RowBinary)");
    std::string format(trim(rest.substr(6)));
    uint64_t rows = 0;
    if (format == "Native") {
      rows = ch::countNativeAnyRevision(data).rows;
      std::lock_guard lock(mu_);
      table(db, name);  // must exist, as in ClickHouse
    } else if (format == "RowBinary") {
      std::vector<ch::TypePtr> types;
      {
        std::lock_guard lock(mu_);
        const auto& t = table(db, name);
        if (columns.empty()) {
          for (const auto& c : t.columns)
            if (c.insertable()) types.push_back(typeOf(c.type));
        } else {
          for (const auto& col : columns) {
            const ch::Column* found = nullptr;
            for (const auto& c : t.columns)
              if (c.name == col) found = &c;
            if (!found) throw SinkError(16, "No such column " + col + " in table " + db + "." + name);
            types.push_back(typeOf(found->type));
          }
        }
      }
      rows = ch::countRowBinary(data, types);
    } else {
      throw SinkError(73, "format " + format + " is not counted by the sink");
    }
    {
      std::lock_guard lock(mu_);
      auto& s = stats_[db + "." + name];
      s.rows += rows;
      s.inserts += 1;
      s.bytes += data.size();
    }
    Reply r{200, ""};
    const std::string n = std::to_string(rows);
    r.headers.emplace_back("X-ClickHouse-Summary",
                           "{\"read_rows\":\"0\",\"read_bytes\":\"0\",\"written_rows\":\"" + n + "\",\"written_bytes\":\"" +
                               std::to_string(data.size()) + "\",\"total_rows_to_read\":\"0\",\"result_rows\":\"" + n +
                               "\",\"result_bytes\":\"0\"}");
    return r;
  }

  // Types are parsed once per distinct name (callers hold mu_).
  ch::TypePtr typeOf(const std::string& name) {
    auto it = types_.find(name);
    if (it != types_.end()) return it->second;
    return types_.emplace(name, ch::parseType(name)).first->second;
  }

  std::string stats() {
    std::lock_guard lock(mu_);
    std::string out = "{\"tables\":{";
    bool first = true;
    for (const auto& [k, s] : stats_) {
      if (!first) out += ",";
      first = false;
      out += "\"" + jsonEscape(k) + "\":{\"rows\":" + std::to_string(s.rows) + ",\"inserts\":" + std::to_string(s.inserts) +
             ",\"bytes\":" + std::to_string(s.bytes) + "}";
    }
    out += "},\"requests\":" + std::to_string(requests_.load()) + ",\"errors\":" + std::to_string(errors_.load()) +
           ",\"cpu_seconds\":" + std::to_string(processCpuSeconds()) + "}\n";
    return out;
  }

  std::string version_;
  std::mutex mu_;
  std::map<std::string, ch::Table> tables_;
  std::map<std::string, TableStats> stats_;
  std::map<std::string, ch::TypePtr> types_;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> errors_{0};
};

// One keep-alive HTTP/1.1 connection: requests in, replies out, until the
// client closes or sends something unreadable.
class Connection {
 public:
  Connection(int fd, Sink& sink) : fd_(fd), sink_(sink) {}
  ~Connection() { ::close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void run() {
    try {
      while (serveOne()) {
      }
    } catch (const std::exception& e) {
      sink_.countFailure();
      std::cerr << "kobs_peer_sink: connection dropped: " << e.what() << std::endl;
    }
  }

 private:
  bool fill() {
    char tmp[1 << 16];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  // Makes buf_ hold at least `n` bytes from `pos_`.
  void need(size_t n) {
    while (buf_.size() - pos_ < n)
      if (!fill()) throw std::runtime_error("client closed mid-request");
  }
  std::string line() {
    for (;;) {
      size_t e = buf_.find("\r\n", pos_);
      if (e != std::string::npos) {
        std::string l = buf_.substr(pos_, e - pos_);
        pos_ = e + 2;
        return l;
      }
      if (buf_.size() - pos_ > (1 << 20)) throw std::runtime_error("header line too long");
      if (!fill()) throw std::runtime_error("client closed mid-header");
    }
  }

  bool serveOne() {
    // Compact what was consumed.
    buf_.erase(0, pos_);
    pos_ = 0;
    if (buf_.empty() && !fill()) return false;
    std::string request_line = line();
    size_t s1 = request_line.find(' ');
    size_t s2 = request_line.find(' ', s1 + 1);
    if (s1 == std::string::npos || s2 == std::string::npos) throw std::runtime_error("bad request line");
    std::string method = request_line.substr(0, s1);
    std::string target = request_line.substr(s1 + 1, s2 - s1 - 1);
    size_t content_length = 0;
    bool chunked = false, close = false;
    std::string content_encoding;
    for (;;) {
      std::string h = line();
      if (h.empty()) break;
      size_t colon = h.find(':');
      if (colon == std::string::npos) continue;
      std::string key = lower(h.substr(0, colon));
      std::string value(trim(h.substr(colon + 1)));
      if (key == "content-length") content_length = std::stoull(value);
      else if (key == "transfer-encoding") chunked = lower(value).find("chunked") != std::string::npos;
      else if (key == "connection") close = lower(value) == "close";
      else if (key == "content-encoding") content_encoding = value;
    }
    std::string& body = body_;
    body.clear();
    if (chunked) {
      for (;;) {
        std::string size_line = line();
        size_t n = std::stoull(size_line, nullptr, 16);
        if (n == 0) {
          while (!line().empty()) {
          }
          break;
        }
        need(n + 2);
        body.append(buf_, pos_, n);
        pos_ += n + 2;
      }
    } else if (content_length) {
      need(content_length);
      body.append(buf_, pos_, content_length);
      pos_ += content_length;
    }
    std::string path = target;
    std::map<std::string, std::string> params;
    size_t qm = target.find('?');
    if (qm != std::string::npos) {
      path = target.substr(0, qm);
      std::string_view qs(target);
      qs.remove_prefix(qm + 1);
      while (!qs.empty()) {
        size_t amp = qs.find('&');
        std::string_view kv = qs.substr(0, amp);
        size_t eq = kv.find('=');
        params[percentDecode(kv.substr(0, eq))] = eq == std::string_view::npos ? "" : percentDecode(kv.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        qs.remove_prefix(amp + 1);
      }
    }
    Reply r = sink_.handle(method, path, params, content_encoding, body);
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + (r.status == 200 ? " OK" : " Error") +
                      "\r\nContent-Type: " + r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
                      "\r\n";
    for (const auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
    out += close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
    out += r.body;
    size_t sent = 0;
    while (sent < out.size()) {
      ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return !close;
  }

  int fd_;
  Sink& sink_;
  std::string buf_;
  size_t pos_ = 0;
  std::string body_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", port_file, version = "25.8.2.1";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "kobs_peer_sink: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--listen") listen = next();
    else if (a == "--port-file") port_file = next();
    else if (a == "--version") version = next();
    else {
      std::cerr << "usage: kobs_peer_sink [--listen 127.0.0.1:0] [--port-file f] [--version 25.8.2.1]\n";
      return 2;
    }
  }
  size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  int port = std::stoi(listen.substr(colon + 1));
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    std::cerr << "kobs_peer_sink: bad listen address " << listen << "\n";
    return 2;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 128) != 0) {
    std::cerr << "kobs_peer_sink: cannot listen on " << listen << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int bound = ntohs(addr.sin_port);
  if (!port_file.empty()) {
    std::ofstream(port_file + ".tmp") << bound << "\n";
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  std::cout << "kobs_peer_sink listening on " << host << ":" << bound << std::endl;
  Sink sink(version);
  for (;;) {
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) {
      if (errno == EINTR) continue;
      std::cerr << "kobs_peer_sink: accept: " << std::strerror(errno) << "\n";
      continue;
    }
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread([c, &sink] { Connection(c, sink).run(); }).detach();
  }
}
