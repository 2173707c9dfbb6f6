#!/bin/sh
# Differential test driver: node-semver (the npm `semver` package) is the oracle.
#
# usage: run.sh <oracle dir> <test_compat_differential binary> <gen.js>
#
# Installs `semver@latest` into <oracle dir>/node_modules when it is missing (npm, no
# package.json written), has gen.js write the cases with the oracle's verdicts, and lets
# the C checker compare them with ours. No node, no npm or no registry is a FAILURE, never
# a skip: without the oracle the test has proven nothing.
# BG_SEMVER_PAIRS and BG_SEMVER_SEED override the case count (default 8000) and seed.
set -u
dir=$1
bin=$2
gen=$3

fail() {
    echo "FAIL: $*"
    exit 1
}

command -v node >/dev/null 2>&1 || fail "node not found: the semver oracle cannot run"
if [ ! -f "$dir/node_modules/semver/package.json" ]; then
    command -v npm >/dev/null 2>&1 || fail "npm not found: cannot install the semver oracle"
    mkdir -p "$dir" || fail "cannot create $dir"
    echo "installing the oracle: npm install --no-save --prefix $dir semver@latest"
    npm install --no-save --no-audit --no-fund --prefix "$dir" semver@latest ||
        fail "npm could not install semver (registry unreachable?)"
    [ -f "$dir/node_modules/semver/package.json" ] || fail "semver missing after npm install"
fi
node "$gen" "$dir/node_modules" "$dir/cases.txt" "${BG_SEMVER_PAIRS:-8000}" \
    "${BG_SEMVER_SEED:-20261127}" || fail "the case generator failed"
exec "$bin" "$dir/cases.txt"
