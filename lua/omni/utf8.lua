--- UTF-8 helpers: validation, encoding a code point, safe truncation and
-- repair of client-supplied strings.
--
-- "Valid" means RFC 3629: no overlong forms, no surrogates (U+D800 to
-- U+DFFF), nothing above U+10FFFF.
--
-- @module omni.utf8

local type, error = type, error
local char, byte, find, sub, gsub = string.char, string.byte, string.find,
                                    string.sub, string.gsub
local concat = table.concat
local floor = math.floor

local _M = { _VERSION = "1.0" }

-- every well-formed multi-byte sequence (RFC 3629, section 4), the
-- most frequent first (CJK, then 2-byte scripts, then emoji); the order
-- does not change the result: each pattern starts with a lead byte, and
-- a lead byte is never part of another sequence
local SEQUENCES = {
    "[\225-\236][\128-\191][\128-\191]",
    "[\194-\223][\128-\191]",
    "\240[\144-\191][\128-\191][\128-\191]",
    "[\238-\239][\128-\191][\128-\191]",
    "\224[\160-\191][\128-\191]",
    "\237[\128-\159][\128-\191]",
    "[\241-\243][\128-\191][\128-\191][\128-\191]",
    "\244[\128-\143][\128-\191][\128-\191]",
}
local NSEQ = #SEQUENCES

local ANCHORED = {}
for i = 1, NSEQ do
    ANCHORED[i] = "^" .. SEQUENCES[i]
end

local REPLACEMENT = "\239\191\189"     -- U+FFFD


-- the JSON codec's own check (module/omni_json_text.c): one C loop, where
-- patterns would scan the string once per kind of sequence
local valid = require("omni_json_native").utf8_valid


--- Tells whether a string is valid UTF-8.
-- @tparam string s
-- @treturn boolean
-- @usage if not utf8.valid(req.args.q) then return nil, "bad encoding" end
function _M.valid(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'valid' (string expected, got "
              .. type(s) .. ")", 2)
    end
    return valid(s)
end


local function encode(cp)
    if cp < 0x80 then
        return char(cp)
    elseif cp < 0x800 then
        return char(0xC0 + floor(cp / 0x40), 0x80 + cp % 0x40)
    elseif cp < 0x10000 then
        return char(0xE0 + floor(cp / 0x1000),
                    0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
    end
    return char(0xF0 + floor(cp / 0x40000), 0x80 + floor(cp / 0x1000) % 0x40,
                0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end


--- Encodes a Unicode code point as UTF-8.
-- @tparam number cp 0..0x10FFFF, not a surrogate
-- @treturn string
function _M.char(cp)
    if type(cp) ~= "number" or cp ~= floor(cp) or cp < 0 or cp > 0x10FFFF
       or (cp >= 0xD800 and cp <= 0xDFFF)
    then
        error("bad argument #1 to 'char' (code point expected)", 2)
    end
    return encode(cp)
end


--- Cuts a string to at most `max` bytes without splitting a character
-- (the string is assumed to be valid UTF-8).
-- @tparam string s
-- @tparam number max bytes
-- @treturn string
function _M.truncate(s, max)
    if type(s) ~= "string" then
        error("bad argument #1 to 'truncate' (string expected, got "
              .. type(s) .. ")", 2)
    end
    if type(max) ~= "number" or max < 0 then
        error("bad argument #2 to 'truncate' (non-negative number expected)",
              2)
    end
    max = floor(max)
    if #s <= max then
        return s
    end
    -- back off over at most 3 continuation bytes
    local cut = max
    for _ = 1, 3 do
        local b = byte(s, cut + 1)
        if not b or b < 0x80 or b > 0xBF then
            break
        end
        cut = cut - 1
    end
    return sub(s, 1, cut)
end


--- Repairs a string: each byte that is not part of a well-formed
-- sequence becomes U+FFFD. Valid strings are returned unchanged.
-- @tparam string s
-- @treturn string
function _M.sanitize(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'sanitize' (string expected, got "
              .. type(s) .. ")", 2)
    end
    if valid(s) then
        return s
    end
    local buf, n = {}, 0
    local i, len = 1, #s
    while i <= len do
        local j = find(s, "[\128-\255]", i)
        if not j then
            n = n + 1
            buf[n] = sub(s, i)
            break
        end
        if j > i then
            n = n + 1
            buf[n] = sub(s, i, j - 1)
        end
        local e
        for k = 1, NSEQ do
            local _
            _, e = find(s, ANCHORED[k], j)
            if e then
                break
            end
        end
        n = n + 1
        if e then
            buf[n] = sub(s, j, e)
            i = e + 1
        else
            buf[n] = REPLACEMENT
            i = j + 1
        end
    end
    return concat(buf, "", 1, n)
end


return _M
