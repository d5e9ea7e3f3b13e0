-- A plugin that walks tables with pairs() and next, enough times for the
-- JIT to compile the loops, and fails normalize when the walk is wrong or
-- when the iterators are LuaJIT's built-in next: the plugin VM gives
-- plugins wrappers that keep compiled loops off BC_ITERN, whose trace
-- exits can loop without end in Debian 12's LuaJIT (docs/plugins.md).

local _M = { name = "iterate", version = "1.0" }

local function builtin(f)
    return tostring(f):find("^function: builtin") ~= nil
end

function _M.normalize(req)
    local t = {}
    for i = 1, 50 do
        t[i] = i
        t["k" .. i] = i
    end

    for round = 1, 200 do
        local seen, sum = 0, 0
        for k, v in pairs(t) do
            seen = seen + 1
            sum = sum + v
        end
        for _, v in next, t do
            seen = seen + 1
            sum = sum + v
        end
        if seen ~= 200 or sum ~= 2 * 2 * 1275 then
            error("round " .. round .. ": " .. seen .. " entries, sum " .. sum)
        end
    end

    if builtin((pairs(t))) or builtin(next) then
        error("the built-in next iterates")
    end

    local ok, err = pcall(pairs, nil)
    if ok or not err:find("bad argument #1 to 'pairs' (table expected, got nil)",
                          1, true)
    then
        error("pairs(nil): " .. tostring(err))
    end

    ok, err = pcall(next, {}, "absent")
    if ok or not err:find("invalid key to 'next'", 1, true) then
        error("next with an absent key: " .. tostring(err))
    end

    return { action = "iterate.done" }
end

function _M.render(reply, ctx)
    return ctx.status, { ["Content-Type"] = "text/plain" }, "iterated\n"
end

return _M
