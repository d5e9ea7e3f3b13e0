--- The wrk script of every `make bench` case (tools/bench.sh).  Without
-- arguments wrk sends its one fixed request; the arguments after `--`
-- change that, in any combination:
--
--     body=FILE      POST the contents of FILE (headers come from wrk -H)
--     tokens=FILE    a pool of JWTs, one a line: each request carries the
--                    next token of the pool as a Bearer token, so a token
--                    comes back only after the whole pool has been sent
--     expect=STATUS  count the answers whose status is not STATUS
--     requests=N     stop once N answers have come back (wrk itself still
--                    waits for the end of its -d)
--
-- With expect=, done() prints "unexpected statuses: N".  (The runs at a
-- fixed rate are omni-loadgen's, tools/loadgen.c: wrk's timers count
-- whole milliseconds.)

-- globals, which done() reads through thread:get()
expected, unexpected = nil, 0

local limit
local answers = 0

local function count(status)
    answers = answers + 1
    if expected and status ~= expected then
        unexpected = unexpected + 1
    end
    if limit and answers >= limit then
        wrk.thread:stop()
    end
end

function init(args)
    local opt = {}
    for _, arg in ipairs(args) do
        local name, value = arg:match("^(%w+)=(.+)$")
        opt[assert(name, "bench/wrk.lua: bad argument " .. arg)] = value
    end

    if opt.body then
        local f = assert(io.open(opt.body, "rb"))
        wrk.method, wrk.body = "POST", f:read("*a")
        f:close()
    end

    if opt.tokens then
        local pool, headers = {}, {}
        for name, value in pairs(wrk.headers) do
            headers[name] = value
        end
        for token in io.lines(opt.tokens) do
            headers.Authorization = "Bearer " .. token
            pool[#pool + 1] = wrk.format(nil, nil, headers)
        end
        local n, i = #pool, 0
        request = function()
            i = i % n + 1
            return pool[i]
        end
    end

    expected = tonumber(opt.expect)
    limit = tonumber(opt.requests)
    if expected or limit then
        response = count
    end
end

local threads = {}

function setup(thread)
    threads[#threads + 1] = thread
end

function done()
    local total, counted = 0, false
    for _, thread in ipairs(threads) do
        total = total + thread:get("unexpected")
        counted = counted or thread:get("expected") ~= nil
    end
    if counted then
        print("unexpected statuses: " .. total)
    end
end
