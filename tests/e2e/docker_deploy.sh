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
#   orphans   containers carry the state_dir and store id labels; kill -9 right after a
#             deploy created its first container: the restart finds it (scan) and stops it
#             (rolled back, or an orphan) so only claimed containers run; a running
#             container the store never recorded is stopped as an orphan, a created one
#             removed; one of another store id refuses the boot, naming it
#   portinuse a container that cannot bind its port (held by the test) ends the deployment
#             ROLLED_BACK with its own message in the reason and its last log lines in
#             the record, the live slot serving throughout
#   credhelper registry logins from credential helpers (credHelpers, credsStore), a real
#             helper executable written here against the htpasswd registry: good login
#             deploys, a refused one and a missing helper fail cleanly, "not found" pulls
#             anonymously (and is refused by that registry)
# Run from the repo root with BG_DOCKER_ENV set (ctest does). Binaries from $BG_BUILD_DIR.
set -euo pipefail

SCENARIO=${1:?usage: docker_deploy.sh deploy|canary|failures|readopt|orphans|portinuse|credhelper}
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
    [ -z "${HOLD_PID:-}" ] || kill "$HOLD_PID" 2>/dev/null || true
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

# Running container ids of this test's state_dir (any service), sorted.
ours_running() {
    docker ps -q --no-trunc --filter "label=bluegreen.state_dir=$STATE" | sort
}
# Container ids the daemon claims as targets (both slots), sorted.
claimed() {
    bgc status "$SVC" --json | jq -r '.slots[].targets[]?.instance.handle // empty' | sort
}
# kill_serve: kill -9 the daemon (its containers run on).
kill_serve() {
    kill -KILL "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=
}
# wait_only_claimed SECS: until every running container of the state_dir is a target.
wait_only_claimed() {
    local deadline=$((SECONDS + $1))
    until [ -n "$(ours_running)" ] && [ "$(ours_running)" = "$(claimed)" ]; do
        [ $SECONDS -lt $deadline ] || fail "containers that no target claims still run:
running: $(ours_running)
claimed: $(claimed)"
        sleep 0.2
    done
}
# our_container SLOT STORE [create|run] [IMAGE]: a container labelled as bluegreen labels
# its own (state_dir, store id), serving on a fresh port; prints its id.
our_container() {
    local p mode=${3:-run} detach=
    [ "$mode" != run ] || detach=-d
    p=$(free_port)
    # shellcheck disable=SC2086
    docker "$mode" $detach --network host -e "PORT=$p" \
        --label "bluegreen.service=$SVC" --label "bluegreen.slot=$1" \
        --label "bluegreen.revision=99" --label "bluegreen.version=2.0.0" \
        --label "bluegreen.image=${4:-$BG_IMAGE:v2}" --label "bluegreen.state_dir=$STATE" \
        --label "bluegreen.store=$2" --label "bluegreen.address=127.0.0.1:$p" \
        "${4:-$BG_IMAGE:v2}"
}

