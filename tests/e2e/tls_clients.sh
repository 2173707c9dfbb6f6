#!/usr/bin/env bash
# tests/e2e/tls_clients.sh — TLS termination with real clients (docs/tls.md): curl and
# openssl s_client against `bluegreen serve` with a TLS listener holding two certificates
# (a.test + www.a.test; *.b.test), made at test time by a private CA.
#
# Asserts: SNI picks the certificate by exact and wildcard SAN names, the default one
# otherwise (also without SNI); TLS 1.0/1.1 refused, 1.2 and 1.3 served; ciphers outside
# the policy refused (CBC, RSA key exchange), TLS 1.3 only with tls13-only; session
# resumption with tickets (TLS 1.2 and 1.3) on every worker; ALPN http/1.1 (and none for a
# client offering only h2); X-Forwarded-Proto: https; plain HTTP on the TLS port refused;
# handshake metrics and certificate expiry in /metrics; `bluegreen tls`; positioned config
# errors (check-config, reload) for a missing file, a key that does not match, garbage;
# backpressure (a stalled HTTPS reader of a 400 MB body does not grow the proxy's memory);
# a WebSocket tunnel through TLS;
# `bluegreen reload-certs` serving a new certificate, and a bad file on reload keeping the
# old one with the reason (CLI exit 2, log) and refusing `bluegreen reload`; then a good
# reload (the SIGHUP path: a new process) serving the files' certificate. Registered in tests/e2e/CMakeLists.txt.
set -euo pipefail
NAME=tls_clients
source "$(dirname "$0")/tls_lib.sh"

leaf a "DNS:a.test,DNS:www.a.test"
leaf b "DNS:*.b.test" rsa
start_stack "    certificates:
      - {cert: $CERTS/a.pem, key: $CERTS/a.key}
      - {cert: $CERTS/b.pem, key: $CERTS/b.key}"
say "serving HTTPS on 127.0.0.1:$PORT"
# Assertions below are collected by check(); `grep -q` may end a pipe early (SIGPIPE).
set +e +o pipefail

# subject_for SNI|-: the CN of the certificate served (- = no SNI at all)
subject_for() {
    local sni=(-servername "$1")
    [ "$1" = - ] && sni=(-noservername)
    openssl s_client -connect "127.0.0.1:$PORT" "${sni[@]}" </dev/null 2>/dev/null |
        sed -n 's/^subject=.*CN *= *\([^,/]*\).*/\1/p'
}
ok=1
LAST=$TMP/last.out # s_client's last output, shown when its check fails
check() { # check DESCRIPTION CONDITION-EXIT-STATUS
    if [ "$2" -eq 0 ]; then
        say "ok: $1"
    else
        echo "$NAME: NOT OK: $1" >&2
        [ ! -s "$LAST" ] || sed 's/^/    | /' "$LAST" | head -n 40 >&2
        ok=0
    fi
    : >"$LAST"
}

# ---- SNI --------------------------------------------------------------------------------
[ "$(subject_for a.test)" = a ]; check "SNI a.test -> certificate a" $?
[ "$(subject_for www.a.test)" = a ]; check "SNI www.a.test -> certificate a" $?
[ "$(subject_for x.b.test)" = b ]; check "SNI x.b.test -> wildcard certificate b" $?
[ "$(subject_for X.B.TEST)" = b ]; check "SNI is case-insensitive" $?
[ "$(subject_for y.x.b.test)" = a ]; check "*.b.test does not cover y.x.b.test (default a)" $?
[ "$(subject_for other.test)" = a ]; check "unknown SNI -> default certificate a" $?
[ "$(subject_for -)" = a ]; check "no SNI -> default certificate a" $?
body=$(https x.b.test /); [[ "$body" =~ '"slot":"blue"' ]]; check "curl verifies *.b.test and is proxied" $?
https y.x.b.test / >/dev/null 2>&1; rc=$?
[ $rc -eq 60 ]; check "curl refuses y.x.b.test (certificate name mismatch, exit 60; got $rc)" $?

# ---- versions and ciphers -------------------------------------------------------------------
s_client() { openssl s_client -connect "127.0.0.1:$PORT" -servername a.test "$@" </dev/null 2>&1 | tee "$LAST"; }
for v in -tls1 -tls1_1; do
    s_client $v -cipher 'DEFAULT:@SECLEVEL=0' | grep -q 'Cipher is (NONE)'
    check "$v refused" $?
