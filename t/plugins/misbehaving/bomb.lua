-- A plugin that allocates without bound: the VM's memory cap must fail
-- only this request with plugin_memory.  With ?kind=xml it hoards the
-- trees of omni.xml.decode, with ?kind=form the tables of
-- omni.form.decode, which the native decoders make: the cap must count
-- them too.

local form = require "omni.form"
local xml = require "omni.xml"

local _M = { name = "bomb", version = "1.0" }

function _M.normalize(req)
    local hoard = {}
    if req.args.kind == "xml" then
        local doc = "<r>" .. string.rep("<a k='v'>t</a>", 9999) .. "</r>"
        local i = 0
        while true do
            i = i + 1
            hoard[i] = xml.decode(doc)
        end
    end
    if req.args.kind == "form" then
        local parts = {}
        for k = 1, 999 do
            parts[k] = "k" .. k .. "=v+%41" .. k
        end
        local body = table.concat(parts, "&")
        local i = 0
        while true do
            i = i + 1
            hoard[i] = { form.decode(body) }
        end
    end
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
