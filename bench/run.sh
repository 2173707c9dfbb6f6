#!/usr/bin/env bash
# bench/run.sh — builds what the benchmarks need and runs them all against bluegreen, nginx
# and HAProxy over the same backends, then prints one table with ratios against each peer.
#
# Usage: bench/run.sh [--quick] [--peers "bluegreen nginx haproxy"] [--only "instr syscalls
#        rss switch stale throughput tls h2"] [--workers N] [--no-build]
# --workers N: bluegreen `workers: N`, nginx `worker_processes N`, HAProxy `nbthread N`
# (default 1).
# Every figure is also available alone: bench/{instr,syscalls,rss,switch,stale,throughput}.sh;
# bench/tls.sh (HTTPS: handshakes/s, keep-alive req/s, instructions per request) and
# bench/h2.sh (HTTP/2 h2c: req/s with h2load -m 10, instructions per request) run only
# when named in --only.
# RESULT lines and progress notes are kept in build-bench/results-<time>.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ONLY="instr syscalls rss switch stale throughput"
BUILD=1
while [ $# -gt 0 ]; do
    case $1 in
    --quick) export BENCH_QUICK=1 ;;
    --peers) export BENCH_PEERS=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --no-build) BUILD=0 ;;
    --workers) export PEER_WORKERS=$2; shift ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
export BENCH_BUILD=${BENCH_BUILD:-$ROOT/build-bench}
PEERS=${BENCH_PEERS:-bluegreen nginx haproxy}
if [ $BUILD = 1 ]; then
    if [[ " $PEERS " == *" bluegreen "* ]]; then
        "$ROOT/bench/build.sh"
    else
        "$ROOT/bench/build.sh" --helpers-only
    fi
fi
ulimit -n "$(ulimit -Hn)"
mkdir -p "$BENCH_BUILD"
RESULTS="$BENCH_BUILD/results-$(date +%Y%m%d-%H%M%S).txt"
echo "# $(date -u '+%F %T UTC') $(uname -srm); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)" >"$RESULTS"
# Each benchmark is bounded; a hung one is stopped (its own EXIT trap cleans up).
for b in $ONLY; do
    echo "== bench/$b.sh" >&2
    timeout --signal=TERM --kill-after=20 900 "$ROOT/bench/$b.sh" 2>&1 | tee -a "$RESULTS" ||
        { echo "bench/run.sh: $b.sh FAILED" >&2; exit 1; }
done
echo
echo "workers/threads per proxy: ${PEER_WORKERS:-1}; backend: ${BENCH_BACKEND:-bench}" | tee -a "$RESULTS"
echo "bluegreen vs nginx $(/usr/sbin/nginx -v 2>&1 | cut -d/ -f2) vs HAProxy $(/usr/sbin/haproxy -v | awk 'NR==1 {print $3}'), same backends, $(nproc) shared cores ($RESULTS)"
python3 "$ROOT/bench/report.py" "$RESULTS"
