#!/usr/bin/env bash
# Helm post-renderer for the ClickStack chart: reads the rendered manifests on stdin and writes them with
# the /events HTTP handler mounted into ClickHouse (post-render/kustomization.yaml). Needs kubectl
# (`kubectl kustomize`); set KUBECTL to use another binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/post-render/kustomization.yaml" "$work/"
cat >"$work/rendered.yaml"
"${KUBECTL:-kubectl}" kustomize "$work"
