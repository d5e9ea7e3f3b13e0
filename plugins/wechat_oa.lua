--- wechat_oa: WeChat official-account server push: plaintext, compatible
-- and safe (encrypted) modes.
--
-- Settings (req.settings, from `omni_plugin_set <key> <value>` in the location):
--
--     token             required: the Token configured in the WeChat admin console
--     encoding_aes_key  the EncodingAESKey (43 characters): turns on the
--                       encrypted modes; needs `appid`
--     appid             the account's AppID, the receiver id every encrypted
--                       message must carry
--     mode              `safe` (the default with encoding_aes_key: only
--                       encrypted messages) or `compatible` (both)
--     replay_window     seconds a message's timestamp may be off req.time
--                       (default 300; encrypted messages)
--     apology           optional: the text sent back when the service fails
--                       (default "抱歉，服务暂时不可用，请稍后再试。")
--
-- The path is not routed (the mount point is `/wechat_oa` by default).
--
-- Plaintext signature: signature = hex(sha1(concat(sort({token, timestamp,
-- nonce})))) (lowercase hex, byte-order sort), compared in constant time
-- with the `signature` query argument.
--
-- Encrypted messages (`encrypt_type=aes`, or a body with <Encrypt> and no
-- MsgType): the WXBizMsgCrypt scheme (lua/omni/wechat.lua): msg_signature
-- = hex(sha1(sorted token, timestamp, nonce, Encrypt)), checked in constant
-- time; the timestamp must be within replay_window of req.time; the
-- decrypted message must end with `appid`.  In compatible mode the
-- plaintext copy of the fields in the body is ignored: only the decrypted
-- message counts.
--
-- GET ?signature=&timestamp=&nonce=&echostr= (URL verification) is answered
-- by `respond`: 200 text/plain echostr; bad or missing signature -> 401
-- "invalid signature"; missing echostr -> 400; no token -> 500.  With
-- `msg_signature` instead, and encoding_aes_key set, echostr is encrypted:
-- its signature and window are checked, and the decrypted text answered.
--
-- POST ?signature=&timestamp=&nonce= with the XML message: `authenticate`
-- verifies the signature (`signature_invalid`, 401), or opens the
-- encrypted message (`signature_invalid` or `signature_expired` 401,
-- `decrypt_failed` 400, `appid_mismatch` 403, `message_too_large` 413).
-- Without encoding_aes_key encrypted messages are `unsupported_encryption`
-- (400); in safe mode plaintext ones are `encryption_required` (400).
--
-- Action mapping (MsgType -> action):
--
--     text                 message.text     content, msg_id
--     image                message.image    pic_url, media_id, msg_id
--     voice                message.voice    media_id, format, recognition, msg_id
--     video, shortvideo    message.<type>   media_id, thumb_media_id, msg_id
--     location             message.location latitude, longitude, scale, label, msg_id
--     link                 message.link     title, description, url, msg_id
--     event + Event=X      event.<x>        event_key, ticket, latitude,
--                                           longitude, precision (when sent)
--     other [a-z_] types   message.<type>   msg_id
--
-- Every action's params also hold `to` (ToUserName, the account),
-- `create_time` (number) and `msg_id` (a string: WeChat MsgIds exceed 2^53;
-- null when absent).  Identity: `wechat_openid` = FromUserName.
-- app_id = ToUserName.
--
-- Refusals: `method_not_allowed` (405), `invalid_request` (400: missing or
-- malformed ToUserName/FromUserName/CreateTime/MsgType/Event/Content),
-- `unsupported_encryption` (400), `encryption_required` (400),
-- `decrypt_failed` (400), `signature_invalid` (401), `signature_expired`
-- (401), `appid_mismatch` (403), `message_too_large` (413),
-- `plugin_misconfigured` (500).
--
-- Rendering:
--
-- * gateway 401 (signature_invalid, token_*) -> 401 text/plain
--   "invalid signature";
-- * success with a non-empty reply.data.text -> 200 passive text reply XML
--   (ToUserName = the sender, FromUserName = the account, CreateTime = the
--   message's CreateTime so rendering stays deterministic), text in CDATA
--   with "]]>" split across sections and XML-forbidden characters removed;
--   encrypted (and signed with a fresh nonce, TimeStamp = req.time) when
--   the message was;
-- * success without text -> 200 text/plain "success" (WeChat then shows
--   nothing and does not retry);
-- * any other error -> 200 apology text message (settings.apology;
--   encrypted when the message was, never in plaintext in safe mode), or
--   "success" when the request's sender and account are unknown (e.g. a
--   body that did not parse).
--
-- @module wechat_oa
local omni = require "omni"

