--- wecom: WeCom (企业微信) callbacks: app messages and events, customer
-- service (微信客服) events, external-contact events.  Always encrypted.
--
-- Settings (req.settings, from `omni_plugin_set <key> <value>`):
--
--     token             required: the callback Token of the WeCom admin console
--     encoding_aes_key  required: its EncodingAESKey (43 characters)
--     corp_id           required: the corp id, the receiver id every
--                       message must carry
--     replay_window     seconds a message's timestamp may be off req.time
--                       (default 300)
--     apology           optional: the text sent back when the service fails
--                       (default "抱歉，服务暂时不可用，请稍后再试。")
--
-- The location needs `omni_auth plugin`.  Mount point: `/wecom` by default,
-- or the location's, or the `prefix` setting's; the path is not routed.
--
-- The scheme is WXBizMsgCrypt (lua/omni/wechat.lua): msg_signature =
-- hex(sha1(sorted token, timestamp, nonce, Encrypt)) in constant time,
-- the timestamp within replay_window of req.time, AES-256-CBC with the
-- EncodingAESKey, and the decrypted message must end with `corp_id`.
--
-- GET ?msg_signature=&timestamp=&nonce=&echostr= (URL verification) is
-- answered by `respond`: the decrypted echostr, 200 text/plain; a bad or
-- expired signature -> 401 "invalid signature"; an echostr that does not
-- decrypt or is not printable -> 400; missing settings -> 500.
--
-- POST ?msg_signature=&timestamp=&nonce= with `<xml><ToUserName/>
-- <AgentID/><Encrypt/></xml>`: `authenticate` opens the message:
-- `signature_invalid` or `signature_expired` (401), `decrypt_failed`
-- (400), `corp_id_mismatch` (403), `message_too_large` (413).
--
-- Action mapping: MsgType text, image, voice, video, location, link ->
-- `message.<type>` with the fields the official account has (content,
-- pic_url, media_id, ...); `event` + Event=X -> `event.<x>` with event_key,
-- change_type, state, welcome_code, user_id, external_user_id, token and
-- open_kfid (customer service: the token to pull the messages with), when
-- sent.  Every action's params hold corp_id (ToUserName), create_time,
-- msg_id and agent_id (strings; null when absent).
--
-- Identities: `wecom_external_userid` = ExternalUserID, `wecom_userid` =
-- FromUserName (unless "sys", the system), else UserID.  app_id = corp id.
--
-- Refusals: `method_not_allowed` (405), `invalid_request` (400),
-- `plugin_misconfigured` (500), and those of `authenticate`.
--
-- Rendering: gateway 401 -> 401 text/plain "invalid signature"; success
-- with a non-empty reply.data.text -> 200 the encrypted passive text reply
-- (`<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`, a fresh
-- nonce, TimeStamp = req.time); success without text -> 200 with an empty
-- body (WeCom shows nothing and does not retry); any other error -> the
-- apology as an encrypted text reply, or an empty body when the message
-- was never opened.
--
-- @module wecom
local omni = require "omni"

local omni_error = omni.error
local settings_of = omni.settings
local wx = omni.wechat

local type = type
local pairs = pairs
local ipairs = ipairs
local find = string.find

local _M = { name = "wecom", version = "1.0", prefix = "/wecom" }

local field = wx.field

local ID_PATTERN = "^[A-Za-z0-9_@%.%-]+$"
local MAX_ID = 64
local TEXT_PLAIN = "text/plain; charset=utf-8"

--- Message types and their fields: the official account's, less
-- shortvideo.
local MESSAGE_FIELDS = {}
for name, list in pairs(wx.MESSAGE_FIELDS) do
    if name ~= "shortvideo" then
        MESSAGE_FIELDS[name] = list
    end
end

local MESSAGES = { messages = MESSAGE_FIELDS, event = {
    { "EventKey", "event_key" }, { "ChangeType", "change_type" },
    { "State", "state" }, { "WelcomeCode", "welcome_code" },
    { "UserID", "user_id" }, { "ExternalUserID", "external_user_id" },
    { "Token", "token" }, { "OpenKfId", "open_kfid" },
    { "Latitude", "latitude", "number" }, { "Longitude", "longitude", "number" },
    { "Precision", "precision", "number" },
} }

