-- A plugin with a runtime error on line 8: the request fails with
-- plugin_error and the log names the plugin, the function and the line.

local _M = { name = "crash", version = "1.0" }

function _M.normalize(req)
    local missing
    return { action = missing.action }
end

function _M.render(reply, ctx)
    local code = reply.error and reply.error.code or "ok"
    return ctx.status, { ["Content-Type"] = "text/plain" },
           "crash: " .. code .. "\n"
end

return _M
