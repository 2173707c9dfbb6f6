#!/usr/bin/env bash
# Runs examples/github-actions/deploy.yml for real (tests/gha/run_workflow.py: its `run:`
# steps with the GitHub variables set) against the ctest 'docker' fixture and a real
# `bluegreen serve` (service orders on the docker driver, v1 live): the example builds an
# image from a workspace Dockerfile, pushes it to the authed registry, passes the dry-run
# gate and deploys it with --wait. Then: the load balancer answers the new version, the
# deployment SUCCEEDED with label git.sha, and no step was left out. First, the runner
# itself must refuse an expression it cannot give a value (it can fail).
# Env: BG_DOCKER_ENV, BG_BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/gha/serve_lib.sh
. tests/gha/serve_lib.sh
serve_test_init example

# The runner refuses what it cannot run.
# shellcheck disable=SC2016 # a GitHub expression, not a shell one
printf 'on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n      - run: echo ${{ github.nope }}\n' \
  >"$TMP/refuse.yml"
rc=0
python3 tests/gha/run_workflow.py "$TMP/refuse.yml" --job j --workspace "$TMP" >/dev/null 2>&1 ||
  rc=$?
[ $rc -eq 2 ] || fail "run_workflow.py ran a step with an unknown expression (exit $rc)"

serve_start
echo "ok: serve runs orders 1.0.0 from $BG_IMAGE_AUTH:v1"

# The workspace: what actions/checkout would give, a repository with a Dockerfile.
ws=$TMP/workspace
mkdir -p "$ws"
cp "$BG_DOCKER_ENV_DIR/image/sample-app" "$ws/sample-app"
printf 'FROM scratch\nCOPY sample-app /sample-app\nENTRYPOINT ["/sample-app"]\n' >"$ws/Dockerfile"
mkdir -p "$TMP/runner-docker"   # the runner's own docker login, not the daemon's

sha=$(printf 'example %s' "$RANDOM$RANDOM" | sha1sum | cut -c1-40)
run_number=$((RANDOM % 900 + 100))
want=1.0.$run_number
rc=0
env DOCKER_CONFIG="$TMP/runner-docker" DOCKER_BUILDKIT=0 PATH="$BG_BUILD_DIR:$PATH" \
  python3 tests/gha/run_workflow.py examples/github-actions/deploy.yml --job deploy \
  --workspace "$ws" --step-timeout 240 --report "$TMP/report.json" \
  --set "github.sha=$sha" --set "github.run_number=$run_number" --set github.run_id=4242 \
  --set github.repository=acme/orders --set github.actor=tester \
  --set "vars.REGISTRY=$BG_REGISTRY_AUTH" --set "vars.BLUEGREEN_ADMIN=$ADMIN" \
  --set "secrets.REGISTRY_USER=$BG_REGISTRY_USER" \
  --set "secrets.REGISTRY_PASSWORD=$BG_REGISTRY_PASS" \
  --set "secrets.BLUEGREEN_TOKEN=$TOKEN" || rc=$?
[ $rc -eq 0 ] || fail "the example workflow failed (exit $rc)"

# Every step of the example ran (checkout is the one skipped).
total=$(python3 -c 'import sys,yaml; print(len(yaml.safe_load(open(sys.argv[1]))["jobs"]["deploy"]["steps"]))' \
  examples/github-actions/deploy.yml)
ran=$(jq '[.steps[] | select(.rc == 0)] | length' "$TMP/report.json")
[ "$ran" -eq $((total - 1)) ] || fail "$ran of $total steps ran"
echo "ok: the example's $ran run steps passed"

v=$(lb_version)
[ "$v" = "$want" ] || fail "the load balancer answers version '$v', want $want"
echo "ok: the load balancer answers $want"

"$BG" --admin "$ADMIN" --token "$TOKEN" history orders --json >"$TMP/history.json" ||
  fail "history failed"
last=$(jq -c '(if type == "array" then . else (.deployments // .items) end)
             | map(select(.version == "'"$want"'")) | .[0]' "$TMP/history.json")
[ "$(jq -r .result <<<"$last")" = SUCCEEDED ] || fail "deployment of $want: $last"
[ "$(jq -r '.labels["git.sha"]' <<<"$last")" = "$sha" ] || fail "git.sha label missing: $last"
[ "$(jq -r '.labels["github.run"]' <<<"$last")" = 4242 ] || fail "github.run label missing: $last"
echo "ok: deployment $(jq -r .id <<<"$last") SUCCEEDED with git.sha=$sha"
echo "example: all ok"
