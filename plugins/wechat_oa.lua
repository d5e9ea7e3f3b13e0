--- wechat_oa: WeChat official-account server push (plaintext mode).
--
-- Settings (req.settings, from `omni_plugin_set <key> <value>` in the location):
--
--     token     required: the Token configured in the WeChat admin console
--     apology   optional: the text sent back when the service fails
--               (default "抱歉，服务暂时不可用，请稍后再试。")
--
-- Signature: signature = hex(sha1(concat(sort({token, timestamp, nonce}))))
-- (lowercase hex, byte-order sort), compared in constant time with the
-- `signature` query argument.
--
-- GET ?signature=&timestamp=&nonce=&echostr= (URL verification) is answered
-- by `respond`: 200 text/plain echostr; bad or missing signature -> 401
-- "invalid signature"; missing echostr -> 400; no token -> 500.
--
-- POST ?signature=&timestamp=&nonce= with the XML message: `authenticate`
-- verifies the signature (`signature_invalid`, 401); encrypted mode
-- (`encrypt_type=aes`, or a body with only <Encrypt>) is refused with
-- `unsupported_encryption` (400).
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
-- `unsupported_encryption` (400), `signature_invalid` (401),
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
-- * success without text -> 200 text/plain "success" (WeChat then shows
--   nothing and does not retry);
-- * any other error -> 200 apology text message (settings.apology), or
--   "success" when the request's sender and account are unknown (e.g. a
--   body that did not parse).
--
-- @module wechat_oa
local omni = require "omni"

local omni_error = omni.error
local settings_of = omni.settings
local crypto = omni.crypto
local xml = omni.xml

local type = type
local ipairs = ipairs
local tonumber = tonumber
local tostring = tostring
local concat = table.concat
local sort = table.sort
local find = string.find
local gsub = string.gsub
local sub = string.sub
local lower = string.lower

local _M = { name = "wechat_oa", version = "1.0", prefix = "/wechat_oa" }

local DEFAULT_APOLOGY = "抱歉，服务暂时不可用，请稍后再试。"
local MAX_CONTENT = 4096
local NAME_PATTERN = "^[A-Za-z0-9_%-]+$"
local MAX_NAME = 64

local TEXT_PLAIN = "text/plain; charset=utf-8"

--- Per message type: the XML fields copied into params (XML name, param
-- name, "number" to convert).
local MESSAGE_FIELDS = {
    text = { { "Content", "content" } },
    image = { { "PicUrl", "pic_url" }, { "MediaId", "media_id" } },
    voice = { { "MediaId", "media_id" }, { "Format", "format" },
        { "Recognition", "recognition" } },
    video = { { "MediaId", "media_id" }, { "ThumbMediaId", "thumb_media_id" } },
    shortvideo = { { "MediaId", "media_id" }, { "ThumbMediaId", "thumb_media_id" } },
    location = { { "Location_X", "latitude", "number" }, { "Location_Y", "longitude", "number" },
        { "Scale", "scale", "number" }, { "Label", "label" } },
    link = { { "Title", "title" }, { "Description", "description" }, { "Url", "url" } },
}

local EVENT_FIELDS = {
    { "EventKey", "event_key" }, { "Ticket", "ticket" },
    { "Latitude", "latitude", "number" }, { "Longitude", "longitude", "number" },
    { "Precision", "precision", "number" },
}

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
    local token = settings_of(req).token
    if type(token) ~= "string" or token == "" then
        return 500, headers, "wechat_oa is not configured"
    end
    if not check_signature(req, token) then
        return 401, headers, "invalid signature"
    end
    local echostr = arg(req, "echostr")
    if not echostr or #echostr > 128 or find(echostr, "[^\33-\126]") then
        return 400, headers, "missing echostr"
    end
    return 200, headers, echostr
end

--- Verifies the signature of a pushed message.
-- @param req the request table built by the host
-- @return true, or nil, err
function _M.authenticate(req)
    local token = settings_of(req).token
    if type(token) ~= "string" or token == "" then
        return nil, omni_error("plugin_misconfigured",
            "wechat_oa needs the setting token (omni_plugin_set)", 500)
    end
    local ok, reason = check_signature(req, token)
    if not ok then
        return nil, omni_error("signature_invalid", reason, 401)
    end
    return true
end

--- An XML field as a string (trimmed only for single-line values), or nil.
local function field(fields, name)
    local v = fields[name]
    if type(v) ~= "string" or v == "" then
        return nil
    end
    return v
end

--- Copies the listed fields into params; nil, message on bad values.
local function copy_fields(fields, list, params)
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
    local doc, err = xml.decode(raw)
    if not doc then
        return nil, omni_error("body_malformed", "invalid XML: " .. tostring(err), 400)
    end
    return xml.fields(doc)
end

