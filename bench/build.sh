#!/usr/bin/env bash
# bench/build.sh — release build for the benchmarks: bluegreen (and sample-app when its
# target exists) in build-bench/ with -O2, no sanitizers, no fault points, no tests; plus
# the bench helpers (bench-backend, bench-client) in build-bench/bench/.
# Usage: bench/build.sh [--helpers-only]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${BENCH_BUILD:-$ROOT/build-bench}
mkdir -p "$OUT/bench"
for prog in backend client; do
    gcc -std=c17 -O2 -g -Wall -Wextra -Werror -o "$OUT/bench/bench-$prog" "$ROOT/bench/$prog.c"
done
[ "${1:-}" = --helpers-only ] && exit 0
cmake -S "$ROOT" -B "$OUT" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -g -DNDEBUG" \
    -DBG_SANITIZE= -DBG_FAULT=OFF -DBG_TESTS=OFF -DBG_WERROR=OFF >"$OUT/cmake-configure.log" 2>&1 ||
    { cat "$OUT/cmake-configure.log" >&2; exit 1; }
targets=(bluegreen)
if [[ "$(cmake --build "$OUT" --target help 2>/dev/null)" == *" sample-app"* ]]; then
    targets+=(sample-app)
fi
cmake --build "$OUT" -j2 --target "${targets[@]}"
