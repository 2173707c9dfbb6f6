#!/usr/bin/env bash
# tests/e2e/h2_switch_load.sh — zero failed HTTP/2 requests across 10 blue<->green switches.
#
# The HTTP/2 twin of switch_load.sh: sample-app blue (v1) and green (v2) behind
# `bluegreen serve` with `http2: {h2c: true}` and an access log, h2load (nghttp2-client)
# with 8 connections x 10 concurrent streams (-m 10) long enough for >= 50,000 requests
# while `bluegreen traffic` moves all traffic between blue and green 10 times. Asserts:
# h2load 0 failed / errored / timed out and only 2xx; the access log has HTTP/2.0 lines
# from both slots; /metrics counts HTTP/2 streams. Run from the repo root; binaries from
# $BG_BUILD_DIR or build/. A missing binary or tool is a failure, never a skip. The stack
# and h2load helpers: tests/support/stack_lib.sh.
set -euo pipefail
# shellcheck source=tests/support/stack_lib.sh
source "$(dirname "$0")/../support/stack_lib.sh"
stack_init h2_switch_load h2load curl python3
MIN_REQUESTS=${H2_SWITCH_MIN_REQUESTS:-50000}
SWITCHES=10
MAX_SECONDS=200 # h2load duration cap, inside the ctest TIMEOUT of 300

PROXY_PORT=$(free_port)
METRICS_PORT=$(free_port)
start_blue_green
write_config "listen: 127.0.0.1:$PROXY_PORT
metrics_listen: 127.0.0.1:$METRICS_PORT" "access_log: $TMP/access.log
http2: {h2c: true}"
start_serve
SLOT_RE='"slot" *: *"blue"'
wait_get "http://127.0.0.1:$PROXY_PORT/" "$SLOT_RE" 30 || fail "bluegreen serve does not route to blue"
body=$(curl -sf --http2-prior-knowledge "http://127.0.0.1:$PROXY_PORT/") || fail "no HTTP/2 answer"
[[ "$body" =~ $SLOT_RE ]] || fail "HTTP/2 answer not from blue: $body"
say "serving h2c on 127.0.0.1:$PROXY_PORT (blue :$BLUE_PORT v1.0.0, green :$GREEN_PORT v2.0.0)"

H2LOAD=(h2load -c 8 -m 10 -t 1)
# A fixed request count (-n), not a duration: with -D h2load abandons the streams still in
# flight when time is up, which the access log rightly shows as unanswered.
"${H2LOAD[@]}" -n 20000 "http://127.0.0.1:$PROXY_PORT/" >"$TMP/calibrate.log" 2>&1 || fail "h2load calibration failed"
h2load_rps "$TMP/calibrate.log"
load_seconds "$RPS" "$MIN_REQUESTS" 10 $MAX_SECONDS
total=$((RPS * LOAD_SECS))
[ $total -ge "$MIN_REQUESTS" ] || total=$MIN_REQUESTS
say "calibrated at $RPS req/s: h2load -c 8 -m 10 -n $total (~${LOAD_SECS}s) with $SWITCHES switches"

start h2load "${H2LOAD[@]}" -n "$total" "http://127.0.0.1:$PROXY_PORT/"
LOAD_PID=${PIDS[-1]}
switch_slots $SWITCHES "$LOAD_SECS"
wait $LOAD_PID || fail "h2load failed: $(cat "$TMP/h2load.log")"
cat "$TMP/h2load.log"
kill -0 "$SERVE_PID" 2>/dev/null || fail "bluegreen serve exited during the run"

# All $total succeeded, 0 failed / errored / timeout, only 2xx.
h2load_check "$TMP/h2load.log" "$total"
n_ok=$SUCCEEDED
ok=1
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
