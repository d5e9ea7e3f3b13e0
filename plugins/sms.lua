--- sms: inbound text messages, Twilio-style messaging webhooks.
--
-- Route: `POST /sms/message` (or the mount point itself, `POST /sms`) with
-- an application/x-www-form-urlencoded body as Twilio sends it
-- (MessageSid, AccountSid, MessagingServiceSid, From, To, Body, NumMedia,
-- MediaUrl0, MediaContentType0, ..., NumSegments, ApiVersion).  The mount
-- point is `/sms` by default, or the location's or the `prefix`
-- setting's (docs/plugins.md, "Mount points").
--
-- Settings (req.settings, from `omni_plugin_set <key> <value>`):
--
--     auth_token   required by authenticate: the account's auth token
--     base_url     required by authenticate: the public scheme://host[:port]
--                  Twilio calls; the signed URL is base_url .. req.path
--                  (.. "?" .. req.query when not empty)
--     account_sid  optional: when set, AccountSid must equal it (403)
--     language     optional: the locale of the messages (e.g. en-US)
--     apology      optional: the text sent back when the service fails
--                  (default: no reply at all, which costs nothing)
--
-- authenticate: the IVR's scheme, Twilio's request validation
-- (lua/omni/twilio.lua): base64(HMAC-SHA1(auth_token, URL .. sorted
-- name..value pairs)) against X-Twilio-Signature in constant time.
-- Failure: `signature_invalid` (401); missing settings:
-- `plugin_misconfigured` (500).
--
-- Action mapping: `message.text`, or `message.media` when NumMedia > 0.
-- params: message_sid, account_sid, messaging_service_sid, from, to, body
-- (the text, "" when only media), num_segments (number), num_media
-- (number), media ([{url, content_type}], at most 10).  Identity: `phone`
-- = From when it is E.164.  app_id = AccountSid, client_version =
-- ApiVersion, locale = settings.language.
--
-- Refusals: `route_not_found` (404), `method_not_allowed` (405),
-- `unsupported_media_type` (415), `invalid_request` (400: MessageSid or
-- AccountSid missing or malformed, Body longer than 6400 bytes or with
-- control characters, bad NumMedia or media), `account_mismatch`
-- (403).
--
-- Rendering: ALWAYS HTTP 200 with `Content-Type: text/xml` messaging
-- TwiML.  A success with reply.data.text (or data.message) ->
-- `<Response><Message>text</Message></Response>` (text XML-escaped, cut
-- to 1600 bytes on a character boundary); a success without text, and
-- every error, -> `<Response></Response>` (no reply), or the `apology`
-- setting's `<Message>` for errors.
--
-- @module sms
local omni = require "omni"

local omni_error = omni.error
local settings_of = omni.settings
local twilio = omni.twilio
local field = twilio.field

local type = type
local tonumber = tonumber
local find = string.find
local truncate = omni.utf8.truncate

local _M = { name = "sms", version = "1.0", prefix = "/sms" }

local MAX_BODY = 1600
local MAX_MEDIA = 10
local HEADERS = { ["Content-Type"] = "text/xml; charset=utf-8" }

--- Verifies X-Twilio-Signature (omni.twilio).
-- @param req the request table built by the host
-- @return true, or nil, err
function _M.authenticate(req)
    return twilio.authenticate(req, "sms")
end

