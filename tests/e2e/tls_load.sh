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
source "$(dirname "$0")/tls_lib.sh"
MIN_REQUESTS=${TLS_LOAD_MIN_REQUESTS:-30000}
MAX_SECONDS=90

leaf a "DNS:a.test"
start_stack "    certificates: [{cert: $CERTS/a.pem, key: $CERTS/a.key}]"
say "serving HTTPS on 127.0.0.1:$PORT"
URL="https://127.0.0.1:$PORT/"

# ---- 1. switches under keep-alive HTTPS load -------------------------------------------
wrk -t1 -c32 -d2s "$URL" >"$TMP/calibrate.log" 2>&1 || fail "wrk calibration run failed"
rps=$(awk '/^Requests\/sec:/ {printf "%d", $2}' "$TMP/calibrate.log")
[ "${rps:-0}" -gt 0 ] || fail "calibration served no requests: $(cat "$TMP/calibrate.log")"
secs=$(((MIN_REQUESTS * 14 / 10 + rps - 1) / rps))
[ $secs -ge 8 ] || secs=8
[ $secs -le $MAX_SECONDS ] || fail "only $rps req/s: $MIN_REQUESTS requests would need more than ${MAX_SECONDS}s"
say "calibrated at $rps req/s: wrk -t1 -c32 for ${secs}s with 10 switches"
wrk -t1 -c32 -d"${secs}s" --timeout 5s -s "$HERE/../../bench/count.lua" "$URL" >"$TMP/wrk1.log" 2>&1 &
WRK=$!
PIDS+=("$WRK")
gap=$(awk -v d="$secs" 'BEGIN {printf "%.3f", d / 12}')
slot=blue
for i in $(seq 10); do
    sleep "$gap" # paces the load pattern; nothing synchronises on it
    if [ $slot = blue ]; then slot=green; w="blue=0 green=100"; else slot=blue; w="blue=100 green=0"; fi
    bgcli traffic app $w >>"$TMP/traffic.log" 2>&1 || fail "switch $i: $(tail -n 3 "$TMP/traffic.log")"
done
wait $WRK || fail "wrk failed: $(cat "$TMP/wrk1.log")"
n=$(wrk_check "$TMP/wrk1.log")
line=$(grep '^COUNTS ' "$TMP/wrk1.log")
[[ "$line" =~ blue=[1-9] ]] && [[ "$line" =~ green=[1-9] ]] || fail "not both slots answered: $line"
[ "$n" -ge "$MIN_REQUESTS" ] || fail "only $n requests (< $MIN_REQUESTS)"
say "ok: $n HTTPS requests across 10 switches, 0 failed ($line)"

# ---- 2. certificate reloads under full-handshake load -----------------------------------
cp "$CERTS/a.pem" "$CERTS/a1.pem"; cp "$CERTS/a.key" "$CERTS/a1.key"
leaf a2 "DNS:a.test"
serial() { openssl s_client -connect "127.0.0.1:$PORT" -servername a.test </dev/null 2>/dev/null |
    openssl x509 -noout -serial; }
s1=$(openssl x509 -noout -serial -in "$CERTS/a1.pem")
s2=$(openssl x509 -noout -serial -in "$CERTS/a2.pem")
wrk -t1 -c16 -d10s --timeout 5s -H 'Connection: close' -s "$HERE/../../bench/count.lua" "$URL" \
    >"$TMP/wrk2.log" 2>&1 &
WRK=$!
PIDS+=("$WRK")
for i in $(seq 5); do
    sleep 1.5 # paces the reloads inside the run
    if [ $((i % 2)) = 1 ]; then k=2; want=$s2; else k=1; want=$s1; fi
    cp "$CERTS/a$k.pem" "$CERTS/a.pem.new" && mv "$CERTS/a.pem.new" "$CERTS/a.pem"
    cp "$CERTS/a$k.key" "$CERTS/a.key.new" && mv "$CERTS/a.key.new" "$CERTS/a.key"
    bgcli reload-certs >>"$TMP/reload.log" 2>&1 || fail "reload-certs $i: $(tail -n 3 "$TMP/reload.log")"
    got=$(serial)
    [ "$got" = "$want" ] || fail "reload $i: new connections get $got, want $want"
done
wait $WRK || fail "wrk failed: $(cat "$TMP/wrk2.log")"
n=$(wrk_check "$TMP/wrk2.log")
[ "$n" -ge 200 ] || fail "only $n full-handshake requests"
say "ok: $n full-handshake HTTPS requests across 5 certificate reloads, 0 failed"
kill -0 "$SERVE_PID" 2>/dev/null || fail "bluegreen serve exited"
say "PASS"
