#!/usr/bin/env bash
# bench/docker_deploy_bench.sh — the controller's own overhead on the docker driver:
#   an all-at-once deployment of a docker image, measured from the CLI command
#   (`deploy --wait`) to its exit (every worker serves 100% on the new slot), minus the
#   container start and health thresholds (SCALE_UP -> TEST_TRAFFIC: the engine's create and
#   start and the checks passing). The pull of the already-present image (PRE_SCALE_UP: the
#   registry's "up to date" answer and the digest) is reported beside it, and the overhead
#   without it. Target: overhead < 100 ms. Also the manual rollback (CLI -> exit).
# Runs a real `bluegreen serve` on a real engine: the one in DOCKER_ENV_FILE (the env file
# of tests/support/docker_env.sh), else a private one started here and stopped after.
# Usage: bench/docker_deploy_bench.sh [BUILD_DIR] [ROUNDS] [DOCKER_ENV_FILE]  (build, 5)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$ROOT/build}
ROUNDS=${2:-5}
ENV_FILE=${3:-}
BG=$BUILD/bluegreen
TMP=$(mktemp -d /tmp/bgdockerbench.XXXXXX)
PROBE=$TMP/probe
SERVE_PID=
OWN_ENV=

cleanup() {
    if [ -n "$SERVE_PID" ]; then
        "$BG" --admin "unix:$TMP/state/bg.sock" shutdown --stop-targets >/dev/null 2>&1 ||
            kill "$SERVE_PID" 2>/dev/null || true
        wait "$SERVE_PID" 2>/dev/null || true
    fi
    [ -z "$OWN_ENV" ] || bash "$ROOT/tests/support/docker_env.sh" stop "$OWN_ENV" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

[ -x "$BG" ] || { echo "build $BG first" >&2; exit 1; }
cc -O2 -o "$PROBE" "$ROOT/bench/deploy_probe.c"
if [ -z "$ENV_FILE" ]; then
    OWN_ENV=$TMP/docker-env
    bash "$ROOT/tests/support/docker_env.sh" start "$OWN_ENV" >"$TMP/docker-env.log" 2>&1 ||
        { cat "$TMP/docker-env.log" >&2; exit 1; }
    ENV_FILE=$OWN_ENV/env
fi
while IFS= read -r line; do [ -n "$line" ] && export "${line?}"; done <"$ENV_FILE"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
mkdir -p "$TMP/state"
cat >"$TMP/bluegreen.yaml" <<YAML
listen: 127.0.0.1:$PORT
admin: unix:$TMP/state/bg.sock
state_dir: $TMP/state
proxy: {workers: 2}
services:
  bench:
    route: {path_prefix: /}
    driver: docker
    version: 1.0.0
    image: $BG_IMAGE:v1
    count: 2
    health: {path: /actuator/health, interval: 100ms, healthy_threshold: 1, unhealthy_threshold: 1}
    strategy: all-at-once
    termination_wait: 10m
    drain: 1s
    stop_timeout: 2s
YAML
"$BG" serve -c "$TMP/bluegreen.yaml" >"$TMP/serve.log" 2>&1 &
SERVE_PID=$!
ADMIN="unix:$TMP/state/bg.sock"
for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$PORT/" 2>/dev/null | grep -q '"version":"1.0.0"' && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/" | grep -q '"version":"1.0.0"' ||
    { tail -20 "$TMP/serve.log" >&2; echo "serve did not come up" >&2; exit 1; }

api() { curl -s --unix-socket "$TMP/state/bg.sock" "http://bluegreen$1"; }
at() { jq -r --arg p "$2" '.phases[] | select(.phase==$p) | .at' <<<"$1" | head -1; }
ms_of() { python3 -c "import datetime,sys; print(datetime.datetime.fromisoformat(sys.argv[1].replace('Z','+00:00')).timestamp()*1000)" "$1"; }

printf '%-6s %12s %10s %16s %12s %18s %16s %14s\n' round deploy_cli_ms pull_ms start_health_ms overhead_ms overhead_no_pull_ms daemon_overhead_ms rollback_cli_ms
OVER=() OVER_NP=() PULL=() RB=() DAEMON=()
for r in $(seq "$ROUNDS"); do
    out=$("$PROBE" "$PORT" 2.0.0 -- "$BG" --admin "$ADMIN" deploy bench --version "2.0.$r" \
        --image "$BG_IMAGE:v2" --strategy all-at-once --wait)
    cli=$(sed -E 's/.*cli_ms=([0-9.]+).*/\1/' <<<"$out")
    id=$(api "/v1/services/bench/deployments?limit=1" | jq -r '.deployments[0].id')
    rec=$(api "/v1/deployments/$id")
    [ "$(jq -r .result <<<"$rec")" = SUCCEEDED ] ||
        { echo "deployment $id: $(jq -c '{result,reason}' <<<"$rec")" >&2; exit 1; }
    p0=$(ms_of "$(at "$rec" PRE_SCALE_UP)")
    s0=$(ms_of "$(at "$rec" SCALE_UP)")
    t0=$(ms_of "$(at "$rec" TEST_TRAFFIC)")
    pull=$(python3 -c "print(round($s0-$p0,1))")
    sh=$(python3 -c "print(round($t0-$s0,1))")
    over=$(python3 -c "print(round($cli-($t0-$s0),1))")
    over_np=$(python3 -c "print(round($cli-($t0-$s0)-($s0-$p0),1))")
    # Inside the daemon: deployment created -> SUCCEEDED, minus start + health (no CLI).
    st=$(ms_of "$(jq -r .started <<<"$rec")")
    en=$(ms_of "$(jq -r .ended <<<"$rec")")
    daemon=$(python3 -c "print(round(($en-$st)-($t0-$s0),1))")
    out=$("$PROBE" "$PORT" 1.0.0 -- "$BG" --admin "$ADMIN" rollback bench)
    rb=$(sed -E 's/.*cli_ms=([0-9.]+).*/\1/' <<<"$out")
    printf '%-6s %12s %10s %16s %12s %18s %16s %14s\n' "$r" "$cli" "$pull" "$sh" "$over" "$over_np" "$daemon" "$rb"
    OVER+=("$over") OVER_NP+=("$over_np") PULL+=("$pull") RB+=("$rb") DAEMON+=("$daemon")
    # The rollback answers once traffic is back; its slot's containers stop after. The next
    # round starts once the deployment is over (deployments run one at a time).
    for _ in $(seq 300); do
        [ "$(api "/v1/deployments/$id" | jq -r .phase)" = DONE ] && break
        sleep 0.1
    done
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "RESULT docker_overhead_ms_median $(med "${OVER[@]}")   (deploy CLI -> 100% on green, minus container start + health; target < 100)"
echo "RESULT docker_overhead_without_pull_ms_median $(med "${OVER_NP[@]}")"
echo "RESULT docker_daemon_overhead_ms_median $(med "${DAEMON[@]}")   (created -> SUCCEEDED in the daemon, minus start + health; pull included)"
echo "RESULT docker_pull_up_to_date_ms_median $(med "${PULL[@]}")   (registry round trip + digest, image present)"
echo "RESULT docker_rollback_cli_ms_median $(med "${RB[@]}")"
