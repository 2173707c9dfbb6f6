# shellcheck shell=bash
# tests/e2e/tls_lib.sh — sourced by the TLS e2e scenarios (tls_clients.sh, tls_load.sh,
# tls_testssl.sh): a private CA and certificates made with openssl at test time (nothing
# private is committed), sample-app blue/green, an echo backend that returns the request
# head, and `bluegreen serve` with a TLS listener, all on ephemeral loopback ports.
# The caller sets NAME before sourcing. A missing binary or tool is a failure, never a skip.

# The stack, the processes and the load helpers (stack_init, fail, say, free_port, start,
# wait_get, bgcli, start_blue_green, write_config, start_serve, switch_slots, wrk_*,
# h2load_*) come from tests/support/stack_lib.sh; this file adds the TLS parts.
# shellcheck source=tests/support/stack_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/stack_lib.sh"
# shellcheck disable=SC2034 # the directory of the scenarios, for the sourcing script
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
stack_init "$NAME" openssl curl python3 wrk

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
# redirects to it (308); STACK_EXTRA_YAML adds top-level config lines (e.g. `http2: {alpn:
# true}`). Services: `echo` on /echo, `app` (write_config) on /. Returns once HTTPS
# answers from blue. Sets PORT, PLAIN_PORT, ECHO_PORT, BLUE_PORT, GREEN_PORT, SERVE_PID.
start_stack() {
    ECHO_PORT=$(free_port)
    PORT=$(free_port)
    PLAIN_PORT=$(free_port)
    echo_backend "$ECHO_PORT"
    start_blue_green
    write_config "listen:
  address: 127.0.0.1:$PORT
  tls:
$1
test_listen:
  address: 127.0.0.1:$PLAIN_PORT
  redirect_https: {status: 308, port: $PORT}" "${STACK_EXTRA_YAML:-}" "  echo:
    route: {path_prefix: /echo}
    driver: static
    targets: {blue: [\"127.0.0.1:$ECHO_PORT\"], green: [\"127.0.0.1:$ECHO_PORT\"]}
    health: {type: tcp, interval: 1s}"
    start_serve
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
