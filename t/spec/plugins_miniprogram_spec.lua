--- Specs for plugins/miniprogram.lua: WeChat mini-program wx.request calls.
--
-- The plugin is loaded through the host exactly as the gateway loads it
-- (host.load with the file's source and "@path"); every fixture of
-- t/fixtures/miniprogram/ runs through host.prepare, respond, authenticate,
-- normalize and render; then the channel's refusals and the rendering of
-- gateway errors are checked.
--
-- Fixture "expect" keys understood here:
--
--     prepare_error {code, status}       host.prepare refuses the request
--     respond {status, headers, body}    the plugin answers directly
--     authenticate true | {code, status} the signature check
--     error {code, status}               normalize refuses
--     action, params, identities, channel, client, locale, principal,
--     customer_anonymous                 compared with the contract JSON
--     render {reply, upstream_status, status, headers, absent_headers,
--             body | json | body_contains | json_subset}
--     render_error {status, headers, body, body_contains, json_subset}:
--                                        the refusal rendered as a gateway
--                                        error (host.render_error)
--
-- Run from the repository root:
--     LUA_CPATH="build/lib/?.so;;" busted --lua=luajit -m 'lua/?.lua;lua/?/init.lua' t/spec
local CHANNEL = "miniprogram"

local host = require "omni.host"
local json = require "omni.json"
local lfs = require "lfs"

local PLUGIN = "plugins/" .. CHANNEL .. ".lua"
local FIXTURES = "t/fixtures/" .. CHANNEL
local REQUEST_ID = "0123456789abcdef0123456789abcdef"

local function read_file(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

--- Loads the plugin the way the gateway does: source text + "@path".
local function load_plugin()
    local ok, err = host.load(CHANNEL, "@" .. PLUGIN, read_file(PLUGIN))
    assert(ok, err)
end

--- Canonical JSON text (sorted keys), for comparisons.
local function canon(v)
    return assert(json.encode(v))
end

local function is_null(v)
    return v == nil or v == json.null
end

local function fixture_names()
    local names = {}
    for entry in lfs.dir(FIXTURES) do
        if entry:match("%.json$") then
            names[#names + 1] = entry
        end
    end
    table.sort(names)
    return names
end

local function load_fixture(name)
    if not name:match("%.json$") then
        name = name .. ".json"
    end
    return assert(json.decode(read_file(FIXTURES .. "/" .. name)))
end

--- host.prepare with a fixture request, as the C side passes it.
-- req.settings: the host is expected to copy raw.settings (the
-- omni_plugin_set values); set it here when it does not (yet).
local function prepare(r)
    local raw = {
        method = r.method, path = r.path, query = r.query or "",
        headers = r.headers or {}, client_ip = r.client_ip or "127.0.0.1",
        claims_json = (not is_null(r.claims)) and canon(r.claims) or nil,
        body = r.body, settings = r.settings,
    }
    local req, err = host.prepare(CHANNEL, raw)
    if req and r.settings ~= nil and req.settings == nil then
        req.settings = r.settings
    end
    return req, err
end

local function known_of(k)
    k = k or {}
    return {
        request_id = k.request_id or REQUEST_ID,
        received_at = k.received_at or 1795540000000,
        channel = CHANNEL,
        principal = (not is_null(k.principal)) and k.principal or nil,
        user_agent = (not is_null(k.user_agent)) and k.user_agent or nil,
    }
end

local function ctx_of(req, status, gateway)
    return { status = status, gateway = gateway, request_id = REQUEST_ID,
        channel = CHANNEL, request = req }
end

--- Every key of `want` must be in `got` with the same value (recursive).
local function assert_subset(want, got, where)
    for k, v in pairs(want) do
        local g = type(got) == "table" and got ~= json.null and got[k] or nil
        local here = where .. "." .. tostring(k)
        if type(v) == "table" and v ~= json.null then
            assert(type(g) == "table", here .. " is not a table")
            assert_subset(v, g, here)
        elseif v == json.null then
            assert(g == json.null, here .. " should be null")
        else
            assert.are.equal(v, g, here)
        end
    end
end

--- Checks a (status, headers, body) answer against an expectation.
local function check_answer(want, status, headers, body)
    assert.are.equal(want.status, status, type(headers) == "table" and headers.message or nil)
    assert.are.equal("table", type(headers))
    assert.are.equal("string", type(body))
    for name, value in pairs(want.headers or {}) do
        assert.are.equal(value, headers[name], "header " .. name)
    end
    for _, name in ipairs(want.absent_headers or {}) do
        assert.is_nil(headers[name], "header " .. name)
    end
    if want.body ~= nil then
        assert.are.equal(want.body, body)
    end
    if want.body_contains ~= nil then
        assert(body:find(want.body_contains, 1, true),
            "body lacks " .. want.body_contains .. ": " .. body)
    end
    if want.json ~= nil then
        assert.are.equal(canon(want.json), canon(assert(json.decode(body))))
    end
    if want.json_subset ~= nil then
        assert_subset(want.json_subset, assert(json.decode(body)), "body")
    end
end

--- Renders a refusal as the gateway does: host.render_error.
local function render_refusal(err, req)
    return host.render_error(CHANNEL, err.code, err.message, err.status,
        ctx_of(req, err.status, true))
end

--- Runs one fixture through the whole pipeline.
local function run_fixture(fx)
    local expect = fx.expect
    local req, err = prepare(fx.request)
    if expect.prepare_error then
        assert.is_nil(req)
        assert.are.equal(expect.prepare_error.code, err.code)
        assert.are.equal(expect.prepare_error.status, err.status)
        if expect.render_error then
            check_answer(expect.render_error, render_refusal(err, nil))
        end
        return
    end
    assert(req, err and err.message)

    local status, headers, body = host.respond(CHANNEL, req)
    if expect.respond then
        check_answer(expect.respond, status, headers, body)
        return
    end
    assert.is_nil(status)

    if expect.authenticate ~= nil then
        local ok, aerr = host.authenticate(CHANNEL, req)
        if expect.authenticate == true then
            assert(ok, aerr and aerr.message)
        else
            assert.is_nil(ok)
            assert.are.equal(expect.authenticate.code, aerr.code)
            assert.are.equal(expect.authenticate.status, aerr.status)
            if expect.render_error then
                check_answer(expect.render_error, render_refusal(aerr, req))
            end
            return
        end
    end

    local text, contract = host.normalize(CHANNEL, req, known_of(fx.known))
    if expect.error then
        assert.is_nil(text)
        assert.are.equal(expect.error.code, contract.code, contract.message)
        assert.are.equal(expect.error.status, contract.status)
        if expect.render_error then
            check_answer(expect.render_error, render_refusal(contract, req))
        end
        return
    end
    assert(text, contract and contract.message)
    local c = assert(json.decode(text))  -- what the service receives
    assert.are.equal("1.0", c.version)
    assert.are.equal(CHANNEL, c.channel.name)
    assert.are.equal(expect.action, c.action)
    if expect.params ~= nil then
        assert.are.equal(canon(expect.params), canon(c.params))
    end
    if expect.identities ~= nil then
        assert.are.equal(canon(expect.identities), canon(c.customer.identities))
    end
    for _, key in ipairs({ "channel", "client", "locale", "principal" }) do
        if expect[key] ~= nil then
            assert.are.equal(canon(expect[key]), canon(c[key]), key)
        end
    end
    if expect.customer_anonymous ~= nil then
        assert.are.equal(expect.customer_anonymous, c.customer.anonymous)
    end

    if expect.render then
        local r = expect.render
        check_answer(r, host.render(CHANNEL, canon(r.reply),
            ctx_of(req, r.upstream_status or 200, false)))
    end
end

--- A request built from a fixture, changed by `patch(request)`, prepared.
local function fixture_req(name, patch)
    local r = load_fixture(name).request
    if patch then
        patch(r)
    end
    return prepare(r)
end

--- normalize shortcut: returns the decoded contract, or nil, err.
local function normalize(req)
    local text, err = host.normalize(CHANNEL, req, known_of())
    if not text then
        return nil, err
    end
    return assert(json.decode(text))
end

--- render shortcut with a reply table.
local function render(reply, req, status, gateway)
    return host.render(CHANNEL, canon(reply), ctx_of(req, status or 200, gateway or false))
end

--- render_error shortcut for gateway errors.
local function render_error(code, status, req)
    return host.render_error(CHANNEL, code, "gateway says " .. code, status,
        ctx_of(req, status, true))
end

--- Asserts a refusal with code and status.
local function assert_refused(code, status, ok, err)
    assert.is_nil(ok)
    assert.are.equal("table", type(err))
    assert.are.equal(code, err.code, err.message)
    assert.are.equal(status, err.status)
end

describe("plugin " .. CHANNEL .. " loading", function()
    it("loads through the host under its name", function()
        load_plugin()
        local found = false
        for _, name in ipairs(host.names()) do
            found = found or name == CHANNEL
        end
        assert.is_true(found)
    end)
end)

describe("plugin " .. CHANNEL .. " fixtures", function()
    setup(load_plugin)
    local names = fixture_names()
    it("has at least 4 fixtures", function()
        assert(#names >= 4, #names .. " fixtures")
    end)
    for _, name in ipairs(names) do
        it(name, function()
            run_fixture(load_fixture(name))
        end)
    end
end)

describe("plugin miniprogram", function()
    setup(load_plugin)

    describe("routes", function()
        it("joins two to four path segments into the action", function()
            for _, case in ipairs({ { "/miniprogram/order/query/", "order.query" },
                    { "/miniprogram/member/points/history", "member.points.history" },
                    { "/miniprogram/a/b/c/d", "a.b.c.d" } }) do
                local req = assert(fixture_req("order_query", function(r) r.path = case[1] end))
                assert.are.equal(case[2], assert(normalize(req)).action)
            end
        end)

        it("refuses paths that are not a dotted verb with 404", function()
            for _, path in ipairs({ "/miniprogram", "/miniprogram/", "/miniprogram/order",
                    "/miniprogram/Order/Query", "/miniprogram/order/query.json",
                    "/miniprogram/order//query", "/miniprogram/1order/query",
                    "/miniprogram/a/b/c/d/e", "/miniprogram/order/" .. string.rep("q", 33),
                    "/miniprogram/order/qu%0d%0aery", "/web/order/query" }) do
                local req = assert(fixture_req("order_query", function(r) r.path = path end))
                assert_refused("route_not_found", 404, normalize(req))
            end
        end)

        it("refuses methods other than POST and GET with 405", function()
            local req = assert(fixture_req("order_query", function(r) r.method = "PUT" end))
            assert_refused("method_not_allowed", 405, normalize(req))
        end)
    end)

    describe("bodies", function()
        it("refuses JSON values that are not objects", function()
            for _, body in ipairs({ "null", "7", "[1]", "[]", "false", '"x"' }) do
                local req = assert(fixture_req("order_query", function(r) r.body = body end))
                assert_refused("invalid_body", 400, normalize(req))
            end
        end)

        it("takes an empty body as {}", function()
            local req = assert(fixture_req("order_query", function(r) r.body = "" end))
            assert.are.equal("{}", canon(assert(normalize(req)).params))
        end)

        it("refuses a body it cannot read with 415", function()
            local req = assert(fixture_req("order_query", function(r)
                r.headers["content-type"] = "text/plain"
            end))
            assert_refused("unsupported_media_type", 415, normalize(req))
        end)

        it("keeps data as a parameter when the body is not an envelope", function()
            local req = assert(fixture_req("order_query", function(r)
                r.body = '{"data":{"x":1},"order_id":"ORD-1","openid":"oBody"}'
            end))
            local c = assert(normalize(req))
            assert.are.equal('{"data":{"x":1},"order_id":"ORD-1"}', canon(c.params))
            -- the header wins over the body field
            assert.are.equal("o6_bmjrPTlm6_2sgVt7hMZOPfL2M", c.customer.identities[1].value)
        end)

        it("refuses identities of the wrong type or shape", function()
            for _, body in ipairs({ '{"openid":12345}', '{"openid":"o b"}',
                    '{"unionid":{"a":1}}', '{"openid":"' .. string.rep("o", 65) .. '"}' }) do
                local req = assert(fixture_req("envelope", function(r) r.body = body end))
                assert_refused("invalid_identity", 400, normalize(req))
            end
        end)

        it("is anonymous without openid", function()
            local req = assert(fixture_req("envelope", function(r)
                r.body = '{"data":{"coupon_id":"CPN-88"}}'
            end))
            local c = assert(normalize(req))
            assert.are.equal("[]", canon(c.customer.identities))
            assert.is_true(c.customer.anonymous)
        end)

        it("refuses more than 32 query arguments on GET", function()
            local args = {}
            for i = 1, 33 do
                args[i] = "k" .. i .. "=v"
            end
            local req = assert(fixture_req("order_list_get", function(r)
                r.query = table.concat(args, "&")
            end))
            assert_refused("invalid_parameter", 400, normalize(req))
        end)
    end)

    describe("headers", function()
        it("refuses X-WX-Appid and X-WX-Version with control characters", function()
            for _, case in ipairs({ { "x-wx-appid", "wx1\r\nSet-Cookie: a" },
                    { "x-wx-version", "8.0\n44" }, { "x-wx-appid", string.rep("w", 129) } }) do
                local req = assert(fixture_req("order_query", function(r)
                    r.headers[case[1]] = case[2]
                end))
                assert_refused("invalid_header", 400, normalize(req))
            end
        end)

        it("reads the locale from Accept-Language first", function()
            local req = assert(fixture_req("envelope", function(r)
                r.headers["accept-language"] = "en-GB,en;q=0.8"
            end))
            assert.are.equal("en-GB", assert(normalize(req)).locale)
        end)
    end)

    describe("render", function()
        local function errcode_of(body)
            return assert(json.decode(body)).errcode
        end

        it("always answers 200 and maps gateway statuses to errcodes", function()
            local req = assert(fixture_req("order_query"))
            for _, case in ipairs({ { "token_invalid", 401, 40001 }, { "forbidden", 403, 40003 },
                    { "body_malformed", 400, 40000 }, { "body_too_large", 413, 40013 },
                    { "plugin_error", 500, 50000 }, { "upstream_reply_invalid", 502, 50002 },
                    { "plugin_timeout", 504, 50004 } }) do
                local status, headers, body = render_error(case[1], case[2], req)
                assert.are.equal(200, status)
                assert.are.equal("application/json; charset=utf-8", headers["Content-Type"])
                local decoded = assert(json.decode(body))
                assert.are.equal(case[3], decoded.errcode, case[1])
                assert.are.equal(case[1] .. ": gateway says " .. case[1], decoded.errmsg)
                assert.are.equal(REQUEST_ID, decoded.request_id)
                assert.is_nil(decoded.data)
            end
        end)

        it("maps service error codes to errcodes", function()
            for _, case in ipairs({ { "order_not_found", 40004 }, { "forbidden", 40003 },
                    { "invalid_coupon", 40000 }, { "order_conflict", 40009 },
                    { "rate_limited", 40029 }, { "internal_error", 50000 },
                    { "stock_unavailable", 50003 }, { "coupon_exhausted", 40022 } }) do
                local status, _, body = render({ ok = false,
                    error = { code = case[1], message = "m" } }, nil, 500)
                assert.are.equal(200, status)
                assert.are.equal(case[2], errcode_of(body), case[1])
            end
        end)

        it("renders an invalid service reply as errcode 50002", function()
            local status, _, body = host.render(CHANNEL, "not json", ctx_of(nil, 200, false))
            assert.are.equal(200, status)
            assert.are.equal(50002, errcode_of(body))
        end)

        it("renders data null on success", function()
            local _, _, body = host.render(CHANNEL, '{"ok":true,"data":null}', ctx_of(nil, 200, false))
            assert.are.equal('{"data":null,"errcode":0,"errmsg":"ok"}', body)
        end)
    end)
end)
