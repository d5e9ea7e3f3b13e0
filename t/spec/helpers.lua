-- Shared helpers for the support-library specs (t/spec/*_spec.lua).
-- Run from the repository root:
--   LUA_CPATH="build/lib/?.so;;" busted --lua=luajit \
--       -m 'lua/?.lua;lua/?/init.lua' t/spec

local _M = {}

_M.PLUGINS = "t/spec/plugins"


--- Reads a file.
function _M.read(path)
    local fh = assert(io.open(path, "rb"))
    local s = fh:read("*a")
    fh:close()
    return s
end


--- A plugin source with the given body between the header and the
-- `return _M`; `normalize` and `render` default to simple ones unless
-- the body defines them (it assigns _M.normalize / _M.render after the
-- defaults).
function _M.plugin_source(name, body)
    return table.concat({
        'local omni = require "omni"',
        'local json = omni.json',
        'local _M = { name = "' .. name .. '", version = "0.1" }',
        'function _M.normalize(req)',
        '    return { action = "test.echo", params = { method = req.method } }',
        'end',
        'function _M.render(reply, ctx)',
        '    return ctx.status or 200, { ["Content-Type"] = "application/json" },',
        '           json.encode(reply)',
        'end',
        body or "",
        'return _M',
        '',
    }, "\n")
end


--- Loads a plugin built by `plugin_source` into the host, under the
-- chunk name "@t/spec/plugins/<name>.lua" (a name only: no such file is
-- needed); returns host.load's results.
function _M.load(host, name, body, chunkname)
    return host.load(name, chunkname or ("@" .. _M.PLUGINS .. "/" .. name
                                         .. ".lua"),
                     _M.plugin_source(name, body))
end


--- A raw request as the C side passes it (overrides merged in).
function _M.raw(over)
    local raw = {
        method = "POST",
        path = "/test/echo",
        query = "",
        headers = { ["content-type"] = "application/json",
                    ["user-agent"] = "spec/1.0" },
        client_ip = "203.0.113.7",
        body = "{}",
    }
    for k, v in pairs(over or {}) do
        raw[k] = v
    end
    return raw
end


--- What the gateway knows (overrides merged in).
function _M.known(over)
    local known = {
        request_id = "4f1c0c5e2a9b4d7c8e6f1a2b3c4d5e6f",
        received_at = 1795540000123,
        channel = "test",
    }
    for k, v in pairs(over or {}) do
        known[k] = v
    end
    return known
end


--- A file-like sink for the runner's output.
function _M.sink()
    local buf = {}
    return {
        write = function(_, ...)
            for i = 1, select("#", ...) do
                buf[#buf + 1] = tostring((select(i, ...)))
            end
        end,
        text = function()
            return table.concat(buf)
        end,
    }
end


--- Writes a temporary file, returns its path.
function _M.tmpfile(content, suffix)
    local base = os.tmpname()
    os.remove(base)
    local path = base .. (suffix or "")
    local fh = assert(io.open(path, "wb"))
    fh:write(content)
    fh:close()
    return path
end


return _M
