--- Digests, HMACs, constant-time comparison and base64 for channel
-- signatures, backed by the native module `omni_crypto` (OpenSSL).
--
-- In the gateway the native module is linked in; for the runner and the
-- specs it is build/lib/omni_crypto.so (`make lib`, and
-- `LUA_CPATH="build/lib/?.so;;"`). When it cannot be found, this module
-- still loads, and each function raises an error saying so when called.
--
-- Digests and HMACs return raw bytes: use `hex` (or `base64_encode`)
-- to print or compare them with a channel's signature text.
--
-- @module omni.crypto

local type, error, pcall, tostring = type, error, pcall, tostring
local byte, char, find, format, gsub, lower, match, rep =
      string.byte, string.char, string.find, string.format, string.gsub,
      string.lower, string.match, string.rep

local _M = { _VERSION = "1.0" }

local ok, native = pcall(require, "omni_crypto")
if not ok or type(native) ~= "table" then
    local reason = (match(tostring(native), "^[^\n]*"))
    native = nil

    local function unavailable()
        error("omni.crypto: the native module omni_crypto is not available ("
              .. reason .. ")", 2)
    end

    native = {
        sha1 = unavailable, sha256 = unavailable,
        hmac_sha1 = unavailable, hmac_sha256 = unavailable,
        equals = unavailable,
        base64_encode = unavailable, base64_decode = unavailable,
        aes_cbc_encrypt = unavailable, aes_cbc_decrypt = unavailable,
        random_bytes = unavailable,
    }
    _M.available = false
else
    _M.available = true
end

--- `true` when the native module was found.
-- @field available

--- SHA-1 digest (20 raw bytes).
-- @function sha1
-- @tparam string s
-- @treturn string
_M.sha1 = native.sha1

--- SHA-256 digest (32 raw bytes).
-- @function sha256
-- @tparam string s
-- @treturn string
_M.sha256 = native.sha256

--- HMAC-SHA1 (20 raw bytes).
-- @function hmac_sha1
-- @tparam string key
-- @tparam string s
-- @treturn string
_M.hmac_sha1 = native.hmac_sha1

--- HMAC-SHA256 (32 raw bytes).
-- @function hmac_sha256
-- @tparam string key
-- @tparam string s
-- @treturn string
_M.hmac_sha256 = native.hmac_sha256

--- Compares two strings in constant time (for equal lengths): use it
-- for every signature check.
-- @function equals
-- @tparam string a
-- @tparam string b
-- @treturn boolean
_M.equals = native.equals

--- Standard base64 with padding.
-- @function base64_encode
-- @tparam string s
-- @treturn string
_M.base64_encode = native.base64_encode

--- Decodes standard base64 with padding.
-- @function base64_decode
-- @tparam string s
-- @treturn string|nil the bytes
-- @treturn string|nil `"invalid base64"`
_M.base64_decode = native.base64_decode

--- AES-CBC encryption without padding (pad first: WeChat's scheme pads
-- to 32 bytes).  A key of 16, 24 or 32 bytes picks AES-128/192/256.
-- @function aes_cbc_encrypt
-- @tparam string key 16, 24 or 32 bytes (else an error is raised)
-- @tparam string iv 16 bytes (else an error is raised)
-- @tparam string data whole 16-byte blocks, at most 1 MiB
-- @treturn string|nil the ciphertext, as long as data
-- @treturn string|nil `"aes: the data is not whole 16-byte blocks"`,
--   `"aes: the data is longer than 1048576 bytes"`
_M.aes_cbc_encrypt = native.aes_cbc_encrypt

--- AES-CBC decryption without padding (check and strip it after).
-- @function aes_cbc_decrypt
-- @tparam string key
-- @tparam string iv
-- @tparam string data
-- @treturn string|nil the plaintext, as long as data
-- @treturn string|nil as for `aes_cbc_encrypt`
_M.aes_cbc_decrypt = native.aes_cbc_decrypt

--- Bytes from OpenSSL's generator (nonces, the random prefix of an
-- encrypted reply).
-- @function random_bytes
-- @tparam number n 1 to 1024 (else an error is raised)
-- @treturn string
_M.random_bytes = native.random_bytes


local HEX = {}
for b = 0, 255 do
    HEX[char(b)] = format("%02x", b)
end

-- "%02x" n times, for the digests hex() mostly sees (one format call
-- instead of a gsub callback per byte)
local HEX_FORMATS = {}
for n = 1, 64 do
    HEX_FORMATS[n] = rep("%02x", n)
end


--- Lowercase hexadecimal of raw bytes.
-- @tparam string s
-- @treturn string
-- @usage crypto.hex(crypto.sha1(table.concat(parts)))
function _M.hex(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'hex' (string expected, got "
              .. type(s) .. ")", 2)
    end
    local n = #s
    if n == 0 then
        return ""
    end
    if n <= 64 then
        return format(HEX_FORMATS[n], byte(s, 1, n))
    end
    return (gsub(s, ".", HEX))
end


local UNHEX = {}
for b = 0, 255 do
    UNHEX[format("%02x", b)] = char(b)
end


--- Decodes hexadecimal (either case) to raw bytes.
-- @tparam string s
-- @treturn string|nil the bytes
-- @treturn string|nil `"invalid hex"`
function _M.unhex(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'unhex' (string expected, got "
              .. type(s) .. ")", 2)
    end
    if #s % 2 ~= 0 or find(s, "%X") then
        return nil, "invalid hex"
    end
    return (gsub(lower(s), "..", UNHEX))
end


return _M
