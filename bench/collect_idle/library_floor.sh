#!/usr/bin/env bash
# The RSS floor that loading kobs's shared libraries sets, before any kobs
# code runs: an empty program (main() { pause(); }) linked against the same
# direct dependencies as the kobs binary (readelf NEEDED), then against each
# group of them alone. Compare with collect_idle_rss.sh's figure.
#   bench/collect_idle/library_floor.sh [build/release/src/app/kobs]
set -euo pipefail
KOBS=${1:-build/release/src/app/kobs}
work=$(mktemp -d /tmp/kobs-library-floor-XXXXXX)
trap 'rm -rf "$work"' EXIT
printf '#include <unistd.h>\nint main() { pause(); }\n' > "$work/empty.cc"
measure() {  # label, then linker flags
  local label=$1; shift
  g++ -O2 "$work/empty.cc" -o "$work/empty" -Wl,--no-as-needed "$@"
  "$work/empty" & local p=$!
  sleep 1
  printf '%-40s %3d libraries  RSS %6.1f MB  anonymous %5.1f MB  PSS %5.1f MB\n' "$label" "$(ldd "$work/empty" | wc -l)" \
    "$(awk '/^Rss:/{print $2/1024}' /proc/$p/smaps_rollup)" "$(awk '/^Anonymous:/{print $2/1024}' /proc/$p/smaps_rollup)" \
    "$(awk '/^Pss:/{print $2/1024}' /proc/$p/smaps_rollup)"
  kill $p; wait $p 2>/dev/null || true
}
needed=$(readelf -d "$KOBS" | sed -n 's/.*NEEDED.*\[lib\(.*\)\.so.*\]/-l\1/p')
measure "no library (libc only)"
measure "kobs's $(echo $needed | wc -w) direct dependencies" $needed
measure "libcurl (Debian's, with its TLS/auth deps)" -lcurl
measure "gRPC++, protobuf, absl, re2" -lgrpc++ -lprotobuf -lgpr -labsl_synchronization -lre2
measure "libcrypto (OpenSSL 3)" -lcrypto
measure "the others (json, yaml, log, z, zstd, curses)" -lboost_json -lspdlog -lfmt -lsimdjson -lyaml-cpp -lz -lzstd -lncurses -ltinfo
