#include "common/config_table.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "common/error.h"

extern char** environ;

namespace kobs::config {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<bool> parseBool(std::string_view s) {
  auto l = lower(s);
  if (l == "true" || l == "yes" || l == "on" || l == "1") return true;
  if (l == "false" || l == "no" || l == "off" || l == "0") return false;
  return std::nullopt;
}

std::string typeName(KeyType t) {
  switch (t) {
    case KeyType::kString: return "string";
    case KeyType::kBool: return "bool";
    case KeyType::kInt: return "int";
    case KeyType::kDuration: return "duration";
    case KeyType::kBytes: return "bytes";
    case KeyType::kEnum: return "enum";
    case KeyType::kStringList: return "list";
  }
  return "?";
}

// Flattens a YAML mapping into dotted keys; sequences become comma lists.
// A sequence of mappings (rules, as pod_logs.multiline's) becomes its YAML
// text, its key listed in `structured`: only a string key takes it.
void flatten(const YAML::Node& node, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out,
             std::vector<std::string>& structured) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      flatten(kv.second, prefix.empty() ? key : prefix + "." + key, out, structured);
    }
  } else if (node.IsSequence()) {
    bool maps = node.size() > 0;
    for (size_t i = 0; i < node.size(); ++i) maps = maps && node[i].IsMap();
    if (maps) {
      YAML::Emitter e;
      e << YAML::Flow << node;
      out.emplace_back(prefix, e.c_str());
      structured.push_back(prefix);
      return;
    }
    std::string joined;
    for (size_t i = 0; i < node.size(); ++i) {
      if (!node[i].IsScalar()) throw Exception(ErrorCode::kBadConfig, "config key {}: list items must be scalars", prefix);
      if (i) joined += ",";
      joined += node[i].as<std::string>();
    }
    out.emplace_back(prefix, joined);
  } else if (node.IsScalar()) {
    out.emplace_back(prefix, node.as<std::string>());
  } else if (node.IsNull()) {
    out.emplace_back(prefix, "");
  }
}

}  // namespace

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
  if (text == "0") return std::chrono::milliseconds(0);
  if (text.empty()) return std::nullopt;
  double total_ms = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = pos;
    while (pos < text.size() && (std::isdigit(static_cast<unsigned char>(text[pos])) || text[pos] == '.')) ++pos;
    if (pos == start) return std::nullopt;
    double n = 0;
    auto r = std::from_chars(text.data() + start, text.data() + pos, n);
    if (r.ec != std::errc()) return std::nullopt;
    size_t ustart = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
    std::string_view unit = text.substr(ustart, pos - ustart);
    double mult;
    if (unit == "ms") mult = 1;
    else if (unit == "s") mult = 1000;
    else if (unit == "m") mult = 60'000;
    else if (unit == "h") mult = 3'600'000;
    else if (unit == "d") mult = 86'400'000;
    else return std::nullopt;
    total_ms += n * mult;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(total_ms));
}

std::optional<uint64_t> parseBytes(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
  if (pos == 0) return std::nullopt;
  uint64_t n = 0;
  if (std::from_chars(text.data(), text.data() + pos, n).ec != std::errc()) return std::nullopt;
  std::string unit = lower(text.substr(pos));
  uint64_t mult;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "kib" || unit == "ki") mult = 1ull << 10;
  else if (unit == "mib" || unit == "mi") mult = 1ull << 20;
  else if (unit == "gib" || unit == "gi") mult = 1ull << 30;
  else if (unit == "kb" || unit == "k") mult = 1000;
  else if (unit == "mb" || unit == "m") mult = 1000'000;
  else if (unit == "gb" || unit == "g") mult = 1000'000'000;
  else return std::nullopt;
  return n * mult;
}

std::map<std::string, std::string> processEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos) env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

const std::string& Values::str(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw Exception(ErrorCode::kInternal, "config key {} is not declared", key);
  return it->second.first;
}
bool Values::boolean(std::string_view key) const { return parseBool(str(key)).value_or(false); }
int64_t Values::integer(std::string_view key) const { return std::stoll(str(key)); }
std::chrono::milliseconds Values::duration(std::string_view key) const {
  return parseDuration(str(key)).value_or(std::chrono::milliseconds(0));
}
uint64_t Values::bytes(std::string_view key) const { return parseBytes(str(key)).value_or(0); }
std::vector<std::string> Values::list(std::string_view key) const {
  std::vector<std::string> out;
  std::stringstream ss(str(key));
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}
const std::string& Values::source(std::string_view key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw Exception(ErrorCode::kInternal, "config key {} is not declared", key);
  return it->second.second;
}
void Values::set(const std::string& key, std::string value, std::string source) {
  values_[key] = {std::move(value), std::move(source)};
}

