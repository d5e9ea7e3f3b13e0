--- web: REST JSON for browser single-page applications.
--
-- Routes (method + path pattern -> action), below the mount point: `/web`
-- by default, or the location's (`location /shop/api/` -> `GET
-- /shop/api/orders`) or the `prefix` setting's (docs/plugins.md, "Mount
-- points"):
--
--     GET  /web/orders                    order.list      query args -> params
--     POST /web/orders                    order.create    JSON object body -> params
--     GET  /web/orders/{order_id}         order.query     params.order_id
--     POST /web/orders/{order_id}/refund  order.refund    optional JSON object body + order_id
--     GET  /web/profile                   customer.profile
--     PUT  /web/profile                   customer.update JSON object body -> params
--     GET  /web/cases                     case.list       (answered by the gateway
--     GET  /web/cases/{case_id}           case.get         with omni_cases on)
--
-- A path segment such as `{order_id}` matches `[A-Za-z0-9_-]{1,64}`; one
-- trailing slash is accepted.  Query strings are ignored except on
-- `order.list`, where every argument becomes a string parameter (at most 32;
-- `page`, `page_size`, `limit` and `offset` must be non-negative integers and
-- become numbers).  Path parameters override body fields of the same name.
--
-- Refusals (rendered like any gateway error, status in parentheses):
-- `route_not_found` (404), `method_not_allowed` (405, with an `Allow`
-- header), `unsupported_media_type` (415: a body that is not JSON),
-- `invalid_body` (400: missing body, or a JSON value that is not an
-- object), `invalid_parameter` (400), `invalid_header` (400: X-App-Id,
-- X-Client-Version or X-Device-Id too long or with control characters).
--
-- Request metadata: locale = first tag of Accept-Language (ignored when it is
-- not a valid tag), app_id = X-App-Id, client_version = X-Client-Version,
-- device_id = X-Device-Id.  No identities: the JWT subject is the principal,
-- added by the gateway.
--
-- CORS.  Without the setting `allowed_origins`, `respond` answers every
-- OPTIONS request with 204 and the allowed methods and headers, and the
-- allowed origin echoes the Origin header when it is a well-formed
-- `http(s)://host[:port]` origin (credentials are not allowed, so this is
-- equivalent to `*` but keeps caches honest with `Vary: Origin`).
--
-- With `allowed_origins` (space- or comma-separated entries), only the
-- origins it lists get CORS headers:
--
--     https://app.example.com       exactly this origin (scheme, host, port)
--     http://localhost:3000
--     https://*.example.com         any subdomain of example.com over https
--                                   (not example.com itself), any depth
--     *.example.com                 the same: no scheme means https
--
-- Hosts compare case-insensitively; a port must match exactly (none: the
-- origin has none).  A preflight (OPTIONS with Origin) from an origin not
-- listed (or a malformed one) is refused with `origin_not_allowed` (403,
-- no CORS headers); an OPTIONS without Origin is answered 204 with `Allow`
-- only.  Other
-- requests from origins not listed are served without CORS headers (the
-- browser then hides the answer from the page).  `allow_credentials on`
-- adds `Access-Control-Allow-Credentials: true` for listed origins; it has
-- no effect without `allowed_origins`.  A malformed entry is
-- `plugin_misconfigured` (500) on preflights, and no CORS header at all.
-- `render` adds Access-Control-Allow-Origin when the request's Origin is
-- allowed, and `Vary: Origin` whenever the answer depends on it.
--
-- Rendering: success -> 200 `{"data": <reply.data>}`.  Errors ->
-- `{"error": {"code", "message"}, "request_id"}` with the status:
--
-- * gateway errors (ctx.gateway): ctx.status (500 when it is not 400..599);
-- * service errors: omni.error_status(code, ctx), the mapping every
--   channel shares (lua/omni.lua): `*_not_found` 404, `invalid_*` 400,
--   `*_forbidden` 403, ..., else the service's own 4xx/5xx, else 422.
--
-- @module web
local omni = require "omni"