scenario_orphans() {
    write_config ""
    serve 1.0.0
    STATE=$(cd "$TMP/state" && pwd -P)
    local before store id
    before=$(containers)
    [ "$(echo "$before" | wc -l)" -eq 2 ] || fail "want 2 containers, got: $before"
    id=$(echo "$before" | head -1 | awk '{print $1}')
    store=$(docker inspect --format '{{index .Config.Labels "bluegreen.store"}}' "$id")
    [ -n "$store" ] || fail "container $id lacks the bluegreen.store label"
    [ "$(docker inspect --format '{{index .Config.Labels "bluegreen.state_dir"}}' "$id")" = "$STATE" ] ||
        fail "container $id lacks bluegreen.state_dir=$STATE"
    say "containers carry state_dir $STATE and store $store"

    # 1. kill -9 right after a deploy created its first container.
    docker pull -q "$BG_IMAGE:v2" >/dev/null
    bgc deploy "$SVC" --version 2.0.0 --image "$BG_IMAGE:v2" --strategy canary:50%:10m \
        >"$TMP/deploy1.log" 2>&1 || fail "deploy: $(cat "$TMP/deploy1.log")"
    local deadline=$((SECONDS + 120)) green=
    until [ -n "$green" ]; do
        green=$(docker ps -aq --no-trunc --filter "label=bluegreen.service=$SVC" --filter "label=bluegreen.slot=green")
        [ -n "$green" ] || [ $SECONDS -lt $deadline ] || fail "the deploy created no container"
        [ -n "$green" ] || sleep 0.02
    done
    kill_serve
    say "killed -9 with green container $(echo "$green" | head -1 | cut -c1-12) just created"
    serve 1.0.0
    wait_only_claimed 120
    for c in $green; do
        ! ours_running | grep -q "^$c" || fail "green container $c of the killed deploy still runs"
    done
    [ -z "$(docker ps -aq --filter "label=bluegreen.state_dir=$STATE" --filter status=created --filter status=exited)" ] ||
        fail "containers left created or exited: $(docker ps -a --filter "label=bluegreen.state_dir=$STATE")"
    bgc history "$SVC" --json | jq -e '.deployments[0].result == "ROLLED_BACK"' >/dev/null ||
        fail "the interrupted deployment is not ROLLED_BACK: $(bgc history "$SVC" --json | jq -c '.deployments[0]')"
    bgc events --service "$SVC" >"$TMP/events1.log"
    say "restart: the killed deploy's container is stopped ($(grep -c 'target.orphan' "$TMP/events1.log" || true) orphan event(s)); only claimed containers run"

    # 2. A running container the store never recorded, and a created one, of this store.
    local orphan created blue
    blue=$(claimed)
    orphan=$(our_container green "$store")
    created=$(our_container green "$store" create)
    kill_serve
    serve 1.0.0
    wait_only_claimed 120
    deadline=$((SECONDS + 60))
    while docker ps -aq --no-trunc | grep -q "^$orphan"; do
        [ $SECONDS -lt $deadline ] || fail "the orphan container $orphan was not stopped"
        sleep 0.2
    done
    ! docker ps -aq --no-trunc | grep -q "^$created" || fail "the created container $created was not removed"
    [ "$(claimed)" = "$blue" ] || fail "the blue containers changed: $blue -> $(claimed)"
    bgc events --service "$SVC" | grep "target.orphan" | grep -q "${orphan:0:12}" ||
        fail "no target.orphan event names ${orphan:0:12}: $(bgc events --service "$SVC" | tail -5)"
    say "an unrecorded running container was stopped as an orphan, a created one removed; blue re-adopted"

    # 3. A container of another store (the database replaced under it) refuses the boot.
    local foreign rc=0
    foreign=$(our_container green 00000000-feed-beef-0000-000000000000)
    kill_serve
    DOCKER_CONFIG=$DCFG timeout 60 "$BG" serve -c "$TMP/bg.yaml" >"$TMP/refused.log" 2>&1 </dev/null || rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "serve with a foreign container exited $rc: $(tail -5 "$TMP/refused.log")"
    grep -q "missing or was replaced" "$TMP/refused.log" && grep -q "container ${foreign:0:12}" "$TMP/refused.log" ||
        fail "the refusal does not name container ${foreign:0:12}: $(tail -5 "$TMP/refused.log")"
    docker ps -q --no-trunc | grep -q "^$foreign" || fail "the refused boot stopped the foreign container"
    say "a container of another store refused the boot: $(grep -o 'refusing to start[^;]*' "$TMP/refused.log" | head -1)"
    docker rm -f "$foreign" >/dev/null
    serve 1.0.0
    wait_only_claimed 120
}

scenario_portinuse() {
    write_config ""
    serve 1.0.0
    # A port this test holds (a listening socket), and an image whose app insists on it.
    local held cid
    python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(600)' >"$TMP/held" &
    HOLD_PID=$!
    local deadline=$((SECONDS + 30))
    until [ -s "$TMP/held" ]; do
        [ $SECONDS -lt $deadline ] || fail "the port holder did not start"
        sleep 0.05
    done
    held=$(cat "$TMP/held")
    cid=$(docker create "$BG_IMAGE:v2")
    docker commit --change "ENTRYPOINT [\"/sample-app\", \"--version\", \"3.0.0\", \"--port\", \"$held\"]" \
        "$cid" "$BG_IMAGE:portinuse-$$" >/dev/null
    docker rm "$cid" >/dev/null
    docker push -q "$BG_IMAGE:portinuse-$$" >/dev/null || fail "pushing the port-in-use image failed"
    load_start
    deploy_expect ROLLED_BACK 1 --version 3.0.0 --image "$BG_IMAGE:portinuse-$$"
    load_stop
    local reason
    reason=$(jq -r .reason "$TMP/deploy.json")
    [[ "$reason" == *"exited during startup"* && "$reason" == *"address already in use"* ]] ||
        fail "the reason lacks the container's own message: $reason"
    jq -r '.evidence.targets[].log_tail' "$TMP/deploy.json" | grep -q "port=$held err=address already in use" ||
        fail "the container's last log lines are not in the record: $(jq -c .evidence "$TMP/deploy.json")"
    [ "$(version_now)" = 1.0.0 ] || fail "the live slot changed"
    [ "$(containers | wc -l)" -eq 2 ] || fail "the failed deployment left containers: $(containers)"
    say "port in use: $reason"
}

