--- Mount points: the host's req.route (host.route_of), and every bundled
-- plugin serving the same request under a second prefix, given by the
-- location or by the `prefix` setting; then the single-endpoint style of
-- the miniprogram and app plugins (action and params from body fields).
local host = require "omni.host"
local json = require "omni.json"
local crypto = require "omni.crypto"

local read_file = dofile("t/spec/plugin_fixtures.lua")("web").read_file

local function load(name)
    assert(host.load(name, "@plugins/" .. name .. ".lua",
                     read_file("plugins/" .. name .. ".lua")))
end

local function fixture(name)
    return assert(json.decode(read_file("t/fixtures/" .. name .. ".json")))
end

local function raw_of(r)
    local claims = r.claims
    return {
        method = r.method, path = r.path, query = r.query or "",
        headers = r.headers or {}, client_ip = "127.0.0.1", body = r.body,
        settings = r.settings or {}, location = r.location, time = r.time,
        claims_json = (claims and claims ~= json.null)
                      and assert(json.encode(claims)) or nil,
    }
end

local function contract(channel, r)
    local req, err = host.prepare(channel, raw_of(r))
    assert(req, err and err.message)
    local ok, aerr = host.authenticate(channel, req)
    if not ok then
        return nil, aerr
    end
    local text, c = host.normalize(channel, req, {
        request_id = "r1", received_at = 0, channel = channel })
    if not text then
        return nil, c
    end
    return c, req
end