local json = omni.json
local omni_error = omni.error
local clip = omni.clip
local is_object = omni.is_object
local header = omni.header

local type = type
local pairs = pairs
local ipairs = ipairs
local tonumber = tonumber
local tostring = tostring
local concat = table.concat
local sort = table.sort
local find = string.find
local match = string.match
local gmatch = string.gmatch
local lower = string.lower
local sub = string.sub
local floor = math.floor

-- render only wraps reply.data: it stays the service's text (checked by
-- the host), written back as it is
local _M = { name = "web", version = "1.1", raw_data = true, prefix = "/web" }

local MAX_PATH = 1024
local MAX_SEGMENTS = 8
local MAX_QUERY_ARGS = 32
local MAX_ARG_NAME = 64
local MAX_ARG_VALUE = 1024
local ID_PATTERN = "^[A-Za-z0-9_%-]+$"
local MAX_ID = 64

local NUMERIC_ARGS = { page = true, page_size = true, limit = true, offset = true }

local ALLOW_METHODS = "GET, POST, PUT, OPTIONS"
local ALLOW_HEADERS = "Accept, Accept-Language, Authorization, Content-Type, "
    .. "X-App-Id, X-Client-Version, X-Device-Id, X-Request-Id"

--- The route table: method, pattern, action and how the body is used
-- ("none", "optional" or "required"); `query` copies the query args.
local ROUTE_SPECS = {
    { "GET",  "/orders",                   "order.list",       "none", true },
    { "POST", "/orders",                   "order.create",     "required" },
    { "GET",  "/orders/{order_id}",        "order.query",      "none" },
    { "POST", "/orders/{order_id}/refund", "order.refund",     "optional" },
    { "GET",  "/profile",                  "customer.profile", "none" },
    { "PUT",  "/profile",                  "customer.update",  "required" },
    { "GET",  "/cases",                    "case.list",        "none" },
    { "GET",  "/cases/{case_id}",          "case.get",         "none" },
}

