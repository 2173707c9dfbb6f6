#!/usr/bin/env bash
# bench/h2.sh — HTTP/2 (h2c, prior knowledge) requests/s and instructions per request.
#
# Every peer listens for HTTP/2 with prior knowledge (PEER_H2=1 in lib.sh: nginx `listen
# ... http2`, HAProxy `bind ... proto h2`, bluegreen `http2: {h2c: true}`) in front of the
# same HTTP/1.1 keep-alive backend.
#   h2_rps: all peers at once; ROUNDS rounds in a rotating order of
#           `h2load -c 10 -m 10 -t 1 -D secs` (100 streams in flight); medians.
#   h2_instr_per_req: each peer alone under callgrind; a baseline run (start, readiness
#           probe, stop) is subtracted from a run that also serves N requests with
#           `h2load -c 1 -m 10 -n N`: (Ir_measured - Ir_baseline) / N.
#   h2_syscalls_per_req: each peer alone, warmed up, strace -f -c attached (lib.sh traced)
#           while `h2load -c 10 -m 10 -n N` runs: total calls / N. Under strace every call
#           is slow, so batching differs from a free run; the figure compares shapes.
# BENCH_H2_ONLY picks some of "rps instr syscalls" (default: rps instr). Needs h2load
# (nghttp2-client), curl, valgrind; strace for syscalls.
set -euo pipefail
export PEER_H2=1
. "$(dirname "$0")/lib.sh"
require_bins
command -v h2load >/dev/null || die "h2load not installed (apt-get install nghttp2-client)"
command -v valgrind >/dev/null || die "valgrind not installed"
ROUNDS=${BENCH_ROUNDS:-$(quick 2 5)}
D=${BENCH_SECONDS:-$(quick 3 5)}
N=${BENCH_INSTR_REQUESTS:-$(quick 5000 20000)}
ONLY_H2=${BENCH_H2_ONLY:-"rps instr"}

backends_start

measure_rps() {
    local -A port rps err
    local targets=() peer r k t out v bad n
    for peer in $BENCH_PEERS; do
        peer_start "$peer"
        port[$peer]=$PEER_PORT
        targets+=("$peer")
    done
    n=${#targets[@]}
    for ((r = 0; r < ROUNDS; r++)); do
        for ((k = 0; k < n; k++)); do
            t=${targets[$(((k + r) % n))]}
            out="$BENCH_TMP/h2.$t.$r"
            h2load -c 10 -m 10 -t 1 -D "$D" "http://127.0.0.1:${port[$t]}/" >"$out" 2>&1 ||
                die "h2load failed against $t: $(cat "$out")"
            v=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$out")
            # requests: T total, S started, D done, OK succeeded, F failed, E errored, X timeout
            bad=$(awk '/^requests:/ && ($10 + $12 + $14) > 0 {print}
                       /^status codes:/ && ($5 + $7 + $9) > 0 {print}' "$out")
            [ -z "$bad" ] || err[$t]="${err[$t]:-}$bad; "
            rps[$t]="${rps[$t]:-} $v"
            note "h2: round $((r + 1))/$ROUNDS $t: $v req/s $bad"
        done
    done
    for t in "${targets[@]}"; do
        result h2_rps "$t" "$(echo "${rps[$t]}" | median | awk '{printf "%.0f", $1}')"
        [ -z "${err[$t]:-}" ] || result h2_errors "$t" "\"${err[$t]}\""
    done
}

callgrind_ir() { awk '/^summary:/ {s += $2} END {printf "%d\n", s}' "$@"; }

# instr_once PEER REQUESTS: prints the total Ir of one callgrind run.
instr_once() {
    local peer=$1 n=$2 out
    out="$BENCH_TMP/h2cg.$peer.$n"
    mkdir -p "$out"
    peer_start "$peer" valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" \
        --trace-children=no
    if [ "$n" -gt 0 ]; then
        h2load -c 1 -m 10 -t 1 -n "$n" "http://127.0.0.1:$PEER_PORT/" >"$out/h2load.txt" 2>&1 ||
            die "$peer: h2load failed: $(cat "$out/h2load.txt")"
        grep -q " $n succeeded, 0 failed" "$out/h2load.txt" ||
            die "$peer: not all requests succeeded: $(grep '^requests:' "$out/h2load.txt")"
    fi
    peer_stop TERM
    ls "$out"/cg.* >/dev/null 2>&1 || die "$peer: callgrind wrote no output"
    callgrind_ir "$out"/cg.*
}

measure_instr() {
    local peer base full
    for peer in $BENCH_PEERS; do
        note "h2 instr: $peer baseline"
        base=$(instr_once "$peer" 0)
        note "h2 instr: $peer $N requests"
        full=$(instr_once "$peer" "$N")
        note "h2 instr: $peer base=$base full=$full -> $(((full - base) / N)) Ir/request"
        result h2_instr_per_req "$peer" "$(((full - base) / N))"
    done
}

measure_syscalls() {
    local peer calls out
    command -v strace >/dev/null || die "strace not installed"
    for peer in $BENCH_PEERS; do
        peer_start "$peer"
        h2load -c 10 -m 10 -t 1 -n 1000 "http://127.0.0.1:$PEER_PORT/" >/dev/null 2>&1 ||
            die "$peer: h2 warm-up failed"
        note "h2 syscalls: $peer: $N requests"
        out="$BENCH_TMP/h2strace.$peer"
        calls=$(traced "$out" h2load -c 10 -m 10 -t 1 -n "$N" "http://127.0.0.1:$PEER_PORT/")
        grep -q " $N succeeded, 0 failed" "$out.load" ||
            die "$peer: not all requests succeeded: $(grep '^requests:' "$out.load")"
        result h2_syscalls_per_req "$peer" "$(awk -v c="$calls" -v n="$N" 'BEGIN {printf "%.2f", c / n}')"
        peer_stop
    done
}

if [[ " $ONLY_H2 " == *" rps "* ]]; then measure_rps; fi
if [[ " $ONLY_H2 " == *" instr "* ]]; then measure_instr; fi
if [[ " $ONLY_H2 " == *" syscalls "* ]]; then measure_syscalls; fi
