-- A plugin whose normalize never returns: the gateway's time budget must
-- stop it and fail only this request with plugin_timeout, whether the
-- loop runs in the interpreter or (after a few dozen turns) as a
-- JIT-compiled trace.

local _M = { name = "loop", version = "1.0" }

local spin_inside_pcall = false

local function forever()
    return forever()                -- a tail call: a loop without a loop
end

function _M.normalize(req)
    local kind = req.args.kind

    if req.args.pcall then
        -- a plugin swallowing errors must still be stopped
        spin_inside_pcall = true
        while true do
            pcall(function() while true do end end)
        end
    end

    if kind == "for" then
        local x = 0
        for i = 1, math.huge do
            x = x + i % 7
        end
        return { action = "never.here", params = { x = x } }
    end

    if kind == "garbage" then
        -- allocates without keeping: the collector keeps up, the clock
        -- does not
        local t
        while true do
            t = { t and 1 or 0, "x" .. (t and #t or 0) }
        end
    end

    if kind == "strings" then
        -- calls into C in every turn (string.rep, string.find)
        local n = 0
        while true do
            n = n + #string.rep("ab", 8)
            if string.find("abc", "z", 1, true) then
                break
            end
        end
        return { action = "never.here" }
    end

    if kind == "tail" then
        forever()
    end

    if kind == "pairs" then
        -- walks a table for ever: compiled pairs() loops are stopped too
        local t, n = { a = 1, b = 2, c = 3 }, 0
        while true do
            for _, v in pairs(t) do
                n = n + v
            end
        end
    end

    local n = 0
    while true do
        n = n + 1
    end
end

function _M.render(reply, ctx)
    local code = reply.error and reply.error.code or "ok"
    return ctx.status, { ["Content-Type"] = "text/plain" },
           "loop: " .. code .. (spin_inside_pcall and " (pcall)" or "") .. "\n"
end

return _M
