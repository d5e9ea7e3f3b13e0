--- The trusted host of channel plugins: loads them into sandboxes, builds
-- the request table they see, calls them, and validates what they
-- return. Called from the gateway's C module and from the standalone
-- runner (tools/omni-plugin).
--
-- Error handling:
--
-- * Plugin *results* that are wrong never raise: they come back as
--   `nil, err` with `err = { code=, status=, message= }`.
-- * Lua errors raised *inside* plugin functions are not caught here:
--   they propagate unchanged, so the caller (lua_pcall with a traceback
--   handler, a CPU-budget hook and a memory cap) can classify them.
-- * Caller mistakes (wrong argument types from C) raise errors.
--
-- @module omni.host

local type, pairs, ipairs, error, pcall, tostring, rawget, rawset, setfenv,
      setmetatable, load =
      type, pairs, ipairs, error, pcall, tostring, rawget, rawset, setfenv,
      setmetatable, load
local byte, find, gsub, lower, match, sub = string.byte, string.find,
                                            string.gsub, string.lower,
                                            string.match, string.sub
local sort = table.sort
local floor = math.floor
local os_time = os.time

local json = require "omni.json"
local form = require "omni.form"
local xml = require "omni.xml"
local utf8 = require "omni.utf8"
local contract = require "omni.contract"
local sandbox = require "omni.sandbox"
local native = require "omni_contract_native"

local null = json.null
local is_fatal = sandbox.is_fatal

local _M = { _VERSION = "1.0" }

local MAX_HEADERS = 64
--- The most headers a response may have: the gateway's C side reads it
-- to size what it copies (module/omni_lua.c).
_M.MAX_HEADERS = MAX_HEADERS
local MAX_HEADER_NAME = 128
local MAX_HEADER_VALUE = 8192
local MAX_MESSAGE = 1024
local REPLACEMENT = "\239\191\189"     -- U+FFFD

-- headers a plugin may not set: framing and hop-by-hop belong to NGINX
local FORBIDDEN_HEADERS = {
    ["content-length"] = true, ["transfer-encoding"] = true,
    ["connection"] = true, ["keep-alive"] = true, ["upgrade"] = true,
    ["te"] = true, ["trailer"] = true, ["proxy-connection"] = true,
}
_M.FORBIDDEN_HEADERS = FORBIDDEN_HEADERS

local OPTIONAL_FUNCTIONS = { "authenticate", "identify", "respond" }

local plugins = {}      -- name -> { name=, version=, file=, module= }

-- the key under which normalize(defer) keeps the contract in the request
-- table until complete(): a table, so no string a plugin sets can be it
local CONTRACT = {}

-- the key under which the gateway puts the verified token's payload text
-- (it rawsets it from C): decoded into req.claims when first read
local CLAIMS = {}
_M.CLAIMS_KEY = CLAIMS

-- the key under which prepare keeps an XML body it parsed into req.body
-- alone: its tree, req.xml, is built when first read
local XML_BODY = {}

local REQUEST_MT = {
    __index = function(req, k)
        if k == "xml" then
            local body = rawget(req, XML_BODY)
            if body == nil then
                return nil
            end
            -- the same parser took the same text: it cannot fail now
            local doc = assert(xml.decode(body))
            rawset(req, "xml", doc)
            return doc
        end
        if k ~= "claims" then
            return nil
        end
        local text = rawget(req, CLAIMS)
        if text == nil then
            return nil
        end
        local claims, err = json.decode(text)
        if not json.is_object(claims) then
            error("the token's claims cannot be read: "
                  .. (err or "not a JSON object"), 2)
        end
        rawset(req, "claims", claims)
        return claims
    end,
}


local function fail(code, status, message)
    return { code = code, status = status, message = message }
end

local function show(v)
    if type(v) == "string" then
        if #v > 40 then
            v = utf8.truncate(v, 40) .. "..."
        end
        return "'" .. v .. "'"
    end
    if type(v) == "number" then
        return tostring(v)
    end
    return type(v)
end

local function get(name, fname)
    if type(name) ~= "string" then
        error("bad argument #1 to '" .. fname .. "' (string expected, got "
              .. type(name) .. ")", 3)
    end
    local p = plugins[name]
    if not p then
        return nil, fail("plugin_error", 500,
                         "plugin '" .. name .. "' is not loaded")
    end
    return p
end


