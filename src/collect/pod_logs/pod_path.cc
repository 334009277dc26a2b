#include "collect/pod_logs/pod_path.h"

namespace kobs::collect::pod_logs {

std::optional<PodPath> parsePodPath(std::string_view path) {
  auto cut = [&](std::string_view& rest) -> std::optional<std::string_view> {
    auto slash = rest.rfind('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto part = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    return part;
  };
  std::string_view rest = path;
  auto file = cut(rest);
  auto container = cut(rest);
  if (!file || !container) return std::nullopt;
  auto slash = rest.rfind('/');
  std::string_view pod_dir = slash == std::string_view::npos ? rest : rest.substr(slash + 1);

  // <digits>.log
  if (file->size() < 5 || !file->ends_with(".log")) return std::nullopt;
  std::string_view restart = file->substr(0, file->size() - 4);
  if (restart.empty()) return std::nullopt;
  for (char c : restart)
    if (c < '0' || c > '9') return std::nullopt;
  // [^._]+
  if (container->empty() || container->find_first_of("._") != std::string_view::npos) return std::nullopt;
  // <ns>_<pod>_<uid>, ns and pod without '_', uid of [a-f0-9-]
  auto u1 = pod_dir.find('_');
  if (u1 == std::string_view::npos || u1 == 0) return std::nullopt;
  auto u2 = pod_dir.find('_', u1 + 1);
  if (u2 == std::string_view::npos || u2 == u1 + 1) return std::nullopt;
  std::string_view uid = pod_dir.substr(u2 + 1);
  if (uid.empty()) return std::nullopt;
  for (char c : uid)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-')) return std::nullopt;
  return PodPath{std::string(pod_dir.substr(0, u1)), std::string(pod_dir.substr(u1 + 1, u2 - u1 - 1)), std::string(uid),
                 std::string(*container), std::string(restart)};
}

}  // namespace kobs::collect::pod_logs
