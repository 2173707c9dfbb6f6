#!/usr/bin/env bash
# tests/e2e/acme.sh — automatic certificates (docs/tls.md "Automatic certificates (ACME)")
# against Debian's real pebble (RFC 8555 test CA) with real HTTP-01 validation: pebble
# resolves shop.acme.test through pebble-challtestsrv's DNS (-> 127.0.0.1) and fetches
# http://shop.acme.test:<bluegreen's plain listener>/.well-known/acme-challenge/<token>.
# pebble rejects 30% of good nonces (badNonce: the client must retry, and the test checks
# it did) and authorization reuse is off (every order validates again).
#   a. a fresh `bluegreen serve` with only an acme block gets a certificate from pebble and
#      serves it (curl verifies it against pebble's root; s_client shows pebble's
#      intermediate as issuer); the files in state_dir/acme are 0600;
#   b. `bluegreen tls renew` under wrk load over HTTPS: new serial, 0 failed requests;
#   c. a failed order (the host's DNS now points at 127.0.0.2 where nothing answers the
#      challenge) keeps the old certificate, and shows the error in `bluegreen tls`, an
#      event, bluegreen_acme_renewals_total{result="error"} and a backoff retry ~60s on;
#   d. a restart of serve reuses the stored certificate (no order) and the stored account
#      key (the next order has the same account URL);
#   e. `bluegreen reload` (the process hand-over) serves the stored certificate from the
#      new process at once, without an order;
#   f. stored files that do not load (a key that is not the certificate's) do not stop
#      serve: it starts self-signed and orders a new certificate at once;
#   g. SIGTERM while an order hangs (an ACME server that never answers) stops serve at once
#      (the order is cancelled), exit 0.
# Also: check-config names an unreadable ca_file at its position.
# Run from the repo root; binaries from $BG_BUILD_DIR or build/. Helpers: tls_lib.sh and
# tests/support/stack_lib.sh. Registered in tests/e2e/CMakeLists.txt.
set -euo pipefail
NAME=acme
source "$(dirname "$0")/tls_lib.sh"
for tool in pebble pebble-challtestsrv jq promtool; do
    command -v $tool >/dev/null || fail "missing tool $tool (scripts/install-deps.sh installs pebble)"
done
HOST=shop.acme.test
# a daemon that took over by `bluegreen reload` (e) is not in PIDS: asked to stop first
stack_on_exit() {
    if [ -S "$TMP/bg.sock" ]; then
        timeout 30 "$BG" --admin "unix:$TMP/bg.sock" shutdown >/dev/null 2>&1 || true
    fi
}
daemon_pid() {
    curl -sf --max-time 5 --unix-socket "$TMP/bg.sock" http://localhost/v1/health |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'
}

# ---- pebble: its own TLS certificate for the ACME endpoint (our test CA) ----------------
leaf pebble "IP:127.0.0.1,DNS:localhost"
DNS_PORT=$(free_port)
DNS_MGMT=$(free_port)
ACME_PORT=$(free_port)
ACME_MGMT=$(free_port)
HTTP_PORT=$(free_port) # bluegreen's plain listener: where pebble validates HTTP-01
TLSALPN_PORT=$(free_port)
PORT=$(free_port)
start challtestsrv pebble-challtestsrv -dns01 "127.0.0.1:$DNS_PORT" -management "127.0.0.1:$DNS_MGMT" \
    -defaultIPv4 127.0.0.1 -defaultIPv6 "" -http01 "" -https01 "" -tlsalpn01 ""
cat >"$TMP/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$ACME_PORT", "managementListenAddress": "127.0.0.1:$ACME_MGMT",
  "certificate": "$CERTS/pebble.pem", "privateKey": "$CERTS/pebble.key",
  "httpPort": $HTTP_PORT, "tlsPort": $TLSALPN_PORT, "ocspResponderURL": "",
  "externalAccountBindingRequired": false}}
JSON
PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 PEBBLE_WFE_NONCEREJECT=30 start pebble pebble -config "$TMP/pebble.json" \
    -dnsserver "127.0.0.1:$DNS_PORT"
