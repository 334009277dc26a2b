#!/usr/bin/env bash
# Installs everything kobs needs to build, run and test. Idempotent: a second
# run installs nothing and takes a second. Sources: Debian packages (apt-get)
# and the npm registry (chDB's library, pinned and integrity-checked).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libboost1.81-dev libboost-json1.81-dev libcurl4-openssl-dev libssl-dev
  libsimdjson-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libyaml-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
  libzstd-dev liblz4-dev zlib1g-dev
  libre2-dev  # pod_logs.multiline regexes (src/collect/pod_logs/multiline.cc)
  protobuf-compiler libprotobuf-dev libgrpc++-dev protobuf-compiler-grpc  # OTLP (src/collect/otlp)
  clang libclang-rt-dev  # libFuzzer for the OTLP decoder fuzz target (the runtime is a package of its own)
  clickhouse-server clickhouse-client
  jq curl
  openssl  # the real kube-apiserver fixture makes its throwaway PKI with the CLI
  chromium  # the real-browser SSE test (tests/js) drives it headless via playwright-core
  shellcheck python3-yaml  # tests/deploy: install.sh and scripts linted; rendered manifests read in Python
  libncurses-dev  # kobs top (src/app/top)
  gnuplot-nox  # bench/plot.py draws the SVGs of docs/performance.md
  tmux  # drives kobs top interactively in its test
)

# KOBS_SETUP_PROFILE=image (the Dockerfile's build stage): only what compiles the kobs binary, without the
# test and benchmark tools; chDB only with KOBS_SETUP_CHDB=1 (the all-in-one image variant).
if [ "${KOBS_SETUP_PROFILE:-}" = image ]; then
  IMAGE_SKIP=" libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-dev clickhouse-server clickhouse-client chromium shellcheck python3-yaml jq tmux gnuplot-nox "
  kept=()
  for p in "${APT_PACKAGES[@]}"; do
    [[ "$IMAGE_SKIP" == *" $p "* ]] || kept+=("$p")
  done
  [ "${KOBS_SETUP_CHDB:-0}" = 1 ] && kept+=(npm)
  APT_PACKAGES=("${kept[@]}")
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # The clickhouse-server package would start a system service; tests start
  # their own server on a loopback port, so policy-rc.d keeps it from starting.
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${KOBS_SETUP_PROFILE:-}" = image ] && [ "${KOBS_SETUP_CHDB:-0}" != 1 ]; then
  echo "setup: ok (image profile, no chDB)"
  exit 0
fi

# chDB (embedded ClickHouse) from the npm registry, pinned by version and hash.
CHDB_PKG="@chdb/lib-linux-x64-gnu"
CHDB_VERSION="26.7.3-stable.1"
CHDB_SHA512="XP97mMqnc5tZpKQywR8N7cLTsHNiTmHr30pC5mzo3jWmukjKn2IBa60c2B/gWUNcuFjOMjWoorQICCqBVj5wpw=="
CHDB_DIR="third_party/chdb"
if [ ! -f "$CHDB_DIR/.version" ] || [ "$(cat "$CHDB_DIR/.version")" != "$CHDB_VERSION" ]; then
  echo "setup: fetching $CHDB_PKG@$CHDB_VERSION from the npm registry"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$CHDB_PKG@$CHDB_VERSION" >/dev/null)
  tgz=$(ls "$tmp"/*.tgz)
  got=$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)
  if [ "$got" != "$CHDB_SHA512" ]; then
    echo "setup: integrity check failed for $CHDB_PKG: got sha512-$got" >&2
    exit 1
  fi
  rm -rf "$CHDB_DIR" && mkdir -p "$CHDB_DIR"
  tar -xzf "$tgz" -C "$CHDB_DIR" --strip-components=1
  echo "$CHDB_VERSION" > "$CHDB_DIR/.version"
fi
lib=$(find "$CHDB_DIR" -name 'libchdb.so' | head -1)
[ -n "$lib" ] || { echo "setup: libchdb.so not found in $CHDB_DIR" >&2; exit 1; }
echo "setup: ok (chdb: $lib)"
