#!/usr/bin/env bash
# examples/ecs/bluegreen.yaml (docs/ecs.md) is a config this build accepts: `check-config
# --no-aws` (the config reader and every check of it, no AWS call) exits 0 and summarises
# service orders with driver ecs. A copy with one ecs key misspelt must be refused (exit 2,
# naming the key), so the ecs section is really read.
# Run from the repository root with BG_BUILD_DIR set (ctest does).
set -euo pipefail
bg=${BG_BUILD_DIR:?BG_BUILD_DIR must name the build directory}/bluegreen
example=examples/ecs/bluegreen.yaml
fail() { echo "ecs_example: FAIL: $*" >&2; exit 1; }

rc=0
out=$("$bg" check-config --no-aws -c "$example" 2>&1) || rc=$?
echo "$out"
[ $rc -eq 0 ] || fail "check-config refused $example (exit $rc)"
grep -q "^ok: $example" <<<"$out" || fail "no ok line"
grep -Eq '^ +orders .*driver ecs' <<<"$out" || fail "orders is not summarised as an ecs service"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's/^      cluster: prod$/      clustr: prod/' "$example" >"$tmp/bad.yaml"
! cmp -s "$example" "$tmp/bad.yaml" || fail "the example has no 'cluster: prod' line to misspell"
rc=0
out=$("$bg" check-config --no-aws -c "$tmp/bad.yaml" 2>&1) || rc=$?
[ $rc -eq 2 ] || fail "a misspelt ecs key was accepted (exit $rc): $out"
grep -q "clustr" <<<"$out" || fail "the refusal does not name the key: $out"
echo "ecs_example: ok (a misspelt key is refused: $(head -1 <<<"$out"))"
