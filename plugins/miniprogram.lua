--- miniprogram: WeChat mini-program `wx.request` calls.
--
-- Mount point: `/miniprogram` by default, or wherever the location is
-- (`location /mp/`) or the `prefix` setting says (docs/plugins.md,
-- "Mount points"); the routes below are relative to it (req.route).
--
-- Path style: `POST <mount>/<service>/<verb>` (and `GET`, which
-- `wx.request` uses by default) -> action `<service>.<verb>`.  Two to four
-- lowercase segments `[a-z][a-z0-9_]*` (at most 32 characters each) are
-- joined with dots, so `/miniprogram/order/query` is `order.query`.
--
-- Single-endpoint style, with the setting `action_field` (e.g. `cmd`): a
-- route that names no action (the mount point itself, or one segment
-- such as `/mp/api`) takes the action from that body field (a GET: that
-- query argument), and the params from the field `params_field` names
-- (`data` by default; absent or null is `{}`, anything but an object is
-- refused):
--
--     POST /mp/api  {"cmd": "order.query", "data": {"order_no": "1"},
--                    "openid": ".."}
--
-- A missing or malformed action (not dotted lowercase words, at most 128
-- bytes) is `invalid_parameter` (400, errcode 40000).  The other body
-- fields are the envelope keys below (openid, unionid, appid, version,
-- lang); any other key is ignored.
--
-- Settings: `action_field`, `params_field` (names of at most 64 bytes),
-- `prefix`.
--
-- Payload accepted (path style):
--
-- * POST with a JSON object body (Content-Type application/json, what
--   `wx.request` sends) or a form body (application/x-www-form-urlencoded);
--   an empty body is `{}`.
-- * GET: the query arguments (at most 32, as strings).
-- * Envelope form: `{"data": {...}, "openid": .., "unionid": .., "appid": ..,
--   "version": .., "lang": ..}` — recognised when `data` is an object and
--   every other key is one of those envelope keys; params = `data`.
-- * Plain form: any other object is the params itself; the keys `openid`
--   and `unionid` (which some gateways add to the body) are taken out of
--   params and used as identities.
--
-- Identities and metadata.  Headers win over body fields.
--
--     wechat_openid   X-WX-Openid   (or body openid)   [A-Za-z0-9_-]{1,64}
--     wechat_unionid  X-WX-Unionid  (or body unionid)  [A-Za-z0-9_-]{1,64}
--     app_id          X-WX-Appid    (or body appid)
--     client_version  X-WX-Version  (or body version)
--     locale          Accept-Language, X-WX-Lang or body lang (zh_CN -> zh-CN)
--
-- Note: the headers are the ones WeChat Cloud Run injects after it verified
-- the caller; body fields are assertions of the client unless an upstream
-- gateway put them there.  Services must treat them accordingly.
--
-- Refusals: `route_not_found` (404), `method_not_allowed` (405),
-- `unsupported_media_type` (415), `invalid_body` (400),
-- `invalid_parameter` (400), `invalid_identity` (400), `invalid_header` (400),
-- `plugin_misconfigured` (500: a field setting that is not a name).
--
-- Rendering: ALWAYS HTTP 200, `Content-Type: application/json`.
-- Success: `{"errcode":0,"errmsg":"ok","data":<reply.data>}`.
-- Error: `{"errcode":N,"errmsg":"<code>: <message>","request_id":..}` where N is
-- derived from an HTTP status S as `floor(S/100)*10000 + S%100`:
--
--     400 -> 40000   401 -> 40001   403 -> 40003   404 -> 40004
--     405 -> 40005   409 -> 40009   413 -> 40013   415 -> 40015
--     422 -> 40022   429 -> 40029   500 -> 50000   502 -> 50002
--     503 -> 50003   504 -> 50004
--
-- S is omni.error_status(code, ctx): ctx.status for gateway errors, and
-- for service errors the status its code stands for (`*_not_found` 404,
-- `invalid_*` 400, ... as documented in lua/omni.lua), else the service's
-- own 4xx/5xx status, else 422 (a business refusal -> 40022).
--
-- @module miniprogram
local omni = require "omni"

local json = omni.json
local omni_error = omni.error
local clip = omni.clip
local is_object = omni.is_object
local printable = omni.printable

