#!/usr/bin/env bash
# Builds the kobs image here, from Debian packages only (no image registry needed), and checks it runs:
#   1. a Debian 12 base image made by debootstrap (minbase) and imported into podman, once;
#   2. the Dockerfile with that base, the host's ccache mounted (a developer's cache makes it cheap);
#   3. `kobs --help` in the image, and with --embedded also `kobs all --demo` answering /readyz.
# Prints the image sizes. Heavy on CPU and disk: run by hand, never from the test suite.
#
# Usage: deploy/image/build.sh [--embedded] [--tag TAG]
#   --embedded   also build the WITH_CHDB=1 variant (<tag>-embedded, with libchdb.so, ~600 MB)
# Needs: podman, buildah and debootstrap (Debian packages), root or working user namespaces.
# RUN steps and the smoke tests use chroot isolation (buildah): on a host whose cgroups are in hybrid mode,
# or that may not raise rlimits, the OCI runtimes (crun, runc) refuse to start a container; chroot needs
# neither. The image itself is an ordinary OCI image.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
tag="$(sed -n 's/^appVersion: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/deploy/helm/kobs/Chart.yaml")"
embedded=false
while [ $# -gt 0 ]; do
  case "$1" in
    --embedded) embedded=true; shift ;;
    --tag) tag="$2"; shift 2 ;;
    *) echo "usage: $0 [--embedded] [--tag TAG]" >&2; exit 2 ;;
  esac
done

base=localhost/kobs-debian:12
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
log() { echo "image: $*" >&2; }

for tool in podman buildah debootstrap; do
  command -v "$tool" >/dev/null || { log "needs $tool (apt-get install podman debootstrap)"; exit 1; }
done

if ! podman image exists "$base"; then
  dir="$(mktemp -d /var/tmp/kobs-debootstrap.XXXXXX)"
  trap 'rm -rf "$dir"' EXIT
  log "debootstrap bookworm (minbase) from $mirror"
  t0=$SECONDS
  debootstrap --variant=minbase bookworm "$dir/rootfs" "$mirror" >"$dir/debootstrap.log" 2>&1 \
    || { tail -20 "$dir/debootstrap.log" >&2; exit 1; }
  # The same suites as a developer machine, so the build stage gets the same package versions.
  cat >"$dir/rootfs/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC
  rm -rf "$dir/rootfs/var/cache/apt/archives/"*.deb "$dir/rootfs/var/lib/apt/lists/"*
  tar -C "$dir/rootfs" -c . | podman import - "$base" >/dev/null
  log "base $base made in $((SECONDS - t0)) s"
fi

ccache_dir="$(ccache -k cache_dir 2>/dev/null || echo "$HOME/.cache/ccache")"
mkdir -p "$ccache_dir"
# The WITH_CHDB=1 variant fetches libchdb from the npm registry inside the build. Where the host reaches the
# registry through a TLS-inspecting proxy (this machine does), the base image does not trust the proxy's CA: the
# host's bundle is mounted read-only into the RUN steps and npm is pointed at it. Nothing of it enters the image.
host_ca=/etc/ssl/certs/ca-certificates.crt
ca_args=()
[ -r "$host_ca" ] && ca_args=(-v "$host_ca:/run/kobs-host-ca.crt:ro" --build-arg NPM_CAFILE=/run/kobs-host-ca.crt)
build() {
  local name="$1"; shift
  local t0=$SECONDS
  log "building $name"
  podman build --isolation chroot --layers --build-arg "BASE=$base" -v "$ccache_dir:/ccache" "${ca_args[@]}" -t "$name" "$@" "$root"
  log "$name built in $((SECONDS - t0)) s"
}
build "localhost/kobs:$tag"
$embedded && build "localhost/kobs:$tag-embedded" --build-arg WITH_CHDB=1

# The image's own user, entrypoint and environment, run through buildah with chroot isolation.
run_in() {
  local image="$1"; shift
  local c
  c="$(buildah from "$image")"
  containers+=("$c")
  buildah run --isolation chroot --network host "$c" -- "$@"
}
containers=()
cleanup() { for c in "${containers[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

log "smoke test: kobs --help"
run_in "localhost/kobs:$tag" /usr/bin/kobs --help | head -3
if $embedded; then
  port=$((20000 + RANDOM % 20000))
  log "smoke test: kobs all --demo, /readyz on 127.0.0.1:$port"
  run_in "localhost/kobs:$tag-embedded" /usr/bin/kobs all --demo --set "http.listen=127.0.0.1:$port" \
    --set otlp.http_listen= --set otlp.grpc_listen= --set serve.clickhouse_listen= --set mcp.listen= >"/tmp/kobs-image-demo.log" 2>&1 &
  pid=$!
  ok=false
  for _ in $(seq 1 180); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ok=true; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  curl -sS "http://127.0.0.1:$port/readyz" || true
  echo
  curl -sS "http://127.0.0.1:$port/events?limit=2" | head -c 300 || true
  echo
  # Stop kobs (a descendant of the buildah run we started), by PID, then buildah itself.
  descendants() { local c; for c in $(ps -o pid= --ppid "$1"); do descendants "$c"; echo "$c"; done; }
  for p in $(descendants "$pid"); do kill -TERM "$p" 2>/dev/null || true; done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  tail -5 /tmp/kobs-image-demo.log >&2
  $ok || { log "/readyz did not answer 200 within 180 s"; exit 1; }
  log "/readyz: 200"
fi

log "sizes:"
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'kobs(-debian)?:' >&2
