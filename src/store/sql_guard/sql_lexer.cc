#include "store/sql_guard/sql_lexer.h"

#include <fmt/format.h>

namespace kobs::store::sql_guard {
namespace {

bool isWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHexDigit(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool isWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) || c == '_';
}

class Lexer {
 public:
  explicit Lexer(std::string_view in) : in_(in) {}

  LexResult run() {
    LexResult out;
    while (pos_ < in_.size()) {
      const size_t begin = pos_;
      auto type = next();
      if (error_) {
        out.error = std::move(error_);
        out.error_pos = begin;
        return out;
      }
      if (!type) continue;  // whitespace or comment
      out.tokens.push_back({*type, in_.substr(begin, pos_ - begin), begin, pos_});
      prev_ = *type;
    }
    return out;
  }

 private:
  char at(size_t i) const { return i < in_.size() ? in_[i] : '\0'; }
  bool has(size_t i) const { return i < in_.size(); }

  std::optional<TokenType> fail(std::string message) {
    error_ = std::move(message);
    return std::nullopt;
  }

  // One token from pos_; nullopt for whitespace and comments (or an error).
  std::optional<TokenType> next() {
    const char c = in_[pos_];
    if (isWhitespace(c)) {
      while (has(pos_) && isWhitespace(in_[pos_])) ++pos_;
      return std::nullopt;
    }
    if (isDigit(c)) return number();
    switch (c) {
      case '\'': return quoted('\'', TokenType::kString, "Single quoted string is not closed");
      case '"': return quoted('"', TokenType::kQuotedIdentifier, "Double quoted string is not closed");
      case '`': return quoted('`', TokenType::kQuotedIdentifier, "Back quoted string is not closed");
      case '(': ++pos_; return TokenType::kOpenParen;
      case ')': ++pos_; return TokenType::kCloseParen;
      case '[': ++pos_; return TokenType::kOpenBracket;
      case ']': ++pos_; return TokenType::kCloseBracket;
      case '{': ++pos_; return TokenType::kOpenBrace;
      case '}': ++pos_; return TokenType::kCloseBrace;
      case ',': ++pos_; return TokenType::kComma;
      case ';': ++pos_; return TokenType::kSemicolon;
      case '.': return dot();
      case '-':
        if (at(pos_ + 1) == '-') return lineComment();
        pos_ += at(pos_ + 1) == '>' ? 2 : 1;
        return TokenType::kOperator;
      case '/':
        if (at(pos_ + 1) == '/') return lineComment();
        if (at(pos_ + 1) == '*') return blockComment();
        ++pos_;
        return TokenType::kOperator;
      case '#':
        // ClickHouse: a comment only when followed by a space or '!' (shebang).
        if (at(pos_ + 1) == ' ' || at(pos_ + 1) == '!') return lineComment();
        return fail("Unrecognized token '#'");
      case '=':
        pos_ += at(pos_ + 1) == '=' ? 2 : 1;
        return TokenType::kEquals;
      case '!':
        if (at(pos_ + 1) == '=') {
          pos_ += 2;
          return TokenType::kOperator;
        }
        return fail("Exclamation mark can only occur in != operator");
      case '<':
        pos_ += (at(pos_ + 1) == '=' || at(pos_ + 1) == '>') ? 2 : 1;
        return TokenType::kOperator;
      case '>':
      case ':':
      case '|':
      case '@':
        pos_ += (at(pos_ + 1) == (c == '>' ? '=' : c)) ? 2 : 1;
        return TokenType::kOperator;
      case '+': case '*': case '%': case '?': case '^': case '&': case '~':
        ++pos_;
        return TokenType::kOperator;
      case '\\':
        // `\G` (vertical output) is a client-side terminator; not accepted here.
        return fail("Unrecognized token '\\'");
      default:
        break;
    }
    if (c == '$') {
      if (auto t = heredoc()) return t;
      if (!has(pos_ + 1) || !isWordChar(in_[pos_ + 1])) {
        ++pos_;
        return TokenType::kOperator;
      }
    }
    if ((c == 'x' || c == 'X' || c == 'b' || c == 'B') && at(pos_ + 1) == '\'') return hexOrBinString();
    if (isWordChar(c) || c == '$') {
      while (has(pos_) && (isWordChar(in_[pos_]) || in_[pos_] == '$')) ++pos_;
      return TokenType::kBareWord;
    }
    if (static_cast<unsigned char>(c) >= 0x80)
      return fail("Non-ASCII character outside a string literal, quoted identifier or comment");
    return fail(fmt::format("Unrecognized character 0x{:02x}", static_cast<unsigned char>(c)));
  }

