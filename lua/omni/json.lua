--- Strict, bounded JSON for the gateway and its channel plugins.
--
-- `decode` implements RFC 8259 strictly: one value per document (any
-- type), no trailing commas, no comments, no leading zeros, no lone
-- surrogates, UTF-8 only; duplicate object keys are refused (a gateway
-- and a service must never disagree on which one wins); nesting deeper
-- than 64 levels is refused. A leading UTF-8 byte order mark is ignored.
--
-- JSON `null` decodes to the `null` sentinel (a userdata, truthy!), so
-- object keys holding null are kept. Decoded objects and arrays carry a
-- marker metatable, so `encode(decode("[]"))` gives back `[]`, not `{}`.
--
-- `encode` is deterministic (object keys sorted) and refuses what JSON
-- cannot say: functions, userdata (other than `null`/`empty_array`),
-- threads, cycles, NaN and infinities, tables mixing string and integer
-- keys, sparse arrays, strings that are not valid UTF-8. Its error
-- messages name the offending place: `params.items[2] is a function`.
--
-- @module omni.json

local type, pairs, error, pcall, tostring, tonumber =
      type, pairs, error, pcall, tostring, tonumber
local setmetatable, getmetatable, newproxy = setmetatable, getmetatable, newproxy
local byte, char, sub, find, format, gsub, rep =
      string.byte, string.char, string.sub, string.find, string.format,
      string.gsub, string.rep
local concat, sort = table.concat, table.sort
local floor, huge = math.floor, math.huge

local utf8 = require "omni.utf8"
local is_utf8 = utf8.is_valid
local utf8_char = utf8.encode_unchecked

local _M = { _VERSION = "1.0" }

local MAX_DEPTH = 64

--- The maximum nesting of arrays and objects, for decode and encode.
_M.MAX_DEPTH = MAX_DEPTH

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


-------------------------------------------------------------------------
-- decode
-------------------------------------------------------------------------

