#!/usr/bin/env bash
# scripts/gha-deploy.sh (the action's step) when no deployment can be made: a missing
# input, a bad label, an unreachable daemon. Each must fail the step (exit 1), set
# result=ERROR and an empty deployment in $GITHUB_OUTPUT, and put the reason in the
# markdown summary. Uses the real build/bluegreen CLI.
# Env: BG_BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
bg=${BG_BUILD_DIR:?}/bluegreen
[ -x "$bg" ] || { echo "FAIL: $bg is missing" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# run_case NAME WANT_IN_SUMMARY VAR=VALUE...: runs the script with a clean INPUT_* set.
run_case() {
  local name=$1 want=$2 rc=0
  shift 2
  : >"$tmp/out"
  : >"$tmp/summary"
  env -u BLUEGREEN_ADMIN -u BLUEGREEN_TOKEN GITHUB_OUTPUT="$tmp/out" \
    GITHUB_STEP_SUMMARY="$tmp/summary" GITHUB_SHA=0123456789abcdef GITHUB_ACTOR=tester \
    INPUT_CLI="$bg" INPUT_SERVICE=orders INPUT_IMAGE=127.0.0.1:1/orders:v1 \
    INPUT_VERSION=1.0.0 INPUT_ADMIN="unix:$tmp/no-such.sock" "$@" \
    bash scripts/gha-deploy.sh >"$tmp/log" 2>&1 || rc=$?
  [ $rc -eq 1 ] || { cat "$tmp/log" >&2; fail "$name: exit $rc, want 1"; }
  grep -qx 'result=ERROR' "$tmp/out" || fail "$name: no result=ERROR in GITHUB_OUTPUT: $(cat "$tmp/out")"
  grep -qx 'deployment=' "$tmp/out" || fail "$name: deployment should be empty: $(cat "$tmp/out")"
  grep -q ':x: bluegreen deploy' "$tmp/summary" || fail "$name: no summary heading: $(cat "$tmp/summary")"
  grep -qF -- "$want" "$tmp/summary" || fail "$name: summary lacks '$want': $(cat "$tmp/summary")"
  grep -q '^::error title=bluegreen deploy' "$tmp/log" || fail "$name: no ::error annotation"
  echo "ok: $name"
}

run_case "missing service" "input 'service' is required" INPUT_SERVICE=
run_case "missing image" "input 'image' is required" INPUT_IMAGE=
run_case "missing version" "input 'version' is required" INPUT_VERSION=
run_case "bad label" "'nolabel' is not k=v" INPUT_LABEL=$'a=b\nnolabel'
run_case "no CLI" "is not on this runner" INPUT_CLI="$tmp/no-bluegreen"
run_case "daemon unreachable" "$tmp/no-such.sock"
echo "action_errors: all ok"
