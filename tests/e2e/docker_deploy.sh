#!/usr/bin/env bash
# tests/e2e/docker_deploy.sh SCENARIO — the docker driver end to end against the real
# engine and registries of the ctest fixture 'docker' (tests/support/docker_env.sh):
#   deploy    boot v1 (a tag of its own, pinned by digest), deploy v2 under steady wrk load
#             with 0 failed requests, history shows tag + digest, the tag moved after the
#             deploy, a
#             manual rollback, and a crashed container of the rolled-back slot replaced
#             from the old digest (still 1.0.0 although the tag now names 2.0.0)
#   canary    canary + automatic rollback of a revision answering 500s (rollback_on)
#   failures  missing tag, refused registry login, a container exiting at once (its last
#             log lines in the record), a bad image string (exit 2 naming it): each fails
#             cleanly with the live slot serving throughout (0 failed requests); then a
#             good login deploys from the authenticated registry
#   readopt   bluegreen stopped by SIGTERM, then by kill -9: the next daemon re-adopts the
#             containers (same ids, same start times: nothing restarted)
# Run from the repo root with BG_DOCKER_ENV set (ctest does). Binaries from $BG_BUILD_DIR.
set -euo pipefail

SCENARIO=${1:?usage: docker_deploy.sh deploy|canary|failures|readopt}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BG_BUILD_DIR:-build}
BG=$BUILD/bluegreen
# shellcheck source=../support/docker_env_lib.sh
. "$ROOT/tests/support/docker_env_lib.sh"
docker_env_load
export DOCKER_HOST
ME="docker_deploy[$SCENARIO]"

fail() {
    echo "$ME: FAIL: $*" >&2
    exit 1
}
say() { echo "$ME: $*"; }

[ -x "$BG" ] || fail "missing $BG (BG_BUILD_DIR=${BG_BUILD_DIR:-unset})"
for tool in wrk curl jq docker python3; do
    command -v $tool >/dev/null || fail "missing tool $tool"
done

