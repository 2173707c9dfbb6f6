#!/usr/bin/env bash
# tests/e2e/reload_load.sh — zero failed requests over restarts, a binary upgrade and config
# reloads of bluegreen itself under keep-alive load (issue 9 item 5; docs/internals/server.md
# "Hand-over").
#
# Starts `bluegreen serve` with a process-driver service `app` (2 sample-app instances) on
# ephemeral loopback ports and runs wrk (keep-alive, -t1 -c32, bench/count.lua) against it
# while, one after the other:
#   1. `serve --takeover` (restart): the new process takes the sockets, re-adopts the
#      instances (same pids), the old one drains and exits;
#   2. the same from a copy of the binary (an upgrade: a different executable file);
#   3. `bluegreen reload` of a config that adds a static service `other` on /other and
#      changes app's health interval: answered, /other is routed;
#   4. `bluegreen reload` of a config with an error: exit 2, the file:line:column in the
#      message, same daemon pid, /other still routed (nothing changed);
#   5. SIGHUP after restoring a config without `other`: /other goes to app again.
#   6. (after the load) a deployment runs: reload (exit 1), SIGHUP and serve --takeover are
#      refused with a clear reason and the daemon stays the same.
# Asserts: 0 non-2xx, 0 socket errors, every previous daemon exited, the instances kept
# their pids, the admin socket answered after each step. A missing binary or tool is a
# failure, never a skip. Registered in tests/e2e/CMakeLists.txt. The processes and wrk
# helpers: tests/support/stack_lib.sh.
set -euo pipefail
# shellcheck source=tests/support/stack_lib.sh
source "$(dirname "$0")/../support/stack_lib.sh"
# shellcheck disable=SC2034 # read by stack_cleanup
STACK_LOG_TAIL=40
stack_init reload_load wrk curl python3
LOAD_SECONDS=240 # upper bound: wrk is stopped (SIGINT: it still reports) after the steps

# At exit, first the daemon in charge now, with its targets, then the rest (by PID).
stack_on_exit() {
    if [ -S "$TMP/bg.sock" ]; then
        timeout 30 "$BG" --admin "unix:$TMP/bg.sock" shutdown --stop-targets >/dev/null 2>&1 || true
    fi
}
# daemon_pid: the pid the admin socket answers from (GET /v1/health).
daemon_pid() {
    curl -sf --max-time 5 --unix-socket "$TMP/bg.sock" http://localhost/v1/health |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'
}
# wait_pid_change OLD SECS: until the admin socket answers from another pid; prints it.
wait_pid_change() {
    local deadline=$((SECONDS + $2)) p
    while :; do
        p=$(daemon_pid 2>/dev/null || true)
        if [ -n "$p" ] && [ "$p" != "$1" ]; then echo "$p"; return 0; fi
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}
# wait_gone PID SECS: until process PID no longer exists.
wait_gone() {
    local deadline=$((SECONDS + $2))
    while kill -0 "$1" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}
instance_pids() { # the handles (pids) of app's instances, sorted, one line
    bgcli status app --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
svc = d["services"][0] if "services" in d else d
pids = []
for slot in svc["slots"].values() if isinstance(svc.get("slots"), dict) else []:
    for t in slot.get("targets", []):
        if t.get("instance"): pids.append(t["instance"]["handle"])
for t in svc.get("targets", []):
    if t.get("instance"): pids.append(t["instance"]["handle"])
print(" ".join(sorted(pids)))'
}