--- Normalizes a pushed message or event into contract fields.
-- @param req the request table built by the host
-- @return fields, or nil, err
function _M.normalize(req)
    if req.method ~= "POST" then
        return nil, omni_error("method_not_allowed", "messages are pushed with POST", 405)
    end
    local encrypt_type = arg(req, "encrypt_type")
    if encrypt_type and encrypt_type ~= "raw" then
        return nil, omni_error("unsupported_encryption",
            "encrypted messages are not supported: use plaintext mode", 400)
    end
    local fields, err = body_fields(req)
    if not fields then
        return nil, err
    end
    if type(req.xml) == "table" and req.xml.name ~= nil and req.xml.name ~= "xml" then
        return nil, omni_error("invalid_request", "the root element must be <xml>", 400)
    end

    local to = field(fields, "ToUserName")
    local from = field(fields, "FromUserName")
    local msg_type = field(fields, "MsgType")
    if not msg_type and field(fields, "Encrypt") then
        return nil, omni_error("unsupported_encryption",
            "encrypted messages are not supported: use plaintext mode", 400)
    end
    if not to or #to > MAX_NAME or not find(to, NAME_PATTERN) then
        return nil, omni_error("invalid_request", "ToUserName is missing or malformed", 400)
    end
    if not from or #from > MAX_NAME or not find(from, NAME_PATTERN) then
        return nil, omni_error("invalid_request", "FromUserName is missing or malformed", 400)
    end
    local create_time = field(fields, "CreateTime")
    if not create_time or #create_time > 12 or not find(create_time, "^%d+$") then
        return nil, omni_error("invalid_request", "CreateTime is missing or malformed", 400)
    end
    if not msg_type or #msg_type > 32 or not find(msg_type, "^[a-z][a-z0-9_]*$") then
        return nil, omni_error("invalid_request", "MsgType is missing or malformed", 400)
    end
    local msg_id = field(fields, "MsgId")
    if msg_id and (#msg_id > 32 or not find(msg_id, "^%d+$")) then
        return nil, omni_error("invalid_request", "MsgId is malformed", 400)
    end

    local params = {
        to = to,
        create_time = tonumber(create_time),
        msg_id = msg_id or omni.json.null,
    }
    local action, ok, message
    if msg_type == "event" then
        local event = field(fields, "Event")
        if not event or #event > 32 or not find(event, "^[A-Za-z][A-Za-z0-9_]*$") then
            return nil, omni_error("invalid_request", "Event is missing or malformed", 400)
        end
        action = "event." .. lower(event)
        ok, message = copy_fields(fields, EVENT_FIELDS, params)
    else
        action = "message." .. msg_type
        if msg_type == "text" and not field(fields, "Content") then
            return nil, omni_error("invalid_request", "Content is missing", 400)
        end
        ok, message = copy_fields(fields, MESSAGE_FIELDS[msg_type] or {}, params)
    end
    if not ok then
        return nil, omni_error("invalid_request", message, 400)
    end

    return {
        action = action,
        params = params,
        identities = { { type = "wechat_openid", value = from } },
        app_id = to,
    }
end

--- A CDATA section holding s: "]]>" is split across two sections and the
-- characters XML 1.0 forbids are removed.
local function cdata(s)
    return xml.cdata(xml.strip(s))
end

--- The passive text reply.
local function text_reply(fields, content)
    local sender = field(fields, "FromUserName")
    local account = field(fields, "ToUserName")
    if not sender or not account or #sender > MAX_NAME or #account > MAX_NAME
            or not find(sender, NAME_PATTERN) or not find(account, NAME_PATTERN) then
        return nil
    end
    local create_time = field(fields, "CreateTime")
    if not create_time or not find(create_time, "^%d+$") or #create_time > 12 then
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

--- Renders a unified reply as a passive reply.
-- @param reply {ok=true, data=...} or {ok=false, error={code=, message=}}
-- @param ctx {status=, gateway=, request_id=, channel=, request=}
-- @return status, headers, body
function _M.render(reply, ctx)
    ctx = type(ctx) == "table" and ctx or {}
    local ok = type(reply) == "table" and reply.ok == true
    if not ok and ctx.gateway and tonumber(ctx.status) == 401 then
        return 401, { ["Content-Type"] = TEXT_PLAIN }, "invalid signature"
    end

    local req = ctx.request
    local fields = type(req) == "table" and req.method == "POST" and type(req.body) == "table"
        and req.body or nil
    local content
    if ok then
        local data = reply.data
        content = type(data) == "table" and type(data.text) == "string" and data.text or nil
    else
        content = settings_of(req).apology
        if type(content) ~= "string" or content == "" then
            content = DEFAULT_APOLOGY
        end
    end

    local body = fields and content and content ~= "" and text_reply(fields, content)
    if body then
        return 200, { ["Content-Type"] = "application/xml; charset=utf-8" }, body
    end
    return 200, { ["Content-Type"] = TEXT_PLAIN }, "success"
end

return _M
