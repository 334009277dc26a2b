#!/usr/bin/env bash
# Installs kobs on the current Kubernetes cluster with its Helm chart (deploy/helm/kobs), waits until it
# is ready and prints where it answers. Idempotent: a second run upgrades the release in place.
#
#   ./install.sh                                   # all-in-one, embedded store, namespace kobs
#   ./install.sh --mode split --clickhouse-url http://clickhouse.clickhouse-system.svc:8123 \
#                --clickhouse-user kobs            # password from $CLICKHOUSE_PASSWORD
#   ./install.sh --dry-run ...                     # prints the plan, validates it, changes nothing
#   ./install.sh --uninstall                       # removes the release (PVCs stay; the plan says which)
#
# Options:
#   --mode allInOne|split       (default allInOne; also all-in-one)
#   --namespace NS              (default kobs)
#   --release NAME              (default kobs)
#   --clickhouse-url URL        ClickHouse HTTP interface; required by split
#   --clickhouse-user USER      (default default); the password comes from $CLICKHOUSE_PASSWORD
#   --image REPO[:TAG]          image to run (default: the chart's)
#   --krateo                    also create the Krateo endpoint Secret and frontend snippet (krateo-system)
#   -f, --values FILE           more Helm values (repeatable)
#   --set KEY=VALUE             one Helm value (repeatable), e.g. --set config.log.level=debug
#   --timeout DURATION          how long to wait for readiness (default 5m)
#   --no-wait                   do not wait for the pods (helm returns once the objects are accepted)
#   --kubeconfig FILE, --context NAME   as kubectl spells them
#   --dry-run                   print the plan and check it against the API server; change nothing
#   --uninstall                 helm uninstall the release
# Environment: KUBECTL, HELM (the binaries to use, default kubectl and helm on PATH).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
chart="$here/deploy/helm/kobs"

mode=allInOne
namespace=kobs
release=kobs
ch_url=""
ch_user=default
image=""
krateo=false
timeout=5m
wait=true
dry_run=false
uninstall=false
kube_args=()
value_args=()

die() { echo "install.sh: $*" >&2; exit 2; }
need_arg() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value"; fi; }

while [ $# -gt 0 ]; do
  case "$1" in
    --mode) need_arg "$@"; mode="$2"; shift 2 ;;
    --namespace|-n) need_arg "$@"; namespace="$2"; shift 2 ;;
    --release) need_arg "$@"; release="$2"; shift 2 ;;
    --clickhouse-url) need_arg "$@"; ch_url="$2"; shift 2 ;;
    --clickhouse-user) need_arg "$@"; ch_user="$2"; shift 2 ;;
    --image) need_arg "$@"; image="$2"; shift 2 ;;
    --krateo) krateo=true; shift ;;
    -f|--values) need_arg "$@"; [ -f "$2" ] || die "values file $2 not found"; value_args+=(-f "$2"); shift 2 ;;
    --set) need_arg "$@"; value_args+=(--set "$2"); shift 2 ;;
    --timeout) need_arg "$@"; timeout="$2"; shift 2 ;;
    --no-wait) wait=false; shift ;;
    --kubeconfig) need_arg "$@"; kube_args+=(--kubeconfig "$2"); shift 2 ;;
    --context) need_arg "$@"; kube_args+=(--kube-context "$2"); shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    --uninstall) uninstall=true; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

case "$mode" in
  allInOne|all-in-one|allinone) mode=allInOne ;;
  split) ;;
  *) die "--mode must be allInOne or split, not $mode" ;;
esac
if [ "$mode" = split ] && [ -z "$ch_url" ] && ! $uninstall; then
  die "--mode split needs --clickhouse-url (the ClickHouse server's HTTP interface, e.g. http://clickhouse:8123)"
fi
case "$ch_url" in
  ""|http://*|https://*) ;;
  *) die "--clickhouse-url must start with http:// or https://" ;;
esac

KUBECTL="${KUBECTL:-kubectl}"
HELM="${HELM:-helm}"
command -v "$KUBECTL" >/dev/null || die "kubectl not found (install it, or set KUBECTL=/path/to/kubectl)"
command -v "$HELM" >/dev/null || die "helm not found (install Helm 3, or set HELM=/path/to/helm)"
"$HELM" version --short 2>/dev/null | grep -q '^v3\.' || die "needs Helm 3 ($("$HELM" version --short 2>&1 | head -1))"

