#!/usr/bin/env bash
# A real etcd + kube-apiserver on loopback for trying kobs by hand: the same
# cluster the tests use (tests/support/real_apiserver), with a namespace
# `demo` and the Krateo-style CRD fireworksapps.composition.krateo.io.
#
#   scripts/dev-cluster.sh up     # builds what is missing, prints the kubeconfig path
#   scripts/dev-cluster.sh down   # stops it (the PKI and etcd data go with it)
#   scripts/dev-cluster.sh status
#
# Users in the kubeconfig (contexts): admin (current; system:masters),
# alice (group devs), bob (devs, ops), carol (no group, no grants).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${KOBS_BUILD_DIR:-$root/build/release}"
state="$root/data/dev-cluster"
pidfile="$state/pid"

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "${1:-}" in
  up)
    if running; then
      sed -n 's/^kubeconfig: //p' "$state/out"
      exit 0
    fi
    "$root/scripts/setup-k8s.sh"
    [ -d "$build" ] || (cd "$root" && cmake --preset release >/dev/null)
    cmake --build "$build" --target kobs_dev_cluster >/dev/null
    mkdir -p "$state"
    : >"$state/out"
    # A simple command in the background: $! is the tool itself, not a shell.
    setsid "$build/tests/support/kobs_dev_cluster" >"$state/out" 2>"$state/err" </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 600); do
      if grep -q '^kubeconfig: ' "$state/out"; then
        sed -n 's/^kubeconfig: //p' "$state/out"
        exit 0
      fi
      running || { cat "$state/err" >&2; rm -f "$pidfile"; exit 1; }
      sleep 0.1
    done
    echo "dev-cluster: not up after 60 s; see $state/err" >&2
    exit 1
    ;;
  down)
    if running; then
      pid="$(cat "$pidfile")"
      kill -TERM "$pid"
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
    ;;
  status)
    if running; then cat "$state/out"; else echo "down"; exit 1; fi
    ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