local function id(v)
    return type(v) == "string" and #v <= MAX_ID and find(v, ID_PATTERN) ~= nil
end

--- Answers the URL verification GET with the decrypted echostr.
-- @param req the request table built by the host
-- @return status, headers, body; or nil for other methods
function _M.respond(req)
    if req.method ~= "GET" then
        return nil
    end
    local headers = { ["Content-Type"] = TEXT_PLAIN }
    local cfg = wx.config(settings_of(req), "corp_id")
    if not cfg then
        return 500, headers, "wecom is not configured"
    end
    local echostr, err = wx.open(cfg, req.args, req.args.echostr, req.time)
    if not echostr then
        if err.status == 401 then
            return 401, headers, "invalid signature"
        end
        return 400, headers, "invalid echostr"
    end
    if #echostr > 128 or find(echostr, "[^\33-\126]") then
        return 400, headers, "invalid echostr"
    end
    return 200, headers, echostr
end

--- Opens the pushed message: signature, window, decryption, corp id.
-- @param req the request table built by the host
-- @return true, or nil, err
function _M.authenticate(req)
    if req.method ~= "POST" then
        return true             -- normalize refuses it
    end
    local cfg, err = wx.config(settings_of(req), "corp_id")
    if not cfg then
        return nil, err
    end
    local fields
    fields, err = wx.open_message(cfg, req)
    if not fields then
        return nil, err
    end
    req.wecom = { fields = fields, cfg = cfg }
    return true
end

--- Normalizes a decrypted message or event into contract fields.
-- @param req the request table built by the host
-- @return fields, or nil, err
function _M.normalize(req)
    if req.method ~= "POST" then
        return nil, omni_error("method_not_allowed", "callbacks are pushed with POST", 405)
    end
    if type(req.wecom) ~= "table" then
        return nil, omni_error("plugin_misconfigured",
            "wecom needs omni_auth plugin: its messages are encrypted", 500)
    end
    local fields = req.wecom.fields
    local corp = field(fields, "ToUserName")
    if not id(corp) then
        return nil, omni_error("invalid_request", "ToUserName is missing or malformed", 400)
    end
    local from = field(fields, "FromUserName")
    if from and not id(from) then
        return nil, omni_error("invalid_request", "FromUserName is malformed", 400)
    end
    local params = { corp_id = corp }
    local agent = field(fields, "AgentID")
    if agent and (#agent > 32 or not find(agent, "^%d+$")) then
        return nil, omni_error("invalid_request", "AgentID is malformed", 400)
    end
    params.agent_id = agent or omni.null
    local action, err = wx.message_action(fields, params, MESSAGES)
    if not action then
        return nil, err
    end

    local identities = {}
    local external = params.external_user_id
    if external then
        if not id(external) then
            return nil, omni_error("invalid_request", "ExternalUserID is malformed", 400)
        end
        identities[1] = { type = "wecom_external_userid", value = external }
    end
    local user = from ~= "sys" and from or params.user_id
    if user then
        if not id(user) then
            return nil, omni_error("invalid_request", "UserID is malformed", 400)
        end
        identities[#identities + 1] = { type = "wecom_userid", value = user }
    end

    return {
        action = action,
        params = params,
        identities = identities,
        app_id = corp,
    }
end

--- Renders a unified reply as an encrypted passive reply.
-- @param reply {ok=true, data=...} or {ok=false, error={code=, message=}}
-- @param ctx {status=, gateway=, request_id=, channel=, request=}
-- @return status, headers, body
function _M.render(reply, ctx)
    ctx = type(ctx) == "table" and ctx or {}
    local req = ctx.request
    local settings = settings_of(req)
    local content, status = wx.reply_text(reply, ctx, settings)
    if status then
        return 401, { ["Content-Type"] = TEXT_PLAIN }, "invalid signature"
    end
    local wecom = type(req) == "table" and type(req.wecom) == "table" and req.wecom or nil
    local body = wecom and content
        and wx.text_reply(wecom.fields, content, ID_PATTERN)
    if body then
        return 200, { ["Content-Type"] = "application/xml; charset=utf-8" },
            wx.seal(wecom.cfg, body, req.time)
    end
    return 200, { ["Content-Type"] = TEXT_PLAIN }, ""
end

return _M
