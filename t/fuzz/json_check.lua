-- The checks of fuzz_json: what omni.json decodes, it encodes, and the
-- text decodes to the same value (its encoding the same text), pretty or
-- compact; decode_reply accepts and refuses what decode does, with the
-- same message, and keeps the same value.

local json = require "omni.json"

local decode, decode_reply, encode = json.decode, json.decode_reply,
                                     json.encode

local function check(cond, what, s)
    if not cond then
        error(what .. ": " .. string.format("%q", s), 0)
    end
end

-- encode(decode(text)) as the canonical text of a value
local function canonical(text, what)
    local v, err = decode(text)
    check(v ~= nil, what .. " does not decode (" .. tostring(err) .. ")",
          text)
    local again, eerr = encode(v)
    check(again ~= nil, what .. " does not encode (" .. tostring(eerr)
          .. ")", text)
    return again
end

return function(s)
    local v, err = decode(s)
    local r, rerr = decode_reply(s)

    check((v == nil) == (r == nil), "decode and decode_reply disagree", s)

    if v == nil then
        check(type(err) == "string" and err == rerr,
              "decode and decode_reply fail differently", s)
        return
    end

    local text, eerr = encode(v)
    check(text ~= nil, "a decoded value does not encode ("
          .. tostring(eerr) .. ")", s)
    check(canonical(text, "the encoding") == text,
          "the encoding decodes to another value", s)

    local pretty = encode(v, { indent = "  " })
    check(pretty ~= nil and canonical(pretty, "the pretty encoding") == text,
          "the pretty encoding decodes to another value", s)

    local rtext = encode(r)
    check(rtext ~= nil and canonical(rtext, "the reply's encoding") == text,
          "decode_reply keeps another value", s)
end
