#!/usr/bin/env bash
# The repository stands on its own (issue 11):
#  1. no tracked file outside docs/history/ refers to the project's former shared folder
#     (dot-dot-slash shared, or an absolute path to it), so nothing can read it, or cites
#     the former out-of-tree design document instead of docs/design.md;
#  2. the tests that read reference data (tests/data/) pass when run from a copy of the
#     tracked files alone, in a scratch directory with no shared folder beside it.
# Needs git (the tree must be a git checkout, as CI's clone is), jq, and BG_BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
build=${BG_BUILD_DIR:?BG_BUILD_DIR must name the build directory}
fail=0

# 1. References. The pattern is split so this file does not match itself.
pat='\.\./'"shared"'|/work/'"shared"
if git -C "$src" ls-files -z | grep -zv '^docs/history/' |
   xargs -0 grep -nE "$pat" -- 2>/dev/null; then
  echo "standalone: the files above refer to a folder outside the repository" >&2
  fail=1
fi
# The design is docs/design.md: a citation of the former out-of-tree "DESIGN" document
# would point nowhere.
dpat='DESIGN'" "'§'
if git -C "$src" ls-files -z | grep -zv '^docs/history/' | xargs -0 grep -nF "$dpat" --; then
  echo "standalone: cite docs/design.md §N instead (files above)" >&2
  fail=1
fi
for d in http-malformed actuator aws/models aws/sigv4-test-suite aws/sigv4-ecs-elbv2; do
  [ -f "tests/data/$d/../README.md" ] || [ -f "tests/data/$d/README.md" ] || {
    echo "standalone: tests/data/$d has no README naming its origin" >&2; fail=1; }
  [ -n "$(git ls-files "tests/data/$d" | head -1)" ] || {
    echo "standalone: tests/data/$d is not tracked" >&2; fail=1; }
done

# 2. The data-reading tests from a copy of the tracked files only.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/repo"
git -C "$src" ls-files -z | (cd "$src" && xargs -0 tar -cf - --) | tar -xf - -C "$scratch/repo"
[ ! -e "$scratch/shared" ] || { echo "standalone: $scratch/shared exists" >&2; exit 1; }

tests='^(test_health_actuator|test_health_replay|test_integration_proxy_malformed|fuzz_http|iam_policy)$'
json=$(ctest --test-dir "$build" --show-only=json-v1 -R "$tests")
n=$(jq '.tests | length' <<<"$json")
if [ "$n" -ne 5 ]; then
  echo "standalone: expected 5 data-reading tests in $build, found $n" >&2
  exit 1
fi
for i in $(seq 0 $((n - 1))); do
  name=$(jq -r ".tests[$i].name" <<<"$json")
  mapfile -t cmd < <(jq -r ".tests[$i].command[]" <<<"$json")
  echo "standalone: $name from $scratch/repo"
  if ! (cd "$scratch/repo" && BG_BUILD_DIR=$build timeout 240 "${cmd[@]}" >"$scratch/$name.log" 2>&1); then
    tail -n 30 "$scratch/$name.log" >&2
    echo "standalone: $name failed when run from a copy of the repository alone" >&2
    fail=1
  fi
done
[ $fail -eq 0 ] && echo "standalone: ok"
exit $fail