-- a refusal (nil, err) from a plugin function -> { code, status, message }
local function refusal(err)
    local code, message, status = "plugin_rejected", nil, 400
    if type(err) == "string" then
        message = err
    elseif type(err) == "table" then
        local c, m, s = rawget(err, "code"), rawget(err, "message"),
                        rawget(err, "status")
        if contract.is_code(c) then
            code = c
        end
        if type(m) == "string" then
            message = m
        end
        if type(s) == "number" and s == floor(s) and s >= 400 and s <= 599
        then
            status = s
        end
    end
    if message == nil or message == "" then
        message = "the request was rejected"
    end
    -- render writes it, and no JSON the gateway writes holds NUL
    if find(message, "\0", 1, true) then
        message = gsub(message, "%z", REPLACEMENT)
    end
    message = utf8.truncate(utf8.sanitize(message), MAX_MESSAGE)
    return fail(code, status, message)
end

local function invalid(message)
    return fail("plugin_contract_invalid", 500, message)
end


-- a mount point: "/" then path segments, no trailing slash, no blanks,
-- no dot segments; at most 256 bytes
local function is_mount(s)
    return type(s) == "string" and #s >= 2 and #s <= 256
           and find(s, "^/[%w%-._~!$&'()*+,;=:@/]*$") ~= nil
           and byte(s, -1) ~= 47                    -- "/"
           and not find(s, "//", 1, true)
           and not find(s, "/%.%.?/") and not find(s, "/%.%.?$")
end
_M.is_mount = is_mount


-------------------------------------------------------------------------
-- loading
-------------------------------------------------------------------------

--- Loads (or replaces) a plugin.
-- @tparam string name the plugin's name, which its `_M.name` must equal
-- @tparam string chunkname e.g. `"@/etc/nginx/plugins/web.lua"`
-- @tparam string source the plugin file's text (bytecode is refused)
-- @treturn true|nil
-- @treturn string|nil the reason, naming the file (and line for syntax
--   and load-time runtime errors)
function _M.load(name, chunkname, source)
    if type(name) ~= "string" then
        error("bad argument #1 to 'load' (string expected, got "
              .. type(name) .. ")", 2)
    end
    if type(chunkname) ~= "string" then
        error("bad argument #2 to 'load' (string expected, got "
              .. type(chunkname) .. ")", 2)
    end
    if type(source) ~= "string" then
        error("bad argument #3 to 'load' (string expected, got "
              .. type(source) .. ")", 2)
    end

    local file = match(chunkname, "^[@=](.*)$") or chunkname

    if not contract.is_name(name) then
        return nil, file .. ": invalid plugin name " .. show(name)
                    .. " (must match ^[a-z][a-z0-9_]{0,31}$)"
    end
    if byte(source, 1) == 27 then
        return nil, file .. ": precompiled bytecode is not allowed"
    end

    local chunk, err = load(source, chunkname, "t")
    if not chunk then
        return nil, err
    end

    setfenv(chunk, sandbox.new())

    local ok, mod = pcall(chunk)
    if not ok then
        if is_fatal(mod) then
            error(mod, 0)
        end
        return nil, tostring(mod)
    end

    if type(mod) ~= "table" then
        return nil, file .. ": the plugin must return a table (got "
                    .. type(mod) .. ")"
    end
    if mod.name ~= name then
        return nil, file .. ": the plugin's name is " .. show(mod.name)
                    .. ", expected '" .. name .. "' (the file's base name)"
    end
    if type(mod.version) ~= "string" then
        return nil, file .. ": the plugin's version must be a string (got "
                    .. show(mod.version) .. ")"
    end
    for _, f in ipairs({ "normalize", "render" }) do
        if type(mod[f]) ~= "function" then
            return nil, file .. ": the plugin does not define " .. f
                        .. "() (got " .. type(mod[f]) .. ")"
        end
    end
    if mod.prefix ~= nil and not is_mount(mod.prefix) then
        return nil, file .. ": prefix must be a path such as '/kiosk' (got "
                    .. show(mod.prefix) .. ")"
    end
    if mod.raw_data ~= nil and type(mod.raw_data) ~= "boolean" then
        return nil, file .. ": raw_data must be a boolean (got "
                    .. show(mod.raw_data) .. ")"
    end
    for _, f in ipairs(OPTIONAL_FUNCTIONS) do
        if mod[f] ~= nil and type(mod[f]) ~= "function" then
            return nil, file .. ": " .. f .. " must be a function (got "
                        .. type(mod[f]) .. ")"
        end
    end

    plugins[name] = {
        name = name,
        version = mod.version,
        file = file,
        module = mod,
        prefix = mod.prefix,
    }
    return true
