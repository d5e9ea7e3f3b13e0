--- What the WeChat-family plugins (wechat_oa, wecom) share: the message
-- encryption (the WXBizMsgCrypt scheme) of the official accounts' safe and
-- compatible modes and of WeCom callbacks, the message fields that become
-- params, and the passive text reply.
--
-- * The key is the 43-character EncodingAESKey of the admin console:
--   AES-256 key = base64 of it plus "=", IV = the key's first 16 bytes.
-- * Plaintext = 16 random bytes, the message's length (4 bytes, big
--   endian), the message, the receiver id (the official account's appid,
--   or the WeCom corp id); PKCS#7 padding to 32 bytes; AES-256-CBC; then
--   base64: the `<Encrypt>` text.
-- * msg_signature = hex(sha1(concat(sort({token, timestamp, nonce,
--   encrypt})))), compared in constant time.
--
-- The cipher is OpenSSL's (omni.crypto); this module only frames.
--
--     local wechat = require "omni.wechat"
--     local cfg, err = wechat.config(req.settings, "appid")
--     local xml_text, err = wechat.open(cfg, args, encrypt, req.time)
--     local reply = wechat.seal(cfg, inner_xml, req.time)
--
-- @module omni.wechat

local type, tonumber, assert, ipairs = type, tonumber, assert, ipairs
local byte, char, find, format, gsub, lower, rep, sub =
      string.byte, string.char, string.find, string.format, string.gsub,
      string.lower, string.rep, string.sub
local concat, sort = table.concat, table.sort
local floor = math.floor

local crypto = require "omni.crypto"
local base64 = require "omni.base64"
local xml = require "omni.xml"
local json_null = require("omni.json").null

local _M = { _VERSION = "1.0" }

--- The longest `<Encrypt>` (or encrypted echostr) text accepted, in
-- bytes of base64: 24 KiB of message, far above WeChat's.
_M.MAX_ENCRYPT = 32768
local MAX_ENCRYPT = _M.MAX_ENCRYPT
local BLOCK = 32
local DEFAULT_WINDOW = 300
local MAX_WINDOW = 86400

local function fail(code, message, status)
    return { code = code, message = message, status = status }
end

-- decoded EncodingAESKeys: a location's key is decoded once
local KEYS = {}
local nkeys = 0


--- The AES key and IV of an EncodingAESKey.
-- @tparam string encoding_aes_key 43 characters of base64
-- @treturn string|nil the key (32 bytes)
-- @treturn string the IV (16 bytes), or the reason it is not a key
function _M.key(encoding_aes_key)
    if type(encoding_aes_key) ~= "string" or #encoding_aes_key ~= 43
       or find(encoding_aes_key, "[^A-Za-z0-9+/]")
    then
        return nil, "encoding_aes_key must be 43 characters of base64"
    end
    local key = KEYS[encoding_aes_key]
    if not key then
        -- the 43rd character's two low bits are not part of the key
        key = crypto.base64_decode(encoding_aes_key .. "=")
        if not key or #key ~= 32 then
            return nil, "encoding_aes_key must be 43 characters of base64"
        end
        if nkeys >= 64 then
            KEYS, nkeys = {}, 0
        end
        KEYS[encoding_aes_key] = key
        nkeys = nkeys + 1
    end
    return key, sub(key, 1, 16)
end


--- msg_signature: hex(sha1) of the sorted token, timestamp, nonce and
-- encrypted text.
-- @treturn string 40 hexadecimal digits
function _M.signature(token, timestamp, nonce, encrypt)
    local parts = { token, timestamp, nonce, encrypt }
    sort(parts)
    return crypto.hex(crypto.sha1(concat(parts)))
end


--- A location's encryption settings, checked.
-- @tparam table settings `req.settings`: `token`, `encoding_aes_key`,
--   the receiver id under the name `receiver` says, `replay_window`
--   (seconds, 300 by default, at most 86400)
-- @tparam string receiver "appid" or "corp_id"
-- @treturn table|nil `{token=, key=, iv=, receiver=, window=}`
-- @treturn table|nil `plugin_misconfigured` (500)
function _M.config(settings, receiver)
    local token = settings.token
    local key, iv = _M.key(settings.encoding_aes_key)
    local id = settings[receiver]
    local window = settings.replay_window
    if window == nil then
        window = DEFAULT_WINDOW
    else
        window = tonumber(window)
        if not window or window ~= floor(window) or window < 1
           or window > MAX_WINDOW
        then
            return nil, fail("plugin_misconfigured", "replay_window must be"
                             .. " seconds from 1 to " .. MAX_WINDOW, 500)
        end
    end
    if type(token) ~= "string" or token == "" or not key
       or type(id) ~= "string" or id == "" or #id > 128
    then
        return nil, fail("plugin_misconfigured", "encrypted mode needs the"
                         .. " settings token, encoding_aes_key (43"
                         .. " characters) and " .. receiver, 500)
    end
    return { token = token, key = key, iv = iv, receiver = id,
             receiver_name = receiver, window = window }
