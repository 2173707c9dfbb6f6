#!/usr/bin/env bash
# bench/syscalls.sh — system calls per proxied keep-alive request.
#
# Each peer is started normally and warmed up (100 requests, so upstream keep-alive
# connections exist); then strace -f -c attaches to all of its processes and threads, a
# load runs, strace detaches, and the figure is total syscalls / requests served (every
# call counted, failed ones such as EAGAIN included). Only the load window is traced, so
# start-up is not counted. Two loads:
#   syscalls_per_req      wrk -t1 -c50 keep-alive for D seconds (requests from wrk's count):
#                         the concurrent case, where one epoll_wait serves several events
#   syscalls_per_req_seq  bench-client: N sequential requests on one keep-alive connection:
#                         the worst case, one readiness wait per event
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_bins
command -v strace >/dev/null || die "strace not installed"
command -v wrk >/dev/null || die "wrk not installed"
N=${BENCH_SYSCALL_REQUESTS:-$(quick 5000 20000)}
D=${BENCH_SYSCALL_SECONDS:-$(quick 3 5)}

backends_start
for peer in $BENCH_PEERS; do
    peer_start "$peer"
    "$CLIENT_BIN" seq "$PEER_PORT" 100 >/dev/null || die "$peer: warm-up failed"
    note "syscalls: $peer: wrk -c50 ${D}s"
    calls=$(traced "$BENCH_TMP/strace.$peer.wrk" wrk -t1 -c50 -d"${D}s" "http://127.0.0.1:$PEER_PORT/")
    load="$BENCH_TMP/strace.$peer.wrk.load"
    reqs=$(awk '/requests in/ {print $1}' "$load")
    bad=$(awk '/Non-2xx|Socket errors/' "$load")
    [ -z "$bad" ] || die "$peer: errors under strace: $bad"
    result syscalls_per_req "$peer" "$(awk -v c="$calls" -v n="$reqs" 'BEGIN {printf "%.2f", c / n}')"
    note "syscalls: $peer: $calls calls / $reqs requests"
    note "syscalls: $peer: $N sequential requests"
    calls=$(traced "$BENCH_TMP/strace.$peer.seq" "$CLIENT_BIN" seq "$PEER_PORT" "$N")
    result syscalls_per_req_seq "$peer" "$(awk -v c="$calls" -v n="$N" 'BEGIN {printf "%.2f", c / n}')"
    peer_stop
done