end


--- Names of the loaded plugins, sorted.
-- @treturn table
function _M.names()
    local out, n = {}, 0
    for name in pairs(plugins) do
        n = n + 1
        out[n] = name
    end
    sort(out)
    return out
end


--- Describes a loaded plugin.
-- @tparam string name
-- @treturn table|nil `{ name=, version=, file=, functions={...} }`
function _M.info(name)
    local p = plugins[name]
    if not p then
        return nil
    end
    local fns = { "normalize", "render" }
    for _, f in ipairs(OPTIONAL_FUNCTIONS) do
        if p.module[f] then
            fns[#fns + 1] = f
        end
    end
    return { name = p.name, version = p.version, file = p.file,
             functions = fns }
end


--- Forgets a loaded plugin.
-- @tparam string name
function _M.unload(name)
    plugins[name] = nil
end


-------------------------------------------------------------------------
-- the request table
-------------------------------------------------------------------------

-- the media type of a Content-Type, lowercased, without parameters and
-- the blanks around it
local function media_type(ct)
    if type(ct) ~= "string" then
        return nil
    end
    local semi = find(ct, ";", 1, true)
    if semi then
        ct = sub(ct, 1, semi - 1)
    end
    local first, last = find(ct, "[^ \t]"), #ct
    if not first then
        return nil
    end
    while last > first do
        local b = byte(ct, last)
        if b ~= 32 and b ~= 9 then
            break
        end
        last = last - 1
    end
    return lower(sub(ct, first, last))
end

-- the path below a mount point ("/" for the mount point itself), or nil
-- when the path is not under it
local function below(path, mount)
    local n = #mount
    if sub(path, 1, n) ~= mount then
        return nil
    end
    if #path == n then
        return "/"
    end
    if byte(path, n + 1) ~= 47 then        -- "/"
        return nil
    end
    return sub(path, n + 1)
end

--- Where a plugin is mounted, and the request's path below it.
-- The mount point is, in this order: the `prefix` setting; the
-- location's own path when it is a prefix location ending with "/"
-- (other than "/") or an exact location (`=/mp/api`: the route is then
-- "/"); the plugin's own `prefix` (its historical URL, e.g.
-- "/miniprogram"), when the path is under it; else nothing.
-- @tparam string path the request's path
-- @tparam table settings the location's settings
-- @tparam string|nil location what the gateway says of the location
-- @tparam string|nil default the plugin's `prefix`
-- @treturn string|nil the route ("/order/query"), nil when the path is
--   not under the configured prefix
-- @treturn string the mount point ("" for none)
local function route_of(path, settings, location, default)
    if type(path) ~= "string" or sub(path, 1, 1) ~= "/" then
        return nil, ""
    end
    local prefix = settings.prefix
    if prefix ~= nil then
        if prefix == "/" then
            return path, ""
        end
        if type(prefix) == "string" and sub(prefix, -1) == "/" then
            prefix = sub(prefix, 1, -2)
        end
        if not is_mount(prefix) then
            return nil, ""
        end
        return below(path, prefix), prefix
    end
    if type(location) == "string" and #location > 1 then
        if byte(location, 1) == 61 then            -- "=": exact
            if sub(location, 2) == path then
                return "/", path
            end
        elseif sub(location, -1) == "/" then
            local mount = sub(location, 1, -2)
            local route = below(path, mount)
            if route then
                return route, mount
            end
        end
    end
    if default then
        local route = below(path, default)
        if route then
            return route, default
        end
    end
    return path, ""
end
_M.route_of = route_of


-- a structured syntax suffix (RFC 6839) is tried only when it is there
local function is_json_type(mt)
    return mt == "application/json"
           or (sub(mt, -5) == "+json"
               and find(mt, "^[%w.%-]+/[%w.%-]+%+json$") ~= nil)
end

local function is_xml_type(mt)
    return mt == "text/xml" or mt == "application/xml"
           or (sub(mt, -4) == "+xml"
               and find(mt, "^[%w.%-]+/[%w.%-]+%+xml$") ~= nil)
