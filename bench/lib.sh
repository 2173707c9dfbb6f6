# shellcheck shell=bash
# bench/lib.sh — shared helpers for the bench/*.sh scripts (sourced, not run).
#
# Starts the peers (bluegreen, nginx, HAProxy) with generated configs in a private temp
# dir, all in front of the SAME two backends (blue, green), and tears down exactly the
# processes this script started (by PID, on EXIT). Results are printed as lines
#   RESULT <metric> <peer> <value>
# which bench/run.sh collects into its table.
#
# Environment:
#   BENCH_PEERS     peers to measure (default "bluegreen nginx haproxy")
#   BENCH_QUICK=1   smaller counts and shorter runs (bench/run.sh --quick)
#   BENCH_BUILD     build dir with bluegreen and bench-* binaries (default build-bench)
#   BENCH_BACKEND   "bench" (bench/backend.c, default) or "sample-app" (build/sample-app)
#   PEER_H2=1       peers listen for HTTP/2 with prior knowledge (h2c) only: nginx
#                   `listen ... http2`, HAProxy `bind ... proto h2`, bluegreen `http2:
#                   {h2c: true}`; readiness is probed with curl --http2-prior-knowledge

set -euo pipefail

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_SRC/.." && pwd)
BENCH_BUILD=${BENCH_BUILD:-$ROOT/build-bench}
BENCH_PEERS=${BENCH_PEERS:-"bluegreen nginx haproxy"}
BENCH_QUICK=${BENCH_QUICK:-0}
BENCH_BACKEND=${BENCH_BACKEND:-bench}
BG_BIN=$BENCH_BUILD/bluegreen
CLIENT_BIN=$BENCH_BUILD/bench/bench-client
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
HAPROXY_BIN=${HAPROXY_BIN:-/usr/sbin/haproxy}

BENCH_PIDS=()
BENCH_TMP=$(mktemp -d /tmp/bgbench.XXXXXX)

die() {
    echo "bench: FATAL: $*" >&2
    exit 1
}
note() { echo "[$(date +%T)] $*" >&2; }
result() { echo "RESULT $1 $2 $3"; }
# count LINE KEY: the number after KEY= in the COUNTS line bench/count.lua makes wrk print
# (stale.sh, switch.sh); dies when it is absent.
count() {
    local v
    v=$(echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k && $2 ~ /^[0-9]+$/ {print $2}')
    [ -n "$v" ] || die "COUNTS line lacks $2: $1"
    echo "$v"
}

# All descendants of <pid> (children first-level and below), one per line.
descendants() {
    local c
    for c in $(pgrep -P "$1" 2>/dev/null || true); do
        echo "$c"
        descendants "$c"
    done
}

# Stops <pid> and everything it spawned: <sig> (default TERM), then KILL after <secs>.
stop_tree() {
    local pid=$1 sig=${2:-TERM} secs=${3:-10} p kids
    kill -0 "$pid" 2>/dev/null || return 0
    kids=$(descendants "$pid")
    kill -"$sig" "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + secs))
    while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" 2>/dev/null)" != Z ]; do
        if [ $SECONDS -ge $deadline ]; then
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.05
    done
    wait "$pid" 2>/dev/null || true
    for p in $kids; do
        kill -KILL "$p" 2>/dev/null || true
    done
}

bench_cleanup() {
    local i
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
        stop_tree "${BENCH_PIDS[$i]}" TERM 5
    done
    if [ "${BENCH_KEEP_TMP:-0}" != 1 ]; then rm -rf "$BENCH_TMP"; fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# spawn NAME CMD... : runs CMD in the background, logs to $BENCH_TMP/NAME.log; sets SPAWNED.
spawn() {
    local name=$1
    shift
    "$@" >"$BENCH_TMP/$name.log" 2>&1 </dev/null &
    SPAWNED=$!
    BENCH_PIDS+=("$SPAWNED")
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT SECS: until a TCP connect succeeds.
wait_port() {
    local deadline=$((SECONDS + $2))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.05
    done
}

# wait_http PORT SECS [PID]: until GET / answers 2xx (a proxy may listen before its targets
# are known healthy); fails early if PID exits.
wait_http() {
    local deadline=$((SECONDS + $2)) pid=${3:-}
    local probe=("$CLIENT_BIN" seq "$1" 1)
    [ "${PEER_H2:-0}" = 1 ] && [ "$1" != "${BLUE_PORT:-}" ] && [ "$1" != "${GREEN_PORT:-}" ] &&
        probe=(curl -sf --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$1/")
    until "${probe[@]}" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        sleep 0.1
    done
}

# Sum of VmRSS (KiB) over <pids>.
rss_kb() {
    local p sum=0 v
    for p in "$@"; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'; }

require_bins() {
    [ -x "$CLIENT_BIN" ] || die "missing $CLIENT_BIN (run bench/build.sh)"
    [ -x "$BENCH_BUILD/bench/bench-backend" ] || die "missing bench-backend (run bench/build.sh)"
    local p
    for p in $BENCH_PEERS; do
        case $p in
        bluegreen) [ -x "$BG_BIN" ] || die "missing $BG_BIN (run bench/build.sh)" ;;
        nginx) [ -x "$NGINX_BIN" ] || die "missing $NGINX_BIN (apt-get install nginx-light)" ;;
        haproxy) [ -x "$HAPROXY_BIN" ] || die "missing $HAPROXY_BIN (apt-get install haproxy)" ;;
        *) die "unknown peer $p" ;;
        esac
    done
}