end


--- Decrypts an `<Encrypt>` text (no signature check: see `open`).
-- @tparam table cfg from `config`
-- @tparam string encrypt the base64 text
-- @treturn string|nil the message
-- @treturn table|nil `decrypt_failed` (400), or `<receiver>_mismatch`
--   (403) when the receiver id is another's
function _M.decrypt(cfg, encrypt)
    local data = base64.decode(encrypt)
    if not data or #data == 0 or #data % BLOCK ~= 0 then
        return nil, fail("decrypt_failed", "the encrypted text is not"
                         .. " base64 of whole blocks", 400)
    end
    local plain, err = crypto.aes_cbc_decrypt(cfg.key, cfg.iv, data)
    if not plain then
        return nil, fail("decrypt_failed", err, 400)
    end
    local n = #plain
    local pad = byte(plain, n)
    if pad < 1 or pad > BLOCK or sub(plain, n - pad + 1) ~= rep(char(pad), pad)
    then
        return nil, fail("decrypt_failed", "bad padding", 400)
    end
    n = n - pad
    if n < 20 then
        return nil, fail("decrypt_failed", "the plaintext is too short", 400)
    end
    local b1, b2, b3, b4 = byte(plain, 17, 20)
    local len = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    if 20 + len > n then
        return nil, fail("decrypt_failed", "the message length is wrong",
                         400)
    end
    local receiver = sub(plain, 21 + len, n)
    if not crypto.equals(receiver, cfg.receiver) then
        return nil, fail(cfg.receiver_name .. "_mismatch", "the message is"
                         .. " for another " .. cfg.receiver_name, 403)
    end
    return sub(plain, 21, 20 + len)
end


--- Checks and opens an encrypted message (or echostr): size, signature
-- (constant time), timestamp window, then decryption and the receiver.
-- @tparam table cfg from `config`
-- @tparam table args the query arguments: `msg_signature`, `timestamp`,
--   `nonce`
-- @tparam string encrypt the `<Encrypt>` text (or `echostr`)
-- @tparam number now the request's time (`req.time`)
-- @treturn string|nil the message
-- @treturn table|nil `message_too_large` (413), `signature_invalid`
--   (401), `signature_expired` (401), `decrypt_failed` (400),
--   `<receiver>_mismatch` (403)
function _M.open(cfg, args, encrypt, now)
    if type(encrypt) ~= "string" or encrypt == "" then
        return nil, fail("invalid_request", "the encrypted text is missing",
                         400)
    end
    if #encrypt > MAX_ENCRYPT then
        return nil, fail("message_too_large", "the encrypted text is longer"
                         .. " than " .. MAX_ENCRYPT .. " bytes", 413)
    end
    local signature, timestamp, nonce = args.msg_signature, args.timestamp,
                                        args.nonce
    if type(signature) ~= "string" or type(timestamp) ~= "string"
       or type(nonce) ~= "string" or nonce == ""
    then
        return nil, fail("signature_invalid", "msg_signature, timestamp and"
                         .. " nonce are required", 401)
    end
    if #signature > 64 or #nonce > 128 or #timestamp > 12
       or not find(timestamp, "^%d+$")
    then
        return nil, fail("signature_invalid", "signature arguments are"
                         .. " malformed", 401)
    end
    local expected = _M.signature(cfg.token, timestamp, nonce, encrypt)
    if not crypto.equals(expected, lower(signature)) then
        return nil, fail("signature_invalid", "msg_signature does not match",
                         401)
    end
    local age = now - tonumber(timestamp)
    if age > cfg.window or age < -cfg.window then
        return nil, fail("signature_expired", "the timestamp is outside the"
                         .. " replay window", 401)
    end
    return _M.decrypt(cfg, encrypt)
end


--- Encrypts a message for the receiver (a fresh random prefix).
-- @tparam table cfg from `config`
-- @tparam string message
-- @treturn string the base64 text
function _M.encrypt(cfg, message)
    local n = #message
    local body = crypto.random_bytes(16)
                 .. char(floor(n / 16777216) % 256, floor(n / 65536) % 256,
                         floor(n / 256) % 256, n % 256)
                 .. message .. cfg.receiver
    local pad = BLOCK - #body % BLOCK
    local data = assert(crypto.aes_cbc_encrypt(cfg.key, cfg.iv,
                                               body .. rep(char(pad), pad)))
    return base64.encode(data)
