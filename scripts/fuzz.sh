#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (needs clang; see docs/internals/fuzzing.md).
#
#   scripts/fuzz.sh [-t SECONDS] [-j JOBS] [TARGET...]     TARGET: http config semver release (all)
#
# Builds each entry point of tests/unit/fuzz/ with -fsanitize=fuzzer,address,undefined
# against the project's sources into build-libfuzzer/, then runs it for SECONDS (default 60)
# on a working copy of its corpus (build-libfuzzer/corpus-TARGET, seeded from the checked-in
# seeds; new inputs libFuzzer finds stay there). Crashes land in build-libfuzzer/ as
# crash-*/leak-*/timeout-* files; copy a minimised one into tests/unit/fuzz/corpus/TARGET/
# as a regression seed once the bug is fixed. Exit status: non-zero if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=60
jobs=1
while getopts "t:j:" o; do
  case $o in
    t) secs=$OPTARG ;;
    j) jobs=$OPTARG ;;
    *) echo "usage: $0 [-t SECONDS] [-j JOBS] [http|config|semver|release]..." >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http config semver release)

CC=${CC:-}
if [ -z "$CC" ]; then
  for c in clang clang-16 clang-15 clang-14; do
    if command -v "$c" >/dev/null; then CC=$c; break; fi
  done
fi
if [ -z "$CC" ]; then
  echo "fuzz.sh: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi

out=build-libfuzzer
mkdir -p "$out"
# shellcheck disable=SC2054 # the commas are inside -fsanitize=, not separators
flags=(-std=c17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -D_GNU_SOURCE -DBG_VERSION=\"fuzz\" -DBG_FAULT_ENABLED=1
       -Isrc -Itests/unit/fuzz -I/usr/share/include/llhttp)
deps=$(pkg-config --cflags --libs libuv jansson yaml-0.1 sqlite3 libcurl openssl)

# The libraries every entry point needs, compiled once with fuzzer instrumentation
# (-fsanitize=fuzzer-no-link: coverage without a second main()).
lib_srcs=(src/base/*.c src/http/*.c src/config/*.c src/compat/*.c)
objs=()
for s in "${lib_srcs[@]}" /usr/share/llhttp/llhttp.c /usr/share/llhttp/api.c /usr/share/llhttp/http.c; do
  o="$out/obj/$(echo "$s" | tr / _).o"
  mkdir -p "$out/obj"
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ]; then
    extra=()
    case $s in /usr/share/llhttp/*) extra=(-w) ;; esac
    # shellcheck disable=SC2046 # pkg-config output is meant to split into flags
    "$CC" "${flags[@]/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,}" "${extra[@]}" \
      $(pkg-config --cflags libuv jansson yaml-0.1) -c "$s" -o "$o"
  fi
  objs+=("$o")
done

status=0
for t in "${targets[@]}"; do
  case $t in
    http) src=tests/unit/fuzz/http_request.c; seeds=(tests/data/http-malformed/cases tests/unit/fuzz/corpus/http) ;;
    config) src=tests/unit/fuzz/config_load.c; seeds=(tests/unit/config/data tests/unit/fuzz/corpus/config) ;;
    semver) src=tests/unit/fuzz/semver_range.c; seeds=(tests/unit/fuzz/corpus/semver) ;;
    release) src=tests/unit/fuzz/release_file.c; seeds=(tests/unit/fuzz/corpus/release) ;;
    *) echo "fuzz.sh: unknown target $t" >&2; exit 2 ;;
  esac
  bin=$out/fuzz_$t
  # shellcheck disable=SC2086
  "$CC" "${flags[@]}" "$src" "${objs[@]}" $deps -lm -lpthread -o "$bin"
  corpus=$out/corpus-$t
  mkdir -p "$corpus"
  for d in "${seeds[@]}"; do
    if [ -d "$d" ]; then cp -n "$d"/* "$corpus"/ || true; fi  # -n: keep what libFuzzer has
  done
  echo "fuzz.sh: $t for ${secs}s (corpus $corpus)"
  par=()
  [ "$jobs" -gt 1 ] && par=(-jobs="$jobs" -workers="$jobs")
  if ! (cd "$out" && "./fuzz_$t" -max_total_time="$secs" "${par[@]}" -max_len=65536 \
          -timeout=10 -print_final_stats=1 "corpus-$t"); then
    echo "fuzz.sh: $t FAILED (see $out/crash-* / leak-* / timeout-*)" >&2
    status=1
  fi
done
exit $status
