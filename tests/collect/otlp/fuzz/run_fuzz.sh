#!/usr/bin/env bash
# Builds the OTLP decoder fuzz target with clang (libFuzzer + ASan/UBSan) from
# the decoder sources and the protobuf code the main build generated, then
# runs it for <seconds> from a small seed corpus, and prints the executions
# reached. Usage: run_fuzz.sh <build dir> [seconds]
set -euo pipefail
src=$(cd "$(dirname "$0")/../../../.." && pwd)
build=$(cd "${1:?build dir}" && pwd)
secs=${2:-30}
gen="$build/src/collect/otlp/gen"
out="$build/fuzz"
bin="$out/otlp_decode_fuzz"
mkdir -p "$out"
[ -d "$gen" ] || { echo "run_fuzz: $gen missing: build kobs_otlp_proto first" >&2; exit 1; }
sources=("$src/tests/collect/otlp/fuzz/otlp_decode_fuzz.cc" "$src/src/collect/otlp/otlp_decode.cc"
         "$src/src/collect/otlp/otlp_json.cc" "$src/src/pipeline/any_value.cc" "$src/src/common/error.cc"
         "$src/src/common/base64.cc" "$src/src/common/json_escape.cc")
pbs=()
while IFS= read -r f; do pbs+=("$f"); done < <(find "$gen" -name '*.pb.cc' ! -name '*.grpc.pb.cc' | sort)
rebuild=0
[ -x "$bin" ] || rebuild=1
for f in "${sources[@]}" "${pbs[@]}" "$src/src/collect/otlp/otlp_decode.h"; do
  [ "$f" -nt "$bin" ] && rebuild=1
done
if [ "$rebuild" = 1 ]; then
  echo "run_fuzz: building $bin with clang"
  objs=()
  for f in "${pbs[@]}"; do
    o="$out/$(basename "$f" .cc).o"
    # Generated code: coverage only, no sanitizers (it is not what is under test).
    [ "$o" -nt "$f" ] || clang++ -std=c++20 -O1 -w -fsanitize=fuzzer-no-link -I"$gen" -c "$f" -o "$o"
    objs+=("$o")
  done
  clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src/src" -I"$gen" "${sources[@]}" "${objs[@]}" \
    -lprotobuf -lboost_json -lcrypto -lfmt -lpthread -o "$bin"
fi
corpus="$out/corpus"
mkdir -p "$corpus"
# Seeds: selector byte (bit 0: JSON, bits 1-2: logs/traces/metrics) + body.
printf '\x01%s' '{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":9,"body":{"kvlistValue":{"values":[{"key":"a","value":{"arrayValue":{"values":[{"intValue":"1"},{"doubleValue":2.5}]}}}]}},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}' > "$corpus/seed-logs.json"
printf '\x03%s' '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","kind":2,"events":[{"name":"e"}],"links":[{"traceId":"5b8efff798038103d269b633813fc60c"}],"status":{"code":2}}]}]}]}' > "$corpus/seed-spans.json"
printf '\x05%s' '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"asInt":"7","exemplars":[{"asDouble":1}]}]}},{"name":"h","histogram":{"dataPoints":[{"count":"2","bucketCounts":["1","1"],"explicitBounds":[1]}]}},{"name":"q","summary":{"dataPoints":[{"quantileValues":[{"quantile":0.5,"value":1}]}]}}]}]}]}' > "$corpus/seed-metrics.json"
printf '\x00\x0a\x0c\x12\x0a\x12\x08\x2a\x06\x0a\x04\x68\x65\x6c\x6c' > "$corpus/seed-logs.pb"
log="$out/fuzz.log"
"$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 "$corpus" > "$log" 2>&1 || {
  tail -50 "$log"; echo "run_fuzz: FINDING (see $log and the crash-* file)" >&2; exit 1; }
grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" || true
grep -E "^#[0-9]+.*DONE" "$log" | tail -1 || true
echo "run_fuzz: no finding in ${secs}s"
