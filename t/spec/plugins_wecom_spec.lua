--- Specs for plugins/wecom.lua: WeCom callbacks.  Every fixture of
-- t/fixtures/wecom/ (written by t/fixtures/wxcrypt_fixtures.py, an
-- implementation of the scheme of its own) runs through the host:
-- good messages, bad signature, wrong corp id, tampered ciphertext, bad
-- padding, oversized, replayed timestamp, URL verification.  The
-- encrypted replies are checked in wechat_spec.lua.
local CHANNEL = "wecom"

local F = dofile("t/spec/plugin_fixtures.lua")(CHANNEL)

local host = F.host
local fixture_req = F.fixture_req
local load_plugin = F.load_plugin
local normalize = F.normalize
local render_error = F.render_error
local assert_refused = F.assert_refused

F.describe_loading_and_fixtures(describe, it, setup)

describe("plugin wecom", function()
    setup(load_plugin)

    it("answers 500 for URL verification without its settings", function()
        local req = assert(fixture_req("verify_get", function(r) r.settings.corp_id = nil end))
        assert.are.equal(500, (host.respond(CHANNEL, req)))
    end)

    it("refuses messages it did not open, and other methods", function()
        local req = assert(fixture_req("text_message"))
        assert_refused("plugin_misconfigured", 500, normalize(req))
        req = assert(fixture_req("text_message", function(r) r.method = "PUT" end))
        assert(host.authenticate(CHANNEL, req))
        assert_refused("method_not_allowed", 405, normalize(req))
    end)

    it("refuses a message without its settings as plugin_misconfigured", function()
        local req = assert(fixture_req("text_message", function(r)
            r.settings.encoding_aes_key = "short"
        end))
        assert_refused("plugin_misconfigured", 500, host.authenticate(CHANNEL, req))
    end)

    it("renders 401 as text, and errors of unopened messages as an empty 200", function()
        local status, _, body = render_error("signature_invalid", 401, nil)
        assert.are.equal(401, status)
        assert.are.equal("invalid signature", body)
        status, _, body = render_error("plugin_error", 500, nil)
        assert.are.equal(200, status)
        assert.are.equal("", body)
    end)
end)
