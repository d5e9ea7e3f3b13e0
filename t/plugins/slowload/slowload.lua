-- A plugin whose top-level code takes tens of milliseconds, far more than
-- the 1 ms budget of the VM the unit test loads it into: loading is not a
-- request, and must not fail for a request's budget.

local _M = { name = "slowload", version = "1.0" }

local names = {}
for i = 1, 300000 do
    names[i] = "n" .. i
end
_M.count = #names

function _M.normalize()
    return { action = "slow.load" }
end

function _M.render(reply, ctx)
    return ctx.status, {}, ""
end

return _M
