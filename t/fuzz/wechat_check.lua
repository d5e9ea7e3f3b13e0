-- The checks of fuzz_wechat, on every input:
--   omni.wechat.open, given the input as the <Encrypt> text (signed, so
--   the size, base64, AES, padding, length and receiver checks all run),
--   returns a message or nil and an error table, never raises;
--   decrypt of the input framed and encrypted as a sender would (any
--   bytes, so any length field and padding) never raises either;
--   encrypt then decrypt gives the input back.

local wechat = require "omni.wechat"
local crypto = require "omni.crypto"
local base64 = require "omni.base64"

local cfg = assert(wechat.config({
    token = "omniWxToken2026",
    encoding_aes_key = "kWxQ7mR3pZ9tY2vN8cL5hJ1dF6gS4aE0bU3iO7eT2wX",
    appid = "wx8f3c2a1b4d5e6f70",
}, "appid"))

local NOW = 1795540000

local function check(cond, what, s)
    if not cond then
        error(what .. ": " .. string.format("%q", s), 0)
    end
end

local function check_result(ok, msg, err, what, s)
    check(ok, what .. " raised " .. tostring(msg), s)
    if msg == nil then
        check(type(err) == "table" and type(err.code) == "string"
              and type(err.status) == "number", what .. " failed without an"
              .. " error table", s)
    else
        check(type(msg) == "string", what .. " returned no string", s)
    end
end

return function(s)
    local args = { timestamp = tostring(NOW), nonce = "1529380571" }
    args.msg_signature = wechat.signature(cfg.token, args.timestamp,
                                          args.nonce, s)
    local ok, msg, err = pcall(wechat.open, cfg, args, s, NOW)
    check_result(ok, msg, err, "open", s)

    -- the input as the plaintext a sender encrypted, padded to blocks
    -- with its own last byte's worth of anything
    if #s > 0 and #s <= 4096 then
        local pad = (16 - #s % 16) % 16
        local data = crypto.aes_cbc_encrypt(cfg.key, cfg.iv,
                                            s .. string.rep("\0", pad))
        ok, msg, err = pcall(wechat.decrypt, cfg, base64.encode(data))
        check_result(ok, msg, err, "decrypt", s)

        local text = wechat.encrypt(cfg, s)
        check(wechat.decrypt(cfg, text) == s, "decrypt(encrypt(s)) ~= s", s)
    end
end
