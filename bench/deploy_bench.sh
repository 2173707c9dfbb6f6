#!/usr/bin/env bash
# bench/deploy_bench.sh — how fast the controller acts, measured from the CLI command:
#   1. manual rollback within termination_wait: CLI start -> CLI exit (the answer comes
#      after every worker serves the old slot) and -> first response from the old slot
#      (target: < 50 ms end to end);
#   2. an all-at-once deployment's overhead beyond the app's own start and health
#      thresholds: (CLI `deploy --wait` wall time) - (POST_SCALE_UP -> TEST_TRAFFIC, the time
#      the new targets took to start and pass healthy_threshold checks) (target: < 100 ms).
# Runs a real `bluegreen serve` with real sample-apps on loopback; tears down exactly what it
# started. Usage: bench/deploy_bench.sh [BUILD_DIR] [ROUNDS]   (default build-deploy, 5)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build-deploy}
ROUNDS=${2:-5}
BG=$BUILD/bluegreen
APP=$BUILD/sample-app
TMP=$(mktemp -d /tmp/bgdeploybench.XXXXXX)
PROBE=$TMP/probe
SERVE_PID=

# `shutdown --stop-targets` stops the daemon AND the sample-apps it started (a plain
# SIGTERM leaves them running for the next serve to re-adopt); SIGTERM only as a fallback.
cleanup() {
    [ -n "$SERVE_PID" ] || return 0
    "$BG" --admin "unix:$TMP/state/bg.sock" shutdown --stop-targets >/dev/null 2>&1 ||
        kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
}
trap cleanup EXIT

[ -x "$BG" ] && [ -x "$APP" ] || { echo "build $BG and $APP first" >&2; exit 1; }
cc -O2 -o "$PROBE" "$ROOT/bench/deploy_probe.c"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
cat > "$TMP/bluegreen.yaml" <<YAML
listen: 127.0.0.1:$PORT
admin: unix:$TMP/state/bg.sock
state_dir: $TMP/state
proxy: {workers: 2}
services:
  orders:
    route: {path_prefix: /}
    version: 1.0.0
    count: 2
    run: {command: ["$APP", "--service", "orders", "--version", "1.0.0"]}
    health: {path: /actuator/health, format: actuator, interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1}
    strategy: all-at-once
    termination_wait: 10m
    drain: 1s
YAML
"$BG" serve -c "$TMP/bluegreen.yaml" > "$TMP/serve.log" 2>&1 &
SERVE_PID=$!
ADMIN="unix:$TMP/state/bg.sock"
for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$PORT/" 2>/dev/null | grep -q '"version":"1.0.0"' && break
    sleep 0.05
done

api() { curl -s --unix-socket "$TMP/state/bg.sock" "http://bluegreen$1"; }
ms_of() { python3 -c "import datetime,sys; print(datetime.datetime.fromisoformat(sys.argv[1].replace('Z','+00:00')).timestamp()*1000)" "$1"; }

printf '%-6s %-10s %12s %14s %12s %14s\n' round version deploy_cli_ms health_wait_ms overhead_ms rollback_cli_ms
RB_CLI=() RB_FIRST=() OVER=() RB_SWITCH=()
prev=1.0.0
for r in $(seq "$ROUNDS"); do
    v="2.0.$r"
    out=$("$PROBE" "$PORT" "$v" -- "$BG" --admin "$ADMIN" deploy orders --version "$v" \
          --cmd "$APP --service orders --version $v" --strategy all-at-once --wait)
    deploy_cli=$(sed -E 's/.*cli_ms=([0-9.]+).*/\1/' <<<"$out")
    id=$(api "/v1/services/orders/deployments?limit=1" | jq -r '.deployments[0].id')
    rec=$(api "/v1/deployments/$id")
    [ "$(jq -r .result <<<"$rec")" = SUCCEEDED ] || { echo "deployment $id: $(jq -c '{result,reason}' <<<"$rec")" >&2; exit 1; }
    a=$(ms_of "$(jq -r '.phases[] | select(.phase=="POST_SCALE_UP") | .at' <<<"$rec")")
    b=$(ms_of "$(jq -r '.phases[] | select(.phase=="TEST_TRAFFIC") | .at' <<<"$rec")")
    health=$(python3 -c "print(round($b-$a,1))")
    over=$(python3 -c "print(round($deploy_cli-($b-$a),1))")
    # manual rollback within termination_wait: back to the previous version
    out=$("$PROBE" "$PORT" "$prev" -- "$BG" --admin "$ADMIN" rollback orders)
    rb_cli=$(sed -E 's/.*cli_ms=([0-9.]+).*/\1/' <<<"$out")
    rb_first=$(sed -E 's/.*first_ms=([0-9.-]+).*/\1/' <<<"$out")
    rb_switch=$(api "/v1/deployments/$id" | jq -r '.switches[-1].switch_ms')
    printf '%-6s %-10s %12s %14s %12s %14s (switch verified in %.3f ms; first old response %s ms)\n' \
        "$r" "$v" "$deploy_cli" "$health" "$over" "$rb_cli" "$rb_switch" "$rb_first"
    RB_CLI+=("$rb_cli") RB_FIRST+=("$rb_first") OVER+=("$over") RB_SWITCH+=("$rb_switch")
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "RESULT rollback_cli_ms_median $(med "${RB_CLI[@]}")   (target < 50)"
echo "RESULT rollback_switch_ms_median $(med "${RB_SWITCH[@]}")   (publish -> every worker serves it)"
echo "RESULT rollback_first_old_response_ms_median $(med "${RB_FIRST[@]}")   (target < 50)"
echo "RESULT all_at_once_overhead_ms_median $(med "${OVER[@]}")   (target < 100)"
