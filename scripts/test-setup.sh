#!/usr/bin/env bash
# Test-only dependencies (npm clients used by end-to-end tests). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f tests/js/package.json ] && [ ! -d tests/js/node_modules ]; then
  (cd tests/js && npm ci --silent --no-audit --no-fund)
fi