--- Splits a path into its segments; nil when it is malformed (empty
-- segment, too long, too many segments).  One trailing slash is allowed.
local function split_path(path)
    if type(path) ~= "string" or #path > MAX_PATH or sub(path, 1, 1) ~= "/" then
        return nil
    end
    if #path > 1 and sub(path, -1) == "/" then
        path = sub(path, 1, -2)
    end
    local segments = {}
    local pos = 2
    local n = 0
    while pos <= #path + 1 do
        local stop = find(path, "/", pos, true)
        local segment = sub(path, pos, (stop or #path + 1) - 1)
        if segment == "" then
            return nil
        end
        n = n + 1
        if n > MAX_SEGMENTS then
            return nil
        end
        segments[n] = segment
        if not stop then
            break
        end
        pos = stop + 1
    end
    return segments
end

local ROUTES = {}
for i, spec in ipairs(ROUTE_SPECS) do
    local segments = split_path(spec[2])
    local compiled = {}
    for j, segment in ipairs(segments) do
        local param = match(segment, "^{([a-z_]+)}$")
        compiled[j] = param and { param = param } or { literal = segment }
    end
    ROUTES[i] = {
        method = spec[1], segments = compiled, action = spec[3],
        body = spec[4], query = spec[5] or false,
    }
end

--- Matches the segments against one route; returns the path params (a
-- new table, the caller's own) or nil.  The table is made only for a
-- match: every request tries several routes.
local function match_route(route, segments)
    local pattern = route.segments
    if #pattern ~= #segments then
        return nil
    end
    for i, part in ipairs(pattern) do
        local segment = segments[i]
        if part.literal then
            if part.literal ~= segment then
                return nil
            end
        elseif #segment > MAX_ID or not find(segment, ID_PATTERN) then
            return nil
        end
    end
    local params = {}
    for i, part in ipairs(pattern) do
        if part.param then
            params[part.param] = segments[i]
        end
    end
    return params
end

--- Finds the route for method + path.
-- @return route, path params; or nil, list of the methods the path allows
local function find_route(method, path)
    local segments = split_path(path)
    if not segments then
        return nil, {}
    end
    local allowed
    for _, route in ipairs(ROUTES) do
        local params = match_route(route, segments)
        if params then
            if route.method == method then
                return route, params
            end
            allowed = allowed or {}
            allowed[#allowed + 1] = route.method
        end
    end
    return nil, allowed or {}
end

--- The request Origin when it is a well-formed http(s) origin, else nil.
-- The value ends up in a response header, so anything else is dropped.
local function request_origin(req)
    local headers = type(req) == "table" and req.headers or nil
    local origin = type(headers) == "table" and headers["origin"] or nil
    if type(origin) ~= "string" or #origin > 255 then
        return nil
    end
    if find(origin, "^https?://[%w%.%-]+$") or find(origin, "^https?://[%w%.%-]+:%d+$") then
        return origin
    end
    return nil
end

local MAX_ORIGINS = 64

--- One entry of allowed_origins: "https://a.example.com" (exact) or
-- "https://*.example.com" / "*.example.com" (subdomains); nil when
-- malformed.
local function origin_entry(entry, list)
    local scheme, host, port = match(entry, "^(https?)://([^:/]+)(.*)$")
    if not scheme then
        scheme, host, port = "https", match(entry, "^(%*%.[^:/]+)(.*)$")
        if not host then
            return nil
        end
    end
    if port ~= "" then
        local n = find(port, "^:%d%d?%d?%d?%d?$") and tonumber(sub(port, 2))
        if not n or n < 1 or n > 65535 then
            return nil
        end
    end
    host = lower(host)
    local suffix = match(host, "^%*(%.[%w%-]+%.[%w%.%-]+)$")
    if suffix then
        if find(suffix, "..", 1, true) or sub(suffix, -1) == "." then
            return nil
        end
        list.patterns[#list.patterns + 1] = { scheme = scheme, suffix = suffix, port = port }
        return true
    end
    if not find(host, "^[%w%-]+[%w%.%-]*$") or find(host, "..", 1, true) then
        return nil
    end
    list.exact[scheme .. "://" .. host .. port] = true
    return true
end

-- allowed_origins, parsed once per distinct setting (a location's)
local ORIGIN_LISTS = {}
local origin_lists = 0

--- The parsed allowed_origins of the settings: nil when not set, false
-- when malformed.
local function origin_list(settings)
    local text = settings.allowed_origins
    if text == nil then
        return nil
    end
    local list = ORIGIN_LISTS[text]
    if list ~= nil then
        return list
    end
    list = { exact = {}, patterns = {} }
    local n = 0
    if type(text) ~= "string" or #text > 8192 then
        list = false
    else
        for entry in gmatch(text, "[^%s,]+") do
            n = n + 1
            if n > MAX_ORIGINS or not origin_entry(entry, list) then
                list = false
                break
            end
        end
        if n == 0 then
            list = false
        end
    end
    if origin_lists >= 64 then
        ORIGIN_LISTS, origin_lists = {}, 0
    end
    ORIGIN_LISTS[text] = list
    origin_lists = origin_lists + 1
    return list
end

--- The CORS answer for a request: the origin to allow (or nil), whether
-- credentials go with it, and whether an allowlist is configured (false
-- when it is malformed).
local function cors(req)
    local origin = request_origin(req)
    local list = origin_list(omni.settings(req))
    if list == nil then
        return origin, false, nil
    end
    if not list or not origin then
        return nil, false, list
    end
    local lowered = lower(origin)
    local allowed = list.exact[lowered]
    if not allowed then
        local scheme, host, port = match(lowered, "^(https?)://([^:]+)(.*)$")
        for _, p in ipairs(list.patterns) do
            local n = #p.suffix
            if p.scheme == scheme and p.port == port and #host > n
                    and sub(host, -n) == p.suffix
                    and find(sub(host, 1, -n - 1), "^[%w%-]+[%w%.%-]*$")
                    and not find(host, "..", 1, true) then
                allowed = true
                break
            end
        end
    end
    if not allowed then
        return nil, false, list
    end
    local credentials = omni.settings(req).allow_credentials
    return origin, credentials == "on" or credentials == "true", list
end

--- Copies the query arguments into params (order.list).
local function query_params(req)
    local params = {}
    local args = req.args
    if type(args) ~= "table" then
        return params
    end
    local n = 0
    for name, value in pairs(args) do
        n = n + 1
        if n > MAX_QUERY_ARGS then
            return nil, omni_error("invalid_parameter",
                "at most " .. MAX_QUERY_ARGS .. " query arguments are accepted", 400)
        end
        if type(name) ~= "string" or #name > MAX_ARG_NAME
                or not find(name, "^[A-Za-z_][A-Za-z0-9_%.%-]*$") then
            return nil, omni_error("invalid_parameter", "invalid query argument name", 400)
        end
        if value == true then
            value = ""
        end
        if type(value) ~= "string" or #value > MAX_ARG_VALUE then
            return nil, omni_error("invalid_parameter",
                "query argument '" .. name .. "' is not valid", 400)
        end
        if NUMERIC_ARGS[name] then
            local number = find(value, "^%d+$") and #value <= 9 and tonumber(value) or nil
            if not number then
                return nil, omni_error("invalid_parameter",
                    "query argument '" .. name .. "' must be a non-negative integer", 400)
            end
            value = floor(number)
        end
        params[name] = value
    end
    return params
end

--- True when the media type is JSON (application/json or any +json type).
local function is_json_type(content_type)
    return content_type == "application/json"
        or (type(content_type) == "string" and find(content_type, "^application/[%w%.%-]+%+json$") ~= nil)
end

--- The request body as params, according to the route's body mode.
local function body_params(req, mode)
    local raw = req.raw_body
    if raw == nil or raw == "" then
        if mode == "required" then
            return nil, omni_error("invalid_body", "a JSON object body is required", 400)
        end
        return {}
    end
    local body = req.body
    if not is_json_type(req.content_type) then
        return nil, omni_error("unsupported_media_type",
            "the body must be application/json", 415)
    end
    if body == nil then
        -- +json media types the host does not parse itself
        local decoded, err = json.decode(raw)
        if decoded == nil then
            return nil, omni_error("body_malformed", "invalid JSON: " .. clip(tostring(err)), 400)
        end
        body = decoded
    end
    if not is_object(body) then
        return nil, omni_error("invalid_body", "the request body must be a JSON object", 400)
    end
    local params = {}
    for k, v in pairs(body) do
        params[k] = v
    end
    return params
end

--- Normalizes a web request into contract fields.
-- @param req the request table built by the host
-- @return fields, or nil, err
function _M.normalize(req)
    local method = req.method
    local route, found = find_route(method, req.route)
    if not route then
        if found[1] then
            return nil, omni_error("method_not_allowed",
                "method " .. clip(tostring(method)) .. " is not allowed here", 405)
        end
        return nil, omni_error("route_not_found",
            "no route for " .. clip(tostring(method)) .. " " .. clip(tostring(req.path)), 404)
    end

    -- the path params override the query's and the body's; a route that
    -- reads neither has them alone
    local params, err
    if route.query then
        params, err = query_params(req)
    elseif route.body ~= "none" then
        params, err = body_params(req, route.body)
    else
        params = found
    end
    if not params then
        return nil, err
    end
    if params ~= found then
        for name, value in pairs(found) do
            params[name] = value
        end
    end

    local app_id, client_version, device_id
    app_id, err = header(req.headers, "x-app-id", "X-App-Id", 128)
    if err then
        return nil, err
    end
    client_version, err = header(req.headers, "x-client-version", "X-Client-Version", 64, true)
    if err then
        return nil, err
    end
    device_id, err = header(req.headers, "x-device-id", "X-Device-Id", 128)
    if err then
        return nil, err
    end

    local headers = type(req.headers) == "table" and req.headers or {}
    return {
        action = route.action,
        params = params,
        app_id = app_id,
        client_version = client_version,
        device_id = device_id,
        locale = omni.first_language(headers["accept-language"]),
    }
end

--- Answers CORS preflight requests (OPTIONS) with 204.
-- @return status, headers, body; or nil for every other method
function _M.respond(req)
    if req.method ~= "OPTIONS" then
        return nil
    end
    local headers = {
        ["Allow"] = ALLOW_METHODS,
        ["Vary"] = "Origin",
    }
    local origin, credentials, list = cors(req)
    if list == false then
        return nil, omni_error("plugin_misconfigured",
            "allowed_origins holds a malformed entry (or more than "
            .. MAX_ORIGINS .. ")", 500)
    end
    local sent = type(req.headers) == "table" and req.headers.origin or nil
    if list and not origin and sent ~= nil then
        return nil, omni_error("origin_not_allowed",
            "the origin " .. clip(sent) .. " is not allowed", 403)
    end
    if not list or origin then
        headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        headers["Access-Control-Max-Age"] = "600"
    end
    if origin then
        headers["Access-Control-Allow-Origin"] = origin
        if credentials then
            headers["Access-Control-Allow-Credentials"] = "true"
        end
    end
    return 204, headers, ""
end


--- The methods allowed on the request's path, for the Allow header.
local function allowed_methods(req)
    if type(req) ~= "table" then
        return nil
    end
    local _, allowed = find_route("", req.route)
    if type(allowed) ~= "table" or not allowed[1] then
        return nil
    end
    allowed[#allowed + 1] = "OPTIONS"
    sort(allowed)
    return concat(allowed, ", ")
end

--- Renders a unified reply as the REST JSON answer.
-- @param reply {ok=true, data=...} or {ok=false, error={code=, message=}}
-- @param ctx {status=, gateway=, request_id=, channel=, request=}
-- @return status, headers, body
function _M.render(reply, ctx)
    ctx = type(ctx) == "table" and ctx or {}
    local headers = {
        ["Content-Type"] = "application/json; charset=utf-8",
        ["Cache-Control"] = "no-store",
    }
    local origin, credentials, list = cors(ctx.request)
    if origin then
        headers["Access-Control-Allow-Origin"] = origin
        if credentials then
            headers["Access-Control-Allow-Credentials"] = "true"
        end
    end
    if origin or list ~= nil then
        headers["Vary"] = "Origin"
    end

    if type(reply) == "table" and reply.ok == true then
        local data = reply.data
        if data == nil then
            data = json.null
        end
        local body = json.encode({ data = data })
        if body then
            return 200, headers, body
        end
        reply = { ok = false, error = { code = "plugin_error",
            message = "the reply could not be encoded" } }
        ctx = { status = 500, gateway = true, request_id = ctx.request_id,
            request = ctx.request }
    end

    local code, message = omni.error_parts(type(reply) == "table" and reply.error or nil)
    local status = omni.error_status(code, ctx)

    if status == 401 then
        headers["WWW-Authenticate"] = "Bearer"
    elseif status == 405 then
        headers["Allow"] = allowed_methods(ctx.request)
    end

    local request_id = ctx.request_id
    if type(request_id) ~= "string" then
        request_id = json.null
    end
    local body = json.encode({
        error = { code = code, message = message },
        request_id = request_id,
    })
    if not body then
        body = '{"error":{"code":"plugin_error","message":"the error could not be encoded"}}'
        status = 500
    end
    return status, headers, body
end

return _M
