#!/usr/bin/env bash
# tests/e2e/tls_testssl.sh — testssl.sh (Debian package) against a TLS listener of
# `bluegreen serve` with the default policy and an RSA and an ECDSA certificate: no finding
# rated HIGH or CRITICAL. testssl.sh is slow (~3 minutes here): its run is bounded by
# `timeout` (--fast would skip checks, so the full default run is kept).
# Registered in tests/e2e/CMakeLists.txt (label slow).
set -euo pipefail
NAME=tls_testssl
source "$(dirname "$0")/tls_lib.sh"
TESTSSL=$(command -v testssl || command -v testssl.sh || true)
[ -n "$TESTSSL" ] || fail "missing tool testssl (Debian package testssl.sh)"

# Certificates as a public CA would issue them (90 days, CRL and OCSP URIs): testssl rates
# a short-lived certificate without revocation info HIGH, which is about the certificate,
# not the listener. The URIs are never fetched.
export LEAF_DAYS=90
export LEAF_EXT=$'crlDistributionPoints=URI:http://crl.a.test/ca.crl\nauthorityInfoAccess=OCSP;URI:http://ocsp.a.test'
leaf a "DNS:a.test" rsa
leaf e "DNS:e.test"
start_stack "    certificates:
      - {cert: $CERTS/a.pem, key: $CERTS/a.key}
      - {cert: $CERTS/e.pem, key: $CERTS/e.key}"
say "serving HTTPS on 127.0.0.1:$PORT; running testssl (bounded to 600s)"
set +e
timeout 600 "$TESTSSL" --quiet --color 0 --warnings off --ip 127.0.0.1 --sneaky \
    --add-ca "$CERTS/ca.pem" --jsonfile "$TMP/testssl.json" "a.test:$PORT" \
    >"$TMP/testssl.log" 2>&1 </dev/null
rc=$?
set -e
[ -s "$TMP/testssl.json" ] || fail "testssl wrote no findings (exit $rc): $(tail -n 20 "$TMP/testssl.log")"
[ $rc -ne 124 ] || fail "testssl did not finish within 600s"
python3 - "$TMP/testssl.json" <<'PY' || fail "testssl found HIGH/CRITICAL issues (above)"
import json, sys
findings = json.load(open(sys.argv[1]))
bad = [f for f in findings if f.get("severity") in ("HIGH", "CRITICAL")]
for f in bad:
    print("testssl: %s %s: %s" % (f["severity"], f["id"], f.get("finding")), file=sys.stderr)
n = len(findings)
print("tls_testssl: %d findings, %d HIGH/CRITICAL; by severity: %s" % (n, len(bad),
      {s: sum(1 for f in findings if f.get("severity") == s) for s in
       ("OK", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL", "WARN")}))
sys.exit(1 if bad or n < 50 else 0)
PY
say "PASS"
