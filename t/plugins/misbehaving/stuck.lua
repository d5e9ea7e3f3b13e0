-- A plugin whose normalize makes one call into C that runs for hours: a
-- pattern that backtracks over every way of cutting its subject in seven
-- before it fails.  No Lua instruction runs until the call returns, so the
-- time budget cannot stop it; omni_plugin_watchdog ends the worker.

local _M = { name = "stuck", version = "1.0" }

local find, rep = string.find, string.rep

function _M.normalize(req)
    find(rep("a", 64), "(.-)(.-)(.-)(.-)(.-)(.-)(.-)b")
    return { action = "never.reached" }
end

function _M.render(reply, ctx)
    return ctx.status, { ["Content-Type"] = "text/plain" }, "stuck\n"
end

return _M
