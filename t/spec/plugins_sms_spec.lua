--- Specs for plugins/sms.lua: Twilio-style messaging webhooks.  Every
-- fixture of t/fixtures/sms/ (signed by t/fixtures/sms_fixtures.py, an
-- implementation of Twilio's validation of its own) runs through the
-- host; then the refusals and rendering the fixtures do not cover.
local CHANNEL = "sms"

local F = dofile("t/spec/plugin_fixtures.lua")(CHANNEL)

local host = F.host
local fixture_req = F.fixture_req
local load_plugin = F.load_plugin
local normalize = F.normalize
local render = F.render
local render_error = F.render_error
local assert_refused = F.assert_refused

F.describe_loading_and_fixtures(describe, it, setup)

describe("plugin sms", function()
    setup(load_plugin)

    local EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

    it("needs auth_token and base_url", function()
        local req = assert(fixture_req("inbound_text", function(r) r.settings = {} end))
        assert_refused("plugin_misconfigured", 500, host.authenticate(CHANNEL, req))
    end)

    it("refuses other routes, methods and media types", function()
        local req = assert(fixture_req("inbound_text", function(r) r.path = "/sms/voice" end))
        assert_refused("route_not_found", 404, normalize(req))
        req = assert(fixture_req("inbound_text", function(r) r.method = "PUT" end))
        assert_refused("method_not_allowed", 405, normalize(req))
        req = assert(fixture_req("inbound_text", function(r)
            r.headers["content-type"] = "text/plain"
        end))
        assert_refused("unsupported_media_type", 415, normalize(req))
    end)

    it("refuses malformed sids, bodies and media counts", function()
        for _, patch in ipairs({
            { "MessageSid=SM1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c", "MessageSid=XX1" },
            { "SmsSid=SM1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c", "SmsSid=XX1" },
            { "AccountSid=AC[%x]+", "AccountSid=ACzz" },
            { "Body=[^&]*", "Body=a%%07b" },
            { "NumMedia=0", "NumMedia=11" },
            { "NumMedia=0", "NumMedia=1" },
            { "MessagingServiceSid=MG[%x]+", "MessagingServiceSid=MGxx" },
        }) do
            local req = assert(fixture_req("inbound_text", function(r)
                r.body = r.body:gsub(patch[1], patch[2])
            end))
            local c, err = normalize(req)
            if patch[1]:find("^SmsSid") then
                assert(c, "SmsSid is only the fallback of MessageSid")
            else
                assert_refused("invalid_request", 400, c, err)
            end
        end
    end)

    it("keeps the text as sent, blanks included, and refuses a long one", function()
        local req = assert(fixture_req("inbound_text", function(r)
            r.body = r.body:gsub("Body=[^&]*", "Body=+STOP+")
        end))
        assert.are.equal(" STOP ", assert(normalize(req)).params.body)
        req = assert(fixture_req("inbound_text", function(r)
            r.body = r.body:gsub("Body=[^&]*", "Body=" .. string.rep("x", 6401))
        end))
        assert_refused("invalid_request", 400, normalize(req))
    end)

    it("serves its mount point itself, and a second mount point", function()
        local req = assert(fixture_req("inbound_text", function(r)
            r.path = "/texts"
            r.location = "=/texts"
        end))
        assert.are.equal("message.text", assert(normalize(req)).action)
    end)

    it("renders data.message, cuts long text, escapes markup", function()
        local req = assert(fixture_req("inbound_text"))
        local _, _, body = render({ ok = true, data = { message = "a & b" } }, req)
        assert.matches("<Message>a &amp; b</Message>", body, 1, true)
        _, _, body = render({ ok = true, data = { text = string.rep("é", 1000) } }, req)
        local text = body:match("<Message>(.*)</Message>")
        assert.are.equal(1600, #text)
        assert.is_true(require("omni.utf8").valid(text))
    end)

    it("answers errors with no message, or the apology", function()
        local status, headers, body = render_error("plugin_error", 500, nil)
        assert.are.equal(200, status)
        assert.are.equal("text/xml; charset=utf-8", headers["Content-Type"])
        assert.are.equal(EMPTY, body)
        local req = assert(fixture_req("inbound_text", function(r)
            r.settings.apology = "Sorry, try again later."
        end))
        _, _, body = render({ ok = false, error = { code = "x", message = "y" } }, req, 503)
        assert.matches("<Message>Sorry, try again later.</Message>", body, 1, true)
    end)
end)