  std::optional<TokenType> lineComment() {
    while (has(pos_) && in_[pos_] != '\n') ++pos_;
    return std::nullopt;
  }

  std::optional<TokenType> blockComment() {
    pos_ += 2;
    size_t depth = 1;  // nested, as in the SQL standard and ClickHouse
    while (pos_ + 1 < in_.size()) {
      if (in_[pos_] == '/' && in_[pos_ + 1] == '*') {
        pos_ += 2;
        ++depth;
      } else if (in_[pos_] == '*' && in_[pos_ + 1] == '/') {
        pos_ += 2;
        if (--depth == 0) return std::nullopt;
      } else {
        ++pos_;
      }
    }
    pos_ = in_.size();
    return fail("Multiline comment is not closed");
  }

  std::optional<TokenType> quoted(char quote, TokenType type, const char* unterminated) {
    ++pos_;
    while (has(pos_)) {
      const char c = in_[pos_];
      if (c == quote) {
        ++pos_;
        if (has(pos_) && in_[pos_] == quote) {  // doubled quote
          ++pos_;
          continue;
        }
        return type;
      }
      if (c == '\\') {
        if (!has(pos_ + 1)) break;
        pos_ += 2;
        continue;
      }
      ++pos_;
    }
    pos_ = in_.size();
    return fail(unterminated);
  }

  std::optional<TokenType> hexOrBinString() {
    const bool hex = in_[pos_] == 'x' || in_[pos_] == 'X';
    pos_ += 2;
    while (has(pos_) && (hex ? isHexDigit(in_[pos_]) : (in_[pos_] == '0' || in_[pos_] == '1'))) ++pos_;
    if (!has(pos_) || in_[pos_] != '\'') return fail("Single quoted string is not closed");
    ++pos_;
    return TokenType::kString;
  }

  std::optional<TokenType> heredoc() {
    const std::string_view rest = in_.substr(pos_);
    const size_t tag_end = rest.find('$', 1);
    if (tag_end == std::string_view::npos) return std::nullopt;
    const std::string_view tag = rest.substr(0, tag_end + 1);
    const size_t close = rest.find(tag, tag.size());
    if (close == std::string_view::npos) return std::nullopt;
    pos_ += close + tag.size();
    return TokenType::kString;
  }

  // '_' between digits, as ClickHouse's isNumberSeparator.
  bool separator(bool start_of_block, bool hex) const {
    if (start_of_block || at(pos_) != '_' || !has(pos_ + 1)) return false;
    return hex ? isHexDigit(in_[pos_ + 1]) : isDigit(in_[pos_ + 1]);
  }

  void digits(bool hex, bool start_of_block) {
    while (has(pos_) && ((hex ? isHexDigit(in_[pos_]) : isDigit(in_[pos_])) || separator(start_of_block, hex))) {
      ++pos_;
      start_of_block = false;
    }
  }

