#!/usr/bin/env bash
# Build portability and static analysis with clang (issue 11), run by ctest:
#   scripts/clang-check.sh build BUILD_DIR   configure + build the tree with clang, warnings
#       as errors, no tests (the configuration packaging/docker/Dockerfile builds), then
#       run the result once (--version, check-config of the container config);
#   scripts/clang-check.sh tidy BUILD_DIR    clang-tidy (.clang-tidy: the Clang static
#       analyzer) over every src/ file with that build's compile_commands.json; any
#       finding fails.
# BUILD_DIR is created if missing. Uses -j2 (the machine has two cores).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: clang-check.sh build|tidy BUILD_DIR}
dir=${2:?usage: clang-check.sh build|tidy BUILD_DIR}

case $mode in
  build)
    launcher=()
    command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache)
    CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBG_TESTS=OFF \
      -DBG_WERROR=ON "${launcher[@]}" >"$dir.configure.log" 2>&1 ||
      { cat "$dir.configure.log" >&2; exit 1; }
    grep -q '^CMAKE_C_COMPILER_ID:.*Clang\|^CMAKE_C_COMPILER:.*clang' "$dir/CMakeCache.txt" ||
      { echo "clang-check: $dir is not configured with clang" >&2; exit 1; }
    cmake --build "$dir" -j2
    "$dir/bluegreen" --version
    "$dir/bluegreen" -c packaging/docker/bluegreen.yaml check-config >/dev/null
    [ -x "$dir/sample-app" ] || { echo "clang-check: no sample-app" >&2; exit 1; }
    echo "clang-check: clang build ok"
    ;;
  tidy)
    [ -f "$dir/compile_commands.json" ] || { echo "clang-check: no $dir/compile_commands.json" >&2; exit 1; }
    out=$(mktemp)
    trap 'rm -f "$out"' EXIT
    # run-clang-tidy exits 0 even when checks report; the findings are in its output.
    run-clang-tidy -quiet -p "$dir" -j 2 "$PWD/src/.*\.c$" >"$out" 2>&1 || true
    if grep -qE '(warning|error): ' "$out"; then
      sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E '^/.*: (warning|error|note): ' >&2
      echo "clang-check: clang-tidy findings above" >&2
      exit 1
    fi
    n=$(grep -c '^clang-tidy' "$out" || true)
    [ "$n" -ge 50 ] || { cat "$out" >&2; echo "clang-check: clang-tidy ran on $n files only" >&2; exit 1; }
    echo "clang-check: clang-tidy clean on $n files"
    ;;
  *) echo "usage: clang-check.sh build|tidy BUILD_DIR" >&2; exit 2 ;;
esac
