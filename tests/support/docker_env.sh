#!/usr/bin/env bash
# A private Docker Engine and two registries on loopback, for the tests that need a real
# engine (the docker driver, the GitHub Actions example). Nothing here touches the machine's
# own docker (if any): the engine has its own data root, exec root and socket under DIR.
#
#   docker_env.sh start DIR    start everything, push the test images, write DIR/env
#   docker_env.sh stop DIR     remove every container of that engine, stop the registries,
#                              dockerd and its containerd (by PID), unmount, remove DIR
#
# DIR/env holds KEY=VALUE lines (no quoting needed; `. DIR/env` works):
#   DOCKER_HOST=unix://DIR/docker.sock      the engine (API 1.41 on Debian 12's docker.io;
#                                           the socket is in /tmp when DIR is very long)
#   BG_REGISTRY=127.0.0.1:P                 plain registry (no auth)
#   BG_REGISTRY_AUTH=127.0.0.1:P2           registry with htpasswd (bcrypt) basic auth
#   BG_REGISTRY_USER, BG_REGISTRY_PASS      its credentials
#   BG_IMAGE=<BG_REGISTRY>/sample-app       repository on the plain registry
#   BG_IMAGE_AUTH=<BG_REGISTRY_AUTH>/sample-app   the same images on the authed registry
#   BG_DOCKER_CONFIG=DIR/docker-config      a DOCKER_CONFIG dir whose config.json has the
#                                           authed registry's login (auths)
#   BG_DOCKER_ENV_DIR=DIR
# The engine has no bridge network (--bridge=none, no iptables): containers use host
# networking (--network host; NetworkMode "host" in the API) and listen on 127.0.0.1.
# Both repositories hold these tags (a static sample-app in a FROM scratch image, host
# networking, listening on 127.0.0.1:$PORT; the version is fixed by the image's ENTRYPOINT):
#   v1          --version 1.0.0
#   v2          --version 2.0.0
#   broken      --version 3.0.0 --error-rate 1     (every request but health answers 500)
#   bad-health  --version 4.0.0 --fail-health      (health answers 503)
#
# Exit status of start: 0 ready; 77 when no Docker engine can run on this machine at all
# (not root, or the kernel/sandbox refuses namespaces), with the reason on stderr and in
# DIR/skipped (DIR/env is then absent); 1 for any other failure (a broken setup, not a
# reason to skip). Tests that need the engine: see tests/support/docker_env_lib.sh (skip
# with 77 only when DIR/skipped exists, fail when DIR/env is missing otherwise).
# Needs root (dockerd does). Installs docker.io, docker-registry and apache2-utils from
# Debian when they are missing (package scripts kept from starting daemons).
set -euo pipefail

ME=docker_env
SRC_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export DOCKER_BUILDKIT=0        # the classic builder: no buildx plugin needed
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH

say() { echo "$ME: $*" >&2; }
die() { say "error: $*"; exit 1; }
skip() {
  mkdir -p "$DIR" && echo "$*" >"$DIR/skipped"
  say "SKIP: no Docker engine can start on this machine: $*"
  say "SKIP: tests that need the engine (ctest fixture 'docker') are skipped, NOT passed."
  exit 77
}

usage() {
  echo "usage: docker_env.sh start|stop DIR" >&2
  exit 2
}

# ---- processes -------------------------------------------------------------------------

# True if PID is alive and its command line mentions the string (guards against a PID
# reused by someone else's process).
pid_is() {
  local pid=$1 needle=$2
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$needle"
}

# stop_pid PID NEEDLE SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL.
stop_pid() {
  local pid=$1 needle=$2 secs=$3 i
  pid_is "$pid" "$needle" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < secs * 10; i++)); do
    pid_is "$pid" "$needle" || return 0
    sleep 0.1
  done
  say "pid $pid did not stop in ${secs}s after SIGTERM; SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pid_is "$pid" "$needle" || return 0
    sleep 0.1
  done
}

# until_ok SECONDS CMD...: retries CMD every 0.1 s until it succeeds or time runs out.
until_ok() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---- packages --------------------------------------------------------------------------

ensure_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v docker >/dev/null 2>&1 || missing+=(docker.io)
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} from Debian"
  local policy=/usr/sbin/policy-rc.d made=0 rc=0
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy && made=1
  fi
  {
    DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 update &&
      DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 install \
        --no-install-recommends "${missing[@]}"
  } >&2 || rc=$?
  [ $made -eq 1 ] && rm -f $policy
  [ $rc -eq 0 ] || die "apt-get install ${missing[*]} failed (exit $rc)"
}

