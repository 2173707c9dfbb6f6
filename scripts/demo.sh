#!/usr/bin/env bash
# Zero-downtime demo: two sample-app revisions of `orders` (v1 in blue, v2 in green) behind
# `bluegreen serve` on the static driver. wrk drives steady keep-alive traffic through the
# load balancer while the CLI moves all traffic to green and back to blue; at the end the
# demo prints how many responses each slot served and how many requests failed (non-2xx
# plus socket errors). Exits 0 only if none failed and both slots served traffic.
#
# Environment: DEMO_SECONDS (default 12), DEMO_CONNECTIONS (default 16), KEEP_DEMO_DIR=1
# keeps the temporary directory with the config and logs.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TOTAL=${DEMO_SECONDS:-12}
CONNECTIONS=${DEMO_CONNECTIONS:-16}

say() { printf '\n== %s\n' "$*"; }

say "dependencies"
scripts/install-deps.sh

say "build (release, build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBG_SANITIZE= -DBG_WERROR=OFF >/dev/null
cmake --build build -j2 --target bluegreen sample-app

BG=$PWD/build/bluegreen
APP=$PWD/build/sample-app
DIR=$(mktemp -d /tmp/bluegreen-demo.XXXXXX)
PIDS=()
WRK_PID=

cleanup() {
  local pid
  for pid in $WRK_PID "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $WRK_PID "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "${KEEP_DEMO_DIR:-0}" = 1 ]; then
    echo "demo files kept in $DIR"
  else
    rm -rf "$DIR"
  fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "demo: timed out waiting for $what" >&2
      return 1
    fi
    sleep 0.1
  done
}

P_BLUE=$(free_port)
P_GREEN=$(free_port)
P_LB=$(free_port)
ADMIN="unix:$DIR/bg.sock"
BGCLI=("$BG" --admin "$ADMIN")

say "sample-app orders v1.0.0 (blue) on :$P_BLUE, v2.0.0 (green) on :$P_GREEN"
"$APP" --service orders --version 1.0.0 --slot blue --port "$P_BLUE" >"$DIR/blue.log" 2>&1 &
PIDS+=($!)
"$APP" --service orders --version 2.0.0 --slot green --port "$P_GREEN" >"$DIR/green.log" 2>&1 &
PIDS+=($!)
wait_for 10 "blue target" curl -fsS "http://127.0.0.1:$P_BLUE/actuator/health"
wait_for 10 "green target" curl -fsS "http://127.0.0.1:$P_GREEN/actuator/health"

CONFIG=$DIR/bluegreen.yaml
cat >"$CONFIG" <<YAML
listen: 127.0.0.1:$P_LB
admin: $ADMIN
state_dir: $DIR/state
services:
  orders:
    route: {path_prefix: /}
    driver: static
    targets: {blue: ["127.0.0.1:$P_BLUE"], green: ["127.0.0.1:$P_GREEN"]}
    traffic: {blue: 100, green: 0}
    health: {path: /actuator/health, interval: 1s}
YAML
say "config ($CONFIG)"
cat "$CONFIG"
"$BG" check-config -c "$CONFIG"

say "bluegreen serve on :$P_LB (admin $ADMIN)"
"$BG" serve -c "$CONFIG" >"$DIR/bluegreen.log" 2>&1 &
PIDS+=($!)
lb_serves_blue() {
  curl -fsS "http://127.0.0.1:$P_LB/" | grep -q '"slot":"blue"'
}
if ! wait_for 15 "bluegreen admin API" "${BGCLI[@]}" status ||
  ! wait_for 15 "traffic through the load balancer" lb_serves_blue; then
  echo "--- bluegreen.log" >&2
  tail -n 30 "$DIR/bluegreen.log" >&2
  exit 1
fi
"${BGCLI[@]}" status

# Counts responses per slot from the JSON body, and non-2xx, summed over wrk's threads.
cat >"$DIR/count.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) blue, green, other, non2xx = 0, 0, 0, 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  local slot = body and body:match('"slot":"(%a+)"')
  if slot == "blue" then blue = blue + 1
  elseif slot == "green" then green = green + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local b, g, o, n = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    b = b + t:get("blue"); g = g + t:get("green")
    o = o + t:get("other"); n = n + t:get("non2xx")
  end
  local e = summary.errors
  local sock = e.connect + e.read + e.write + e.timeout
  io.write(string.format("RESULT requests=%d blue=%d green=%d other=%d non2xx=%d socket_errors=%d p99_ms=%.2f\n",
    summary.requests, b, g, o, n, sock, latency:percentile(99) / 1000))
end
LUA

say "wrk: ${SECONDS_TOTAL}s of keep-alive traffic over $CONNECTIONS connections"
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_TOTAL}s" -T2s -s "$DIR/count.lua" \
  "http://127.0.0.1:$P_LB/" >"$DIR/wrk.out" 2>&1 &
WRK_PID=$!

third=$((SECONDS_TOTAL / 3))
sleep "$third"
say "switch: all traffic to green"
"${BGCLI[@]}" traffic orders blue=0 green=100
sleep "$third"
say "switch back: all traffic to blue"
"${BGCLI[@]}" traffic orders blue=100 green=0
wait "$WRK_PID" || true
WRK_PID=

say "wrk"
cat "$DIR/wrk.out"
result=$(grep '^RESULT' "$DIR/wrk.out" || true)
if [ -z "$result" ]; then
  echo "demo: wrk printed no result" >&2
  exit 1
fi
val() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$result"; }
blue=$(val blue)
green=$(val green)
failed=$(($(val non2xx) + $(val socket_errors)))

say "result"
printf '  served by blue:  %s\n  served by green: %s\n  failed requests: %s\n' \
  "$blue" "$green" "$failed"
if [ "$failed" -eq 0 ] && [ "$blue" -gt 0 ] && [ "$green" -gt 0 ]; then
  echo "  zero downtime: every request succeeded across both switches"
else
  echo "  NOT zero downtime (logs: set KEEP_DEMO_DIR=1 and look in the demo directory)"
  exit 1
fi