end


-- the request table a plugin sees, from its parts (checked by prepare, or
-- made by the gateway's C code); nil, err when the query or the body
-- cannot be read
local function build_request(p, name, method, path, query, headers,
                             client_ip, body, settings, location, time,
                             channel, claims_json)
    local args, aerr = form.decode(query)
    if not args then
        return nil, fail("body_malformed", 400, "query string: " .. aerr)
    end

    local mt = media_type(headers["content-type"])
    local route, mount = route_of(path, settings, location, p.prefix)

    local req = {
        method = method,
        path = path,
        route = route,
        mount = mount,
        time = time,
        args = args,
        query = query,
        headers = headers,
        client_ip = client_ip,
        raw_body = body,
        content_type = mt,
        channel = channel or name,
        settings = settings,
    }

    setmetatable(req, REQUEST_MT)

    if claims_json ~= nil then
        local ok, err = _M.set_claims(req, claims_json)
        if not ok then
            return nil, err
        end
    end

    if body ~= "" and mt then
        local parsed, err
        if is_json_type(mt) then
            parsed, err = json.decode(body)
        elseif mt == "application/x-www-form-urlencoded" then
            local all
            parsed, all = form.decode(body)
            if parsed then
                req.body_values = all
            else
                err = all
            end
        elseif is_xml_type(mt) then
            local root
            parsed, root = xml.decode_fields(body)
            if parsed then
                req.xml_root = root
                req[XML_BODY] = body
            else
                err = root
            end
        else
            return req
        end
        if parsed == nil then
            return nil, fail("body_malformed", 400, err)
        end
        req.body = parsed
    end

    return req
end


--- Builds the request table a plugin sees.
-- @tparam string name the plugin
-- @tparam table raw `{ method=, path=, query=, headers={lowercase->value},
--   client_ip=, body= (string|nil), claims_json= (string|nil, see also
--   `set_claims`), settings= (table|nil, the omni_plugin_set values),
--   channel= (optional, defaults to the plugin's name), location=
--   (string|nil: "/mp/", "=/mp/api", see `route_of`), time= (number|nil,
--   when the request came, in seconds; now by default) }`
-- @treturn table|nil req
-- @treturn table|nil `{ code="body_malformed", status=400, message= }`
function _M.prepare(name, raw)
    local p, perr = get(name, "prepare")
    if not p then
        return nil, perr
    end
    if type(raw) ~= "table" then
        error("bad argument #2 to 'prepare' (table expected, got "
              .. type(raw) .. ")", 2)
    end
    local headers = raw.headers
    if headers == nil then
        headers = {}
    elseif type(headers) ~= "table" then
        error("bad argument #2 to 'prepare' (raw.headers must be a table)", 2)
    end
    local query = raw.query or ""
    local body = raw.body or ""
    if type(query) ~= "string" or type(body) ~= "string" then
        error("bad argument #2 to 'prepare' (raw.query and raw.body must be"
              .. " strings)", 2)
    end
    if raw.claims_json ~= nil and type(raw.claims_json) ~= "string" then
        error("bad argument #2 to 'prepare' (raw.claims_json must be a"
              .. " string)", 2)
    end
    if raw.settings ~= nil and type(raw.settings) ~= "table" then
        error("bad argument #2 to 'prepare' (raw.settings must be a table)",
              2)
    end
    if raw.location ~= nil and type(raw.location) ~= "string" then
        error("bad argument #2 to 'prepare' (raw.location must be a string)",
              2)
    end
    local time = raw.time
    if time == nil then
        time = os_time()
    elseif type(time) ~= "number" then
        error("bad argument #2 to 'prepare' (raw.time must be a number)", 2)
    end

    return build_request(p, name, raw.method, raw.path, query, headers,
                         raw.client_ip, body, raw.settings or {},
                         raw.location, time, raw.channel, raw.claims_json)
end


--- Adds the verified JWT payload to a prepared request (`req.claims`).
-- The gateway prepares the request before authentication (so a plugin
-- can answer a CORS preflight) and calls this once the token is
-- verified, before authenticate() and normalize().
-- @tparam table req from `prepare`
-- @tparam string claims_json the token's payload
-- @treturn true|nil
-- @treturn table|nil `{ code="claim_invalid", status=401, message= }` when
--   the payload is not a JSON object this library can read
function _M.set_claims(req, claims_json)
    if type(req) ~= "table" then
        error("bad argument #1 to 'set_claims' (table expected, got "
              .. type(req) .. ")", 2)
    end
    if type(claims_json) ~= "string" then
        error("bad argument #2 to 'set_claims' (string expected, got "
              .. type(claims_json) .. ")", 2)
    end
    local claims, err = json.decode(claims_json)
    if not json.is_object(claims) then
        return nil, fail("claim_invalid", 401, "the token's claims cannot be"
                         .. " read: " .. (err or "not a JSON object"))
    end
    req.claims = claims
    return true
end


-------------------------------------------------------------------------
-- responses (respond, render, render_error)
-------------------------------------------------------------------------

-- the bytes of an HTTP token (RFC 9110), as a lookup table: a byte loop
-- the JIT compiles, where a pattern set is matched by a C function
local TOKEN = {}
for c in ("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
          .. "ABCDEFGHIJKLMNOPQRSTUVWXYZ"):gmatch(".") do
    TOKEN[byte(c)] = true
end

local function is_token(s)
    local n = #s
    if n == 0 or n > MAX_HEADER_NAME then
        return false
    end
    for i = 1, n do
        if not TOKEN[byte(s, i)] then
            return false
        end
    end
    return true
end

-- no control byte but HTAB, not too long
local function is_field_value(s)
    local n = #s
    if n > MAX_HEADER_VALUE then
        return false
    end
    for i = 1, n do
        local b = byte(s, i)
        if (b < 32 and b ~= 9) or b == 127 then
            return false
        end
    end
    return true
end

-- the header names response() has seen in its current call: a name is
-- seen when it maps to that call's number, so the table is reused rather
-- than made per answer; remade when it holds many names
local seen, seen_call, seen_names = {}, 0, 0
local SEEN_MAX = 4 * MAX_HEADERS

-- validates status, headers, body; returns them (a missing headers table
-- as an empty one) or nil, err
local function response(fname, status, headers, body)
    if type(status) ~= "number" or status ~= floor(status)
       or status < 100 or status > 599
    then
        return nil, fail("plugin_error", 500, fname .. ": status must be an"
                         .. " integer from 100 to 599 (got " .. show(status)
                         .. ")")
    end

    if headers == nil then
        headers = {}
    elseif type(headers) ~= "table" then
        return nil, fail("plugin_error", 500, fname .. ": headers must be"
                         .. " a table (got " .. type(headers) .. ")")
    else
        if seen_names > SEEN_MAX then
            seen, seen_names = {}, 0
        end
        seen_call = seen_call + 1
        local n = 0
        for k, v in pairs(headers) do
            n = n + 1
            if n > MAX_HEADERS then
                return nil, fail("plugin_error", 500, fname .. ": more than "
                                 .. MAX_HEADERS .. " headers")
            end
            if type(k) ~= "string" or not is_token(k) then
                return nil, fail("plugin_error", 500, fname .. ": invalid"
                                 .. " header name " .. show(k))
            end
            local lk = lower(k)
            if FORBIDDEN_HEADERS[lk] then
                return nil, fail("plugin_error", 500, fname .. ": header '"
                                 .. k .. "' is set by the gateway")
            end
            local last = seen[lk]
            if last == seen_call then
                return nil, fail("plugin_error", 500, fname .. ": header '"
                                 .. k .. "' is set twice")
            end
            if last == nil then
                seen_names = seen_names + 1
            end
            seen[lk] = seen_call
            if type(v) ~= "string" then
                return nil, fail("plugin_error", 500, fname .. ": the value"
                                 .. " of header '" .. k .. "' must be a"
                                 .. " string (got " .. type(v) .. ")")
            end
            if not is_field_value(v) then
                return nil, fail("plugin_error", 500, fname .. ": the value"
                                 .. " of header '" .. k .. "' contains a"
                                 .. " control character or is too long")
            end
        end
    end

    if type(body) ~= "string" then
        return nil, fail("plugin_error", 500, fname .. ": body must be a"
                         .. " string (got " .. type(body) .. ")")
    end

    return status, headers, body
end


--- Lets the plugin answer directly (CORS preflight, echo verification).
-- @tparam string name
-- @tparam table req from `prepare`
-- @return status, headers, body; or nil (go on normally); or nil, err
function _M.respond(name, req)
    local p, perr = get(name, "respond")
    if not p then
        return nil, perr
    end
    local f = p.module.respond
    if not f then
        return nil
    end
    local status, headers, body = f(req)
    if status == nil then
        if headers ~= nil then
            return nil, refusal(headers)
        end
        return nil
    end
    return response("respond", status, headers, body)
end


--- The gateway's first call for a request: `prepare`, then `respond`,
-- with the request's parts as arguments rather than a raw table (one
-- table fewer a request, and no field set by name from C).
-- @tparam string name
-- @tparam string method
-- @tparam string path
-- @tparam string|nil query
-- @tparam string|nil client_ip
-- @tparam string|nil body
-- @tparam table headers lowercase name -> value
-- @tparam table settings the omni_plugin_set values
-- @tparam string|nil location as for `prepare`
-- @tparam number|nil time as for `prepare`
-- @return req, then respond()'s status, headers, body (all nil: go on;
--   nil, err: a refusal); or nil, err when the request was refused
function _M.begin(name, method, path, query, client_ip, body, headers,
                  settings, location, time)
    local p, perr = get(name, "prepare")
    if not p then
        return nil, perr
    end
    local req, err = build_request(p, name, method, path, query or "",
                                   headers, client_ip, body or "", settings,
                                   location, time or os_time())
    if not req then
        return nil, err
    end
    return req, _M.respond(name, req)
