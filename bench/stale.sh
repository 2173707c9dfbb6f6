#!/usr/bin/env bash
# bench/stale.sh — failed requests in front of a target that closes every keep-alive
# connection right after its response (issue 9): `bench-backend --stale 1` answers
# `HTTP/1.1 200 OK`, `Content-Length: 2`, `ok` without `Connection: close`, then closes.
# A proxy that reuses pooled connections meets the close while sending the next request
# on it; it must send that request again on a fresh connection instead of answering 502.
#
# For each peer: the same stale backend as the only (blue) target, wrk -t1 -c4 -d5s with
# bench/count.lua. Failed = non-2xx + socket errors (connect, read, write, timeout).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_bins
command -v wrk >/dev/null || die "wrk not installed"
D=${BENCH_STALE_SECONDS:-5}

BLUE_PORT=$(free_port)
GREEN_PORT=$BLUE_PORT # green (weight 0) is the same stale target: one backend for all
spawn backend-stale "$BENCH_BUILD/bench/bench-backend" --port "$BLUE_PORT" --stale 1
wait_http "$BLUE_PORT" 10 || die "stale backend did not come up"
for peer in $BENCH_PEERS; do
    peer_start "$peer"
    out="$BENCH_TMP/stale.$peer.wrk"
    wrk -t1 -c4 -d"${D}s" -s "$BENCH_SRC/count.lua" "http://127.0.0.1:$PEER_PORT/" >"$out" 2>&1 ||
        die "$peer: wrk failed: $(cat "$out")"
    line=$(grep '^COUNTS' "$out") || die "$peer: no COUNTS from wrk: $(cat "$out")"
    note "stale: $peer: $line"
    failed=$(($(count "$line" non2xx) + $(count "$line" connect) + $(count "$line" read) +
        $(count "$line" write) + $(count "$line" timeout)))
    result stale_failed "$peer" "$failed"
    result stale_requests "$peer" "$(count "$line" requests)"
    peer_stop
done
