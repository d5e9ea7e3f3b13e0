-- A plugin that reports whatever identity and tier the query string names
-- (?type=..&value=..&tier=.., percent-decoded by the host), so tests can
-- hand the gateway values no real channel would.

local _M = { name = "claims", version = "1.0" }

function _M.normalize(req)
    local ids = {}
    if req.args.type and req.args.value then
        ids[1] = { type = req.args.type, value = req.args.value }
    end
    return { action = "identity.echo", identities = ids, tier = req.args.tier }
end

function _M.render(reply, ctx)
    return ctx.status, { ["Content-Type"] = "text/plain" }, "claims\n"
end

return _M
