--- What the Twilio-style channels (ivr, sms) share: the provider's
-- request signature, form fields, E.164 numbers and TwiML text.
--
-- Signature (Twilio's request validation): the string to sign is the
-- full URL (`base_url` .. req.path, plus "?" .. req.query when there is
-- one) followed by every POST parameter sorted by name (byte order), each
-- as name .. value (repeated names: each distinct value, sorted);
-- X-Twilio-Signature must be base64(HMAC-SHA1(auth_token, that string)),
-- compared in constant time.
--
-- @module omni.twilio

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local find, gsub, sub = string.find, string.gsub, string.sub
local concat = table.concat

local crypto = require "omni.crypto"
local form = require "omni.form"
local trimmed = form.trimmed
local xml = require "omni.xml"
-- byte-order sort in C: table.sort calls back into the VM per comparison,
-- which was half of string_to_sign
local sort_names = require("omni_form_native").sort_names

local _M = { _VERSION = "1.0" }

local FORM_TYPE = "application/x-www-form-urlencoded"
_M.FORM_TYPE = FORM_TYPE
-- sort_names sorts no more: the decoder never reports more
local MAX_SIGNED_PARAMS = form.MAX_PAIRS

local function fail(code, message, status)
    return { code = code, message = message, status = status }
end


--- True for an E.164 number: + then 2..15 digits, no leading 0.
function _M.is_e164(s)
    return type(s) == "string" and #s <= 16 and #s >= 3
           and find(s, "^%+[1-9]%d+$") ~= nil
end


-- all values per name of the form body (for the signature)
local function form_values(req)
    -- the host's decode of a form body, every value of every name
    if type(req.body_values) == "table" then
        return req.body_values
    end
    local raw = req.raw_body
    if type(raw) ~= "string" or raw == "" then
        return {}
    end
    local last, all = form.decode(raw)
    if type(all) == "table" then
        return all
    end
    local values = {}
    if type(last) == "table" then
        for k, v in pairs(last) do
            values[k] = { v }
        end
    end
    return values
end


--- The string Twilio signs: URL, then sorted name..value pairs.
-- @tparam table req
-- @tparam string base_url the public scheme://host[:port]
-- @treturn string|nil nil when there are more than 1000 parameters
function _M.string_to_sign(req, base_url)
    local base = gsub(base_url, "/+$", "")
    local query = req.query
    local url = base .. tostring(req.path or "")
    if type(query) == "string" and query ~= "" then
        url = url .. "?" .. query
    end
    local parts = { url }
    if req.method ~= "POST" or req.content_type ~= FORM_TYPE then
        return url
    end
    local values = form_values(req)
    local names = {}
    local n = 0
    for name in pairs(values) do
        n = n + 1
        if n > MAX_SIGNED_PARAMS then
            return nil
        end
        names[n] = name
    end
    sort_names(names, n)
    for _, name in ipairs(names) do
        local list = values[name]
        if type(list) ~= "table" then
            list = { list }
        end
        if #list == 1 then
            -- the usual case: one value, nothing to sort or fold
            parts[#parts + 1] = name .. tostring(list[1])
        else
            local distinct, seen = {}, {}
            for _, v in ipairs(list) do
                v = tostring(v)
                if not seen[v] then
                    seen[v] = true
                    distinct[#distinct + 1] = v
                end
            end
            sort_names(distinct, #distinct)
            for _, v in ipairs(distinct) do
                parts[#parts + 1] = name .. v
            end
        end
    end
    return concat(parts)
end


--- Verifies X-Twilio-Signature with the settings `auth_token` and
-- `base_url`.
-- @tparam table req
-- @tparam string channel the plugin's name, for the misconfiguration
-- @treturn true|nil
-- @treturn table|nil `signature_invalid` (401), `plugin_misconfigured`
--   (500)
function _M.authenticate(req, channel)
    local settings = type(req.settings) == "table" and req.settings or {}
    local token, base_url = settings.auth_token, settings.base_url
    if type(token) ~= "string" or token == "" or type(base_url) ~= "string"
       or not find(base_url, "^https?://[^%s]+$")
    then
        return nil, fail("plugin_misconfigured", channel .. " needs the"
                         .. " settings auth_token and base_url"
                         .. " (omni_plugin_set)", 500)
    end
    local headers = type(req.headers) == "table" and req.headers or {}
    local signature = headers["x-twilio-signature"]
    if type(signature) ~= "string" or signature == "" then
        return nil, fail("signature_invalid", "X-Twilio-Signature is missing",
                         401)
    end
    local data = _M.string_to_sign(req, base_url)
    if not data then
        return nil, fail("signature_invalid", "too many parameters to"
                         .. " verify", 401)
    end
    local expected = crypto.base64_encode(crypto.hmac_sha1(token, data))
    if not crypto.equals(expected, signature) then
        return nil, fail("signature_invalid", "X-Twilio-Signature does not"
                         .. " match", 401)
    end
    return true
end


--- A form field as a trimmed string, or nil when absent or empty.
function _M.field(body, name)
    local v = body[name]
    if type(v) == "table" then
        v = v[#v]
    end
    return trimmed(v)
end
local field = _M.field


local function clip(s)
    s = gsub(tostring(s), "%c", "?")
    return #s > 80 and sub(s, 1, 80) .. "..." or s
end


--- The checks every webhook starts with: the route `/<verb>` below the
-- mount point (one trailing slash accepted; `also_mount`: the mount
-- point itself too), POST, a form body, an AccountSid of the account the
-- settings name (`account_sid`, when set).
-- @tparam table req
-- @tparam string verb "voice", "message"
-- @tparam[opt] boolean also_mount
-- @treturn table|nil the form body
-- @treturn string|table the AccountSid; or `route_not_found` (404),
--   `method_not_allowed` (405), `unsupported_media_type` (415),
--   `invalid_request` (400), `account_mismatch` (403)
function _M.webhook(req, verb, also_mount)
    local route = req.route
    if route ~= "/" .. verb and route ~= "/" .. verb .. "/"
       and not (also_mount and route == "/")
    then
        return nil, fail("route_not_found", "no route for " .. clip(req.path),
                         404)
    end
    if req.method ~= "POST" then
        return nil, fail("method_not_allowed", "use POST "
                         .. (req.mount or "") .. "/" .. verb, 405)
    end
    local body = req.body
    if req.content_type ~= FORM_TYPE or type(body) ~= "table" then
        return nil, fail("unsupported_media_type", "the body must be"
                         .. " application/x-www-form-urlencoded", 415)
    end
    local account_sid = field(body, "AccountSid")
    if not account_sid or #account_sid ~= 34
       or not find(account_sid, "^AC%x+$")
    then
        return nil, fail("invalid_request", "AccountSid is missing or"
                         .. " malformed", 400)
    end
    local want = type(req.settings) == "table" and req.settings.account_sid
    if type(want) == "string" and want ~= "" and want ~= account_sid then
        return nil, fail("account_mismatch", "the request belongs to another"
                         .. " account", 403)
    end
    return body, account_sid
end


--- XML-escaped text, without the characters XML 1.0 forbids and DEL.
function _M.text(s)
    s = xml.strip(tostring(s))
    if find(s, "\127", 1, true) then
        s = gsub(s, "\127", "")
    end
    return xml.escape(s)
end


--- A TwiML document around `inner`.
function _M.twiml(inner)
    return '<?xml version="1.0" encoding="UTF-8"?><Response>' .. inner
           .. "</Response>"
end


return _M