-- Twilio signs the URL the request came to: a fixture moved to another
-- path is signed again (the string to sign is tested in plugins_ivr_spec)
local function twilio_sign(r)
    local values = {}
    for pair in r.body:gmatch("[^&]+") do
        local k, v = pair:match("^([^=]*)=?(.*)$")
        local function unescape(s)
            return (s:gsub("+", " "):gsub("%%(%x%x)", function(h)
                return string.char(tonumber(h, 16))
            end))
        end
        values[#values + 1] = unescape(k) .. unescape(v)
    end
    table.sort(values)
    local data = r.settings.base_url .. r.path .. table.concat(values)
    r.headers["x-twilio-signature"] = crypto.base64_encode(
        crypto.hmac_sha1(r.settings.auth_token, data))
end


describe("host.route_of", function()
    local route_of = host.route_of

    it("strips the prefix setting, with or without its slash", function()
        assert.same({ "/api", "/mp" }, { route_of("/mp/api", { prefix = "/mp" }) })
        assert.same({ "/api", "/mp" }, { route_of("/mp/api", { prefix = "/mp/" }) })
        assert.same({ "/", "/mp" }, { route_of("/mp", { prefix = "/mp" }) })
        assert.same({ "/mp/api", "" }, { route_of("/mp/api", { prefix = "/" }) })
    end)

    it("gives no route outside the prefix setting, or with a bad one", function()
        assert.is_nil((route_of("/mpx/api", { prefix = "/mp" })))
        assert.is_nil((route_of("/other", { prefix = "/mp" })))
        for _, bad in ipairs({ "mp", "/mp//x", "/a/../b", "/a b", "", "/a/./b", "/a\n",
                "/a?", "/a#b", "/..", "/a/.." }) do
            assert.is_nil((route_of("/mp/api", { prefix = bad })), bad)
        end
    end)

    it("uses a prefix location ending with a slash, then the plugin's own prefix", function()
        assert.same({ "/api", "/mp" }, { route_of("/mp/api", {}, "/mp/") })
        assert.same({ "/order/query", "/miniprogram" },
                    { route_of("/miniprogram/order/query", {}, "/", "/miniprogram") })
        -- a location without the slash is an endpoint, not a mount point
        assert.same({ "/profile", "/web" },
                    { route_of("/web/profile", {}, "/web/profile", "/web") })
        assert.same({ "/orders", "" }, { route_of("/orders", {}, "/", "/web") })
        -- a regular expression location: nothing is said of it
        assert.same({ "/x/y", "" }, { route_of("/x/y", {}, nil, "/web") })
    end)

    it("makes an exact location the route /", function()
        assert.same({ "/", "/mp/api" }, { route_of("/mp/api", {}, "=/mp/api") })
    end)

    it("is what prepare puts in req, with the time the request came", function()
        load("web")
        local req = assert(host.prepare("web", { method = "GET", path = "/shop/orders",
            location = "/shop/", time = 1795540000 }))
        assert.are.equal("/orders", req.route)
        assert.are.equal("/shop", req.mount)
        assert.are.equal(1795540000, req.time)
        req = assert(host.prepare("web", { method = "GET", path = "/web/orders" }))
        assert.are.equal("/orders", req.route)
        assert(math.abs(req.time - os.time()) <= 1)
        assert.has_error(function()
            host.prepare("web", { method = "GET", path = "/", time = "now" })
        end)
        assert.has_error(function()
            host.prepare("web", { method = "GET", path = "/", location = 1 })
        end)
    end)

    it("refuses a plugin prefix that is no path at load", function()
        local ok, err = host.load("badprefix", "@badprefix.lua", [[
            return { name = "badprefix", version = "1", prefix = "miniprogram/",
                     normalize = function() end, render = function() end }
        ]])
        assert.is_nil(ok)
        assert.matches("prefix must be a path", err)
    end)
end)


describe("every plugin under a second prefix", function()
    local CASES = {
        { "web", "web/order_query", "/web" },
        { "miniprogram", "miniprogram/order_query", "/miniprogram" },
        { "app", "app/single_call", "/app" },
        { "ivr", "ivr/incoming_call", "/ivr" },
        { "wechat_oa", "wechat_oa/text_message", "/wechat_oa" },
        { "wecom", "wecom/text_message", "/wecom" },
        { "sms", "sms/inbound_text", "/sms" },
    }

    for _, case in ipairs(CASES) do
        local channel, name, default = case[1], case[2], case[3]

        it(channel .. " serves the same action by location and by prefix", function()
            load(channel)
            local fx = fixture(name)
            local want = fx.expect.action
            local c = assert(contract(channel, fx.request))
            assert.are.equal(want, c.action)

            for _, how in ipairs({ "location", "prefix" }) do
                local r = fixture(name).request
                r.path = "/gw/v2/" .. channel .. r.path:sub(#default + 1)
                if how == "location" then
                    r.location = "/gw/v2/" .. channel .. "/"
                else
                    r.settings = r.settings or {}
                    r.settings.prefix = "/gw/v2/" .. channel
                    r.location = "/gw/"
                end
                if channel == "ivr" or channel == "sms" then
                    twilio_sign(r)
                end
                local moved, req = contract(channel, r)
                assert(moved, req and req.message)
                assert.are.equal(want, moved.action, how)
                assert.are.same(c.params, moved.params, how)
            end
        end)

        it(channel .. " refuses its old path under another prefix", function()
            load(channel)
            if channel == "wechat_oa" or channel == "wecom" then
                return                  -- one endpoint, whatever its path
            end
            local r = fixture(name).request
            r.settings = r.settings or {}
            r.settings.prefix = "/gw"
            if channel == "ivr" or channel == "sms" then
                twilio_sign(r)
            end
            local c, err = contract(channel, r)
            assert.is_nil(c)
            assert.are.equal("route_not_found", err.code)
        end)
    end
end)


describe("the single-endpoint style", function()
    local function mp(body, settings, method)
        load("miniprogram")
        return contract("miniprogram", {
            method = method or "POST", path = "/mp/api", location = "/mp/",
            query = method == "GET" and body or "",
            headers = { ["content-type"] = "application/json" },
            body = method ~= "GET" and body or nil,
            settings = settings or { action_field = "cmd" },
        })
    end

    local function rendered(channel, err)
        local _, _, body = host.render_error(channel, err.code, err.message,
            err.status, { status = err.status, gateway = true, request_id = "r1" })
        return body
    end

    it("miniprogram: cmd and data name the call", function()
        local c = assert(mp('{"cmd":"order.query","data":{"order_no":"1"},'
                            .. '"openid":"oAbc_123","lang":"zh_CN","ts":1}'))
        assert.are.equal("order.query", c.action)
        assert.are.same({ order_no = "1" }, c.params)
        assert.are.same({ { type = "wechat_openid", value = "oAbc_123" } },
                        c.customer.identities)
        assert.are.equal("zh-CN", c.locale)
    end)

    it("miniprogram: other field names, no params, the mount point itself", function()
        local c = assert(mp('{"action":"member.points.history"}',
                            { action_field = "action", params_field = "params" }))
        assert.are.equal("member.points.history", c.action)
        assert.are.equal("{}", json.encode(c.params))
        load("miniprogram")
        c = assert(contract("miniprogram", {
            method = "POST", path = "/mp/api", location = "=/mp/api",
            headers = { ["content-type"] = "application/json" },
            body = '{"cmd":"order.query"}', settings = { action_field = "cmd" } }))
        assert.are.equal("order.query", c.action)
    end)

    it("miniprogram: a GET names the call in the query", function()
        local c = assert(mp("cmd=order.list&page=2", nil, "GET"))
        assert.are.equal("order.list", c.action)
        assert.are.same({ page = "2" }, c.params)
    end)

    it("miniprogram: path style still works beside it", function()
        load("miniprogram")
        local c = assert(contract("miniprogram", {
            method = "POST", path = "/mp/order/query", location = "/mp/",
            headers = { ["content-type"] = "application/json" },
            body = '{"order_no":"1"}', settings = { action_field = "cmd" } }))
        assert.are.equal("order.query", c.action)
    end)

    it("miniprogram: a missing or invalid action is invalid_parameter, errcode 40000", function()
        for _, body in ipairs({ '{"data":{}}', '{"cmd":null}', '{"cmd":"OrderQuery"}',
                '{"cmd":"order"}', '{"cmd":7}', '{"cmd":"order.query\\n"}',
                '{"cmd":"' .. string.rep("a.", 70) .. 'b"}', '[1]',
                '{"cmd":"order.query","data":[1]}', '{"cmd":"order.query","data":"x"}' }) do
            local c, err = mp(body)
            assert.is_nil(c, body)
            assert.are.equal("invalid_parameter", err.code, body)
            assert.are.equal(400, err.status)
            local out = json.decode(rendered("miniprogram", err))
            assert.are.equal(40000, out.errcode)
            assert.matches("^invalid_parameter: ", out.errmsg)
        end
    end)

    it("miniprogram: without action_field a single segment is route_not_found", function()
        local c, err = mp('{"cmd":"order.query"}', {})
        assert.is_nil(c)
        assert.are.equal("route_not_found", err.code)
        c, err = mp('{"cmd":"order.query"}', { action_field = "c md" })
        assert.is_nil(c)
        assert.are.equal("plugin_misconfigured", err.code)
    end)

    local function app(body, settings, path, location)
        load("app")
        return contract("app", {
            method = "POST", path = path or "/mobile/rpc", location = location or "/mobile/",
            headers = { ["content-type"] = "application/json" }, body = body,
            settings = settings or { action_field = "cmd", params_field = "data" },
        })
    end

    it("app: cmd and data instead of method and params, single and batch", function()
        local c = assert(app('{"cmd":"order.query","data":{"order_no":"1"},"id":7}'))
        assert.are.equal("order.query", c.action)
        assert.are.same({ order_no = "1" }, c.params)
        c = assert(app('[{"cmd":"order.query","id":1},{"cmd":"cart.view","data":{"a":1},"id":2}]'))
        assert.are.equal("app.batch", c.action)
        assert.are.equal("cart.view", c.params.calls[2].method)
        -- the mount point itself is the endpoint too
        c = assert(app('{"cmd":"order.query"}', nil, "/api/app", "=/api/app"))
        assert.are.equal("order.query", c.action)
    end)

    it("app: a missing or invalid action is invalid_parameter, -32600", function()
        for _, body in ipairs({ '{"id":1}', '{"cmd":"Order","id":1}',
                '{"cmd":"order.query","data":[1],"id":1}', '[{"cmd":"app.batch"}]',
                '{"method":"order.query","id":1}' }) do
            local c, err = app(body)
            assert.is_nil(c, body)
            assert.are.equal("invalid_parameter", err.code, body)
            local out = json.decode(rendered("app", err))
            assert.are.equal(-32600, out.error.code)
            assert.are.equal("invalid_parameter", out.error.data.code)
        end
    end)

    it("app: JSON-RPC names stay the default", function()
        local c = assert(app('{"jsonrpc":"2.0","method":"order.query","id":1}', {}))
        assert.are.equal("order.query", c.action)
        local _, err = app('{"jsonrpc":"2.0","method":"Order","id":1}', {})
        assert.are.equal("invalid_request", err.code)
    end)
end)
