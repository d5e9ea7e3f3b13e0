-- omni.crypto and omni.base64, on the native module omni_crypto
-- (build/lib/omni_crypto.so: `make lib`, LUA_CPATH="build/lib/?.so;;").

local crypto = require "omni.crypto"
local base64 = require "omni.base64"

local hex = crypto.hex

describe("omni.crypto", function()
    if not crypto.available then
        pending("the native module omni_crypto is not built (make lib)")
        return
    end

    it("hashes (FIPS 180 test vectors)", function()
        assert.equal("a9993e364706816aba3e25717850c26c9cd0d89d", hex(crypto.sha1("abc")))
        assert.equal("da39a3ee5e6b4b0d3255bfef95601890afd80709", hex(crypto.sha1("")))
        assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                     hex(crypto.sha256("abc")))
        assert.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                     hex(crypto.sha256("")))
        assert.equal(20, #crypto.sha1("x"))
        assert.equal(32, #crypto.sha256("x"))
    end)

    it("computes HMACs (RFC 2202, RFC 4231)", function()
        assert.equal("de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9",
                     hex(crypto.hmac_sha1("key", "The quick brown fox jumps over the lazy dog")))
        assert.equal("f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
                     hex(crypto.hmac_sha256("key", "The quick brown fox jumps over the lazy dog")))
        assert.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                     hex(crypto.hmac_sha256("Jefe", "what do ya want for nothing?")))
    end)

    it("keys every HMAC afresh: keys in turn, empty and longer than a block", function()
        local long_msg = "Test Using Larger Than Block-Size Key - Hash Key First"
        for _ = 1, 3 do
            assert.equal("aa4ae5e15272d00e95705637ce8a3b55ed402112",
                         hex(crypto.hmac_sha1(string.rep("\170", 80), long_msg)))
            assert.equal("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
                         hex(crypto.hmac_sha1("Jefe", "what do ya want for nothing?")))
            assert.equal("fbdb1d1b18aa6c08324b7d64b71fb76370690e1d",
                         hex(crypto.hmac_sha1("", "")))
            assert.equal("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                         hex(crypto.hmac_sha256(string.rep("\170", 131), long_msg)))
            assert.equal("b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
                         hex(crypto.hmac_sha256("", "")))
            assert.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                         hex(crypto.hmac_sha256("Jefe", "what do ya want for nothing?")))
        end
    end)

    it("keys again only for another key, whichever string holds it", function()
        local jefe = "what do ya want for nothing?"
        local want1 = "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        local want2 = "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
        for i = 1, 3 do
            -- the same key made anew each time: the same interned string
            local key = ("Je" .. "fe"):sub(1, 4 + i - i)
            assert.equal(want1, hex(crypto.hmac_sha1(key, jefe)))
            assert.equal(want1, hex(crypto.hmac_sha1("Jefe", jefe)))
            -- a key of the same length that differs in one byte
            assert.not_equal(want1, hex(crypto.hmac_sha1("Jeff", jefe)))
            assert.equal(want2, hex(crypto.hmac_sha1("key",
                "The quick brown fox jumps over the lazy dog")))
            collectgarbage()
        end
        assert.equal(hex(crypto.hmac_sha256("123", "x")),
                     hex(crypto.hmac_sha256(123, "x")))
        assert.equal(hex(crypto.hmac_sha256("123", "x")),
                     hex(crypto.hmac_sha256(123, "x")))
    end)

    it("handles binary data with NUL bytes", function()
        assert.equal(hex(crypto.sha1("a\0b")), hex(crypto.sha1("a\0b")))
        assert.not_equal(hex(crypto.sha1("a\0b")), hex(crypto.sha1("a")))
    end)

    it("compares", function()
        assert.is_true(crypto.equals("abc", "abc"))
        assert.is_true(crypto.equals("", ""))
        assert.is_false(crypto.equals("abc", "abd"))
        assert.is_false(crypto.equals("abc", "ab"))
        assert.is_false(crypto.equals("a\0", "a\1"))
    end)

    it("raises for non-strings", function()
        assert.has_error(function() crypto.sha1(nil) end)
        assert.has_error(function() crypto.hmac_sha256("k", {}) end)
        assert.has_error(function() crypto.equals("a") end)
        assert.has_error(function() crypto.hex(nil) end)
    end)

    it("converts to and from hex", function()
        assert.equal("00ff10", hex("\0\255\16"))
        assert.equal("", hex(""))
        -- one format call up to 64 bytes, per byte past it: the same text
        for _, n in ipairs({ 1, 20, 63, 64, 65, 200 }) do
            local bytes = {}
            for i = 1, n do
                bytes[i] = string.char((i * 37) % 256)
            end
            local s = table.concat(bytes)
            local want = s:gsub(".", function(c)
                return string.format("%02x", c:byte())
            end)
            assert.equal(want, hex(s))
            assert.equal(s, crypto.unhex(hex(s)))
        end
        assert.equal("\0\255\16", crypto.unhex("00FF10"))
        assert.equal("\171\205", crypto.unhex("abCD"))
        local v, err = crypto.unhex("abc")
        assert.is_nil(v)
        assert.equal("invalid hex", err)
        assert.is_nil((crypto.unhex("zz")))
        assert.has_error(function() crypto.unhex(1) end)
    end)
