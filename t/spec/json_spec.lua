-- omni.json: strict decoding, deterministic encoding.

local json = require "omni.json"
local utf8 = require "omni.utf8"

local null = json.null

-- the codec is omni_json_native (module/omni_lua_json.c, built as
-- build/lib/omni_json_native.so)
local decode, encode = json.decode, json.encode

local function fails(s, pattern)
    local v, err = decode(s)
    assert.is_nil(v, "decoded: " .. s)
    assert.is_string(err)
    if pattern then
        assert.matches(pattern, err, 1, true)
    end
    return err
end

describe("omni.json.decode", function()

    describe("valid documents", function()
        it("decodes scalars at the top level", function()
            assert.equal(1, decode("1"))
            assert.equal(-0.5, decode("-0.5"))
            assert.equal(1e10, decode("1E10"))
            assert.equal(2.5e-3, decode("2.5e-3"))
            assert.equal(100, decode("1e+2"))
            assert.equal(0, decode("0"))
            assert.equal("x", decode('"x"'))
            assert.is_true(decode("true"))
            assert.is_false(decode("false"))
            assert.equal(null, decode("null"))
        end)

        it("decodes nested objects and arrays", function()
            local v = decode(' { "a" : [1, 2, {"b": null}], "c": {"d": "e"} } ')
            assert.equal(1, v.a[1])
            assert.equal(2, v.a[2])
            assert.equal(null, v.a[3].b)
            assert.equal("e", v.c.d)
        end)

        it("keeps null object members and array holes", function()
            local v = decode('{"a":null,"b":[null,1,null]}')
            assert.equal(null, v.a)
            assert.equal(3, #v.b)
            assert.equal(null, v.b[1])
            assert.equal(null, v.b[3])
        end)

        it("accepts all JSON whitespace", function()
            assert.same({ 1 }, { decode(" \t\r\n[ 1 \n]\r\n ")[1] })
        end)

        it("ignores a leading UTF-8 byte order mark", function()
            assert.equal(1, decode("\239\187\1911"))
        end)

        it("decodes all simple escapes", function()
            assert.equal('"\\/\b\f\n\r\t', decode([["\"\\\/\b\f\n\r\t"]]))
        end)

        it("decodes \\u escapes to UTF-8", function()
            assert.equal("A", decode([["\u0041"]]))
            assert.equal("\195\169", decode([["\u00e9"]]))
            assert.equal("\228\184\173", decode([["\u4E2D"]]))
            assert.equal("\1", decode([["\u0001"]]))
        end)

        it("decodes surrogate pairs", function()
            assert.equal("\240\159\152\128", decode([["\ud83d\ude00"]]))
            assert.equal("\244\143\191\191", decode([["\uDBFF\uDFFF"]]))
        end)

        it("passes raw UTF-8 through", function()
            assert.equal("中文 é 😀", decode('"中文 é 😀"'))
        end)

        it("allows DEL unescaped", function()
            assert.equal("\127", decode('"\127"'))
        end)

        it("accepts nesting up to 64 levels", function()
            local s = string.rep("[", 64) .. string.rep("]", 64)
            assert.is_table(decode(s))
            s = string.rep('{"a":', 63) .. "[]" .. string.rep("}", 63)
            assert.is_table(decode(s))
        end)

        it("decodes huge integers to the nearest double", function()
            assert.equal(2 ^ 64, decode("18446744073709551616"))
            assert.equal(1e308, decode("1e308"))
            assert.equal(0, decode("1e-400"))
        end)
    end)

    describe("invalid documents", function()
        it("refuses empty input", function()
            fails("", "empty document")
            fails("  \n ", "empty document")
        end)

        it("refuses trailing garbage", function()
            fails("1 2", "after the document")
            fails("{} x", "after the document")
            fails("[1]]", "after the document")
        end)

        it("refuses trailing commas", function()
            fails("[1,]")
            fails('{"a":1,}')
        end)

        it("refuses missing commas and colons", function()
            fails("[1 2]", "',' or ']' expected")
            fails('{"a" 1}', "':' expected")
            fails('{"a":1 "b":2}', "',' or '}' expected")
        end)

        it("refuses unquoted or single-quoted keys", function()
            fails("{a:1}", "object key expected")
            fails("{'a':1}", "object key expected")
            fails("{1:1}", "object key expected")
        end)

        it("refuses duplicate keys", function()
            fails('{"a":1,"a":2}', "duplicate key 'a'")
        end)

        it("refuses NUL, escaped or raw, in a value or a key", function()
            assert.equal("json: \\u0000 (NUL) in string at byte 2",
                         fails([["\u0000"]]))
            fails([[{"a":"x\u0000y"}]], "\\u0000 (NUL) in string at byte 8")
            fails([[{"a\u0000b":1}]], "\\u0000 (NUL) in string at byte 4")
            fails([[["\ud83d\ude00\u0000"] ]], "(NUL) in string at byte 15")
            fails('"a\0"', "unescaped control character 0x00 in string")
            fails('["a",\0]', "unexpected byte 0x00")
        end)

        it("refuses bad literals", function()
            fails("tru")
            fails("nul")
            fails("True")
            fails("NaN")
            fails("Infinity")
            fails("-Infinity")
            fails("undefined")
        end)

        it("refuses bad numbers", function()
            fails("01", "leading zero")
            fails("-01", "leading zero")
            fails("1.", "digit expected after decimal point")
            fails(".5")
            fails("+1")
            fails("1e", "digit expected in exponent")
            fails("1e+", "digit expected in exponent")
            fails("0x10")
            fails("-")
        end)

        it("refuses numbers out of range", function()
            fails("1e400", "number out of range")
            fails("-1e400", "number out of range")
        end)

        it("refuses unterminated strings and containers", function()
            fails('"abc', "unterminated string")
            fails("[1", "end of input")
            fails('{"a":1', "end of input")
            fails('{"a"', "end of input")
        end)

        it("refuses raw control characters in strings", function()
            fails('"a\nb"', "unescaped control character 0x0A")
            fails('"a\0b"', "unescaped control character 0x00")
            fails('"\31"', "0x1F")
        end)

        it("refuses invalid escapes", function()
            fails([["\x41"]], "invalid escape")
            fails([["\a"]], "invalid escape")
            fails([["\u12"]], "invalid \\u escape")
            fails([["\u12G4"]], "invalid \\u escape")
            fails('"\\', "invalid escape")
        end)

        it("refuses lone and reversed surrogates", function()
            fails([["\ud800"]], "lone surrogate")
            fails([["\ud800x"]], "lone surrogate")
            fails([["\udc00"]], "lone surrogate")
            fails([["\ude00\ud83d"]], "lone surrogate")
            fails([["\ud83d\u0041"]], "lone surrogate")
            fails([["\ud83d\ud83d"]], "lone surrogate")
        end)

        it("refuses invalid UTF-8", function()
            fails('"\255"', "invalid UTF-8")
            fails('"\192\175"', "invalid UTF-8")           -- overlong '/'
            fails('"\237\160\128"', "invalid UTF-8")       -- surrogate
            fails('"\244\144\128\128"', "invalid UTF-8")   -- > U+10FFFF
            fails('"\228\184"', "invalid UTF-8")           -- truncated
            fails('"a\\n\128"', "invalid UTF-8")           -- after an escape
            fails('{"\255":1}', "invalid UTF-8")
        end)

        it("refuses a depth bomb", function()
            fails(string.rep("[", 65) .. string.rep("]", 65), "too deeply nested")
            fails(string.rep('{"a":', 65) .. "1" .. string.rep("}", 65),
                  "too deeply nested")
            -- a huge one fails fast, without a stack overflow
            fails(string.rep("[", 100000), "too deeply nested")
        end)

        it("says where the error is", function()
            local err = fails('{"a": x}')
            assert.equal("json: unexpected character 'x' at byte 7", err)
            err = fails("[1,\1]")
            assert.matches("unexpected byte 0x01 at byte 4", err, 1, true)
        end)

        it("raises for a non-string argument", function()
            assert.has_error(function() decode(nil) end,
                "bad argument #1 to 'decode' (string expected, got nil)")
            assert.has_error(function() decode(1) end)
            assert.has_error(function() decode({}) end)
        end)

        it("lets foreign errors through", function()
            -- a hook error (like the gateway's CPU budget) must not be
            -- turned into `nil, err`
            -- (the native codec runs no bytecode: the hook can only
            -- fire in its Lua wrapper, hence a count of 1 for it)
            local marker = newproxy()
            jit.off()
            jit.flush()
            debug.sethook(function()
                local info = debug.getinfo(2, "S")
                if info and info.source:find("omni/json.lua", 1, true) then
                    error(marker, 0)
                end
            end, "", 1)
            local ok, e = pcall(decode, "[" .. string.rep("1,", 5000) .. "1]")
            debug.sethook()
            assert.is_false(ok)
            assert.equal(marker, e)
        end)
    end)
end)

describe("omni.json.encode", function()

    it("encodes scalars", function()
        assert.equal("1", encode(1))
        assert.equal("-3", encode(-3))
        assert.equal("0.5", encode(0.5))
        assert.equal("0.1", encode(0.1))
        assert.equal("1e+20", encode(1e20))
        assert.equal("123456789012", encode(123456789012))
        assert.equal("true", encode(true))
        assert.equal("false", encode(false))
        assert.equal("null", encode(null))
        assert.equal('"x"', encode("x"))
    end)

    it("round-trips doubles exactly", function()
        for _, v in ipairs({ 1 / 3, 2 ^ 53, 2 ^ 53 + 2, 1e-300, 5e-324,
                             1.7976931348623157e308, -2.5e-7, 0.1 + 0.2 }) do
            assert.equal(v, decode(encode(v)))
        end
    end)

    it("sorts object keys", function()
        assert.equal('{"a":1,"b":2,"c":{"x":1,"y":2}}',
                     encode({ c = { y = 2, x = 1 }, b = 2, a = 1 }))
    end)

    it("encodes sequences as arrays, empty tables as objects", function()
        assert.equal("[1,2,3]", encode({ 1, 2, 3 }))
        assert.equal("{}", encode({}))
        assert.equal('[1,null,"x"]', encode({ 1, null, "x" }))
    end)

    it("round-trips {} and [] through decode", function()
        assert.equal('{"a":{},"b":[],"c":[{}],"d":[[]]}',
                     encode(decode('{"a":{},"b":[],"c":[{}],"d":[[]]}')))
        assert.equal("[]", encode(decode("[]")))
        assert.equal("{}", encode(decode("{}")))
    end)

    it("offers empty_array, array() and object()", function()
        assert.equal("[]", encode(json.empty_array))
        assert.equal('{"a":[]}', encode({ a = json.empty_array }))
        assert.equal("[]", encode(json.array()))
        assert.equal("[]", encode(json.array({})))
        assert.equal("[1]", encode(json.array({ 1 })))
        assert.equal("{}", encode(json.object()))
        local t = {}
        assert.equal(t, json.array(t))
        assert.is_true(json.is_array(t))
        assert.is_true(json.is_array(json.empty_array))
        assert.is_false(json.is_array({}))
        assert.is_true(json.is_object(json.object({})))
        assert.is_true(json.is_object(decode("{}")))
        assert.is_true(json.is_array(decode("[]")))
        assert.has_error(function() json.array(1) end)
        assert.has_error(function() json.object("x") end)
    end)

    it("keeps decoded objects objects even with integer-like keys", function()
        assert.equal('{"1":"a"}', encode(decode('{"1":"a"}')))
    end)

    it("escapes control characters, quotes and backslashes", function()
        assert.equal([["a\"b\\c"]], encode('a"b\\c'))
        assert.equal([["\n\r\t\b\f"]], encode("\n\r\t\b\f"))
        assert.equal([["\u0001\u001f\u007f"]], encode("\1\31\127"))
        assert.equal('"/"', encode("/"))
    end)

    it("passes UTF-8 through", function()
        assert.equal('"中文😀"', encode("中文😀"))
    end)

    it("refuses NUL in a string or a key, naming the place", function()
        local function refused(v, message)
            local s, err = encode(v)
            assert.is_nil(s)
            assert.equal(message, err)
        end
        refused("a\0b", "value holds a NUL character (U+0000)")
        refused({ items = { "x", "\0" } },
                "items[2] holds a NUL character (U+0000)")
        refused({ a = { ["k\0"] = 1 } },
                "a has a key holding a NUL character (U+0000)")
        refused({ ["\0"] = 1 }, "value has a key holding a NUL character"
                                 .. " (U+0000)")
    end)

    it("round-trips every escaped character", function()
        local chars = {}
        for b = 1, 127 do
            chars[#chars + 1] = string.char(b)
        end
        local s = table.concat(chars)
        assert.equal(s, decode(encode(s)))
    end)

    it("pretty-prints with an indent", function()
        assert.equal('{\n  "a": [\n    1,\n    {}\n  ],\n  "b": []\n}',
                     encode({ a = { 1, {} }, b = json.empty_array },
                            { indent = "  " }))
    end)

    local function refuses(v, message)
        local s, err = encode(v)
        assert.is_nil(s)
        assert.equal(message, err)
    end

    it("refuses functions, userdata, threads", function()
        refuses(print, "value is a function")
        refuses({ a = { b = { 1, 2, print } } }, "a.b[3] is a function")
        refuses({ u = newproxy() }, "u is a userdata")
        refuses({ co = coroutine.create(print) }, "co is a thread")
        refuses({ io.stdout }, "[1] is a userdata")
    end)

    it("refuses NaN and infinities", function()
        refuses(0 / 0, "value is NaN")
        refuses({ x = math.huge }, "x is infinite")
        refuses({ x = { -math.huge } }, "x[1] is infinite")
    end)

    it("refuses cycles but not shared tables", function()
        local t = {}
        t.self = t
        refuses(t, "self is a cycle")
        local a = { 1 }
        a[2] = a
        refuses({ list = a }, "list[2] is a cycle")
        local shared = { 1 }
        assert.equal('{"a":[1],"b":[1]}', encode({ a = shared, b = shared }))
    end)

    it("refuses sparse arrays and mixed tables", function()
        refuses({ 1, nil, 3 }, "value is a sparse array")
        refuses({ [2] = 1 }, "value is a sparse array")
        refuses({ [1e9] = 1 }, "value is a sparse array")
        refuses({ 1, 2, x = 3 }, "value mixes string and integer keys")
        refuses({ [1.5] = 1 }, "value has a key that is not a string or a positive integer (1.5)")
        refuses({ [0] = 1 }, "value has a key that is not a string or a positive integer (0)")
        refuses({ [true] = 1 }, "value has a key that is not a string or a positive integer (true)")
        local arr = json.array({})
        arr.x = 1
        refuses(arr, "value is an array with string keys")
        arr[1] = 1
        refuses(arr, "value mixes string and integer keys")
        local obj = json.object({})
        obj[1] = 1
        refuses(obj, "value is an object with integer keys")
    end)

    it("refuses invalid UTF-8 in strings and keys", function()
        refuses("\255", "value is not valid UTF-8")
        refuses({ a = "\237\160\128" }, "a is not valid UTF-8")
        refuses({ ["\192"] = 1 }, "\192 is not valid UTF-8")
    end)

    it("refuses nesting deeper than 64", function()
        local t = {}
        local cur = t
        for _ = 1, 64 do
            cur[1] = {}
            cur = cur[1]
        end
        refuses(t, string.rep("[1]", 64) .. " is too deeply nested (more than 64 levels)")
        assert.is_string(encode(t[1]))
    end)

    it("states the codec's own depth limit as MAX_DEPTH", function()
        local n = json.MAX_DEPTH
        assert.equal(64, n)
        assert.equal(require("omni_json_native").MAX_DEPTH, n)
        assert.is_table(json.decode(string.rep("[", n) .. string.rep("]", n)))
        assert.is_nil(json.decode(string.rep("[", n + 1)
                                  .. string.rep("]", n + 1)))
    end)

    it("refuses nil at the top level", function()
        refuses(nil, "value is nil")
    end)

    it("raises for bad options", function()
        assert.has_error(function() encode(1, "  ") end)
        assert.has_error(function() encode(1, { indent = 2 }) end)
    end)
end)


describe("omni.json.decode_reply", function()
    it("keeps the top-level data as the service's text", function()
        local text = '{"ok":true, "data" : {"b":[1,2,{"x":"\\u00e9"}],"a":1.50} }'
        local r = assert(json.decode_reply(text))
        assert.is_true(r.ok)
        assert.is_true(json.is_raw(r.data))
        assert.equal('{"b":[1,2,{"x":"\\u00e9"}],"a":1.50}', json.raw_text(r.data))
        assert.equal('{"data":{"b":[1,2,{"x":"\\u00e9"}],"a":1.50},"ok":true}', json.encode(r))
        assert.is_true(json.is_object(r))
    end)

    it("decodes the rest, and data only at the top level", function()
        local r = assert(json.decode_reply('{"ok":false,"error":{"code":"x","message":"m","data":1},"data":[1]}'))
        assert.same({ code = "x", message = "m", data = 1 }, r.error)
        assert.equal("[1]", json.raw_text(r.data))
        assert.is_nil(json.raw_text(r.error))
        assert.same({ 1, 2 }, json.decode_reply("[1,2]"))
        assert.equal(json.null, json.decode_reply("null"))
    end)

    it("checks data as decode checks any value", function()
        local function refused(text, pattern)
            local r, err = json.decode_reply(text)
            assert.is_nil(r, text)
            assert.matches(pattern, err, 1, true)
            local _, derr = json.decode(text)
            assert.equal(derr, err)
        end
        refused('{"ok":true,"data":{"a":1,"a":2}}', "duplicate key 'a'")
        -- keys are compared as decoded, escaped or not, first or late
        refused('{"ok":true,"data":{"a":1,"\\u0061":2}}', "duplicate key 'a'")
        refused('{"ok":true,"data":{"\\u0061":1,"a":2}}', "duplicate key 'a'")
        refused('{"ok":true,"data":{"x":{"b":1,"c":{"d":1,"d":2}}}}',
                "duplicate key 'd'")
        local many = {}
        for i = 1, 40 do
            many[i] = '"k' .. i .. '":' .. i
        end
        local members = table.concat(many, ",")
        assert.truthy(json.decode_reply('{"data":{' .. members .. '}}'))
        assert.truthy(json.decode_reply('{"data":{' .. members .. ',"\\u006b":0}}'))
        for _, late in ipairs({ "k1", "k16", "k17", "k40" }) do
            refused('{"ok":true,"data":{' .. members .. ',"' .. late .. '":0}}',
                    "duplicate key '" .. late .. "'")
        end
        refused('{"ok":true,"data":{' .. members .. ',"\\u006b3":0}}',
                "duplicate key 'k3'")
        refused('{"ok":true,"data":{"k\\u0033":0,' .. members .. '}}',
                "duplicate key 'k3'")
        refused('{"ok":true,"data":{"a\\"b":1,"a\\u0022b":2}}',
                "duplicate key 'a\"b'")
        -- a key repeated without its colon: the colon is missed first
        refused('{"ok":true,"data":{"z":1,"me":1,"me"P}}', "':' expected")
        refused('{"ok":true,"data":1,"data":2}', "duplicate key 'data'")
        refused('{"ok":true,"data":"\\ud800"}', "lone surrogate")
        refused('{"ok":true,"data":"\255"}', "invalid UTF-8")
        refused('{"ok":true,"data":1e999}', "number out of range")
        refused('{"ok":true,"data":[1,]}', "unexpected character")
        refused('{"ok":true,"data":' .. string.rep("[", 70) .. string.rep("]", 70) .. "}",
                "too deeply nested")
        refused('{"ok":true,"data":tru}', "unexpected character")
        refused('{"ok":true,"data":{"k":"\\q"}}', "invalid escape")
        refused('{"ok":true,"data":{"echo":"a\\u0000b"}}', "(NUL) in string")
        refused('{"ok":false,"error":{"code":"x","message":"\\u0000"}}',
                "(NUL) in string")
    end)

    it("raw values encode as their text, and only raw values have one", function()
        local r = assert(json.decode_reply('{"data":"x"}'))
        assert.equal('["x",1]', json.encode({ r.data, 1 }))
        assert.is_false(json.is_raw({ "x" }))
        assert.is_nil(json.raw_text("x"))
        assert.has_error(function() json.decode_reply(1) end)
    end)
end)

describe("omni.utf8", function()
    it("validates", function()
        assert.is_true(utf8.valid(""))
        assert.is_true(utf8.valid("abc"))
        assert.is_true(utf8.valid("中文😀é\239\191\189"))
        assert.is_false(utf8.valid("\128"))
        assert.is_false(utf8.valid("\224\128\128"))    -- overlong
        assert.is_false(utf8.valid("\240\128\128\128"))
        assert.is_false(utf8.valid("\248\136\128\128\128"))
        assert.is_false(utf8.valid("\194"))
        -- removing a valid sequence must not glue its neighbours together
        assert.is_false(utf8.valid("\225\128\194\128\128"))
        assert.is_false(utf8.valid("\194\225\128\128\128"))
        assert.has_error(function() utf8.valid(nil) end)
    end)

    it("encodes code points", function()
        assert.equal("A", utf8.char(65))
        assert.equal("\244\143\191\191", utf8.char(0x10FFFF))
        assert.has_error(function() utf8.char(0xD800) end)
        assert.has_error(function() utf8.char(0x110000) end)
        assert.has_error(function() utf8.char(1.5) end)
    end)

    it("truncates on character boundaries", function()
        assert.equal("a", utf8.truncate("a中", 2))
        assert.equal("a", utf8.truncate("a中", 3))
        assert.equal("a中", utf8.truncate("a中", 4))
        assert.equal("", utf8.truncate("😀", 3))
        assert.equal("abc", utf8.truncate("abcdef", 3))
        assert.has_error(function() utf8.truncate("x", -1) end)
    end)

    it("repairs invalid strings", function()
        assert.equal("ok", utf8.sanitize("ok"))
        assert.equal("a\239\191\189b", utf8.sanitize("a\255b"))
        assert.equal("\239\191\189\239\191\189中",
                     utf8.sanitize("\228\184中"))
        assert.is_true(utf8.valid(utf8.sanitize("\192\175\237\160\128x")))
    end)
end)
