#!/usr/bin/env bash
# Installs the browser tests' npm tools (playwright-core, axe-core; pinned by
# tests/dashboard/package-lock.json) with `npm ci` into BUILD_DIR/dashboard-node when they
# are missing or the lock changed, and checks that Debian's chromium is there. The ctest
# fixture `dashboard_npm` runs it once before the browser tests. No node, npm, registry
# or chromium is a FAILURE, never a skip.
# usage: setup.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:?usage: setup.sh BUILD_DIR}
dir=$build/dashboard-node
fail() { echo "FAIL: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || fail "node not found (nodejs, scripts/install-deps.sh)"
command -v npm >/dev/null 2>&1 || fail "npm not found (scripts/install-deps.sh)"
[ -x "${BG_CHROMIUM:-/usr/bin/chromium}" ] || fail "${BG_CHROMIUM:-/usr/bin/chromium} not found (chromium, scripts/install-deps.sh)"
if ! cmp -s tests/dashboard/package-lock.json "$dir/package-lock.json" ||
  [ ! -f "$dir/node_modules/playwright-core/package.json" ] ||
  [ ! -f "$dir/node_modules/axe-core/axe.min.js" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  cp tests/dashboard/package.json tests/dashboard/package-lock.json "$dir/"
  echo "installing playwright-core and axe-core: npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts) || fail "npm ci failed (npm registry unreachable?)"
fi
echo "ok: $(cd "$dir" && node -p "'playwright-core ' + require('playwright-core/package.json').version + ', axe-core ' + require('axe-core/package.json').version")"
