#!/usr/bin/env bash
# Installs every Debian 12 package that building, the tests, the benchmarks and the demo
# need. Idempotent and fast when nothing is missing (no apt-get at all then). Runs as root,
# or through sudo. Needs only Debian's archive (and the npm registry for node packages).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config                       # toolchain
  libuv1-dev node-llhttp libjansson-dev libyaml-dev      # libraries bluegreen links
  libsqlite3-dev libcurl4-openssl-dev libssl-dev
  libxml2-dev                                            # AWS query-protocol XML (src/aws)
  libnghttp2-dev nghttp2-client python3-h2               # HTTP/2 to clients (src/h2); nghttp,
                                                         # h2load and Python h2 for its tests
  python3-botocore awscli                                # AWS test double + its CLI test
  libcriterion-dev                                       # unit/integration/e2e tests
  curl jq procps iproute2 python3 python3-yaml git       # tests, demo
  wrk nginx-light haproxy                                # benchmarks (bench/)
  valgrind strace                                        # debugging leaks and syscalls
  nodejs                                                 # npm semver oracle (compat tests)
  docker.io docker-registry apache2-utils                # docker driver tests: engine,
                                                         # registries, htpasswd -B
  prometheus                                             # promtool check metrics (tests)
  systemd man-db zsh                                     # package test: systemd-analyze, man, zsh completion
  clang clang-tidy                                       # clang build and static analysis (ctest clang_*)
  testssl.sh                                             # TLS listener audit (tests/e2e/tls_testssl.sh)
  pebble                                                 # ACME test server + challtestsrv DNS (tests/e2e/acme.sh)
  chromium                                               # dashboard browser tests (tests/dashboard, headless)
)

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-deps: run as root or install sudo" >&2
  exit 1
fi

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${PACKAGES[@]}"; do
  case "$p" in
    # Any installed nginx flavour will do; nginx-light would conflict with nginx-core.
    nginx-light) command -v nginx >/dev/null 2>&1 && continue ;;
    # NodeSource's nodejs is as good as Debian's.
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    # Docker's own docker-ce packages are as good as Debian's docker.io.
    docker.io) command -v dockerd >/dev/null 2>&1 && continue ;;
  esac
  installed "$p" || missing+=("$p")
done
# npm: Debian ships it as its own package; NodeSource's nodejs bundles it (and conflicts
# with Debian's npm), so only ask for it when no npm is on PATH after nodejs is in.
need_npm=0
command -v npm >/dev/null 2>&1 || need_npm=1

if [ ${#missing[@]} -eq 0 ] && [ $need_npm -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

# Package scripts must not start daemons (nginx, haproxy) on a build machine.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 755 "$policy"
  made_policy=1
fi
cleanup() {
  if [ $made_policy -eq 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt_get() {
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "$@"
}

echo "install-deps: installing ${missing[*]}"
apt_get update
if [ ${#missing[@]} -gt 0 ]; then
  apt_get install --no-install-recommends "${missing[@]}"
fi
if ! command -v npm >/dev/null 2>&1; then
  apt_get install --no-install-recommends npm
fi
echo "install-deps: done"