end


--- Runs the plugin's channel-native authentication.
-- @tparam string name
-- @tparam table req from `prepare`
-- @treturn true|nil true also when the plugin has no authenticate()
-- @treturn table|nil err
function _M.authenticate(name, req)
    local p, perr = get(name, "authenticate")
    if not p then
        return nil, perr
    end
    local f = p.module.authenticate
    if not f then
        return true
    end
    local ok, err = f(req)
    if ok == true then
        return true
    end
    if ok == nil or ok == false then
        return nil, refusal(err)
    end
    return nil, fail("plugin_error", 500, "authenticate must return true,"
                     .. " or nil and an error (got " .. show(ok) .. ")")
end


-- the plugin's normalize() and identify(), their results checked by the
-- contract's writer (module/omni_contract.c); with c, the gateway's
-- contract (a light userdata), the checked strings go into it
local function plugin_fields(name, req, c)
    local p, perr = get(name, "normalize")
    if not p then
        return nil, perr
    end

    local mod = p.module
    local fields, err = mod.normalize(req)
    if fields == nil or fields == false then
        if err ~= nil then
            return nil, refusal(err)
        end
        return nil, invalid("normalize returned " .. tostring(fields)
                            .. " without an error")
    end

    local ok, verr = native.fields(fields, c)
    if not ok then
        return nil, invalid(verr)
    end

    local extra
    if mod.identify then
        local ierr
        extra, ierr = mod.identify(req, req.claims)
        if extra == nil or extra == null then
            if ierr ~= nil then
                return nil, refusal(ierr)
            end
            extra = nil
        end
    end

    local ids
    ids, verr = native.identities(fields, extra, c)
    if not ids then
        return nil, invalid(verr)
    end
    return fields, extra, ids