# ---- engine ----------------------------------------------------------------------------

dk() { timeout 120 docker "$@"; }

start_dockerd() {
  mkdir -p "$DIR/root" "$EXEC"
  echo "$EXEC" >"$DIR/exec-root"
  setsid dockerd --storage-driver=vfs --bridge=none --iptables=false --ip6tables=false \
    --data-root "$DIR/root" --exec-root "$EXEC" --pidfile "$DIR/dockerd.pid" \
    --host "unix://$SOCK" </dev/null >"$DIR/dockerd.log" 2>&1 &
  local pid=$!
  if ! until_ok 60 dk version; then
    say "dockerd did not answer on $SOCK within 60s; its log ends with:"
    tail -n 25 "$DIR/dockerd.log" >&2 || true
    pid_is "$pid" "$DIR/" && kill -TERM "$pid" 2>/dev/null
    die "dockerd did not start (see above)"
  fi
  say "dockerd $(dk version --format '{{.Server.Version}} (API {{.Server.APIVersion}})') pid $(cat "$DIR/dockerd.pid")"
}

# ---- registries ------------------------------------------------------------------------

# start_registry NAME AUTH(0|1): writes DIR/NAME/config.yml, starts docker-registry on a
# free loopback port, records DIR/NAME.pid and DIR/NAME.port.
start_registry() {
  local name=$1 auth=$2 try port pid want
  mkdir -p "$DIR/$name/data"
  for try in 1 2 3; do
    port=$(free_port)
    {
      echo "version: 0.1"
      echo "log: {level: warn, accesslog: {disabled: true}}"
      echo "storage:"
      echo "  filesystem: {rootdirectory: $DIR/$name/data}"
      echo "  delete: {enabled: true}"
      echo "http: {addr: 127.0.0.1:$port, secret: bluegreen-test-$name}"
      if [ "$auth" = 1 ]; then
        echo "auth:"
        echo "  htpasswd: {realm: bluegreen-test, path: $DIR/$name/htpasswd}"
      fi
    } >"$DIR/$name/config.yml"
    setsid docker-registry serve "$DIR/$name/config.yml" </dev/null \
      >"$DIR/$name.log" 2>&1 &
    pid=$!
    want=200
    [ "$auth" = 1 ] && want=401
    if until_ok 15 registry_answers "$port" "$want"; then
      echo "$pid" >"$DIR/$name.pid"
      echo "$port" >"$DIR/$name.port"
      say "registry $name on 127.0.0.1:$port pid $pid"
      return 0
    fi
    say "registry $name did not answer on port $port (try $try); its log ends with:"
    tail -n 10 "$DIR/$name.log" >&2 || true
    stop_pid "$pid" "$DIR/$name/config.yml" 5
  done
  die "registry $name did not start"
}

registry_answers() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/v2/")
  [ "$code" = "$2" ]
}

# ---- images ----------------------------------------------------------------------------

