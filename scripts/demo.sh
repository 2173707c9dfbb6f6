#!/usr/bin/env bash
# The bluegreen demo: the whole deployment story on the embedded process driver, under
# steady keep-alive traffic.
#
# `bluegreen serve` runs two services from scripts/demo/bluegreen.yaml, `orders` (1.0.0,
# two instances) and `payments` (1.9.2), both build/sample-app processes it starts itself.
# wrk sends traffic to both through the load balancer from start to end; each step gets a
# fresh wrk (started before the previous one stops, so the traffic never pauses) and
# reports its own failed requests (non-2xx answers plus socket errors).
#
#   a. orders 2.0.0: canary 20%, promoted by hand            -> SUCCEEDED, 0 failed
#   b. orders 2.1.0: health never passes                     -> ROLLED_BACK in POST_SCALE_UP, 0 failed
#   c. orders 2.2.0: 50% errors, rollback_on error_rate 5%   -> ROLLED_BACK during its canary;
#                                                               failures only from the canary
#   d. orders 2.3.0, then `bluegreen rollback` in the termination wait -> instant, 0 failed
#   e. orders 3.0.0 needs payments ^2: REFUSED by the compatibility gate (exit 3); `plan`
#      explains the release, `release` deploys payments 2.0.0 then orders 3.0.0, 0 failed
#   f. `bluegreen history orders`
#
# Ends with a summary table and exits 0 only if every step had the expected outcome and
# every zero-failure step had no failed request; then the daemon is stopped with
# `bluegreen shutdown --stop-targets` (SIGTERM alone would leave its instances running for
# the next `serve` to re-adopt) and the demo checks that none of the sample-apps it ran
# remain.
#
# Usage: scripts/demo.sh [--build-dir DIR] [--no-install]
#   --build-dir DIR  use DIR/bluegreen and DIR/sample-app as they are (no build); default:
#                    a release build in build/ (configured and built here)
#   --no-install     do not run scripts/install-deps.sh (wrk, jq and curl must be there)
# Environment: DEMO_CONNECTIONS (default 8), DEMO_DELAY_MS (pause between requests per
# connection, default 20: about 350 requests/s), KEEP_DEMO_DIR=1 keeps the temporary
# directory (config, logs, state, wrk outputs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=$ROOT/scripts/demo

usage() { sed -n '/^# Usage:/,/^# directory/s/^# \{0,1\}//p' "$0"; }

BUILD_DIR=
INSTALL=1
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) [ $# -ge 2 ] || { usage >&2; exit 2; }; BUILD_DIR=$2; shift 2 ;;
    --build-dir=*) BUILD_DIR=${1#--build-dir=}; shift ;;
    --no-install) INSTALL=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "demo: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

CONNECTIONS=${DEMO_CONNECTIONS:-8}
DELAY_MS=${DEMO_DELAY_MS:-20}

if [ -t 1 ]; then
  B=$'\e[1m' R=$'\e[31m' G=$'\e[32m' N=$'\e[0m'
else
  B='' R='' G='' N=''
fi
say() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
info() { printf '   %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }

# ---- dependencies and build ---------------------------------------------------------------
if [ "$INSTALL" = 1 ]; then
  say "dependencies"
  scripts/install-deps.sh
fi
if [ -z "$BUILD_DIR" ]; then
  say "build (release, build/)"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBG_SANITIZE= -DBG_WERROR=OFF >/dev/null
  cmake --build build -j2 --target bluegreen sample-app
  BUILD_DIR=build
fi
BG=$(cd "$BUILD_DIR" && pwd)/bluegreen
APP=$(cd "$BUILD_DIR" && pwd)/sample-app
[ -x "$BG" ] || die "$BG is missing (build it, or drop --build-dir)"
[ -x "$APP" ] || die "$APP is missing (build it, or drop --build-dir)"
for tool in wrk jq curl timeout; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"
done

# ---- state, cleanup -----------------------------------------------------------------------
DIR=$(mktemp -d /tmp/bluegreen-demo.XXXXXX)
SERVE_PID=
WRK_PID=
BG_PID= # the background promoter of step a
CLEANED=0
LEFTOVER=0

# Every instance the daemon ran, as its driver handle "pid:PID:STARTTIME" (starttime from
# /proc/PID/stat: a PID that was reused since is not ours).
note_instances() {
  [ -n "$SERVE_PID" ] || return 0
  "${BGC[@]}" status --json 2>/dev/null |
    jq -r '.services[].slots[].targets[].instance.handle? // empty' >>"$DIR/handles" 2>/dev/null ||
    true
}

# The start time (field 22 of /proc/PID/stat) of a running, non-zombie PID; fails otherwise.
proc_start() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }  # after "PID (comm) "
  set -- $rest       # state is field 3, starttime field 22 = $20 here
  [ "$1" != Z ] || return 1
  echo "${20}"
}

