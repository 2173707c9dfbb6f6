#!/usr/bin/env bash
# bench/dashboard.sh — what an open dashboard costs the data plane (issue 12): user-space
# instructions per proxied keep-alive request, with and without a dashboard streaming.
#
# As bench/instr.sh: bluegreen (workers: 1, all its threads counted) runs under valgrind
# --tool=callgrind twice per mode — a baseline that starts, gets ready and stops, and a run
# that also serves N sequential keep-alive requests (bench-client seq) — and the figure is
# (Ir_run - Ir_baseline) / N. Mode `off`: nobody watches. Mode `on`: before the requests a
# real `bluegreen dashboard` is started on the daemon's admin socket, logged in with its
# one-time URL, and a client holds the page's stream open through it
# (GET /v1/events/stream?stats=1 with the session cookie, after GET /v1/stats), receiving
# a `stats` event every 2 s for the whole run; the daemon's share of that (sampling,
# JSON, writes) lands in the per-request figure. The dashboard process itself is not
# under callgrind: it is not the data plane. Target: `on` within 2% of `off`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BENCH_PEERS=bluegreen
require_bins
command -v valgrind >/dev/null || die "valgrind not installed"
command -v curl >/dev/null || die "curl not installed"
N=${BENCH_DASH_REQUESTS:-$(quick 5000 20000)}

callgrind_ir() {
    awk '/^summary:/ {s += $2} END {printf "%d\n", s}' "$@"
}

# dashboard_open: starts `bluegreen dashboard` on the running peer, logs in and holds the
# stream open; sets DASH_PID and STREAM_PID, the stream written to $1.
dashboard_open() {
    local stream=$1 jar=$PEER_DIR/jar out url base
    out=$PEER_DIR/dashboard.json
    spawn "dashboard.$(basename "$PEER_DIR")" "$BG_BIN" --admin "unix:$PEER_DIR/bg.sock" \
        dashboard --no-browser --json
    DASH_PID=$SPAWNED
    for _ in $(seq 200); do
        grep -q login_url "$BENCH_TMP/dashboard.$(basename "$PEER_DIR").log" 2>/dev/null && break
        sleep 0.1
    done
    url=$(grep -o '"login_url":"[^"]*"' "$BENCH_TMP/dashboard.$(basename "$PEER_DIR").log" |
        cut -d'"' -f4)
    [ -n "$url" ] || die "dashboard printed no login URL"
    base=${url%%/dashboard/*}
    [ "$(curl -s -o /dev/null -w '%{http_code}' -c "$jar" "$url")" = 303 ] || die "dashboard login failed"
    curl -sf -b "$jar" "$base/v1/stats" >"$out" || die "GET /v1/stats through the dashboard failed"
    spawn "stream.$(basename "$PEER_DIR")" curl -sN -b "$jar" -o "$stream" \
        "$base/v1/events/stream?stats=1"
    STREAM_PID=$SPAWNED
    # The stream is live once its first stats event arrived.
    for _ in $(seq 100); do
        grep -q '^event: stats' "$stream" 2>/dev/null && return 0
        sleep 0.1
    done
    die "no stats event on the dashboard stream within 10 s"
}

# run_once MODE REQUESTS: prints "IR STATS_EVENTS" of one callgrind run.
run_once() {
    local mode=$1 n=$2 out stream events=0
    out="$BENCH_TMP/cg.dash-$mode.$n"
    mkdir -p "$out"
    stream=$out/stream.txt
    peer_start bluegreen valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" \
        --trace-children=no
    if [ "$mode" = on ]; then dashboard_open "$stream"; fi
    if [ "$n" -gt 0 ]; then
        "$CLIENT_BIN" seq "$PEER_PORT" "$n" >"$out/client.txt" || die "client errors: $(cat "$out/client.txt")"
    fi
    if [ "$mode" = on ]; then
        events=$(grep -c '^event: stats' "$stream" || true)
        stop_tree "$STREAM_PID" TERM 5
        stop_tree "$DASH_PID" TERM 10
    fi
    peer_stop TERM
    ls "$out"/cg.* >/dev/null 2>&1 || die "callgrind wrote no output"
    echo "$(callgrind_ir "$out"/cg.*) $events"
}

backends_start
declare -A per
for mode in off on; do
    note "dashboard: $mode baseline"
    read -r base _ < <(run_once "$mode" 0)
    note "dashboard: $mode $N requests"
    read -r full events < <(run_once "$mode" "$N")
    per[$mode]=$(( (full - base) / N ))
    note "dashboard: $mode base=$base full=$full stats_events=$events -> ${per[$mode]} Ir/request"
    result "instr_per_req_dashboard_$mode" bluegreen "${per[$mode]}"
    [ "$mode" = on ] && result dashboard_stats_events bluegreen "$events"
done
pct=$(python3 -c "print(f'{(${per[on]} - ${per[off]}) * 100 / ${per[off]}:+.2f}')")
note "dashboard: on vs off: $pct% (target: within 2%)"
result dashboard_overhead_pct bluegreen "$pct"