scenario_credhelper() {
    mkdir -p "$TMP/bin"
    # A credential helper by the protocol: `get`, the server address on stdin, JSON out;
    # the login it holds is in its own file, so each case swaps what it answers.
    cat >"$TMP/bin/docker-credential-bgtest" <<SH
#!/bin/sh
[ "\$1" = get ] || { echo "unsupported: \$1"; exit 1; }
read -r server
echo "\$server" >>"$TMP/helper.calls"
if [ -f "$TMP/helper.login" ] && [ "\$server" = "$BG_REGISTRY_AUTH" ]; then
    printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "\$server" \
        "\$(cut -d: -f1 "$TMP/helper.login")" "\$(cut -d: -f2- "$TMP/helper.login")"
    exit 0
fi
echo "credentials not found in native keychain"
exit 1
SH
    chmod +x "$TMP/bin/docker-credential-bgtest"
    export PATH="$TMP/bin:$PATH"
    write_config ""
    serve 1.0.0

    # credHelpers names it for the authed registry; auths holds a wrong password that must
    # not be used (the helper wins, as in the docker CLI).
    local bad
    bad=$(printf '%s:%s' "$BG_REGISTRY_USER" wrong-password | base64 -w0)
    printf '{"auths":{"%s":{"auth":"%s"}},"credHelpers":{"%s":"bgtest"}}\n' \
        "$BG_REGISTRY_AUTH" "$bad" "$BG_REGISTRY_AUTH" >"$DCFG/config.json"
    printf '%s:%s' "$BG_REGISTRY_USER" "$BG_REGISTRY_PASS" >"$TMP/helper.login"
    deploy_expect SUCCEEDED 0 --version 2.0.0 --image "$BG_IMAGE_AUTH:v2"
    [ "$(version_now)" = 2.0.0 ] || fail "not serving 2.0.0 pulled with the helper's login"
    grep -qx "$BG_REGISTRY_AUTH" "$TMP/helper.calls" || fail "the helper was not asked for $BG_REGISTRY_AUTH: $(cat "$TMP/helper.calls" 2>/dev/null)"
    say "credHelpers: pulled $BG_IMAGE_AUTH:v2 with the login of docker-credential-bgtest"

    # The helper's login is refused by the registry: FAILED with the registry's words.
    printf '%s:%s' "$BG_REGISTRY_USER" wrong-password >"$TMP/helper.login"
    deploy_expect FAILED 1 --version 1.0.0 --image "$BG_IMAGE_AUTH:v1"
    jq -r .reason "$TMP/deploy.json" | grep -q "via docker-credential-bgtest" ||
        fail "the reason does not name the helper: $(jq -r .reason "$TMP/deploy.json")"
    jq -r .reason "$TMP/deploy.json" | grep -qi "unauthorized\|authentication" ||
        fail "refused login: $(jq -r .reason "$TMP/deploy.json")"
    say "refused helper login: $(jq -r .reason "$TMP/deploy.json")"

    # credsStore for every registry; the helper has no login: anonymous pull, refused.
    rm -f "$TMP/helper.login"
    printf '{"credsStore":"bgtest"}\n' >"$DCFG/config.json"
    deploy_expect FAILED 1 --version 1.0.0 --image "$BG_IMAGE_AUTH:v1"
    jq -r .reason "$TMP/deploy.json" | grep -q "no login from docker-credential-bgtest" ||
        fail "not-found: $(jq -r .reason "$TMP/deploy.json")"
    say "helper without a login: $(jq -r .reason "$TMP/deploy.json")"
    # ... and with it, credsStore serves the login.
    printf '%s:%s' "$BG_REGISTRY_USER" "$BG_REGISTRY_PASS" >"$TMP/helper.login"
    deploy_expect SUCCEEDED 0 --version 1.0.0 --image "$BG_IMAGE_AUTH:v1"
    [ "$(version_now)" = 1.0.0 ] || fail "not serving 1.0.0 pulled with credsStore"
    say "credsStore: pulled $BG_IMAGE_AUTH:v1"

    # A helper that is not installed: FAILED naming it, nothing started.
    printf '{"credsStore":"bg-no-such-helper"}\n' >"$DCFG/config.json"
    deploy_expect FAILED 1 --version 2.0.0 --image "$BG_IMAGE_AUTH:v2"
    jq -r .reason "$TMP/deploy.json" | grep -q "docker-credential-bg-no-such-helper" ||
        fail "missing helper: $(jq -r .reason "$TMP/deploy.json")"
    [ "$(version_now)" = 1.0.0 ] || fail "the live slot changed"
    say "missing helper: $(jq -r .reason "$TMP/deploy.json")"
}

case "$SCENARIO" in
deploy | canary | failures | readopt | orphans | portinuse | credhelper) "scenario_$SCENARIO" ;;
*) fail "unknown scenario $SCENARIO" ;;
esac
say PASS
