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
local char, find, sub, gsub, format =
      string.char, string.find, string.sub, string.gsub,
      string.format
local concat, sort = table.concat, table.sort

local _M = { _VERSION = "1.0" }

local MAX_PAIRS = 1000

--- The maximum number of pairs `decode` accepts.
_M.MAX_PAIRS = MAX_PAIRS

local HEX_DECODE = {}
for b = 0, 255 do
    local lo, up = format("%%%02x", b), format("%%%02X", b)
    HEX_DECODE[lo] = char(b)
    HEX_DECODE[up] = char(b)
    HEX_DECODE[sub(lo, 1, 2) .. sub(up, 3)] = char(b)
    HEX_DECODE[sub(up, 1, 2) .. sub(lo, 3)] = char(b)
end

local HEX_ENCODE = {}
for b = 0, 255 do
    HEX_ENCODE[char(b)] = format("%%%02X", b)
end


local function unescape(s)
    if find(s, "+", 1, true) then
        s = gsub(s, "+", " ")
    end
    if find(s, "%", 1, true) then
        s = gsub(s, "%%%x%x", HEX_DECODE)
    end
    return s
end


--- Decodes one form-encoded component: `+` to space, `%XX` to a byte;
-- malformed `%` sequences are kept as they are.
-- @tparam string s
-- @treturn string
function _M.unescape(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'unescape' (string expected, got "
              .. type(s) .. ")", 2)
    end
    return unescape(s)
end


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
-- @tparam string s e.g. `"a=1&b=2&b=3"`
-- @treturn table|nil the pairs, the last value winning: `{a="1", b="3"}`
-- @treturn table|string every value per key, in order:
--   `{a={"1"}, b={"2","3"}}`; or the error message when the first
--   return value is nil
-- @usage local args, all = form.decode(req.query)
function _M.decode(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'decode' (string expected, got "
              .. type(s) .. ")", 2)
    end
    local nul = find(s, "%00", 1, true)
    local raw = find(s, "\0", 1, true)
    if raw and (not nul or raw < nul) then
        nul = raw
    end
    if nul then
        return nil, "form: NUL (%00) at byte " .. nul
    end
    local t, all = {}, {}
    local len = #s
    local i, count = 1, 0
    while i <= len + 1 do
        count = count + 1
        if count > MAX_PAIRS then
            return nil, "form: too many parameters (more than "
                        .. MAX_PAIRS .. ")"
        end
        local j = find(s, "&", i, true) or len + 1
        if j > i then
            local eq = find(s, "=", i, true)
            local k, v
            if eq and eq < j then
                k = unescape(sub(s, i, eq - 1))
                v = unescape(sub(s, eq + 1, j - 1))
            else
                k = unescape(sub(s, i, j - 1))
                v = ""
            end
            t[k] = v
            local list = all[k]
            if list then
                list[#list + 1] = v
            else
                all[k] = { v }
            end
        end
        i = j + 1
    end
    return t, all
end


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
