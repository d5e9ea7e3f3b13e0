-- A plugin that returns what no contract can hold.

local _M = { name = "badcontract", version = "1.0" }

function _M.normalize(req)
    if req.args.kind == "noaction" then
        return { params = {} }
    end

    if req.args.kind == "function" then
        return { action = "order.query", params = { cb = function() end } }
    end

    if req.args.kind == "string" then
        return "order.query"
    end

    return { action = "Not A Verb" }
end

function _M.render(reply, ctx)
    local code = reply.error and reply.error.code or "ok"
    return ctx.status, { ["Content-Type"] = "text/plain" },
           "badcontract: " .. code .. "\n"
end

return _M
