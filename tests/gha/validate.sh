#!/usr/bin/env bash
# Validates the GitHub Actions files with @action-validator/cli (npm, pinned by
# tests/gha/package-lock.json, installed with `npm ci` into the build tree when missing):
# .github/workflows/ci.yml, action.yml, examples/github-actions/*.yml. Then proves the
# validator can fail: a broken workflow and a broken action must be rejected.
# No node, npm or registry is a FAILURE, never a skip.
# usage: validate.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:?usage: validate.sh BUILD_DIR}
dir=$build/gha-validator
fail() { echo "FAIL: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || fail "node not found (nodejs, scripts/install-deps.sh)"
command -v npm >/dev/null 2>&1 || fail "npm not found (scripts/install-deps.sh)"
if ! cmp -s tests/gha/package-lock.json "$dir/package-lock.json" ||
  [ ! -x "$dir/node_modules/.bin/action-validator" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  cp tests/gha/package.json tests/gha/package-lock.json "$dir/"
  echo "installing @action-validator/cli: npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund) || fail "npm ci failed (npm registry unreachable?)"
fi
av=$dir/node_modules/.bin/action-validator

files=(.github/workflows/ci.yml action.yml examples/github-actions/*.yml)
for f in "${files[@]}"; do
  [ -f "$f" ] || fail "$f is missing"
  "$av" "$f" || fail "$f is not a valid GitHub Actions file (above)"
  echo "ok: $f"
done

# The validator must be able to say no.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/a"
sed 's/^  using: composite/  using: compostie/' action.yml >"$tmp/a/action.yml"
if "$av" "$tmp/a/action.yml" >/dev/null 2>&1; then
  fail "the validator accepted an action with runs.using: compostie"
fi
sed 's/^    runs-on:/    runs_on:/' examples/github-actions/deploy.yml >"$tmp/bad.yml"
if "$av" "$tmp/bad.yml" >/dev/null 2>&1; then
  fail "the validator accepted a workflow whose job has no runs-on"
fi
echo "ok: the validator rejects a broken action and a broken workflow"
