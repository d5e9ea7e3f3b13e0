-- A plugin that allocates without bound: the VM's memory cap must fail
-- only this request with plugin_memory.

local _M = { name = "bomb", version = "1.0" }

function _M.normalize(req)
    local hoard = {}
    local chunk = string.rep("x", 65536)
    local i = 0
    while true do
        i = i + 1
        hoard[i] = chunk .. i
    end
end

function _M.render(reply, ctx)
    local code = reply.error and reply.error.code or "ok"
    return ctx.status, { ["Content-Type"] = "text/plain" },
           "bomb: " .. code .. "\n"
end

return _M
