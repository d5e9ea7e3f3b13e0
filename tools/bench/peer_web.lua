--- The OpenResty peer of `make bench`: the job our `web` plugin and the
-- gateway do for `GET /web/orders/{order_id}`, written the way one would
-- write it for lua-nginx-module (Debian's libnginx-mod-http-lua, lua-cjson
-- and lua-resty-core), so the bench can tell what our pipeline costs
-- against a hand-written OpenResty handler in the same nginx.
--
--     access()       HS256 JWT check, route, contract -> $peer_contract
--     header_filter  the headers plugins/web.lua renders
--     body_filter    {"ok":true,"data":D} -> {"data":D}
--
-- It does only what the bench exercises: one key, one route, success
-- replies; failures answer a short JSON error like the gateway's.
local ffi = require "ffi"
local cjson = require "cjson.safe"
local base64 = require "ngx.base64"

local ngx = ngx
local C = ffi.C
local type = type
local floor = math.floor
local concat = table.concat
local find, match, gsub, sub = string.find, string.match, string.gsub, string.sub
local format, date = string.format, os.date

-- HMAC-SHA-256 and a constant-time compare from the libcrypto nginx is
-- linked with (its symbols are in the process's global namespace)
ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
int CRYPTO_memcmp(const void *a, const void *b, size_t len);
]]

local SHA256 = C.EVP_sha256()
local mac = ffi.new("unsigned char[32]")
local mac_len = ffi.new("unsigned int[1]")

local _M = {}

local secret

--- Reads the HMAC secret (the whole file, as `omni_jwt_secret` does).
function _M.init(path)
    local f = assert(io.open(path, "rb"))
    secret = f:read("*a")
    f:close()
end

local function fail(status, code, message)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json; charset=utf-8"
    ngx.header["Cache-Control"] = "no-store"
    if status == 401 then
        ngx.header["WWW-Authenticate"] = "Bearer"
    end
    ngx.print(cjson.encode({ error = { code = code, message = message },
        request_id = ngx.var.request_id }))
    return ngx.exit(status)
end

--- The verified claims of the Bearer token, or nil, error code.
local function verify(authorization)
    local token = type(authorization) == "string"
        and match(authorization, "^Bearer%s+(%S+)$")
    if not token then
        return nil, "token_missing"
    end
    local h, p, s = match(token, "^([%w_-]+)%.([%w_-]+)%.([%w_-]+)$")
    if not h then
        return nil, "token_malformed"
    end
    local header = cjson.decode(base64.decode_base64url(h) or "")
    local claims = cjson.decode(base64.decode_base64url(p) or "")
    local signature = base64.decode_base64url(s)
    if type(header) ~= "table" or type(claims) ~= "table" or not signature then
        return nil, "token_malformed"
    end
    if header.alg ~= "HS256" then
        return nil, "alg_not_allowed"
    end
    local signed = sub(token, 1, #h + 1 + #p)
    C.HMAC(SHA256, secret, #secret, signed, #signed, mac, mac_len)
    if #signature ~= 32 or C.CRYPTO_memcmp(mac, signature, 32) ~= 0 then
        return nil, "signature_invalid"
    end
    if type(claims.exp) ~= "number" or claims.exp <= ngx.time() then
        return nil, "token_expired"
    end
    return claims
end

--- The first tag of Accept-Language when it is a valid locale, else nil.
local function first_language(value)
    local tag = type(value) == "string" and match(value, "^%s*([^,;%s]+)")
    if not tag or #tag > 64 then
        return nil
    end
    tag = gsub(tag, "_", "-")
    local primary, rest = match(tag, "^(%a+)(.*)$")
    if not primary or #primary < 2 or #primary > 8 then
        return nil
    end
    while rest ~= "" do
        local part, tail = match(rest, "^%-(%w+)(.*)$")
        if not part or #part > 8 then
            return nil
        end
        rest = tail
    end
    return tag
end

local function header(name, max)
    local v = ngx.var["http_" .. name]
    if not v or #v > max or find(v, "[^\33-\126]") then
        return cjson.null
    end
    return v
end

local function iso_ms(t)
    local s = floor(t)
    return date("!%Y-%m-%dT%H:%M:%S", s) .. format(".%03dZ", floor((t - s) * 1000 + 0.5))
end

--- access_by_lua: authenticate, route, build the contract.
function _M.access()
    local claims, code = verify(ngx.var.http_authorization)
    if not claims then
        return fail(401, code, "the token was refused")
    end

    local uri = ngx.var.uri
    local order_id = match(uri, "^/web/orders/([%w_-]+)/?$")
    if not order_id or #order_id > 64 then
        return fail(404, "route_not_found", "no route for " .. uri)
    end
    if ngx.req.get_method() ~= "GET" then
        return fail(405, "method_not_allowed", "use GET")
    end

    local roles = claims.roles
    local null = cjson.null
    local contract = cjson.encode({
        version = "1.3",
        request_id = ngx.var.request_id,
        received_at = iso_ms(ngx.req.start_time()),
        channel = { name = "web", app_id = header("x_app_id", 128),
            client_version = header("x_client_version", 64) },
        customer = { id = null, anonymous = false, tier = null, identities = {},
            cases = null },
        principal = { subject = claims.sub or null,
            roles = type(roles) == "table" and roles or {},
            issuer = claims.iss or null },
        session = null,
        action = "order.query",
        params = { order_id = order_id },
        locale = first_language(ngx.var.http_accept_language) or null,
        client = { ip = ngx.var.remote_addr,
            user_agent = ngx.var.http_user_agent or null,
            device_id = header("x_device_id", 128) },
        route = null,
        dispatch = null,
        intent = null,
    })
    -- Debian's lua-cjson 2.1.0 (not OpenResty's fork) has no empty_array:
    -- every empty table encodes as {}, so the contract's arrays are fixed here
    contract = gsub(gsub(contract, '"identities":{}', '"identities":[]', 1),
        '"roles":{}', '"roles":[]', 1)
    ngx.var.peer_contract = contract
    ngx.ctx.reply = {}
end

--- header_filter_by_lua: what plugins/web.lua answers with.
function _M.header_filter()
    if ngx.ctx.reply then
        ngx.header["Content-Type"] = "application/json; charset=utf-8"
        ngx.header["Cache-Control"] = "no-store"
        ngx.header["Content-Length"] = nil
    end
end

--- body_filter_by_lua: holds the service's reply and renders it.
function _M.body_filter()
    local reply = ngx.ctx.reply
    if not reply then
        return
    end
    reply[#reply + 1] = ngx.arg[1]
    if not ngx.arg[2] then
        ngx.arg[1] = nil
        return
    end
    local unified = cjson.decode(concat(reply))
    if type(unified) ~= "table" then
        unified = { error = { code = "upstream_reply_invalid",
            message = "the service's reply is not JSON" } }
    end
    if unified.ok == true then
        ngx.arg[1] = cjson.encode({ data = unified.data })
    else
        ngx.arg[1] = cjson.encode({ error = unified.error,
            request_id = ngx.var.request_id })
    end
end

return _M
