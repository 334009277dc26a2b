// What a kubelet log path says about its container:
//   /var/log/pods/<namespace>_<pod name>_<pod uid>/<container>/<restart count>.log
// (the stock `container` operator's path regex, applied to the last three
// path components).
//
// Threading: plain values and a pure function.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kobs::collect::pod_logs {

struct PodPath {
  std::string ns;
  std::string pod_name;
  std::string pod_uid;
  std::string container_name;
  std::string restart_count;
};

// nullopt when the path does not have that shape.
std::optional<PodPath> parsePodPath(std::string_view path);

}  // namespace kobs::collect::pod_logs
