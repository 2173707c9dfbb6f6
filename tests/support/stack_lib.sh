# shellcheck shell=bash
# tests/support/stack_lib.sh — sourced by the shell e2e scenarios that run a real
# `bluegreen serve` stack under load (tests/e2e/switch_load.sh, reload_load.sh,
# h2_switch_load.sh, and through tests/e2e/tls_lib.sh tls_*.sh and h2_tls.sh).
#
# What it gives: the binaries ($BG, $SA), a private $TMP, processes started in the
# background and ended at exit by PID only (never by name), ephemeral loopback ports,
# waits on conditions with deadlines, the blue/green sample-apps and the `bluegreen serve`
# config around them, and the load generators (wrk with bench/count.lua, h2load) with the
# parsing of their counts into pass/fail.
#
# Sourcing defines functions and a few paths only; stack_init does the work. Usage:
#   source "$(dirname "$0")/../support/stack_lib.sh"
#   stack_init my_test wrk curl python3
#   start_blue_green
#   write_config "listen: 127.0.0.1:$(free_port)" ...
# A missing binary or tool is a failure, never a skip. Run from the repository root;
# binaries from $BG_BUILD_DIR (ctest sets it) or build/.

BG_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
COUNT_LUA=$BG_REPO/bench/count.lua # the wrk script the switch benchmark uses too

# ---- set-up and teardown --------------------------------------------------------------------

# abs_path PATH: PATH made absolute when its directory exists, else PATH unchanged (so
# a missing build directory is reported as a missing binary by stack_init).
abs_path() {
    local d
    d=$(cd "$(dirname "$1")" 2>/dev/null && pwd) && echo "$d/$(basename "$1")" || echo "$1"
}

# fail MESSAGE...: prints "NAME: FAIL: MESSAGE" on stderr and exits 1 (the EXIT trap then
# ends the processes and shows the logs).
fail() {
    echo "$NAME: FAIL: $*" >&2
    exit 1
}
# say MESSAGE...: a progress line "NAME: MESSAGE" on stdout.
say() { echo "$NAME: $*"; }

# stack_init NAME TOOL...: sets NAME (the prefix of every message), BUILD, BG and SA
# (absolute paths to bluegreen and sample-app), fails unless both are executable and every
# TOOL is on PATH, makes the private directory $TMP (/tmp/bg-NAME.XXXXXX) and the PIDS
# array, and installs the EXIT trap (stack_cleanup) and INT/TERM traps (exit 130).
# STACK_LOG_TAIL (default 30): how many lines of each $TMP/*.log a failure shows.
stack_init() {
    NAME=$1
    shift
    BUILD=${BG_BUILD_DIR:-build}
    BG=$(abs_path "$BUILD/bluegreen")
    SA=$(abs_path "$BUILD/sample-app")
    local bin tool
    for bin in "$BG" "$SA"; do
        [ -x "$bin" ] || fail "missing binary $bin (build it; BG_BUILD_DIR=${BG_BUILD_DIR:-unset})"
    done
    for tool in "$@"; do
        command -v "$tool" >/dev/null || fail "missing tool $tool"
    done
    TMP=$(mktemp -d "/tmp/bg-$NAME.XXXXXX")
    PIDS=()
    trap stack_cleanup EXIT
    trap 'exit 130' INT TERM
}

