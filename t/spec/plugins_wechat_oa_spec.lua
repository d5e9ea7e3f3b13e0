--- Specs for plugins/wechat_oa.lua: WeChat official-account server push.
--
-- The plugin is loaded through the host exactly as the gateway loads it
-- (host.load with the file's source and "@path"); every fixture of
-- t/fixtures/wechat_oa/ runs through host.prepare, respond, authenticate,
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
local CHANNEL = "wechat_oa"

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

describe("plugin wechat_oa", function()
    setup(load_plugin)

    local GH = "gh_3a9f1c2b7d4e"
    local USER = "oIWsFt3QGpY5wKqR8xT1zL0mN2bV"

    describe("URL verification (respond)", function()
        it("answers 400 without echostr and 500 without a token", function()
            local req = assert(fixture_req("verify_get", function(r)
                r.query = r.query:gsub("&?echostr=[^&]*", "")
            end))
            local status, headers, body = host.respond(CHANNEL, req)
            assert.are.equal(400, status)
            assert.are.equal("text/plain; charset=utf-8", headers["Content-Type"])
            assert.are.equal("missing echostr", body)
            req = assert(fixture_req("verify_get", function(r) r.settings = nil end))
            req.settings = nil
            assert.are.equal(500, (host.respond(CHANNEL, req)))
        end)

        it("answers 401 when an argument is missing or changed", function()
            for _, arg in ipairs({ "signature", "timestamp", "nonce" }) do
                local req = assert(fixture_req("verify_get", function(r)
                    r.query = r.query:gsub(arg .. "=[^&]*", arg .. "=1")
                end))
                local status, _, body = host.respond(CHANNEL, req)
                assert.are.equal(401, status)
                assert.are.equal("invalid signature", body)
                req = assert(fixture_req("verify_get", function(r)
                    r.query = r.query:gsub("&?" .. arg .. "=[^&]*", "")
                end))
                assert.are.equal(401, (host.respond(CHANNEL, req)))
            end
        end)

        it("never echoes an echostr with control characters or markup", function()
            -- the signature does not cover echostr, so anybody can change it
            for _, echostr in ipairs({ "a%0D%0Ab", "%3Cscript%3E", string.rep("9", 129) }) do
                local req = assert(fixture_req("verify_get", function(r)
                    r.query = r.query:gsub("echostr=[^&]*", function()
                        return "echostr=" .. echostr
                    end)
                end))
                local status, _, body = host.respond(CHANNEL, req)
                if echostr == "%3Cscript%3E" then
                    -- printable, served as text/plain: echoed
                    assert.are.equal(200, status)
                    assert.are.equal("<script>", body)
                else
                    assert.are.equal(400, status)
                end
            end
        end)

        it("leaves POST requests to normalize", function()
            assert.is_nil(host.respond(CHANNEL, assert(fixture_req("text_message"))))
        end)
    end)

    describe("authenticate", function()
        it("refuses a pushed message without signature arguments", function()
            local req = assert(fixture_req("text_message", function(r) r.query = "" end))
            assert_refused("signature_invalid", 401, host.authenticate(CHANNEL, req))
        end)

        it("answers plugin_misconfigured (500) without a token", function()
            local req = assert(fixture_req("text_message"))
            req.settings = {}
            assert_refused("plugin_misconfigured", 500, host.authenticate(CHANNEL, req))
        end)
    end)

    describe("normalize", function()
        local function with_field(name, value)
            local req = assert(fixture_req("text_message"))
            req.body[name] = value
            return req
        end

        it("refuses missing or malformed fields", function()
            for _, case in ipairs({ { "ToUserName", nil }, { "FromUserName", nil },
                    { "FromUserName", "o<x>" }, { "FromUserName", string.rep("o", 65) },
                    { "CreateTime", "yesterday" }, { "CreateTime", nil },
                    { "MsgType", nil }, { "MsgType", "TEXT" }, { "MsgType", "te xt" },
                    { "Content", nil }, { "MsgId", "12ab" } }) do
                assert_refused("invalid_request", 400, normalize(with_field(case[1], case[2])))
            end
        end)

        it("refuses events without a valid Event", function()
            for _, event in ipairs({ false, "", "sub scribe", "1click", string.rep("e", 33) }) do
                local req = assert(fixture_req("menu_click"))
                req.body.Event = event or nil
                assert_refused("invalid_request", 400, normalize(req))
            end
        end)

        it("maps other message types generically", function()
            local req = with_field("MsgType", "miniprogrampage")
            local c = assert(normalize(req))
            assert.are.equal("message.miniprogrampage", c.action)
        end)

        it("reads location messages as numbers", function()
            local req = assert(fixture_req("text_message"))
            req.body.MsgType, req.body.Content = "location", nil
            req.body.Location_X, req.body.Location_Y = "23.134521", "113.358803"
            req.body.Scale, req.body.Label = "20", "位置信息"
            local c = assert(normalize(req))
            assert.are.equal("message.location", c.action)
            assert.are.equal(23.134521, c.params.latitude)
            assert.are.equal(20, c.params.scale)
            req.body.Scale = "big"
            assert_refused("invalid_request", 400, normalize(req))
        end)

        it("refuses GET at normalize", function()
            local req = assert(fixture_req("text_message", function(r) r.method = "PUT" end))
            assert_refused("method_not_allowed", 405, normalize(req))
        end)

        it("lets the host refuse XML with a DOCTYPE (XXE)", function()
            local req, err = fixture_req("text_message", function(r)
                r.body = '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                    .. "<xml><ToUserName>&x;</ToUserName></xml>"
            end)
            assert_refused("body_malformed", 400, req, err)
            local status, headers, body = render_refusal(err, nil)
            assert.are.equal(200, status)
            assert.are.equal("text/plain; charset=utf-8", headers["Content-Type"])
            assert.are.equal("success", body)
        end)
    end)

    describe("render", function()
        local function reply_xml(content)
            return "<xml><ToUserName><![CDATA[" .. USER .. "]]></ToUserName>"
                .. "<FromUserName><![CDATA[" .. GH .. "]]></FromUserName>"
                .. "<CreateTime>1795539998</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                .. "<Content>" .. content .. "</Content></xml>"
        end

        it("splits ]]> across CDATA sections and drops control characters", function()
            local req = assert(fixture_req("text_message"))
            local status, _, body = render({ ok = true, data = { text = "a]]>b\1]]>" } }, req)
            assert.are.equal(200, status)
            assert.are.equal(reply_xml("<![CDATA[a]]]]><![CDATA[>b]]]]><![CDATA[>]]>"), body)
        end)

        it("answers 401 text for a gateway 401 and apologises for other errors", function()
            local req = assert(fixture_req("text_message"))
            local status, headers, body = render_error("signature_invalid", 401, req)
            assert.are.equal(401, status)
            assert.are.equal("text/plain; charset=utf-8", headers["Content-Type"])
            assert.are.equal("invalid signature", body)
            for _, case in ipairs({ { "forbidden", 403 }, { "plugin_rejected", 400 },
                    { "plugin_error", 500 } }) do
                status, headers, body = render_error(case[1], case[2], req)
                assert.are.equal(200, status)
                assert.are.equal("application/xml; charset=utf-8", headers["Content-Type"])
                assert.are.equal(reply_xml("<![CDATA[抱歉，服务暂时不可用，请稍后再试。]]>"), body)
            end
        end)

        it("uses the apology setting", function()
            local req = assert(fixture_req("text_message"))
            req.settings.apology = "Sorry!"
            local _, _, body = render_error("plugin_error", 500, req)
            assert.are.equal(reply_xml("<![CDATA[Sorry!]]>"), body)
        end)

        it("answers success without a request, for GET, and without text", function()
            local status, _, body = render({ ok = true, data = { text = "hi" } }, nil)
            assert.are.equal(200, status)
            assert.are.equal("success", body)
            _, _, body = render({ ok = true, data = { text = "hi" } },
                assert(fixture_req("verify_get")))
            assert.are.equal("success", body)
            for _, data in ipairs({ json.null, {}, { text = "" }, { text = 42 }, "text" }) do
                _, _, body = render({ ok = true, data = data }, assert(fixture_req("text_message")))
                assert.are.equal("success", body)
            end
        end)

        it("does not reply to a sender it cannot trust", function()
            local req = assert(fixture_req("text_message"))
            req.body.FromUserName = "o]]><x>"
            local _, _, body = render({ ok = true, data = { text = "hi" } }, req)
            assert.are.equal("success", body)
        end)
    end)
end)