wait_get "https://127.0.0.1:$ACME_PORT/dir" newOrder 20 --cacert "$CERTS/ca.pem" ||
    fail "pebble does not answer"
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$DNS_MGMT/" && break; sleep 0.1; done
curl -sf --cacert "$CERTS/ca.pem" "https://127.0.0.1:$ACME_MGMT/roots/0" >"$TMP/pebble-root.pem" ||
    fail "cannot get pebble's root"
curl -sf --cacert "$CERTS/ca.pem" "https://127.0.0.1:$ACME_MGMT/intermediates/0" >"$TMP/pebble-int.pem" ||
    fail "cannot get pebble's intermediate"
INT_SUBJECT=$(openssl x509 -noout -subject -nameopt RFC2253 -in "$TMP/pebble-int.pem" | sed 's/^subject=//')
say "pebble on 127.0.0.1:$ACME_PORT (intermediate: $INT_SUBJECT), DNS on 127.0.0.1:$DNS_PORT"

# ---- bluegreen with an acme-only TLS listener --------------------------------------------
start_blue_green
write_config "listen:
  address: 127.0.0.1:$PORT
  tls:
    acme:
      directory: https://127.0.0.1:$ACME_PORT/dir
      email: ops@acme.test
      hosts: [$HOST]
      ca_file: $CERTS/ca.pem
test_listen:
  address: 127.0.0.1:$HTTP_PORT
  redirect_https: {status: 308, port: $PORT}"
"$BG" check-config -c "$TMP/bg.yaml" >"$TMP/check.log" 2>&1 || fail "check-config: $(cat "$TMP/check.log")"
sed "s|ca_file: .*|ca_file: $TMP/missing.pem|" "$TMP/bg.yaml" >"$TMP/bad.yaml"
if "$BG" check-config -c "$TMP/bad.yaml" >"$TMP/check-bad.log" 2>&1; then
    fail "check-config accepted a missing ca_file"
fi
grep -q "bad.yaml:8:16: listen.tls.acme.ca_file: cannot read $TMP/missing.pem" "$TMP/check-bad.log" ||
    fail "check-config error for ca_file: $(cat "$TMP/check-bad.log")"
start_serve

pebble_https() { # PATH [CURL ARGS...]: HTTPS to bluegreen as $HOST, verified against pebble's root
    local path=$1
    shift
    curl -sS --http1.1 --max-time 10 --cacert "$TMP/pebble-root.pem" \
        --resolve "$HOST:$PORT:127.0.0.1" "$@" "https://$HOST:$PORT$path"
}
served_serial() {
    openssl s_client -connect "127.0.0.1:$PORT" -servername "$HOST" </dev/null 2>/dev/null |
        openssl x509 -noout -serial | sed 's/^serial=//'
}
tls_json() { bgcli tls --json; }
acme_field() { tls_json | jq -r ".listeners[0].acme.$1"; }

# ---- a. first certificate ----------------------------------------------------------------
wait_get "https://$HOST:$PORT/" '"slot" *: *"blue"' 60 --cacert "$TMP/pebble-root.pem" \
    --resolve "$HOST:$PORT:127.0.0.1" || fail "no certificate from pebble in 60s: $(tls_json 2>&1 | head -c 2000)"
