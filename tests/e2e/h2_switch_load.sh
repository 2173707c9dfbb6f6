#!/usr/bin/env bash
# tests/e2e/h2_switch_load.sh — zero failed HTTP/2 requests across 10 blue<->green switches.
#
# The HTTP/2 twin of switch_load.sh: sample-app blue (v1) and green (v2) behind
# `bluegreen serve` with `http2: {h2c: true}` and an access log, h2load (nghttp2-client)
# with 8 connections x 10 concurrent streams (-m 10) long enough for >= 50,000 requests
# while `bluegreen traffic` moves all traffic between blue and green 10 times. Asserts:
# h2load 0 failed / errored / timed out and only 2xx; the access log has HTTP/2.0 lines
# from both slots; /metrics counts HTTP/2 streams. Run from the repo root; binaries from
# $BG_BUILD_DIR or build/. A missing binary or tool is a failure, never a skip.
set -euo pipefail

BUILD=${BG_BUILD_DIR:-build}
BG=$BUILD/bluegreen
SA=$BUILD/sample-app
HERE=$(cd "$(dirname "$0")" && pwd)
MIN_REQUESTS=${H2_SWITCH_MIN_REQUESTS:-50000}
SWITCHES=10
MAX_SECONDS=200 # wrk duration cap, inside the ctest TIMEOUT of 300

fail() {
    echo "h2_switch_load: FAIL: $*" >&2
    exit 1
}
say() { echo "h2_switch_load: $*"; }

for bin in "$BG" "$SA"; do
    [ -x "$bin" ] || fail "missing binary $bin (build it; BG_BUILD_DIR=${BG_BUILD_DIR:-unset})"
done
for tool in h2load curl python3; do
    command -v $tool >/dev/null || fail "missing tool $tool"
done

TMP=$(mktemp -d /tmp/bg-h2-switch-load.XXXXXX)
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
        echo "h2_switch_load: logs kept in $TMP" >&2
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
METRICS_PORT=$(free_port)
start blue "$SA" --service app --version 1.0.0 --port "$BLUE_PORT" --slot blue
start green "$SA" --service app --version 2.0.0 --port "$GREEN_PORT" --slot green
wait_get "http://127.0.0.1:$BLUE_PORT/actuator/health" UP 20 || fail "sample-app blue not healthy"
wait_get "http://127.0.0.1:$GREEN_PORT/actuator/health" UP 20 || fail "sample-app green not healthy"

mkdir -p "$TMP/state"
cat >"$TMP/bg.yaml" <<YAML
listen: 127.0.0.1:$PROXY_PORT
metrics_listen: 127.0.0.1:$METRICS_PORT
admin: unix:$TMP/bg.sock
state_dir: $TMP/state
access_log: $TMP/access.log
workers: 2
http2: {h2c: true}
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
body=$(curl -sf --http2-prior-knowledge "http://127.0.0.1:$PROXY_PORT/") || fail "no HTTP/2 answer"
[[ "$body" =~ $SLOT_RE ]] || fail "HTTP/2 answer not from blue: $body"
say "serving h2c on 127.0.0.1:$PROXY_PORT (blue :$BLUE_PORT v1.0.0, green :$GREEN_PORT v2.0.0)"

H2LOAD=(h2load -c 8 -m 10 -t 1)
# A fixed request count (-n), not a duration: with -D h2load abandons the streams still in
# flight when time is up, which the access log rightly shows as unanswered.
"${H2LOAD[@]}" -n 20000 "http://127.0.0.1:$PROXY_PORT/" >"$TMP/calibrate.log" 2>&1 || fail "h2load calibration failed"
rps=$(awk '/^finished in/ {gsub(",", "", $4); printf "%d", $4}' "$TMP/calibrate.log")
[ "${rps:-0}" -gt 0 ] || fail "calibration served no requests: $(cat "$TMP/calibrate.log")"
secs=$(((MIN_REQUESTS * 14 / 10 + rps - 1) / rps))
[ $secs -ge 10 ] || secs=10
[ $secs -le $MAX_SECONDS ] || fail "only $rps req/s: $MIN_REQUESTS requests would need more than ${MAX_SECONDS}s"
total=$((rps * secs))
[ $total -ge "$MIN_REQUESTS" ] || total=$MIN_REQUESTS
say "calibrated at $rps req/s: h2load -c 8 -m 10 -n $total (~${secs}s) with $SWITCHES switches"