PROXY_PORT=$(free_port)
OTHER_PORT=$(free_port)
METRICS_PORT=$(free_port)
mkdir -p "$TMP/state"
write_config() { # write_config HEALTH_INTERVAL WITH_OTHER
    cat >"$TMP/bg.yaml" <<YAML
listen: 127.0.0.1:$PROXY_PORT
admin: unix:$TMP/bg.sock
metrics_listen: 127.0.0.1:$METRICS_PORT
state_dir: $TMP/state
workers: 2
services:
  app:
    route: {path_prefix: /}
    count: 2
    run: {command: ["$SA", "--service", "app", "--version", "1.0.0"]}
    health: {path: /actuator/health, interval: $1}
YAML
    if [ "$2" = yes ]; then
        cat >>"$TMP/bg.yaml" <<YAML
  other:
    route: {path_prefix: /other}
    driver: static
    targets: {blue: ["127.0.0.1:$OTHER_PORT"]}
    health: {path: /actuator/health, interval: 1s}
YAML
    fi
}
write_config 1s no
start other "$SA" --service other --version 9.0.0 --port "$OTHER_PORT" --slot blue
wait_get "http://127.0.0.1:$OTHER_PORT/actuator/health" UP 20 || fail "sample-app other not healthy"
start serve1 "$BG" serve -c "$TMP/bg.yaml"
SLOT_RE='"service" *: *"app".*"slot" *: *"blue"'
wait_get "http://127.0.0.1:$PROXY_PORT/" "$SLOT_RE" 60 || fail "bluegreen serve does not route to app"
PID=$(daemon_pid) || fail "the admin socket does not answer"
INST=$(instance_pids)
[ -n "$INST" ] || fail "no instances of app in status"
say "serving on 127.0.0.1:$PROXY_PORT, daemon pid $PID, app instances $INST"

wrk_load wrk 32 "$LOAD_SECONDS" "http://127.0.0.1:$PROXY_PORT/"
sleep 2 # load before the first step (pacing only)

# 1. restart: serve --takeover
start serve2 "$BG" serve -c "$TMP/bg.yaml" --takeover
NEW=$(wait_pid_change "$PID" 60) || fail "step 1: serve --takeover did not take over"
wait_gone "$PID" 30 || fail "step 1: the old daemon $PID did not exit"
[ "$(instance_pids)" = "$INST" ] || fail "step 1: instances changed: $INST -> $(instance_pids)"
say "1. restart: pid $PID -> $NEW, old exited, instances kept ($INST)"
PID=$NEW
sleep 1

# 2. upgrade: the same from another executable file
cp "$BG" "$TMP/bluegreen-new"
start serve3 "$TMP/bluegreen-new" serve -c "$TMP/bg.yaml" --takeover
NEW=$(wait_pid_change "$PID" 60) || fail "step 2: the new binary did not take over"
wait_gone "$PID" 30 || fail "step 2: the old daemon $PID did not exit"
[ "$(readlink "/proc/$NEW/exe")" = "$TMP/bluegreen-new" ] || fail "step 2: pid $NEW is not the new binary"
[ "$(instance_pids)" = "$INST" ] || fail "step 2: instances changed"
say "2. upgrade: pid $PID -> $NEW ($TMP/bluegreen-new), old exited, instances kept"
PID=$NEW
sleep 1

# 3. reload: add `other`, change app's health interval
write_config 2s yes
bgcli reload >"$TMP/reload3.out" 2>&1 || fail "step 3: reload failed: $(cat "$TMP/reload3.out")"
grep -q "added=1 removed=0" "$TMP/reload3.out" || fail "step 3: unexpected answer: $(cat "$TMP/reload3.out")"
NEW=$(daemon_pid)
[ "$NEW" != "$PID" ] || fail "step 3: the same daemon answers after the reload"
wait_gone "$PID" 30 || fail "step 3: the old daemon $PID did not exit"
wait_get "http://127.0.0.1:$PROXY_PORT/other" '"service" *: *"other"' 30 || fail "step 3: /other is not routed"
[ "$(instance_pids)" = "$INST" ] || fail "step 3: instances changed"
say "3. reload (service added): pid $PID -> $NEW, /other routed"
PID=$NEW
sleep 1

