-- bench/count.lua — wrk script (bench/switch.sh and tests/e2e/switch_load.sh): counts non-2xx responses and which slot answered a 2xx
-- ("slot":"blue" / "slot":"green" in the JSON body), per thread, and prints one line in
-- done():
--   COUNTS requests=N non2xx=N blue=N green=N other=N connect=N read=N write=N timeout=N status=N
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    non2xx, blue, green, other = 0, 0, 0, 0
end

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
    elseif body and body:find('"slot"%s*:%s*"blue"') then
        blue = blue + 1
    elseif body and body:find('"slot"%s*:%s*"green"') then
        green = green + 1
    else
        other = other + 1
    end
end

function done(summary, latency, requests)
    local n2, b, g, o = 0, 0, 0, 0
    for _, t in ipairs(threads) do
        n2 = n2 + t:get("non2xx")
        b = b + t:get("blue")
        g = g + t:get("green")
        o = o + t:get("other")
    end
    local e = summary.errors
    io.write(string.format(
        "COUNTS requests=%d non2xx=%d blue=%d green=%d other=%d connect=%d read=%d write=%d timeout=%d status=%d\n",
        summary.requests, n2, b, g, o, e.connect, e.read, e.write, e.timeout, e.status))
end
