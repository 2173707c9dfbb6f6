#!/usr/bin/env bash
# bench/throughput.sh — requests/s and p99 latency: each peer and direct-to-backend.
#
# All peers run at once in front of the same blue backend. ROUNDS rounds (default 5); in
# each, every target (direct, then the peers) gets one `wrk -t1 -c50 -dDs --latency` run,
# the order rotating from round to round so no target always follows the same one. The
# figures are the medians over the rounds. On this machine wrk, the proxy and the backend
# share the same 2 cores, so absolute numbers are low and noisy; read the ratios.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_bins
command -v wrk >/dev/null || die "wrk not installed"
ROUNDS=${BENCH_ROUNDS:-$(quick 2 5)}
D=${BENCH_SECONDS:-$(quick 3 5)}

# p99 in ms from wrk's "99%" latency line (units us, ms or s).
p99_ms() {
    awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
         if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.3f\n", v }' "$1"
}

backends_start
declare -A PORT RPS P99 ERR
PORT[direct]=$BLUE_PORT
targets=(direct)
for peer in $BENCH_PEERS; do
    peer_start "$peer"
    PORT[$peer]=$PEER_PORT
    targets+=("$peer")
done
n=${#targets[@]}
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < n; k++)); do
        t=${targets[$(((k + r) % n))]}
        out="$BENCH_TMP/tp.$t.$r"
        wrk -t1 -c50 -d"${D}s" --latency "http://127.0.0.1:${PORT[$t]}/" >"$out" 2>&1 ||
            die "wrk failed against $t: $(cat "$out")"
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
        p99=$(p99_ms "$out")
        bad=$(awk '/Non-2xx|Socket errors/ {printf "%s; ", $0}' "$out")
        [ -z "$bad" ] || ERR[$t]="${ERR[$t]:-}$bad"
        RPS[$t]="${RPS[$t]:-} $rps"
        P99[$t]="${P99[$t]:-} $p99"
        note "throughput: round $((r + 1))/$ROUNDS $t: $rps req/s, p99 $p99 ms ${bad}"
    done
done
for t in "${targets[@]}"; do
    result rps "$t" "$(echo "${RPS[$t]}" | median | awk '{printf "%.0f", $1}')"
    result p99_ms "$t" "$(echo "${P99[$t]}" | median)"
    [ -z "${ERR[$t]:-}" ] || result throughput_errors "$t" "\"${ERR[$t]}\""
done
