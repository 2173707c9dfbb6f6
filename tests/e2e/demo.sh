#!/usr/bin/env bash
# e2e: the README's demo (scripts/demo.sh) against the test build ($BG_BUILD_DIR: ASan/UBSan
# bluegreen and sample-app), without installing or building anything. The demo checks its
# own story — canary + promote, health-check rollback, rollback_on error-rate rollback,
# manual rollback, the compatibility gate's refusal and the planned release, zero failed
# requests where there must be none, the daemon's instances gone after `bluegreen shutdown
# --stop-targets` — and exits non-zero if any step differs. This test passes only if the
# demo exited 0 AND printed its "all N checks passed" line after all seven summary rows (a
# demo that stopped early, or skipped steps, fails).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

if [ -z "${BG_BUILD_DIR:-}" ]; then
  echo "demo e2e: BG_BUILD_DIR is not set (ctest sets it)" >&2
  exit 1
fi
out=$(mktemp /tmp/bluegreen-demo-e2e.XXXXXX)
trap 'rm -f "$out"' EXIT

scripts/demo.sh --build-dir "$BG_BUILD_DIR" --no-install 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}

if [ "$rc" -ne 0 ]; then
  echo "demo e2e: scripts/demo.sh exited $rc" >&2
  exit 1
fi
if ! grep -q 'demo: all 7 checks passed' "$out"; then
  echo "demo e2e: the demo exited 0 without its 'all 7 checks passed' line" >&2
  exit 1
fi
for step in a b c d e1 e2 stop; do
  if ! grep -Eq "^ +$step +.* ok\$" "$out"; then
    echo "demo e2e: no passing summary row for step $step" >&2
    exit 1
  fi
done
echo "demo e2e: passed"
