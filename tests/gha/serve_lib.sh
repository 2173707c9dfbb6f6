# shellcheck shell=bash
# Sourced by the GitHub Actions tests that deploy for real: a `bluegreen serve` whose
# service `orders` runs on the docker driver of the ctest 'docker' fixture, with an http
# admin endpoint and a token (as a workflow would reach it). Needs docker_env_load first
# and $TMP (a scratch directory the caller removes), or serve_test_init.
#   serve_start          starts it (orders = $BG_IMAGE_AUTH:v1, 1.0.0), waits until the
#                        load balancer answers 1.0.0; sets LB, ADMIN, TOKEN, BG
#   serve_stop           `shutdown --stop-targets`, then by PID if it must
#   lb_version           the version the load balancer's answer names
#   serve_test_init NAME for a test script (instead of the two lines above): loads the
#                        fixture's env, makes $TMP, defines fail ("NAME: FAIL: ...") and
#                        the EXIT trap (serve_stop, serve.log's tail on failure, rm $TMP)
BG=${BG_BUILD_DIR:?}/bluegreen
SERVE_PID=

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

lb_version() { curl -s --max-time 2 "http://$LB/" | jq -r '.version // empty' 2>/dev/null; }

# wait_version V SECS
wait_version() {
  local deadline=$((SECONDS + $2))
  until [ "$(lb_version)" = "$1" ]; do
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

serve_start() {
  [ -x "$BG" ] || { echo "FAIL: $BG is missing" >&2; exit 1; }
  LB=127.0.0.1:$(free_port)
  ADMIN=http://127.0.0.1:$(free_port)
  TOKEN=gha-test-$RANDOM$RANDOM
  mkdir -p "$TMP/state"
  cat >"$TMP/bluegreen.yaml" <<YAML
listen: $LB
admin: $ADMIN
admin_token: $TOKEN
state_dir: $TMP/state
services:
  orders:
    driver: docker
    route: {path_prefix: /}
    version: 1.0.0
    image: $BG_IMAGE_AUTH:v1
    health: {path: /actuator/health, format: actuator, interval: 200ms, healthy_threshold: 2}
    strategy: all-at-once
    startup_timeout: 10s
    termination_wait: 30s
    drain: 500ms
    stop_timeout: 2s
YAML
  # The daemon pulls from the authed registry with the fixture's login.
  DOCKER_CONFIG=$BG_DOCKER_CONFIG "$BG" serve -c "$TMP/bluegreen.yaml" \
    >"$TMP/serve.log" 2>&1 </dev/null &
  SERVE_PID=$!
  if ! wait_version 1.0.0 60; then
    tail -n 40 "$TMP/serve.log" >&2
    echo "FAIL: orders 1.0.0 did not answer on $LB within 60s" >&2
    exit 1
  fi
}

serve_stop() {
  [ -n "$SERVE_PID" ] || return 0
  timeout 60 "$BG" --admin "$ADMIN" --token "$TOKEN" shutdown --stop-targets >/dev/null 2>&1 || true
  local i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVE_PID" 2>/dev/null; then
    echo "serve (pid $SERVE_PID) did not stop in 30s; SIGKILL" >&2
    kill -KILL "$SERVE_PID" 2>/dev/null || true
  fi
  wait "$SERVE_PID" 2>/dev/null || true
  SERVE_PID=
}

# serve_test_init NAME: the set-up every test of this kind starts with (the working
# directory is the repository root): docker_env_load (exit 77 when the fixture found no
# engine), TMP=$(mktemp -d), fail MESSAGE (prints "NAME: FAIL: MESSAGE", exit 1), and an
# EXIT trap that stops the daemon (serve_stop), shows serve.log's tail when the test failed
# and removes $TMP.
serve_test_init() {
  SERVE_TEST_NAME=$1
  # shellcheck source=tests/support/docker_env_lib.sh
  . tests/support/docker_env_lib.sh
  docker_env_load
  TMP=$(mktemp -d)
  trap serve_test_cleanup EXIT
}
fail() { echo "$SERVE_TEST_NAME: FAIL: $*" >&2; exit 1; }
serve_test_cleanup() {
  local rc=$?
  serve_stop
  if [ $rc -ne 0 ] && [ -f "$TMP/serve.log" ]; then
    echo "---- serve.log (tail)" >&2
    tail -n 40 "$TMP/serve.log" >&2
  fi
  rm -rf "$TMP"
}
