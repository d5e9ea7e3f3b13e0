--- Base64, standard (RFC 4648 section 4, padded) and URL-safe
-- (section 5, unpadded), on top of the native `omni_crypto` module.
--
-- @module omni.base64

local type, error = type, error
local gsub, rep = string.gsub, string.rep

local crypto = require "omni.crypto"

local _M = { _VERSION = "1.0" }


--- Encodes with the standard alphabet and padding.
-- @tparam string s
-- @treturn string
function _M.encode(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'encode' (string expected, got "
              .. type(s) .. ")", 2)
    end
    return crypto.base64_encode(s)
end


--- Decodes the standard alphabet with padding.
-- @tparam string s
-- @treturn string|nil the bytes
-- @treturn string|nil `"invalid base64"`
function _M.decode(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'decode' (string expected, got "
              .. type(s) .. ")", 2)
    end
    if #s % 4 ~= 0 or not (s:find("^[%w+/]*=?=?$")) then
        return nil, "invalid base64"
    end
    return crypto.base64_decode(s)
end


local TO_URL = { ["+"] = "-", ["/"] = "_", ["="] = "" }
local FROM_URL = { ["-"] = "+", ["_"] = "/" }


--- Encodes with the URL-safe alphabet, without padding (as in JWTs).
-- @tparam string s
-- @treturn string
function _M.encode_url(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'encode_url' (string expected, got "
              .. type(s) .. ")", 2)
    end
    return (gsub(crypto.base64_encode(s), "[+/=]", TO_URL))
end


--- Decodes the URL-safe alphabet, padding optional.
-- @tparam string s
-- @treturn string|nil the bytes
-- @treturn string|nil `"invalid base64"`
function _M.decode_url(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'decode_url' (string expected, got "
              .. type(s) .. ")", 2)
    end
    if not (s:find("^[%w%-_]*=?=?$")) then
        return nil, "invalid base64"
    end
    s = gsub(s, "=+$", "")
    local pad = #s % 4
    if pad == 1 then
        return nil, "invalid base64"
    end
    s = gsub(s, "[-_]", FROM_URL) .. rep("=", (4 - pad) % 4)
    return crypto.base64_decode(s)
end


return _M
