#!/usr/bin/env python3
"""bench/report.py — reads "RESULT <metric> <peer> <value>" lines (stdin or files) and
prints the side-by-side table of bench/run.sh with ratios against each peer and the
targets of the brief. Exit status 0; target misses are reported, not fatal."""
import fileinput

PEERS = ["bluegreen", "nginx", "haproxy", "direct"]
ROWS = [
    # metric, label, target check (bluegreen value, row) -> (text, met)
    ("instr_per_req", "user instructions / request", "<= nginx",
     lambda v, r: v <= r.get("nginx", float("inf"))),
    ("syscalls_per_req", "syscalls / request (wrk -c50)", "<= haproxy",
     lambda v, r: v <= r.get("haproxy", float("inf"))),
    ("syscalls_per_req_seq", "syscalls / request (sequential)", "-", None),
    ("rss_bytes_per_conn", "RSS bytes / idle keep-alive conn", "<= nginx",
     lambda v, r: v <= r.get("nginx", float("inf"))),
    ("switch_failed", "failed requests, 10 switches", "== 0", lambda v, r: v == 0),
    ("switch_requests", "requests during switch run", "-", None),
    ("switch_blue_green", "responses blue/green (switch run)", "-", None),
    ("stale_failed", "failed requests, stale target (wrk -c4 5s)", "== 0",
     lambda v, r: v == 0),
    ("stale_requests", "requests in that stale run", "-", None),
    ("rps", "requests/s (median)", "-", None),
    ("tls_handshakes_per_s", "full TLS handshakes/s (median)", ">= best peer",
     lambda v, r: v >= max(r.get("nginx", 0), r.get("haproxy", 0))),
    ("https_rps", "HTTPS keep-alive requests/s (median)", ">= best peer",
     lambda v, r: v >= max(r.get("nginx", 0), r.get("haproxy", 0))),
    ("instr_per_https_req", "user instructions / HTTPS request", "< both",
     lambda v, r: v < min(r.get("nginx", float("inf")), r.get("haproxy", float("inf")))),
    ("instr_per_tls_handshake", "user instructions / full handshake + request", "-", None),
    ("h2_rps", "HTTP/2 req/s (h2load -m 10, median)", ">= max",
     lambda v, r: v >= max(r.get("nginx", 0), r.get("haproxy", 0))),
    ("h2_instr_per_req", "HTTP/2 user instructions / request", "<= min",
     lambda v, r: v <= min(r.get("nginx", float("inf")), r.get("haproxy", float("inf")))),
    ("p99_ms", "p99 latency ms (median)", "<= haproxy",
     lambda v, r: v <= r.get("haproxy", float("inf"))),
]


def num(s):
    try:
        return float(s)
    except ValueError:
        return None


def fmt(v):
    if v is None:
        return "-"
    f = num(v)
    if f is None:
        return v
    return f"{f:.2f}" if f != int(f) else f"{int(f)}"


def main():
    res = {}
    for line in fileinput.input():
        p = line.split(None, 3)
        if len(p) == 4 and p[0] == "RESULT":
            res.setdefault(p[1], {})[p[2]] = p[3].strip()
    peers = [p for p in PEERS if any(p in res.get(m, {}) for m, *_ in ROWS)]
    hdr = f"{'figure':<36}" + "".join(f"{p:>14}" for p in peers)
    hdr += f"{'bg/nginx':>10}{'bg/haproxy':>11}{'target':>12}{'met':>6}"
    print(hdr)
    print("-" * len(hdr))
    for metric, label, target, check in ROWS:
        row = res.get(metric)
        if not row:
            continue
        line = f"{label:<36}" + "".join(f"{fmt(row.get(p)):>14}" for p in peers)
        bg = num(row.get("bluegreen", "x"))
        nums = {k: num(v) for k, v in row.items() if num(v) is not None}
        for peer in ("nginx", "haproxy"):
            o = nums.get(peer)
            line += f"{(f'{bg / o:.2f}' if bg is not None and o else '-'):>{10 if peer == 'nginx' else 11}}"
        met = "-"
        if check and bg is not None:
            met = "yes" if check(bg, nums) else "NO"
        line += f"{target:>12}{met:>6}"
        print(line)
    errs = res.get("throughput_errors", {})
    for peer, e in errs.items():
        print(f"note: errors during throughput runs for {peer}: {e}")


if __name__ == "__main__":
    main()
