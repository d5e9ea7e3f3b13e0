--- The omni gateway support library for channel plugins.
--
--     local omni = require "omni"
--     omni.json, omni.form, omni.xml, omni.crypto, omni.base64,
--     omni.utf8, omni.contract, omni.wechat, omni.twilio, omni.cases, omni.error(code, message, status),
--     omni.first_language(value), omni.error_status(code, ctx),
--     omni.header(headers, name, display, max, allow_space),
--     omni.printable(v, max, allow_space), omni.error_parts(e),
--     omni.is_object(v), omni.clip(s, max), omni.settings(req),
--     omni.trimmed(v), omni.call_fields(settings, action, params),
--     omni.body_call(body, action_field, params_field),
--     omni.null (same as omni.json.null)
--
-- Inside the plugin sandbox, `require "omni"` (and `require
-- "omni.json"`...) gives the plugin its own copy of these tables:
-- changing them affects that plugin only.
--
-- @module omni

local type, error, floor, tonumber, tostring, pairs =
      type, error, math.floor, tonumber, tostring, pairs
local find, match, gsub, sub = string.find, string.match, string.gsub,
                               string.sub

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
    wechat = require "omni.wechat",
    twilio = require "omni.twilio",
    cases = require "omni.cases",
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

--- The first language tag of a header such as Accept-Language
-- ("zh-CN,zh;q=0.9", or WeChat's "zh_CN"), as a contract locale.
-- @param value the header value (anything else gives nil)
-- @treturn string|nil the tag, e.g. "zh-CN"; nil when there is no valid one
-- @usage fields.locale = omni.first_language(req.headers["accept-language"])
function _M.first_language(value)
    if type(value) ~= "string" then
        return nil
    end
    local tag = match(value, "^%s*([^,;%s]+)")
    if not tag or #tag > 64 then
        return nil
    end
    tag = gsub(tag, "_", "-")
    if not contract.is_locale(tag) then
        return nil
    end
    return tag
end


local EXACT_STATUS = {
    not_found = 404,
    unauthorized = 401, unauthenticated = 401,
    forbidden = 403, permission_denied = 403,
    conflict = 409, already_exists = 409,
    rate_limited = 429, too_many_requests = 429,
    bad_request = 400,
    internal_error = 500,
    upstream_reply_invalid = 502,
    unavailable = 503, service_unavailable = 503,
}

local function has_suffix(s, suffix)
    return #s >= #suffix and sub(s, -#suffix) == suffix
end

local function http_error_status(status)
    status = tonumber(status)
    if status and status >= 400 and status <= 599 and status == floor(status)
    then
        return status
    end
    return nil
end


--- The HTTP status an error reply stands for, so every channel maps
-- service error codes the same way.
--
-- Gateway errors (`ctx.gateway`) keep `ctx.status` (500 when it is not an
-- error status).  Service codes: `not_found` and `*_not_found` 404;
-- `unauthorized`, `unauthenticated`, `*_unauthorized` 401; `forbidden`,
-- `permission_denied`, `*_forbidden` 403; `conflict`, `already_exists`,
-- `*_conflict`, `*_exists` 409; `rate_limited`, `too_many_requests` 429;
-- `bad_request`, `invalid_*`, `*_invalid`, `*_required`, `*_missing` 400;
-- `internal_error` 500; `upstream_reply_invalid` 502; `unavailable`,
-- `service_unavailable`, `*_unavailable` 503; anything else the service's
-- own status when it is 4xx or 5xx, else 422 (a business refusal).
-- @tparam string code the reply's error code
-- @tparam table ctx the render context (`status`, `gateway`)
-- @treturn number the status
function _M.error_status(code, ctx)
    if ctx.gateway then
        return http_error_status(ctx.status) or 500
    end
    if type(code) ~= "string" then
        return http_error_status(ctx.status) or 422
    end
    if EXACT_STATUS[code] then
        return EXACT_STATUS[code]
    end
    if has_suffix(code, "_not_found") then
        return 404
    elseif has_suffix(code, "_unauthorized") then
        return 401
    elseif has_suffix(code, "_forbidden") then
        return 403
    elseif has_suffix(code, "_conflict") or has_suffix(code, "_exists") then
        return 409
    elseif has_suffix(code, "_unavailable") then
        return 503
    elseif sub(code, 1, 8) == "invalid_" or has_suffix(code, "_invalid")
           or has_suffix(code, "_required") or has_suffix(code, "_missing")
    then
        return 400
    end
    return http_error_status(ctx.status) or 422
end


--- A string without the blanks around it; nil when v is no string or
-- nothing is left.
-- @param v
-- @treturn string|nil
_M.trimmed = _M.form.trimmed


--- A value as plugins read their metadata (headers, envelope fields):
-- trimmed; nil when it is no string or nothing is left; false when longer
-- than `max` bytes or holding bytes outside printable ASCII (spaces
-- allowed inside only with `allow_space`).
-- @param v
-- @tparam number max bytes
-- @tparam[opt] boolean allow_space
-- @treturn string|nil|false
function _M.printable(v, max, allow_space)
    v = _M.trimmed(v)
    if not v then
        return nil
    end
    if #v > max or find(v, allow_space and "[^\32-\126]" or "[^\33-\126]")
    then
        return false
    end
    return v
end


--- A request header as plugins read their metadata headers: `printable`,
-- with a refusal for a value that is not.
-- @tparam table headers `req.headers` (anything else: no header)
-- @tparam string name the lowercase name, e.g. "x-app-id"
-- @tparam string display the name in the message, e.g. "X-App-Id"
-- @tparam number max bytes
-- @tparam[opt] boolean allow_space
-- @treturn string|nil the value
-- @treturn table|nil `invalid_header` (400)
function _M.header(headers, name, display, max, allow_space)
    local v = _M.printable(type(headers) == "table" and headers[name] or nil,
                           max, allow_space)
    if v == false then
        return nil, _M.error("invalid_header", display .. " is not valid",
                             400)
    end
    return v
end


--- The code and message of an error a render is given (`reply.error`,
-- a batch call's `error`): `"internal_error"` and `""` for what is
-- missing or not a string.
-- @param e the error table (anything else: nothing is known)
-- @treturn string code
-- @treturn string message
function _M.error_parts(e)
    if type(e) ~= "table" then
        return "internal_error", ""
    end
    local code, message = e.code, e.message
    return type(code) == "string" and code or "internal_error",
           type(message) == "string" and message or ""
end


--- True for a JSON object: a decoded (marked) object, or a plain table
-- with string keys only (a decoded form, say), never a decoded array.
-- @param v
-- @treturn boolean
function _M.is_object(v)
    if json.is_object(v) then
        return true
    end
    if type(v) ~= "table" or json.is_array(v) then
        return false
    end
    for k in pairs(v) do
        if type(k) ~= "string" then
            return false
        end
    end
    return true
end


--- A client's text made fit for a message: control characters as "?",
-- cut to `max` bytes (200 by default) with "..." after.
-- @param s any value (shown with tostring)
-- @tparam[opt=200] number max
-- @treturn string
function _M.clip(s, max)
    max = max or 200
    s = gsub(tostring(s), "[%c]", "?")
    if #s > max then
        return sub(s, 1, max) .. "..."
    end
    return s
end


--- The location's `omni_plugin_set` values of a request (`{}` when there
-- is no request, as in a render of an early refusal).
-- @param req `req`, or `ctx.request` (may be nil)
-- @treturn table
function _M.settings(req)
    local settings = type(req) == "table" and req.settings or nil
    return type(settings) == "table" and settings or {}
end


local FIELD_NAME = "^[A-Za-z_][A-Za-z0-9_]*$"

local function field_name(settings, key, default)
    local v = settings[key]
    if v == nil then
        return default
    end
    if type(v) ~= "string" or #v > 64 or not find(v, FIELD_NAME) then
        return nil
    end
    return v
end


--- The body fields of the single-endpoint style: the settings
-- `action_field` (e.g. "cmd") and `params_field` (e.g. "data"), names of
-- at most 64 bytes, `[A-Za-z_][A-Za-z0-9_]*`.
-- @tparam table settings `req.settings`
-- @tparam[opt] string action the default action field (nil: the style is
--   off unless `action_field` is set)
-- @tparam string params the default params field
-- @treturn string|nil the action field (nil: not configured)
-- @treturn string|table the params field; or `plugin_misconfigured` (500)
--   when a setting is not a name (then the first value is false)
function _M.call_fields(settings, action, params)
    local a = field_name(settings, "action_field", action)
    local p = field_name(settings, "params_field", params)
    if (a == nil and settings.action_field ~= nil) or p == nil then
        return false, _M.error("plugin_misconfigured", "action_field and"
                               .. " params_field must be field names", 500)
    end
    return a, p
end


--- The action and params of a single-endpoint call: `body[action_field]`
-- must be an action (`order.query`), `body[params_field]` an object, or
-- absent or null for `{}`.
-- @param body the decoded body (anything but an object: no action)
-- @tparam string action_field
-- @tparam string params_field
-- @treturn string|nil the action
-- @treturn table params; or `invalid_parameter` (400) naming the field
function _M.body_call(body, action_field, params_field)
    if not _M.is_object(body) then
        return nil, _M.error("invalid_parameter", action_field
                             .. " is missing: a JSON object body is"
                             .. " expected", 400)
    end
    local action = body[action_field]
    if action == nil or action == json.null then
        return nil, _M.error("invalid_parameter", action_field
                             .. " is missing", 400)
    end
    if not contract.is_action(action) then
        return nil, _M.error("invalid_parameter", action_field .. " "
                             .. (type(action) == "string"
                                 and ("'" .. _M.clip(action, 80) .. "'")
                                 or ("(a " .. type(action) .. ")"))
                             .. " is not an action such as order.query",
                             400)
    end
    local params = body[params_field]
    if params == nil or params == json.null then
        params = json.object({})
    elseif not _M.is_object(params) then
        return nil, _M.error("invalid_parameter", params_field
                             .. " must be a JSON object", 400)
    end
    return action, params
end


return _M
