--- The request contract (what the gateway forwards to services) and the
-- unified reply (what services answer), version "1.3".
--
-- The gateway checks a plugin's normalize() result and writes the
-- contract in C (module/omni_contract.c, through the Lua C module
-- omni_contract_native): `validate_fields`, `check_identities` and
-- `encode` are that code, so the runner, the specs and plugins check
-- exactly as the gateway does. `validate` and `validate_reply` check
-- whole documents, as a service receives or sends them; the specs run the
-- writer's output through `validate` and the schema
-- (schema/contract.schema.json).
--
-- The predicates (`is_action`, `is_locale`...) stay in Lua, where plugins
-- and the host call them per request under the JIT; the C writer has the
-- same rules, and t/spec/contract_spec.lua runs one table of cases
-- through both.
--
-- Every check returns `true` or `nil, message`; messages name the
-- offending field: `"action is missing"`, `"identities[2].type must
-- match ^[a-z][a-z0-9_]{0,31}$"`. Deep problems inside params (a
-- function, a cycle, NaN...) are found when the contract is encoded:
-- `"params.x is a function"`.
--
-- @module omni.contract

local type, pairs, ipairs, error, tonumber, floor =
      type, pairs, ipairs, error, tonumber, math.floor
local find, format, match, date = string.find, string.format, string.match,
                                  os.date

local json = require "omni.json"
local utf8 = require "omni.utf8"
local native = require "omni_contract_native"

local null = json.null
local empty_array = json.empty_array
local is_json_array = json.is_array

local _M = { _VERSION = "1.3" }

--- The contract version this module builds (docs/contract.md).
_M.VERSION = "1.3"

