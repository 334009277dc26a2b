#include "ch_format.h"

#include <cctype>
#include <cstring>
#include <string>

namespace kobs::bench::ch {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool istartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Splits at commas outside parentheses and quotes.
std::vector<std::string_view> splitTopLevel(std::string_view s, char sep = ',') {
  std::vector<std::string_view> out;
  int depth = 0;
  char quote = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == '\\') ++i;
      else if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '`' || c == '"') quote = c;
    else if (c == '(') ++depth;
    else if (c == ')') --depth;
    else if (c == sep && depth == 0) {
      out.push_back(trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  auto last = trim(s.substr(start));
  if (!last.empty() || !out.empty()) out.push_back(last);
  return out;
}

// Position of the ')' matching the '(' at `open`.
size_t matchParen(std::string_view s, size_t open) {
  int depth = 0;
  char quote = 0;
  for (size_t i = open; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == '\\') ++i;
      else if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '`' || c == '"') quote = c;
    else if (c == '(') ++depth;
    else if (c == ')' && --depth == 0) return i;
  }
  throw FormatError("unbalanced parentheses in: " + std::string(s.substr(0, 200)));
}

TypePtr fixed(std::string_view name, size_t size) {
  auto t = std::make_shared<Type>();
  t->kind = Type::Kind::kFixed;
  t->fixed_size = size;
  t->name = name;
  return t;
}

size_t decimalSize(int precision) {
  if (precision <= 9) return 4;
  if (precision <= 18) return 8;
  if (precision <= 38) return 16;
  return 32;
}

