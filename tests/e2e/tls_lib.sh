# tests/e2e/tls_lib.sh — sourced by the TLS e2e scenarios (tls_clients.sh, tls_load.sh,
# tls_testssl.sh): a private CA and certificates made with openssl at test time (nothing
# private is committed), sample-app blue/green, an echo backend that returns the request
# head, and `bluegreen serve` with a TLS listener, all on ephemeral loopback ports.
# The caller sets NAME before sourcing. A missing binary or tool is a failure, never a skip.

BUILD=${BG_BUILD_DIR:-build}
BG=$BUILD/bluegreen
SA=$BUILD/sample-app
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fail() {
    echo "$NAME: FAIL: $*" >&2
    exit 1
}
say() { echo "$NAME: $*"; }

for bin in "$BG" "$SA"; do
    [ -x "$bin" ] || fail "missing binary $bin (build it; BG_BUILD_DIR=${BG_BUILD_DIR:-unset})"
done
for tool in openssl curl python3 wrk; do
    command -v $tool >/dev/null || fail "missing tool $tool"
done

TMP=$(mktemp -d /tmp/bg-$NAME.XXXXXX)
PIDS=()
cleanup() {
    local rc=$? p i
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
            tail -n 30 "$f" >&2 || true
        done
        echo "$NAME: logs kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
start() { # start NAME CMD...: background process, log in $TMP/NAME.log
    local name=$1
    shift
    "$@" >"$TMP/$name.log" 2>&1 </dev/null &
    PIDS+=("$!")
}
# wait_get URL PATTERN SECS [CURL ARGS...]: until GET URL answers 2xx with a body matching PATTERN.
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
bgcli() { "$BG" --admin "unix:$TMP/bg.sock" "$@"; }

# ---- certificates: a private CA, then leaf certificates signed by it ----------------------
CERTS=$TMP/certs
mkdir -p "$CERTS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$CERTS/ca.key" -out "$CERTS/ca.pem" -subj "/CN=bluegreen test CA" 2>"$TMP/openssl.log" ||
    fail "openssl could not make the CA: $(cat "$TMP/openssl.log")"
# leaf NAME SANS [KEYTYPE]: $CERTS/NAME.pem + NAME.key, CN=NAME, signed by the CA, valid
# LEAF_DAYS days (default 2); LEAF_EXT adds extension lines.
leaf() {
    local n=$1 sans=$2 kt=${3:-ec}
    local kopt=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
    [ "$kt" = rsa ] && kopt=(-newkey rsa:2048)
    openssl req "${kopt[@]}" -nodes -keyout "$CERTS/$n.key" -out "$CERTS/$n.csr" \
        -subj "/CN=$n" 2>>"$TMP/openssl.log" || fail "openssl req $n"
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n%s\n' \
        "$sans" "${LEAF_EXT:-}" >"$CERTS/$n.ext"
    openssl x509 -req -in "$CERTS/$n.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" \
        -CAcreateserial -days "${LEAF_DAYS:-2}" -extfile "$CERTS/$n.ext" -out "$CERTS/$n.pem" \
        2>>"$TMP/openssl.log" || fail "openssl x509 $n"
    chmod 600 "$CERTS/$n.key"
}

# ---- backends and the daemon ---------------------------------------------------------------
# An echo backend: answers every request with its head as JSON (X-Forwarded-Proto checks).
echo_backend() { # PORT
    python3 - "$1" <<'PY' &
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
    PIDS+=("$!")
}

# start_stack TLS_BLOCK_YAML: sample-app blue/green + echo + bluegreen serve with `listen`
# carrying the given tls block (indented for `  tls:`) and a plain `test_listen` that
# redirects to it (308); STACK_EXTRA_YAML is appended to the config (e.g. `http2: {alpn:
# true}`). Sets PORT, PLAIN_PORT, BLUE_PORT, GREEN_PORT.
start_stack() {
    BLUE_PORT=$(free_port)
    GREEN_PORT=$(free_port)
    ECHO_PORT=$(free_port)
    PORT=$(free_port)
    PLAIN_PORT=$(free_port)
    start blue "$SA" --service app --version 1.0.0 --port "$BLUE_PORT" --slot blue
    start green "$SA" --service app --version 2.0.0 --port "$GREEN_PORT" --slot green
    echo_backend "$ECHO_PORT"
    wait_get "http://127.0.0.1:$BLUE_PORT/actuator/health" UP 20 || fail "sample-app blue not healthy"
    wait_get "http://127.0.0.1:$GREEN_PORT/actuator/health" UP 20 || fail "sample-app green not healthy"
    mkdir -p "$TMP/state"
    cat >"$TMP/bg.yaml" <<YAML
listen:
  address: 127.0.0.1:$PORT
  tls:
$1
test_listen:
  address: 127.0.0.1:$PLAIN_PORT
  redirect_https: {status: 308, port: $PORT}
admin: unix:$TMP/bg.sock
state_dir: $TMP/state
workers: 2
services:
  echo:
    route: {path_prefix: /echo}
    driver: static
    targets: {blue: ["127.0.0.1:$ECHO_PORT"], green: ["127.0.0.1:$ECHO_PORT"]}
    health: {type: tcp, interval: 1s}
  app:
    route: {path_prefix: /}
    driver: static
    targets: {blue: ["127.0.0.1:$BLUE_PORT"], green: ["127.0.0.1:$GREEN_PORT"]}
    traffic: {blue: 100, green: 0}
    health: {path: /actuator/health, interval: 1s}
${STACK_EXTRA_YAML:-}
YAML
    start serve "$BG" serve -c "$TMP/bg.yaml"
    SERVE_PID=${PIDS[-1]}
    wait_get "https://a.test:$PORT/" '"slot" *: *"blue"' 30 --cacert "$CERTS/ca.pem" \
        --resolve "a.test:$PORT:127.0.0.1" || fail "bluegreen serve does not answer HTTPS"
}

# https HOST PATH [CURL ARGS...]: curl over HTTPS with SNI HOST (resolved to 127.0.0.1),
# verified against the test CA; prints the body.
https() {
    local host=$1 path=$2
    shift 2
    curl -sS --http1.1 --max-time 10 --cacert "$CERTS/ca.pem" --resolve "$host:$PORT:127.0.0.1" \
        "$@" "https://$host:$PORT$path"
}

# wrk_counts FILE: the COUNTS line of bench/count.lua checked: 0 non-2xx, 0 socket errors.
# Prints the number of requests.
wrk_check() {
    local line v requests=0 bad=0
    line=$(grep '^COUNTS ' "$1") || fail "no COUNTS line from the wrk script: $(cat "$1")"
    for k in non2xx connect read write timeout status; do
        v=$(echo "$line" | tr ' ' '\n' | awk -F= -v k=$k '$1 == k {print $2}')
        [ -n "$v" ] || fail "COUNTS line lacks $k: $line"
        [ "$v" -eq 0 ] || { echo "$NAME: $k=$v" >&2; bad=1; }
    done
    [ $bad = 0 ] || fail "failed requests under load: $line"
    echo "$line" | tr ' ' '\n' | awk -F= '$1 == "requests" {print $2}'
}
