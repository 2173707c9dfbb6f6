#!/usr/bin/env bash
# bench/rss.sh — resident memory per idle keep-alive client connection.
#
# Each peer is started normally (nginx with its master and one worker) and warmed up;
# then bench-client opens C connections (default 5,000), sends one request on each and
# keeps them all open and idle. The figure is the growth of VmRSS summed over the peer's
# processes, from before the connections to after they are all established, divided by C.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_bins
C=${BENCH_RSS_CONNS:-5000}
need=$((C + 1000))
[ "$(ulimit -n)" -ge $need ] || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $need ] || die "ulimit -n is $(ulimit -n); need >= $need for $C connections"

backends_start
for peer in $BENCH_PEERS; do
    peer_start "$peer"
    "$CLIENT_BIN" seq "$PEER_PORT" 1000 >/dev/null || die "$peer: warm-up failed"
    sleep 0.5
    # shellcheck disable=SC2046 # one pid per word
    before=$(rss_kb $(peer_pids))
    fifo="$BENCH_TMP/hold.$peer.fifo"
    out="$BENCH_TMP/hold.$peer.out"
    mkfifo "$fifo"
    "$CLIENT_BIN" hold "$PEER_PORT" "$C" <"$fifo" >"$out" 2>&1 &
    hpid=$!
    BENCH_PIDS+=("$hpid")
    exec 7>"$fifo" # holds the client's stdin open; closing it releases the connections
    deadline=$((SECONDS + 60))
    until grep -q '^ready' "$out"; do
        kill -0 "$hpid" 2>/dev/null || die "$peer: hold client failed: $(cat "$out")"
        [ $SECONDS -lt $deadline ] || die "$peer: $C connections not ready in 60s"
        sleep 0.1
    done
    grep -q 'errors=0' "$out" || die "$peer: errors while opening connections: $(cat "$out")"
    sleep 1
    # shellcheck disable=SC2046 # one pid per word
    after=$(rss_kb $(peer_pids))
    exec 7>&-
    wait "$hpid" || true
    per=$(( (after - before) * 1024 / C ))
    note "rss: $peer: ${before} KiB -> ${after} KiB with $C idle connections: $per B/conn"
    result rss_bytes_per_conn "$peer" "$per"
    peer_stop
done