# stack_cleanup: the EXIT trap. Calls the caller's stack_on_exit first when it is defined
# (e.g. `bluegreen shutdown --stop-targets` for a process-driver daemon), then ends every
# process in PIDS, newest first: SIGTERM, up to 5 s, then SIGKILL, each by its PID. On
# failure (non-zero exit status) shows the tail of every $TMP/*.log and keeps $TMP; on
# success removes it.
stack_cleanup() {
    local rc=$? p i f
    if declare -F stack_on_exit >/dev/null; then stack_on_exit || true; fi
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
            tail -n "${STACK_LOG_TAIL:-30}" "$f" >&2 || true
        done
        echo "$NAME: logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}

# ---- processes, ports, waits ----------------------------------------------------------------

# free_port: prints a free ephemeral TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# start NAME CMD...: runs CMD in the background, stdin /dev/null, stdout+stderr to
# $TMP/NAME.log; its PID is appended to PIDS (ended by stack_cleanup).
start() {
    local name=$1
    shift
    "$@" >"$TMP/$name.log" 2>&1 </dev/null &
    PIDS+=("$!")
}
# wait_get URL PATTERN SECS [CURL ARGS...]: until GET URL answers 2xx with a body matching
# the bash regex PATTERN; returns 1 after SECS seconds.
wait_get() {
    local url=$1 pat=$2 deadline=$((SECONDS + $3)) body
    shift 3
    while :; do
        body=$(curl -sf --max-time 2 "$@" "$url" 2>/dev/null || true)
        if [ -n "$body" ] && [[ "$body" =~ $pat ]]; then return 0; fi
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}
# bgcli ARGS...: the bluegreen CLI against the daemon's admin socket $TMP/bg.sock.
bgcli() { "$BG" --admin "unix:$TMP/bg.sock" "$@"; }

# ---- the blue/green stack -------------------------------------------------------------------

# start_blue_green: sample-app `app` blue (1.0.0) and green (2.0.0) on free ports (sets
# BLUE_PORT, GREEN_PORT; logs blue.log, green.log); returns once both are healthy (20 s
# each, else fail).
start_blue_green() {
    BLUE_PORT=$(free_port)
    GREEN_PORT=$(free_port)
    start blue "$SA" --service app --version 1.0.0 --port "$BLUE_PORT" --slot blue
    start green "$SA" --service app --version 2.0.0 --port "$GREEN_PORT" --slot green
    wait_get "http://127.0.0.1:$BLUE_PORT/actuator/health" UP 20 || fail "sample-app blue not healthy"
    wait_get "http://127.0.0.1:$GREEN_PORT/actuator/health" UP 20 || fail "sample-app green not healthy"
}

# write_config LISTEN_YAML [TOP_YAML [SERVICES_YAML]]: writes $TMP/bg.yaml (and makes
# $TMP/state): LISTEN_YAML (top-level lines, e.g. "listen: 127.0.0.1:PORT"), the admin
# socket $TMP/bg.sock, state_dir, 2 workers, TOP_YAML (more top-level lines), then the
# services: SERVICES_YAML (more services, indented by 2) and `app`, static driver, on
# BLUE_PORT/GREEN_PORT with all traffic on blue and an actuator health check every 1s.
write_config() {
    mkdir -p "$TMP/state"
    {
        printf '%s\n' "$1"
        printf 'admin: unix:%s/bg.sock\nstate_dir: %s/state\nworkers: 2\n' "$TMP" "$TMP"
        [ -z "${2:-}" ] || printf '%s\n' "$2"
        echo "services:"
        [ -z "${3:-}" ] || printf '%s\n' "$3"
        cat <<YAML
  app:
    route: {path_prefix: /}
    driver: static
    targets: {blue: ["127.0.0.1:$BLUE_PORT"], green: ["127.0.0.1:$GREEN_PORT"]}
    traffic: {blue: 100, green: 0}
    health: {path: /actuator/health, interval: 1s}
YAML
    } >"$TMP/bg.yaml"
}

# start_serve [NAME]: `bluegreen serve -c $TMP/bg.yaml` in the background (log
# $TMP/NAME.log, default serve.log); sets SERVE_PID. The caller waits for readiness (wait_get
# on the listener).
start_serve() {
    start "${1:-serve}" "$BG" serve -c "$TMP/bg.yaml"
    # shellcheck disable=SC2034 # for the sourcing script
    SERVE_PID=${PIDS[-1]}
}

# switch_slots N SECS: moves all of app's traffic blue -> green -> blue ... N times over a
# load of about SECS seconds, one switch every SECS/(N+2) s (load before the first and
# after the last); each `bluegreen traffic` must succeed (output in $TMP/traffic.log). The
# sleeps pace the load pattern; nothing synchronises on them. Ends on the slot N implies.
switch_slots() {
    local n=$1 gap slot=blue i
    gap=$(awk -v d="$2" -v s="$n" 'BEGIN {printf "%.3f", d / (s + 2)}')
    for ((i = 1; i <= n; i++)); do
        sleep "$gap"
        if [ $slot = blue ]; then slot=green; set -- blue=0 green=100; else slot=blue; set -- blue=100 green=0; fi
        bgcli traffic app "$@" >>"$TMP/traffic.log" 2>&1 ||
            fail "switch $i (to $slot): bluegreen traffic failed: $(tail -n 5 "$TMP/traffic.log")"
        say "switch $i -> $slot"
    done
}

# ---- load generators ------------------------------------------------------------------------
# The functions that compute a value set a variable (RPS, LOAD_SECS, COUNTS, REQUESTS,
# SUCCEEDED) rather than print it, so that `fail` inside them ends the test itself.

# load_seconds RPS MIN_REQUESTS MIN_SECS MAX_SECS: sets LOAD_SECS to how long a load at RPS
# requests/s must run for MIN_REQUESTS with 40% to spare, at least MIN_SECS; fails when that
# is more than MAX_SECS (the machine is too slow for the test's time bound).
load_seconds() {
    local rps=$1 want=$2
    LOAD_SECS=$(((want * 14 / 10 + rps - 1) / rps))
    [ "$LOAD_SECS" -ge "$3" ] || LOAD_SECS=$3
    [ "$LOAD_SECS" -le "$4" ] || fail "only $rps req/s: $want requests would need more than $4s"
}

# wrk_calibrate URL: a 2 s wrk run (-t1 -c32, log $TMP/calibrate.log); sets RPS to the
# requests/s it reached; fails when wrk failed or served nothing.
wrk_calibrate() {
    wrk -t1 -c32 -d2s "$1" >"$TMP/calibrate.log" 2>&1 || fail "wrk calibration run failed"
    RPS=$(awk '/^Requests\/sec:/ {printf "%d", $2}' "$TMP/calibrate.log")
    [ "${RPS:-0}" -gt 0 ] || fail "calibration served no requests: $(cat "$TMP/calibrate.log")"
}

# wrk_load LOG CONNS SECS URL [WRK ARGS...]: starts wrk -t1 -cCONNS for SECS seconds
# (--timeout 5s, bench/count.lua, then WRK ARGS) against URL in the background, output in
# $TMP/LOG.log; sets LOAD_PID (also in PIDS). Wait for it with `wait $LOAD_PID`, or stop it
# early with `kill -INT $LOAD_PID` (wrk still prints its counts).
wrk_load() {
    local log=$1 conns=$2 secs=$3 url=$4
    shift 4
    start "$log" wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s -s "$COUNT_LUA" "$@" "$url"
    # shellcheck disable=SC2034 # for the sourcing script
    LOAD_PID=${PIDS[-1]}
}

# wrk_counts FILE: sets COUNTS to the line bench/count.lua printed into FILE ("COUNTS
# requests=N non2xx=N blue=N green=N other=N connect=N read=N write=N timeout=N status=N");
# fails when there is none.
wrk_counts() {
    COUNTS=$(grep '^COUNTS ' "$1") || fail "no COUNTS line from the wrk script: $(cat "$1")"
}
# count KEY: prints the number after KEY= on $COUNTS; fails when it is absent or not a
# number (in $(...) the caller's `set -e` ends the test).
count() {
    local v
    v=$(echo "$COUNTS" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k && $2 ~ /^[0-9]+$/ {print $2}')
    [ -n "$v" ] || fail "COUNTS line lacks $1: $COUNTS"
    echo "$v"
}
# wrk_check FILE: the wrk run in FILE had no failed request: 0 non-2xx (non2xx, status) and
# 0 socket errors (connect, read, write, timeout) on its COUNTS line; each non-zero count is
# shown, then fail. Sets COUNTS and REQUESTS (the number of requests) and prints REQUESTS
# (so `n=$(wrk_check FILE)` works too, without the variables).
wrk_check() {
    local k v bad=0
    wrk_counts "$1"
    for k in non2xx status connect read write timeout; do
        v=$(count $k) || exit 1
        [ "$v" -eq 0 ] || { echo "$NAME: $k=$v" >&2; bad=1; }
    done
    [ $bad = 0 ] || fail "failed requests under load: $COUNTS"
    REQUESTS=$(count requests) || exit 1
    echo "$REQUESTS"
}

# h2load_rps FILE: sets RPS to the requests/s of the finished h2load run in FILE; fails when
# it served nothing.
h2load_rps() {
    RPS=$(awk '/^finished in/ {gsub(",", "", $4); printf "%d", $4}' "$1")
    [ "${RPS:-0}" -gt 0 ] || fail "calibration served no requests: $(cat "$1")"
}
# h2load_check FILE TOTAL: the h2load run (-n TOTAL) in FILE had no failed request: all
# TOTAL succeeded, 0 failed / errored / timeout, only 2xx status codes (none 3xx, 4xx, 5xx,
# and at least as many 2xx as succeeded). Shows its requests and status codes lines; sets
# SUCCEEDED.
h2load_check() {
    local req codes
    req=$(grep '^requests:' "$1") || fail "no requests line from h2load: $(cat "$1")"
    codes=$(grep '^status codes:' "$1") || fail "no status codes line from h2load: $(cat "$1")"
    say "$req / $codes"
    [[ "$req" =~ \ ([0-9]+)\ succeeded,\ 0\ failed,\ 0\ errored,\ 0\ timeout ]] ||
        fail "failed requests: $req"
    SUCCEEDED=${BASH_REMATCH[1]}
    [ "$SUCCEEDED" -eq "$2" ] || fail "$SUCCEEDED of $2 requests succeeded: $req"
    [[ "$codes" =~ ^status\ codes:\ ([0-9]+)\ 2xx,\ 0\ 3xx,\ 0\ 4xx,\ 0\ 5xx ]] ||
        fail "non-2xx answers: $codes"
    [ "${BASH_REMATCH[1]}" -ge "$SUCCEEDED" ] || fail "only ${BASH_REMATCH[1]} 2xx for $SUCCEEDED succeeded: $codes"
}