-- internal failures are raised as tables with this metatable and turned
-- into `nil, err` by decode; anything else (a CPU-budget or memory error
-- raised by the gateway's hook inside the parser) is raised again
local fail_mt = {}

local function fail(msg, pos)
    error(setmetatable({ msg = msg, pos = pos }, fail_mt), 0)
end

local function describe(s, pos)
    local c = sub(s, pos, pos)
    if c == "" then
        return "unexpected end of input"
    end
    local b = byte(c)
    if b < 32 or b > 126 then
        return format("unexpected byte 0x%02X", b)
    end
    return "unexpected character '" .. c .. "'"
end

local function skip_ws(s, pos)
    local _, e = find(s, "^[ \t\r\n]+", pos)
    if e then
        return e + 1
    end
    return pos
end

local ESCAPES = {
    [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [102] = "\f",
    [110] = "\n", [114] = "\r", [116] = "\t",
}

local function read_hex4(s, pos)
    local h = sub(s, pos, pos + 3)
    if not find(h, "^%x%x%x%x$") then
        fail("invalid \\u escape", pos - 2)
    end
    return tonumber(h, 16)
end

-- pos is at the opening quote; returns the string and the position
-- after the closing quote
local function decode_string(s, pos)
    local i = pos + 1
    local buf, n = nil, 0

    while true do
        local j = find(s, '[%z\1-\31"\\]', i)
        if not j then
            fail("unterminated string", pos)
        end

        local b = byte(s, j)

        if b == 34 then                                 -- closing quote
            local seg = sub(s, i, j - 1)
            if not is_utf8(seg) then
                fail("invalid UTF-8 in string", pos)
            end
            if not buf then
                return seg, j + 1
            end
            n = n + 1
            buf[n] = seg
            return concat(buf, "", 1, n), j + 1
        end

        if b ~= 92 then
            fail(format("unescaped control character 0x%02X in string", b), j)
        end

        -- a backslash: keep what precedes it, then the escape
        buf = buf or {}
        if j > i then
            local seg = sub(s, i, j - 1)
            if not is_utf8(seg) then
                fail("invalid UTF-8 in string", pos)
            end
            n = n + 1
            buf[n] = seg
        end

        local e = byte(s, j + 1)
        if e == 117 then                                -- \u and four hex digits
            local cp = read_hex4(s, j + 2)
            i = j + 6
            if cp >= 0xD800 and cp <= 0xDBFF then
                if sub(s, i, i + 1) ~= "\\u" then
                    fail("lone surrogate in \\u escape", j)
                end
                local lo = read_hex4(s, i + 2)
                if lo < 0xDC00 or lo > 0xDFFF then
                    fail("lone surrogate in \\u escape", j)
                end
                cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
                i = i + 6
            elseif cp >= 0xDC00 and cp <= 0xDFFF then
                fail("lone surrogate in \\u escape", j)
            end
            n = n + 1
            buf[n] = utf8_char(cp)
        else
            local c = e and ESCAPES[e]
            if not c then
                fail("invalid escape in string", j)
            end
            n = n + 1
            buf[n] = c
            i = j + 2
        end
    end
end

local decode_value

local function decode_number(s, pos)
    local _, e = find(s, "^-?%d+", pos)
    if not e then
        fail(describe(s, pos), pos)
    end
    local int_start = byte(s, pos) == 45 and pos + 1 or pos
    if byte(s, int_start) == 48 and e > int_start then
        fail("leading zero in number", pos)
    end
    if byte(s, e + 1) == 46 then                        -- fraction
        local _, f = find(s, "^%d+", e + 2)
        if not f then
            fail("digit expected after decimal point", e + 2)
        end
        e = f
    end
    local x = byte(s, e + 1)
    if x == 101 or x == 69 then                         -- exponent
        local _, f = find(s, "^[-+]?%d+", e + 2)
        if not f then
            fail("digit expected in exponent", e + 2)
        end
        e = f
    end
    local v = tonumber(sub(s, pos, e))
    if v == huge or v == -huge then
        fail("number out of range", pos)
    end
    return v, e + 1
end

local function decode_array(s, pos, depth)
    if depth > MAX_DEPTH then
        fail("too deeply nested (more than " .. MAX_DEPTH .. " levels)", pos)
    end
    local t, n = {}, 0
    pos = skip_ws(s, pos + 1)
    if byte(s, pos) == 93 then
        return setmetatable(t, array_mt), pos + 1
    end
    while true do
        local v
        v, pos = decode_value(s, pos, depth)
        n = n + 1
        t[n] = v
        pos = skip_ws(s, pos)
        local b = byte(s, pos)
        if b == 93 then
            return setmetatable(t, array_mt), pos + 1
        elseif b ~= 44 then
            fail(describe(s, pos) .. ", ',' or ']' expected", pos)
        end
        pos = skip_ws(s, pos + 1)
    end
end

local function decode_object(s, pos, depth)
    if depth > MAX_DEPTH then
        fail("too deeply nested (more than " .. MAX_DEPTH .. " levels)", pos)
    end
    local t = {}
    pos = skip_ws(s, pos + 1)
    if byte(s, pos) == 125 then
        return setmetatable(t, object_mt), pos + 1
    end
    while true do
        if byte(s, pos) ~= 34 then
            fail(describe(s, pos) .. ", object key expected", pos)
        end
        local key_pos = pos
        local k
        k, pos = decode_string(s, pos)
        pos = skip_ws(s, pos)
        if byte(s, pos) ~= 58 then
            fail(describe(s, pos) .. ", ':' expected", pos)
        end
        if t[k] ~= nil then
            fail("duplicate key '" .. k .. "'", key_pos)
        end
        local v
        v, pos = decode_value(s, skip_ws(s, pos + 1), depth)
        t[k] = v
        pos = skip_ws(s, pos)
        local b = byte(s, pos)
        if b == 125 then
            return setmetatable(t, object_mt), pos + 1
        elseif b ~= 44 then
            fail(describe(s, pos) .. ", ',' or '}' expected", pos)
        end
        pos = skip_ws(s, pos + 1)
    end
end

decode_value = function(s, pos, depth)
    local b = byte(s, pos)
    if b == 123 then
        return decode_object(s, pos, depth + 1)
    elseif b == 91 then
        return decode_array(s, pos, depth + 1)
    elseif b == 34 then
        return decode_string(s, pos)
    elseif b == 116 then
        if sub(s, pos, pos + 3) == "true" then
            return true, pos + 4
        end
    elseif b == 102 then
        if sub(s, pos, pos + 4) == "false" then
            return false, pos + 5
        end
    elseif b == 110 then
        if sub(s, pos, pos + 3) == "null" then
            return null, pos + 4
        end
    elseif b == 45 or (b and b >= 48 and b <= 57) then
        return decode_number(s, pos)
    end
    fail(describe(s, pos), pos)
end

local function decode_document(s)
    local pos = 1
    if sub(s, 1, 3) == "\239\187\191" then
        pos = 4
    end
    pos = skip_ws(s, pos)
    if pos > #s then
        fail("empty document", pos)
    end
    local v
    v, pos = decode_value(s, pos, 0)
    pos = skip_ws(s, pos)
    if pos <= #s then
        fail(describe(s, pos) .. " after the document", pos)
    end
    return v
end


-- the pure-Lua decoder: the value, or nil and the error
local function lua_decode(s)
    local ok, v = pcall(decode_document, s)
    if ok then
        return v
    end
    if getmetatable(v) == fail_mt then
        return nil, "json: " .. v.msg .. " at byte " .. v.pos
    end
    error(v, 0)         -- not ours (CPU budget, memory): let it through
end


-------------------------------------------------------------------------
-- encode
-------------------------------------------------------------------------

local ESCAPED = {
    ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
    ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
for b = 0, 31 do
    local c = char(b)
    ESCAPED[c] = ESCAPED[c] or format("\\u%04x", b)
end
ESCAPED["\127"] = "\\u007f"

-- encode failures: raised with this metatable, carrying the path
local enc_fail_mt = {}

local function path_of(path, depth)
    if depth == 0 then
        return "value"
    end
    local parts = {}
    for i = 1, depth do
        local k = path[i]
        if type(k) == "number" then
            parts[i] = "[" .. k .. "]"
        elseif i == 1 then
            parts[i] = k
        else
            parts[i] = "." .. k
        end
    end
    return concat(parts)
end

local function enc_fail(path, depth, what)
    error(setmetatable({ msg = path_of(path, depth) .. " " .. what },
                       enc_fail_mt), 0)
end

local function encode_string(s, path, depth)
    if not find(s, '[%c"\\\128-\255]') then
        return '"' .. s .. '"'
    end
    if not is_utf8(s) then
        enc_fail(path, depth, "is not valid UTF-8")
    end
    return '"' .. gsub(s, '[%c"\\]', ESCAPED) .. '"'
end

local function encode_number(v, path, depth)
    if v ~= v then
        enc_fail(path, depth, "is NaN")
    elseif v == huge or v == -huge then
        enc_fail(path, depth, "is infinite")
    end
    if v == floor(v) and v > -1e15 and v < 1e15 then
        return format("%d", v)
    end
    local s = format("%.14g", v)
    if tonumber(s) ~= v then
        s = format("%.16g", v)
        if tonumber(s) ~= v then
            s = format("%.17g", v)
        end
    end
    return s
end

-- encoded object keys, reused across calls (keys repeat a lot); the
-- cache is dropped when it grows past 1024 entries
local key_cache, key_cache_n = {}, 0

local function encode_key(k, path, depth)
    local e = key_cache[k]
    if e then
        return e
    end
    e = encode_string(k, path, depth)
    if key_cache_n >= 1024 then
        key_cache, key_cache_n = {}, 0
    end
    key_cache_n = key_cache_n + 1
    key_cache[k] = e
    return e
end

local encode_value

-- classify a table: returns "array", n  or "object", nil
local function table_kind(t, path, depth)
    local mt = getmetatable(t)
    local n, max, strings = 0, 0, false
    for k in pairs(t) do
        local tk = type(k)
        if tk == "string" then
            strings = true
        elseif tk == "number" and k >= 1 and k == floor(k) and k < huge then
            n = n + 1
            if k > max then
                max = k
            end
        else
            enc_fail(path, depth, "has a key that is not a string"
                     .. " or a positive integer (" .. tostring(k) .. ")")
        end
        if strings and n > 0 then
            enc_fail(path, depth, "mixes string and integer keys")
        end
    end
    if mt == array_mt then
        if strings then
            enc_fail(path, depth, "is an array with string keys")
        end
    elseif mt == object_mt then
        if n > 0 then
            enc_fail(path, depth, "is an object with integer keys")
        end
        return "object"
    elseif n == 0 then
        return "object"
    end
    if max ~= n then
        enc_fail(path, depth, "is a sparse array")
    end
    return "array", n
end

local function newline(indent, depth)
    return "\n" .. rep(indent, depth)
end

local function encode_table(t, buf, n, seen, path, depth, indent)
    if seen[t] then
        enc_fail(path, depth, "is a cycle")
    end
    if depth >= MAX_DEPTH then
        enc_fail(path, depth, "is too deeply nested (more than "
                 .. MAX_DEPTH .. " levels)")
    end
    seen[t] = true

    local kind, len = table_kind(t, path, depth)
    local d = depth + 1

    if kind == "array" then
        if len == 0 then
            n = n + 1
            buf[n] = "[]"
        else
            n = n + 1
            buf[n] = "["
            for i = 1, len do
                if i > 1 then
                    n = n + 1
                    buf[n] = ","
                end
                if indent then
                    n = n + 1
                    buf[n] = newline(indent, d)
                end
                path[d] = i
                n = encode_value(t[i], buf, n, seen, path, d, indent)
            end
            if indent then
                n = n + 1
                buf[n] = newline(indent, depth)
            end
            n = n + 1
            buf[n] = "]"
        end
    else
        local keys, nk = {}, 0
        for k in pairs(t) do
            nk = nk + 1
            keys[nk] = k
        end
        if nk == 0 then
            n = n + 1
            buf[n] = "{}"
        else
            sort(keys)
            n = n + 1
            buf[n] = "{"
            for i = 1, nk do
                local k = keys[i]
                if i > 1 then
                    n = n + 1
                    buf[n] = ","
                end
                if indent then
                    n = n + 1
                    buf[n] = newline(indent, d)
                end
                path[d] = k
                n = n + 1
                buf[n] = encode_key(k, path, d)
                n = n + 1
                buf[n] = indent and ": " or ":"
                n = encode_value(t[k], buf, n, seen, path, d, indent)
            end
            if indent then
                n = n + 1
                buf[n] = newline(indent, depth)
            end
            n = n + 1
            buf[n] = "}"
        end
    end

    path[d] = nil
    seen[t] = nil
    return n
end

encode_value = function(v, buf, n, seen, path, depth, indent)
    local tv = type(v)
    n = n + 1
    if tv == "string" then
        buf[n] = encode_string(v, path, depth)
    elseif tv == "number" then
        buf[n] = encode_number(v, path, depth)
    elseif tv == "boolean" then
        buf[n] = v and "true" or "false"
    elseif tv == "table" then
        return encode_table(v, buf, n - 1, seen, path, depth, indent)
    elseif v == null then
        buf[n] = "null"
    elseif v == empty_array then
        buf[n] = "[]"
    elseif tv == "nil" then
        enc_fail(path, depth, "is nil")
    else
        enc_fail(path, depth, "is a " .. tv)
    end
    return n
end

local function encode_document(v, indent)
    local buf = {}
    local n = encode_value(v, buf, 0, {}, {}, 0, indent)
    return concat(buf, "", 1, n)
end


-- the pure-Lua encoder: the text, or nil and the error
local function lua_encode(value, indent)
    local ok, s = pcall(encode_document, value, indent)
    if ok then
        return s
    end
    if getmetatable(s) == enc_fail_mt then
        return nil, s.msg
    end
    error(s, 0)
end


-------------------------------------------------------------------------
-- the public functions, over the native codec when there is one
-------------------------------------------------------------------------

-- the same functions with the same arguments checks, for either codec
local function api(decode_impl, encode_impl)
    local m = {}

    function m.decode(s)
        if type(s) ~= "string" then
            error("bad argument #1 to 'decode' (string expected, got "
                  .. type(s) .. ")", 2)
        end
        return decode_impl(s)
    end

    function m.encode(value, opts)
        local indent
        if opts ~= nil then
            if type(opts) ~= "table" then
                error("bad argument #2 to 'encode' (table expected, got "
                      .. type(opts) .. ")", 2)
            end
            indent = opts.indent
            if indent ~= nil and type(indent) ~= "string" then
                error("bad argument #2 to 'encode' (indent must be a string)",
                      2)
            end
        end
        return encode_impl(value, indent)
    end

    return m
end

-- omni_json_native (module/omni_lua_json.c) implements decode_document
-- and encode_document above in C, with the same results and errors;
-- being C, it runs no bytecode, so the count hook cannot interrupt it
local native_decode, native_encode
do
    local ok, native = pcall(require, "omni_json_native")
    if ok and type(native) == "table" and type(native.bind) == "function"
    then
        native_decode, native_encode =
            native.bind(null, empty_array, array_mt, object_mt, tostring,
                        format)
    end
end

-- both codecs, for the specs that compare them
_M._lua = api(lua_decode, lua_encode)
_M._native = native_decode and api(native_decode, native_encode) or nil

--- Which codec decode and encode use: `"native"` or `"lua"`.
_M.codec = native_decode and "native" or "lua"

local public = _M._native or _M._lua


--- Decodes a JSON document.
-- @tparam string s the document
-- @return the value (tables for objects and arrays, `json.null` for
--   null), or nil and an error message such as
--   `"json: unexpected character 'x' at byte 12"`
-- @usage local body, err = json.decode(req.raw_body)
_M.decode = public.decode


--- Encodes a Lua value as JSON.
-- Object keys are sorted. A table is an array when it is marked so
-- (decoded arrays, `json.array`) or, unmarked, when its keys are exactly
-- 1..n (n > 0); an empty unmarked table is an object.
-- @param value the value
-- @tparam[opt] table opts `{ indent = "  " }` pretty-prints
-- @treturn string|nil the JSON text
-- @treturn string|nil the error, naming the place: `"params.x is a function"`
-- @usage local s, err = json.encode({ ok = true, data = json.null })
_M.encode = public.encode


return _M