"${H2LOAD[@]}" -n "$total" "http://127.0.0.1:$PROXY_PORT/" >"$TMP/h2load.log" 2>&1 &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
gap=$(awk -v d="$secs" -v s=$SWITCHES 'BEGIN {printf "%.3f", d / (s + 2)}')
slot=blue
for ((i = 1; i <= SWITCHES; i++)); do
    sleep "$gap"
    if [ $slot = blue ]; then slot=green; traffic blue=0 green=100; else slot=blue; traffic blue=100 green=0; fi ||
        fail "switch $i (to $slot): bluegreen traffic failed: $(tail -n 5 "$TMP/traffic.log")"
    say "switch $i -> $slot"
done
wait $LOAD_PID || fail "h2load failed: $(cat "$TMP/h2load.log")"
cat "$TMP/h2load.log"
kill -0 "$SERVE_PID" 2>/dev/null || fail "bluegreen serve exited during the run"

req=$(grep '^requests:' "$TMP/h2load.log") || fail "no requests line from h2load"
codes=$(grep '^status codes:' "$TMP/h2load.log") || fail "no status codes line from h2load"
num() { echo "$1" | tr ',' '\n' | awk -v k="$2" '$0 ~ k {print $1}' | tail -n 1; }
n_done=$(echo "$req" | awk '{print $2}')
n_ok=$(echo "$req" | sed -E 's/.* ([0-9]+) succeeded.*/\1/')
n_failed=$(echo "$req" | sed -E 's/.* ([0-9]+) failed.*/\1/')
n_errored=$(echo "$req" | sed -E 's/.* ([0-9]+) errored.*/\1/')
n_timeout=$(echo "$req" | sed -E 's/.* ([0-9]+) timeout.*/\1/')
n_2xx=$(echo "$codes" | sed -E 's/status codes: ([0-9]+) 2xx.*/\1/')
n_not2xx=$(($(echo "$codes" | sed -E 's/.* 2xx, ([0-9]+) 3xx, ([0-9]+) 4xx, ([0-9]+) 5xx.*/\1+\2+\3/')))
say "requests=$n_done succeeded=$n_ok failed=$n_failed errored=$n_errored timeout=$n_timeout 2xx=$n_2xx"

ok=1
[ "$n_failed" -eq 0 ] && [ "$n_errored" -eq 0 ] && [ "$n_timeout" -eq 0 ] ||
    { echo "h2_switch_load: failed=$n_failed errored=$n_errored timeout=$n_timeout" >&2; ok=0; }
[ "$n_ok" -eq "$total" ] && [ "$n_2xx" -ge "$n_ok" ] && [ "$n_not2xx" -eq 0 ] ||
    { echo "h2_switch_load: $n_ok of $total succeeded, $n_2xx 2xx, $n_not2xx not 2xx" >&2; ok=0; }
[ "$n_ok" -ge "$MIN_REQUESTS" ] || { echo "h2_switch_load: only $n_ok requests (< $MIN_REQUESTS)" >&2; ok=0; }
# The access log is written by its own thread every 250 ms: wait until it has them all.
deadline=$((SECONDS + 20))
while [ "$(grep -c '"protocol":"HTTP/2.0"' "$TMP/access.log" 2>/dev/null || true)" -lt $((n_ok + 20001)) ] &&
    [ $SECONDS -lt $deadline ]; do sleep 0.2; done
h2_blue=$(grep '"protocol":"HTTP/2.0"' "$TMP/access.log" | grep -c '"slot":"blue"' || true)
h2_green=$(grep '"protocol":"HTTP/2.0"' "$TMP/access.log" | grep -c '"slot":"green"' || true)
h2_bad=$(grep '"protocol":"HTTP/2.0"' "$TMP/access.log" | grep -vc '"status":200' || true)
say "access log: HTTP/2.0 lines blue=$h2_blue green=$h2_green non-200=$h2_bad"
[ "$h2_blue" -gt 0 ] && [ "$h2_green" -gt 0 ] || { echo "h2_switch_load: HTTP/2 requests not served by both slots" >&2; ok=0; }
[ "$h2_bad" -eq 0 ] || { echo "h2_switch_load: $h2_bad HTTP/2 lines not 200" >&2; ok=0; }
metrics=$(curl -sf "http://127.0.0.1:$METRICS_PORT/metrics") || { echo "h2_switch_load: no /metrics" >&2; ok=0; }
streams=$(echo "$metrics" | awk '/^bluegreen_http2_streams_total / {print $2}')
say "metrics: bluegreen_http2_streams_total=$streams"
[ "${streams:-0}" -ge "$n_ok" ] || { echo "h2_switch_load: /metrics counts ${streams:-no} HTTP/2 streams" >&2; ok=0; }
wait_get "http://127.0.0.1:$PROXY_PORT/" "$SLOT_RE" 5 || { echo "h2_switch_load: not back on blue after $SWITCHES switches" >&2; ok=0; }
[ $ok = 1 ] || fail "assertions failed"
say "PASS"
