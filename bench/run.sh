#!/usr/bin/env bash
# Runs every benchmark and prints its table. Usage: bench/run.sh [build dir]
set -euo pipefail
build=${1:-build/release}
for b in "$build"/bench/*/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" --benchmark_counters_tabular=true 2>/dev/null
done