done
s_client -tls1_2 | grep -q '^New, TLSv1.2, Cipher is ECDHE-'; check "TLS 1.2 served" $?
s_client -tls1_3 | grep -q '^New, TLSv1.3, Cipher is TLS_'; check "TLS 1.3 served" $?
s_client -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA | grep -q 'Cipher is (NONE)'; check "CBC-SHA1 cipher refused" $?
s_client -tls1_2 -cipher AES128-GCM-SHA256 | grep -q 'Cipher is (NONE)'; check "RSA key exchange refused" $?
s_client -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384 | grep -q 'Cipher is ECDHE-ECDSA-AES256-GCM-SHA384'
check "ECDHE-ECDSA-AES256-GCM-SHA384 served" $?
openssl s_client -connect "127.0.0.1:$PORT" -servername x.b.test -tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305 </dev/null 2>&1 |
    grep -q 'Cipher is ECDHE-RSA-CHACHA20-POLY1305'
check "RSA certificate with ECDHE-RSA-CHACHA20-POLY1305" $?

# ---- resumption with tickets, on every worker -----------------------------------------------
for v in -tls1_2 -tls1_3; do
    # a whole request (Connection: close, -ign_eof) so the TLS 1.3 ticket, sent after the
    # handshake, is read before the client leaves
    printf 'GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n' |
        openssl s_client -connect "127.0.0.1:$PORT" -servername a.test -ign_eof $v \
            -sess_out "$TMP/sess$v" >/dev/null 2>&1
    reused=0
    for i in $(seq 8); do
        s_client $v -sess_in "$TMP/sess$v" | grep -q '^Reused, ' && reused=$((reused + 1))
    done
    [ $reused -eq 8 ]; check "$v resumption with a ticket, 8 connections of 8 reused" $?
done

# ---- ALPN, X-Forwarded-Proto, plain HTTP on the TLS port ---------------------------------
s_client -alpn http/1.1 | grep -q '^ALPN protocol: http/1.1'; check "ALPN http/1.1" $?
s_client -alpn h2 | grep -q 'No ALPN negotiated'; check "a client offering only h2 gets no ALPN (HTTP/1.1)" $?
body=$(https a.test /echo/x)
echo "$body" | python3 -c 'import json,sys; d=json.load(sys.stdin); h=d["headers"]; sys.exit(0 if h.get("x-forwarded-proto")=="https" and h.get("x-forwarded-host")=="a.test:'"$PORT"'" else 1)'
check "X-Forwarded-Proto: https reaches the target" $?
plain=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/" -o /dev/null -w '%{http_code}'); rc=$?
[ "$plain" = 000 ] && [ $rc -ne 0 ]; check "plain HTTP on the TLS port gets no HTTP answer (curl $rc)" $?

