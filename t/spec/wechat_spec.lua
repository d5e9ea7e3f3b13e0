--- Specs for omni.crypto's AES-CBC and random bytes, lua/omni/wechat.lua
-- (WeChat's WXBizMsgCrypt scheme) against the fixtures an independent
-- implementation wrote (t/fixtures/wxcrypt_fixtures.py, Python and
-- `cryptography`), and the encrypted replies of the wechat_oa and wecom
-- plugins.
local crypto = require "omni.crypto"
local wechat = require "omni.wechat"
local json = require "omni.json"
local form = require "omni.form"
local xml = require "omni.xml"

local F = dofile("t/spec/plugin_fixtures.lua")("wechat_oa")
local read_file = F.read_file

local function fixture(name)
    return assert(json.decode(read_file("t/fixtures/" .. name .. ".json")))
end

local function unhex(s)
    return assert(crypto.unhex(s))
end

describe("omni.crypto AES-CBC", function()
    -- NIST SP 800-38A, F.2.5 and F.2.1 (CBC-AES256 and -AES128 encrypt)
    local PLAIN = unhex("6bc1bee22e409f96e93d7e117393172a"
        .. "ae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52ef"
        .. "f69f2445df4f9b17ad2b417be66c3710")
    local IV = unhex("000102030405060708090a0b0c0d0e0f")

    it("matches the NIST vectors, both ways", function()
        local key = unhex("603deb1015ca71be2b73aef0857d7781"
                          .. "1f352c073b6108d72d9810a30914dff4")
        local want = "f58c4c04d6e5f1ba779eabfb5f7bfbd6"
            .. "9cfc4e967edb808d679f777bc6702c7d39f23369a9d9bacfa530e26304231461"
            .. "b2eb05e2c39be9fcda6c19078c6a9d1b"
        assert.are.equal(want, crypto.hex(crypto.aes_cbc_encrypt(key, IV, PLAIN)))
        assert.are.equal(PLAIN, crypto.aes_cbc_decrypt(key, IV, unhex(want)))
        key = unhex("2b7e151628aed2a6abf7158809cf4f3c")
        assert.are.equal("7649abac8119b246cee98e9b12e9197d",
            crypto.hex(crypto.aes_cbc_encrypt(key, IV, PLAIN)):sub(1, 32))
    end)

    it("refuses partial blocks and oversized data with nil, err", function()
        local key = string.rep("k", 32)
        for _, data in ipairs({ "x", string.rep("x", 17), string.rep("x", 31) }) do
            local out, err = crypto.aes_cbc_decrypt(key, IV, data)
            assert.is_nil(out)
            assert.matches("whole 16%-byte blocks", err)
        end
        local out, err = crypto.aes_cbc_encrypt(key, IV, string.rep("x", 1024 * 1024 + 16))
        assert.is_nil(out)
        assert.matches("longer than 1048576", err)
        assert.are.equal("", crypto.aes_cbc_encrypt(key, IV, ""))
    end)

    it("raises for a wrong key or IV length", function()
        for _, key in ipairs({ "", string.rep("k", 15), string.rep("k", 33) }) do
            assert.has_error(function()
                crypto.aes_cbc_encrypt(key, IV, string.rep("x", 16))
            end)
        end
        assert.has_error(function()
            crypto.aes_cbc_decrypt(string.rep("k", 32), "short", string.rep("x", 16))
        end)
    end)

    it("gives random bytes, 1 to 1024", function()
        local a, b = crypto.random_bytes(16), crypto.random_bytes(16)
        assert.are.equal(16, #a)
        assert.are_not.equal(a, b)
        assert.are.equal(1024, #crypto.random_bytes(1024))
        assert.has_error(function() crypto.random_bytes(0) end)
        assert.has_error(function() crypto.random_bytes(1025) end)
    end)
end)


describe("omni.wechat", function()
    local fx = fixture("wechat_oa/safe_text_message").request
    local cfg = assert(wechat.config(fx.settings, "appid"))
    local args = form.decode(fx.query)
    local encrypt = assert(xml.fields(assert(xml.decode(fx.body)))).Encrypt

    it("signs as the independent implementation does", function()
        assert.are.equal(args.msg_signature,
            wechat.signature(cfg.token, args.timestamp, args.nonce, encrypt))
    end)

    it("opens the independent implementation's message", function()
        local message = assert(wechat.open(cfg, args, encrypt, fx.time))
        assert.matches("<Content><!%[CDATA%[查订单 12345%]%]></Content>", message)
    end)

    it("refuses in a fixed order: size, signature, window, padding, receiver", function()
        local _, err = wechat.open(cfg, args, string.rep("A", wechat.MAX_ENCRYPT + 1), fx.time)
        assert.are.equal("message_too_large", err.code)
        _, err = wechat.open(cfg, { timestamp = args.timestamp, nonce = args.nonce },
                              encrypt, fx.time)
        assert.are.equal("signature_invalid", err.code)
        _, err = wechat.open(cfg, args, encrypt, fx.time + 301)
        assert.are.equal("signature_expired", err.code)
        _, err = wechat.open(cfg, args, encrypt, fx.time - 301)
        assert.are.equal("signature_expired", err.code)
        assert.truthy(wechat.open(cfg, args, encrypt, fx.time + 300))
        local other = assert(wechat.config({ token = cfg.token,
            encoding_aes_key = fx.settings.encoding_aes_key, appid = "wx0" }, "appid"))
        _, err = wechat.open(other, args, encrypt, fx.time)
        assert.are.equal("appid_mismatch", err.code)
        assert.are.equal(403, err.status)
    end)

    it("round-trips its own encryption, a fresh prefix each time", function()
        local a, b = wechat.encrypt(cfg, "<xml>hi</xml>"), wechat.encrypt(cfg, "<xml>hi</xml>")
        assert.are_not.equal(a, b)
        assert.are.equal("<xml>hi</xml>", wechat.decrypt(cfg, a))
        local long = string.rep("長", 5000)
        assert.are.equal(long, wechat.decrypt(cfg, wechat.encrypt(cfg, long)))
    end)

    it("refuses bad settings as plugin_misconfigured", function()
        for _, s in ipairs({
            { token = "t", encoding_aes_key = "short", appid = "wx1" },
            { token = "t", encoding_aes_key = fx.settings.encoding_aes_key },
            { encoding_aes_key = fx.settings.encoding_aes_key, appid = "wx1" },
            { token = "t", encoding_aes_key = fx.settings.encoding_aes_key,
              appid = "wx1", replay_window = "0" },
            { token = "t", encoding_aes_key = fx.settings.encoding_aes_key,
              appid = "wx1", replay_window = "1h" },
        }) do
            local c, err = wechat.config(s, "appid")
            assert.is_nil(c)
            assert.are.equal("plugin_misconfigured", err.code)
        end
    end)

    it("seals a reply that opens with the scheme's own steps", function()
        local sealed = wechat.seal(cfg, "<xml><Content>好</Content></xml>", 1795540001)
        local f = xml.fields(assert(xml.decode(sealed)))
        assert.are.equal("1795540001", f.TimeStamp)
        assert.are.equal(f.MsgSignature,
            wechat.signature(cfg.token, f.TimeStamp, f.Nonce, f.Encrypt))
        assert.are.equal("<xml><Content>好</Content></xml>", wechat.decrypt(cfg, f.Encrypt))
    end)
end)


describe("encrypted replies", function()
    for _, case in ipairs({
        { "wechat_oa", "wechat_oa/safe_text_message", "appid", "oIWsFt3QGpY5wKqR8xT1zL0mN2bV" },
        { "wechat_oa", "wechat_oa/compatible_encrypted", "appid", "oIWsFt3QGpY5wKqR8xT1zL0mN2bV" },
        { "wecom", "wecom/text_message", "corp_id", "zhangsan" },
    }) do
        local channel, name, receiver, sender = case[1], case[2], case[3], case[4]
        it(name .. ": the reply is encrypted for the receiver, signed, fresh", function()
            local P = dofile("t/spec/plugin_fixtures.lua")(channel)
            P.load_plugin()
            local fx = fixture(name).request
            local req = assert(P.prepare(fx))
            assert(P.host.authenticate(channel, req))
            assert(P.host.normalize(channel, req, P.known_of()))
            local status, headers, body = P.render({ ok = true, data = { text = "已发货" } }, req)
            assert.are.equal(200, status)
            assert.are.equal("application/xml; charset=utf-8", headers["Content-Type"])
            local f = xml.fields(assert(xml.decode(body)))
            local c = assert(wechat.config(fx.settings, receiver))
            assert.are.equal(tostring(fx.time), f.TimeStamp)
            assert.are.equal(f.MsgSignature,
                wechat.signature(c.token, f.TimeStamp, f.Nonce, f.Encrypt))
            local inner = xml.fields(assert(xml.decode(assert(wechat.decrypt(c, f.Encrypt)))))
            assert.are.equal(sender, inner.ToUserName)
            assert.are.equal("已发货", inner.Content)
            assert.are.equal("text", inner.MsgType)
            local _, _, again = P.render({ ok = true, data = { text = "已发货" } }, req)
            assert.are_not.equal(body, again)
            -- nothing to say: "success", in plaintext as WeChat accepts it
            status, _, body = P.render({ ok = true, data = {} }, req)
            assert.are.equal(200, status)
            assert.are.equal(channel == "wecom" and "" or "success", body)
        end)
    end
end)
