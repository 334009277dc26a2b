#include "k8s/resource.h"

namespace kobs::k8s {

std::pair<std::string, std::string> splitApiVersion(std::string_view api_version) {
  auto slash = api_version.find('/');
  if (slash == std::string_view::npos) return {std::string(), std::string(api_version)};
  return {std::string(api_version.substr(0, slash)), std::string(api_version.substr(slash + 1))};
}

std::string groupVersionPath(std::string_view group, std::string_view version) {
  std::string path = group.empty() ? "/api/" : "/apis/";
  if (!group.empty()) {
    path += group;
    path += '/';
  }
  path += version;
  return path;
}

std::string resourcePath(const ResourceRef& ref, std::string_view ns, std::string_view name) {
  std::string path = groupVersionPath(ref.group, ref.version);
  if (!ns.empty()) {
    path += "/namespaces/";
    path += urlEncode(ns);
  }
  path += '/';
  path += ref.resource;
  if (!name.empty()) {
    path += '/';
    path += urlEncode(name);
  }
  return path;
}

std::string urlEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace kobs::k8s
