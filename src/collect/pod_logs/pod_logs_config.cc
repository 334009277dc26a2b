// The pod logs receiver's configuration table (pod_logs.*).
#include <cstdlib>

#include "k8s/cluster_config.h"

#include "collect/pod_logs/pod_logs_receiver.h"

namespace kobs::collect::pod_logs {

using config::KeySpec;
using config::KeyType;

std::vector<config::KeySpec> configKeys() {
  return {
      {"pod_logs.enabled", KeyType::kBool, "false", "Tail container logs under /var/log/pods into otel_logs (kobs collect on every node; needs the host's /var/log/pods mounted).", {"KOBS_POD_LOGS_ENABLED"}},
      {"pod_logs.include", KeyType::kStringList, "/var/log/pods/*/*/*.log", "Globs of the files to tail (symlinks are followed to their target).", {}},
      {"pod_logs.exclude", KeyType::kStringList, "", "Globs of files not to tail, matched against the resolved path.", {}},
      {"pod_logs.exclude_own_pod", KeyType::kBool, "true", "Do not tail kobs's own pod (POD_NAMESPACE/POD_NAME from the downward API).", {}},
      {"pod_logs.start_at", KeyType::kEnum, "end", "Where files already there at the very first start are read from; files found later, and after a restart, are read from their checkpoint or from the beginning.", {}, {"end", "beginning"}},
      {"pod_logs.severity", KeyType::kStringList, "", "Containers whose lines get SeverityText and SeverityNumber from the body (JSON level/severity, logfmt level=, or a leading ERROR/WARN/INFO-style word), as globs over <namespace>/<container> (shop/*, */nginx); empty: none.", {}},
      {"pod_logs.multiline", KeyType::kString, "", "Rules joining multi-line records (stack traces), a YAML list; the first rule whose match glob (over <namespace>/<pod>/<container>, default *) fits a container applies. Per rule exactly one of is_first_entry (a line matching this RE2 regex starts a record) or is_last_entry (ends one); max_lines (1000); max_bytes (pod_logs.max_log_size; a longer record is stored in pieces flagged kobs.log.split); flush_timeout (1s: a record's last line waits this long for more once the file is read to its end); separator (\\n). stdout and stderr are joined apart; the Timestamp is the first line's.", {}},
      {"pod_logs.max_log_size", KeyType::kBytes, "1MiB", "Largest record partial lines are joined into; longer ones are stored in pieces flagged kobs.log.split.", {}},
      {"pod_logs.fingerprint_size", KeyType::kBytes, "1KiB", "Bytes at the head of a file hashed into its identity (with device and inode).", {}},
      {"pod_logs.poll_interval", KeyType::kDuration, "200ms", "Longest wait between reads of files being drained or refused by a full buffer (changes are seen at once through inotify).", {}},
      {"pod_logs.scan_interval", KeyType::kDuration, "60s", "Period of the full discovery scan that backs up inotify (which sees new files and writes at once; without inotify, files are found and read by this scan and poll_interval).", {}},
      {"pod_logs.rotate_wait", KeyType::kDuration, "5s", "How long a rotated or deleted file stays open after its last new byte.", {}},
      {"pod_logs.checkpoint_interval", KeyType::kDuration, "1s", "How often the per-file checkpoint is written when it changed.", {}},
      {"pod_logs.metadata", KeyType::kBool, "true", "Watch this node's pods (list/watch pods, fieldSelector spec.nodeName) for labels, owner workload and the composition id (composition.* keys); needs pod_logs.node_name.", {}},
      {"pod_logs.metadata_wait", KeyType::kDuration, "5s", "How long lines of a pod the watch does not know yet wait before they are stored without its metadata.", {}},
      {"pod_logs.node_name", KeyType::kString, "", "This node's name: k8s.node.name on every row (downward API spec.nodeName).", {"KOBS_NODE_NAME", "NODE_NAME"}},
  };
}

PodLogsOptions optionsFromConfig(const config::Values& v, const std::filesystem::path& data_dir) {
  PodLogsOptions o;
  o.state_dir = data_dir / "pod_logs";
  o.include = v.list("pod_logs.include");
  o.exclude = v.list("pod_logs.exclude");
  if (v.boolean("pod_logs.exclude_own_pod")) {
    const char* ns = std::getenv("POD_NAMESPACE");
    const char* pod = std::getenv("POD_NAME");
    if (ns && pod && *ns && *pod) o.exclude_pod = std::string(ns) + "/" + pod;
  }
  o.severity = v.list("pod_logs.severity");
  o.start_at_beginning = v.str("pod_logs.start_at") == "beginning";
  o.multiline = parseMultilineRules(v.str("pod_logs.multiline"));
  o.max_log_size = size_t(std::max<uint64_t>(1024, v.bytes("pod_logs.max_log_size")));
  o.fingerprint_size = size_t(std::max<uint64_t>(16, v.bytes("pod_logs.fingerprint_size")));
  o.poll_interval = v.duration("pod_logs.poll_interval");
  o.scan_interval = v.duration("pod_logs.scan_interval");
  o.rotate_wait = v.duration("pod_logs.rotate_wait");
  o.checkpoint_interval = v.duration("pod_logs.checkpoint_interval");
  o.node_name = v.str("pod_logs.node_name");
  o.cluster_name = v.str("k8s.events.cluster_name");
  o.metadata_wait = v.duration("pod_logs.metadata_wait");
  if (v.boolean("pod_logs.metadata") && !o.node_name.empty()) {
    o.metadata = k8s_pods::optionsFromConfig(v);
    o.metadata.node_name = o.node_name;
  }
  return o;
}

}  // namespace kobs::collect::pod_logs