--- Limits of the contract (the C writer's, module/omni_contract.h).
-- @table LIMITS
local LIMITS = {}
for k, v in pairs(native.LIMITS) do
    LIMITS[k] = v
end
_M.LIMITS = LIMITS

-- a value shown in an error message
local function show(v)
    if type(v) == "string" then
        if #v > 40 then
            v = utf8.truncate(v, 40) .. "..."
        end
        return "'" .. v .. "'"
    end
    return type(v)
end


--- Tells whether `s` is a channel or identity-type name:
-- `^[a-z][a-z0-9_]{0,31}$`.
-- @param s
-- @treturn boolean
function _M.is_name(s)
    return type(s) == "string" and #s <= LIMITS.name
           and find(s, "^[a-z][a-z0-9_]*$") ~= nil
end
local is_name = _M.is_name


--- Tells whether `s` is an action: dotted lowercase words, at least two,
-- `^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`, at most 128 bytes.
-- @param s
-- @treturn boolean
function _M.is_action(s)
    return type(s) == "string" and #s <= LIMITS.action
           and find(s, "^[a-z][a-z0-9_]*%.[a-z]") ~= nil
           and not find(s, "[^a-z0-9_.]")
           and not find(s, "%.[^a-z]")
           and not find(s, "%.$")
end
local is_action = _M.is_action


--- Tells whether `s` is an error code: `^[a-z][a-z0-9_]{0,63}$`.
-- @param s
-- @treturn boolean
function _M.is_code(s)
    return type(s) == "string" and #s <= LIMITS.code
           and find(s, "^[a-z][a-z0-9_]*$") ~= nil
end
local is_code = _M.is_code


--- Tells whether `s` is a locale tag: `^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$`,
-- at most 64 bytes.
-- @param s
-- @treturn boolean
function _M.is_locale(s)
    if type(s) ~= "string" or #s > LIMITS.locale then
        return false
    end
    local _, e = find(s, "^[A-Za-z]+")
    if not e or e < 2 or e > 8 then
        return false
    end
    local pos, len = e + 1, #s
    while pos <= len do         -- bounded: each turn consumes 2+ bytes
        local _, se = find(s, "^%-[A-Za-z0-9]+", pos)
        if not se or se - pos > 8 then
            return false
        end
        pos = se + 1
    end
    return true
end
local is_locale = _M.is_locale


--- Tells whether `s` is a request id: `^[A-Za-z0-9_-]{1,64}$`.
-- @param s
-- @treturn boolean
function _M.is_request_id(s)
    return type(s) == "string" and #s >= 1 and #s <= LIMITS.request_id
           and not find(s, "[^A-Za-z0-9_%-]")
end
local is_request_id = _M.is_request_id


--- Tells whether `s` is a customer or session id: `^[A-Za-z0-9_-]{1,64}$`
-- (the same shape as a request id).
-- @param s
-- @treturn boolean
function _M.is_id(s)
    return type(s) == "string" and #s >= 1 and #s <= LIMITS.id
           and not find(s, "[^A-Za-z0-9_%-]")
end
local is_id = _M.is_id


--- Formats milliseconds since the epoch as RFC 3339 UTC with
-- milliseconds: `2026-11-24T18:00:00.123Z`.
-- @tparam number ms
-- @treturn string
function _M.timestamp(ms)
    if type(ms) ~= "number" or ms ~= ms or ms < 0 or ms >= 253402300800000
    then
        error("bad argument #1 to 'timestamp' (milliseconds expected)", 2)
    end
    local sec = floor(ms / 1000)
    return date("!%Y-%m-%dT%H:%M:%S", sec)
           .. format(".%03dZ", floor(ms - sec * 1000))
end
local timestamp = _M.timestamp


-- an array-shaped table: keys exactly 1..n; at most `max` entries
-- (the walk stops early); returns n or nil, reason
local function array_length(t, max)
    if type(t) ~= "table" or json.is_object(t) then
        return nil, "must be an array"
    end
    local n = 0
    for k in pairs(t) do
        n = n + 1
        if n > max then
            return nil, "has more than " .. max .. " entries"
        end
        if type(k) ~= "number" then
            return nil, "must be an array"
        end
    end
    for i = 1, n do
        if t[i] == nil then
            return nil, "must be an array"
        end
    end
    return n
end


--- Validates a list of identities (`{ {type=, value=}, ... }`, at most
-- 16).
-- @tparam table ids
-- @tparam[opt="identities"] string where the name used in messages
-- @treturn true|nil
-- @treturn string|nil the error
function _M.check_identities(ids, where)
    if where ~= nil and type(where) ~= "string" then
        error("bad argument #2 to 'check_identities' (string expected, got "
              .. type(where) .. ")", 2)
    end
    return native.check_identities(ids, where)
end
local check_identities = _M.check_identities


--- Validates what a plugin's normalize() returned (shallowly: the
-- contents of params are checked when the contract is encoded). The
-- table is read raw: metatables are not consulted.
-- @tparam table fields `{ action=, params=, app_id=, client_version=,
--   locale=, device_id=, tier=, identities= }`; `json.null` counts as
--   absent for the optional fields
-- @treturn true|nil
-- @treturn string|nil the error, e.g. `"action is missing"`
function _M.validate_fields(fields)
    return native.fields(fields)
end


--- Writes the contract as the gateway does: from a plugin's fields,
-- identify()'s identities (merged after the fields' own, without
-- repeats) and what the gateway knows.
-- @tparam table fields the plugin's result
-- @tparam table known `{ request_id=, received_at= (ms), channel=,
--   client_ip=, principal= {subject=, roles=, issuer=} or nil,
--   user_agent= }`
-- @tparam[opt] table extra identities from identify()
-- @tparam[opt] table gw `{ customer_id=, session= { id=, new=,
--   created_at= (ms), last_seen_at= (ms), channels=, context= (text) },
--   dispatch= { pool=, rule=, step=, reason= } }`
-- @treturn string|nil the contract's JSON text
-- @treturn string|nil the error, naming the field
function _M.encode(fields, known, extra, gw)
    if type(fields) ~= "table" then
        error("bad argument #1 to 'encode' (table expected, got "
              .. type(fields) .. ")", 2)
    end
    if type(known) ~= "table" then
        error("bad argument #2 to 'encode' (table expected, got "
              .. type(known) .. ")", 2)
    end
    local p = known.principal
    if p ~= nil and p ~= null and type(p) ~= "table" then
        error("bad argument #2 to 'encode' (known.principal must be a"
              .. " table)", 2)
    end
    if gw ~= nil and type(gw) ~= "table" then
        error("bad argument #4 to 'encode' (table expected, got "
              .. type(gw) .. ")", 2)
    end
    if gw ~= nil and gw.dispatch ~= nil and type(gw.dispatch) ~= "table" then
        error("bad argument #4 to 'encode' (gw.dispatch must be a table)", 2)
    end
    local ok, err = native.fields(fields)
    if not ok then
        return nil, err
    end
    return native.encode(fields, extra, known, gw or {})
