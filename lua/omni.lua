--- The omni gateway support library for channel plugins.
--
--     local omni = require "omni"
--     omni.json, omni.form, omni.xml, omni.crypto, omni.base64,
--     omni.utf8, omni.contract, omni.error(code, message, status),
--     omni.null (same as omni.json.null)
--
-- Inside the plugin sandbox, `require "omni"` (and `require
-- "omni.json"`...) gives the plugin its own copy of these tables:
-- changing them affects that plugin only.
--
-- @module omni

local type, error, floor = type, error, math.floor

local json = require "omni.json"
local contract = require "omni.contract"

local _M = {
    _VERSION = "1.0",
    json = json,
    form = require "omni.form",
    xml = require "omni.xml",
    crypto = require "omni.crypto",
    base64 = require "omni.base64",
    utf8 = require "omni.utf8",
    contract = contract,
    null = json.null,
}


--- Builds a refusal for normalize(), authenticate() or identify() to
-- return as their second value.
-- @tparam string code `^[a-z][a-z0-9_]{0,63}$`, e.g. "signature_invalid"
-- @tparam[opt] string message shown to the client by render()
-- @tparam[opt=400] number status an HTTP status from 400 to 599
-- @treturn table `{ code=, message=, status= }`
-- @usage return nil, omni.error("signature_invalid", "bad signature", 401)
function _M.error(code, message, status)
    if not contract.is_code(code) then
        error("bad argument #1 to 'error' (error code expected, matching"
              .. " ^[a-z][a-z0-9_]{0,63}$)", 2)
    end
    if message ~= nil and type(message) ~= "string" then
        error("bad argument #2 to 'error' (string expected, got "
              .. type(message) .. ")", 2)
    end
    if status ~= nil and (type(status) ~= "number" or status ~= floor(status)
                          or status < 400 or status > 599)
    then
        error("bad argument #3 to 'error' (HTTP status 400-599 expected)", 2)
    end
    return { code = code, message = message, status = status }
end


return _M
