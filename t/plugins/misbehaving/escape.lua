-- A plugin that tries to leave its sandbox; each attempt must fail.

local _M = { name = "escape", version = "1.0" }

function _M.normalize(req)
    local what = req.args.try
    if what == "io" then
        return { action = "x.y", params = { v = tostring(io.open("/etc/passwd")) } }
    elseif what == "os" then
        return { action = "x.y", params = { v = os.execute("id") } }
    elseif what == "global" then
        leaked = true
        return { action = "x.y" }
    elseif what == "require" then
        return { action = "x.y", params = { v = tostring(require("io")) } }
    end
    return { action = "sandbox.ok", params = { time = os.time() > 0 } }
end

function _M.render(reply, ctx)
    local code = reply.error and reply.error.code or "ok"
    return ctx.status, { ["Content-Type"] = "text/plain" },
           "escape: " .. code .. "\n"
end

return _M