# ---- backpressure: a client that stops reading does not make the proxy buffer the body ---
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVE_PID/status"; }
before=$(rss_kb)
grown=$(python3 - "$PORT" "$SERVE_PID" <<'PY'
import socket, ssl, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="a.test")
s.sendall(b"GET /bytes/400000000 HTTP/1.1\r\nHost: a.test\r\n\r\n")
got = len(s.recv(16384))
def rss():
    return int([l.split()[1] for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS:")][0])
time.sleep(3)   # the target keeps sending; only kernel buffers and one read buffer may fill
peak = rss()
while got < 8 << 20:  # then it reads again: the transfer resumes
    d = s.recv(1 << 20)
    if not d: break
    got += len(d)
print(peak, got)
PY
)
peak=${grown% *}; got=${grown#* }
[ -n "$peak" ] && [ $((peak - before)) -lt 65536 ] && [ "$got" -ge $((8 << 20)) ]
check "a stalled HTTPS reader of a 400 MB body: proxy RSS +$((peak - before)) KiB (< 64 MiB), then $got bytes flow" $?

# ---- an Upgrade tunnel (WebSocket) through TLS: bytes both ways after the 101 ----------
out=$(python3 - "$PORT" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="a.test")
s.sendall(b"GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(4096)
head, _, rest = buf.partition(b"\r\n\r\n")
payload = b"x" * 300000  # several TLS records each way
s.sendall(payload)
while len(rest) < len(payload):
    d = s.recv(65536)
    if not d: break
    rest += d
print(head.split(b"\r\n")[0].decode(), len(rest), rest == payload)
PY
)
[ "$out" = "HTTP/1.1 101 Switching Protocols 300000 True" ]; check "WebSocket tunnel over TLS echoes 300 KB ($out)" $?

# ---- HTTP -> HTTPS redirect on the plain listener, ACME path exempt ------------------------
hdrs=$(curl -s --max-time 5 -D - -o /dev/null "http://a.test:$PLAIN_PORT/x/y?q=1" --resolve "a.test:$PLAIN_PORT:127.0.0.1")
echo "$hdrs" | grep -q '^HTTP/1.1 308 Permanent Redirect' &&
    echo "$hdrs" | grep -qi "^Location: https://a.test:$PORT/x/y?q=1"$'\r'
check "plain listener redirects with 308 to https://a.test:$PORT/x/y?q=1" $?
body=$(curl -s --max-time 10 -L --cacert "$CERTS/ca.pem" --resolve "a.test:$PLAIN_PORT:127.0.0.1" \
    --resolve "a.test:$PORT:127.0.0.1" "http://a.test:$PLAIN_PORT/")
[[ "$body" =~ '"slot":"blue"' ]]; check "curl -L follows the redirect to HTTPS" $?
hdrs=$(curl -s --max-time 5 -D - -o /dev/null "http://127.0.0.1:$PLAIN_PORT/.well-known/acme-challenge/tok")
! echo "$hdrs" | grep -qi '^Location:' && ! echo "$hdrs" | grep -q '^HTTP/1.1 30[18]'
check "/.well-known/acme-challenge/ is not redirected" $?

# ---- metrics and bluegreen tls --------------------------------------------------------------
m=$(curl -s --unix-socket "$TMP/bg.sock" http://bluegreen/metrics)
echo "$m" | grep -Eq '^bluegreen_tls_handshakes_total\{listener="listen",version="TLSv1.3",kind="resumed"\} [1-9]'
check "metrics: TLS 1.3 resumed handshakes" $?
echo "$m" | grep -Eq '^bluegreen_tls_handshakes_total\{listener="listen",version="TLSv1.2",kind="full"\} [1-9]'
check "metrics: TLS 1.2 full handshakes" $?
echo "$m" | grep -Eq '^bluegreen_tls_handshake_failures_total\{listener="listen",reason="protocol"\} [1-9]'
check "metrics: failures by reason protocol" $?
echo "$m" | grep -Eq '^bluegreen_tls_handshake_failures_total\{listener="listen",reason="cipher"\} [1-9]'
check "metrics: failures by reason cipher" $?
echo "$m" | grep -Eq '^bluegreen_tls_handshake_failures_total\{listener="listen",reason="http"\} [1-9]'
check "metrics: failures by reason http" $?
echo "$m" | grep -Eq '^bluegreen_tls_certificate_expiry_seconds\{listener="listen",name="a.test"\} 1[0-9]{5}$'
check "metrics: certificate expiry seconds (~2 days)" $?
out=$(bgcli tls)
echo "$out" | grep -q "names=a.test,www.a.test" && echo "$out" | grep -q "names=\*.b.test"
check "bluegreen tls lists the certificates and names" $?

# ---- config errors with positions ------------------------------------------------------------
cfgerr() { # cfgerr FILE TLS-BLOCK: check-config's message (exit 2 expected)
    printf 'listen:\n  address: 127.0.0.1:0\n  tls:\n%s\nservices: {}\n' "$2" >"$1"
    out=$("$BG" check-config -c "$1" 2>&1); rc=$?
    [ $rc -eq 2 ] || echo "$NAME: check-config exit $rc: $out" >&2
    echo "$out"
}
# col FILE LINE TEXT: 1-based column of TEXT in line LINE of FILE
col() { awk -v n="$2" -v t="$3" 'NR == n {print index($0, t)}' "$1"; }
out=$(cfgerr "$TMP/e1.yaml" "    certificates:
      - {cert: $CERTS/a.pem, key: $CERTS/missing.key}")
c=$(col "$TMP/e1.yaml" 5 "$CERTS/missing.key")
[[ "$out" == *"e1.yaml:5:$c: listen.tls.certificates[0].key: cannot read $CERTS/missing.key: No such file or directory"* ]]
check "missing key file: file:line:col and key path ($out)" $?
out=$(cfgerr "$TMP/e2.yaml" "    certificates:
      - cert: $CERTS/a.pem
        key: $CERTS/b.key")
[[ "$out" == *"e2.yaml:6:14: listen.tls.certificates[0].key: the private key $CERTS/b.key does not match the certificate $CERTS/a.pem"* ]]
check "mismatched key: positioned ($out)" $?
echo "not a certificate" >"$TMP/garbage.pem"
out=$(cfgerr "$TMP/e3.yaml" "    certificates: [{cert: $TMP/garbage.pem, key: $CERTS/a.key}]")
c=$(col "$TMP/e3.yaml" 4 "$TMP/garbage.pem")
[[ "$out" == *"e3.yaml:4:$c: listen.tls.certificates[0].cert: cannot load the certificate chain $TMP/garbage.pem: no start line"* ]]
check "garbage certificate: positioned ($out)" $?
out=$(cfgerr "$TMP/e4.yaml" "    certificates: [{cert: $CERTS/a.pem, key: $CERTS/a.key}]
    policy: tls10")
[[ "$out" == *"e4.yaml:5:13: listen.tls.policy: unknown TLS policy \"tls10\""* ]]
check "unknown policy: positioned ($out)" $?
out=$(cfgerr "$TMP/e5.yaml" "    certificates: []")
[[ "$out" == *"e5.yaml:4:19: listen.tls.certificates: expected a list of {cert: FILE, key: FILE}"* ]]
check "empty certificate list: positioned ($out)" $?

# ---- reload-certs: a new certificate; a bad file keeps the old one ---------------------------
serial_of() { openssl s_client -connect "127.0.0.1:$PORT" -servername a.test </dev/null 2>/dev/null |
    openssl x509 -noout -serial; }
old=$(serial_of)
cp "$CERTS/a.pem" "$CERTS/a.pem.orig"
cp "$CERTS/a.key" "$CERTS/a.key.orig"
leaf a "DNS:a.test,DNS:www.a.test"
out=$(bgcli reload-certs); check "reload-certs exit 0" $?
new=$(serial_of)
[ -n "$new" ] && [ "$new" != "$old" ]; check "reload-certs: new connections get the new certificate ($old -> $new)" $?
echo "$out" | grep -q "reloads=1 .*last_reload_ok=yes"; check "reload-certs reports the reload ($out)" $?
cp "$CERTS/a.key" "$CERTS/a.key.new.good"
cp "$CERTS/b.key" "$CERTS/a.key" # a key that does not match a.pem
out=$(bgcli reload-certs 2>&1); rc=$?
[ $rc -eq 2 ] && [[ "$out" == *"certificates not reloaded, the old ones stay"*"does not match"* ]]
check "bad key on reload: exit 2 with the reason ($rc: $out)" $?
[ "$(serial_of)" = "$new" ]; check "bad key on reload: the previous certificate still served" $?
grep -q 'msg="certificate reload failed; the old certificates stay"' "$TMP/serve.log"
check "bad key on reload: logged" $?
bgcli tls | grep -q 'last_reload_ok=no'; check "bluegreen tls shows the failed reload" $?
out=$(bgcli reload 2>&1); rc=$?
[ $rc -eq 2 ] && [[ "$out" == *"does not match"* ]]; check "bluegreen reload (SIGHUP path) refused with the bad key ($rc)" $?
kill -0 "$SERVE_PID" 2>/dev/null; check "daemon still running" $?
body=$(https a.test /); [[ "$body" =~ '"slot":"blue"' ]]; check "still serving after the refused reloads" $?

# ---- a full reload (what SIGHUP does) loads the certificate files too --------------------
cp "$CERTS/a.key.new.good" "$CERTS/a.key"
out=$(bgcli reload --json 2>&1); rc=$?
newpid=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null)
[ -n "$newpid" ] && PIDS+=("$newpid") # the new daemon is ours to stop
[ $rc -eq 0 ] && [ -n "$newpid" ] && [ "$newpid" != "$SERVE_PID" ]
check "bluegreen reload with good files: a new daemon (pid $newpid) took over ($rc)" $?
[ "$(serial_of)" = "$new" ]; check "the new daemon serves the certificate from the files" $?
body=$(https x.b.test /); [[ "$body" =~ '"slot":"blue"' ]]; check "and SNI still picks *.b.test" $?

[ $ok = 1 ] || fail "assertions failed"
say "PASS"