local type = type
local pairs = pairs
local ipairs = ipairs
local concat = table.concat
local find = string.find
local match = string.match
local sub = string.sub
local floor = math.floor

-- render only wraps reply.data: it stays the service's text (checked by
-- the host), written back as it is
local _M = { name = "miniprogram", version = "1.1", raw_data = true,
             prefix = "/miniprogram" }

local MAX_SEGMENTS = 4
local MAX_SEGMENT = 32
local MAX_ARGS = 32
local MAX_ARG_VALUE = 1024
local ID_PATTERN = "^[A-Za-z0-9_%-]+$"
local MAX_ID = 64

--- Keys of the envelope form; openid/unionid are also stripped from plain
-- bodies.
local ENVELOPE = { data = true, openid = true, unionid = true, appid = true,
    version = true, lang = true }
local IDENTITY_KEYS = { openid = true, unionid = true }

--- The action the route names, or nil; and whether the route names no
-- action at all (the mount point, or a single segment: the single
-- endpoint of the body style).
local function path_action(route)
    if type(route) ~= "string" or #route > 256 then
        return nil, false
    end
    local rest = match(route, "^/(.*)$")
    if not rest then
        return nil, false
    end
    if sub(rest, -1) == "/" then
        rest = sub(rest, 1, -2)
    end
    if not find(rest, "/", 1, true) then
        return nil, true
    end
    local parts = {}
    local n = 0
    local pos = 1
    while true do
        local stop = find(rest, "/", pos, true)
        local segment = sub(rest, pos, (stop or #rest + 1) - 1)
        n = n + 1
        if n > MAX_SEGMENTS or #segment > MAX_SEGMENT
                or not find(segment, "^[a-z][a-z0-9_]*$") then
            return nil
        end
        parts[n] = segment
        if not stop then
            break
        end
        pos = stop + 1
    end
    return concat(parts, "."), false
end

--- Reads the payload: params table plus the envelope/meta table.
local function payload(req)
    local source
    if req.method == "GET" then
        source = type(req.args) == "table" and req.args or {}
        local params = {}
        local n = 0
        for name, value in pairs(source) do
            n = n + 1
            if n > MAX_ARGS then
                return nil, nil, omni_error("invalid_parameter",
                    "at most " .. MAX_ARGS .. " query arguments are accepted", 400)
            end
            if value == true then
                value = ""
            end
            if type(name) ~= "string" or #name > 64 or type(value) ~= "string"
                    or #value > MAX_ARG_VALUE then
                return nil, nil, omni_error("invalid_parameter",
                    "invalid query argument " .. clip(name), 400)
            end
            if not IDENTITY_KEYS[name] then
                params[name] = value
            end
        end
        return params, source
    end

    local raw = req.raw_body
    if raw == nil or raw == "" then
        return {}, {}
    end
    source = req.body
    if source == nil then
        return nil, nil, omni_error("unsupported_media_type",
            "the body must be application/json or application/x-www-form-urlencoded", 415)
    end
    if not is_object(source) then
        return nil, nil, omni_error("invalid_body",
            "the request body must be a JSON object", 400)
    end

    local data = source.data
    if is_object(data) then
        local envelope = true
        for k in pairs(source) do
            if not ENVELOPE[k] then
                envelope = false
                break
            end
        end
        if envelope then
            local params = {}
            for k, v in pairs(data) do
                params[k] = v
            end
            return params, source
        end
    end

    local params = {}
    for k, v in pairs(source) do
        if not IDENTITY_KEYS[k] then
            params[k] = v
        end
    end
    return params, source
end

--- Picks a header, falling back to a body/envelope field; validates it.
local function pick(headers, header, meta, key, max, allow_space, display)
    local v = headers[header]
    local from_body = false
    if v == nil or v == "" then
        v = meta[key]
        from_body = true
    end
    if v == nil or v == json.null then
        return nil
    end
    local value = printable(v, max, allow_space)
    if value == false or (value == nil and type(v) ~= "string") then
        local what = from_body and ("body field " .. key) or display
        return nil, what .. " is not valid"
    end
    return value
end

--- Normalizes a mini-program request into contract fields.
-- @param req the request table built by the host
-- @return fields, or nil, err
function _M.normalize(req)
    local method = req.method
    local action, endpoint = path_action(req.route)
    local action_field, params_field = omni.call_fields(req.settings, nil, "data")
    if action_field == false then
        return nil, params_field
    end
    if not action and not (endpoint and action_field) then
        return nil, omni_error("route_not_found",
            "no route for " .. clip(req.path) .. " (expected "
            .. (req.mount or "") .. "/<service>/<verb>)", 404)
    end
    if method ~= "POST" and method ~= "GET" then
        return nil, omni_error("method_not_allowed",
            "method " .. clip(method) .. " is not allowed", 405)
    end

    local params, meta, err
    if action then
        params, meta, err = payload(req)
        if not params then
            return nil, err
        end
    else
        -- the single endpoint: the body (a GET: the query) names the call
        if method == "GET" then
            params, meta, err = payload(req)
            if not params then
                return nil, err
            end
            action, err = omni.body_call({ [action_field] = params[action_field] },
                                         action_field, params_field)
            params[action_field] = nil
        else
            meta = req.body
            if req.raw_body ~= "" and meta == nil then
                return nil, omni_error("unsupported_media_type",
                    "the body must be application/json or application/x-www-form-urlencoded", 415)
            end
            action, params = omni.body_call(meta, action_field, params_field)
            err = params
        end
        if not action then
            return nil, err
        end
    end

    local headers = type(req.headers) == "table" and req.headers or {}

    local identities = {}
    local ids = {
        { "x-wx-openid", "openid", "wechat_openid", "X-WX-Openid" },
        { "x-wx-unionid", "unionid", "wechat_unionid", "X-WX-Unionid" },
    }
    for _, spec in ipairs(ids) do
        local value, e = pick(headers, spec[1], meta, spec[2], MAX_ID, false, spec[4])
        if e or (value and not find(value, ID_PATTERN)) then
            return nil, omni_error("invalid_identity", e or (spec[4] .. " is not valid"), 400)
        end
        if value then
            identities[#identities + 1] = { type = spec[3], value = value }
        end
    end

    local app_id, client_version, lang
    app_id, err = pick(headers, "x-wx-appid", meta, "appid", 128, false, "X-WX-Appid")
    if err then
        return nil, omni_error("invalid_header", err, 400)
    end
    client_version, err = pick(headers, "x-wx-version", meta, "version", 64, true, "X-WX-Version")
    if err then
        return nil, omni_error("invalid_header", err, 400)
    end
    lang = omni.first_language(headers["accept-language"]) or omni.first_language(headers["x-wx-lang"])
    if not lang and type(meta.lang) == "string" then
        lang = omni.first_language(meta.lang)
    end

    return {
        action = action,
        params = params,
        identities = identities,
        app_id = app_id,
        client_version = client_version,
        locale = lang,
    }
end


--- The errcode for an HTTP status: 401 -> 40001, 502 -> 50002.
local function errcode_for(status)
    return floor(status / 100) * 10000 + status % 100
end

--- Renders a unified reply as the mini-program JSON answer (always 200).
-- @param reply {ok=true, data=...} or {ok=false, error={code=, message=}}
-- @param ctx {status=, gateway=, request_id=, channel=, request=}
-- @return 200, headers, body
function _M.render(reply, ctx)
    ctx = type(ctx) == "table" and ctx or {}
    local headers = { ["Content-Type"] = "application/json; charset=utf-8" }

    if type(reply) == "table" and reply.ok == true then
        local data = reply.data
        if data == nil then
            data = json.null
        end
        local body = json.encode({ errcode = 0, errmsg = "ok", data = data })
        if body then
            return 200, headers, body
        end
        reply = { ok = false, error = { code = "plugin_error",
            message = "the reply could not be encoded" } }
        ctx = { status = 500, gateway = true, request_id = ctx.request_id }
    end

    local code, message = omni.error_parts(type(reply) == "table" and reply.error or nil)
    local status = omni.error_status(code, ctx)
    local request_id = type(ctx.request_id) == "string" and ctx.request_id or json.null

    local body = json.encode({
        errcode = errcode_for(status),
        errmsg = code .. ": " .. message,
        request_id = request_id,
    })
    if not body then
        body = '{"errcode":50000,"errmsg":"plugin_error: the error could not be encoded"}'
    end
    return 200, headers, body
end

return _M