// A tuple element may be named ("name Type"): drop the name.
std::string_view elementType(std::string_view arg) {
  arg = trim(arg);
  size_t sp = arg.find(' ');
  size_t paren = arg.find('(');
  if (sp != std::string_view::npos && (paren == std::string_view::npos || sp < paren)) {
    // "Name Type" unless the whole thing is a type with a space before '(' (rare).
    std::string_view first = arg.substr(0, sp);
    if (first.find_first_of("(),'") == std::string_view::npos) return trim(arg.substr(sp + 1));
  }
  return arg;
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ == data_.size(); }
  size_t pos() const { return pos_; }
  void need(size_t n, const char* what) const {
    if (data_.size() - pos_ < n)
      throw FormatError("body ends inside " + std::string(what) + " at byte " + std::to_string(pos_));
  }
  void skip(size_t n, const char* what) {
    need(n, what);
    pos_ += n;
  }
  uint8_t u8(const char* what) {
    need(1, what);
    return static_cast<uint8_t>(data_[pos_++]);
  }
  uint64_t u64(const char* what) {
    need(8, what);
    uint64_t v;
    std::memcpy(&v, data_.data() + pos_, 8);  // little-endian host (x86-64, arm64)
    pos_ += 8;
    return v;
  }
  uint64_t varuint(const char* what) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = u8(what);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw FormatError("varint longer than 10 bytes in " + std::string(what));
  }
  std::string_view str(const char* what) {
    uint64_t n = varuint(what);
    need(n, what);
    std::string_view s = data_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  // A size that must fit in what is left (every element takes >= 0 bytes,
  // so only a sanity bound against absurd values).
  uint64_t count(uint64_t n, const char* what) const {
    if (n > (uint64_t(1) << 40)) throw FormatError("absurd element count in " + std::string(what));
    return n;
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// Native: the state prefixes come first for the whole column (recursively),
// then the data streams, each nested column after its parent's sizes.
void nativePrefix(Reader& r, const Type& t) {
  switch (t.kind) {
    case Type::Kind::kLowCardinality:
      r.u64("LowCardinality keys version");
      break;
    case Type::Kind::kFixed:
    case Type::Kind::kString:
      break;
    default:
      for (const auto& a : t.args) nativePrefix(r, *a);
  }
}

void nativeData(Reader& r, const Type& t, uint64_t rows) {
  switch (t.kind) {
    case Type::Kind::kFixed:
      if (t.fixed_size && rows > (uint64_t(1) << 40) / t.fixed_size) throw FormatError("absurd row count");
      r.skip(rows * t.fixed_size, t.name.c_str());
      return;
    case Type::Kind::kString:
      for (uint64_t i = 0; i < rows; ++i) r.str("String value");
      return;
    case Type::Kind::kNullable:
      r.skip(rows, "null map");
      nativeData(r, *t.args[0], rows);
      return;
    case Type::Kind::kArray:
    case Type::Kind::kMap: {
      uint64_t total = 0;
      for (uint64_t i = 0; i < rows; ++i) {
        uint64_t off = r.u64("array offsets");
        if (off < total) throw FormatError("array offsets go backwards in " + t.name);
        total = off;
      }
      r.count(total, t.name.c_str());
      for (const auto& a : t.args) nativeData(r, *a, total);
      return;
    }
    case Type::Kind::kTuple:
      for (const auto& a : t.args) nativeData(r, *a, rows);
      return;
    case Type::Kind::kLowCardinality: {
      if (rows == 0) return;
      uint64_t flags = r.u64("LowCardinality index type");
      const uint64_t index_type = flags & 0xff;
      if (index_type > 3) throw FormatError("LowCardinality index type " + std::to_string(index_type));
      const bool additional_keys = flags & (uint64_t(1) << 9);
      if (!additional_keys) throw FormatError("LowCardinality without its keys (shared dictionaries) is not supported");
      uint64_t keys = r.count(r.u64("LowCardinality key count"), "LowCardinality keys");
      // The dictionary of LowCardinality(Nullable(T)) holds plain T.
      const Type* dict = t.args[0].get();
      if (dict->kind == Type::Kind::kNullable) dict = dict->args[0].get();
      nativeData(r, *dict, keys);
      uint64_t n = r.u64("LowCardinality index count");
      if (n != rows) throw FormatError("LowCardinality has " + std::to_string(n) + " indexes for " +
                                       std::to_string(rows) + " rows");
      r.skip(n << index_type, "LowCardinality indexes");
      return;
    }
  }
}

void rowBinaryValue(Reader& r, const Type& t) {
  switch (t.kind) {
    case Type::Kind::kFixed:
      r.skip(t.fixed_size, t.name.c_str());
      return;
    case Type::Kind::kString:
      r.str("String value");
      return;
    case Type::Kind::kNullable:
      if (r.u8("Nullable flag") == 0) rowBinaryValue(r, *t.args[0]);
      return;
    case Type::Kind::kLowCardinality:
      rowBinaryValue(r, *t.args[0]);
      return;
    case Type::Kind::kArray: {
      uint64_t n = r.count(r.varuint("array size"), "array");
      for (uint64_t i = 0; i < n; ++i) rowBinaryValue(r, *t.args[0]);
      return;
    }
    case Type::Kind::kMap: {
      uint64_t n = r.count(r.varuint("map size"), "map");
      for (uint64_t i = 0; i < n; ++i) {
        rowBinaryValue(r, *t.args[0]);
        rowBinaryValue(r, *t.args[1]);
      }
      return;
    }
    case Type::Kind::kTuple:
      for (const auto& a : t.args) rowBinaryValue(r, *a);
      return;
  }
}

}  // namespace

TypePtr parseType(std::string_view text) {
  text = trim(text);
  size_t open = text.find('(');
  std::string_view base = trim(open == std::string_view::npos ? text : text.substr(0, open));
  std::vector<std::string_view> args;
  if (open != std::string_view::npos) {
    size_t close = matchParen(text, open);
    if (!trim(text.substr(close + 1)).empty()) throw FormatError("trailing text after type: " + std::string(text));
    args = splitTopLevel(text.substr(open + 1, close - open - 1));
  }
  struct Fixed {
    const char* name;
    size_t size;
  };
  static constexpr Fixed kFixed[] = {
      {"UInt8", 1},   {"Int8", 1},    {"Bool", 1},     {"Enum8", 1},    {"UInt16", 2},  {"Int16", 2},
      {"Enum16", 2},  {"Date", 2},    {"UInt32", 4},   {"Int32", 4},    {"Float32", 4}, {"DateTime", 4},
      {"Date32", 4},  {"IPv4", 4},    {"UInt64", 8},   {"Int64", 8},    {"Float64", 8}, {"DateTime64", 8},
      {"UInt128", 16}, {"Int128", 16}, {"UUID", 16},   {"IPv6", 16},    {"UInt256", 32}, {"Int256", 32},
      {"BFloat16", 2},
  };
  for (const auto& f : kFixed)
    if (base == f.name) return fixed(text, f.size);
  if (base == "String") return std::make_shared<Type>(Type{Type::Kind::kString, 0, {}, std::string(text)});
  if (base == "FixedString") {
    if (args.size() != 1) throw FormatError("FixedString needs a size: " + std::string(text));
    return fixed(text, std::stoull(std::string(args[0])));
  }
  if (base == "Decimal") {
    if (args.empty()) throw FormatError("Decimal needs a precision: " + std::string(text));
    return fixed(text, decimalSize(std::stoi(std::string(args[0]))));
  }
  if (base == "Decimal32") return fixed(text, 4);
  if (base == "Decimal64") return fixed(text, 8);
  if (base == "Decimal128") return fixed(text, 16);
  if (base == "Decimal256") return fixed(text, 32);
  auto composite = [&](Type::Kind kind, size_t arity) {
    if (arity && args.size() != arity) throw FormatError("wrong number of arguments: " + std::string(text));
    if (args.empty()) throw FormatError("missing arguments: " + std::string(text));
    auto t = std::make_shared<Type>();
    t->kind = kind;
    t->name = text;
    for (auto a : args) t->args.push_back(parseType(kind == Type::Kind::kTuple ? elementType(a) : a));
    return t;
  };
  if (base == "Nullable") return composite(Type::Kind::kNullable, 1);
  if (base == "Array") return composite(Type::Kind::kArray, 1);
  if (base == "Map") return composite(Type::Kind::kMap, 2);
  if (base == "Tuple") return composite(Type::Kind::kTuple, 0);
  if (base == "LowCardinality") return composite(Type::Kind::kLowCardinality, 1);
  throw FormatError("type not supported by the sink: " + std::string(text));
}

std::string withoutLowCardinality(std::string_view type_name) {
  std::string out(type_name);
  constexpr std::string_view kLc = "LowCardinality(";
  for (size_t pos; (pos = out.find(kLc)) != std::string::npos;) {
    size_t close = matchParen(out, pos + kLc.size() - 1);
    out = out.substr(0, pos) + out.substr(pos + kLc.size(), close - pos - kLc.size()) + out.substr(close + 1);
  }
  return out;
}

void writeVarUInt(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

NativeCount countNative(std::string_view body, bool with_block_info) {
  return countNative(body, with_block_info, with_block_info);
}

NativeCount countNativeAnyRevision(std::string_view body) {
  // Block info starts with field 1 (is_overflows = 0), then field 2.
  const bool info = body.size() >= 3 && body[0] == 1 && body[1] == 0 && body[2] == 2;
  try {
    return countNative(body, info, true);
  } catch (const FormatError&) {
    return countNative(body, info, false);
  }
}

NativeCount countNative(std::string_view body, bool with_block_info, bool with_serialization_flag) {
  Reader r(body);
  NativeCount out;
  while (!r.done()) {
    if (with_block_info) {
      // Fields by number until 0: 1 is_overflows (UInt8), 2 bucket_num (Int32).
      for (;;) {
        uint64_t field = r.varuint("block info");
        if (field == 0) break;
        if (field == 1) r.skip(1, "block info is_overflows");
        else if (field == 2) r.skip(4, "block info bucket_num");
        else throw FormatError("unknown block info field " + std::to_string(field));
      }
    }
    uint64_t columns = r.varuint("column count");
    uint64_t rows = r.varuint("row count");
    for (uint64_t c = 0; c < columns; ++c) {
      r.str("column name");
      std::string_view type_name = r.str("column type");
      if (with_serialization_flag && r.u8("custom serialization flag") != 0)
        throw FormatError("custom (sparse) serialization is not supported");
      TypePtr t = parseType(type_name);
      nativePrefix(r, *t);
      nativeData(r, *t, rows);
    }
    ++out.blocks;
    out.rows += rows;
    out.columns = columns;
  }
  return out;
}

uint64_t countRowBinary(std::string_view body, const std::vector<TypePtr>& types) {
  if (types.empty()) throw FormatError("RowBinary insert without columns");
  Reader r(body);
  uint64_t rows = 0;
  while (!r.done()) {
    for (const auto& t : types) rowBinaryValue(r, *t);
    ++rows;
  }
  return rows;
}

std::pair<std::string, std::string> parseQualifiedName(std::string_view text, std::string_view default_database,
                                                       size_t* consumed) {
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  auto ident = [&]() {
    std::string out;
    if (i < text.size() && (text[i] == '`' || text[i] == '"')) {
      char q = text[i++];
      while (i < text.size() && text[i] != q) {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        out.push_back(text[i++]);
      }
      ++i;
    } else {
      while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_')) out.push_back(text[i++]);
    }
    return out;
  };
  std::string first = ident();
  std::string db(default_database), name = first;
  if (i < text.size() && text[i] == '.') {
    ++i;
    db = first;
    name = ident();
  }
  if (name.empty()) throw FormatError("no table name in: " + std::string(text.substr(0, 200)));
  if (consumed) *consumed = i;
  return {db, name};
}

Table parseCreateTable(std::string_view sql, std::string_view default_database) {
  std::string_view s = trim(sql);
  if (!istartsWith(s, "CREATE TABLE")) throw FormatError("not a CREATE TABLE: " + std::string(s.substr(0, 100)));
  s = trim(s.substr(12));
  if (istartsWith(s, "IF NOT EXISTS")) s = trim(s.substr(13));
  size_t used = 0;
  auto [db, name] = parseQualifiedName(s, default_database, &used);
  Table t;
  t.database = db;
  t.name = name;
  t.create_query = std::string(trim(sql));
  size_t open = s.find('(', used);
  if (open == std::string_view::npos) throw FormatError("CREATE TABLE without columns: " + name);
  size_t close = matchParen(s, open);
  for (std::string_view item : splitTopLevel(s.substr(open + 1, close - open - 1))) {
    if (item.empty() || istartsWith(item, "INDEX ") || istartsWith(item, "PROJECTION ") ||
        istartsWith(item, "CONSTRAINT ") || istartsWith(item, "PRIMARY KEY"))
      continue;
    size_t n = 0;
    auto [unused, col] = parseQualifiedName(item, "", &n);
    // A column name may hold dots ("Events.Timestamp") when quoted; an
    // unquoted one with a dot was split as db.name: put it back.
    if (!unused.empty()) col = unused + "." + col;
    std::string_view rest = trim(item.substr(n));
    // The type runs to the first top-level keyword.
    static constexpr std::string_view kKeywords[] = {"DEFAULT",  "MATERIALIZED", "ALIAS", "EPHEMERAL", "CODEC",
                                                     "COMMENT",  "TTL",          "STATISTICS", "SETTINGS", "PRIMARY KEY",
                                                     "NULL",     "NOT NULL"};
    size_t end = rest.size();
    int depth = 0;
    for (size_t i = 0; i < rest.size(); ++i) {
      char c = rest[i];
      if (c == '(') ++depth;
      else if (c == ')') --depth;
      else if (c == '\'') {
        for (++i; i < rest.size() && rest[i] != '\''; ++i)
          if (rest[i] == '\\') ++i;
      } else if (depth == 0 && std::isspace(static_cast<unsigned char>(c))) {
        std::string_view after = rest.substr(i + 1);
        bool hit = false;
        for (auto kw : kKeywords)
          if (istartsWith(after, kw) && (after.size() == kw.size() || !std::isalnum(static_cast<unsigned char>(after[kw.size()])))) hit = true;
        if (hit) {
          end = i;
          break;
        }
      }
    }
    std::string type(trim(rest.substr(0, end)));
    std::string_view tail = trim(rest.substr(end));
    Column c{col, type, "", ""};
    for (std::string_view kind : {"DEFAULT", "MATERIALIZED", "ALIAS", "EPHEMERAL"}) {
      if (istartsWith(tail, kind)) {
        c.default_kind = std::string(kind);
        std::string_view expr = trim(tail.substr(kind.size()));
        // The expression runs to CODEC/COMMENT/TTL at depth 0 (good enough: the sink only reports it).
        for (std::string_view stop : {" CODEC(", " COMMENT ", " TTL "}) {
          size_t p = expr.find(stop);
          if (p != std::string_view::npos) expr = expr.substr(0, p);
        }
        c.default_expression = std::string(trim(expr));
      }
    }
    if (istartsWith(type, "Nested") && trim(std::string_view(type).substr(6)).starts_with("(")) {
      size_t o = type.find('(');
      size_t cl = matchParen(type, o);
      for (std::string_view sub : splitTopLevel(std::string_view(type).substr(o + 1, cl - o - 1))) {
        size_t sn = 0;
        auto [u2, subname] = parseQualifiedName(sub, "", &sn);
        t.columns.push_back({col + "." + subname, "Array(" + std::string(trim(sub.substr(sn))) + ")", "", ""});
      }
      continue;
    }
    t.columns.push_back(std::move(c));
  }
  std::string_view after = trim(s.substr(close + 1));
  size_t e = 0;
  while (e < after.size()) {
    if (istartsWith(after.substr(e), "ENGINE")) break;
    ++e;
  }
  if (e < after.size()) {
    std::string_view eng = trim(after.substr(e + 6));
    if (!eng.empty() && eng.front() == '=') eng = trim(eng.substr(1));
    t.engine_full = std::string(eng);
    size_t stop = 0;
    while (stop < eng.size() && (std::isalnum(static_cast<unsigned char>(eng[stop])) || eng[stop] == '_')) ++stop;
    t.engine = std::string(eng.substr(0, stop));
  }
  return t;
}

NativeBlockWriter::NativeBlockWriter(bool with_block_info, size_t rows) : with_block_info_(with_block_info), rows_(rows) {}

void NativeBlockWriter::header(std::string_view name, std::string_view type) {
  writeVarUInt(body_, name.size());
  body_ += name;
  writeVarUInt(body_, type.size());
  body_ += type;
  if (with_block_info_) body_.push_back('\0');  // no custom serialization
  ++columns_;
}

void NativeBlockWriter::stringColumn(std::string_view name, const std::vector<std::string>& values) {
  if (values.size() != rows_) throw FormatError("column " + std::string(name) + " has the wrong number of values");
  header(name, "String");
  for (const auto& v : values) {
    writeVarUInt(body_, v.size());
    body_ += v;
  }
}

void NativeBlockWriter::uint32Column(std::string_view name, const std::vector<uint32_t>& values) {
  if (values.size() != rows_) throw FormatError("column " + std::string(name) + " has the wrong number of values");
  header(name, "UInt32");
  for (uint32_t v : values) body_.append(reinterpret_cast<const char*>(&v), 4);
}

std::string NativeBlockWriter::finish() const {
  std::string out;
  if (with_block_info_) out.append("\x01\x00\x02\xff\xff\xff\xff\x00", 8);
  writeVarUInt(out, columns_);
  writeVarUInt(out, rows_);
  out += body_;
  return out;
}

}  // namespace kobs::bench::ch
