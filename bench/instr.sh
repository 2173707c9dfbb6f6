#!/usr/bin/env bash
# bench/instr.sh — user-space instructions per proxied keep-alive request.
#
# Each peer runs under valgrind --tool=callgrind twice: a baseline run that only starts,
# answers the readiness probe and stops, and a measured run that additionally serves
# N sequential requests on one keep-alive connection (bench-client seq). The figure is
# (Ir_measured - Ir_baseline) / N, so start-up and shutdown are not counted. nginx runs
# without a master process (one process does everything); HAProxy with nbthread 1;
# bluegreen with workers: 1 (all its threads are counted).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_bins
command -v valgrind >/dev/null || die "valgrind not installed"
N=${BENCH_INSTR_REQUESTS:-$(quick 5000 20000)}
# bluegreen keeps its 1s health checks (measured: 60s instead changes the figure by <0.1%).

# callgrind_ir FILE...: total Ir over the given callgrind outputs (one "summary:" line per
# file; "totals:" repeats it).
callgrind_ir() {
    awk '/^summary:/ {s += $2} END {printf "%d\n", s}' "$@"
}

# run_once PEER REQUESTS: prints the total Ir of one callgrind run.
run_once() {
    local peer=$1 n=$2 out
    out="$BENCH_TMP/cg.$peer.$n"
    mkdir -p "$out"
    peer_start "$peer" valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" \
        --trace-children=no
    if [ "$n" -gt 0 ]; then
        "$CLIENT_BIN" seq "$PEER_PORT" "$n" >"$out/client.txt" || die "$peer: client errors: $(cat "$out/client.txt")"
    fi
    peer_stop TERM
    ls "$out"/cg.* >/dev/null 2>&1 || die "$peer: callgrind wrote no output"
    callgrind_ir "$out"/cg.*
}

backends_start
for peer in $BENCH_PEERS; do
    note "instr: $peer baseline"
    base=$(run_once "$peer" 0)
    note "instr: $peer $N requests"
    full=$(run_once "$peer" "$N")
    per=$(( (full - base) / N ))
    note "instr: $peer base=$base full=$full -> $per Ir/request"
    result instr_per_req "$peer" "$per"
done
