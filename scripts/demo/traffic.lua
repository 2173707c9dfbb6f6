-- scripts/demo/traffic.lua — wrk script for scripts/demo.sh: steady keep-alive traffic to
-- both demo services through the load balancer, alternating GET /orders/... and
-- GET /payments/... on every connection, each connection pausing DELAY_MS (the script's
-- first argument, default 20) between requests so that the rate stays modest and the
-- failures of a bad canary stay countable.
--
-- Counts, per thread, answers by "service version" (from sample-app's JSON body, which it
-- also sends with an injected 500) and whether they were 2xx; answers without that body
-- (the load balancer's own 502/503/504) count under "proxy". done() prints lines that
-- demo.sh parses:
--   RESULT requests=N ok=N non2xx=N socket_errors=N connect=N read=N write=N timeout=N
--   SERVED service=orders version=2.0.0 ok=N failed=N
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    pause_ms = tonumber(args[1]) or 20
    n, ok, non2xx = 0, 0, 0
    counts = {} -- flat: ["orders 2.0.0 ok"] = N, so that thread:get() can copy it
end

function delay()
    return pause_ms
end

function request()
    n = n + 1
    if n % 2 == 0 then
        return wrk.format("GET", "/orders/" .. n)
    end
    return wrk.format("GET", "/payments/" .. n)
end

function response(status, headers, body)
    local good = status >= 200 and status <= 299
    local svc, ver
    if body then
        svc, ver = body:match('"service":"([^"]*)","version":"([^"]*)"')
    end
    local key = svc and (svc .. " " .. ver) or ("proxy " .. status)
    key = key .. (good and " ok" or " failed")
    counts[key] = (counts[key] or 0) + 1
    if good then ok = ok + 1 else non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
    local total_ok, total_bad, served = 0, 0, {}
    for _, t in ipairs(threads) do
        total_ok = total_ok + t:get("ok")
        total_bad = total_bad + t:get("non2xx")
        for k, v in pairs(t:get("counts")) do
            served[k] = (served[k] or 0) + v
        end
    end
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d ok=%d non2xx=%d socket_errors=%d connect=%d read=%d write=%d timeout=%d\n",
        summary.requests, total_ok, total_bad, e.connect + e.read + e.write + e.timeout,
        e.connect, e.read, e.write, e.timeout))
    local versions = {}
    for k, _ in pairs(served) do
        local who = k:match("^(.*) %a+$")
        if not versions[who] then
            versions[who] = true
            local svc, ver = who:match("^(%S+) (%S+)$")
            io.write(string.format("SERVED service=%s version=%s ok=%d failed=%d\n", svc, ver,
                served[who .. " ok"] or 0, served[who .. " failed"] or 0))
        end
    end
end
