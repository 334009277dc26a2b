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
         "$src/src/collect/otlp/otlp_wire.cc" "$src/src/collect/otlp/otlp_json.cc" "$src/src/pipeline/any_value.cc"
         "$src/src/pipeline/table_encoder.cc" "$src/src/pipeline/otel_encoders.cc" "$src/src/pipeline/column_types.cc"
         "$src/src/common/error.cc" "$src/src/common/base64.cc" "$src/src/common/json_escape.cc")
pbs=()
while IFS= read -r f; do pbs+=("$f"); done < <(find "$gen" -name '*.pb.cc' ! -name '*.grpc.pb.cc' | sort)
rebuild=0
[ -x "$bin" ] || rebuild=1
for f in "${sources[@]}" "${pbs[@]}" "$src/src/collect/otlp/otlp_decode.h" "$src/src/collect/otlp/otlp_wire.h" \
         "$src/tests/collect/otlp/wire_equivalence.h" "$src/src/pipeline/record_ref.h" "$src/src/pipeline/table_encoder.h"; do
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
    -I"$src/src" -I"$src/tests" -I"$gen" "${sources[@]}" "${objs[@]}" \
    -lprotobuf -lboost_json -lcrypto -lfmt -lpthread -o "$bin"
fi
corpus="$out/corpus"
mkdir -p "$corpus"
# Seeds: selector byte (bit 0: JSON, bits 1-2: logs/traces/metrics) + body.
printf '\x01%s' '{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":9,"body":{"kvlistValue":{"values":[{"key":"a","value":{"arrayValue":{"values":[{"intValue":"1"},{"doubleValue":2.5}]}}}]}},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}' > "$corpus/seed-logs.json"
printf '\x03%s' '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","kind":2,"events":[{"name":"e"}],"links":[{"traceId":"5b8efff798038103d269b633813fc60c"}],"status":{"code":2}}]}]}]}' > "$corpus/seed-spans.json"
printf '\x05%s' '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"asInt":"7","exemplars":[{"asDouble":1}]}]}},{"name":"h","histogram":{"dataPoints":[{"count":"2","bucketCounts":["1","1"],"explicitBounds":[1]}]}},{"name":"q","summary":{"dataPoints":[{"quantileValues":[{"quantile":0.5,"value":1}]}]}}]}]}]}' > "$corpus/seed-metrics.json"
printf '\x00\x0a\x0c\x12\x0a\x12\x08\x2a\x06\x0a\x04\x68\x65\x6c\x6c' > "$corpus/seed-logs.pb"
# Protobuf seeds shaped as SDKs write them (every AnyValue kind, ids, events,
# links), for the wire reader: protobuf encoded by hand here.
python3 - "$corpus" <<'PY'
import struct, sys
def varint(n):
    out = b""
    while True:
        b = n & 0x7F; n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out
def ld(f, b): return varint(f << 3 | 2) + varint(len(b)) + b
def vi(f, n): return varint(f << 3) + varint(n & (2**64 - 1))
def f64(f, n): return varint(f << 3 | 1) + struct.pack("<Q", n)
def f32(f, n): return varint(f << 3 | 5) + struct.pack("<I", n)
def any_(kind, v):
    if kind == "s": return ld(1, v.encode())
    if kind == "b": return vi(2, v)
    if kind == "i": return vi(3, v)
    if kind == "d": return varint(4 << 3 | 1) + struct.pack("<d", v)
    if kind == "a": return ld(5, b"".join(ld(1, x) for x in v))
    if kind == "k": return ld(6, b"".join(ld(1, x) for x in v))
    if kind == "y": return ld(7, v)
def kv(k, val): return ld(1, k.encode()) + ld(2, val)
attrs = [kv("service.name", any_("s", "checkout")), kv("n", any_("i", -5)), kv("ok", any_("b", 1)),
         kv("r", any_("d", 2.5)), kv("raw", any_("y", b"\x00\xff")),
         kv("arr", any_("a", [any_("s", "x"), any_("i", 1)])), kv("map", any_("k", [kv("z", any_("s", "q"))]))]
res = b"".join(ld(1, a) for a in attrs)
scope = ld(1, b"scope") + ld(2, b"1.0") + ld(3, attrs[1])
log = (f64(1, 1700000000000000000) + vi(2, 9) + ld(3, b"INFO") + ld(5, any_("s", "hello world")) +
       b"".join(ld(6, a) for a in attrs) + f32(8, 1) + ld(9, bytes(range(1, 17))) + ld(10, bytes(range(1, 9))) +
       f64(11, 1700000000000000001) + ld(12, b"ev"))
logs = ld(1, ld(1, res) + ld(2, ld(1, scope) + ld(2, log) + ld(3, b"s")) + ld(3, b"https://x"))
span = (ld(1, bytes(range(1, 17))) + ld(2, bytes(range(1, 9))) + ld(3, b"k=v") + ld(4, bytes(range(2, 10))) +
        ld(5, b"GET /") + vi(6, 2) + f64(7, 1700000000000000000) + f64(8, 1700000001000000000) +
        b"".join(ld(9, a) for a in attrs) + ld(11, f64(1, 1700000000500000000) + ld(2, b"e") + ld(3, attrs[0])) +
        ld(13, ld(1, bytes(16)) + ld(2, bytes(range(3, 11))) + ld(3, b"t") + ld(4, attrs[2])) +
        ld(15, ld(2, b"boom") + vi(3, 2)))
spans = ld(1, ld(1, res) + ld(2, ld(1, scope) + ld(2, span) + ld(2, span)))
open(sys.argv[1] + "/seed-wire-logs.pb", "wb").write(b"\x00" + logs)
open(sys.argv[1] + "/seed-wire-spans.pb", "wb").write(b"\x02" + spans)
# Regression seed (a CI finding): a start time past int64's range and an end
# before it, as signed values, overflowed the Duration subtraction.
far = ld(1, bytes(range(1, 17))) + ld(2, bytes(range(1, 9))) + f64(7, 10880869315371466752) + f64(8, 1700000001000000023)
open(sys.argv[1] + "/seed-wire-span-far-times.pb", "wb").write(b"\x02" + ld(1, ld(2, ld(2, far))))
PY
log="$out/fuzz.log"
"$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/" "$corpus" > "$log" 2>&1 || {
  tail -50 "$log"; echo "run_fuzz: FINDING (see $log and the crash-* file)" >&2; exit 1; }
grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" || true
grep -E "^#[0-9]+.*DONE" "$log" | tail -1 || true
echo "run_fuzz: no finding in ${secs}s"
