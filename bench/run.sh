#!/usr/bin/env bash
# Runs every benchmark and prints its table. Usage: bench/run.sh [build dir]
set -euo pipefail
build=${1:-build/release}
for b in "$build"/bench/*/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" --benchmark_counters_tabular=true 2>/dev/null
done
# The side-by-side runs against the OpenTelemetry Collector (bench/peer) build
# the Collector from Go modules on first use (minutes, cached afterwards):
# only when asked, with KOBS_BENCH_PEER=1.
if [ "${KOBS_BENCH_PEER:-0}" = 1 ]; then
  for s in bench/*/side_by_side.sh; do
    echo "== $s"
    "$s" "$build"
  done
fi
