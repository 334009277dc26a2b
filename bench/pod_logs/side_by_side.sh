#!/usr/bin/env bash
# Issue 13: kobs collect (pod_logs) vs the OpenTelemetry Collector (filelog +
# container operator) on the same files under a /var/log/pods layout, in one
# run, both shipping to the same loopback ClickHouse-HTTP sink; then kobs
# alone at a paced 100k lines/s for its collect-role RSS. Builds the
# Collector on first use (bench/peer/build_otelcol.sh, cached). Not part of
# `make test`. Usage: bench/pod_logs/side_by_side.sh [build dir] [driver options]
# (driver options: bench/peer/side_by_side.py pod_logs --help).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$root/build/release}" && pwd)"
shift || true
cmake --build "$build" --target kobs kobs_peer_sink -j2 >/dev/null
exec python3 "$root/bench/peer/side_by_side.py" --build "$build" pod_logs "$@"
