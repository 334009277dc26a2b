#!/usr/bin/env bash
# Test-only dependencies (npm clients used by end-to-end tests). Idempotent:
# npm ci runs when node_modules is missing or older than package-lock.json
# (npm ci writes node_modules/.package-lock.json, so that is the stamp).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f tests/js/package.json ]; then
  stamp=tests/js/node_modules/.package-lock.json
  if [ ! -d tests/js/node_modules ] || [ ! -f "$stamp" ] || [ tests/js/package-lock.json -nt "$stamp" ]; then
    (cd tests/js && npm ci --silent --no-audit --no-fund)
  fi
fi
# The real etcd + kube-apiserver (+ kubectl) the Kubernetes tests run against,
# built from Go modules; a no-op once built (third_party/k8s/<name>-<version>/).
scripts/setup-k8s.sh
# helm, kubeconform and the Kubernetes JSON schemas of the deployment tests
# (tests/deploy), from Go modules and the k8s.io/kubernetes module; a no-op once built.
scripts/setup-deploy-tools.sh
# Python clients of the ClickHouse-compatible endpoint (clickhouse-connect,
# mcp-clickhouse), every package pinned in tests/serve/chcompat/requirements.txt,
# in a git-ignored venv (tests/.venv); reinstalled when the requirements change.
req=tests/serve/chcompat/requirements.txt
if [ -f "$req" ]; then
  venv=tests/.venv
  stamp=$venv/.requirements.stamp
  if [ ! -x "$venv/bin/python" ] || [ ! -f "$stamp" ] || [ "$req" -nt "$stamp" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    touch "$stamp"
  fi
fi
