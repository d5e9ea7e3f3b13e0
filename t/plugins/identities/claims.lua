-- A plugin that reports whatever identity, tier and intent the query string
-- names (?type=..&value=..&tier=..&intent=..&confidence=..,
-- percent-decoded by the host; a confidence that is not a number is
-- passed on as a string), so tests can
-- hand the gateway values no real channel would.  The host refuses a NUL
-- in the query, so the two characters "\0" stand for one: a plugin may
-- still make one of what it was given.

local _M = { name = "claims", version = "1.0" }

local function nul(s)
    return s and (s:gsub("\\0", "\0"))
end

function _M.normalize(req)
    local ids = {}
    if req.args.type and req.args.value then
        ids[1] = { type = req.args.type, value = nul(req.args.value) }
    end
    return { action = "identity.echo", identities = ids,
             tier = nul(req.args.tier), intent = req.args.intent,
             confidence = tonumber(req.args.confidence)
                          or req.args.confidence }
end

function _M.render(reply, ctx)
    return ctx.status, { ["Content-Type"] = "text/plain" },
           (reply.ok and "claims" or reply.error.code) .. "\n"
end

return _M
