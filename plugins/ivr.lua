--- ivr: Twilio-style voice webhooks.
--
-- Route: `POST /ivr/voice` with an application/x-www-form-urlencoded body as
-- Twilio sends it (the mount point is `/ivr` by default, or the location's
-- or the `prefix` setting's: docs/plugins.md, "Mount points") (CallSid, AccountSid, From, To, CallStatus, ApiVersion,
-- Digits, SpeechResult, Confidence, ...).
--
-- Settings (req.settings, from `omni_plugin_set <key> <value>` in the location):
--
--     auth_token   required by authenticate: the Twilio account auth token
--     base_url     required by authenticate: the public scheme://host[:port]
--                  (plus any path prefix) Twilio calls, e.g.
--                  https://gw.example.com; the signed URL is
--                  base_url .. req.path .. ("?" .. req.query when not empty)
--     account_sid  optional: when set, AccountSid must equal it (403)
--     language     optional: locale of the calls (e.g. en-US), also used as
--                  the <Say language="..."> of the rendered TwiML
--
-- authenticate: Twilio's request validation.  The string to sign is the full
-- URL followed by every POST parameter sorted by name (byte order), each as
-- name .. value (repeated names: each distinct value, sorted); the expected
-- X-Twilio-Signature is base64(HMAC-SHA1(auth_token, that string)), compared
-- in constant time.  Failure: `signature_invalid` (401); missing settings:
-- `plugin_misconfigured` (500).
--
-- Action mapping:
--
--     Digits "1"                      order.status
--     Digits "2"                      agent.transfer
--     other Digits                    ivr.menu      params.invalid_choice = Digits
--     SpeechResult (no Digits)        ivr.speech    params.text (+ confidence)
--     neither (the call just arrived) ivr.menu
--
-- params always hold call_sid, account_sid, from, to, call_status, digits
-- and speech (null when absent).  Identity: `phone` = From when it is E.164
-- (`+` and 2..15 digits).  app_id = AccountSid, client_version = ApiVersion,
-- locale = settings.language.
--
-- Refusals: `route_not_found` (404), `method_not_allowed` (405),
-- `unsupported_media_type` (415), `invalid_request` (400: CallSid/AccountSid
-- missing or malformed, bad Digits), `account_mismatch` (403).
--
-- Digits "3" is `case.list`, ten digits `case.get` with `case_id`: the
-- caller's own cases, answered by the gateway (docs/cases.md), spoken.
--
-- Rendering: ALWAYS HTTP 200 with `Content-Type: text/xml` TwiML (Twilio
-- plays an "application error" on anything else).  From reply.data:
--
--     say      string -> <Say>text</Say>
--     gather   true (or {num_digits=1..32, timeout=1..60}) -> the <Say>
--              goes inside <Gather input="dtmf speech" numDigits="1">
--     dial     E.164 number -> <Dial>+15551234567</Dial>
--     hangup   true -> <Hangup/>
--
-- Errors (any reply.ok = false, including gateway 401/403/5xx, and a
-- success with an invalid dial number): a polite sentence then <Hangup/>.
-- All text is XML-escaped.
--
-- @module ivr
local omni = require "omni"

local omni_error = omni.error
local settings_of = omni.settings
local twilio = omni.twilio
local is_e164 = twilio.is_e164
local field = twilio.field
local text = twilio.text
local twiml = twilio.twiml
local cases = omni.cases

local type = type
local tonumber = tonumber
local concat = table.concat
local find = string.find
local match = string.match
local gsub = string.gsub
local sub = string.sub
local floor = math.floor

local _M = { name = "ivr", version = "1.1", prefix = "/ivr" }

local MAX_SPEECH = 1024
local MAX_SAY = 4096

local APOLOGY = "Sorry, we cannot take your call right now. Please try again later. Goodbye."

local CALL_STATUS = {
    queued = true, ringing = true, ["in-progress"] = true, completed = true,
    busy = true, failed = true, ["no-answer"] = true, canceled = true,
}

--- True when locale matches ^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$.
local function valid_locale(tag)
    if type(tag) ~= "string" or #tag > 35 then
        return false
    end
    local primary, rest = match(tag, "^(%a+)(.*)$")
    if not primary or #primary < 2 or #primary > 8 then
        return false
    end
    local n = 0
    while rest ~= "" do
        local part, tail = match(rest, "^%-(%w+)(.*)$")
        n = n + 1
        if not part or #part > 8 or n > 8 then
            return false
        end
        rest = tail
    end
    return true
end

--- Verifies X-Twilio-Signature (omni.twilio).
-- @param req the request table built by the host
-- @return true, or nil, err
function _M.authenticate(req)
    return twilio.authenticate(req, "ivr")
end