# Sample-apps of the daemon's that are still running, one PID a line: those seen in
# `bluegreen status --json` (PID and start time match), and those its log says it started
# ("process started ... pid=N addr=127.0.0.1:PORT": same executable, same PORT).
leftover_instances() {
  local h pid start port
  {
    if [ -f "$DIR/handles" ]; then
      sort -u "$DIR/handles" | while IFS=: read -r h pid start; do
        if [ "$h" = pid ] && [ "$(proc_start "$pid" 2>/dev/null)" = "$start" ]; then echo "$pid"; fi
      done
    fi
    started_instances | while read -r pid port; do
      if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$APP" ] && [ -n "$(proc_start "$pid" 2>/dev/null)" ] &&
        tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "PORT=$port"; then
        echo "$pid"
      fi
    done
  } | sort -u
}

# "PID PORT" of every instance the daemon's log says it started.
started_instances() {
  sed -n 's/.*process started .* pid=\([0-9]*\) addr=[0-9.]*:\([0-9]*\).*/\1 \2/p' "$DIR/serve.log" 2>/dev/null || true
}

# Stops the daemon and its instances with `bluegreen shutdown --stop-targets` (SIGTERM
# if it does not answer: then its instances keep running and are found below) and checks
# that none of the sample-apps it ran remain; those that do are reported and killed by PID.
stop_daemon() {
  local pid deadline rc=0 left
  [ -n "$SERVE_PID" ] || return 0
  note_instances
  if ! "${BGC[@]}" shutdown --stop-targets >"$DIR/shutdown.out" 2>&1; then
    echo "demo: bluegreen shutdown --stop-targets failed: $(cat "$DIR/shutdown.out"); sending SIGTERM" >&2
    kill -TERM "$SERVE_PID" 2>/dev/null || true
  fi
  deadline=$((SECONDS + 30))
  while kill -0 "$SERVE_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if kill -0 "$SERVE_PID" 2>/dev/null; then
    echo "demo: bluegreen serve (pid $SERVE_PID) did not stop within 30s of shutdown; killing it" >&2
    kill -KILL "$SERVE_PID" 2>/dev/null || true
  fi
  wait "$SERVE_PID" 2>/dev/null || rc=$?
  SERVE_RC=$rc
  SERVE_PID=
  left=$(leftover_instances | tr '\n' ' ')
  if [ -n "$left" ]; then
    LEFTOVER=1
    echo "demo: sample-apps the daemon started still run after it stopped: pids $left(killing them)" >&2
    for pid in $left; do kill -TERM "$pid" 2>/dev/null || true; done
    sleep 1
    for pid in $(leftover_instances); do kill -KILL "$pid" 2>/dev/null || true; done
  fi
}

cleanup() {
  local rc=$?
  [ "$CLEANED" = 0 ] || return 0
  CLEANED=1
  trap - INT TERM
  [ -z "$WRK_PID" ] || kill -INT "$WRK_PID" 2>/dev/null || true # wrk stops on SIGINT
  [ -z "$BG_PID" ] || kill -TERM "$BG_PID" 2>/dev/null || true  # async subshells ignore it
  for pid in $WRK_PID $BG_PID; do wait "$pid" 2>/dev/null || true; done
  stop_daemon
  if [ "${KEEP_DEMO_DIR:-0}" = 1 ] || [ "$rc" != 0 ]; then
    echo "demo files kept in $DIR (config, serve.log, state/logs/, wrk-STEP.out)"
  else
    rm -rf "$DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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
      echo "demo: timed out after ${limit}s waiting for $what" >&2
      return 1
    fi
    sleep 0.1
  done
}

# ---- the daemon ---------------------------------------------------------------------------
P_LB=$(free_port)
export DEMO_PORT=$P_LB DEMO_DIR=$DIR SAMPLE_APP=$APP
CONFIG=$DIR/bluegreen.yaml
cp "$DEMO/bluegreen.yaml" "$CONFIG"
ADMIN="unix:$DIR/state/bluegreen.sock"
BGC=("$BG" --admin "$ADMIN")
LB=http://127.0.0.1:$P_LB