end


-- a role as the JWT module guarantees it: 1-128 bytes, no space, comma
-- or control byte
local function is_role(r)
    return type(r) == "string" and #r >= 1 and #r <= LIMITS.role
           and not find(r, "[%z\1-\32,\127]")
end


-------------------------------------------------------------------------
-- validation of whole documents
-------------------------------------------------------------------------

local DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- YYYY-MM-DDThh:mm:ss.sssZ, a real date and time (leap second allowed)
local function is_timestamp(s)
    if type(s) ~= "string" then
        return false
    end
    local y, mo, d, h, mi, sec = match(s,
        "^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)%.%d%d%dZ$")
    if not y then
        return false
    end
    y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
    if mo < 1 or mo > 12 or d < 1 then
        return false
    end
    local days = DAYS[mo]
    if mo == 2 and y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) then
        days = 29
    end
    return d <= days and tonumber(h) <= 23 and tonumber(mi) <= 59
           and tonumber(sec) <= 60
end

local function check_keys(t, allowed, where)
    for k in pairs(t) do
        if not allowed[k] then
            return nil, where .. " has an unknown key " .. show(k)
        end
    end
    for k in pairs(allowed) do
        if t[k] == nil then
            return nil, where .. "." .. k .. " is missing"
        end
    end
    return true
end

local function string_or_null(v, max, where)
    if v == null then
        return true
    end
    if type(v) ~= "string" or #v > max then
        return nil, where .. " must be null or a string of at most " .. max
                    .. " bytes (got " .. show(v) .. ")"
    end
    return true
end

local TOP = {
    version = true, request_id = true, received_at = true, channel = true,
    customer = true, principal = true, session = true, action = true,
    params = true, locale = true, client = true, route = true,
    dispatch = true, intent = true,
}
local CHANNEL = { name = true, app_id = true, client_version = true }
local CUSTOMER = { id = true, anonymous = true, tier = true,
                   identities = true, cases = true }
local CASE = { id = true, status = true, category = true, due = true }
local CASE_STATUS = { new = true, open = true, pending = true,
                      on_hold = true }
local PRINCIPAL = { subject = true, roles = true, issuer = true }
local CLIENT = { ip = true, user_agent = true, device_id = true }
local SESSION = { id = true, new = true, created_at = true,
                  last_seen_at = true, channels = true, context = true }
local DISPATCH = { pool = true, rule = true, step = true, reason = true }
local INTENT = { name = true, confidence = true }

-- a JSON object as a Lua table: decoded or marked objects, and unmarked
-- tables that are not arrays (an empty one encodes as {})
local function is_object_table(t)
    return type(t) == "table" and not is_json_array(t)
           and (json.is_object(t) or t[1] == nil)
end


-- a pool's name or a rule's id: ^[A-Za-z0-9_.-]{1,64}$
local function is_pool(s)
    return type(s) == "string" and #s >= 1 and #s <= 64
           and not find(s, "[^A-Za-z0-9_.%-]")
end


