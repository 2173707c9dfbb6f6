# shellcheck shell=bash
# Sourced by shell tests that need the ctest 'docker' fixture (tests/support/docker_env.sh).
# docker_env_load: reads $BG_DOCKER_ENV (KEY=VALUE lines) into exported variables.
# If the fixture recorded that no engine can start on this machine (DIR/skipped), exits 77
# so ctest reports the test as skipped (SKIP_RETURN_CODE 77) with the reason; a missing
# env file for any other reason is a failure.
docker_env_load() {
  local env=${BG_DOCKER_ENV:-}
  [ -n "$env" ] || { echo "docker env: BG_DOCKER_ENV is not set (run through ctest)" >&2; exit 1; }
  local dir
  dir=$(dirname "$env")
  if [ ! -f "$env" ]; then
    if [ -f "$dir/skipped" ]; then
      echo "SKIPPED: no Docker engine can start on this machine: $(cat "$dir/skipped")" >&2
      exit 77
    fi
    echo "docker env: $env is missing: the docker_env_setup fixture failed (see its output)" >&2
    exit 1
  fi
  local line
  while IFS= read -r line; do
    [ -n "$line" ] && export "${line?}"
  done <"$env"
}
