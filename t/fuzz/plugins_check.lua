-- The checks of fuzz_plugins: the input is a request as a channel would
-- send it, run through every plugin of plugins/ as the gateway runs it
-- (host.prepare, respond, authenticate, normalize, render and
-- render_error), and its body again as a service's reply.  Nothing
-- raises: each step returns what its contract says (a request, an
-- answer or nothing, a contract, a rendered answer) or nil and an error
-- table with a code and a status.
--
-- The input: the method, a newline, the path with its query, a newline,
-- header lines "name: value" up to an empty line, then the body.

-- the natives the plugins need, and where the tree is
local root = require("fuzz_plugins_natives").root

local host = require "omni.host"
local json = require "omni.json"

local PLUGINS = { "app", "ivr", "miniprogram", "sms", "web", "wechat_oa",
                  "wecom" }

local SETTINGS = {
    ivr = { auth_token = "9f2c4e1a7b3d5f6081a2c3d4e5f60718",
            base_url = "https://gw.example.com" },
    sms = { auth_token = "5b7e0c2d9a4f6138e2d1c0b9a8f7e6d5",
            base_url = "https://gw.example.com" },
    wechat_oa = { token = "omniWxToken2026" },
    wecom = { token = "omniWeComToken26",
              encoding_aes_key = "Zr4Tn8Qp2Wm6Yk0Hs5Jd9Lc3Vb7Xf1Ga4Re8Ut2Io6P",
              corp_id = "ww3a9f1c2b7d4e5f60" },
}

local NOW = 1795540000

for _, name in ipairs(PLUGINS) do
    local path = root .. "/plugins/" .. name .. ".lua"
    local f = assert(io.open(path, "rb"))
    local source = f:read("*a")
    f:close()
    assert(host.load(name, "@" .. path, source))
end

local function check(cond, what, s)
    if not cond then
        error(what .. ": " .. string.format("%q", s), 0)
    end
end

local function check_err(err, what, s)
    check(type(err) == "table" and type(err.code) == "string"
          and type(err.status) == "number", what .. " failed without an"
          .. " error table", s)
end

local function check_answer(ok, status, headers, body, what, s)
    check(ok, what .. " raised " .. tostring(status), s)
    if status == nil then
        if headers ~= nil then
            check_err(headers, what, s)
        end
        return
    end
    check(type(status) == "number" and type(headers) == "table"
          and type(body) == "string", what .. " answered something else", s)
end

-- method, path, query, headers, body out of the input
local function parse(s)
    local method, target, rest = s:match("^([^\n]*)\n([^\n]*)\n(.*)$")
    if not method then
        return "POST", "/", "", {}, s
    end
    local path, query = target:match("^([^?]*)%??(.*)$")
    local headers, n = {}, 0
    local head, body = rest:match("^(.-)\n\n(.*)$")
    if not head then
        head, body = "", rest
    end
    for line in head:gmatch("[^\n]+") do
        local k, v = line:match("^([^:]+):%s*(.*)$")
        if k and n < 32 then
            n = n + 1
            headers[k:lower()] = v
        end
    end
    return method, path, query, headers, body
end

return function(s)
    local method, path, query, headers, body = parse(s)
    for _, name in ipairs(PLUGINS) do
        local raw = { method = method, path = path, query = query,
                      headers = headers, client_ip = "203.0.113.7",
                      body = body, settings = SETTINGS[name] or {},
                      time = NOW }
        local ok, req, err = pcall(host.prepare, name, raw)
        check(ok, name .. ": prepare raised " .. tostring(req), s)
        if req == nil then
            check_err(err, name .. ": prepare", s)
        else
            local ok2, status, headers2, body2 = pcall(host.respond, name,
                                                       req)
            check_answer(ok2, status, headers2, body2, name .. ": respond", s)

            local aok, authed, aerr = pcall(host.authenticate, name, req)
            check(aok, name .. ": authenticate raised " .. tostring(authed),
                  s)
            if authed ~= true then
                check_err(aerr, name .. ": authenticate", s)
            end

            local nok, text, decoded = pcall(host.normalize, name, req, {
                request_id = "r-1", received_at = NOW * 1000,
                channel = name, client_ip = "203.0.113.7" })
            check(nok, name .. ": normalize raised " .. tostring(text), s)
            if text == nil then
                check_err(decoded, name .. ": normalize", s)
            else
                check(type(text) == "string" and json.decode(text) ~= nil,
                      name .. ": normalize returned no contract", s)
            end
        end

        local ctx = { status = 200, gateway = false, channel = name,
                      request_id = "r-1", request = req }
        local rok, status, rheaders, rbody = pcall(host.render, name, body,
                                                   ctx)
        check(rok, name .. ": render raised " .. tostring(status), s)
        if status == nil then
            check_err(rheaders, name .. ": render", s)
        else
            check(type(status) == "number" and type(rheaders) == "table"
                  and type(rbody) == "string",
                  name .. ": render answered something else", s)
        end

        local eok, estatus, eheaders, ebody = pcall(host.render_error, name,
                                                    "order_not_found", body,
                                                    404, ctx)
        check_answer(eok, estatus, eheaders, ebody, name .. ": render_error",
                     s)
    end
end
