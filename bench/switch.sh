#!/usr/bin/env bash
# bench/switch.sh — failed requests while switching blue<->green under saturating load.
#
# For each peer: wrk -t1 -c50 (keep-alive, bench/count.lua) runs for D seconds while all
# traffic is moved between the blue and green backends SWITCHES times (default 10):
#   bluegreen  `bluegreen --admin unix:SOCK traffic app blue=.. green=..`
#   HAProxy    runtime API on the stats socket: `set weight be/<new> 100; set weight be/<old> 0`
#   nginx      upstream rewritten in nginx.conf + `nginx -s reload`
# Failed = non-2xx responses + socket errors (connect, read, write, timeout). Also reports
# the request count and how many responses each slot served.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_bins
command -v wrk >/dev/null || die "wrk not installed"
D=${BENCH_SWITCH_SECONDS:-$(quick 6 12)}
SWITCHES=${BENCH_SWITCHES:-10}

backends_start
for peer in $BENCH_PEERS; do
    peer_start "$peer"
    out="$BENCH_TMP/switch.$peer.wrk"
    wrk -t1 -c50 -d"${D}s" -s "$BENCH_SRC/count.lua" "http://127.0.0.1:$PEER_PORT/" >"$out" 2>&1 &
    wpid=$!
    BENCH_PIDS+=("$wpid")
    # Spread the switches over the run, leaving load before the first and after the last.
    gap=$(awk -v d="$D" -v s="$SWITCHES" 'BEGIN {printf "%.3f", d / (s + 2)}')
    slot=blue
    for ((i = 1; i <= SWITCHES; i++)); do
        sleep "$gap"
        [ $slot = blue ] && slot=green || slot=blue
        switch_to "$peer" $slot || die "$peer: switch $i to $slot failed"
    done
    wait "$wpid" || die "$peer: wrk failed: $(cat "$out")"
    line=$(grep '^COUNTS' "$out") || die "$peer: no COUNTS from wrk: $(cat "$out")"
    note "switch: $peer: $line"
    c_requests=$(count "$line" requests)
    c_non2xx=$(count "$line" non2xx)
    c_blue=$(count "$line" blue)
    c_green=$(count "$line" green)
    c_connect=$(count "$line" connect)
    c_read=$(count "$line" read)
    c_write=$(count "$line" write)
    c_timeout=$(count "$line" timeout)
    failed=$((c_non2xx + c_connect + c_read + c_write + c_timeout))
    result switch_failed "$peer" "$failed"
    result switch_requests "$peer" "$c_requests"
    result switch_blue_green "$peer" "$c_blue/$c_green"
    peer_stop
done
