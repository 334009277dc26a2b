#!/usr/bin/env bash
# Runs a built kobs image the way the chart's pod runs it, on a host where no OCI runtime can start a container
# (this machine: crun and runc refuse with "cgroups in hybrid mode" and cannot raise rlimits), and checks it
# behaves as the pod spec expects. What the chart asks of the container, and how this reproduces it:
#
#   readOnlyRootFilesystem: true      the image's root, mounted as a read-only overlay (the runtime's mount
#                                     points for /dev, /proc and the volumes are the overlay's other layer)
#   runAsUser/Group 65532, caps ALL   chroot --userspec=65532:65532: a non-root uid holds no capabilities
#   dropped, no privilege escalation  setpriv --no-new-privs
#   volumes data, tmp (emptyDir)      tmpfs at /var/lib/kobs (owned by 65532, as fsGroup makes it) and /tmp
#   volume config (ConfigMap)         the role's file as `helm template` renders it, read-only at /etc/kobs/config
#   volume alert-rules (ConfigMap)    the chart's rule files, read-only at /etc/kobs/alert-rules (roles all, alert)
#   args, env (downward API)          the container's args; POD_NAME, POD_NAMESPACE, NODE_NAME set
#   startup/liveness/readiness probes GET /healthz until 200, then /readyz until 200, then /metrics; a write the
#                                     read-only root refused ("Read-only file system") in the log fails the run;
#                                     SIGTERM must end it with status 0 (the pod's termination)
# Not reproduced: the seccomp profile (RuntimeDefault), cgroup limits, the pod network (the host's loopback is
# used, listeners moved to free ports).
#
# Usage (root): deploy/image/run_as_pod.sh [IMAGE] [ROLE]   default: localhost/kobs:<appVersion>-embedded, all
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
tag="$(sed -n 's/^appVersion: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/deploy/helm/kobs/Chart.yaml")"
image="${1:-localhost/kobs:$tag-embedded}"
role="${2:-all}"
helm="$(find "$root/third_party/k8s" -path '*/helm-*/helm' -type f 2>/dev/null | sort | tail -1)"
log() { echo "pod: $*" >&2; }
[ -x "$helm" ] || { log "needs helm: scripts/setup-deploy-tools.sh builds it"; exit 1; }
[ "$(id -u)" = 0 ] || { log "needs root (mounts and chroot)"; exit 1; }

work="$(mktemp -d /var/tmp/kobs-pod.XXXXXX)"
img=""
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  if [ -n "$img" ]; then podman image unmount "$image" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The role's configuration file, exactly as the chart's ConfigMap holds it.
mkdir -p "$work/config" "$work/alert-rules" "$work/root"
"$helm" template kobs "$root/deploy/helm/kobs" >"$work/chart.yaml"
python3 - "$work/chart.yaml" "$role" "$work" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "ConfigMap"]
def configmap(suffix):
    return next((d.get("data") or {} for d in docs if d["metadata"]["name"].endswith(suffix)), None)
config = configmap("-config")
key = sys.argv[2] + ".yaml"
if not config or key not in config:
    sys.exit(f"pod: the chart's default values render no {key}")
open(f"{sys.argv[3]}/config/{key}", "w").write(config[key])
for name, body in (configmap("-alert-rules") or {}).items():
    open(f"{sys.argv[3]}/alert-rules/{name}", "w").write(body)
PY

# The runtime's mount points, as a second read-only layer under the image's files.
mkdir -p "$work/points"/{dev,proc,sys,tmp,etc/kobs/config,etc/kobs/alert-rules,var/lib/kobs}
img="$(podman image mount "$image")"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port="$(free_port)"
sets=(--set "http.listen=127.0.0.1:$port")
for key in otlp.http_listen otlp.grpc_listen serve.clickhouse_listen presenter.listen mcp.listen; do
  sets+=(--set "$key=127.0.0.1:$(free_port)")
done

log "$image, role $role: read-only root, uid 65532, config from the chart, probes on 127.0.0.1:$port"
unshare --mount --pid --fork --propagation private bash -s -- "$work" "$img" "$role" "${sets[@]}" \
  >"$work/kobs.log" 2>&1 <<'SH' &
set -euo pipefail
work="$1" img="$2" role="$3"; shift 3
r="$work/root"
mount -t overlay overlay -o "ro,lowerdir=$work/points:$img" "$r"
mount -t proc proc "$r/proc"
mount --rbind /dev "$r/dev"
mount -t tmpfs -o uid=65532,gid=65532,mode=0775,size=2g tmpfs "$r/var/lib/kobs"
mount -t tmpfs -o mode=1777,size=512m tmpfs "$r/tmp"
mount --bind "$work/config" "$r/etc/kobs/config"
mount -o remount,bind,ro "$r/etc/kobs/config"
mount --bind "$work/alert-rules" "$r/etc/kobs/alert-rules"
mount -o remount,bind,ro "$r/etc/kobs/alert-rules"
cd /
exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/var/lib/kobs KOBS_DATA_DIR=/var/lib/kobs KOBS_CHDB_LIB=/usr/lib/kobs/libchdb.so \
  SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt POD_NAME=kobs-0 POD_NAMESPACE=krateo-system NODE_NAME=node-1 \
  setpriv --no-new-privs chroot --userspec=65532:65532 --groups=65532 "$r" \
  /usr/bin/kobs "$role" --config "/etc/kobs/config/$role.yaml" "$@"
SH
pid=$!

probe() { curl -fs -o /dev/null -m 2 "http://127.0.0.1:$port$1"; }
wait_for() {  # path, seconds
  local path="$1" limit="$2" t0=$SECONDS
  until probe "$path"; do
    kill -0 "$pid" 2>/dev/null || { log "kobs exited before $path answered"; tail -20 "$work/kobs.log" >&2; exit 1; }
    [ $((SECONDS - t0)) -lt "$limit" ] || { log "$path not 200 within $limit s"; tail -20 "$work/kobs.log" >&2; exit 1; }
    sleep 1
  done
  log "$path: 200 after $((SECONDS - t0)) s"
}
wait_for /healthz 300     # the startup probe
wait_for /readyz 300      # readiness
probe /healthz && log "/healthz: 200 (liveness)"
probe /metrics && log "/metrics: 200"
if grep -q "Read-only file system" "$work/kobs.log"; then
  log "a write outside the volumes was refused:"; grep "Read-only file system" "$work/kobs.log" | head -5 >&2; exit 1
fi

# Termination: SIGTERM to kobs (the namespace's first process is the unshare child; kobs is its descendant).
kobs_pid="$(pgrep -f "/usr/bin/kobs $role --config" | head -1 || true)"
[ -n "$kobs_pid" ] || { log "kobs process not found"; exit 1; }
kill -TERM "$kobs_pid"
status=0
wait "$pid" || status=$?
pid=""
tail -3 "$work/kobs.log" >&2
[ "$status" = 0 ] || { log "kobs ended with status $status after SIGTERM"; exit 1; }
log "SIGTERM: exited 0. The image runs as the chart's pod expects."
