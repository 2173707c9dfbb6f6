#!/usr/bin/env bash
# The action's step (scripts/gha-deploy.sh, as action.yml runs it) against a real
# `bluegreen serve` on the docker driver of the ctest 'docker' fixture:
#  - v2 from the plain registry: exit 0, result=SUCCEEDED, deployment=<id>, the summary
#    says so (with the digest the image was pinned to), the load balancer answers 2.0.0,
#    the git.sha and extra labels are kept;
#  - bad-health (its health check fails): exit 1, result ROLLED_BACK or FAILED, the
#    reason in the summary and an ::error annotation, 2.0.0 still serving;
#  - a tag that does not exist: exit 1, result FAILED or ROLLED_BACK, 2.0.0 still serving.
# Env: BG_DOCKER_ENV, BG_BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/gha/serve_lib.sh
. tests/gha/serve_lib.sh
serve_test_init action_deploy

serve_start
sha=$(printf 'action %s' "$RANDOM" | sha1sum | cut -c1-40)

# act IMAGE VERSION: runs the action's script; sets RC, OUT (GITHUB_OUTPUT), SUMMARY.
act() {
  OUT=$TMP/out.$2
  SUMMARY=$TMP/summary.$2
  : >"$OUT"
  : >"$SUMMARY"
  RC=0
  env -u BLUEGREEN_ADMIN -u BLUEGREEN_TOKEN GITHUB_OUTPUT="$OUT" GITHUB_STEP_SUMMARY="$SUMMARY" \
    GITHUB_SHA="$sha" GITHUB_ACTOR=tester INPUT_CLI="$BG" INPUT_SERVICE=orders \
    INPUT_IMAGE="$1" INPUT_VERSION="$2" INPUT_ADMIN="$ADMIN" INPUT_TOKEN="$TOKEN" \
    INPUT_STRATEGY=all-at-once INPUT_LABEL=$'team=payments\n\ngithub.run=77' \
    bash scripts/gha-deploy.sh >"$TMP/log.$2" 2>&1 || RC=$?
}
output() { sed -n "s/^$1=//p" "$OUT"; }

act "$BG_IMAGE:v2" 2.0.0
[ $RC -eq 0 ] || { cat "$TMP/log.2.0.0" >&2; fail "v2: exit $RC"; }
[ "$(output result)" = SUCCEEDED ] || fail "v2: outputs $(cat "$OUT")"
id=$(output deployment)
[[ "$id" =~ ^[0-9]+$ ]] || fail "v2: deployment output '$id'"
# shellcheck disable=SC2016 # backquotes are markdown
grep -q ':white_check_mark: bluegreen deploy `orders` 2.0.0: SUCCEEDED' "$SUMMARY" ||
  fail "v2: summary: $(cat "$SUMMARY")"
grep -q "| Deployment | #$id |" "$SUMMARY" || fail "v2: summary lacks the id"
grep -q 'git.sha='"$sha" "$SUMMARY" || fail "v2: summary lacks git.sha"
# shellcheck disable=SC2016 # backquotes are markdown
grep -q '^| Digest | `sha256:[0-9a-f]\{64\}` |$' "$SUMMARY" || fail "v2: summary lacks the digest"
sed 's/^/    summary| /' "$SUMMARY"
[ "$(lb_version)" = 2.0.0 ] || fail "v2: the load balancer answers $(lb_version)"
d=$("$BG" --admin "$ADMIN" --token "$TOKEN" history orders --json |
  jq -c '(if type == "array" then . else (.deployments // .items) end) | map(select(.id == '"$id"')) | .[0]')
[ "$(jq -r '.labels["git.sha"]' <<<"$d")" = "$sha" ] || fail "v2: labels $d"
[ "$(jq -r '.labels.team' <<<"$d")" = payments ] || fail "v2: labels $d"
[ "$(jq -r '.labels["github.run"]' <<<"$d")" = 77 ] || fail "v2: labels $d"
echo "ok: v2 SUCCEEDED (deployment $id), outputs and summary"

act "$BG_IMAGE:bad-health" 4.0.0
[ $RC -eq 1 ] || { cat "$TMP/log.4.0.0" >&2; fail "bad-health: exit $RC, want 1"; }
r=$(output result)
case "$r" in ROLLED_BACK | FAILED) ;; *) fail "bad-health: result '$r'" ;; esac
[[ "$(output deployment)" =~ ^[0-9]+$ ]] || fail "bad-health: no deployment id"
grep -q ":x: bluegreen deploy \`orders\` 4.0.0: $r" "$SUMMARY" || fail "bad-health: $(cat "$SUMMARY")"
grep -q '^\*\*Reason:\*\* .\+' "$SUMMARY" || fail "bad-health: no reason: $(cat "$SUMMARY")"
grep -q "^::error title=bluegreen deploy orders: $r::" "$TMP/log.4.0.0" || fail "bad-health: no annotation"
[ "$(lb_version)" = 2.0.0 ] || fail "bad-health: the load balancer answers $(lb_version)"
echo "ok: bad-health $r: $(grep '^\*\*Reason' "$SUMMARY")"

act "$BG_IMAGE:no-such-tag" 5.0.0
[ $RC -eq 1 ] || { cat "$TMP/log.5.0.0" >&2; fail "missing tag: exit $RC, want 1"; }
r=$(output result)
case "$r" in ROLLED_BACK | FAILED) ;; *) fail "missing tag: result '$r'" ;; esac
grep -q '^\*\*Reason:\*\* .\+' "$SUMMARY" || fail "missing tag: no reason: $(cat "$SUMMARY")"
[ "$(lb_version)" = 2.0.0 ] || fail "missing tag: the load balancer answers $(lb_version)"
echo "ok: missing tag $r: $(grep '^\*\*Reason' "$SUMMARY")"
echo "action_deploy: all ok"
