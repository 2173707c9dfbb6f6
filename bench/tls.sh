#!/usr/bin/env bash
# bench/tls.sh — HTTPS at the edge: bluegreen, nginx and HAProxy terminating TLS in the same
# run, with the same certificate (ECDSA P-256, made here by a private CA), one worker each,
# in front of the same bench backend (plain HTTP/1.1 keep-alive upstream):
#   tls_handshakes_per_s  full TLS 1.3 handshakes/s: wrk -t1 -c50 with `Connection: close`
#                         (a new connection per request). wrk resumes sessions when it can,
#                         so every peer runs with resumption off (bluegreen tickets: false,
#                         nginx ssl_session_tickets/ssl_session_cache off, HAProxy
#                         no-tls-tickets + tune.ssl.cachesize 0): each connection is a full
#                         handshake (bluegreen's counters are printed as proof). Medians of
#                         ROUNDS interleaved rounds
#   https_rps             HTTPS keep-alive requests/s: wrk -t1 -c50, same rounds
#   instr_per_https_req   user-space instructions per HTTPS keep-alive request: callgrind,
#                         a baseline run (start, probe, stop) subtracted from a run serving
#                         N sequential requests on one TLS connection (python3 ssl client)
#   instr_per_tls_handshake  the same for N/10 connections with one request each: a full
#                         handshake + one request (not disturbed by the machine's load)
# Prints RESULT lines (bench/run.sh collects them). wrk, the proxies and the backend share
# the machine's cores: read the ratios.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_bins
command -v wrk >/dev/null || die "wrk not installed"
command -v valgrind >/dev/null || die "valgrind not installed"
ROUNDS=${BENCH_ROUNDS:-$(quick 2 5)}
D=${BENCH_SECONDS:-$(quick 3 5)}
N=${BENCH_INSTR_REQUESTS:-$(quick 2000 10000)}

CERTS=$BENCH_TMP/certs
mkdir -p "$CERTS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$CERTS/ca.key" -out "$CERTS/ca.pem" -subj "/CN=bench CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$CERTS/site.key" \
    -out "$CERTS/site.csr" -subj "/CN=bench.test" 2>/dev/null
printf 'subjectAltName=DNS:bench.test\n' >"$CERTS/site.ext"
openssl x509 -req -in "$CERTS/site.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" \
    -CAcreateserial -days 2 -extfile "$CERTS/site.ext" -out "$CERTS/site.pem" 2>/dev/null
cat "$CERTS/site.pem" "$CERTS/site.key" >"$CERTS/site.both.pem" # HAProxy's crt format

# The peers' TLS configs: lib.sh's plain configs with the listener made TLS.
tls_patch() { # PEER DIR PORT
    case $1 in
    bluegreen)
        python3 - "$2/bg.yaml" "$3" "$CERTS" <<'PY'
import sys
p, port, certs = sys.argv[1:]
s = open(p).read()
s = s.replace("listen: 127.0.0.1:%s\n" % port,
              "listen:\n  address: 127.0.0.1:%s\n  tls:\n    certificates: [{cert: %s/site.pem, key: %s/site.key}]\n    tickets: false\n"
              % (port, certs, certs), 1)
open(p, "w").write(s)
PY
        ;;
    nginx)
        sed -i "s|listen 127.0.0.1:$3;|listen 127.0.0.1:$3 ssl;\n        ssl_certificate $CERTS/site.pem;\n        ssl_certificate_key $CERTS/site.key;\n        ssl_protocols TLSv1.2 TLSv1.3;\n        ssl_session_tickets off;\n        ssl_session_cache off;|" \
            "$2/nginx.conf"
        ;;
    haproxy)
        sed -i "s|bind 127.0.0.1:$3|bind 127.0.0.1:$3 ssl crt $CERTS/site.both.pem alpn http/1.1 ssl-min-ver TLSv1.2 no-tls-tickets|" \
            "$2/haproxy.cfg"
        sed -i "s|^global$|global\n    tune.ssl.cachesize 0|" "$2/haproxy.cfg"
        ;;
    esac
}

# tls_peer_start PEER [WRAP...]: as peer_start, over TLS; waits for an HTTPS answer.
tls_peer_start() {
    local peer=$1 deadline
    shift
    PEER_PORT=$(free_port)
    PEER_DIR=$(mktemp -d "$BENCH_TMP/$peer.XXXX")
    mkdir -p "$PEER_DIR/tmp" "$PEER_DIR/state"
    case $peer in
    bluegreen)
        bluegreen_conf "$PEER_DIR" "$PEER_PORT"
        tls_patch bluegreen "$PEER_DIR" "$PEER_PORT"
        spawn "$(basename "$PEER_DIR")" "$@" "$BG_BIN" serve -c "$PEER_DIR/bg.yaml"
        ;;
    nginx)
        local master=on
        [ $# -gt 0 ] && master=off
        nginx_conf "$PEER_DIR" "$PEER_PORT" "127.0.0.1:$BLUE_PORT" $master
        tls_patch nginx "$PEER_DIR" "$PEER_PORT"
        spawn "$(basename "$PEER_DIR")" "$@" "$NGINX_BIN" -p "$PEER_DIR" -c "$PEER_DIR/nginx.conf" \
            -e "$PEER_DIR/error.log"
        ;;
    haproxy)
        haproxy_conf "$PEER_DIR" "$PEER_PORT"
        tls_patch haproxy "$PEER_DIR" "$PEER_PORT"
        spawn "$(basename "$PEER_DIR")" "$@" "$HAPROXY_BIN" -db -f "$PEER_DIR/haproxy.cfg"
        ;;
    esac
    PEER_PID=$SPAWNED
    deadline=$((SECONDS + ($# > 0 ? 120 : 20)))
    until curl -sf --max-time 2 --cacert "$CERTS/ca.pem" --resolve "bench.test:$PEER_PORT:127.0.0.1" \
        "https://bench.test:$PEER_PORT/" >/dev/null 2>&1; do
        kill -0 "$PEER_PID" 2>/dev/null || die "$peer exited: $(tail -n 20 "$BENCH_TMP/$(basename "$PEER_DIR").log")"
        [ $SECONDS -lt $deadline ] || die "$peer does not answer HTTPS on $PEER_PORT"
        sleep 0.1
    done
}

# N sequential GETs on one TLS connection (keep-alive), TLS 1.3, SNI bench.test.
tls_seq() { # PORT N
    python3 - "$1" "$2" "$CERTS/ca.pem" <<'PY'
import socket, ssl, sys
port, n, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="bench.test")
req = b"GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n"
buf = b""
for i in range(n):
    s.sendall(req)
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d: sys.exit("connection closed after %d responses" % i)
        buf += d
    head, _, buf = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"): sys.exit("response %d: %r" % (i, head[:40]))
    cl = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0]
    while len(buf) < cl:
        buf += s.recv(65536)
    buf = buf[cl:]
s.close()
PY
}

