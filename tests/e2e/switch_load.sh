#!/usr/bin/env bash
# tests/e2e/switch_load.sh — zero failed requests across 10 blue<->green switches under load.
#
# Starts sample-app blue (v1) and green (v2) and `bluegreen serve` (static driver) on
# ephemeral loopback ports, then runs wrk (keep-alive, -t1 -c32, bench/count.lua, the
# same counting script the switch benchmark uses)
# long enough for >= 100,000 requests while `bluegreen traffic` moves all traffic between
# blue and green 10 times. Asserts: 0 non-2xx, 0 socket errors, >= 100,000 requests, and
# responses from both slots. Run from the repo root; binaries from $BG_BUILD_DIR or build/.
# A missing binary or tool is a failure, never a skip. Registered in tests/e2e/CMakeLists.txt.
set -euo pipefail

BUILD=${BG_BUILD_DIR:-build}
BG=$BUILD/bluegreen
SA=$BUILD/sample-app
HERE=$(cd "$(dirname "$0")" && pwd)
MIN_REQUESTS=${SWITCH_LOAD_MIN_REQUESTS:-100000}
SWITCHES=10
MAX_SECONDS=200 # wrk duration cap, inside the ctest TIMEOUT of 300

fail() {
    echo "switch_load: FAIL: $*" >&2
    exit 1
}
say() { echo "switch_load: $*"; }

for bin in "$BG" "$SA"; do
    [ -x "$bin" ] || fail "missing binary $bin (build it; BG_BUILD_DIR=${BG_BUILD_DIR:-unset})"
done
for tool in wrk curl python3; do
    command -v $tool >/dev/null || fail "missing tool $tool"
done

