#!/usr/bin/env bash
# tests/e2e/tls_load.sh — HTTPS under load with 0 failed requests (docs/tls.md):
#   1. wrk over HTTPS (keep-alive, -c32) while `bluegreen traffic` switches blue<->green
#      10 times: 0 non-2xx, 0 socket errors, both slots answered;
#   2. wrk over HTTPS with a new connection (full handshake) per request
#      (Connection: close) while `bluegreen reload-certs` swaps the certificate 5 times
#      between two certificates: 0 failed requests, and new connections get the new one.
# Run from the repo root; binaries from $BG_BUILD_DIR or build/. Registered in
# tests/e2e/CMakeLists.txt.
set -euo pipefail
NAME=tls_load
# shellcheck source=tests/e2e/tls_lib.sh
source "$(dirname "$0")/tls_lib.sh"
MIN_REQUESTS=${TLS_LOAD_MIN_REQUESTS:-30000}
MAX_SECONDS=90

leaf a "DNS:a.test"
start_stack "    certificates: [{cert: $CERTS/a.pem, key: $CERTS/a.key}]"
say "serving HTTPS on 127.0.0.1:$PORT"
URL="https://127.0.0.1:$PORT/"

# ---- 1. switches under keep-alive HTTPS load -------------------------------------------
wrk_calibrate "$URL"
load_seconds "$RPS" "$MIN_REQUESTS" 8 $MAX_SECONDS
say "calibrated at $RPS req/s: wrk -t1 -c32 for ${LOAD_SECS}s with 10 switches"
wrk_load wrk1 32 "$LOAD_SECS" "$URL"
switch_slots 10 "$LOAD_SECS"
wait $LOAD_PID || fail "wrk failed: $(cat "$TMP/wrk1.log")"
wrk_check "$TMP/wrk1.log" >/dev/null
[ "$(count blue)" -gt 0 ] && [ "$(count green)" -gt 0 ] || fail "not both slots answered: $COUNTS"
[ "$REQUESTS" -ge "$MIN_REQUESTS" ] || fail "only $REQUESTS requests (< $MIN_REQUESTS)"
say "ok: $REQUESTS HTTPS requests across 10 switches, 0 failed ($COUNTS)"

# ---- 2. certificate reloads under full-handshake load -----------------------------------
cp "$CERTS/a.pem" "$CERTS/a1.pem"; cp "$CERTS/a.key" "$CERTS/a1.key"
leaf a2 "DNS:a.test"
serial() { openssl s_client -connect "127.0.0.1:$PORT" -servername a.test </dev/null 2>/dev/null |
    openssl x509 -noout -serial; }
s1=$(openssl x509 -noout -serial -in "$CERTS/a1.pem")
s2=$(openssl x509 -noout -serial -in "$CERTS/a2.pem")
wrk_load wrk2 16 10 "$URL" -H 'Connection: close'
for i in $(seq 5); do
    sleep 1.5 # paces the reloads inside the run
    if [ $((i % 2)) = 1 ]; then k=2; want=$s2; else k=1; want=$s1; fi
    cp "$CERTS/a$k.pem" "$CERTS/a.pem.new" && mv "$CERTS/a.pem.new" "$CERTS/a.pem"
    cp "$CERTS/a$k.key" "$CERTS/a.key.new" && mv "$CERTS/a.key.new" "$CERTS/a.key"
    bgcli reload-certs >>"$TMP/reload.log" 2>&1 || fail "reload-certs $i: $(tail -n 3 "$TMP/reload.log")"
    got=$(serial)
    [ "$got" = "$want" ] || fail "reload $i: new connections get $got, want $want"
done
wait $LOAD_PID || fail "wrk failed: $(cat "$TMP/wrk2.log")"
wrk_check "$TMP/wrk2.log" >/dev/null
[ "$REQUESTS" -ge 200 ] || fail "only $REQUESTS full-handshake requests"
say "ok: $REQUESTS full-handshake HTTPS requests across 5 certificate reloads, 0 failed"
kill -0 "$SERVE_PID" 2>/dev/null || fail "bluegreen serve exited"
say "PASS"