--- Normalizes a Twilio voice webhook into contract fields.
-- @param req the request table built by the host
-- @return fields, or nil, err
function _M.normalize(req)
    local body, account_sid = twilio.webhook(req, "voice")
    if not body then
        return nil, account_sid
    end
    local settings = settings_of(req)

    local call_sid = field(body, "CallSid")
    if not call_sid or not find(call_sid, "^CA%x+$") or #call_sid ~= 34 then
        return nil, omni_error("invalid_request", "CallSid is missing or malformed", 400)
    end

    local from = field(body, "From")
    local to = field(body, "To")
    if (from and (#from > 128 or find(from, "%c"))) or (to and (#to > 128 or find(to, "%c"))) then
        return nil, omni_error("invalid_request", "From or To is malformed", 400)
    end
    local call_status = field(body, "CallStatus")
    if call_status and not CALL_STATUS[call_status] then
        return nil, omni_error("invalid_request", "CallStatus is not a Twilio call status", 400)
    end
    local digits = field(body, "Digits")
    if digits and (#digits > 32 or not find(digits, "^[0-9#*]+$")) then
        return nil, omni_error("invalid_request", "Digits is malformed", 400)
    end
    local speech = field(body, "SpeechResult")
    if speech and (#speech > MAX_SPEECH or find(speech, "[%z\1-\8\11\12\14-\31]")) then
        return nil, omni_error("invalid_request", "SpeechResult is too long or malformed", 400)
    end
    local api_version = field(body, "ApiVersion")
    if api_version and (#api_version > 64 or find(api_version, "[^\33-\126]")) then
        api_version = nil
    end

    local null = omni.json.null
    local params = {
        call_sid = call_sid,
        account_sid = account_sid,
        from = from or null,
        to = to or null,
        call_status = call_status or null,
        digits = digits or null,
        speech = speech or null,
    }

    local action
    if digits then
        if digits == "1" then
            action = "order.status"
        elseif digits == "2" then
            action = "agent.transfer"
        elseif digits == "3" then
            action = "case.list"
        elseif cases.id_of(digits) then
            action = "case.get"
            params.case_id = digits
        else
            action = "ivr.menu"
            params.invalid_choice = digits
        end
    elseif speech then
        action = "ivr.speech"
        params.text = speech
        local confidence = tonumber(field(body, "Confidence") or "")
        if confidence and confidence >= 0 and confidence <= 1 then
            params.confidence = confidence
        end
    else
        action = "ivr.menu"
    end

    local identities = {}
    if is_e164(from) then
        identities[1] = { type = "phone", value = from }
    end

    return {
        action = action,
        params = params,
        identities = identities,
        app_id = account_sid,
        client_version = api_version,
        locale = valid_locale(settings.language) and settings.language or nil,
    }
end

--- The <Say> element, with the language of the settings when valid.
local function say_element(s, language)
    if #s > MAX_SAY then
        s = sub(s, 1, MAX_SAY)
        -- do not cut a UTF-8 sequence in half
        s = gsub(s, "[\192-\255][\128-\191]*$", "")
    end
    if language then
        return '<Say language="' .. text(language) .. '">' .. text(s) .. "</Say>"
    end
    return "<Say>" .. text(s) .. "</Say>"
end

--- What a caller hears when the call cannot go on.
local function apology(language)
    return twiml(say_element(APOLOGY, language) .. "<Hangup/>")
end

--- An integer in [lo, hi] or nil.
local function int_in(v, lo, hi)
    v = tonumber(v)
    if v and v == floor(v) and v >= lo and v <= hi then
        return v
    end
    return nil
end

--- Renders a unified reply as TwiML (always 200).
-- @param reply {ok=true, data=...} or {ok=false, error={code=, message=}}
-- @param ctx {status=, gateway=, request_id=, channel=, request=}
-- @return 200, headers, body
function _M.render(reply, ctx)
    ctx = type(ctx) == "table" and ctx or {}
    local headers = { ["Content-Type"] = "text/xml; charset=utf-8" }
    local language = settings_of(ctx.request).language
    if not valid_locale(language) then
        language = nil
    end
    if type(reply) ~= "table" or reply.ok ~= true then
        return 200, headers, apology(language)
    end
    local data = reply.data
    if type(data) ~= "table" then
        return 200, headers, twiml("")
    end

    -- the gateway's own answer to case.list or case.get, spoken; after a
    -- list, the caller may key in a case number
    if data.say == nil then
        local summary = cases.summary(data, true)
        if summary then
            local list = type(data.cases) == "table" and #data.cases > 0
            data = {
                say = summary .. (list and " To hear one, key in its number." or ""),
                gather = list and { num_digits = 10 } or nil,
            }
        end
    end

    local parts = {}
    local say = type(data.say) == "string" and data.say ~= "" and say_element(data.say, language) or ""
    local gather = data.gather
    if gather == true or type(gather) == "table" then
        local num_digits = type(gather) == "table" and int_in(gather.num_digits, 1, 32) or 1
        local timeout = type(gather) == "table" and int_in(gather.timeout, 1, 60) or nil
        parts[#parts + 1] = '<Gather input="dtmf speech" numDigits="' .. num_digits .. '"'
            .. (timeout and (' timeout="' .. timeout .. '"') or "") .. ">" .. say .. "</Gather>"
    else
        parts[#parts + 1] = say
    end
    if data.dial ~= nil then
        if not is_e164(data.dial) then
            return 200, headers, apology(language)
        end
        parts[#parts + 1] = "<Dial>" .. data.dial .. "</Dial>"
    end
    if data.hangup == true then
        parts[#parts + 1] = "<Hangup/>"
    end
    return 200, headers, twiml(concat(parts))
end

return _M
