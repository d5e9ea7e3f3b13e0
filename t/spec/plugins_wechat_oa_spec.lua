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

local F = dofile("t/spec/plugin_fixtures.lua")(CHANNEL)

local host = F.host
local json = F.json
local assert_refused = F.assert_refused
local fixture_req = F.fixture_req
local load_plugin = F.load_plugin
local normalize = F.normalize
local render = F.render
local render_error = F.render_error
local render_refusal = F.render_refusal


F.describe_loading_and_fixtures(describe, it, setup)

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

        it("asks the gateway for the follower's cases by text", function()
            local req = assert(fixture_req("text_message"))
            for text, want in pairs({ ["cases"] = "case.list", [" Case "] = "case.list",
                    ["case 4821093756"] = "case.get", ["CASE 482-109-3756"] = "case.get",
                    ["4821093756"] = "case.get", ["case 482109375"] = "message.text",
                    ["casework"] = "message.text", ["查订单 12345"] = "message.text" }) do
                req.body.Content = text
                local c = assert(normalize(req))
                assert.are.equal(want, c.action, text)
                if want == "case.get" then
                    assert.are.equal("4821093756", c.params.case_id)
                end
            end
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

        it("refuses a message whose root element is not <xml>", function()
            local req = assert(fixture_req("text_message", function(r)
                r.body = r.body:gsub("^<xml>", "<msg>"):gsub("</xml>$", "</msg>")
            end))
            assert.are.equal("msg", req.xml_root)
            local fields, err = normalize(req)
            assert_refused("invalid_request", 400, fields, err)
            assert.are.equal("the root element must be <xml>", err.message)
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

        it("answers the gateway's case answers as a text naming the case", function()
            local req = assert(fixture_req("text_message"))
            local _, _, body = render({ ok = true, data = { case = {
                id = "4821093756", status = "pending", category = "complaint" } } }, req)
            assert.are.equal(reply_xml("<![CDATA[Case 4821093756 (complaint) is waiting "
                .. "for your answer.]]>"), body)
            _, _, body = render({ ok = true, data = { cases = {} } }, req)
            assert.are.equal(reply_xml("<![CDATA[You have no case with us.]]>"), body)
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
