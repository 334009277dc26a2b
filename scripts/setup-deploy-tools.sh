#!/usr/bin/env bash
# Builds the tools the deployment tests use (tests/deploy), from the Go module
# proxy with the machine's Go, pinned, cached like scripts/setup-k8s.sh:
#
#   third_party/k8s/helm-<v>/helm                 helm.sh/helm/v3
#   third_party/k8s/kubeconform-<v>/kubeconform   github.com/yannh/kubeconform
#   third_party/k8s/schemas-<k8s v>/               JSON schemas of every built-in kind,
#                                                  generated from the OpenAPI document
#                                                  shipped in the k8s.io/kubernetes module
#
# kubectl (for `kubectl kustomize` and the server dry-run) comes from
# scripts/setup-k8s.sh. Nothing is downloaded at test time; a second run
# costs nothing.
#
# Why helm is built from a wrapper module: it lets the k8s.io libraries helm
# uses be lifted to the versions kubectl was built with, so the Go build
# cache kubectl left behind is reused (a cold helm build is then mostly link).
#
# Usage: scripts/setup-deploy-tools.sh [--print-dir]
set -euo pipefail

HELM_VERSION=v3.19.5
HELM_BUILD=2        # bump when the build flags change: the binary lives in helm-<v>-<build>/
KUBECONFORM_VERSION=v0.7.0
K8S_VERSION=v1.34.4   # must match scripts/setup-k8s.sh (same module, already in the module cache)

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/third_party/k8s"
helm_dir="$out/helm-$HELM_VERSION-$HELM_BUILD"
kc_dir="$out/kubeconform-$KUBECONFORM_VERSION"
schema_dir="$out/schemas-$K8S_VERSION"

if [ "${1:-}" = "--print-dir" ]; then
  echo "$out"
  exit 0
fi

have_all() {
  [ -x "$helm_dir/helm" ] && [ -x "$kc_dir/kubeconform" ] && [ -f "$schema_dir/.complete" ]
}
if have_all; then
  exit 0
fi

command -v go >/dev/null || { echo "setup-deploy-tools: needs Go >= 1.24 on PATH" >&2; exit 1; }
command -v python3 >/dev/null || { echo "setup-deploy-tools: needs python3 (schema generation)" >&2; exit 1; }
mkdir -p "$out"
exec 9>"$out/.lock-deploy-tools"
flock 9
if have_all; then
  exit 0
fi

export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
log() { echo "setup-deploy-tools: $*" >&2; }

build_helm() {
  [ -x "$helm_dir/helm" ] && return 0
  local src="$out/src/helm-$HELM_VERSION"
  rm -rf "$src" && mkdir -p "$src" "$helm_dir"
  local staging="v0.${K8S_VERSION#v1.}"
  cat >"$src/go.mod" <<EOF
module kobs.test/helm

go 1.24.0

require (
	helm.sh/helm/v3 $HELM_VERSION
	k8s.io/api $staging
	k8s.io/apiextensions-apiserver $staging
	k8s.io/apimachinery $staging
	k8s.io/apiserver $staging
	k8s.io/cli-runtime $staging
	k8s.io/client-go $staging
	k8s.io/component-base $staging
	k8s.io/kubectl $staging
)
EOF
  cat >"$src/tools.go" <<'EOF'
//go:build tools

package tools

import _ "helm.sh/helm/v3/cmd/helm"
EOF
  log "building helm $HELM_VERSION (k8s.io libraries at $staging)"
  local t0=$SECONDS
  # The Kubernetes version helm assumes offline (helm template, lint): the one the tests run.
  local minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  local pkg
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
  done
  (cd "$src" && go mod tidy && go build -trimpath -ldflags "$ldflags" -o "$helm_dir/helm.tmp" helm.sh/helm/v3/cmd/helm)
  mv "$helm_dir/helm.tmp" "$helm_dir/helm"
  log "helm built in $((SECONDS - t0)) s"
}

build_kubeconform() {
  [ -x "$kc_dir/kubeconform" ] && return 0
  mkdir -p "$kc_dir"
  log "building kubeconform $KUBECONFORM_VERSION"
  local t0=$SECONDS
  GOBIN="$kc_dir" go install -trimpath -ldflags "-s -w" "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  log "kubeconform built in $((SECONDS - t0)) s"
}

gen_schemas() {
  [ -f "$schema_dir/.complete" ] && return 0
  # The OpenAPI v2 document of every built-in API, as the apiserver of this
  # version serves it, is part of the k8s.io/kubernetes module.
  local modjson dir
  modjson="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION")"
  dir="$(printf '%s\n' "$modjson" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$dir/api/openapi-spec/swagger.json" ] || { log "no api/openapi-spec/swagger.json in k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
  log "generating JSON schemas from k8s.io/kubernetes@$K8S_VERSION/api/openapi-spec/swagger.json"
  rm -rf "$schema_dir" && mkdir -p "$schema_dir"
  python3 "$root/scripts/k8s-json-schemas.py" "$dir/api/openapi-spec/swagger.json" "$schema_dir"
  touch "$schema_dir/.complete"
}

build_helm
build_kubeconform
gen_schemas
"$helm_dir/helm" version --short >&2
"$kc_dir/kubeconform" -v >&2
