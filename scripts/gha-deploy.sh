#!/usr/bin/env bash
# The GitHub Actions step of action.yml (docs/github-actions.md): one `bluegreen deploy
# --wait --json` of a container image, its result as step outputs and a job summary.
#
# Inputs (environment, as action.yml passes them):
#   INPUT_SERVICE   service name (required)
#   INPUT_IMAGE     image reference, e.g. ghcr.io/acme/orders:1.4.0 (required)
#   INPUT_VERSION   the revision's version label, e.g. 1.4.0 (required)
#   INPUT_ADMIN     admin endpoint http://HOST:PORT or unix:PATH (else $BLUEGREEN_ADMIN)
#   INPUT_TOKEN     bearer token for an http admin endpoint (else $BLUEGREEN_TOKEN)
#   INPUT_STRATEGY  all-at-once | canary:10%:5m | linear:10%:1m (else the service's)
#   INPUT_LABEL     labels, one k=v per line (git.sha=$GITHUB_SHA is added unless given)
#   INPUT_CLI       the bluegreen binary (default: bluegreen on PATH)
# GitHub's files: GITHUB_OUTPUT gets result=<RESULT> and deployment=<id>;
# GITHUB_STEP_SUMMARY gets a markdown summary (appended). Both optional (a local run
# prints to stdout only).
#
# Exit: 0 when the deployment SUCCEEDED; 1 otherwise (ROLLED_BACK, FAILED, ABORTED,
# REFUSED, or no deployment at all: bad input, daemon unreachable), so the job fails.
# result is the deployment's result, or ERROR when there was no deployment.
set -uo pipefail

ME=gha-deploy
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

RESULT=ERROR
DEPLOYMENT=
REASON=
JSON=$TMP/deploy.json

set_outputs() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    {
      echo "result=$RESULT"
      echo "deployment=$DEPLOYMENT"
    } >>"$GITHUB_OUTPUT"
  fi
  echo "$ME: result=$RESULT deployment=${DEPLOYMENT:-none}"
}

