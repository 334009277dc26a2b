#!/usr/bin/env bash
# The collect role's idle memory: `kobs collect` with store.kind=clickhouse
# (writing to a central `kobs all` through its ClickHouse-compatible write
# path, so the agent is connected and its schema step done), no receiver with
# anything to read, measured after it settles: RSS and PSS split into
# anonymous memory and file-backed pages (the binary and shared libraries),
# the largest mappings, and the threads.
#   bench/collect_idle/collect_idle_rss.sh [build/release/src/app/kobs] [settle seconds] [more --set for the agent...]
set -euo pipefail
KOBS=${1:-build/release/src/app/kobs}
SETTLE=${2:-20}
shift 2 || true
AGENT_ARGS=("$@")
work=$(mktemp -d /tmp/kobs-collect-idle-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
echo "agent:agent-pass" > "$work/users"
"$KOBS" --data-dir "$work/central" --set http.listen=127.0.0.1:0 --set otlp.http_listen=127.0.0.1:0 \
  --set otlp.grpc_listen=127.0.0.1:0 --set mcp.listen= --set serve.clickhouse_listen=127.0.0.1:0 \
  --set serve.clickhouse_write.enabled=true --set serve.clickhouse_write.users_file="$work/users" \
  all > "$work/central.log" 2>&1 &
pids+=($!)
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's/^kobs ClickHouse-compatible endpoint on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$work/central.log" | head -1)
  [ -n "$port" ] && break
  sleep 0.2
done
[ -n "$port" ] || { echo "central kobs did not start"; cat "$work/central.log"; exit 1; }
"$KOBS" --data-dir "$work/agent" --set store.kind=clickhouse --set store.clickhouse.url="http://127.0.0.1:$port" \
  --set store.clickhouse.user=agent --set store.clickhouse.password=agent-pass --set http.listen=127.0.0.1:0 \
  --set otlp.http_listen=127.0.0.1:0 --set otlp.grpc_listen=127.0.0.1:0 ${AGENT_ARGS[@]+"${AGENT_ARGS[@]}"} collect \
  > "$work/agent.log" 2>&1 &
agent=$!
pids+=($agent)
sleep "$SETTLE"
kill -0 "$agent" || { echo "agent exited"; cat "$work/agent.log"; exit 1; }
echo "kobs collect (store.kind=clickhouse) ${AGENT_ARGS[*]:-}, idle ${SETTLE}s, pid $agent"
grep -E '^(Rss|Pss|Pss_Anon|Pss_File|Anonymous|Private_Clean|Private_Dirty|Shared_Clean):' "/proc/$agent/smaps_rollup" |
  awk '{printf "%-14s %8.1f MB\n", $1, $2/1024}'
grep -E '^(Threads|VmStk):' "/proc/$agent/status"
echo "largest mappings by RSS (MB, name):"
awk '/^[0-9a-f]+-[0-9a-f]+ /{name=($6==""?"[anon]":$6)} /^Rss:/{rss[name]+=$2} END{for(n in rss) printf "%8.2f %s\n", rss[n]/1024, n}' \
  "/proc/$agent/smaps" | sort -rn | head -15
echo "agent log (last lines):"
tail -3 "$work/agent.log"