# 4. a config with an error is refused whole
cp "$TMP/bg.yaml" "$TMP/bg.good"
printf 'listen: 127.0.0.1:%s\nworkers: lots\n' "$PROXY_PORT" >"$TMP/bg.yaml"
set +e
bgcli reload >"$TMP/reload4.out" 2>&1
rc=$?
set -e
[ $rc -eq 2 ] || fail "step 4: a bad config reload exited $rc, not 2: $(cat "$TMP/reload4.out")"
grep -q "bg.yaml:2:10" "$TMP/reload4.out" || fail "step 4: no file:line:column in: $(cat "$TMP/reload4.out")"
[ "$(daemon_pid)" = "$PID" ] || fail "step 4: the daemon changed after a refused reload"
curl -sf --max-time 2 "http://127.0.0.1:$PROXY_PORT/other" >/dev/null || fail "step 4: /other no longer routed"
say "4. bad config refused (exit 2: $(head -n 1 "$TMP/reload4.out")); nothing changed"
sleep 1

# 5. SIGHUP with `other` removed again
write_config 1s no
kill -HUP "$PID"
NEW=$(wait_pid_change "$PID" 60) || fail "step 5: SIGHUP did not reload"
wait_gone "$PID" 30 || fail "step 5: the old daemon $PID did not exit"
# /other falls back to app's route (path_prefix /) once `other` is gone.
wait_get "http://127.0.0.1:$PROXY_PORT/other" '"service" *: *"app"' 30 || fail "step 5: /other still routed to other"
say "5. SIGHUP reload (service removed): pid $PID -> $NEW, /other served by app again"
# The metrics listener (not handed over) is bound again by each new process.
curl -sf --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" >"$TMP/metrics.out" && grep -q "^bluegreen_" "$TMP/metrics.out" ||
    fail "metrics_listen 127.0.0.1:$METRICS_PORT does not serve /metrics after the hand-overs"
PID=$NEW

sleep 1 # load after the last step (pacing only)
kill -0 "$LOAD_PID" 2>/dev/null || fail "the steps took longer than the load (${LOAD_SECONDS}s)"
kill -INT "$LOAD_PID"
wait $LOAD_PID || fail "wrk failed: $(cat "$TMP/wrk.log")"
cat "$TMP/wrk.log"
wrk_check "$TMP/wrk.log" >/dev/null # 0 non-2xx, 0 socket errors
say "requests=$REQUESTS, 0 non-2xx, 0 socket errors over 2 takeovers and 3 reloads"
[ "$REQUESTS" -ge 1000 ] || fail "only $REQUESTS requests"
# 6. while a deployment runs, reload, SIGHUP and serve --takeover are refused; nothing changes
bgcli deploy app --version 2.0.0 --cmd "$SA --service app --version 2.0.0" \
    --strategy canary:10%:5m >"$TMP/deploy.out" 2>&1 || fail "step 6: deploy failed: $(cat "$TMP/deploy.out")"
set +e
bgcli reload >"$TMP/reload6.out" 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || fail "step 6: reload during a deployment exited $rc, not 1: $(cat "$TMP/reload6.out")"
grep -q "is running" "$TMP/reload6.out" || fail "step 6: unclear refusal: $(cat "$TMP/reload6.out")"
kill -HUP "$PID"
set +e
timeout 60 "$BG" serve -c "$TMP/bg.yaml" --takeover >"$TMP/serve-refused.log" 2>&1
rc=$?
set -e
[ $rc -ne 0 ] || fail "step 6: serve --takeover during a deployment succeeded"
grep -q "takeover refused" "$TMP/serve-refused.log" || fail "step 6: unclear refusal: $(cat "$TMP/serve-refused.log")"
[ "$(daemon_pid)" = "$PID" ] || fail "step 6: the daemon changed during a deployment"
grep -q 'reload refused.*trigger="SIGHUP".*is running' "$TMP"/serve*.log ||
    fail "step 6: no log line for the refused SIGHUP reload"
bgcli abort app >"$TMP/abort.out" 2>&1 || fail "step 6: abort failed: $(cat "$TMP/abort.out")"
say "6. during a deployment: reload exit 1 ($(head -n 1 "$TMP/reload6.out")), SIGHUP and --takeover refused, same pid"
say "PASS"
