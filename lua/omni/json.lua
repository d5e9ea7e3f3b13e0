--- Strict, bounded JSON for the gateway and its channel plugins.
--
-- `decode` implements RFC 8259 strictly: one value per document (any
-- type), no trailing commas, no comments, no leading zeros, no lone
-- surrogates, UTF-8 only; duplicate object keys are refused (a gateway
-- and a service must never disagree on which one wins); nesting deeper
-- than 64 levels is refused; so is `\u0000`, which would mean one thing
-- to C code and another to Lua (docs/contract.md, "NUL"). A leading
-- UTF-8 byte order mark is ignored.
--
-- JSON `null` decodes to the `null` sentinel (a userdata, truthy!), so
-- object keys holding null are kept. Decoded objects and arrays carry a
-- marker metatable, so `encode(decode("[]"))` gives back `[]`, not `{}`.
--
-- `encode` is deterministic (object keys sorted) and refuses what JSON
-- cannot say: functions, userdata (other than `null`/`empty_array`),
-- threads, cycles, NaN and infinities, tables mixing string and integer
-- keys, sparse arrays, strings that are not valid UTF-8 or hold a NUL
-- (as decode refuses it, so does encode). Its error
-- messages name the offending place: `params.items[2] is a function`.
--
-- @module omni.json

local type, error, tostring = type, error, tostring
local setmetatable, getmetatable, newproxy = setmetatable, getmetatable, newproxy
local format = string.format

local _M = { _VERSION = "1.0" }

local null = newproxy(true)
getmetatable(null).__tostring = function() return "null" end
getmetatable(null).__metatable = "null"

--- Sentinel for JSON `null` (decoded and encoded). It is a userdata and
-- therefore truthy: test with `v == json.null`.
_M.null = null

local empty_array = newproxy(true)
getmetatable(empty_array).__tostring = function() return "[]" end
getmetatable(empty_array).__metatable = "empty_array"

--- Immutable sentinel that encodes as `[]` (an empty Lua table encodes
-- as `{}`). To build a non-empty array that may turn out empty, use
-- `json.array({})`.
_M.empty_array = empty_array

-- marker metatables; plugins cannot reach them (no getmetatable)
local array_mt = { __jsontype = "array" }
local object_mt = { __jsontype = "object" }
local raw_mt = { __jsontype = "raw" }


--- Marks a table as a JSON array (so it encodes as `[]` when empty).
-- @tparam[opt] table t the table to mark (a new one when nil)
-- @treturn table t
-- @usage local items = json.array({})
function _M.array(t)
    if t == nil then
        t = {}
    elseif type(t) ~= "table" then
        error("bad argument #1 to 'array' (table expected, got "
              .. type(t) .. ")", 2)
    end
    return setmetatable(t, array_mt)
end


--- Marks a table as a JSON object (so it encodes as `{}` when empty,
-- which plain empty tables do anyway).
-- @tparam[opt] table t the table to mark (a new one when nil)
-- @treturn table t
function _M.object(t)
    if t == nil then
        t = {}
    elseif type(t) ~= "table" then
        error("bad argument #1 to 'object' (table expected, got "
              .. type(t) .. ")", 2)
    end
    return setmetatable(t, object_mt)
end


--- Tells whether a value is a marked (or decoded) JSON array, or the
-- `empty_array` sentinel.
-- @param v any value
-- @treturn boolean
function _M.is_array(v)
    return v == empty_array
           or (type(v) == "table" and getmetatable(v) == array_mt)
end


--- Tells whether a value is a marked (or decoded) JSON object.
-- @param v any value
-- @treturn boolean
function _M.is_object(v)
    return type(v) == "table" and getmetatable(v) == object_mt
end


--- Tells whether a value is a service's JSON text kept as it is (see
-- `raw_text`).
-- @param v any value
-- @treturn boolean
function _M.is_raw(v)
    return type(v) == "table" and getmetatable(v) == raw_mt
end


--- The text of a raw value: a service's JSON, checked by `decode_reply`
-- and written back as it is by `encode`; nil for any other value.
-- @param v any value
-- @treturn string|nil
function _M.raw_text(v)
    if type(v) == "table" and getmetatable(v) == raw_mt then
        return v[1]
    end
    return nil
end


-------------------------------------------------------------------------
-- the codec: omni_json_native (module/omni_lua_json.c)
-------------------------------------------------------------------------

-- being C, it runs no bytecode: the count hook cannot interrupt it
local native = require "omni_json_native"

--- The maximum nesting of arrays and objects, for decode and encode
-- (the codec's own, module/omni_lua_json_int.h).
_M.MAX_DEPTH = native.MAX_DEPTH
local native_decode, native_encode, native_decode_reply =
    native.bind(null, empty_array, array_mt, object_mt, tostring, format,
                raw_mt)


--- Decodes a JSON document.
-- @tparam string s the document
-- @return the value (tables for objects and arrays, `json.null` for
--   null), or nil and an error message such as
--   `"json: unexpected character 'x' at byte 12"`
-- @usage local body, err = json.decode(req.raw_body)
function _M.decode(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'decode' (string expected, got "
              .. type(s) .. ")", 2)
    end
    return native_decode(s)
end


--- Decodes a service's unified reply, keeping `data` as it is: the whole
-- document is checked as `decode` checks it, but the top-level object's
-- `data` member stays the service's text (a raw value, see `raw_text`),
-- which `encode` writes back verbatim.  For channels that only wrap
-- `data`: no table is built for it, and it is not encoded again.
-- @tparam string s the reply
-- @return the reply, or nil and an error message as for `decode`
function _M.decode_reply(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'decode_reply' (string expected, got "
              .. type(s) .. ")", 2)
    end
    return native_decode_reply(s)
end


--- Encodes a Lua value as JSON.
-- Object keys are sorted. A table is an array when it is marked so
-- (decoded arrays, `json.array`) or, unmarked, when its keys are exactly
-- 1..n (n > 0); an empty unmarked table is an object.  A raw value is
-- written as its text.
-- @param value the value
-- @tparam[opt] table opts `{ indent = "  " }` pretty-prints
-- @treturn string|nil the JSON text
-- @treturn string|nil the error, naming the place: `"params.x is a function"`
-- @usage local s, err = json.encode({ ok = true, data = json.null })
function _M.encode(value, opts)
    local indent
    if opts ~= nil then
        if type(opts) ~= "table" then
            error("bad argument #2 to 'encode' (table expected, got "
                  .. type(opts) .. ")", 2)
        end
        indent = opts.indent
        if indent ~= nil and type(indent) ~= "string" then
            error("bad argument #2 to 'encode' (indent must be a string)", 2)
        end
    end
    return native_encode(value, indent)
end


return _M
