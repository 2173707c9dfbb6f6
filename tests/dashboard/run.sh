#!/usr/bin/env bash
# One browser scenario of tests/dashboard/browser.js against a real `bluegreen serve`
# (BG_BUILD_DIR/bluegreen, sample-app) in Debian's chromium, with the npm tools that
# setup.sh installed into BG_BUILD_DIR/dashboard-node.
# usage: run.sh SCENARIO [ARGS]   (pages, canary, auto, auth; screenshots DIR)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BG_BUILD_DIR:-build}
[ -f "$build/dashboard-node/node_modules/playwright-core/package.json" ] ||
  bash tests/dashboard/setup.sh "$build"
export BG_BUILD_DIR=$build
export BG_DASHBOARD_NODE_MODULES=$(cd "$build/dashboard-node/node_modules" && pwd)
exec node tests/dashboard/browser.js "$@"