-- dispatch (1.3): null, or where the dispatch sent the request
local function check_dispatch(d)
    if d == null then
        return true
    end
    if type(d) ~= "table" then
        return nil, "dispatch must be null or an object"
    end
    local ok, err = check_keys(d, DISPATCH, "dispatch")
    if not ok then
        return nil, err
    end
    if not is_pool(d.pool) then
        return nil, "dispatch.pool must match ^[A-Za-z0-9_.-]{1,64}$"
    end
    if not is_pool(d.rule) then
        return nil, "dispatch.rule must match ^[A-Za-z0-9_.-]{1,64}$"
    end
    if type(d.step) ~= "number" or d.step ~= floor(d.step) or d.step < 0
       or d.step > 7 then
        return nil, "dispatch.step must be an integer from 0 to 7"
    end
    if not is_name(d.reason) then
        return nil, "dispatch.reason must match ^[a-z][a-z0-9_]{0,31}$"
    end
    return true
end


-- intent (1.3): null, or what the plugin reported
local function check_intent(i)
    if i == null then
        return true
    end
    if type(i) ~= "table" then
        return nil, "intent must be null or an object"
    end
    local ok, err = check_keys(i, INTENT, "intent")
    if not ok then
        return nil, err
    end
    if not (is_action(i.name) or is_name(i.name)) then
        return nil, "intent.name must be dotted lowercase words (got "
                    .. show(i.name) .. ")"
    end
    local c = i.confidence
    if c ~= null and not (type(c) == "number" and c >= 0 and c <= 1) then
        return nil, "intent.confidence must be null or a number from 0 to 1"
    end
    return true
end


-- customer.cases (1.2): null, or at most 8 open cases of the customer,
-- each { id = 10 digits, status, category, due = timestamp or null }
local function check_cases(cases, customer_id)
    if cases == null then
        return true
    end
    if customer_id == null then
        return nil, "customer.cases must be null when customer.id is null"
    end
    if type(cases) ~= "table" or not is_json_array(cases) then
        return nil, "customer.cases must be null or an array"
    end
    if #cases > 8 then
        return nil, "customer.cases holds at most 8 cases"
    end
    for i, k in ipairs(cases) do
        local where = "customer.cases[" .. i .. "]"
        if type(k) ~= "table" then
            return nil, where .. " must be an object"
        end
        local ok, err = check_keys(k, CASE, where)
        if not ok then
            return nil, err
        end
        if type(k.id) ~= "string" or not match(k.id, "^%d%d%d%d%d%d%d%d%d%d$")
        then
            return nil, where .. ".id must be 10 digits"
        end
        if not CASE_STATUS[k.status] then
            return nil, where .. ".status must be new, open, pending or"
                        .. " on_hold"
        end
        if type(k.category) ~= "string" or not is_id(k.category)
           or #k.category > 32 then
            return nil, where .. ".category must match"
                        .. " ^[A-Za-z0-9_-]{1,32}$"
        end
        if k.due ~= null and not is_timestamp(k.due) then
            return nil, where .. ".due must be null or RFC 3339 UTC with"
                        .. " milliseconds"
        end
    end
    return true
end