say "config: scripts/demo/bluegreen.yaml (DEMO_PORT=$P_LB DEMO_DIR=$DIR SAMPLE_APP=$APP)"
grep -v '^ *#' "$CONFIG" | sed 's/^/   /'
"$BG" check-config -c "$CONFIG" | sed 's/^/   /'

say "bluegreen serve: load balancer on $LB, admin $ADMIN"
"$BG" serve -c "$CONFIG" >"$DIR/serve.log" 2>&1 &
SERVE_PID=$!
all_healthy() {
  "${BGC[@]}" status --json |
    jq -e '[.services[] | .slots[.live_slot].targets[] | .healthy] | length == 3 and all' >/dev/null
}
if ! wait_for 20 "the admin API" "${BGC[@]}" status ||
  ! wait_for 20 "orders and payments healthy (3 instances)" all_healthy ||
  ! wait_for 10 "orders through the load balancer" curl -fsS "$LB/orders/" ||
  ! wait_for 10 "payments through the load balancer" curl -fsS "$LB/payments/"; then
  echo "--- serve.log" >&2
  tail -n 30 "$DIR/serve.log" >&2
  exit 1
fi
"${BGC[@]}" status || true
note_instances

# ---- traffic windows ----------------------------------------------------------------------
# traffic_window NEXT: starts the wrk of step NEXT (none if empty), lets it connect, then
# stops the current one (SIGINT: wrk prints its totals and the script's counts).
traffic_window() {
  local next=$1 old_pid=$WRK_PID
  WRK_PID=''
  if [ -n "$next" ]; then
    wrk -t2 -c"$CONNECTIONS" -d10m -T5s -s "$DEMO/traffic.lua" "$LB" -- "$DELAY_MS" \
      >"$DIR/wrk-$next.out" 2>&1 &
    WRK_PID=$!
    sleep 0.5
  fi
  if [ -n "$old_pid" ]; then
    kill -INT "$old_pid" 2>/dev/null || true
    wait "$old_pid" || true
  fi
}

# traffic_report STEP: prints what the traffic of STEP saw; sets T_FAILED (non-2xx plus
# socket errors; -1 when wrk printed nothing), T_REQUESTS, T_SOCKET, T_PROXY (failed
# answers not from an app: the load balancer's own 5xx) and T_FAILED_BY_<service>_<ver>.
traffic_report() {
  local out=$DIR/wrk-$1.out result line svc ver ok failed parts=()
  result=$(grep '^RESULT' "$out" || true)
  if [ -z "$result" ]; then
    T_FAILED=-1 T_REQUESTS=0 T_SOCKET=0 T_PROXY=0
    info "traffic: wrk printed no result (see $out)"
    return
  fi
  kv() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"; }
  T_REQUESTS=$(kv requests "$result")
  T_SOCKET=$(kv socket_errors "$result")
  T_FAILED=$(($(kv non2xx "$result") + T_SOCKET))
  T_PROXY=0
  FAILED_BY=()
  while read -r line; do
    [ -n "$line" ] || continue
    svc=$(sed -n 's/.*service=\([^ ]*\).*/\1/p' <<<"$line")
    ver=$(sed -n 's/.*version=\([^ ]*\).*/\1/p' <<<"$line")
    ok=$(kv ok "$line")
    failed=$(kv failed "$line")
    if [ "$svc" = proxy ]; then
      T_PROXY=$((T_PROXY + ok + failed))
      parts+=("load balancer $ver: $failed")
      continue
    fi
    FAILED_BY+=("$svc $ver:$failed")
    if [ "$failed" -gt 0 ]; then
      parts+=("$svc $ver: $ok ok, ${R}$failed failed${N}")
    else
      parts+=("$svc $ver: $ok")
    fi
  done < <(grep '^SERVED' "$out" | sort)
  info "traffic: $T_REQUESTS requests; answered by $(IFS=';'; echo "${parts[*]}" | sed 's/;/, /g')"
  if [ "$T_FAILED" -eq 0 ]; then
    info "failed requests: ${G}0${N}"
  else
    info "failed requests: ${R}$T_FAILED${N} (non-2xx $((T_FAILED - T_SOCKET)), socket errors $T_SOCKET)"
  fi
}

# failed_by "SERVICE VERSION": failed answers of that revision in the last report.
failed_by() {
  local e
  for e in "${FAILED_BY[@]}"; do
    if [ "${e%:*}" = "$1" ]; then echo "${e##*:}"; return; fi
  done
  echo 0
}