pebble_https / >/dev/null || fail "curl --cacert pebble-root failed"
issuer=$(openssl s_client -connect "127.0.0.1:$PORT" -servername "$HOST" </dev/null 2>/dev/null |
    openssl x509 -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')
[ "$issuer" = "$INT_SUBJECT" ] || fail "issuer is '$issuer', not pebble's intermediate '$INT_SUBJECT'"
for f in account.key listen.crt listen.key; do
    [ -f "$TMP/state/acme/$f" ] || fail "state_dir/acme/$f missing"
    m=$(stat -c %a "$TMP/state/acme/$f")
    [ "$m" = 600 ] || fail "state_dir/acme/$f has mode $m, not 600"
done
left=$(find "$TMP/state/acme" -name '*.tmp*')
[ -z "$left" ] || fail "temporary files left in state_dir/acme: $left"
SERIAL1=$(served_serial)
ACCOUNT=$(acme_field account)
[[ "$ACCOUNT" == https://127.0.0.1:$ACME_PORT/* ]] || fail "no account URL: $ACCOUNT"
ACCOUNT_SHA=$(sha256sum <"$TMP/state/acme/account.key")
[ "$(acme_field serving)" = acme ] || fail "serving is not acme: $(tls_json)"
[ "$(acme_field last_renewal.ok)" = true ] || fail "last renewal not ok: $(tls_json)"
bgcli tls >"$TMP/tls.txt" || fail "bluegreen tls"
grep -q "acme=https://127.0.0.1:$ACME_PORT/dir" "$TMP/tls.txt" || fail "bluegreen tls shows no acme line: $(cat "$TMP/tls.txt")"
# the plain listener still redirects what is not a pending challenge
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/nope")
[ "$code" != 308 ] || fail "an unknown challenge token was redirected"
say "a: ok: pebble issued serial $SERIAL1 (issuer $issuer), served and trusted; files 0600"

# ---- b. forced renewal under HTTPS load --------------------------------------------------
wrk_load wrk 16 12 "https://127.0.0.1:$PORT/" -H 'Connection: close' # a handshake per request
sleep 2 # paces the renewal into the middle of the run
bgcli tls renew >"$TMP/renew.log" 2>&1 || fail "tls renew: $(cat "$TMP/renew.log")"
SERIAL2=$(served_serial)
[ -n "$SERIAL2" ] && [ "$SERIAL2" != "$SERIAL1" ] || fail "renewal did not change the serial ($SERIAL1 -> $SERIAL2)"
# new full handshakes under load too
wait "$LOAD_PID" || fail "wrk failed: $(cat "$TMP/wrk.log")"
n=$(wrk_check "$TMP/wrk.log")
[ "$n" -ge 100 ] || fail "only $n requests under load"
pebble_https / >/dev/null || fail "the renewed certificate is not trusted"
retries=$(acme_field bad_nonce_retries)
[ "$retries" -gt 0 ] || fail "no badNonce was retried over two orders at 30% rejection"
say "b: ok: forced renewal $SERIAL1 -> $SERIAL2 under load, $n full-handshake requests, 0 failed; $retries badNonce retried"

# ---- c. a failed order keeps the certificate -------------------------------------------
curl -sf -X POST -d "{\"host\":\"$HOST.\",\"addresses\":[\"127.0.0.2\"]}" \
    "http://127.0.0.1:$DNS_MGMT/add-a" >/dev/null || fail "challtestsrv add-a"
t0=$(date +%s)
if bgcli tls renew >"$TMP/renew-fail.log" 2>&1; then
    fail "tls renew succeeded with the challenge unreachable: $(cat "$TMP/renew-fail.log")"
fi
grep -qi "not renewed" "$TMP/renew-fail.log" || fail "renew error unclear: $(cat "$TMP/renew-fail.log")"
[ "$(served_serial)" = "$SERIAL2" ] || fail "the old certificate was not kept"
pebble_https / >/dev/null || fail "HTTPS broken after a failed order"
[ "$(acme_field last_renewal.ok)" = false ] || fail "last_renewal.ok is not false: $(tls_json)"
err=$(acme_field last_renewal.error)
[ "$err" != null ] && [ -n "$err" ] || fail "no error recorded: $(tls_json)"
next=$(acme_field next_renewal_at)
next_s=$(date -d "$next" +%s) || fail "bad next_renewal_at $next"
delta=$((next_s - t0))
[ $delta -ge 40 ] && [ $delta -le 120 ] || fail "backoff retry at +${delta}s, want about 60s"
bgcli tls >"$TMP/tls-fail.txt"
grep -q "last_renewal_ok=no" "$TMP/tls-fail.txt" || fail "bluegreen tls does not show the failure: $(cat "$TMP/tls-fail.txt")"
bgcli events --json >"$TMP/events.json" 2>&1 || bgcli events >"$TMP/events.json" 2>&1 || true
grep -q "order failed" "$TMP/events.json" || fail "no 'order failed' event: $(tail -c 2000 "$TMP/events.json")"
grep -q "certificate issued" "$TMP/events.json" || fail "no 'certificate issued' event"
metrics=$(curl -s --unix-socket "$TMP/bg.sock" http://x/metrics)
echo "$metrics" | grep -q 'bluegreen_acme_renewals_total{listener="listen",result="error"} 1' ||
    fail "metric result=error not 1: $(echo "$metrics" | grep acme)"
echo "$metrics" | grep -q 'bluegreen_acme_renewals_total{listener="listen",result="ok"} 2' ||
    fail "metric result=ok not 2: $(echo "$metrics" | grep acme)"
echo "$metrics" | grep -q "bluegreen_acme_next_renewal_timestamp_seconds{listener=\"listen\"} $next_s" ||
    fail "next renewal metric: $(echo "$metrics" | grep acme)"
echo "$metrics" | promtool check metrics >"$TMP/promtool.log" 2>&1 ||
    fail "promtool check metrics: $(cat "$TMP/promtool.log")"
say "c: ok: failed order kept serial $SERIAL2; error recorded, event, metric, retry in ${delta}s"

# ---- d. restart: the stored certificate and account are reused ------------------------
kill -TERM "$SERVE_PID"
for _ in $(seq 200); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$SERVE_PID" 2>/dev/null && fail "serve did not stop"
rc=0
wait "$SERVE_PID" || rc=$?
[ $rc = 0 ] || fail "serve exited with $rc after SIGTERM: $(tail -n 20 "$TMP/serve.log")"
! grep -q "Sanitizer" "$TMP/serve.log" || fail "sanitizer report: $(grep -A 20 Sanitizer "$TMP/serve.log" | head -40)"
curl -sf -X POST -d "{\"host\":\"$HOST.\"}" "http://127.0.0.1:$DNS_MGMT/clear-a" >/dev/null ||
    fail "challtestsrv clear-a"
start_serve serve2
wait_get "https://$HOST:$PORT/" '"slot"' 30 --cacert "$TMP/pebble-root.pem" \
    --resolve "$HOST:$PORT:127.0.0.1" || fail "restarted serve does not serve the stored certificate"
[ "$(served_serial)" = "$SERIAL2" ] || fail "restart serves $(served_serial), not the stored $SERIAL2"
sleep 2 # a wrongly scheduled order would start at once
[ "$(acme_field running)" = false ] || fail "an order runs after the restart"
[ "$(acme_field last_renewal.at)" = null ] || fail "an order ran after the restart: $(tls_json)"
grep -q "using the stored certificate" "$TMP/serve2.log" || fail "serve2 did not log the stored certificate"
grep -q "order started" "$TMP/serve2.log" && fail "serve2 started an order"
next=$(acme_field next_renewal_at)
[ "$(date -d "$next" +%s)" -gt $(( $(date +%s) + 86400 )) ] || fail "next renewal $next is not far off"
bgcli tls renew >"$TMP/renew3.log" 2>&1 || fail "tls renew after restart: $(cat "$TMP/renew3.log")"
[ "$(acme_field account)" = "$ACCOUNT" ] || fail "a new account was made: $(acme_field account) != $ACCOUNT"
[ "$(sha256sum <"$TMP/state/acme/account.key")" = "$ACCOUNT_SHA" ] || fail "the account key changed"
say "d: ok: restart served stored serial $SERIAL2 without an order; same account $ACCOUNT"
kill -0 "$SERVE_PID" 2>/dev/null || fail "bluegreen serve exited"

# ---- e. the process hand-over keeps serving the stored certificate ----------------------
SERIAL3=$(served_serial)
[ "$SERIAL3" != "$SERIAL2" ] || fail "the renewal after the restart kept serial $SERIAL2"
OLD=$(daemon_pid)
bgcli reload >"$TMP/reload.out" 2>&1 || fail "reload: $(cat "$TMP/reload.out")"
NEW=$(daemon_pid)
[ -n "$NEW" ] && [ "$NEW" != "$OLD" ] || fail "the same daemon ($OLD) answers after the reload"
[ "$(served_serial)" = "$SERIAL3" ] || fail "after the hand-over $(served_serial) is served, not $SERIAL3"
[ "$(acme_field serving)" = acme ] || fail "the new process does not serve the stored certificate"
[ "$(acme_field last_renewal.at)" = null ] || fail "the new process ran an order: $(tls_json)"
pebble_https / >/dev/null || fail "HTTPS after the hand-over"
say "e: ok: reload hand-over $OLD -> $NEW serves stored serial $SERIAL3 without an order"

# ---- f. stored files that do not load -------------------------------------------------
bgcli shutdown >"$TMP/shutdown.out" 2>&1 || fail "shutdown: $(cat "$TMP/shutdown.out")"
for _ in $(seq 200); do kill -0 "$NEW" 2>/dev/null || break; sleep 0.05; done
kill -0 "$NEW" 2>/dev/null && fail "the daemon $NEW did not stop"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/state/acme/listen.key" \
    2>>"$TMP/openssl.log" || fail "openssl genpkey"
start_serve serve3
wait_get "https://$HOST:$PORT/" '"slot"' 60 --cacert "$TMP/pebble-root.pem" \
    --resolve "$HOST:$PORT:127.0.0.1" || fail "no new certificate after a broken stored key"
grep -q "the stored certificate does not load" "$TMP/serve3.log" || fail "serve3 did not say why"
SERIAL4=$(served_serial)
[ "$SERIAL4" != "$SERIAL3" ] || fail "still serial $SERIAL3"
say "f: ok: a mismatched stored key: started self-signed, ordered serial $SERIAL4"

# ---- g. shutdown cancels a hanging order --------------------------------------------------
SERVE3=$SERVE_PID
kill -TERM "$SERVE3"
for _ in $(seq 200); do kill -0 "$SERVE3" 2>/dev/null || break; sleep 0.05; done
kill -0 "$SERVE3" 2>/dev/null && fail "serve3 did not stop"
HANG_PORT=$(free_port)
# accepts connections and never answers: the order's first request hangs
start hang python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); c=[]
while True: c.append(s.accept()[0])' "$HANG_PORT"
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$HANG_PORT") 2>/dev/null && break; sleep 0.1; done
sed -i "s|directory: .*|directory: http://127.0.0.1:$HANG_PORT/dir|" "$TMP/bg.yaml"
rm -f "$TMP/state/acme/listen.crt" "$TMP/state/acme/listen.key"
start_serve serve4
deadline=$((SECONDS + 20))
until [ "$(acme_field running 2>/dev/null)" = true ]; do
    [ $SECONDS -lt $deadline ] || fail "no order running against the silent server: $(tls_json 2>&1 | head -c 1000)"
    sleep 0.1
done
[ "$(acme_field serving)" = self-signed ] || fail "not serving the temporary self-signed certificate"
issuer=$(openssl s_client -connect "127.0.0.1:$PORT" -servername "$HOST" </dev/null 2>/dev/null |
    openssl x509 -noout -issuer)
[[ "$issuer" == *"bluegreen temporary self-signed"* ]] || fail "served issuer is $issuer"
t0=$(date +%s%N)
kill -TERM "$SERVE_PID"
rc=0
wait "$SERVE_PID" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ $rc = 0 ] || fail "serve exited with $rc: $(tail -n 20 "$TMP/serve4.log")"
[ $ms -lt 5000 ] || fail "stopping with a hanging order took ${ms}ms"
! grep -q "Sanitizer" "$TMP/serve4.log" || fail "sanitizer report in serve4.log"
say "g: ok: self-signed while the order hangs; SIGTERM cancelled it and serve stopped in ${ms}ms"
say "PASS"
