--- Specs for plugins/ivr.lua: Twilio-style voice webhooks.
--
-- The plugin is loaded through the host exactly as the gateway loads it
-- (host.load with the file's source and "@path"); every fixture of
-- t/fixtures/ivr/ runs through host.prepare, respond, authenticate,
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
local CHANNEL = "ivr"

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

describe("plugin ivr", function()
    setup(load_plugin)

    local XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
    local APOLOGY = XML_HEAD .. '<Response><Say language="en-US">Sorry, we cannot take your '
        .. 'call right now. Please try again later. Goodbye.</Say><Hangup/></Response>'

    describe("authenticate", function()
        it("refuses a request without X-Twilio-Signature", function()
            local req = assert(fixture_req("incoming_call", function(r)
                r.headers["x-twilio-signature"] = nil
            end))
            assert_refused("signature_invalid", 401, host.authenticate(CHANNEL, req))
        end)

        it("signs the query string as part of the URL", function()
            -- speech.json was signed for /ivr/voice?step=menu
            local req = assert(fixture_req("speech", function(r) r.query = "step=other" end))
            assert_refused("signature_invalid", 401, host.authenticate(CHANNEL, req))
            req = assert(fixture_req("speech", function(r) r.query = "" end))
            assert_refused("signature_invalid", 401, host.authenticate(CHANNEL, req))
        end)

        it("depends on base_url and auth_token", function()
            local req = assert(fixture_req("incoming_call", function(r)
                r.settings.base_url = "https://other.example.com"
            end))
            assert_refused("signature_invalid", 401, host.authenticate(CHANNEL, req))
            req = assert(fixture_req("incoming_call", function(r)
                r.settings.base_url = "https://gw.example.com/"
            end))
            assert(host.authenticate(CHANNEL, req))
        end)

        it("refuses a signature with a different case or padding", function()
            local fx = load_fixture("incoming_call")
            local good = fx.request.headers["x-twilio-signature"]
            for _, sig in ipairs({ good:lower(), good:sub(1, -2), good .. "=", " " .. good }) do
                local req = assert(fixture_req("incoming_call", function(r)
                    r.headers["x-twilio-signature"] = sig
                end))
                if sig ~= good then
                    assert_refused("signature_invalid", 401, host.authenticate(CHANNEL, req))
                end
            end
        end)

        it("answers plugin_misconfigured (500) without settings", function()
            for _, settings in ipairs({ false, { base_url = "https://gw.example.com" },
                    { auth_token = "x" }, { auth_token = "x", base_url = "gw.example.com" } }) do
                local req = assert(fixture_req("incoming_call", function(r)
                    r.settings = settings or nil
                end))
                req.settings = settings or nil
                assert_refused("plugin_misconfigured", 500, host.authenticate(CHANNEL, req))
            end
        end)
    end)

    describe("normalize", function()
        it("refuses missing or malformed call fields", function()
            local cases = {
                { "CallSid", nil }, { "CallSid", "CA123" }, { "CallSid", "XX" .. string.rep("a", 32) },
                { "AccountSid", nil }, { "AccountSid", "AC" .. string.rep("g", 32) },
                { "Digits", "1; DROP" }, { "Digits", string.rep("1", 33) },
                { "CallStatus", "dancing" }, { "From", "+1415\r\n5550123" },
                { "SpeechResult", string.rep("a", 1025) },
            }
            for _, case in ipairs(cases) do
                local req = assert(fixture_req("incoming_call"))
                req.body[case[1]] = case[2]
                assert_refused("invalid_request", 400, normalize(req))
            end
        end)

        it("refuses a call of another account with 403", function()
            local req = assert(fixture_req("incoming_call", function(r)
                r.settings.account_sid = "AC00000000000000000000000000000000"
            end))
            assert_refused("account_mismatch", 403, normalize(req))
        end)

        it("refuses other bodies, paths and methods", function()
            local req = assert(fixture_req("incoming_call", function(r)
                r.headers["content-type"] = "application/json"
                r.body = '{"CallSid":"CA5e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"}'
            end))
            assert_refused("unsupported_media_type", 415, normalize(req))
            req = assert(fixture_req("incoming_call", function(r) r.path = "/ivr/sms" end))
            assert_refused("route_not_found", 404, normalize(req))
            req = assert(fixture_req("incoming_call", function(r) r.method = "GET" end))
            assert_refused("method_not_allowed", 405, normalize(req))
        end)

        it("gives no phone identity for an anonymous or client caller", function()
            for _, from in ipairs({ "anonymous", "client:alice", "+0123", "+1", "266696687" }) do
                local req = assert(fixture_req("incoming_call"))
                req.body.From = from
                local c = assert(normalize(req))
                assert.are.equal("[]", canon(c.customer.identities))
                assert.are.equal(from, c.params.from)
            end
        end)

        it("prefers Digits over SpeechResult", function()
            local req = assert(fixture_req("speech"))
            req.body.Digits = "2"
            assert.are.equal("agent.transfer", assert(normalize(req)).action)
        end)

        it("ignores an invalid language setting", function()
            local req = assert(fixture_req("incoming_call", function(r)
                r.settings.language = "en US"
            end))
            assert.are.equal(json.null, assert(normalize(req)).locale)
        end)
    end)

    describe("render", function()
        it("always answers 200 TwiML, apologising for every gateway error", function()
            local req = assert(fixture_req("incoming_call"))
            for _, case in ipairs({ { "signature_invalid", 401 }, { "forbidden", 403 },
                    { "body_malformed", 400 }, { "plugin_error", 500 } }) do
                local status, headers, body = render_error(case[1], case[2], req)
                assert.are.equal(200, status)
                assert.are.equal("text/xml; charset=utf-8", headers["Content-Type"])
                assert.are.equal(APOLOGY, body)
            end
        end)

        it("apologises without the language attribute when there is no request", function()
            local _, _, body = render_error("body_malformed", 400, nil)
            assert.are.equal(XML_HEAD .. "<Response><Say>Sorry, we cannot take your call right now. "
                .. "Please try again later. Goodbye.</Say><Hangup/></Response>", body)
        end)

        it("escapes text and strips characters XML forbids", function()
            local _, _, body = render({ ok = true, data = {
                say = "a & b < c > d \"e\" 'f' ]]> \1\27g" } }, nil)
            local say = assert(body:match("^" .. XML_HEAD:gsub("%p", "%%%0")
                .. "<Response><Say>(.*)</Say></Response>$"))
            assert.truthy(say:find("a &amp; b &lt; c &gt; d ", 1, true))
            assert.truthy(say:find("]]&gt; g", 1, true))
            assert.is_nil(say:find("[%c<>]"))
        end)

        it("refuses to dial anything but an E.164 number", function()
            local req = assert(fixture_req("digits_agent"))
            for _, dial in ipairs({ "+1800<Hangup/>", "sip:agent@example.com", "18005550100", 42 }) do
                local _, _, body = render({ ok = true, data = { say = "x", dial = dial } }, req)
                assert.are.equal(APOLOGY, body)
            end
        end)

        it("accepts gather options within bounds", function()
            local _, _, body = render({ ok = true, data = { say = "Enter your order number",
                gather = { num_digits = 6, timeout = 10 } } }, nil)
            assert.are.equal(XML_HEAD .. '<Response><Gather input="dtmf speech" numDigits="6" '
                .. 'timeout="10"><Say>Enter your order number</Say></Gather></Response>', body)
            _, _, body = render({ ok = true, data = { say = "x",
                gather = { num_digits = 99, timeout = -1 } } }, nil)
            assert.truthy(body:find('numDigits="1">', 1, true))
        end)

        it("answers an empty Response when the service has nothing to say", function()
            local status, _, body = render({ ok = true, data = json.null }, nil)
            assert.are.equal(200, status)
            assert.are.equal(XML_HEAD .. "<Response></Response>", body)
        end)

        it("cuts very long text without breaking UTF-8", function()
            local _, _, body = render({ ok = true, data = { say = string.rep("é", 3000) } }, nil)
            local say = body:match("<Say>(.*)</Say>")
            assert(#say <= 4096)
            assert.is_nil(say:find("[\192-\255]$"))
        end)
    end)
end)
