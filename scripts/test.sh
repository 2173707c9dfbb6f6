#!/usr/bin/env bash
# The whole test suite, as CI runs it: install dependencies, build everything into build/
# with AddressSanitizer + UBSan and warnings as errors, then run every test through ctest
# (unit, integration, e2e). ctest's summary is the last thing printed; its status is ours.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBG_SANITIZE=address,undefined -DBG_WERROR=ON -DBG_TESTS=ON
cmake --build build -j2
exec ctest --test-dir build --output-on-failure