end)

describe("omni.base64", function()
    if not crypto.available then
        pending("the native module omni_crypto is not built (make lib)")
        return
    end

    it("encodes and decodes (RFC 4648 test vectors)", function()
        local vectors = { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==",
                          fooba = "Zm9vYmE=", foobar = "Zm9vYmFy" }
        for plain, encoded in pairs(vectors) do
            assert.equal(encoded, base64.encode(plain))
            assert.equal(plain, base64.decode(encoded))
            assert.equal(encoded, crypto.base64_encode(plain))
            assert.equal(plain, crypto.base64_decode(encoded))
        end
    end)

    it("round-trips binary data", function()
        local bytes = {}
        for b = 0, 255 do
            bytes[#bytes + 1] = string.char(b)
        end
        local s = table.concat(bytes)
        assert.equal(s, base64.decode(base64.encode(s)))
        assert.equal(s, base64.decode_url(base64.encode_url(s)))
    end)

    it("refuses invalid base64", function()
        for _, bad in ipairs({ "Zg=", "Zg", "Z===", "Zm9v!", "Zm 9v", "Zg==Zg==", "=Zg=", "Zm9v\n" }) do
            local v, err = base64.decode(bad)
            assert.is_nil(v, bad)
            assert.equal("invalid base64", err)
        end
    end)

    it("uses the URL-safe alphabet without padding", function()
        assert.equal("-_8", base64.encode_url("\251\255"))
        assert.equal("\251\255", base64.decode_url("-_8"))
        assert.equal("\251\255", base64.decode_url("-_8="))
        assert.equal("Zg", base64.encode_url("f"))
        assert.equal("f", base64.decode_url("Zg"))
        assert.is_nil((base64.decode_url("Z")))
        assert.is_nil((base64.decode_url("Zg+/")))
        assert.is_nil((base64.decode_url("Z=g")))
    end)

    it("raises for non-strings", function()
        assert.has_error(function() base64.encode(nil) end)
        assert.has_error(function() base64.decode(1) end)
        assert.has_error(function() base64.encode_url({}) end)
        assert.has_error(function() base64.decode_url(nil) end)
    end)
end)

describe("omni.crypto without the native module", function()
    it("loads, and fails only when a function is called", function()
        local saved_loaded = package.loaded["omni.crypto"]
        local saved_native = package.loaded["omni_crypto"]
        local saved_preload = package.preload["omni_crypto"]
        local saved_cpath = package.cpath
        package.loaded["omni.crypto"] = nil
        package.loaded["omni_crypto"] = nil
        package.preload["omni_crypto"] = nil
        package.cpath = ""
        local ok, mod = pcall(require, "omni.crypto")
        package.loaded["omni.crypto"] = saved_loaded
        package.loaded["omni_crypto"] = saved_native
        package.preload["omni_crypto"] = saved_preload
        package.cpath = saved_cpath
        assert.is_true(ok)
        assert.is_false(mod.available)
        assert.equal("00", mod.hex("\0"))
        local ok2, err = pcall(mod.sha1, "x")
        assert.is_false(ok2)
        assert.matches("the native module omni_crypto is not available", err)
    end)
end)