# ---------------------------------------------------------------- backends (blue, green)

backends_start() {
    BLUE_PORT=$(free_port)
    GREEN_PORT=$(free_port)
    local slot port
    for slot in blue green; do
        [ $slot = blue ] && port=$BLUE_PORT || port=$GREEN_PORT
        if [ "$BENCH_BACKEND" = sample-app ]; then
            local sa=${SAMPLE_APP_BIN:-$BENCH_BUILD/sample-app}
            [ -x "$sa" ] || die "missing $sa"
            spawn "backend-$slot" "$sa" --service app --version "1.0.$([ $slot = blue ] && echo 1 || echo 2)" \
                --port "$port" --slot $slot
        else
            spawn "backend-$slot" "$BENCH_BUILD/bench/bench-backend" --service app \
                --version "1.0.$([ $slot = blue ] && echo 1 || echo 2)" --port "$port" --slot $slot
        fi
        wait_http "$port" 10 || die "backend $slot did not come up (see $BENCH_TMP/backend-$slot.log)"
    done
}

# ---------------------------------------------------------------- peers
#
# peer_start PEER [WRAP...]: starts PEER in front of blue (weight 100) and green (0) on a
# fresh port. WRAP (e.g. valgrind --tool=callgrind ...) prefixes the proxy command line; with
# a wrapper nginx runs without a master process so the measured process is the only one.
# Sets PEER_PID (the process to measure/stop) and PEER_PORT. Config knobs:
#   PEER_HEALTH_INTERVAL (bluegreen health interval, default 1s), PEER_WORKERS (default 1).

nginx_conf() {
    local dir=$1 port=$2 backend=$3 master=$4
    local user_line=""
    [ "$(id -u)" = 0 ] && user_line="user root root;"
    cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process $master;
$user_line
worker_processes ${PEER_WORKERS:-1};
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 12000; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    upstream app {
        server $backend;
        keepalive 64;
        keepalive_requests 100000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$port$([ "${PEER_H2:-0}" = 1 ] && echo " http2");
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF
}

haproxy_conf() {
    local dir=$1 port=$2
    cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread ${PEER_WORKERS:-1}
    maxconn 9000
    pidfile $dir/haproxy.pid
    stats socket $dir/haproxy.sock mode 600 level admin
defaults
    mode http
    maxconn 9000
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
    option forwardfor
frontend fe
    bind 127.0.0.1:$port$([ "${PEER_H2:-0}" = 1 ] && echo " proto h2")
    default_backend be
backend be
    balance roundrobin
    server blue 127.0.0.1:$BLUE_PORT weight 100
    server green 127.0.0.1:$GREEN_PORT weight 0
EOF
}

bluegreen_conf() {
    local dir=$1 port=$2
    cat >"$dir/bg.yaml" <<EOF
listen: 127.0.0.1:$port
admin: unix:$dir/bg.sock
state_dir: $dir/state
workers: ${PEER_WORKERS:-1}
services:
  app:
    route: {path_prefix: /}
    driver: static
    targets: {blue: ["127.0.0.1:$BLUE_PORT"], green: ["127.0.0.1:$GREEN_PORT"]}
    traffic: {blue: 100, green: 0}
    health: {path: /actuator/health, interval: ${PEER_HEALTH_INTERVAL:-1s}}
EOF
    if [ "${PEER_H2:-0}" = 1 ]; then
        printf 'http2: {h2c: true}\n' >>"$dir/bg.yaml"
    fi
    # BENCH_ACCESS_LOG=json|combined: with the access log on (issue 12; off by default).
    if [ -n "${BENCH_ACCESS_LOG:-}" ]; then
        printf 'access_log: %s/access.log\naccess_log_format: %s\n' "$dir" "$BENCH_ACCESS_LOG" \
            >>"$dir/bg.yaml"
    fi
}

peer_start() {
    local peer=$1
    shift
    PEER_PORT=$(free_port)
    PEER_DIR=$(mktemp -d "$BENCH_TMP/$peer.XXXX")
    mkdir -p "$PEER_DIR/tmp" "$PEER_DIR/state"
    local timeout=20
    [ $# -gt 0 ] && timeout=120
    case $peer in
    bluegreen)
        bluegreen_conf "$PEER_DIR" "$PEER_PORT"
        spawn "$(basename "$PEER_DIR")" "$@" "$BG_BIN" serve -c "$PEER_DIR/bg.yaml"
        ;;
    nginx)
        local master=on
        [ $# -gt 0 ] && master=off
        nginx_conf "$PEER_DIR" "$PEER_PORT" "127.0.0.1:$BLUE_PORT" $master
        spawn "$(basename "$PEER_DIR")" "$@" "$NGINX_BIN" -p "$PEER_DIR" -c "$PEER_DIR/nginx.conf" \
            -e "$PEER_DIR/error.log"
        ;;
    haproxy)
        haproxy_conf "$PEER_DIR" "$PEER_PORT"
        spawn "$(basename "$PEER_DIR")" "$@" "$HAPROXY_BIN" -db -f "$PEER_DIR/haproxy.cfg"
        ;;
    *) die "unknown peer $peer" ;;
    esac
    PEER_PID=$SPAWNED
    if ! wait_http "$PEER_PORT" $timeout "$PEER_PID"; then
        cat "$BENCH_TMP/$(basename "$PEER_DIR").log" >&2 || true
        die "$peer did not answer 2xx on 127.0.0.1:$PEER_PORT within ${timeout}s"
    fi
}

