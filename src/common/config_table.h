// A declarative configuration table (after Fluent Bit's config_map): every
// key is declared once with its type, default, environment variable and
// documentation. Loading a YAML file rejects unknown keys and bad values with
// a message naming the key; the same table prints the reference (--help,
// README). Values are resolved in this order: default < YAML file <
// environment variable < command line (--set key=value).
//
// Threading: a Table and the Values it loads are immutable once built; share
// them read-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kobs::config {

enum class KeyType { kString, kBool, kInt, kDuration, kBytes, kEnum, kStringList };

struct KeySpec {
  std::string key;                    // dotted path, e.g. "store.clickhouse.url"
  KeyType type = KeyType::kString;
  std::string default_value;          // as it would be written in YAML
  std::string doc;
  std::vector<std::string> env;       // environment variables that set it, first wins
  std::vector<std::string> choices;   // for kEnum
  bool secret = false;                // never printed
};

// Resolved values; typed accessors validate once at load, so they do not throw
// for keys of the table.
class Values {
 public:
  const std::string& str(std::string_view key) const;
  bool boolean(std::string_view key) const;
  int64_t integer(std::string_view key) const;
  std::chrono::milliseconds duration(std::string_view key) const;
  uint64_t bytes(std::string_view key) const;
  std::vector<std::string> list(std::string_view key) const;
  // Where the value came from: "default", "file", "env:NAME", "flag".
  const std::string& source(std::string_view key) const;
  bool isSet(std::string_view key) const { return source(key) != "default"; }

  void set(const std::string& key, std::string value, std::string source);

 private:
  friend class Table;
  std::map<std::string, std::pair<std::string, std::string>, std::less<>> values_;  // key -> (value, source)
};

class Table {
 public:
  explicit Table(std::vector<KeySpec> keys) : keys_(std::move(keys)) {}

  // Throws kobs::Exception(kBadConfig) naming the key on any problem.
  Values load(const std::optional<std::string>& yaml_path, const std::vector<std::string>& overrides,
              const std::map<std::string, std::string>& environment) const;

  // Markdown table of every key (for docs) and plain text (for --help).
  std::string markdownReference() const;
  std::string textReference() const;

  const std::vector<KeySpec>& keys() const { return keys_; }

 private:
  const KeySpec* find(std::string_view key) const;
  void validate(const KeySpec& spec, const std::string& value, const std::string& source) const;

  std::vector<KeySpec> keys_;
};

// "10s", "500ms", "2m", "1h30m", "3d", "0" -> milliseconds; nullopt when malformed.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);
// "512MiB", "64MB", "1GiB", "4096" -> bytes; nullopt when malformed.
std::optional<uint64_t> parseBytes(std::string_view text);

// The process environment as a map (for Table::load).
std::map<std::string, std::string> processEnvironment();

}  // namespace kobs::config
