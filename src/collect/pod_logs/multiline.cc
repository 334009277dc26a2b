#include "collect/pod_logs/multiline.h"

#include <fnmatch.h>
#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include "common/config_table.h"
#include "common/error.h"

namespace kobs::collect::pod_logs {

namespace {
constexpr std::string_view kKey = "pod_logs.multiline";
}

std::vector<MultilineRule> parseMultilineRules(std::string_view yaml) {
  std::vector<MultilineRule> out;
  if (yaml.find_first_not_of(" \t\r\n") == std::string_view::npos) return out;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    throw Exception(ErrorCode::kBadConfig, "config key {}: not a YAML list of rules: {}", kKey, e.what());
  }
  if (root.IsNull()) return out;
  if (!root.IsSequence()) throw Exception(ErrorCode::kBadConfig, "config key {}: expected a list of rules", kKey);
  for (size_t i = 0; i < root.size(); ++i) {
    const YAML::Node& n = root[i];
    if (!n.IsMap()) throw Exception(ErrorCode::kBadConfig, "config key {}: rule {} is not a mapping", kKey, i + 1);
    MultilineRule r;
    for (const auto& kv : n) {
      const std::string key = kv.first.as<std::string>();
      if (!kv.second.IsScalar())
        throw Exception(ErrorCode::kBadConfig, "config key {}: rule {}: {} must be a scalar", kKey, i + 1, key);
      const std::string value = kv.second.as<std::string>();
      auto bad = [&](std::string_view why) {
        return Exception(ErrorCode::kBadConfig, "config key {}: rule {}: {} = '{}': {}", kKey, i + 1, key, value, why);
      };
      if (key == "match") {
        r.match = value;
      } else if (key == "is_first_entry") {
        r.is_first_entry = value;
      } else if (key == "is_last_entry") {
        r.is_last_entry = value;
      } else if (key == "max_lines") {
        try {
          size_t used = 0;
          long long v = std::stoll(value, &used);
          if (used != value.size() || v < 1) throw bad("expected a whole number >= 1");
          r.max_lines = size_t(v);
        } catch (const std::logic_error&) {
          throw bad("expected a whole number >= 1");
        }
      } else if (key == "max_bytes") {
        auto b = config::parseBytes(value);
        if (!b || *b < 1) throw bad("expected a size such as 64KiB");
        r.max_bytes = size_t(*b);
      } else if (key == "flush_timeout") {
        auto d = config::parseDuration(value);
        if (!d || d->count() <= 0) throw bad("expected a positive duration such as 1s");
        r.flush_timeout = *d;
      } else if (key == "separator") {
        r.separator = value;
      } else {
        throw Exception(ErrorCode::kBadConfig,
                        "config key {}: rule {}: unknown key {} (match, is_first_entry, is_last_entry, max_lines, "
                        "max_bytes, flush_timeout, separator)",
                        kKey, i + 1, key);
      }
    }
    if (r.is_first_entry.empty() == r.is_last_entry.empty())
      throw Exception(ErrorCode::kBadConfig, "config key {}: rule {} ({}): set exactly one of is_first_entry, is_last_entry",
                      kKey, i + 1, r.match);
    // Compiled here too, so a bad regex fails at load, naming its rule.
    CompiledRule check(r, 1);
    out.push_back(std::move(r));
  }
  return out;
}

CompiledRule::CompiledRule(MultilineRule rule, size_t default_max_bytes) : rule_(std::move(rule)) {
  first_ = !rule_.is_first_entry.empty();
  if (rule_.max_bytes == 0) rule_.max_bytes = default_max_bytes;
  RE2::Options o;
  o.set_log_errors(false);
  re_ = std::make_unique<RE2>(first_ ? rule_.is_first_entry : rule_.is_last_entry, o);
  if (!re_->ok())
    throw Exception(ErrorCode::kBadConfig, "config key {}: rule {}: {} '{}' is not a valid RE2 regex: {}", kKey,
                    rule_.match, first_ ? "is_first_entry" : "is_last_entry", re_->pattern(), re_->error());
}

CompiledRule::~CompiledRule() = default;

bool CompiledRule::matches(std::string_view line) const {
  return RE2::PartialMatch(re2::StringPiece(line.data(), line.size()), *re_);
}

MultilineRules::MultilineRules(const std::vector<MultilineRule>& rules, size_t default_max_bytes) {
  for (const auto& r : rules) rules_.push_back(std::make_shared<const CompiledRule>(r, default_max_bytes));
}

std::shared_ptr<const CompiledRule> MultilineRules::find(std::string_view ns, std::string_view pod,
                                                         std::string_view container) const {
  if (rules_.empty()) return nullptr;
  std::string key;
  key.reserve(ns.size() + pod.size() + container.size() + 2);
  key.append(ns).append("/").append(pod).append("/").append(container);
  for (const auto& r : rules_)
    if (::fnmatch(r->rule().match.c_str(), key.c_str(), 0) == 0) return r;
  return nullptr;
}

void MultilineCombiner::reset() {
  for (auto& e : entries_) {
    e.active = false;
    e.cut = false;
    e.split = false;
    e.lines = 0;
    e.buf.clear();
  }
  settle();
}

}  // namespace kobs::collect::pod_logs
