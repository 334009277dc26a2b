#!/usr/bin/env bash
# Runs every benchmark and prints its table. Usage: bench/run.sh [build dir]
# With KOBS_BENCH_RESULTS=<dir>, each benchmark's output is also saved there
# as <name>.txt, which bench/plot.py turns into the SVGs of docs/performance.md.
set -euo pipefail
build=${1:-build/release}
results=${KOBS_BENCH_RESULTS:-}
[ -n "$results" ] && mkdir -p "$results"
save() {  # tee to <results>/<name>.txt when asked
  if [ -n "$results" ]; then tee "$results/$1.txt"; else cat; fi
}
for b in "$build"/bench/*/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" --benchmark_counters_tabular=true 2>/dev/null | save "$(basename "$b")"
done
# The side-by-side runs against the OpenTelemetry Collector (bench/peer) build
# the Collector from Go modules on first use (minutes, cached afterwards):
# only when asked, with KOBS_BENCH_PEER=1.
if [ "${KOBS_BENCH_PEER:-0}" = 1 ]; then
  for s in bench/*/side_by_side.sh; do
    echo "== $s"
    "$s" "$build" | save "$(basename "$(dirname "$s")")_side_by_side"
  done
fi
