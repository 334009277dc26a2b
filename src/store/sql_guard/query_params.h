// Query parameters as ClickHouse spells them, `{name:Type}`, bound by text:
// each placeholder outside literals and comments becomes a typed literal,
// `CAST('<value>', '<Type>')` (a quoted identifier for Identifier, and
// `CAST(NULL, '<Type>')` for a null value). The embedded store has no
// server-side binding, so the ClickHouse-compatible endpoint (param_<name>)
// and the MCP tools (`params`) both bind this way.
//
// Threading: pure function.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace kobs::store::sql_guard {

struct ParamValue {
  std::string text;
  bool null = false;
};

// The value of one parameter, or nullopt when it is not set (then `missing`
// is called with its name and must throw).
using ParamLookup = std::function<std::optional<ParamValue>(const std::string& name)>;

// `sql` with every placeholder bound. Text that does not tokenize is
// returned unchanged: the read-only checker refuses it with its reason.
std::string bindQueryParams(const std::string& sql, const ParamLookup& lookup,
                            const std::function<void(const std::string& name)>& missing);

}  // namespace kobs::store::sql_guard