-- session: null, or the closed object of 1.1 (the caller checked that
-- it is not nil)
local function check_session(s)
    if s == null then
        return true
    end
    if type(s) ~= "table" or is_json_array(s) then
        return nil, "session must be null or an object"
    end
    local ok, err = check_keys(s, SESSION, "session")
    if not ok then
        return nil, err
    end
    if not is_id(s.id) then
        return nil, "session.id must match ^[A-Za-z0-9_-]{1,64}$ (got "
                    .. show(s.id) .. ")"
    end
    if type(s.new) ~= "boolean" then
        return nil, "session.new must be a boolean"
    end
    for _, k in ipairs({ "created_at", "last_seen_at" }) do
        if not is_timestamp(s[k]) then
            return nil, "session." .. k .. " must be RFC 3339 UTC with"
                        .. " milliseconds (got " .. show(s[k]) .. ")"
        end
    end

    local chs = s.channels
    local n, why = 0, nil
    if chs ~= empty_array then
        n, why = array_length(chs, LIMITS.channels)
    end
    if not n then
        if why == "must be an array" then
            why = "must be an array of channel names"
        end
        return nil, "session.channels " .. why
    end
    if n == 0 then
        return nil, "session.channels must not be empty"
    end
    local seen = {}
    for i = 1, n do
        local ch = chs[i]
        if not is_name(ch) then
            return nil, "session.channels[" .. i .. "] must match"
                        .. " ^[a-z][a-z0-9_]{0,31}$ (got " .. show(ch) .. ")"
        end
        if seen[ch] then
            return nil, "session.channels[" .. i .. "] repeats " .. show(ch)
        end
        seen[ch] = true
    end

    local ctx = s.context
    if not is_object_table(ctx) then
        return nil, "session.context must be a JSON object"
    end
    -- the bound is on the compact encoding, which the schema cannot say;
    -- encoding also finds what JSON cannot hold, as it does for params
    local text, eerr = json.encode(ctx)
    if not text then
        return nil, "session.context." .. eerr
    end
    if #text > LIMITS.context then
        return nil, "session.context must be at most " .. LIMITS.context
                    .. " bytes as compact JSON (got " .. #text .. ")"
    end
    return true
end

--- Validates a whole request contract (as `encode` writes it, decoded
-- from JSON) against schema/contract.schema.json. The contents of params
-- are not walked (encoding does it); session.context is encoded, to
-- check its bound of 4096 bytes as compact JSON (which the schema cannot
-- express).
-- @tparam table c
-- @treturn true|nil
-- @treturn string|nil the error
function _M.validate(c)
    if type(c) ~= "table" then
        return nil, "the contract must be a table"
    end
    local ok, err = check_keys(c, TOP, "contract")
    if not ok then
        return nil, err
    end
    if c.version ~= _M.VERSION then
        return nil, "version must be '" .. _M.VERSION .. "'"
    end
    if not is_request_id(c.request_id) then
        return nil, "request_id must match ^[A-Za-z0-9_-]{1,64}$"
    end
    if not is_timestamp(c.received_at) then
        return nil, "received_at must be RFC 3339 UTC with milliseconds"
                    .. " (got " .. show(c.received_at) .. ")"
    end
    if not is_action(c.action) then
        return nil, "action must be dotted lowercase words (got "
                    .. show(c.action) .. ")"
    end
    if not is_object_table(c.params) then
        return nil, "params must be a JSON object"
    end
    ok, err = check_session(c.session)
    if not ok then
        return nil, err
    end
    if c.route ~= null then
        return nil, "route must be null"
    end
    ok, err = check_dispatch(c.dispatch)
    if not ok then
        return nil, err
    end
    ok, err = check_intent(c.intent)
    if not ok then
        return nil, err
    end
    if c.locale ~= null and not is_locale(c.locale) then
        return nil, "locale must be null or a language tag (got "
                    .. show(c.locale) .. ")"
    end

    -- channel
    local ch = c.channel
    if type(ch) ~= "table" then
        return nil, "channel must be an object"
    end
    ok, err = check_keys(ch, CHANNEL, "channel")
    if not ok then
        return nil, err
    end
    if not is_name(ch.name) then
        return nil, "channel.name must match ^[a-z][a-z0-9_]{0,31}$"
    end
    ok, err = string_or_null(ch.app_id, LIMITS.app_id, "channel.app_id")
    if not ok then
        return nil, err
    end
    ok, err = string_or_null(ch.client_version, LIMITS.client_version,
                             "channel.client_version")
    if not ok then
        return nil, err
    end

    -- customer
    local cu = c.customer
    if type(cu) ~= "table" then
        return nil, "customer must be an object"
    end
    ok, err = check_keys(cu, CUSTOMER, "customer")
    if not ok then
        return nil, err
    end
    if cu.id ~= null and not is_id(cu.id) then
        return nil, "customer.id must be null or match ^[A-Za-z0-9_-]{1,64}$"
                    .. " (got " .. show(cu.id) .. ")"
    end
    if type(cu.anonymous) ~= "boolean" then
        return nil, "customer.anonymous must be a boolean"
    end
    ok, err = string_or_null(cu.tier, LIMITS.tier, "customer.tier")
    if not ok then
        return nil, err
    end
    ok, err = check_identities(cu.identities, "customer.identities")
    if not ok then
        return nil, err
    end
    ok, err = check_cases(cu.cases, cu.id)
    if not ok then
        return nil, err
    end

    -- principal
    local pr = c.principal
    if pr ~= null then
        if type(pr) ~= "table" then
            return nil, "principal must be null or an object"
        end
        ok, err = check_keys(pr, PRINCIPAL, "principal")
        if not ok then
            return nil, err
        end
        if pr.subject ~= null and type(pr.subject) ~= "string" then
            return nil, "principal.subject must be null or a string"
        end
        if pr.issuer ~= null and type(pr.issuer) ~= "string" then
            return nil, "principal.issuer must be null or a string"
        end
        local n = 0
        if pr.roles ~= empty_array then
            n = array_length(pr.roles, LIMITS.roles)
        end
        if not n then
            return nil, "principal.roles must be an array of strings"
        end
        for i = 1, n do
            if not is_role(pr.roles[i]) then
                return nil, "principal.roles[" .. i .. "] must be 1 to "
                            .. LIMITS.role .. " bytes without spaces, commas"
                            .. " or control characters"
            end
        end
    end
    if cu.anonymous ~= (pr == null and cu.id == null) then
        return nil, "customer.anonymous must be true exactly when there is"
                    .. " no principal and no customer id"
    end
    if c.session ~= null and cu.id == null then
        return nil, "session must be null when customer.id is null"
    end

    -- client
    local cl = c.client
    if type(cl) ~= "table" then
        return nil, "client must be an object"
    end
    ok, err = check_keys(cl, CLIENT, "client")
    if not ok then
        return nil, err
    end
    if type(cl.ip) ~= "string" or #cl.ip == 0 or #cl.ip > 64 then
        return nil, "client.ip must be a string of 1 to 64 bytes"
    end
    ok, err = string_or_null(cl.user_agent, LIMITS.user_agent,
                             "client.user_agent")
    if not ok then
        return nil, err
    end
    return string_or_null(cl.device_id, LIMITS.device_id, "client.device_id")