# The proxy's processes: the started pid and its descendants (nginx workers).
peer_pids() {
    echo "$PEER_PID"
    descendants "$PEER_PID"
}

# peer_stop [SIG]: graceful stop; waits so that wrappers (callgrind) can write their output.
peer_stop() { stop_tree "$PEER_PID" "${1:-TERM}" 60; }

# True once every thread of every pid in $@ has a tracer.
all_traced() {
    local p t tp
    for p in "$@"; do
        for t in /proc/"$p"/task/*; do
            tp=$(awk '/^TracerPid:/ {print $2}' "$t/status" 2>/dev/null || echo 0)
            [ "${tp:-0}" != 0 ] || return 1
        done
    done
}

# traced OUT CMD...: runs CMD while strace counts the peer's syscalls into OUT; prints the
# total number of calls.
traced() {
    local out=$1 pids p spid deadline
    shift
    pids=$(peer_pids)
    local args=()
    for p in $pids; do args+=(-p "$p"); done
    strace -f -c -o "$out" "${args[@]}" 2>"$out.err" &
    spid=$!
    BENCH_PIDS+=("$spid")
    deadline=$((SECONDS + 20))
    until all_traced $pids; do
        [ $SECONDS -lt $deadline ] || die "strace did not attach to $pids"
        sleep 0.05
    done
    "$@" >"$out.load" 2>&1 || die "load failed: $(cat "$out.load")"
    kill -INT "$spid"
    wait "$spid" || true
    # Summary's last line: "100.00 <seconds> <usecs/call> <calls> [<errors>] total".
    note "  top: $(awk '$NF != "total" && $4 ~ /^[0-9]+$/ {print $4, $NF}' "$out" | sort -nr | head -7 | awk '{printf "%s=%s ", $2, $1}')"
    awk '$NF == "total" {print $4}' "$out"
}

# switch_to PEER SLOT: moves all traffic of the running peer to SLOT (blue|green).
switch_to() {
    local peer=$1 slot=$2 other
    [ "$slot" = blue ] && other=green || other=blue
    case $peer in
    bluegreen)
        "$BG_BIN" --admin "unix:$PEER_DIR/bg.sock" traffic app "$slot=100" "$other=0" >/dev/null
        ;;
    haproxy)
        # Raise the new slot before lowering the old one so the backend is never empty.
        python3 - "$PEER_DIR/haproxy.sock" "$slot" "$other" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(f"set weight be/{sys.argv[2]} 100; set weight be/{sys.argv[3]} 0\n".encode())
out = b""
while True:
    d = s.recv(4096)
    if not d: break
    out += d
if out.strip(): sys.exit("haproxy: " + out.decode())
EOF
        ;;
    nginx)
        local port
        [ "$slot" = blue ] && port=$BLUE_PORT || port=$GREEN_PORT
        sed -i "s/^\( *server \)127\.0\.0\.1:[0-9]*;/\1127.0.0.1:$port;/" "$PEER_DIR/nginx.conf"
        "$NGINX_BIN" -p "$PEER_DIR" -c "$PEER_DIR/nginx.conf" -e "$PEER_DIR/error.log" -s reload
        ;;
    esac
}

quick() { [ "$BENCH_QUICK" = 1 ] && echo "$1" || echo "$2"; }