md_escape() {
  local s=${1//|/\\|}
  printf '%s' "${s//$'\n'/ }"
}

# summary: markdown to $GITHUB_STEP_SUMMARY (and nothing on stdout).
summary() {
  [ -n "${GITHUB_STEP_SUMMARY:-}" ] || return 0
  local icon=":x:"
  [ "$RESULT" = SUCCEEDED ] && icon=":white_check_mark:"
  {
    echo "### $icon bluegreen deploy \`${INPUT_SERVICE:-?}\` ${INPUT_VERSION:-?}: $RESULT"
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| Service | \`$(md_escape "${INPUT_SERVICE:-}")\` |"
    echo "| Version | \`$(md_escape "${INPUT_VERSION:-}")\` |"
    echo "| Image | \`$(md_escape "${INPUT_IMAGE:-}")\` |"
    echo "| Result | **$RESULT** |"
    [ -n "$DEPLOYMENT" ] && echo "| Deployment | #$DEPLOYMENT |"
    if [ -s "$JSON" ] && jq -e 'type == "object"' "$JSON" >/dev/null 2>&1; then
      jq -r '
        def md: tostring | gsub("\\|"; "\\|") | gsub("\n"; " ");
        (if .slot then "| Slot | \(.slot | md) |" else empty end),
        (if .strategy then "| Strategy | \(.strategy | md) |" else empty end),
        (if .traffic then "| Traffic | blue \(.traffic.blue)% / green \(.traffic.green)% |"
         else empty end),
        (if (.artifact.digest // .artifact.image_digest // null) then
           "| Digest | `\((.artifact.digest // .artifact.image_digest) | md)` |" else empty end),
        (if (.labels // {}) | length > 0 then
           "| Labels | \(.labels | to_entries | map("`\(.key)=\(.value)`") | join(" ") | md) |"
         else empty end),
        (if .started and .ended then "| Started / ended | \(.started) / \(.ended) |"
         else empty end)' "$JSON"
    fi
    if [ -n "$REASON" ]; then
      echo
      echo "**Reason:** $(md_escape "$REASON")"
    fi
    if [ -s "$JSON" ] && jq -e '(.gate.broken // []) | length > 0' "$JSON" >/dev/null 2>&1; then
      echo
      echo "**Compatibility gate:**"
      jq -r '.gate.broken[] | "- \(.message // .reason // tostring)"' "$JSON"
    fi
    if [ "$RESULT" != SUCCEEDED ] && [ -s "$TMP/stderr" ]; then
      echo
      echo "<details><summary>bluegreen output</summary>"
      echo
      echo '```'
      tail -n 40 "$TMP/stderr"
      echo '```'
      echo "</details>"
    fi
    echo
  } >>"$GITHUB_STEP_SUMMARY"
}

finish() {
  set_outputs
  summary
  if [ "$RESULT" = SUCCEEDED ]; then
    exit 0
  fi
  # An annotation on the run page; the summary has the details.
  echo "::error title=bluegreen deploy ${INPUT_SERVICE:-}: $RESULT::$(md_escape "${REASON:-no reason given}")"
  exit 1
}

# fail_input MSG: a problem before any deployment started.
fail_input() {
  REASON=$1
  echo "$ME: $REASON" >&2
  echo "$REASON" >"$TMP/stderr"
  finish
}

[ -n "${INPUT_SERVICE:-}" ] || fail_input "input 'service' is required"
[ -n "${INPUT_IMAGE:-}" ] || fail_input "input 'image' is required"
[ -n "${INPUT_VERSION:-}" ] || fail_input "input 'version' is required"
CLI=${INPUT_CLI:-bluegreen}
command -v "$CLI" >/dev/null 2>&1 ||
  fail_input "the bluegreen CLI ('$CLI') is not on this runner: install it first or set input 'cli' (docs/github-actions.md)"
command -v jq >/dev/null 2>&1 || fail_input "jq is needed to read bluegreen's --json answer"

args=(deploy "$INPUT_SERVICE" --image "$INPUT_IMAGE" --version "$INPUT_VERSION" --wait --json)
[ -n "${INPUT_ADMIN:-}" ] && args=(--admin "$INPUT_ADMIN" "${args[@]}")
[ -n "${INPUT_STRATEGY:-}" ] && args+=(--strategy "$INPUT_STRATEGY")
have_sha=0
while IFS= read -r line || [ -n "$line" ]; do
  line=${line#"${line%%[![:space:]]*}"}   # trim
  line=${line%"${line##*[![:space:]]}"}
  [ -z "$line" ] && continue
  case "$line" in
    *=*) ;;
    *) fail_input "input 'label': '$line' is not k=v (one label per line)" ;;
  esac
  [ "${line%%=*}" = git.sha ] && have_sha=1
  args+=(--label "$line")
done <<<"${INPUT_LABEL:-}"
if [ $have_sha -eq 0 ] && [ -n "${GITHUB_SHA:-}" ]; then
  args+=(--label "git.sha=$GITHUB_SHA")
fi
if [ -n "${GITHUB_ACTOR:-}" ]; then
  args+=(--actor "github:$GITHUB_ACTOR")
fi
# The token goes by environment, not argv (argv is visible to every user of the runner).
if [ -n "${INPUT_TOKEN:-}" ]; then
  export BLUEGREEN_TOKEN=$INPUT_TOKEN
  echo "::add-mask::$INPUT_TOKEN"
fi

echo "$ME: $CLI ${args[*]}"
# stdout (the JSON) to a file; stderr (progress, errors) to the log and kept for the summary.
"$CLI" "${args[@]}" 2>&1 >"$JSON" | tee "$TMP/stderr" >&2
rc=${PIPESTATUS[0]}
if [ -s "$JSON" ] && jq -e 'type == "object" and has("result")' "$JSON" >/dev/null 2>&1; then
  RESULT=$(jq -r '.result | if . == null or . == "" then "ERROR" else . end' "$JSON")
  DEPLOYMENT=$(jq -r '.id // empty' "$JSON")
  REASON=$(jq -r '.reason // empty' "$JSON")
else
  RESULT=ERROR
  # With --json the CLI's errors are {"error":{"code","message",...}} on stderr
  # (docs/cli-errors.md); older CLIs print a sentence.
  REASON=$(grep '^{' "$TMP/stderr" | jq -r 'select(.error) | "\(.error.message) (\(.error.code))"' \
    2>/dev/null | tail -n 1)
  [ -n "$REASON" ] || REASON=$(tail -n 3 "$TMP/stderr" | tr '\n' ' ')
  [ -n "$REASON" ] || REASON="bluegreen exited $rc without a deployment"
fi
if [ "$RESULT" = SUCCEEDED ] && [ "$rc" -ne 0 ]; then
  RESULT=ERROR
  REASON="bluegreen exited $rc although the deployment says SUCCEEDED"
fi
[ -s "$JSON" ] && jq -c '{id, result, reason, slot, traffic}' "$JSON" 2>/dev/null
finish