# N connections, one GET each (Connection: close), full TLS 1.3 handshakes (no session is
# offered back).
tls_hs_seq() { # PORT N
    python3 - "$1" "$2" "$CERTS/ca.pem" <<'PY'
import socket, ssl, sys
port, n, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
for i in range(n):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="bench.test")
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n")
    buf = b""
    while True:
        d = s.recv(65536)
        if not d: break
        buf += d
    if not buf.startswith(b"HTTP/1.1 200"): sys.exit("response %d: %r" % (i, buf[:40]))
    s.close()
PY
}

callgrind_ir() { awk '/^summary:/ {s += $2} END {printf "%d\n", s}' "$@"; }
instr_once() { # PEER N [CLIENT]: total Ir of one callgrind run serving N requests (0: baseline)
    local peer=$1 n=$2 client=${3:-tls_seq} out="$BENCH_TMP/tlscg.$1.$2.${3:-ka}"
    mkdir -p "$out"
    tls_peer_start "$peer" valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" --trace-children=no
    [ "$n" -eq 0 ] || $client "$PEER_PORT" "$n" || die "$peer: TLS client failed"
    peer_stop TERM
    callgrind_ir "$out"/cg.*
}

backends_start
declare -A PORT HS RPS
targets=()
for peer in $BENCH_PEERS; do
    tls_peer_start "$peer"
    PORT[$peer]=$PEER_PORT
    targets+=("$peer")
done
n=${#targets[@]}
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < n; k++)); do
        t=${targets[$(((k + r) % n))]}
        url="https://127.0.0.1:${PORT[$t]}/"
        out="$BENCH_TMP/hs.$t.$r"
        wrk -t1 -c50 -d"${D}s" -H 'Connection: close' "$url" >"$out" 2>&1 || die "wrk $t: $(cat "$out")"
        ! grep -q 'Non-2xx\|Socket errors' "$out" || note "tls: $t handshake run: $(grep 'Non-2xx\|Socket errors' "$out")"
        hs=$(awk '/^Requests\/sec:/ {print $2}' "$out")
        out="$BENCH_TMP/ka.$t.$r"
        wrk -t1 -c50 -d"${D}s" "$url" >"$out" 2>&1 || die "wrk $t: $(cat "$out")"
        ! grep -q 'Non-2xx\|Socket errors' "$out" || note "tls: $t keep-alive run: $(grep 'Non-2xx\|Socket errors' "$out")"
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
        HS[$t]="${HS[$t]:-} $hs"
        RPS[$t]="${RPS[$t]:-} $rps"
        note "tls: round $((r + 1))/$ROUNDS $t: $hs handshakes/s, $rps keep-alive req/s"
    done
done
# Proof that the handshake runs were full handshakes: bluegreen's own counters.
if [[ " ${targets[*]} " == *" bluegreen "* ]]; then
    bgdir=$(ls -d "$BENCH_TMP"/bluegreen.* | head -n 1)
    curl -s --unix-socket "$bgdir/bg.sock" http://bluegreen/metrics |
        awk '/^bluegreen_tls_handshakes_total/ {print}' | while read -r line; do note "tls: $line"; done
fi
for t in "${targets[@]}"; do
    result tls_handshakes_per_s "$t" "$(echo "${HS[$t]}" | median | awk '{printf "%.0f", $1}')"
    result https_rps "$t" "$(echo "${RPS[$t]}" | median | awk '{printf "%.0f", $1}')"
done
for peer in $BENCH_PEERS; do
    note "tls instr: $peer baseline"
    base=$(instr_once "$peer" 0)
    note "tls instr: $peer $N requests"
    full=$(instr_once "$peer" "$N")
    result instr_per_https_req "$peer" "$(((full - base) / N))"
    note "tls instr: $peer base=$base full=$full -> $(((full - base) / N)) Ir/request"
    hs=$((N / 10))
    full=$(instr_once "$peer" "$hs" tls_hs_seq)
    result instr_per_tls_handshake "$peer" "$(((full - base) / hs))"
    note "tls instr: $peer $hs full handshakes (one request each) -> $(((full - base) / hs)) Ir"
done
