-- A plugin whose normalize never returns: the gateway's time budget must
-- stop it and fail only this request with plugin_timeout.

local _M = { name = "loop", version = "1.0" }

local spin_inside_pcall = false

function _M.normalize(req)
    if req.args.pcall then
        -- a plugin swallowing errors must still be stopped
        spin_inside_pcall = true
        while true do
            pcall(function() while true do end end)
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
