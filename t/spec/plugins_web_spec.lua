--- Specs for plugins/web.lua: REST JSON for browser SPAs.
--
-- The plugin is loaded through the host exactly as the gateway loads it
-- (host.load with the file's source and "@path"); every fixture of
-- t/fixtures/web/ runs through host.prepare, respond, authenticate,
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
local CHANNEL = "web"

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

describe("plugin web", function()
    setup(load_plugin)

    describe("routes", function()
        it("maps every route of the table", function()
            local cases = {
                { "GET", "/web/orders", "order.list" },
                { "GET", "/web/orders/", "order.list" },
                { "GET", "/web/orders/A-1_b", "order.query" },
                { "GET", "/web/profile", "customer.profile" },
            }
            for _, case in ipairs(cases) do
                local req = assert(fixture_req("profile_get", function(r)
                    r.method, r.path, r.query = case[1], case[2], ""
                end))
                local c = assert(normalize(req))
                assert.are.equal(case[3], c.action)
            end
        end)

        it("ignores the query string outside order.list", function()
            local req = assert(fixture_req("order_query", function(r)
                r.query = "_=1795539999000&order_id=evil"
            end))
            local c = assert(normalize(req))
            assert.are.equal('{"order_id":"ORD-20261124-0042"}', canon(c.params))
        end)

        it("refuses unknown, malformed and traversing paths with 404", function()
            local paths = { "/web", "/web/", "/web/orders//x", "/web/orders/../profile",
                "/web/orders/" .. string.rep("a", 65), "/web/orders/a%20b",
                "/web/orders/ORD-1/refund/now", "/api/orders", "/web/Orders" }
            for _, path in ipairs(paths) do
                local req = assert(fixture_req("order_query", function(r) r.path = path end))
                assert_refused("route_not_found", 404, normalize(req))
            end
        end)

        it("refuses a known path with another method with 405", function()
            local req = assert(fixture_req("profile_update", function(r) r.method = "POST" end))
            local ok, err = normalize(req)
            assert_refused("method_not_allowed", 405, ok, err)
            local status, headers = render_refusal(err, req)
            assert.are.equal(405, status)
            assert.are.equal("GET, OPTIONS, PUT", headers.Allow)
        end)
    end)

    describe("bodies", function()
        it("refuses JSON values that are not objects", function()
            for _, body in ipairs({ "null", "42", '"text"', "true", "[1,2]", "[]" }) do
                local req = assert(fixture_req("order_create", function(r) r.body = body end))
                assert_refused("invalid_body", 400, normalize(req))
            end
        end)

        it("requires a body for order.create and customer.update", function()
            for _, name in ipairs({ "order_create", "profile_update" }) do
                local req = assert(fixture_req(name, function(r) r.body = "" end))
                assert_refused("invalid_body", 400, normalize(req))
            end
        end)

        it("accepts a refund without a body", function()
            local req = assert(fixture_req("order_refund", function(r)
                r.body = ""
                r.headers["content-type"] = nil
            end))
            local c = assert(normalize(req))
            assert.are.equal("order.refund", c.action)
            assert.are.equal('{"order_id":"ORD-20261124-0042"}', canon(c.params))
        end)

        it("refuses a form body with 415", function()
            local req = assert(fixture_req("order_create", function(r)
                r.headers["content-type"] = "application/x-www-form-urlencoded"
                r.body = "sku=SKU-1&qty=2"
            end))
            assert_refused("unsupported_media_type", 415, normalize(req))
        end)

        it("accepts +json media types", function()
            local req = assert(fixture_req("profile_update", function(r)
                r.headers["content-type"] = "application/merge-patch+json"
                r.body = '{"nickname":"Bob"}'
            end))
            local c = assert(normalize(req))
            assert.are.equal('{"nickname":"Bob"}', canon(c.params))
        end)

        it("lets the host refuse malformed JSON", function()
            local req, err = fixture_req("order_create", function(r) r.body = '{"items":' end)
            assert_refused("body_malformed", 400, req, err)
        end)
    end)

    describe("query arguments of order.list", function()
        it("converts the numeric ones and refuses bad numbers", function()
            for _, query in ipairs({ "page=-1", "page=1.5", "limit=1e3", "offset=", "page_size=9999999999" }) do
                local req = assert(fixture_req("order_list", function(r) r.query = query end))
                assert_refused("invalid_parameter", 400, normalize(req))
            end
        end)

        it("refuses more than 32 arguments", function()
            local args = {}
            for i = 1, 33 do
                args[i] = "a" .. i .. "=1"
            end
            local req = assert(fixture_req("order_list", function(r)
                r.query = table.concat(args, "&")
            end))
            assert_refused("invalid_parameter", 400, normalize(req))
        end)
    end)

    describe("headers", function()
        it("refuses metadata headers with control characters or too long", function()
            local cases = {
                { "x-app-id", "shop\r\nX-Evil: 1" },
                { "x-app-id", string.rep("a", 129) },
                { "x-device-id", "dev ice" },
                { "x-client-version", "3.14\0" },
                { "x-client-version", string.rep("1", 65) },
            }
            for _, case in ipairs(cases) do
                local req = assert(fixture_req("order_query", function(r)
                    r.headers[case[1]] = case[2]
                end))
                assert_refused("invalid_header", 400, normalize(req))
            end
        end)

        it("ignores an Accept-Language that is not a language tag", function()
            for _, value in ipairs({ "*", "q=0.5", "x", "zh-CN-toolongsubtag", "" }) do
                local req = assert(fixture_req("order_query", function(r)
                    r.headers["accept-language"] = value
                end))
                local c = assert(normalize(req))
                assert.are.equal(json.null, c.locale)
            end
        end)

        it("turns zh_CN into zh-CN", function()
            local req = assert(fixture_req("order_query", function(r)
                r.headers["accept-language"] = "zh_CN"
            end))
            assert.are.equal("zh-CN", assert(normalize(req)).locale)
        end)
    end)

    describe("CORS", function()
        it("answers a preflight without Origin without the allow-origin header", function()
            local req = assert(fixture_req("preflight", function(r) r.headers.origin = nil end))
            local status, headers, body = host.respond(CHANNEL, req)
            assert.are.equal(204, status)
            assert.is_nil(headers["Access-Control-Allow-Origin"])
            assert.are.equal("", body)
        end)

        it("never echoes a malformed Origin (CRLF, paths, other schemes)", function()
            local origins = { "https://shop.example.com\r\nSet-Cookie: a=1",
                "https://shop.example.com/path", "javascript:alert(1)", "null",
                "https://" .. string.rep("a", 300) .. ".com" }
            for _, origin in ipairs(origins) do
                local req = assert(fixture_req("preflight", function(r)
                    r.headers.origin = origin
                end))
                local status, headers = host.respond(CHANNEL, req)
                assert.are.equal(204, status)
                assert.is_nil(headers["Access-Control-Allow-Origin"])
                status, headers = render({ ok = true, data = {} }, req)
                assert.are.equal(200, status)
                assert.is_nil(headers["Access-Control-Allow-Origin"])
            end
        end)

        it("does not answer other methods directly", function()
            local req = assert(fixture_req("order_query"))
            assert.is_nil(host.respond(CHANNEL, req))
        end)
    end)

    describe("render", function()
        it("renders gateway errors with their own status", function()
            local req = assert(fixture_req("order_query"))
            for _, case in ipairs({ { "token_expired", 401 }, { "forbidden", 403 },
                    { "body_malformed", 400 }, { "plugin_error", 500 },
                    { "upstream_reply_invalid", 502 }, { "body_too_large", 413 } }) do
                local status, headers, body = render_error(case[1], case[2], req)
                assert.are.equal(case[2], status)
                assert.are.equal("application/json; charset=utf-8", headers["Content-Type"])
                assert.are.equal("https://shop.example.com", headers["Access-Control-Allow-Origin"])
                local decoded = assert(json.decode(body))
                assert.are.equal(case[1], decoded.error.code)
                assert.are.equal("gateway says " .. case[1], decoded.error.message)
                assert.are.equal(REQUEST_ID, decoded.request_id)
                if case[2] == 401 then
                    assert.are.equal("Bearer", headers["WWW-Authenticate"])
                end
            end
        end)

        it("renders gateway errors without a request", function()
            local status, headers, body = render_error("token_missing", 401, nil)
            assert.are.equal(401, status)
            assert.is_nil(headers["Access-Control-Allow-Origin"])
            assert.are.equal("token_missing", assert(json.decode(body)).error.code)
        end)

        it("maps service error codes to statuses", function()
            local cases = {
                { "not_found", 404 }, { "customer_not_found", 404 },
                { "unauthorized", 401 }, { "forbidden", 403 }, { "order_forbidden", 403 },
                { "permission_denied", 403 }, { "conflict", 409 }, { "order_conflict", 409 },
                { "email_exists", 409 }, { "rate_limited", 429 }, { "invalid_amount", 400 },
                { "coupon_invalid", 400 }, { "address_required", 400 },
                { "internal_error", 500 }, { "payment_unavailable", 503 },
                { "upstream_reply_invalid", 502 }, { "sku_out_of_stock", 422 },
            }
            for _, case in ipairs(cases) do
                local status = render({ ok = false, error = { code = case[1], message = "m" } },
                    nil, 200, false)
                assert.are.equal(case[2], status, case[1])
            end
        end)

        it("uses the upstream error status for unknown codes", function()
            local status = render({ ok = false, error = { code = "teapot", message = "m" } }, nil, 418)
            assert.are.equal(418, status)
        end)

        it("renders an invalid service reply as 502", function()
            local req = assert(fixture_req("order_query"))
            local status, _, body = host.render(CHANNEL, '{"ok":"yes"}', ctx_of(req, 200, false))
            assert.are.equal(502, status)
            assert.are.equal("upstream_reply_invalid", assert(json.decode(body)).error.code)
        end)

        it("renders data null and keeps {} and [] apart", function()
            local _, _, body = host.render(CHANNEL, '{"ok":true,"data":null}', ctx_of(nil, 200, false))
            assert.are.equal('{"data":null}', body)
            _, _, body = host.render(CHANNEL, '{"ok":true,"data":{"a":{},"b":[]}}', ctx_of(nil, 200, false))
            assert.are.equal('{"data":{"a":{},"b":[]}}', body)
        end)
    end)
end)