TMP=$(mktemp -d /tmp/bg-docker-e2e.XXXXXX)
SERVE_PID=
WRK_PID=
cleanup() {
    local rc=$?
    [ -z "$WRK_PID" ] || kill "$WRK_PID" 2>/dev/null || true
    if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
        "$BG" --admin "unix:$TMP/bg.sock" shutdown --stop-targets >/dev/null 2>&1 ||
            kill -TERM "$SERVE_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVE_PID" 2>/dev/null || true
    fi
    # Whatever is left of this test's service (a daemon killed on purpose, a failure).
    docker ps -aq --filter "label=bluegreen.service=$SVC" | xargs -r docker rm -f >/dev/null 2>&1 || true
    if [ $rc -ne 0 ]; then
        for f in "$TMP"/*.log; do
            echo "---- $f (tail)" >&2
            tail -n 40 "$f" >&2 || true
        done
        echo "$ME: files kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
bgc() { "$BG" --admin "unix:$TMP/bg.sock" "$@"; }
# wait_version V SECS: until the proxy answers with version V.
wait_version() {
    local deadline=$((SECONDS + $2)) body
    while :; do
        body=$(curl -sf --max-time 2 "http://127.0.0.1:$PORT/" 2>/dev/null || true)
        if [[ "$body" == *"\"version\":\"$1\""* ]]; then return 0; fi
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}
version_now() { curl -sf --max-time 2 "http://127.0.0.1:$PORT/" | jq -r .version; }
# Containers of the service: "ID STARTED_AT IMAGE" lines, sorted.
containers() {
    docker ps -q --no-trunc --filter "label=bluegreen.service=$SVC" |
        xargs -r docker inspect --format '{{.Id}} {{.State.StartedAt}} {{.Config.Image}}' | sort
}

# One service name per run: containers of parallel scenarios never mix.
SVC=app$$
PORT=$(free_port)
DCFG=$TMP/docker-config
mkdir -p "$TMP/state" "$DCFG"
echo '{"auths":{}}' >"$DCFG/config.json"
write_config() { # write_config EXTRA_YAML
    cat >"$TMP/bg.yaml" <<YAML
listen: 127.0.0.1:$PORT
admin: unix:$TMP/bg.sock
state_dir: $TMP/state
proxy: {workers: 2}
services:
  $SVC:
    route: {path_prefix: /}
    driver: docker
    version: 1.0.0
    image: ${BOOT_IMAGE:-$BG_IMAGE:v1}
    count: 2
    health: {path: /actuator/health, interval: 200ms, healthy_threshold: 2, unhealthy_threshold: 2}
    strategy: all-at-once
    termination_wait: 10m
    drain: 1s
    stop_timeout: 2s
    startup_timeout: 60s
    resources: {memory: 256Mi, cpus: 0.5}
$1
YAML
}
serve() {
    DOCKER_CONFIG=$DCFG "$BG" serve -c "$TMP/bg.yaml" >>"$TMP/serve.log" 2>&1 </dev/null &
    SERVE_PID=$!
    wait_version "${1:-1.0.0}" 90 || fail "bluegreen serve does not serve ${1:-1.0.0}"
}
# load_start: steady keep-alive load through the proxy, counted by bench/count.lua.
load_start() {
    wrk -t1 -c8 -d300s --timeout 5s -s "$ROOT/bench/count.lua" "http://127.0.0.1:$PORT/" \
        >"$TMP/wrk.log" 2>&1 &
    WRK_PID=$!
    sleep 1
}
# load_stop: ends the load; fails on any non-2xx response or socket error.
load_stop() {
    kill -INT "$WRK_PID" 2>/dev/null || true
    wait "$WRK_PID" 2>/dev/null || true
    WRK_PID=
    local line
    line=$(grep '^COUNTS ' "$TMP/wrk.log") || fail "no COUNTS from wrk: $(cat "$TMP/wrk.log")"
    say "load: $line"
    local n bad
    n=$(echo "$line" | tr ' ' '\n' | awk -F= '$1=="requests"{print $2}')
    bad=$(echo "$line" | tr ' ' '\n' |
        awk -F= '$1=="non2xx"||$1=="status"||$1=="connect"||$1=="read"||$1=="write"||$1=="timeout"{s+=$2} END{print s+0}')
    [ "${n:-0}" -gt 100 ] || fail "the load made only ${n:-0} requests"
    [ "$bad" -eq 0 ] || fail "$bad failed requests under load: $line"
}
# deploy_expect RESULT EXIT ARGS...: deploy --wait --json, check the exit code and result.
deploy_expect() {
    local want=$1 want_rc=$2 rc=0
    shift 2
    bgc deploy "$SVC" --wait --json "$@" >"$TMP/deploy.json" 2>"$TMP/deploy.err" || rc=$?
    [ $rc -eq "$want_rc" ] || fail "deploy $* exited $rc, not $want_rc: $(cat "$TMP/deploy.err" "$TMP/deploy.json")"
    [ "$(jq -r .result "$TMP/deploy.json")" = "$want" ] ||
        fail "deploy $* ended $(jq -r .result "$TMP/deploy.json"), not $want: $(jq -r .reason "$TMP/deploy.json")"
}

scenario_deploy() {
    # A tag of this run's own (the fixture's v1/v2 stay put for everyone else), which
    # moves later.
    BOOT_IMAGE=$BG_IMAGE:moving-$$
    docker pull -q "$BG_IMAGE:v1" >/dev/null
    docker tag "$BG_IMAGE:v1" "$BOOT_IMAGE"
    docker push -q "$BOOT_IMAGE" >/dev/null || fail "pushing $BOOT_IMAGE failed"
    write_config ""
    serve 1.0.0
    local c1
    c1=$(containers)
    [ "$(echo "$c1" | wc -l)" -eq 2 ] || fail "want 2 containers of v1, got: $c1"
    echo "$c1" | awk '{print $3}' | grep -qv "@sha256:" && fail "v1 containers do not run by digest: $c1"
    local d1
    d1=$(echo "$c1" | head -1 | awk '{print $3}' | sed 's/.*@//')
    say "v1 runs by digest $d1"

    load_start
    deploy_expect SUCCEEDED 0 --version 2.0.0 --image "$BG_IMAGE:v2"
    load_stop
    [ "$(version_now)" = 2.0.0 ] || fail "not serving 2.0.0 after the deploy"
    local hist digest2
    hist=$(bgc history "$SVC" --json)
    [ "$(echo "$hist" | jq -r '.deployments[0].artifact.image')" = "$BG_IMAGE:v2" ] ||
        fail "history lacks the tag: $hist"
    digest2=$(echo "$hist" | jq -r '.deployments[0].artifact.digest')
    [[ "$digest2" =~ ^sha256:[0-9a-f]{64}$ ]] || fail "history lacks the digest: $hist"
    bgc history "$SVC" | grep -q "image=$BG_IMAGE:v2 digest=$digest2" || fail "history line lacks image/digest"
    say "v2 deployed under load, 0 failed requests; history: $BG_IMAGE:v2 @ $digest2"

    # The tag moves: the boot tag now names the v2 image in the registry.
    docker pull -q "$BG_IMAGE:v2" >/dev/null
    docker tag "$BG_IMAGE:v2" "$BOOT_IMAGE"
    docker push -q "$BOOT_IMAGE" >/dev/null || fail "pushing the moved tag failed"
    say "tag $BOOT_IMAGE moved to the v2 image"

    load_start
    bgc rollback "$SVC" >"$TMP/rollback.log" 2>&1 || fail "rollback failed: $(cat "$TMP/rollback.log")"
    load_stop
    [ "$(version_now)" = 1.0.0 ] || fail "not serving 1.0.0 after the rollback"
    # A container of the rolled-back slot crashes: its replacement runs the old digest.
    local victim
    victim=$(echo "$c1" | head -1 | awk '{print $1}')
    docker kill "$victim" >/dev/null
    local deadline=$((SECONDS + 60))
    until ! containers | grep -q "^$victim" && [ "$(containers | grep -c "@$d1")" -eq 2 ]; do
        [ $SECONDS -lt $deadline ] || fail "the crashed v1 container was not replaced: $(containers)"
        sleep 0.2
    done
    wait_version 1.0.0 30 || fail "not serving 1.0.0 after the replacement"
    for _ in $(seq 20); do
        [ "$(version_now)" = 1.0.0 ] || fail "a replaced container serves $(version_now), not 1.0.0"
    done
    say "rollback and the replacement after the tag moved both run $d1 (1.0.0)"
}

scenario_canary() {
    write_config "    rollback_on: {error_rate: 5%, min_requests: 20, window: 5s}"
    serve 1.0.0
    load_start
    local rc=0
    bgc deploy "$SVC" --wait --json --version 3.0.0 --image "$BG_IMAGE:broken" \
        --strategy canary:50%:30s >"$TMP/deploy.json" 2>"$TMP/deploy.err" || rc=$?
    kill -INT "$WRK_PID" 2>/dev/null || true
    wait "$WRK_PID" 2>/dev/null || true
    WRK_PID=
    [ $rc -eq 1 ] || fail "deploy of the broken revision exited $rc: $(cat "$TMP/deploy.err" "$TMP/deploy.json")"
    [ "$(jq -r .result "$TMP/deploy.json")" = ROLLED_BACK ] || fail "not ROLLED_BACK: $(cat "$TMP/deploy.json")"
    jq -r .reason "$TMP/deploy.json" | grep -q "rollback_on" || fail "reason: $(jq -r .reason "$TMP/deploy.json")"
    [ "$(version_now)" = 1.0.0 ] || fail "not serving 1.0.0 after the automatic rollback"
    for _ in $(seq 50); do
        curl -sf --max-time 2 "http://127.0.0.1:$PORT/" >/dev/null || fail "the live slot failed a request after the rollback"
    done
    say "canary of the 500s revision rolled back: $(jq -r .reason "$TMP/deploy.json")"
}

scenario_failures() {
    write_config ""
    serve 1.0.0
    load_start
    deploy_expect FAILED 1 --version 3.0.0 --image "$BG_IMAGE:no-such-tag"
    jq -r .reason "$TMP/deploy.json" | grep -qi "not found\|manifest unknown" ||
        fail "missing tag: reason lacks the registry's words: $(jq -r .reason "$TMP/deploy.json")"
    say "missing tag: $(jq -r .reason "$TMP/deploy.json")"
    # A login the registry refuses (wrong password in config.json).
    local bad
    bad=$(printf '%s:%s' "$BG_REGISTRY_USER" wrong-password | base64 -w0)
    printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$BG_REGISTRY_AUTH" "$bad" >"$DCFG/config.json"
    deploy_expect FAILED 1 --version 3.0.0 --image "$BG_IMAGE_AUTH:v2"
    jq -r .reason "$TMP/deploy.json" | grep -qi "unauthorized\|authentication\|credentials" ||
        fail "refused login: reason lacks the registry's words: $(jq -r .reason "$TMP/deploy.json")"
    say "refused login: $(jq -r .reason "$TMP/deploy.json")"
    # A container that exits at once (the image's entrypoint is refused by the app).
    local cid
    cid=$(docker create "$BG_IMAGE:v2")
    docker commit --change 'ENTRYPOINT ["/sample-app", "--no-such-flag"]' "$cid" \
        "$BG_IMAGE:exits-$$" >/dev/null
    docker rm "$cid" >/dev/null
    docker push -q "$BG_IMAGE:exits-$$" >/dev/null || fail "pushing the exiting image failed"
    deploy_expect ROLLED_BACK 1 --version 3.0.0 --image "$BG_IMAGE:exits-$$"
    jq -r .reason "$TMP/deploy.json" | grep -q "exited during startup" ||
        fail "exiting container: reason $(jq -r .reason "$TMP/deploy.json")"
    jq -r '.evidence.targets[].log_tail' "$TMP/deploy.json" | grep -q "no-such-flag" ||
        fail "exiting container: its last log lines are not in the record: $(jq -c .evidence "$TMP/deploy.json")"
    say "exiting container: $(jq -r .reason "$TMP/deploy.json")"
    [ "$(containers | wc -l)" -eq 2 ] || fail "failed deployments left containers: $(containers)"
    # A bad image string is a usage error that names it; nothing is sent.
    local rc=0
    bgc deploy "$SVC" --version 3.0.0 --image 'Not An/Image' >"$TMP/bad.log" 2>&1 || rc=$?
    [ $rc -eq 2 ] || fail "bad --image exited $rc"
    grep -q "'Not An/Image' is not an image reference" "$TMP/bad.log" || fail "bad --image: $(cat "$TMP/bad.log")"
    load_stop
    [ "$(version_now)" = 1.0.0 ] || fail "the live slot changed"
    # The right login (the fixture's config.json) pulls from the authenticated registry.
    cp "$BG_DOCKER_CONFIG/config.json" "$DCFG/config.json"
    deploy_expect SUCCEEDED 0 --version 2.0.0 --image "$BG_IMAGE_AUTH:v2"
    [ "$(version_now)" = 2.0.0 ] || fail "not serving 2.0.0 from the authenticated registry"
    say "good login: deployed $BG_IMAGE_AUTH:v2"
}

scenario_readopt() {
    write_config ""
    serve 1.0.0
    local before after
    before=$(containers)
    [ "$(echo "$before" | wc -l)" -eq 2 ] || fail "want 2 containers, got: $before"
    for how in TERM KILL; do
        kill -"$how" "$SERVE_PID"
        wait "$SERVE_PID" 2>/dev/null || true
        SERVE_PID=
        after=$(containers)
        [ "$after" = "$before" ] || fail "containers changed while bluegreen was down (SIG$how): $after"
        serve 1.0.0
        grep -c "re-adopted" "$TMP/serve.log" >/dev/null || fail "nothing re-adopted"
        after=$(containers)
        [ "$after" = "$before" ] || fail "after SIG$how the containers differ (restarted?):
before: $before
after:  $after"
        say "SIG$how: the new daemon re-adopted the same containers, none restarted"
    done
    bgc status "$SVC" --json | jq -e ".slots.blue.targets | length == 2" >/dev/null ||
        fail "status does not show the 2 re-adopted targets"
}

case "$SCENARIO" in
deploy | canary | failures | readopt) "scenario_$SCENARIO" ;;
*) fail "unknown scenario $SCENARIO" ;;
esac
say PASS