end


--- Validates a unified reply (schema/reply.schema.json):
-- `{ok=true, data=<any>}` (data required, JSON null allowed) or
-- `{ok=false, error={code=, message=}, data=<optional>}`; no other keys
-- at either level.
-- @tparam table r the decoded reply
-- @treturn true|nil
-- @treturn string|nil the error
function _M.validate_reply(r)
    if type(r) ~= "table" or is_json_array(r) then
        return nil, "the reply must be a JSON object"
    end
    for k in pairs(r) do
        if k ~= "ok" and k ~= "data" and k ~= "error" then
            return nil, "the reply has an unknown key " .. show(k)
        end
    end
    local ok = r.ok
    if ok == true then
        if r.data == nil then
            return nil, "reply.data is required when ok is true"
        end
        if r.error ~= nil then
            return nil, "reply.error is not allowed when ok is true"
        end
        return true
    end
    if ok ~= false then
        return nil, "reply.ok must be true or false"
    end
    local e = r.error
    if type(e) ~= "table" or is_json_array(e) then
        return nil, "reply.error must be an object when ok is false"
    end
    for k in pairs(e) do
        if k ~= "code" and k ~= "message" then
            return nil, "reply.error has an unknown key " .. show(k)
        end
    end
    if not is_code(e.code) then
        return nil, "reply.error.code must match ^[a-z][a-z0-9_]{0,63}$"
    end
    if type(e.message) ~= "string" then
        return nil, "reply.error.message must be a string"
    end
    return true
end


return _M