end


--- The gateway's normalize: runs the plugin's normalize() and identify()
-- and checks their results into the gateway's contract `c`; the gateway
-- then resolves the customer and writes the contract itself.
-- @tparam string name
-- @tparam table req from `prepare`
-- @param c the gateway's contract (a light userdata)
-- @treturn table|nil the fields, which keep the checked strings alive
-- @return identify()'s identities (or nil); or err when the first value
--   is nil
function _M.fields(name, req, c)
    if type(req) ~= "table" then
        error("bad argument #2 to 'fields' (table expected, got "
              .. type(req) .. ")", 2)
    end
    if type(c) ~= "userdata" then
        error("bad argument #3 to 'fields' (contract expected)", 2)
    end
    local fields, extra = plugin_fields(name, req, c)
    if not fields then
        return nil, extra
    end
    return fields, extra
end


-- a contract's text and the contract decoded, or nil and err
local function encode(fields, extra, known, gw)
    local s, err = native.encode(fields, extra, known, gw)
    if not s then
        return nil, invalid(err)
    end
    return s, json.decode(s)
end


--- Normalizes a request into the contract (the runner's and the specs'
-- way; the gateway calls `fields` and writes the contract in C, with the
-- same checks and the same text).
--
-- With `known.defer` true, the contract is checked but not written: the
-- fields are kept in `req` for `complete`, and the identities are
-- returned so that the caller can resolve the customer and the session
-- first.
-- @tparam string name
-- @tparam table req from `prepare`
-- @tparam table known `{ request_id=, received_at= (ms), channel=,
--   principal= or nil, user_agent= or nil, client_ip= (defaults to
--   req.client_ip), defer= (boolean) }`
-- @treturn string|table|nil the contract, encoded; with `defer`, the
--   identities (an array of `{type=, value=}`, those of identify()
--   merged in)
-- @treturn table the contract decoded (or err when the first value is nil)
function _M.normalize(name, req, known)
    local _, perr = get(name, "normalize")
    if perr then
        return nil, perr
    end
    if type(req) ~= "table" then
        error("bad argument #2 to 'normalize' (table expected, got "
              .. type(req) .. ")", 2)
    end
    if type(known) ~= "table" then
        error("bad argument #3 to 'normalize' (table expected, got "
              .. type(known) .. ")", 2)
    end

    local fields, extra, ids = plugin_fields(name, req, nil)
    if not fields then
        return nil, extra
    end

    local principal = known.principal
    if principal ~= nil and principal ~= null and type(principal) ~= "table"
    then
        error("bad argument #3 to 'normalize' (known.principal must be a"
              .. " table)", 2)
    end
    local k = {
        request_id = known.request_id,
        received_at = known.received_at or os_time() * 1000,
        channel = known.channel or req.channel or name,
        client_ip = known.client_ip or req.client_ip,
        principal = principal,
        user_agent = known.user_agent,
    }
    if k.user_agent == nil and type(req.headers) == "table" then
        k.user_agent = req.headers["user-agent"]
    end
    if type(k.user_agent) ~= "string" then
        k.user_agent = nil
    end

    if known.defer == true then
        req[CONTRACT] = { fields = fields, extra = extra, known = k }
        return ids
    end

    return encode(fields, extra, k, {})
