#include "store/sql_guard/query_params.h"

#include <fmt/format.h>

#include "store/sql_guard/sql_lexer.h"
#include "store/store.h"

namespace kobs::store::sql_guard {

std::string bindQueryParams(const std::string& sql, const ParamLookup& lookup,
                            const std::function<void(const std::string& name)>& missing) {
  const auto lex = tokenize(sql);
  if (lex.error) return sql;
  const auto& t = lex.tokens;
  std::string out;
  size_t last = 0;
  for (size_t i = 0; i + 3 < t.size(); ++i) {
    if (t[i].type != TokenType::kOpenBrace || t[i + 1].type != TokenType::kBareWord || t[i + 2].text != ":") continue;
    size_t close = i + 3;
    while (close < t.size() && t[close].type != TokenType::kCloseBrace) ++close;
    if (close == t.size()) break;
    const std::string name(t[i + 1].text);
    std::string type = sql.substr(t[i + 2].end, t[close].begin - t[i + 2].end);
    type.erase(0, type.find_first_not_of(" \t\r\n"));
    type.erase(type.find_last_not_of(" \t\r\n") + 1);
    auto value = lookup(name);
    if (!value) {
      missing(name);
      return sql;  // `missing` throws; never reached
    }
    out.append(sql, last, t[i].begin - last);
    if (value->null) out += fmt::format("CAST(NULL, {})", quoteString(type));
    else if (type == "Identifier") out += quoteIdentifier(value->text);
    else out += fmt::format("CAST({}, {})", quoteString(value->text), quoteString(type));
    last = t[close].end;
    i = close;
  }
  out.append(sql, last, std::string::npos);
  return out;
}

}  // namespace kobs::store::sql_guard