end


--- An encrypted passive reply: the message encrypted, signed with a
-- fresh nonce.
-- @tparam table cfg from `config`
-- @tparam string message the plaintext reply XML
-- @tparam number now the timestamp to sign (`req.time`)
-- @treturn string `<xml><Encrypt>..</Encrypt><MsgSignature>..`
function _M.seal(cfg, message, now)
    local encrypt = _M.encrypt(cfg, message)
    local timestamp = format("%d", now)
    local nonce = crypto.hex(crypto.random_bytes(8))
    return "<xml><Encrypt><![CDATA[" .. encrypt .. "]]></Encrypt>"
           .. "<MsgSignature><![CDATA["
           .. _M.signature(cfg.token, timestamp, nonce, encrypt)
           .. "]]></MsgSignature><TimeStamp>" .. timestamp
           .. "</TimeStamp><Nonce><![CDATA[" .. nonce .. "]]></Nonce></xml>"
end



-------------------------------------------------------------------------
-- messages
-------------------------------------------------------------------------

--- The longest text field copied into params, and reply content, in bytes.
_M.MAX_CONTENT = 4096
local MAX_CONTENT = _M.MAX_CONTENT
local MAX_NAME = 64

--- Per message type: the XML fields copied into params (XML name, param
-- name, "number" to convert).
_M.MESSAGE_FIELDS = {
    text = { { "Content", "content" } },
    image = { { "PicUrl", "pic_url" }, { "MediaId", "media_id" } },
    voice = { { "MediaId", "media_id" }, { "Format", "format" },
        { "Recognition", "recognition" } },
    video = { { "MediaId", "media_id" }, { "ThumbMediaId", "thumb_media_id" } },
    shortvideo = { { "MediaId", "media_id" },
        { "ThumbMediaId", "thumb_media_id" } },
    location = { { "Location_X", "latitude", "number" },
        { "Location_Y", "longitude", "number" },
        { "Scale", "scale", "number" }, { "Label", "label" } },
    link = { { "Title", "title" }, { "Description", "description" },
        { "Url", "url" } },
}

--- The fields of events copied into params.
_M.EVENT_FIELDS = {
    { "EventKey", "event_key" }, { "Ticket", "ticket" },
    { "Latitude", "latitude", "number" }, { "Longitude", "longitude", "number" },
    { "Precision", "precision", "number" },
}


--- An XML field as a non-empty string, or nil.
function _M.field(fields, name)
    local v = fields[name]
    if type(v) ~= "string" or v == "" then
        return nil
    end
    return v
end
local field = _M.field


--- Copies the listed fields into params.
-- @treturn true|nil
-- @treturn string the field that is not a number or too long
function _M.copy_fields(fields, list, params)
    for _, spec in ipairs(list) do
        local v = field(fields, spec[1])
        if v then
            if spec[3] == "number" then
                v = tonumber(v)
                if not v then
                    return nil, spec[1] .. " is not a number"
                end
            elseif #v > MAX_CONTENT then
                return nil, spec[1] .. " is too long"
            end
            params[spec[2]] = v
        end
    end
    return true
end


-- a CDATA section holding s: "]]>" split across two sections, the
-- characters XML 1.0 forbids removed
local function cdata(s)
    return xml.cdata(xml.strip(s))
end


--- The passive text reply to a message: to its sender, from its
-- receiver, at its CreateTime (so rendering stays deterministic); content
-- cut to MAX_CONTENT bytes on a character boundary.
-- @tparam table fields the message's fields
-- @tparam string content
-- @tparam string pattern what sender and receiver ids must match
-- @treturn string|nil the XML; nil when the ids are missing or malformed
function _M.text_reply(fields, content, pattern)
    local sender = field(fields, "FromUserName")
    local account = field(fields, "ToUserName")
    if not sender or not account or #sender > MAX_NAME or #account > MAX_NAME
       or not find(sender, pattern) or not find(account, pattern)
    then
        return nil
    end
    local create_time = field(fields, "CreateTime")
    if not create_time or not find(create_time, "^%d+$")
       or #create_time > 12
    then
        create_time = "0"
    end
    if #content > MAX_CONTENT then
        content = sub(content, 1, MAX_CONTENT)
        content = gsub(content, "[\192-\255][\128-\191]*$", "")
    end
    return "<xml><ToUserName>" .. cdata(sender) .. "</ToUserName>"
        .. "<FromUserName>" .. cdata(account) .. "</FromUserName>"
        .. "<CreateTime>" .. create_time .. "</CreateTime>"
        .. "<MsgType><![CDATA[text]]></MsgType>"
        .. "<Content>" .. cdata(content) .. "</Content></xml>"
