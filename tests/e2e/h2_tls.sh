#!/usr/bin/env bash
# tests/e2e/h2_tls.sh — HTTP/2 over TLS, chosen by ALPN "h2" (`http2: {alpn: true}`,
# docs/http2.md), with real clients against `bluegreen serve`:
#   1. curl --http2 gets HTTP/2 (ALPN h2), curl --http1.1 still HTTP/1.1 on the same
#      listener; the target sees X-Forwarded-Proto: https and Via: 2 bluegreen;
#   2. nghttp over TLS: 20 streams on one connection, all 200;
#   3. h2load over TLS (-c 4 -m 10) while `bluegreen traffic` switches blue<->green 10
#      times: 0 failed, only 2xx.
# Run from the repo root; binaries from $BG_BUILD_DIR or build/. A missing tool fails.
set -euo pipefail
NAME=h2_tls
# shellcheck source=tests/e2e/tls_lib.sh
source "$(dirname "$0")/tls_lib.sh"
for tool in nghttp h2load; do
    command -v $tool >/dev/null || fail "missing tool $tool (nghttp2-client)"
done
MIN_REQUESTS=${H2_TLS_MIN_REQUESTS:-20000}

leaf a "DNS:a.test"
STACK_EXTRA_YAML="http2: {alpn: true}" start_stack "    certificates: [{cert: $CERTS/a.pem, key: $CERTS/a.key}]"
say "serving HTTPS + h2 on 127.0.0.1:$PORT"
CURL=(curl -sS --max-time 10 --cacert "$CERTS/ca.pem" --resolve "a.test:$PORT:127.0.0.1")

# ---- 1. ALPN picks h2; HTTP/1.1 stays available ------------------------------------------
wait_get "https://a.test:$PORT/echo" '"path"' 20 --cacert "$CERTS/ca.pem" \
    --resolve "a.test:$PORT:127.0.0.1" || fail "the echo target never answered"
out=$("${CURL[@]}" --http2 -D - "https://a.test:$PORT/echo") || fail "curl --http2 failed"
[[ "$out" == *"HTTP/2 200"* ]] || fail "not HTTP/2: $out"
[[ "$out" == *'"x-forwarded-proto": "https"'* ]] || fail "target did not see https: $out"
[[ "$out" == *'"via": "2 bluegreen"'* ]] || fail "target did not see Via: 2 bluegreen: $out"
out=$("${CURL[@]}" --http1.1 -D - "https://a.test:$PORT/") || fail "curl --http1.1 failed"
[[ "$out" == *"HTTP/1.1 200"* ]] || fail "HTTP/1.1 over TLS broken: $out"
say "ok: ALPN h2 -> HTTP/2, http/1.1 -> HTTP/1.1"

# ---- 2. nghttp: many streams on one TLS connection ---------------------------------------
out=$(nghttp -nv -m 20 -H ":authority: a.test" "https://127.0.0.1:$PORT/" 2>&1) || fail "nghttp failed: $out"
n=$(grep -c ':status: 200' <<<"$out" || true)
[ "$n" -eq 20 ] || fail "nghttp over TLS: $n of 20 streams answered 200"
grep -q "h2" <<<"$(grep -i 'negotiated protocol' <<<"$out")" || fail "nghttp did not negotiate h2: $(grep -i protocol <<<"$out")"
say "ok: nghttp 20 streams over TLS"

# ---- 3. switches under HTTP/2-over-TLS load -----------------------------------------------
H2LOAD=(h2load -c 4 -m 10 -t 1)
"${H2LOAD[@]}" -n 5000 "https://127.0.0.1:$PORT/" >"$TMP/calibrate.log" 2>&1 || fail "h2load calibration failed"
grep -q "Application protocol: h2" "$TMP/calibrate.log" || fail "h2load did not use h2: $(cat "$TMP/calibrate.log")"
h2load_rps "$TMP/calibrate.log"
total=$((RPS * 12))
[ $total -ge "$MIN_REQUESTS" ] || total=$MIN_REQUESTS
secs=$(((total + RPS - 1) / RPS))
say "calibrated at $RPS req/s: h2load -c 4 -m 10 -n $total (~${secs}s) with 10 switches"
start h2load "${H2LOAD[@]}" -n "$total" "https://127.0.0.1:$PORT/"
LOAD_PID=${PIDS[-1]}
switch_slots 10 "$secs"
wait $LOAD_PID || fail "h2load failed: $(cat "$TMP/h2load.log")"
h2load_check "$TMP/h2load.log" "$total" # all succeeded, 0 failed / errored / timeout, only 2xx
kill -0 "$SERVE_PID" 2>/dev/null || fail "bluegreen serve exited"
say "PASS"
