// ClickHouse's TabSeparated output format: its escapes turned back into bytes.
#pragma once

#include <string>
#include <string_view>

namespace kobs {

// One TabSeparated field as ClickHouse escapes it (\b \f \r \n \t \0 and a
// backslash before any other byte, e.g. \' \\ \t) back to the bytes it holds.
std::string unescapeTsv(std::string_view field);

}  // namespace kobs