# A static, uninstrumented sample-app (the test build's is ASan-instrumented and dynamic):
# the same sources as the CMake target, compiled straight into DIR/image.
build_sample_app() {
  local cc=cc out=$DIR/image/sample-app
  command -v ccache >/dev/null 2>&1 && cc="ccache cc"
  mkdir -p "$DIR/image"
  local libuv=
  for f in /usr/lib/*/libuv_a.a /usr/lib/*/libuv.a /usr/lib/libuv_a.a; do
    [ -e "$f" ] && libuv=$f && break
  done
  [ -n "$libuv" ] || die "no static libuv (libuv_a.a from libuv1-dev) found"
  # shellcheck disable=SC2086
  if ! (cd "$SRC_ROOT" && $cc -std=c17 -O2 -D_GNU_SOURCE -DBG_VERSION=\"docker-test\" \
    -Isrc -I/usr/share/include/llhttp -static -o "$out" \
    src/sampleapp/*.c src/base/*.c \
    /usr/share/llhttp/llhttp.c /usr/share/llhttp/api.c /usr/share/llhttp/http.c \
    "$libuv" -lcrypto -lpthread -lm -ldl) >"$DIR/image/build.log" 2>&1; then
    cat "$DIR/image/build.log" >&2
    die "building the static sample-app failed"
  fi
  "$out" --help >/dev/null || die "the static sample-app does not run"
}

# build_image TAG ARGS...: a FROM scratch image with ENTRYPOINT [/sample-app ARGS...],
# tagged for both registries.
build_image() {
  local tag=$1 ctx entry a
  shift
  ctx=$DIR/image/$tag
  mkdir -p "$ctx"
  ln -f "$DIR/image/sample-app" "$ctx/sample-app"
  entry='"/sample-app"'
  for a in "$@"; do entry="$entry, \"$a\""; done
  printf 'FROM scratch\nCOPY sample-app /sample-app\nENTRYPOINT [%s]\n' "$entry" \
    >"$ctx/Dockerfile"
  dk build -q -t "$IMAGE:$tag" -t "$IMAGE_AUTH:$tag" "$ctx" >"$DIR/image/$tag.log" 2>&1 ||
    { cat "$DIR/image/$tag.log" >&2; die "docker build of $tag failed"; }
}

push_all() {
  local tag
  for tag in v1 v2 broken bad-health; do
    dk push "$IMAGE:$tag" >"$DIR/image/push-$tag.log" 2>&1 ||
      { cat "$DIR/image/push-$tag.log" >&2; die "push $IMAGE:$tag failed"; }
    DOCKER_CONFIG=$DIR/docker-config dk push "$IMAGE_AUTH:$tag" \
      >"$DIR/image/push-auth-$tag.log" 2>&1 ||
      { cat "$DIR/image/push-auth-$tag.log" >&2; die "push $IMAGE_AUTH:$tag failed"; }
  done
}

# ---- start / stop ----------------------------------------------------------------------

running() {
  [ -f "$DIR/env" ] && pid_is "$(cat "$DIR/dockerd.pid" 2>/dev/null)" "$DIR/" &&
    pid_is "$(cat "$DIR/registry.pid" 2>/dev/null)" "$DIR/" &&
    pid_is "$(cat "$DIR/registry-auth.pid" 2>/dev/null)" "$DIR/" &&
    dk version >/dev/null 2>&1
}

preflight() {
  [ "$(id -u)" -eq 0 ] || skip "dockerd needs root and this runs as uid $(id -u)"
  command -v unshare >/dev/null 2>&1 || die "unshare (util-linux) is missing"
  unshare --mount --pid --net --uts --ipc --fork true 2>/dev/null ||
    skip "the kernel or sandbox refuses new namespaces (unshare -m -p -n -u -i failed)"
}

do_start() {
  if running; then
    say "already running in $DIR"
    return 0
  fi
  preflight
  if [ -e "$DIR" ]; then
    say "stale $DIR: cleaning it first"
    do_stop
  fi
  ensure_packages
  mkdir -p "$DIR"
  local t0=$SECONDS
  start_dockerd
  start_registry registry 0
  local user=bluegreen pass
  pass=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  htpasswd -Bbn "$user" "$pass" >"$DIR/registry-auth.htpasswd.tmp" 2>/dev/null ||
    die "htpasswd -B failed"
  mkdir -p "$DIR/registry-auth"
  grep -v '^$' "$DIR/registry-auth.htpasswd.tmp" >"$DIR/registry-auth/htpasswd"
  rm -f "$DIR/registry-auth.htpasswd.tmp"
  start_registry registry-auth 1
  REG=127.0.0.1:$(cat "$DIR/registry.port")
  REG_AUTH=127.0.0.1:$(cat "$DIR/registry-auth.port")
  IMAGE=$REG/sample-app
  IMAGE_AUTH=$REG_AUTH/sample-app
  mkdir -p "$DIR/docker-config"
  printf '%s' "$pass" | DOCKER_CONFIG=$DIR/docker-config dk login -u "$user" \
    --password-stdin "$REG_AUTH" >"$DIR/login.log" 2>&1 ||
    { cat "$DIR/login.log" >&2; die "docker login to $REG_AUTH failed"; }
  build_sample_app
  build_image v1 --version 1.0.0
  build_image v2 --version 2.0.0
  build_image broken --version 3.0.0 --error-rate 1
  build_image bad-health --version 4.0.0 --fail-health
  push_all
  # Pull back one tag from each registry through the engine: proves the engine accepts
  # both loopback registries without TLS.
  dk rmi "$IMAGE:v1" "$IMAGE_AUTH:v1" >/dev/null
  dk pull -q "$IMAGE:v1" >/dev/null || die "pull $IMAGE:v1 failed"
  DOCKER_CONFIG=$DIR/docker-config dk pull -q "$IMAGE_AUTH:v1" >/dev/null ||
    die "pull $IMAGE_AUTH:v1 failed"
  cat >"$DIR/env.tmp" <<EOF
DOCKER_HOST=unix://$SOCK
BG_REGISTRY=$REG
BG_REGISTRY_AUTH=$REG_AUTH
BG_REGISTRY_USER=$user
BG_REGISTRY_PASS=$pass
BG_IMAGE=$IMAGE
BG_IMAGE_AUTH=$IMAGE_AUTH
BG_DOCKER_CONFIG=$DIR/docker-config
BG_DOCKER_ENV_DIR=$DIR
EOF
  mv "$DIR/env.tmp" "$DIR/env"
  say "ready in $((SECONDS - t0))s: $DIR/env"
}

# Every process whose command line names DIR (containerd-shims left by a killed dockerd).
procs_under_dir() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = $$ ] && continue
    pid_is "$p" "$EXEC/" && echo "$p"
  done
  return 0
}