# ---- steps --------------------------------------------------------------------------------
ROWS=()
BAD=0
STEP_T0=0
# record STEP WHAT EXPECTED GOT FAILED OK(0/1): one row of the summary table.
record() {
  local verdict=ok secs
  secs=$(awk -v a="$STEP_T0" -v b="$(now_ms)" 'BEGIN { printf "%.1fs", (b - a) / 1000 }')
  if [ "$6" != 1 ]; then verdict=FAIL; BAD=$((BAD + 1)); fi
  ROWS+=("$1|$2|$3|$4|$5|$secs|$verdict")
  if [ "$verdict" = ok ]; then
    info "${G}step $1: as expected ($3)${N}"
  else
    info "${R}step $1: NOT as expected: wanted $3, got $4, failed requests $5${N}"
  fi
  note_instances
}

step() { # step ID TITLE
  say "step $1: $2"
  STEP_T0=$(now_ms)
}

# run_cli CMD...: runs a CLI command (bounded), its output shown as is; exit code in RC.
run_cli() {
  RC=0
  timeout --foreground 150 "${BGC[@]}" "$@" || RC=$?
}

# The newest deployment of SERVICE (JSON) into DEP.
last_deployment() {
  DEP=$("${BGC[@]}" history "$1" --limit 1 --json | jq -c '.deployments[0] // {}')
}
dep() { jq -r "$1 // empty" <<<"$DEP"; }
live_version() {
  "${BGC[@]}" status "$1" --json | jq -r '(.services[0] // .) | .slots[.live_slot].version'
}

LABEL=()
if sha=$(git rev-parse --short HEAD 2>/dev/null); then LABEL=(--label "git.sha=$sha"); fi

traffic_window a

# a. canary + promote
step a "orders 2.0.0 with a 20% canary, promoted by hand"
# The promote comes from "another terminal": a background shell that waits until the
# canary has had 20% for 2s, then runs `bluegreen promote orders`. It ends by itself: after
# the promote, or as soon as the deployment has a result without having reached 20%.
canary_or_result() {
  last_deployment orders
  [ "$(dep .version)" = 2.0.0 ] || return 1
  [ "$(dep '.traffic[.slot]')" = 20 ] || [ -n "$(dep .result)" ]
}
(
  if wait_for 60 "orders 2.0.0 at 20%" canary_or_result && [ -z "$(dep .result)" ]; then
    sleep 2
    rc=0
    "${BGC[@]}" promote orders --json >"$DIR/promote-a.json" 2>"$DIR/promote-a.err" || rc=$?
    echo "$rc" >"$DIR/promote-a.rc"
  fi
) &
BG_PID=$!
info "\$ bluegreen deploy orders -f scripts/demo/orders-2.0.0.yaml --strategy canary:20%:60s --wait"
info "  (and 2s into the canary, from another shell: bluegreen promote orders)"
run_cli deploy orders -f "$DEMO/orders-2.0.0.yaml" --strategy canary:20%:60s "${LABEL[@]}" --wait
a_rc=$RC
wait "$BG_PID" 2>/dev/null || true
BG_PID=
promote_rc=$(cat "$DIR/promote-a.rc" 2>/dev/null || echo none)
if [ "$promote_rc" = none ]; then
  info "promote: not run (the canary never reached 20%)"
else
  info "promote: exit $promote_rc; $(jq -r '"deployment \(.id) was at blue \(.traffic.blue)% / green \(.traffic.green)% (the canary step); it goes to 100% now"' "$DIR/promote-a.json" 2>/dev/null || cat "$DIR/promote-a.err")"
fi
last_deployment orders
info "deployment $(dep .id): $(dep .result), strategy \"$(dep .strategy)\", traffic now blue $(dep .traffic.blue)% / green $(dep .traffic.green)%"
info "phases: $(jq -r '[.phases[]?.phase] | join(" -> ")' <<<"$DEP")"
traffic_window b
traffic_report a
ok=0
[ "$a_rc" = 0 ] && [ "$promote_rc" = 0 ] && [ "$(dep .result)" = SUCCEEDED ] &&
  [ "$(dep .version)" = 2.0.0 ] && [ "$T_FAILED" = 0 ] && ok=1
record a "orders 2.0.0: canary 20%, promote" "SUCCEEDED" "$(dep .result) (exit $a_rc)" "$T_FAILED" $ok