const KeySpec* Table::find(std::string_view key) const {
  for (const auto& k : keys_)
    if (k.key == key) return &k;
  return nullptr;
}

void Table::validate(const KeySpec& spec, const std::string& value, const std::string& source) const {
  auto fail = [&](std::string_view why) {
    throw Exception(ErrorCode::kBadConfig, "config key {} (from {}): {}: {}", spec.key, source, why,
                    spec.secret ? "<hidden>" : value);
  };
  switch (spec.type) {
    case KeyType::kBool:
      if (!parseBool(value)) fail("expected true or false");
      break;
    case KeyType::kInt: {
      int64_t n;
      auto r = std::from_chars(value.data(), value.data() + value.size(), n);
      if (r.ec != std::errc() || r.ptr != value.data() + value.size()) fail("expected an integer");
      break;
    }
    case KeyType::kDuration:
      if (!parseDuration(value)) fail("expected a duration like 500ms, 10s, 5m, 72h");
      break;
    case KeyType::kBytes:
      if (!parseBytes(value)) fail("expected a size like 4096, 64MiB, 1GiB");
      break;
    case KeyType::kEnum: {
      bool ok = false;
      for (const auto& c : spec.choices) ok = ok || c == value;
      if (!ok) {
        std::string choices;
        for (const auto& c : spec.choices) choices += (choices.empty() ? "" : "|") + c;
        fail("expected one of " + choices);
      }
      break;
    }
    case KeyType::kString:
    case KeyType::kStringList:
      break;
  }
}

Values Table::load(const std::optional<std::string>& yaml_path, const std::vector<std::string>& overrides,
                   const std::map<std::string, std::string>& environment) const {
  Values v;
  for (const auto& k : keys_) v.set(k.key, k.default_value, "default");
  if (yaml_path) {
    YAML::Node root;
    try {
      root = YAML::LoadFile(*yaml_path);
    } catch (const YAML::Exception& e) {
      throw Exception(ErrorCode::kBadConfig, "cannot read config file {}: {}", *yaml_path, e.what());
    }
    if (!root.IsNull() && !root.IsMap())
      throw Exception(ErrorCode::kBadConfig, "config file {}: the top level must be a mapping", *yaml_path);
    std::vector<std::pair<std::string, std::string>> flat;
    std::vector<std::string> structured;
    flatten(root, "", flat, structured);
    for (const auto& [key, value] : flat) {
      const KeySpec* spec = find(key);
      if (!spec) throw Exception(ErrorCode::kBadConfig, "config file {}: unknown key {}", *yaml_path, key);
      if (spec->type != KeyType::kString && std::find(structured.begin(), structured.end(), key) != structured.end())
        throw Exception(ErrorCode::kBadConfig, "config key {}: list items must be scalars", key);
      validate(*spec, value, "file " + *yaml_path);
      v.set(key, value, "file");
    }
  }
  for (const auto& k : keys_) {
    for (const auto& name : k.env) {
      auto it = environment.find(name);
      if (it == environment.end() || it->second.empty()) continue;
      validate(k, it->second, "environment variable " + name);
      v.set(k.key, it->second, "env:" + name);
      break;
    }
  }
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos) throw Exception(ErrorCode::kBadConfig, "--set {}: expected key=value", o);
    std::string key = o.substr(0, eq), value = o.substr(eq + 1);
    const KeySpec* spec = find(key);
    if (!spec) throw Exception(ErrorCode::kBadConfig, "--set: unknown config key {}", key);
    validate(*spec, value, "--set");
    v.set(key, value, "flag");
  }
  return v;
}

std::string Table::markdownReference() const {
  std::string out = "| Key | Type | Default | Environment | Description |\n|---|---|---|---|---|\n";
  for (const auto& k : keys_) {
    std::string type = k.type == KeyType::kEnum ? "`" + [&] {
      std::string c;
      for (const auto& x : k.choices) c += (c.empty() ? "" : "\\|") + x;
      return c;
    }() + "`" : typeName(k.type);
    std::string env;
    for (const auto& e : k.env) env += (env.empty() ? "" : ", ") + ("`" + e + "`");
    out += "| `" + k.key + "` | " + type + " | " + (k.default_value.empty() ? "" : "`" + k.default_value + "`") +
           " | " + env + " | " + k.doc + " |\n";
  }
  return out;
}

std::string Table::textReference() const {
  std::string out;
  for (const auto& k : keys_) {
    out += "  " + k.key + " (" + typeName(k.type);
    if (!k.default_value.empty()) out += ", default " + k.default_value;
    if (!k.env.empty()) {
      out += ", env";
      for (const auto& e : k.env) out += " " + e;
    }
    out += ")\n      " + k.doc + "\n";
  }
  return out;
}

}  // namespace kobs::config
