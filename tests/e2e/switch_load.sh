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
# The stack and wrk helpers: tests/support/stack_lib.sh.
set -euo pipefail
# shellcheck source=tests/support/stack_lib.sh
source "$(dirname "$0")/../support/stack_lib.sh"
stack_init switch_load wrk curl python3
MIN_REQUESTS=${SWITCH_LOAD_MIN_REQUESTS:-100000}
SWITCHES=10
MAX_SECONDS=200 # wrk duration cap, inside the ctest TIMEOUT of 300

PROXY_PORT=$(free_port)
start_blue_green
write_config "listen: 127.0.0.1:$PROXY_PORT"
start_serve
SLOT_RE='"slot" *: *"blue"'
wait_get "http://127.0.0.1:$PROXY_PORT/" "$SLOT_RE" 30 || fail "bluegreen serve does not route to blue"
say "serving on 127.0.0.1:$PROXY_PORT (blue :$BLUE_PORT v1.0.0, green :$GREEN_PORT v2.0.0)"

# Calibrate: how long must wrk run for MIN_REQUESTS on this build (sanitizers) and machine?
wrk_calibrate "http://127.0.0.1:$PROXY_PORT/"
load_seconds "$RPS" "$MIN_REQUESTS" 10 $MAX_SECONDS
say "calibrated at $RPS req/s: wrk -t1 -c32 for ${LOAD_SECS}s with $SWITCHES switches"

wrk_load wrk 32 "$LOAD_SECS" "http://127.0.0.1:$PROXY_PORT/"
# Switches spread over the run, with load before the first and after the last.
switch_slots $SWITCHES "$LOAD_SECS"
wait $LOAD_PID || fail "wrk failed: $(cat "$TMP/wrk.log")"
cat "$TMP/wrk.log"
kill -0 "$SERVE_PID" 2>/dev/null || fail "bluegreen serve exited during the run"

wrk_check "$TMP/wrk.log" >/dev/null # 0 non-2xx, 0 socket errors
c_blue=$(count blue)
c_green=$(count green)
c_other=$(count other)
say "requests=$REQUESTS blue=$c_blue green=$c_green other=$c_other, 0 non-2xx, 0 socket errors"

ok=1
[ "$REQUESTS" -ge "$MIN_REQUESTS" ] || { echo "switch_load: only $REQUESTS requests (< $MIN_REQUESTS)" >&2; ok=0; }
[ "$c_blue" -gt 0 ] && [ "$c_green" -gt 0 ] || { echo "switch_load: responses not from both slots (blue=$c_blue green=$c_green)" >&2; ok=0; }
[ "$c_other" -eq 0 ] || { echo "switch_load: $c_other responses named no slot" >&2; ok=0; }
# 10 switches from blue end on blue: the live slot must be blue again.
wait_get "http://127.0.0.1:$PROXY_PORT/" "$SLOT_RE" 5 || { echo "switch_load: not back on blue after $SWITCHES switches" >&2; ok=0; }
[ $ok = 1 ] || fail "assertions failed"
say "PASS"