# PIDs of processes in a cgroup named after one of this engine's containers.
container_procs() {
  local ids=() c p
  for c in "$DIR"/root/containers/*/; do
    [ -d "$c" ] && ids+=("$(basename "$c")")
  done
  [ ${#ids[@]} -gt 0 ] || return 0
  for p in /proc/[0-9]*; do
    [ -r "$p/cgroup" ] || continue
    grep -qF -f <(printf '%s\n' "${ids[@]}") "$p/cgroup" 2>/dev/null && echo "${p#/proc/}"
  done
  return 0
}

do_stop() {
  [ -e "$DIR" ] || { say "nothing to stop in $DIR"; return 0; }
  local dpid cpid ids p m
  [ -s "$DIR/exec-root" ] && EXEC=$(cat "$DIR/exec-root")
  dpid=$(cat "$DIR/dockerd.pid" 2>/dev/null || true)
  cpid=$(cat "$EXEC/containerd/containerd.pid" 2>/dev/null || true)
  if pid_is "$dpid" "$DIR/" && dk version >/dev/null 2>&1; then
    ids=$(dk ps -aq || true)
    if [ -n "$ids" ]; then
      say "removing containers: $(echo "$ids" | tr '\n' ' ')"
      # shellcheck disable=SC2086
      dk rm -f $ids >/dev/null || say "docker rm -f failed for some containers"
    fi
  fi
  for r in registry registry-auth; do
    stop_pid "$(cat "$DIR/$r.pid" 2>/dev/null || true)" "$DIR/$r/config.yml" 10
  done
  stop_pid "$dpid" "$DIR/" 30
  stop_pid "$cpid" "$EXEC/" 10
  for p in $(procs_under_dir); do
    say "stopping leftover pid $p ($(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-80))"
    stop_pid "$p" "$EXEC/" 5
  done
  # Container processes outlive a dockerd and shims that were killed: find them by their
  # cgroup, which names the container id (ids of this engine: DIR/root/containers/).
  for p in $(container_procs); do
    say "killing leftover container process $p ($(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-60))"
    kill -KILL "$p" 2>/dev/null || true
  done
  # dockerd leaves its network namespace mount (exec/netns/default) and container mounts
  # behind when it is killed; deepest first.
  for m in $(findmnt -rn -o TARGET | grep -F -e "$DIR/" -e "$EXEC/" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "cannot unmount $m"
  done
  case "$EXEC" in "$DIR"/*) ;; *) rm -rf "$EXEC" || die "cannot remove $EXEC" ;; esac
  rm -rf "$DIR" || die "cannot remove $DIR"
  say "stopped and removed $DIR"
}

[ $# -eq 2 ] || usage
CMD=$1
case "$2" in
  /*) DIR=$2 ;;
  *) DIR=$(pwd)/$2 ;;
esac
DIR=${DIR%/}
# Unix socket paths are limited to 107 bytes: containerd's sockets live in the exec root
# (up to 38 more bytes) and the API socket is DIR/docker.sock. Under a deep DIR they move
# to a short directory in /tmp named after DIR (recorded in DIR/exec-root for stop).
EXEC=$DIR/exec
if [ ${#DIR} -gt 64 ]; then
  EXEC=/tmp/bg-dockerenv-$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)
fi
SOCK=$DIR/docker.sock
[ ${#DIR} -le 90 ] || SOCK=$EXEC/docker.sock
export DOCKER_HOST="unix://$SOCK"
case "$CMD" in
  start) do_start ;;
  stop) do_stop ;;
  *) usage ;;
esac