--- The media of the message: [{url, content_type}], or nil, message.
local function media_list(body, n)
    local media = omni.json.array({})
    for i = 0, n - 1 do
        local url = field(body, "MediaUrl" .. i)
        local content_type = field(body, "MediaContentType" .. i)
        if not url or #url > 1024 or not find(url, "^https://[%w%.%-]+/[%w%-._~/%%]*$") then
            return nil, "MediaUrl" .. i .. " is missing or malformed"
        end
        if content_type and (#content_type > 128 or not find(content_type, "^[%w%-.+]+/[%w%-.+]+$")) then
            return nil, "MediaContentType" .. i .. " is malformed"
        end
        media[i + 1] = { url = url, content_type = content_type or omni.null }
    end
    return media
end

--- Normalizes an inbound message into contract fields.
-- @param req the request table built by the host
-- @return fields, or nil, err
function _M.normalize(req)
    local body, account_sid = twilio.webhook(req, "message", true)
    if not body then
        return nil, account_sid
    end
    local settings = settings_of(req)
    local message_sid = field(body, "MessageSid") or field(body, "SmsSid")
    if not message_sid or #message_sid ~= 34 or not find(message_sid, "^[SM]M%x+$") then
        return nil, omni_error("invalid_request", "MessageSid is missing or malformed", 400)
    end
    local service_sid = field(body, "MessagingServiceSid")
    if service_sid and (#service_sid ~= 34 or not find(service_sid, "^MG%x+$")) then
        return nil, omni_error("invalid_request", "MessagingServiceSid is malformed", 400)
    end

    local from = field(body, "From")
    local to = field(body, "To")
    if (from and (#from > 128 or find(from, "%c"))) or (to and (#to > 128 or find(to, "%c"))) then
        return nil, omni_error("invalid_request", "From or To is malformed", 400)
    end
    -- the text as sent: blanks kept, only control characters refused
    local text = body.Body
    if type(text) == "table" then
        text = text[#text]
    end
    text = type(text) == "string" and text or ""
    if #text > MAX_BODY * 4 or find(text, "[%z\1-\8\11\12\14-\31\127]") then
        return nil, omni_error("invalid_request", "Body is too long or malformed", 400)
    end
    local num_media = tonumber(field(body, "NumMedia") or "0")
    if not num_media or num_media ~= num_media - num_media % 1 or num_media < 0
            or num_media > MAX_MEDIA then
        return nil, omni_error("invalid_request", "NumMedia is not 0 to " .. MAX_MEDIA, 400)
    end
    local media, err = media_list(body, num_media)
    if not media then
        return nil, omni_error("invalid_request", err, 400)
    end
    local segments = tonumber(field(body, "NumSegments") or "")
    if segments and (segments < 1 or segments > 100 or segments ~= segments - segments % 1) then
        segments = nil
    end
    local api_version = field(body, "ApiVersion")
    if api_version and (#api_version > 64 or find(api_version, "[^\33-\126]")) then
        api_version = nil
    end

    local null = omni.null
    local identities = {}
    if twilio.is_e164(from) then
        identities[1] = { type = "phone", value = from }
    end
    local language = settings.language
    return {
        action = num_media > 0 and "message.media" or "message.text",
        params = {
            message_sid = message_sid,
            account_sid = account_sid,
            messaging_service_sid = service_sid or null,
            from = from or null,
            to = to or null,
            body = text,
            num_segments = segments or null,
            num_media = num_media,
            media = media,
        },
        identities = identities,
        app_id = account_sid,
        client_version = api_version,
        locale = omni.contract.is_locale(language) and language or nil,
    }
end

--- A <Message> with text cut to MAX_BODY bytes on a character boundary.
local function message(s)
    return "<Message>" .. twilio.text(truncate(s, MAX_BODY)) .. "</Message>"
end

--- Renders a unified reply as messaging TwiML (always 200).
-- @param reply {ok=true, data=...} or {ok=false, error={code=, message=}}
-- @param ctx {status=, gateway=, request_id=, channel=, request=}
-- @return 200, headers, body
function _M.render(reply, ctx)
    ctx = type(ctx) == "table" and ctx or {}
    if type(reply) ~= "table" or reply.ok ~= true then
        local apology = settings_of(ctx.request).apology
        if type(apology) == "string" and apology ~= "" then
            return 200, HEADERS, twilio.twiml(message(apology))
        end
        return 200, HEADERS, twilio.twiml("")
    end
    local data = reply.data
    local text = type(data) == "table" and (data.text or data.message) or nil
    if type(text) ~= "string" or text == "" then
        return 200, HEADERS, twilio.twiml("")
    end
    return 200, HEADERS, twilio.twiml(message(text))
end

return _M