end


local function bad_gw(what)
    error("bad argument #2 to 'complete' (" .. what .. ")", 4)
end

local function is_ms(v)
    return type(v) == "number" and v == v and v >= 0
           and v < 253402300800000
end

-- the session as the gateway read it in the store, its types checked
local function gw_session(gs)
    if type(gs.id) ~= "string" then
        bad_gw("gw.session.id must be a string")
    end
    if type(gs.new) ~= "boolean" then
        bad_gw("gw.session.new must be a boolean")
    end
    if not is_ms(gs.created_at) then
        bad_gw("gw.session.created_at must be milliseconds since the epoch")
    end
    if not is_ms(gs.last_seen_at) then
        bad_gw("gw.session.last_seen_at must be milliseconds since the"
               .. " epoch")
    end
    if type(gs.channels) ~= "table" then
        bad_gw("gw.session.channels must be a table")
    end
    if type(gs.context) ~= "string" then
        bad_gw("gw.session.context must be a string")
    end
end


--- Completes and encodes the contract that `normalize` kept (with
-- `known.defer`), once the caller has resolved the customer and the
-- session: sets `customer.id` (and `customer.anonymous`) and `session`,
-- checks what it added and encodes the contract. The kept fields are
-- dropped from `req`, whatever the outcome.
-- @tparam table req the request given to `normalize`
-- @tparam table gw `{ customer_id= (string or nil), session= nil or
--   { id=, new= (boolean), created_at= (ms), last_seen_at= (ms),
--   channels= { names... }, context= (a JSON object's text, or "" for
--   {}) } }`
-- @treturn string|nil the contract, encoded
-- @treturn table the contract decoded; or err: `plugin_error`/500 when
--   normalize did not keep a contract for `req`,
--   `plugin_contract_invalid`/500 when the completed contract is invalid
function _M.complete(req, gw)
    if type(req) ~= "table" then
        error("bad argument #1 to 'complete' (table expected, got "
              .. type(req) .. ")", 2)
    end
    if type(gw) ~= "table" then
        error("bad argument #2 to 'complete' (table expected, got "
              .. type(gw) .. ")", 2)
    end
    local cid, gs = gw.customer_id, gw.session
    if cid ~= nil and type(cid) ~= "string" then
        error("bad argument #2 to 'complete' (gw.customer_id must be a"
              .. " string or nil)", 2)
    end
    if gs ~= nil and type(gs) ~= "table" then
        error("bad argument #2 to 'complete' (gw.session must be a table"
              .. " or nil)", 2)
    end
    if gs ~= nil then
        gw_session(gs)
    end

    local kept = rawget(req, CONTRACT)
    if kept == nil then
        return nil, fail("plugin_error", 500, "complete: no contract is"
                         .. " kept for this request (normalize did not run"
                         .. " with known.defer)")
    end
    req[CONTRACT] = nil

    return encode(kept.fields, kept.extra, kept.known, gw)