  std::optional<TokenType> number() {
    const size_t begin = pos_;
    if (prev_ == TokenType::kDot) {
      // x.1.1 is tuple access: only an integer after a dot.
      ++pos_;
      digits(false, false);
    } else {
      bool hex = false, start_of_block = false;
      const char p1 = at(pos_ + 1);
      if (in_[pos_] == '0' && has(pos_ + 2) && (p1 == 'x' || p1 == 'X' || p1 == 'b' || p1 == 'B')) {
        if ((p1 == 'x' || p1 == 'X') && isHexDigit(in_[pos_ + 2])) {
          hex = true;
          pos_ += 2;
          start_of_block = true;
        } else if ((p1 == 'b' || p1 == 'B') && (in_[pos_ + 2] == '0' || in_[pos_ + 2] == '1')) {
          pos_ += 2;
          start_of_block = true;
        } else {
          ++pos_;
        }
      } else {
        ++pos_;
      }
      digits(hex, start_of_block);
      if (at(pos_) == '.') {
        ++pos_;
        digits(hex, true);
      }
      const char e = at(pos_);
      if (has(pos_ + 1) && (hex ? (e == 'p' || e == 'P') : (e == 'e' || e == 'E'))) {
        ++pos_;
        if (has(pos_ + 1) && (in_[pos_] == '-' || in_[pos_] == '+')) ++pos_;
        digits(false, true);
      }
    }
    if (has(pos_) && isWordChar(in_[pos_])) {
      // `1abc` is an identifier in ClickHouse (unless it holds a '.', then an error).
      while (has(pos_) && isWordChar(in_[pos_])) ++pos_;
      for (size_t i = begin; i < pos_; ++i)
        if (!isWordChar(in_[i]) && in_[i] != '$') return fail("Wrong number");
      return TokenType::kBareWord;
    }
    return TokenType::kNumber;
  }

  std::optional<TokenType> dot() {
    const bool after_operand = prev_ == TokenType::kCloseParen || prev_ == TokenType::kCloseBracket ||
                               prev_ == TokenType::kBareWord || prev_ == TokenType::kQuotedIdentifier ||
                               prev_ == TokenType::kNumber;
    if (pos_ > 0 && (!isDigit(at(pos_ + 1)) || after_operand)) {
      ++pos_;
      return TokenType::kDot;
    }
    ++pos_;
    digits(false, true);
    if (has(pos_ + 1) && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
      ++pos_;
      if (has(pos_ + 1) && (in_[pos_] == '-' || in_[pos_] == '+')) ++pos_;
      digits(false, true);
    }
    return TokenType::kNumber;
  }

  std::string_view in_;
  size_t pos_ = 0;
  std::optional<TokenType> prev_;
  std::optional<std::string> error_;
};

}  // namespace

LexResult tokenize(std::string_view sql) { return Lexer(sql).run(); }

std::string unquote(const Token& token) {
  if (token.type != TokenType::kQuotedIdentifier && token.type != TokenType::kString) return std::string(token.text);
  std::string_view t = token.text;
  if (t.size() < 2) return std::string(t);
  const char quote = t.front();
  if (quote != '\'' && quote != '"' && quote != '`') {
    // heredoc $tag$...$tag$ (taken verbatim) or x'..'/b'..' (kept as written).
    if (quote == '$') {
      const size_t tag = t.find('$', 1) + 1;
      return std::string(t.substr(tag, t.size() - 2 * tag));
    }
    return std::string(t);
  }
  t = t.substr(1, t.size() - 2);
  std::string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (c == quote && i + 1 < t.size() && t[i + 1] == quote) {
      out.push_back(quote);
      ++i;
    } else if (c == '\\' && i + 1 < t.size()) {
      const char e = t[++i];
      switch (e) {
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case '0': out.push_back('\0'); break;
        case 'a': out.push_back('\a'); break;
        case 'v': out.push_back('\v'); break;
        case 'e': out.push_back('\x1b'); break;
        case 'x':
          if (i + 2 < t.size() && isHexDigit(t[i + 1]) && isHexDigit(t[i + 2])) {
            out.push_back(static_cast<char>(std::stoi(std::string(t.substr(i + 1, 2)), nullptr, 16)));
            i += 2;
          } else {
            out.push_back('x');
          }
          break;
        default: out.push_back(e);  // \\ \' \" \` and unknown escapes: the character itself
      }
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace kobs::store::sql_guard
