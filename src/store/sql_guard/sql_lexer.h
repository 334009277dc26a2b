// A tokenizer that follows ClickHouse's lexical rules (src/Parsers/Lexer.cpp),
// so that the read-only checker sees the statement the server will parse:
//   - whitespace: ASCII space, \t, \n, \r, \f, \v;
//   - comments: `--` and `//` to the end of the line, `# ` and `#!` to the end
//     of the line (`#x` is an error), `/* ... */` nested;
//   - string literals '...' with backslash escapes and '' doubling, x'..'/b'..'
//     literals, heredocs $tag$...$tag$;
//   - quoted identifiers `...` and "..." (same escapes);
//   - numbers (0x, 0b, exponents, `_` separators; a number followed by word
//     characters is a bare word, as in ClickHouse);
//   - bare words [A-Za-z0-9_$], punctuation and operators.
// Deliberately stricter than ClickHouse: any byte >= 0x80 or a control byte
// outside literals, identifiers and comments is an error. ClickHouse reads
// Unicode whitespace and typographic quotes (‘x’ is a string) there; refusing
// them means no statement can be split differently by the two lexers.
//
// Threading: pure functions, no state.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kobs::store::sql_guard {

enum class TokenType {
  kBareWord,          // keyword or identifier
  kQuotedIdentifier,  // `x` or "x"
  kString,            // 'x', x'41', heredoc
  kNumber,
  kOpenParen,
  kCloseParen,
  kOpenBracket,
  kCloseBracket,
  kOpenBrace,
  kCloseBrace,
  kComma,
  kSemicolon,
  kDot,
  kEquals,    // = or ==
  kOperator,  // everything else: + - * / % < > <= >= != <> || -> :: : ? @ ...
};

struct Token {
  TokenType type;
  std::string_view text;  // the token as written (quotes included)
  size_t begin = 0;       // byte offsets in the input
  size_t end = 0;
};

struct LexResult {
  std::vector<Token> tokens;  // significant tokens only (no whitespace, no comments)
  std::optional<std::string> error;  // set: the input does not tokenize
  size_t error_pos = 0;
};

LexResult tokenize(std::string_view sql);

// The value of a quoted identifier or string literal: quotes removed, escapes
// and doubled quotes resolved as ClickHouse's readers do. Other tokens: text.
std::string unquote(const Token& token);

// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);

}  // namespace kobs::store::sql_guard
