#!/usr/bin/env bash
# Issue 12: kobs vs the OpenTelemetry Collector on the same OTLP/HTTP load, in
# one run, both shipping to the same loopback ClickHouse-HTTP sink. Builds the
# Collector on first use (bench/peer/build_otelcol.sh, cached). Not part of
# `make test`. Usage: bench/otlp/side_by_side.sh [build dir] [driver options]
# (driver options: bench/peer/side_by_side.py otlp --help).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$root/build/release}" && pwd)"
shift || true
cmake --build "$build" --target kobs kobs_peer_sink otlp_loadgen -j2 >/dev/null
exec python3 "$root/bench/peer/side_by_side.py" --build "$build" otlp "$@"