local omni_error = omni.error
local settings_of = omni.settings
local crypto = omni.crypto
local xml = omni.xml
local wx = omni.wechat
local cases = omni.cases

local type = type
local tostring = tostring
local concat = table.concat
local sort = table.sort
local find = string.find
local lower = string.lower
local gsub = string.gsub

local _M = { name = "wechat_oa", version = "1.1", prefix = "/wechat_oa" }

local field = wx.field
local MESSAGES = { event = wx.EVENT_FIELDS, messages = wx.MESSAGE_FIELDS }

local NAME_PATTERN = "^[A-Za-z0-9_%-]+$"
local MAX_NAME = 64

local TEXT_PLAIN = "text/plain; charset=utf-8"

--- A query argument as a string, or nil.
local function arg(req, name)
    local args = type(req.args) == "table" and req.args or {}
    local v = args[name]
    if type(v) == "table" then
        v = v[#v]
    end
    if type(v) ~= "string" or v == "" then
        return nil
    end
    return v
end

--- Checks the signature query arguments against the token.
-- @return true, or nil, reason
local function check_signature(req, token)
    local signature = arg(req, "signature")
    local timestamp = arg(req, "timestamp")
    local nonce = arg(req, "nonce")
    if not signature or not timestamp or not nonce then
        return nil, "signature, timestamp and nonce are required"
    end
    if #timestamp > 32 or #nonce > 128 or #signature > 128 then
        return nil, "signature arguments are too long"
    end
    local parts = { token, timestamp, nonce }
    sort(parts)
    local expected = crypto.hex(crypto.sha1(concat(parts)))
    if not crypto.equals(expected, lower(signature)) then
        return nil, "signature does not match"
    end
    return true
end

--- Answers the URL verification GET: echostr when the signature is valid.
-- @param req the request table built by the host
-- @return status, headers, body; or nil for POST requests
function _M.respond(req)
    if req.method ~= "GET" then
        return nil
    end
    local headers = { ["Content-Type"] = TEXT_PLAIN }
    local settings = settings_of(req)
    local token = settings.token
    if type(token) ~= "string" or token == "" then
        return 500, headers, "wechat_oa is not configured"
    end
    local echostr
    if arg(req, "msg_signature") and settings.encoding_aes_key then
        local cfg = wx.config(settings, "appid")
        if not cfg then
            return 500, headers, "wechat_oa is not configured"
        end
        local err
        echostr, err = wx.open(cfg, req.args, arg(req, "echostr"), req.time)
        if not echostr then
            return err.status == 401 and 401 or 400, headers,
                err.status == 401 and "invalid signature" or "invalid echostr"
        end
    else
        if not check_signature(req, token) then
            return 401, headers, "invalid signature"
        end
        echostr = arg(req, "echostr")
    end
    if not echostr or #echostr > 128 or find(echostr, "[^\33-\126]") then
        return 400, headers, "missing echostr"
    end
    return 200, headers, echostr
end

--- The location's encryption: nil for plaintext mode, or the wechat
-- config and whether plaintext messages are refused (safe mode).
local function encryption(req)
    local settings = settings_of(req)
    if settings.encoding_aes_key == nil then
        return nil
    end
    local cfg, err = wx.config(settings, "appid")
    if not cfg then
        return nil, nil, err
    end
    local mode = settings.mode or "safe"
    if mode ~= "safe" and mode ~= "compatible" then
        return nil, nil, omni_error("plugin_misconfigured",
            "mode must be safe or compatible", 500)
    end
    return cfg, mode == "safe"
end

--- Whether a pushed message is encrypted.
local function is_encrypted(req)
    local encrypt_type = arg(req, "encrypt_type")
    if encrypt_type and encrypt_type ~= "raw" then
        return true
    end
    local body = req.body
    return type(body) == "table" and body.MsgType == nil and body.Encrypt ~= nil
end

--- Verifies the signature of a pushed message; an encrypted one is
-- opened here, its fields kept in req.wechat for normalize and render.
-- @param req the request table built by the host
-- @return true, or nil, err
function _M.authenticate(req)
    local token = settings_of(req).token
    if type(token) ~= "string" or token == "" then
        return nil, omni_error("plugin_misconfigured",
            "wechat_oa needs the setting token (omni_plugin_set)", 500)
    end
    local cfg, safe, err = encryption(req)
    if err then
        return nil, err
    end
    if is_encrypted(req) then
        if not cfg then
            return nil, omni_error("unsupported_encryption",
                "encrypted messages need the setting encoding_aes_key", 400)
        end
        local fields
        fields, err = wx.open_message(cfg, req)
        if not fields then
            return nil, err
        end
        req.wechat = { fields = fields, cfg = cfg }
        return true
    end
    if safe then
        return nil, omni_error("encryption_required",
            "safe mode: only encrypted messages are accepted", 400)
    end
    local ok, reason = check_signature(req, token)
    if not ok then
        return nil, omni_error("signature_invalid", reason, 401)
    end
    return true
end

--- The flat fields of the XML body.
local function body_fields(req)
    local body = req.body
    if type(body) == "table" then
        return body
    end
    local raw = req.raw_body
    if type(raw) ~= "string" or raw == "" then
        return nil, omni_error("invalid_request", "the message body is empty", 400)
    end
    local fields, err = xml.decode_fields(raw)
    if not fields then
        return nil, omni_error("body_malformed", "invalid XML: " .. tostring(err), 400)
    end
    return fields
end

--- Normalizes a pushed message or event into contract fields.
-- @param req the request table built by the host
-- @return fields, or nil, err
function _M.normalize(req)
    if req.method ~= "POST" then
        return nil, omni_error("method_not_allowed", "messages are pushed with POST", 405)
    end
    local fields, err
    if type(req.wechat) == "table" then
        fields = req.wechat.fields
    elseif is_encrypted(req) then
        return nil, omni_error("unsupported_encryption",
            "encrypted messages need omni_auth plugin and the setting encoding_aes_key", 400)
    else
        fields, err = body_fields(req)
        if not fields then
            return nil, err
        end
        if req.xml_root ~= nil and req.xml_root ~= "xml" then
            return nil, omni_error("invalid_request", "the root element must be <xml>", 400)
        end
    end

    local to = field(fields, "ToUserName")
    local from = field(fields, "FromUserName")
    if not to or #to > MAX_NAME or not find(to, NAME_PATTERN) then
        return nil, omni_error("invalid_request", "ToUserName is missing or malformed", 400)
    end
    if not from or #from > MAX_NAME or not find(from, NAME_PATTERN) then
        return nil, omni_error("invalid_request", "FromUserName is missing or malformed", 400)
    end
    local params = { to = to }
    local action
    action, err = wx.message_action(fields, params, MESSAGES)
    if not action then
        return nil, err
    end

    -- "cases", or "case" and a case number (or the number alone): the
    -- follower's own cases, answered by the gateway (docs/cases.md)
    if action == "message.text" and type(params.content) == "string" then
        local content = lower(omni.trimmed(params.content) or "")
        local id = cases.id_of((gsub(content, "^case%s*", "")))
        if content == "cases" or content == "case" then
            action = "case.list"
        elseif id then
            action = "case.get"
            params.case_id = id
        end
    end

    return {
        action = action,
        params = params,
        identities = { { type = "wechat_openid", value = from } },
        app_id = to,
    }
end

--- Renders a unified reply as a passive reply.
-- @param reply {ok=true, data=...} or {ok=false, error={code=, message=}}
-- @param ctx {status=, gateway=, request_id=, channel=, request=}
-- @return status, headers, body
function _M.render(reply, ctx)
    ctx = type(ctx) == "table" and ctx or {}
    local req = ctx.request
    local settings = settings_of(req)
    -- the gateway's own answer to case.list or case.get, as a text
    if type(reply) == "table" and reply.ok == true and type(reply.data) == "table"
            and reply.data.text == nil then
        local summary = cases.summary(reply.data, false)
        if summary then
            reply = { ok = true, data = { text = summary } }
        end
    end
    local content, status = wx.reply_text(reply, ctx, settings)
    if status then
        return 401, { ["Content-Type"] = TEXT_PLAIN }, "invalid signature"
    end

    local wechat = type(req) == "table" and type(req.wechat) == "table" and req.wechat or nil
    local fields = wechat and wechat.fields
    if not wechat and type(req) == "table" and req.method == "POST" and type(req.body) == "table"
            and (settings.encoding_aes_key == nil or settings.mode == "compatible") then
        -- never a plaintext reply in safe mode
        fields = req.body
    end

    local body = fields and content and wx.text_reply(fields, content, NAME_PATTERN)
    if body then
        if wechat then
            body = wx.seal(wechat.cfg, body, req.time)
        end
        return 200, { ["Content-Type"] = "application/xml; charset=utf-8" }, body
    end
    return 200, { ["Content-Type"] = TEXT_PLAIN }, "success"
end

return _M
