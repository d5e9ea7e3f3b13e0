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

local F = dofile("t/spec/plugin_fixtures.lua")(CHANNEL)

local host = F.host
local json = F.json
local assert_refused = F.assert_refused
local canon = F.canon
local fixture_req = F.fixture_req
local load_fixture = F.load_fixture
local load_plugin = F.load_plugin
local normalize = F.normalize
local render = F.render
local render_error = F.render_error


F.describe_loading_and_fixtures(describe, it, setup)

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

        it("signs a repeated parameter once per distinct value, sorted", function()
            local crypto = require "omni.crypto"
            local body = "Digits=2&CallSid=CA1&Digits=1&Digits=2"
            local function with(sig)
                return assert(fixture_req("incoming_call", function(r)
                    r.body = body
                    r.headers["x-twilio-signature"] = sig
                end))
            end
            local function sign(data)
                return crypto.base64_encode(crypto.hmac_sha1(
                    load_fixture("incoming_call").request.settings.auth_token, data))
            end
            local url = "https://gw.example.com/ivr/voice"
            assert(host.authenticate(CHANNEL,
                with(sign(url .. "CallSidCA1" .. "Digits1" .. "Digits2"))))
            -- in the order sent, or with the duplicate kept, it does not verify
            assert_refused("signature_invalid", 401, host.authenticate(CHANNEL,
                with(sign(url .. "CallSidCA1" .. "Digits2" .. "Digits1"))))
            assert_refused("signature_invalid", 401, host.authenticate(CHANNEL,
                with(sign(url .. "CallSidCA1" .. "Digits1" .. "Digits2" .. "Digits2"))))
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

        it("asks the gateway for the caller's cases: 3 lists, 10 digits read one", function()
            local req = assert(fixture_req("digits_agent"))
            req.body.Digits = "3"
            assert.are.equal("case.list", assert(normalize(req)).action)
            req.body.Digits = "4821093756"
            local c = assert(normalize(req))
            assert.are.equal("case.get", c.action)
            assert.are.equal("4821093756", c.params.case_id)
            for _, digits in ipairs({ "482109375", "48210937561", "4" }) do
                req.body.Digits = digits
                assert.are.equal("ivr.menu", assert(normalize(req)).action)
            end
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
                say = "a & b < c > d \"e\" 'f' ]]> \1\27g\127h" } }, nil)
            local say = assert(body:match("^" .. XML_HEAD:gsub("%p", "%%%0")
                .. "<Response><Say>(.*)</Say></Response>$"))
            assert.truthy(say:find("a &amp; b &lt; c &gt; d ", 1, true))
            assert.truthy(say:find("]]&gt; gh", 1, true))
            assert.is_nil(say:find("[%c<>]"))
        end)

        it("speaks the gateway's case answers, a list with a 10-digit gather", function()
            local _, _, body = render({ ok = true, data = { cases = {
                { id = "4821093756", status = "open", category = "complaint" } } } }, nil)
            assert.are.equal(XML_HEAD .. '<Response><Gather input="dtmf speech" numDigits="10">'
                .. "<Say>You have one case. Case 4 8 2 1 0 9 3 7 5 6 (complaint) is being "
                .. "handled. To hear one, key in its number.</Say></Gather></Response>", body)
            _, _, body = render({ ok = true, data = { cases = {} } }, nil)
            assert.are.equal(XML_HEAD .. "<Response><Say>You have no case with us.</Say></Response>",
                body)
            _, _, body = render({ ok = true, data = { case = {
                id = "4821093756", status = "closed", category = "complaint" } } }, nil)
            assert.truthy(body:find("Case 4 8 2 1 0 9 3 7 5 6 (complaint) is closed.", 1, true))
            -- a service's own say wins
            _, _, body = render({ ok = true, data = { say = "Hi", cases = {} } }, nil)
            assert.are.equal(XML_HEAD .. "<Response><Say>Hi</Say></Response>", body)
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