# b. health never passes
step b "orders 2.1.0 whose health check fails (sample-app --fail-health)"
info "\$ bluegreen deploy orders -f scripts/demo/orders-2.1.0.yaml --wait"
run_cli deploy orders -f "$DEMO/orders-2.1.0.yaml" "${LABEL[@]}" --wait
b_rc=$RC
last_deployment orders
info "deployment $(dep .id): $(dep .result): $(dep .reason)"
info "phases: $(jq -r '[.phases[]?.phase] | join(" -> ")' <<<"$DEP"); traffic switches: $(jq -r '.switches | length' <<<"$DEP")"
info "evidence: $(jq -r '[.evidence.targets[]? | "\(.address): \(.health.reason // "?") (HTTP \(.health.last_status // "-"))"] | join(", ")' <<<"$DEP")"
traffic_window c
traffic_report b
ok=0
[ "$b_rc" = 1 ] && [ "$(dep .result)" = ROLLED_BACK ] && [ "$(dep .version)" = 2.1.0 ] &&
  jq -e '([.phases[]?.phase] | index("POST_SCALE_UP") != null and index("PRODUCTION_TRAFFIC_SHIFT") == null) and (.switches | length) == 0' <<<"$DEP" >/dev/null &&
  [ "$T_FAILED" = 0 ] && ok=1
record b "orders 2.1.0: health fails" "ROLLED_BACK" "$(dep .result) (exit $b_rc)" "$T_FAILED" $ok

# c. error rate breach during the canary
step c "orders 2.2.0 answering 50% errors (sample-app --error-rate 0.5), canary 20%"
info "rollback_on: {error_rate: 5%, min_requests: 20, window: 5s}"
info "\$ bluegreen deploy orders -f scripts/demo/orders-2.2.0.yaml --strategy canary:20%:20s --wait"
run_cli deploy orders -f "$DEMO/orders-2.2.0.yaml" --strategy canary:20%:20s "${LABEL[@]}" --wait
c_rc=$RC
last_deployment orders
info "deployment $(dep .id): $(dep .result): $(dep .reason)"
info "phases: $(jq -r '[.phases[]?.phase] | join(" -> ")' <<<"$DEP")"
traffic_window d
traffic_report c
canary_failed=$(failed_by "orders 2.2.0")
info "the failed requests are the canary's: $canary_failed answered 500 by orders 2.2.0 while it had"
info "20% of the orders traffic and was judged (not zero: a canary exists to find this out on"
info "a small share of real traffic); nothing failed elsewhere"
ok=0
[ "$c_rc" = 1 ] && [ "$(dep .result)" = ROLLED_BACK ] && [ "$(dep .version)" = 2.2.0 ] &&
  grep -qi 'error rate' <<<"$(dep .reason)" && [ "$T_FAILED" -ge 0 ] &&
  [ "$T_FAILED" = "$canary_failed" ] && [ "$T_SOCKET" = 0 ] && ok=1
record c "orders 2.2.0: 50% errors" "ROLLED_BACK" "$(dep .result) (exit $c_rc)" \
  "$T_FAILED (canary only)" $ok

# d. manual rollback within the termination wait
step d "orders 2.3.0, then a manual rollback within the termination wait"
info "\$ bluegreen deploy orders -f scripts/demo/orders-2.3.0.yaml --strategy all-at-once --wait"
run_cli deploy orders -f "$DEMO/orders-2.3.0.yaml" --strategy all-at-once "${LABEL[@]}" --wait
d_rc=$RC
last_deployment orders
d_deploy=$(dep .result)
info "deployment $(dep .id): $d_deploy; live: orders $(live_version orders)"
info "\$ bluegreen rollback orders"
t0=$(now_ms)
run_cli rollback orders
rb_rc=$RC
t1=$(now_ms)
last_deployment orders
switch_ms=$(jq -r '.switches[-1].switch_ms // empty' <<<"$DEP")
d_live=$(live_version orders)
info "live again: orders $d_live; the switch took ${switch_ms:-?} ms (verified on every worker);"
info "the whole \`bluegreen rollback\` command $((t1 - t0)) ms"
traffic_window e1
traffic_report d
ok=0
[ "$d_rc" = 0 ] && [ "$d_deploy" = SUCCEEDED ] && [ "$rb_rc" = 0 ] &&
  [ "$(dep .result)" = ROLLED_BACK ] && [ "$d_live" = 2.0.0 ] && [ "$T_FAILED" = 0 ] && ok=1
record d "orders 2.3.0, then rollback" "ROLLED_BACK (manual)" \
  "$(dep .result) in ${switch_ms:-?} ms" "$T_FAILED" $ok

# e. the compatibility incident
step e1 "orders 3.0.0 requires payments ^2.0 while payments 1.9.2 is live"
info "\$ bluegreen matrix"
"${BGC[@]}" matrix || true
info "\$ bluegreen deploy orders -f scripts/demo/orders-3.0.0.yaml --wait"
run_cli deploy orders -f "$DEMO/orders-3.0.0.yaml" "${LABEL[@]}" --wait
e1_rc=$RC
last_deployment orders
info "deployment $(dep .id): $(dep .result) (exit $e1_rc): $(dep .reason)"
traffic_window e2
traffic_report e1
ok=0
[ "$e1_rc" = 3 ] && [ "$(dep .result)" = REFUSED ] && [ "$(dep .version)" = 3.0.0 ] &&
  grep -q payments <<<"$(dep .reason)" && [ "$(live_version orders)" = 2.0.0 ] &&
  [ "$T_FAILED" = 0 ] && ok=1
record e1 "orders 3.0.0 alone" "REFUSED (exit 3)" "$(dep .result) (exit $e1_rc)" "$T_FAILED" $ok

step e2 "the release: payments 2.0.0 (expand/contract), then orders 3.0.0"
info "\$ bluegreen plan scripts/demo/release-naive.yaml    # payments 2.0.0 serving only 2.0"
run_cli plan "$DEMO/release-naive.yaml"
naive_rc=$RC
info "(exit $naive_rc)"
info "\$ bluegreen plan scripts/demo/release.yaml          # payments 2.0.0 serving 1.9.2 and 2.0.0"
run_cli plan "$DEMO/release.yaml"
plan_rc=$RC
order=$("${BGC[@]}" plan "$DEMO/release.yaml" --json 2>/dev/null |
  jq -r '[.order[]? | "\(.service) \(.version)"] | join(", ")' || true)
info "planned order: $order"
info "\$ bluegreen release scripts/demo/release.yaml"
run_cli release "$DEMO/release.yaml"
rel_rc=$RC
info "\$ bluegreen matrix"
"${BGC[@]}" matrix || true
e2_orders=$(live_version orders)
e2_payments=$(live_version payments)
info "live now: orders $e2_orders, payments $e2_payments"
traffic_window ""
traffic_report e2
ok=0
[ "$naive_rc" = 3 ] && [ "$plan_rc" = 0 ] && [ "$order" = "payments 2.0.0, orders 3.0.0" ] &&
  [ "$rel_rc" = 0 ] && [ "$e2_orders" = 3.0.0 ] && [ "$e2_payments" = 2.0.0 ] &&
  [ "$T_FAILED" = 0 ] && ok=1
rel_got="exit $rel_rc; live orders $e2_orders, payments $e2_payments"
record e2 "release payments 2.0.0, orders 3.0.0" "SUCCEEDED (both)" "$rel_got" "$T_FAILED" $ok

step f "bluegreen history orders"
"${BGC[@]}" history orders || info "(history failed: exit $?)"

# ---- shutdown and summary -----------------------------------------------------------------
say "stop: bluegreen shutdown --stop-targets; it drains, stops its instances and exits"
STEP_T0=$(now_ms)
stop_daemon
n_inst=$(started_instances | wc -l)
left=$([ "$LEFTOVER" = 0 ] && echo none || echo "some (see above)")
info "serve exited with status $SERVE_RC; it had started $n_inst sample-app instances; still running: $left"
ok=0
[ "$SERVE_RC" = 0 ] && [ "$LEFTOVER" = 0 ] && [ "$n_inst" -gt 0 ] && ok=1
record stop "daemon and its instances stopped" "exit 0, none left" \
  "exit $SERVE_RC, $([ "$LEFTOVER" = 0 ] && echo none || echo some) left" "-" $ok

say "summary"
{
  echo "step|what|expected|result|failed requests|time|check"
  printf '%s\n' "${ROWS[@]}"
} | awk -F'|' '{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
  END { for (r = 1; r <= NR; r++) { line = "  "; for (i = 1; i <= NF; i++) line = line sprintf(" %-" (w[i] + 1) "s", cell[r, i]); sub(/ +$/, "", line); print line } }'
if [ "$BAD" = 0 ]; then
  printf '\n   %sdemo: all %d checks passed%s\n' "$G" "${#ROWS[@]}" "$N"
else
  printf '\n   %sdemo: %d of %d checks failed%s\n' "$R" "$BAD" "${#ROWS[@]}" "$N"
  exit 1
fi