# kubectl spells the context flag --context, helm --kube-context.
kubectl_args=()
for ((i = 0; i < ${#kube_args[@]}; i += 2)); do
  flag="${kube_args[i]}"
  [ "$flag" = --kube-context ] && flag=--context
  kubectl_args+=("$flag" "${kube_args[i + 1]}")
done
k() { "$KUBECTL" "${kubectl_args[@]}" "$@"; }
h() { "$HELM" "${kube_args[@]}" "$@"; }

k version -o json >/dev/null 2>&1 || die "cannot reach the cluster with kubectl ${kubectl_args[*]} (is the kubeconfig right?)"

ns_exists=false
k get namespace "$namespace" >/dev/null 2>&1 && ns_exists=true
installed=false
h status "$release" -n "$namespace" >/dev/null 2>&1 && installed=true

if $uninstall; then
  echo "Plan: uninstall release $release from namespace $namespace"
  if ! $installed; then
    echo "  release $release is not installed in $namespace: nothing to do"
    exit 0
  fi
  pvcs="$(k get pvc -n "$namespace" -l "app.kubernetes.io/instance=$release" -o name 2>/dev/null || true)"
  echo "  helm uninstall $release -n $namespace"
  [ -n "$pvcs" ] && echo "  kept (data): $(echo "$pvcs" | tr '\n' ' ')(kubectl delete -n $namespace them to free the space)"
  if $dry_run; then
    echo "Dry run: nothing changed."
    exit 0
  fi
  h uninstall "$release" -n "$namespace" --wait --timeout "$timeout"
  exit 0
fi

set_args=(--set "mode=$mode")
[ -n "$ch_url" ] && set_args+=(--set-string "clickhouse.url=$ch_url" --set-string "clickhouse.user=$ch_user")
# The password goes through a file (mode 0600), never the command line (ps would show it).
umask 077
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [ -n "${CLICKHOUSE_PASSWORD:-}" ]; then
  printf '%s' "$CLICKHOUSE_PASSWORD" >"$tmp/password"
  set_args+=(--set-file "clickhouse.password=$tmp/password")
fi
if [ -n "$image" ]; then
  repo="${image%:*}"
  tag=""
  [ "$repo" != "$image" ] && [[ "${image##*:}" != */* ]] && tag="${image##*:}"
  [ -z "$tag" ] && repo="$image"
  set_args+=(--set-string "image.repository=$repo")
  [ -n "$tag" ] && set_args+=(--set-string "image.tag=$tag")
fi
$krateo && set_args+=(--set krateo.enabled=true)
wait_args=()
$wait && wait_args=(--wait --timeout "$timeout")

echo "Plan ($mode):"
if $ns_exists; then echo "  namespace $namespace exists"; else echo "  create namespace $namespace"; fi
if $installed; then
  echo "  helm upgrade release $release in $namespace (revision $(h history "$release" -n "$namespace" --max 1 -o json | sed -n 's/.*"revision":\([0-9]*\).*/\1/p') -> next)"
else
  echo "  helm install release $release in $namespace"
fi
echo "  chart $chart"
[ -n "$ch_url" ] && echo "  ClickHouse $ch_url as $ch_user${CLICKHOUSE_PASSWORD:+ (password from \$CLICKHOUSE_PASSWORD)}"
$wait && echo "  wait up to $timeout for every pod to be ready"

if $dry_run; then
  h template "$release" "$chart" -n "$namespace" "${set_args[@]}" "${value_args[@]}" >"$tmp/rendered.yaml"
  echo "  objects:"
  awk '/^kind:/ {k=$2} /^  name:/ && k {print "    " k " " $2; k=""}' "$tmp/rendered.yaml"
  if $ns_exists; then
    # The API server checks every object (admission, validation, RBAC escalation) and stores nothing.
    k apply --dry-run=server -f "$tmp/rendered.yaml" >/dev/null
    echo "Dry run: the API server accepted every object; nothing changed."
  else
    k apply --dry-run=client -f "$tmp/rendered.yaml" >/dev/null
    echo "Dry run: objects checked client-side (namespace $namespace does not exist yet); nothing changed."
  fi
  exit 0
fi

$ns_exists || k create namespace "$namespace"
h upgrade --install "$release" "$chart" -n "$namespace" "${set_args[@]}" "${value_args[@]}" "${wait_args[@]}"

svc="$release"
[[ "$release" == *kobs* ]] || svc="$release-kobs"
echo
echo "kobs is $($wait && echo ready || echo installed) in namespace $namespace. In the cluster:"
dns="$svc.$namespace.svc"
echo "  frontend API (/events, /notifications):  http://$dns:8080"
echo "  events-presenter API:                     http://$dns:8083"
echo "  MCP:                                      http://$dns:8000"
if [ "$mode" = allInOne ]; then
  echo "  OTLP:                                     http://$dns:4318 (gRPC :4317)"
  [ -z "$ch_url" ] && echo "  ClickHouse-compatible, read-only:         http://$dns:8123"
else
  echo "  OTLP:                                     http://$svc-collector.$namespace.svc:4318 (gRPC :4317)"
fi
echo "From this machine: kubectl -n $namespace port-forward svc/$svc 8080:8080  then  curl localhost:8080/readyz"
