#!/usr/bin/env bash
# Builds the real Kubernetes control plane the tests run against: etcd,
# kube-apiserver and kubectl, from the Go module proxy with the machine's Go.
#
# Output: third_party/k8s/etcd-<v>/etcd, third_party/k8s/kubernetes-<v>/{kube-apiserver,kubectl}
# (git-ignored, keyed by version). A binary that exists is not rebuilt, so a
# second run costs nothing. The Go build and module caches stay in their
# default places, so a clean clone on the same machine (CI) reuses them.
#
# Why a generated wrapper module: `go install pkg@version` is refused for both
# projects (their go.mod files carry replace directives). A module that
# requires them, with the replace lines k8s.io/kubernetes needs for its
# staging modules, builds them unchanged; nothing is vendored.
#
# Usage: scripts/setup-k8s.sh [--print-dir]
set -euo pipefail

ETCD_VERSION=v3.6.16
K8S_VERSION=v1.34.4

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/third_party/k8s"
etcd_dir="$out/etcd-$ETCD_VERSION"
kube_dir="$out/kubernetes-$K8S_VERSION"

if [ "${1:-}" = "--print-dir" ]; then
  echo "$out"
  exit 0
fi

have_all() {
  [ -x "$etcd_dir/etcd" ] && [ -x "$kube_dir/kube-apiserver" ] && [ -x "$kube_dir/kubectl" ]
}
if have_all; then
  exit 0
fi

# Go >= 1.24 (kubernetes v1.34's go.mod); the machine's toolchain, e.g. /usr/local/go.
command -v go >/dev/null || { echo "setup-k8s: needs Go >= 1.24 on PATH (https://go.dev/doc/install)" >&2; exit 1; }
go_minor="$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
[ "${go_minor:-0}" -ge 24 ] || { echo "setup-k8s: needs Go >= 1.24, found $(go env GOVERSION)" >&2; exit 1; }
mkdir -p "$out"
# Two setups at once (parallel CI jobs, two worktrees sharing third_party)
# would build the same thing twice; the second waits and then finds the result.
exec 9>"$out/.lock"
flock 9
if have_all; then
  exit 0
fi

export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
log() { echo "setup-k8s: $*" >&2; }

build_etcd() {
  [ -x "$etcd_dir/etcd" ] && return 0
  local src="$out/src/etcd-$ETCD_VERSION"
  rm -rf "$src" && mkdir -p "$src" "$etcd_dir"
  cat >"$src/go.mod" <<EOF
module kobs.test/etcd

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
EOF
  cat >"$src/tools.go" <<'EOF'
//go:build tools

package tools

// The etcd server module's root package is the etcd program.
import _ "go.etcd.io/etcd/server/v3"
EOF
  log "building etcd $ETCD_VERSION"
  local t0=$SECONDS
  (cd "$src" && go mod tidy && go build -trimpath -o "$etcd_dir/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$etcd_dir/etcd.tmp" "$etcd_dir/etcd"
  log "etcd built in $((SECONDS - t0)) s"
}

build_kubernetes() {
  [ -x "$kube_dir/kube-apiserver" ] && [ -x "$kube_dir/kubectl" ] && return 0
  local src="$out/src/kubernetes-$K8S_VERSION"
  rm -rf "$src" && mkdir -p "$src" "$kube_dir"
  # k8s.io/kubernetes points its staging modules at ./staging/...; the same
  # modules are published as k8s.io/<m> v0.<minor>.<patch>. Read the list from
  # its own go.mod so a version bump needs no edit here.
  local modjson kgomod staging
  modjson="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION")"
  kgomod="$(printf '%s\n' "$modjson" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$kgomod" ] || { log "cannot find go.mod of k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
  staging="v0.${K8S_VERSION#v1.}"
  {
    echo "module kobs.test/kubernetes"
    echo
    grep -E '^go [0-9]' "$kgomod"
    grep -E '^godebug ' "$kgomod" || true
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    grep -oE 'k8s\.io/[A-Za-z0-9._/-]+ => \./staging/' "$kgomod" | awk -v v="$staging" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >"$src/go.mod"
  local n
  n="$(grep -c '=> k8s.io/' "$src/go.mod")"
  [ "$n" -gt 0 ] || { log "no staging replace lines found in $kgomod"; exit 1; }
  cat >"$src/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
  local minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  log "building kube-apiserver and kubectl $K8S_VERSION ($n staging modules replaced)"
  local t0=$SECONDS
  (cd "$src" && go mod tidy)
  if [ ! -x "$kube_dir/kube-apiserver" ]; then
    (cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$kube_dir/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver)
    mv "$kube_dir/kube-apiserver.tmp" "$kube_dir/kube-apiserver"
    log "kube-apiserver built in $((SECONDS - t0)) s"
  fi
  if [ ! -x "$kube_dir/kubectl" ]; then
    t0=$SECONDS
    (cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$kube_dir/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl)
    mv "$kube_dir/kubectl.tmp" "$kube_dir/kubectl"
    log "kubectl built in $((SECONDS - t0)) s"
  fi
}

build_etcd
build_kubernetes
"$etcd_dir/etcd" --version | head -1 >&2
"$kube_dir/kube-apiserver" --version >&2
