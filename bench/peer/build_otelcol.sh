#!/usr/bin/env bash
# Builds the OpenTelemetry Collector the side-by-side benchmarks compare kobs
# with: a distribution made by the collector builder (ocb) from Go modules,
# with exactly the parts the old design's collectors used for these jobs
# (otlp and filelog receivers, batch processor, ClickHouse exporter,
# file_storage for filelog checkpoints, debug/nop exporters for probing).
#
# Output: third_party/otelcol/otelcol-<core>-<contrib>/otelcol (git-ignored,
# keyed by the pinned versions). A binary that exists is not rebuilt. Go's
# module and build caches stay in their default places.
#
# Never run by `make test`: the side-by-side benches call it (bench/peer/run_*.sh).
# Usage: bench/peer/build_otelcol.sh [--print-path]
set -euo pipefail

# Pinned: core v0.165.0 and contrib v0.165.1 resolve together (stable core
# modules at v1.71.0), see the peer notes in the closing note / bench/peer/README.md.
BUILDER_VERSION=v0.165.0
CORE_VERSION=v0.165.0
CONTRIB_VERSION=v0.165.1

root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/third_party/otelcol"
dir="$out/otelcol-$CORE_VERSION-$CONTRIB_VERSION"
bin="$dir/otelcol"

if [ "${1:-}" = "--print-path" ]; then
  echo "$bin"
  exit 0
fi
[ -x "$bin" ] && exit 0

command -v go >/dev/null || { echo "build_otelcol: needs Go on PATH" >&2; exit 1; }
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
[ -x "$bin" ] && exit 0

log() { echo "build_otelcol: $*" >&2; }
t0=$(date +%s.%N)

# The builder itself, installed into the cache folder rather than ~/go/bin.
builder="$out/ocb-$BUILDER_VERSION/builder"
if [ ! -x "$builder" ]; then
  log "installing builder $BUILDER_VERSION"
  GOBIN="$out/ocb-$BUILDER_VERSION" GOFLAGS=-buildvcs=false \
    go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
fi
t1=$(date +%s.%N)

src="$out/src/otelcol-$CORE_VERSION-$CONTRIB_VERSION"
rm -rf "$src" && mkdir -p "$src" "$dir"
core=go.opentelemetry.io/collector
contrib=github.com/open-telemetry/opentelemetry-collector-contrib
cat >"$src/manifest.yaml" <<YAML
dist:
  name: otelcol
  description: OpenTelemetry Collector peer for the kobs side-by-side benchmarks
  output_path: $src/out
  version: $CORE_VERSION
receivers:
  - gomod: $core/receiver/otlpreceiver $CORE_VERSION
  - gomod: $contrib/receiver/filelogreceiver $CONTRIB_VERSION
processors:
  - gomod: $core/processor/batchprocessor $CORE_VERSION
exporters:
  - gomod: $contrib/exporter/clickhouseexporter $CONTRIB_VERSION
  - gomod: $core/exporter/debugexporter $CORE_VERSION
  - gomod: $core/exporter/nopexporter $CORE_VERSION
extensions:
  - gomod: $contrib/extension/storage/filestorage $CONTRIB_VERSION
YAML
log "building collector core $CORE_VERSION contrib $CONTRIB_VERSION"
(cd "$src" && GOFLAGS=-buildvcs=false "$builder" --config manifest.yaml)
mv "$src/out/otelcol" "$bin.tmp"
mv "$bin.tmp" "$bin"
t2=$(date +%s.%N)
log "$(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "builder install %.1f s, collector build %.1f s", b - a, c - b }')"
log "built $bin ($(du -m "$bin" | cut -f1) MiB)"
