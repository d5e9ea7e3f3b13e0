--- application/x-www-form-urlencoded (query strings and form bodies).
--
-- Decoding follows the WHATWG URL standard's urlencoded parser: pairs
-- are split on `&` (not `;`), empty pairs are skipped, a pair without
-- `=` has the value "", `+` means a space, `%XX` is a byte, and a `%`
-- not followed by two hex digits is kept literally (`%zz` stays `%zz`).
-- Bytes are not checked for UTF-8 (see `omni.json.is_utf8`).
-- At most 1000 pairs (empty ones included) are accepted.  A NUL, as
-- `%00` or as a raw byte, is refused: no value the gateway reads holds
-- U+0000 (docs/contract.md).
--
-- @module omni.form

local type, pairs, error, tostring =
      type, pairs, error, tostring
local byte, char, find, gsub, format, sub =
      string.byte, string.char, string.find, string.gsub, string.format,
      string.sub
local concat, sort = table.concat, table.sort

-- the decoder is native (module/omni_form.c, omni_lua_form.c): every
-- query string and form body goes through it, and in Lua it was a third
-- of a Twilio webhook's cost
local native = require "omni_form_native"

local _M = { _VERSION = "1.0" }

--- The maximum number of pairs `decode` accepts.
_M.MAX_PAIRS = native.MAX_PAIRS

local HEX_ENCODE = {}
for b = 0, 255 do
    HEX_ENCODE[char(b)] = format("%%%02X", b)
end


-- what Lua's %s matches: tab, LF, VT, FF, CR, space
local BLANK = { [9] = true, [10] = true, [11] = true, [12] = true,
                [13] = true, [32] = true }

--- A string without the blanks (`%s`) around it; nil when v is no string
-- or nothing is left.  Here rather than in `omni` because omni.twilio,
-- which `omni` loads, trims every form field it reads.
-- @param v
-- @treturn string|nil
function _M.trimmed(v)
    if type(v) ~= "string" then
        return nil
    end
    -- most values have no blank at either end: no new string, no pattern
    -- (a lazy "^%s*(.-)%s*$" retries its tail at every byte)
    local last = #v
    if last > 0 and not BLANK[byte(v, 1)] and not BLANK[byte(v, last)] then
        return v
    end
    local first = find(v, "%S")
    if not first then
        return nil
    end
    while BLANK[byte(v, last)] do
        last = last - 1
    end
    return sub(v, first, last)
end


--- Decodes one form-encoded component: `+` to space, `%XX` to a byte;
-- malformed `%` sequences are kept as they are.
-- @function unescape
-- @tparam string s
-- @treturn string
_M.unescape = native.unescape


--- Percent-encodes a string: everything but `A-Z a-z 0-9 - . _ ~`
-- (so a space becomes `%20`); safe in a query, a form body or a path
-- segment.
-- @tparam string s
-- @treturn string
function _M.escape(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'escape' (string expected, got "
              .. type(s) .. ")", 2)
    end
    return (gsub(s, "[^%w%-%._~]", HEX_ENCODE))
end


--- Decodes a query string or form body.
-- @function decode
-- @tparam string s e.g. `"a=1&b=2&b=3"`
-- @treturn table|nil the pairs, the last value winning: `{a="1", b="3"}`
-- @treturn table|string every value per key, in order:
--   `{a={"1"}, b={"2","3"}}`; or the error message when the first
--   return value is nil
-- @usage local args, all = form.decode(req.query)
_M.decode = native.decode


local function encode_value(v, name)
    local tv = type(v)
    if tv == "string" then
        return v
    elseif tv == "number" or tv == "boolean" then
        return tostring(v)
    end
    error("bad argument #1 to 'encode' (value of '" .. name
          .. "' is a " .. tv .. ")", 3)
end


--- Encodes a table as a form body / query string, keys sorted. Values
-- are strings, numbers or booleans, or arrays of them (repeated keys).
-- @tparam table t
-- @treturn string
-- @usage form.encode({ b = "x y", a = { "1", "2" } })  --> "a=1&a=2&b=x%20y"
function _M.encode(t)
    if type(t) ~= "table" then
        error("bad argument #1 to 'encode' (table expected, got "
              .. type(t) .. ")", 2)
    end
    local keys, nk = {}, 0
    for k in pairs(t) do
        if type(k) ~= "string" then
            error("bad argument #1 to 'encode' (keys must be strings)", 2)
        end
        nk = nk + 1
        keys[nk] = k
    end
    sort(keys)
    local buf, n = {}, 0
    for i = 1, nk do
        local k = keys[i]
        local ek = gsub(k, "[^%w%-%._~]", HEX_ENCODE)
        local v = t[k]
        if type(v) == "table" then
            for j = 1, #v do
                n = n + 1
                buf[n] = ek .. "=" .. gsub(encode_value(v[j], k),
                                           "[^%w%-%._~]", HEX_ENCODE)
            end
        else
            n = n + 1
            buf[n] = ek .. "=" .. gsub(encode_value(v, k),
                                       "[^%w%-%._~]", HEX_ENCODE)
        end
    end
    return concat(buf, "&", 1, n)
end


return _M