end



--- Opens a pushed message: `<Encrypt>` of the body, checked and decrypted
-- (`open`), then parsed: the fields of its `<xml>` document.
-- @tparam table cfg from `config`
-- @tparam table req the request (`args`, `body`, `time`)
-- @treturn table|nil the message's fields
-- @treturn table|nil the refusal of `open`, or `decrypt_failed` (400)
function _M.open_message(cfg, req)
    local body = type(req.body) == "table" and req.body or {}
    local message, err = _M.open(cfg, req.args, body.Encrypt, req.time)
    if not message then
        return nil, err
    end
    local fields, root = xml.decode_fields(message)
    if not fields or root ~= "xml" then
        return nil, fail("decrypt_failed", "the decrypted message is not an"
                         .. " <xml> document", 400)
    end
    return fields
end


--- The action of a message and its common params: CreateTime (a
-- number), MsgId (a string: WeChat's exceed 2^53; null when absent), and
-- the fields `lists` names for its type.  MsgType `event` with Event=X
-- is `event.<x>` (`lists.event`), any other type `message.<type>`
-- (`lists.messages[type]`); a text message needs its Content.
-- @tparam table fields the message's fields
-- @tparam table params where the params go
-- @tparam table lists `{ event = {...}, messages = {type = {...}} }`
-- @treturn string|nil the action
-- @treturn table|nil `invalid_request` (400) naming the field
function _M.message_action(fields, params, lists)
    local create_time = field(fields, "CreateTime")
    if not create_time or #create_time > 12 or not find(create_time, "^%d+$")
    then
        return nil, fail("invalid_request", "CreateTime is missing or"
                         .. " malformed", 400)
    end
    local msg_type = field(fields, "MsgType")
    if not msg_type or #msg_type > 32
       or not find(msg_type, "^[a-z][a-z0-9_]*$")
    then
        return nil, fail("invalid_request", "MsgType is missing or"
                         .. " malformed", 400)
    end
    local msg_id = field(fields, "MsgId")
    if msg_id and (#msg_id > 32 or not find(msg_id, "^%d+$")) then
        return nil, fail("invalid_request", "MsgId is malformed", 400)
    end
    params.create_time = tonumber(create_time)
    params.msg_id = msg_id or json_null

    local action, ok, message
    if msg_type == "event" then
        local event = field(fields, "Event")
        if not event or #event > 32
           or not find(event, "^[A-Za-z][A-Za-z0-9_]*$")
        then
            return nil, fail("invalid_request", "Event is missing or"
                             .. " malformed", 400)
        end
        action = "event." .. lower(event)
        ok, message = _M.copy_fields(fields, lists.event, params)
    else
        action = "message." .. msg_type
        if msg_type == "text" and not field(fields, "Content") then
            return nil, fail("invalid_request", "Content is missing", 400)
        end
        ok, message = _M.copy_fields(fields, lists.messages[msg_type] or {},
                                     params)
    end
    if not ok then
        return nil, fail("invalid_request", message, 400)
    end
    return action
end



--- The text apology of the WeChat-family channels when a service fails.
_M.DEFAULT_APOLOGY = "抱歉，服务暂时不可用，请稍后再试。"


--- What a render answers: `nil, 401` for the gateway's 401 (answered as
-- text, "invalid signature"), else the text to reply with: the service's
-- `data.text` on success (nil when there is none), the `apology` setting
-- (or `DEFAULT_APOLOGY`) on an error.
-- @param reply the unified reply
-- @tparam table ctx the render context
-- @tparam table settings the location's settings
-- @treturn string|nil the text
-- @treturn number|nil 401
function _M.reply_text(reply, ctx, settings)
    local ok = type(reply) == "table" and reply.ok == true
    if ok then
        local data = reply.data
        return type(data) == "table" and type(data.text) == "string"
               and data.text ~= "" and data.text or nil
    end
    if ctx.gateway and tonumber(ctx.status) == 401 then
        return nil, 401
    end
    local apology = settings.apology
    if type(apology) ~= "string" or apology == "" then
        apology = _M.DEFAULT_APOLOGY
    end
    return apology
end


return _M
