#!/usr/bin/env bash
# Proves the ctest 'docker' fixture (tests/support/docker_env.sh) gives what the engine
# tests rely on: the authed registry refuses a pull without credentials and a wrong
# password, serves it with the right ones; images from both registries run with host
# networking and answer on 127.0.0.1:$PORT with the version their tag stands for; broken
# answers 500 and bad-health fails its health check.
# Env: BG_DOCKER_ENV = the fixture's env file. Exit 77 (skipped) only when the fixture
# recorded that no engine can start on this machine; a missing env file otherwise fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/support/docker_env_lib.sh
. tests/support/docker_env_lib.sh
docker_env_load

TMP=$(mktemp -d)
CIDS=()
cleanup() {
  local c
  for c in "${CIDS[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "docker_env_check: FAIL: $*" >&2; exit 1; }

# --- the authed registry ------------------------------------------------------------------
docker rmi -f "$BG_IMAGE_AUTH:v1" >/dev/null 2>&1 || true
mkdir -p "$TMP/none" "$TMP/bad" "$TMP/good"
if DOCKER_CONFIG=$TMP/none timeout 60 docker pull -q "$BG_IMAGE_AUTH:v1" >"$TMP/out" 2>&1; then
  fail "pull from the authed registry without credentials succeeded"
fi
grep -qiE 'no basic auth credentials|unauthorized|authentication required' "$TMP/out" ||
  fail "pull without credentials failed for another reason: $(cat "$TMP/out")"
echo "ok: pull without credentials refused: $(head -c 200 "$TMP/out")"

if printf 'wrong-%s' "$BG_REGISTRY_PASS" | DOCKER_CONFIG=$TMP/bad timeout 60 docker login \
  -u "$BG_REGISTRY_USER" --password-stdin "$BG_REGISTRY_AUTH" >"$TMP/out" 2>&1; then
  fail "login with a wrong password succeeded"
fi
echo "ok: login with a wrong password refused"

printf '%s' "$BG_REGISTRY_PASS" | DOCKER_CONFIG=$TMP/good timeout 60 docker login \
  -u "$BG_REGISTRY_USER" --password-stdin "$BG_REGISTRY_AUTH" >"$TMP/out" 2>&1 ||
  fail "login with the fixture's credentials failed: $(cat "$TMP/out")"
DOCKER_CONFIG=$TMP/good timeout 60 docker pull -q "$BG_IMAGE_AUTH:v1" >"$TMP/out" 2>&1 ||
  fail "pull with credentials failed: $(cat "$TMP/out")"
echo "ok: pull with credentials"
DOCKER_CONFIG=$BG_DOCKER_CONFIG timeout 60 docker pull -q "$BG_IMAGE_AUTH:v2" >"$TMP/out" 2>&1 ||
  fail "pull with BG_DOCKER_CONFIG failed: $(cat "$TMP/out")"
echo "ok: pull with BG_DOCKER_CONFIG"

# --- the images ---------------------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# run_image IMAGE -> prints the port; the container is removed on exit.
run_image() {
  local port cid
  port=$(free_port)
  cid=$(timeout 60 docker run -d --network host -e "PORT=$port" \
    --label bluegreen.test=docker_env_check "$1") || fail "docker run $1 failed"
  CIDS+=("$cid")
  local i
  for ((i = 0; i < 100; i++)); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/actuator/health/liveness" &&
      { echo "$port"; return 0; }
    sleep 0.1
  done
  docker logs "$cid" >&2 || true
  fail "$1 did not answer on 127.0.0.1:$port within 10s"
}

expect_version() { # IMAGE VERSION
  local port body v
  port=$(run_image "$1")
  body=$(curl -s --max-time 5 "http://127.0.0.1:$port/") || fail "GET / on $1 failed"
  v=$(jq -r .version <<<"$body")
  [ "$v" = "$2" ] || fail "$1 answered version '$v', want '$2' (body: $body)"
  echo "ok: $1 runs with host networking and answers $body"
}

expect_version "$BG_IMAGE_AUTH:v1" 1.0.0
expect_version "$BG_IMAGE:v1" 1.0.0
expect_version "$BG_IMAGE:v2" 2.0.0

port=$(run_image "$BG_IMAGE:broken")
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/")
[ "$code" = 500 ] || fail "broken answered $code on /, want 500"
echo "ok: broken answers 500"

port=$(run_image "$BG_IMAGE:bad-health")
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/actuator/health")
[ "$code" = 503 ] || fail "bad-health answered $code on /actuator/health, want 503"
echo "ok: bad-health fails its health check"

echo "docker_env_check: all ok"