TMP=$(mktemp -d /tmp/bg-switch-load.XXXXXX)
PIDS=()
cleanup() {
    local rc=$? p i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        p=${PIDS[$i]}
        kill -TERM "$p" 2>/dev/null || continue
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ $rc -ne 0 ]; then
        for f in "$TMP"/*.log; do
            echo "---- $f (tail)" >&2
            tail -n 30 "$f" >&2 || true
        done
        echo "switch_load: logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
start() { # start NAME CMD...: background process, log in $TMP/NAME.log
    local name=$1
    shift
    "$@" >"$TMP/$name.log" 2>&1 </dev/null &
    PIDS+=("$!")
}
# wait_get URL PATTERN SECS: until GET URL answers 2xx with a body matching PATTERN.
wait_get() {
    local deadline=$((SECONDS + $3)) body
    while :; do
        body=$(curl -sf --max-time 2 "$1" 2>/dev/null || true)
        if [ -n "$body" ] && [[ "$body" =~ $2 ]]; then return 0; fi
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}
traffic() { "$BG" --admin "unix:$TMP/bg.sock" traffic app "$@" >>"$TMP/traffic.log" 2>&1; }

BLUE_PORT=$(free_port)
GREEN_PORT=$(free_port)
PROXY_PORT=$(free_port)
start blue "$SA" --service app --version 1.0.0 --port "$BLUE_PORT" --slot blue
start green "$SA" --service app --version 2.0.0 --port "$GREEN_PORT" --slot green
wait_get "http://127.0.0.1:$BLUE_PORT/actuator/health" UP 20 || fail "sample-app blue not healthy"
wait_get "http://127.0.0.1:$GREEN_PORT/actuator/health" UP 20 || fail "sample-app green not healthy"

mkdir -p "$TMP/state"
cat >"$TMP/bg.yaml" <<YAML
listen: 127.0.0.1:$PROXY_PORT
admin: unix:$TMP/bg.sock
state_dir: $TMP/state
workers: 2
services:
  app:
    route: {path_prefix: /}
    driver: static
    targets: {blue: ["127.0.0.1:$BLUE_PORT"], green: ["127.0.0.1:$GREEN_PORT"]}
    traffic: {blue: 100, green: 0}
    health: {path: /actuator/health, interval: 1s}
YAML
start serve "$BG" serve -c "$TMP/bg.yaml"
SERVE_PID=${PIDS[-1]}
SLOT_RE='"slot" *: *"blue"'
wait_get "http://127.0.0.1:$PROXY_PORT/" "$SLOT_RE" 30 || fail "bluegreen serve does not route to blue"
say "serving on 127.0.0.1:$PROXY_PORT (blue :$BLUE_PORT v1.0.0, green :$GREEN_PORT v2.0.0)"

# Calibrate: how long must wrk run for MIN_REQUESTS on this build (sanitizers) and machine?
wrk -t1 -c32 -d2s "http://127.0.0.1:$PROXY_PORT/" >"$TMP/calibrate.log" 2>&1 || fail "wrk calibration run failed"
rps=$(awk '/^Requests\/sec:/ {printf "%d", $2}' "$TMP/calibrate.log")
[ "${rps:-0}" -gt 0 ] || fail "calibration served no requests: $(cat "$TMP/calibrate.log")"
secs=$(((MIN_REQUESTS * 14 / 10 + rps - 1) / rps))
[ $secs -ge 10 ] || secs=10
[ $secs -le $MAX_SECONDS ] || fail "only $rps req/s: $MIN_REQUESTS requests would need more than ${MAX_SECONDS}s"
say "calibrated at $rps req/s: wrk -t1 -c32 for ${secs}s with $SWITCHES switches"

wrk -t1 -c32 -d"${secs}s" --timeout 5s -s "$HERE/../../bench/count.lua" \
    "http://127.0.0.1:$PROXY_PORT/" >"$TMP/wrk.log" 2>&1 &
WRK_PID=$!
PIDS+=("$WRK_PID")
# Switches spread over the run, with load before the first and after the last. The sleeps
# pace the load pattern; nothing waits on them for synchronisation.
gap=$(awk -v d="$secs" -v s=$SWITCHES 'BEGIN {printf "%.3f", d / (s + 2)}')
slot=blue
for ((i = 1; i <= SWITCHES; i++)); do
    sleep "$gap"
    if [ $slot = blue ]; then slot=green; traffic blue=0 green=100; else slot=blue; traffic blue=100 green=0; fi ||
        fail "switch $i (to $slot): bluegreen traffic failed: $(tail -n 5 "$TMP/traffic.log")"
    say "switch $i -> $slot"
done
wait $WRK_PID || fail "wrk failed: $(cat "$TMP/wrk.log")"
cat "$TMP/wrk.log"
kill -0 "$SERVE_PID" 2>/dev/null || fail "bluegreen serve exited during the run"

line=$(grep '^COUNTS ' "$TMP/wrk.log") || fail "no COUNTS line from the wrk script"
count() { # count KEY: the number after KEY= on the COUNTS line; fails if absent
    local v
    v=$(echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k && $2 ~ /^[0-9]+$/ {print $2}')
    [ -n "$v" ] || fail "COUNTS line lacks $1: $line"
    echo "$v"
}
c_requests=$(count requests)
c_non2xx=$(count non2xx)
c_status=$(count status)
c_blue=$(count blue)
c_green=$(count green)
c_other=$(count other)
c_connect=$(count connect)
c_read=$(count read)
c_write=$(count write)
c_timeout=$(count timeout)
errors=$((c_connect + c_read + c_write + c_timeout))
say "requests=$c_requests non2xx=$c_non2xx socket_errors=$errors blue=$c_blue green=$c_green other=$c_other"

ok=1
[ "$c_non2xx" -eq 0 ] && [ "$c_status" -eq 0 ] || { echo "switch_load: $c_non2xx non-2xx responses" >&2; ok=0; }
[ $errors -eq 0 ] || { echo "switch_load: socket errors: connect=$c_connect read=$c_read write=$c_write timeout=$c_timeout" >&2; ok=0; }
[ "$c_requests" -ge "$MIN_REQUESTS" ] || { echo "switch_load: only $c_requests requests (< $MIN_REQUESTS)" >&2; ok=0; }
[ "$c_blue" -gt 0 ] && [ "$c_green" -gt 0 ] || { echo "switch_load: responses not from both slots (blue=$c_blue green=$c_green)" >&2; ok=0; }
[ "$c_other" -eq 0 ] || { echo "switch_load: $c_other responses named no slot" >&2; ok=0; }
# 10 switches from blue end on blue: the live slot must be blue again.
wait_get "http://127.0.0.1:$PROXY_PORT/" "$SLOT_RE" 5 || { echo "switch_load: not back on blue after $SWITCHES switches" >&2; ok=0; }
[ $ok = 1 ] || fail "assertions failed"
say "PASS"