end


local function copy_ctx(ctx, fname)
    if ctx == nil then
        return {}
    end
    if type(ctx) ~= "table" then
        error("bad argument to '" .. fname .. "' (ctx must be a table)", 3)
    end
    local c = {}
    for key, v in pairs(ctx) do
        c[key] = v
    end
    return c
end


-- the plugin's render of a reply body (or a decoded reply) into rctx,
-- which it may change
local function render_into(p, reply_body, rctx)
    local reply, why
    if type(reply_body) == "string" then
        if p.module.raw_data then
            reply, why = json.decode_reply(reply_body)
        else
            reply, why = json.decode(reply_body)
        end
    elseif type(reply_body) == "table" then
        reply = reply_body
    else
        why = "the reply is a " .. type(reply_body)
    end
    if reply ~= nil then
        local ok
        ok, why = contract.validate_reply(reply)
        if not ok then
            reply = nil
        end
    end
    if reply == nil then
        reply = {
            ok = false,
            error = {
                code = "upstream_reply_invalid",
                message = "the service sent an invalid reply",
            },
        }
        rctx.status = 502
        rctx.gateway = true
    end
    rctx.gateway = rctx.gateway == true

    local status, headers, body = p.module.render(reply, rctx)
    local s, h, b = response("render", status, headers, body)
    if not s then
        return nil, h
    end
    return s, h, b, why
end


--- Renders a service's reply in the channel's native format.
-- @tparam string name
-- @tparam string|table reply_body the upstream body (or a decoded reply)
-- @tparam table ctx `{ status=, gateway=, request_id=, channel=, request= }`
--   (the render sees a copy)
-- @return status, headers, body, and a 4th value: nil, or why the reply
--   was replaced by `upstream_reply_invalid` (for the error log); or
--   nil, err
function _M.render(name, reply_body, ctx)
    local p, perr = get(name, "render")
    if not p then
        return nil, perr
    end
    return render_into(p, reply_body, copy_ctx(ctx, "render"))
end


--- The gateway's render of a service's reply: `render` with the ctx's
-- parts as arguments, the ctx made here (a table constructor, rather
-- than a field set by name from C).
-- @tparam string name
-- @tparam string reply_body
-- @tparam number status the upstream's status
-- @tparam string|nil request_id
-- @tparam table|nil req from `begin`
-- @return as `render`
function _M.render_reply(name, reply_body, status, request_id, req)
    local p, perr = get(name, "render")
    if not p then
        return nil, perr
    end
    return render_into(p, reply_body, {
        status = status,
        gateway = false,
        channel = name,
        request_id = request_id,
        request = req,
    })
end


--- Renders a gateway error in the channel's native format.
-- @tparam string name
-- @tparam string code e.g. "token_expired"
-- @tparam string|nil message (nil: the code)
-- @tparam number status the HTTP status the gateway chose
-- @tparam[opt] table ctx as for `render`
-- @return status, headers, body; or nil, err
function _M.render_error(name, code, message, status, ctx)
    local p, perr = get(name, "render_error")
    if not p then
        return nil, perr
    end
    if not contract.is_code(code) then
        error("bad argument #2 to 'render_error' (error code expected)", 2)
    end
    if message == nil then
        message = code
    elseif type(message) ~= "string" then
        error("bad argument #3 to 'render_error' (string expected, got "
              .. type(message) .. ")", 2)
    end
    if type(status) ~= "number" or status ~= floor(status)
       or status < 100 or status > 599
    then
        error("bad argument #4 to 'render_error' (HTTP status expected)", 2)
    end
    local rctx = copy_ctx(ctx, "render_error")
    rctx.status = status
    rctx.gateway = true
    local reply = { ok = false, error = { code = code, message = message } }
    local s, h, b = p.module.render(reply, rctx)
    return response("render", s, h, b)
end

return _M
