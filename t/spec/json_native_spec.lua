-- omni.json: the native codec gives exactly the pure-Lua codec's results
-- (values, markers, texts, error messages), on a corpus and on seeded
-- random inputs.

local json = require "omni.json"

local L, N = json._lua, json._native
local null, empty_array = json.null, json.empty_array

-- same value, same markers; numbers bit for bit (-0 included)
local function same(a, b)
    if type(a) ~= type(b) then
        return false
    end
    if type(a) == "number" then
        return a == b and 1 / a == 1 / b
    end
    if type(a) ~= "table" then
        return a == b
    end
    if getmetatable(a) ~= getmetatable(b) then
        return false
    end
    for k, v in pairs(a) do
        if not same(v, b[k]) then
            return false
        end
    end
    for k in pairs(b) do
        if a[k] == nil then
            return false
        end
    end
    return true
end

local function check_decode(s)
    local v1, e1 = L.decode(s)
    local v2, e2 = N.decode(s)
    if e1 ~= e2 or not same(v1, v2) then
        error(string.format("decode(%q): lua %s / %s, native %s / %s", s,
                            tostring(v1), tostring(e1), tostring(v2),
                            tostring(e2)), 2)
    end
end

local function check_encode(v, opts)
    local s1, e1 = L.encode(v, opts)
    local s2, e2 = N.encode(v, opts)
    if s1 ~= s2 or e1 ~= e2 then
        error(string.format("encode: lua %q / %s, native %q / %s",
                            tostring(s1), tostring(e1), tostring(s2),
                            tostring(e2)), 2)
    end
end

local CORPUS = {
    "", " ", "1", "-0", "-0.0", "0e0", "1E+2", "1e-2", "123456789012345",
    "1234567890123456", "-999999999999999", "9007199254740993",
    "0.1", "3.141592653589793", "1e308", "1e309", "-1e309", "1e-400",
    "4.9e-324", "2.2250738585072014e-308", "18446744073709551616",
    string.rep("9", 80), string.rep("9", 400), "1" .. string.rep("0", 309),
    "0." .. string.rep("0", 80) .. "1", "01", "-01", "-", "-a", "+1", ".5",
    "1.", "1.e5", "1e", "1e+", "1e-", "0x10", "1 2", "true", "false", "null",
    "tru", "fals", "nul", "nulll", "True", "NaN", "-Infinity", '"', '"a',
    '"abc"', '"\\"', '"\\u"', '"\\u12"', '"\\u12G4"', '"\\u0000"',
    '"\\ud83d\\ude00"', '"\\ud83d"', '"\\ud83dx"', '"\\ud83d\\u"',
    '"\\ud83d\\u12"', '"\\ud83d\\u0041"', '"\\udc00"', '"\\uDBFF\\uDFFF"',
    '"\\b\\f\\n\\r\\t\\/\\\\\\""', '"\\x"', '"\1"', '"\127"', '"\255"',
    '"\255\n"', '"\255\\n"', '"a\\n\128"', '"\228\184"', '"\228\184\173"',
    '"\237\160\128"', '"\244\144\128\128"', '"\240\159\152\128"',
    '"\192\175"', "[]", "{}", "[ ]", "{ }", "[1,]", "[,1]", "[1 2]", "[1",
    "[", "]", "{", "}", '{"a"}', '{"a":}', '{"a":1,}', '{"a":1 "b":2}',
    '{"a" 1}', '{a:1}', "{'a':1}", '{1:1}', '{"a":1,"a":2}',
    '{"a":1,"a" 2}', '{"\\u0000":1,"\\u0000":2}', '{"":1,"":2}',
    '{"a":[1,{"b":null}],"c":{"d":"e"}}', ' \t\r\n[ 1 \n]\r\n ',
    "\239\187\191[1]", "\239\187\191", "\239\187", "[1]]", "{} x", "[1,\1]",
    '{"a": x}', string.rep("[", 64) .. string.rep("]", 64),
    string.rep("[", 65) .. string.rep("]", 65), string.rep("[", 100000),
    string.rep('{"a":', 64) .. "1" .. string.rep("}", 64),
    string.rep('{"a":', 65) .. "1" .. string.rep("}", 65),
    '{"1":"a","2":[true,false,null,{}]}', "[\0]", "\0", "[1\0]",
}

local SAMPLE = '{"action":"order.create","params":{"items":[{"sku":"A-1",'
    .. '"qty":2,"price":19.99},{"sku":"B\\u00e9","qty":1,"price":-0.5e3}],'
    .. '"note":"\\ud83d\\ude00 \\"hi\\"\\n","gift":false,"coupon":null,'
    .. '"tags":[],"meta":{}},"user":{"id":"u_123","roles":["a","b"]}}'

local MUTANTS = { '"', "\\", "{", "}", "[", "]", ",", ":", "0", "-", "e",
                  ".", "u", "\0", "\255", "\194", " ", "n", "t", "1" }

local describe_native = N and describe or pending

describe_native("omni.json native codec against the pure-Lua one", function()

    it("decodes a corpus identically", function()
        for _, s in ipairs(CORPUS) do
            check_decode(s)
        end
    end)

    it("decodes seeded mutations of a document identically", function()
        math.randomseed(42)
        for _ = 1, 5000 do
            local s = SAMPLE
            for _ = 1, math.random(1, 3) do
                local i = math.random(1, #s)
                local r = math.random(1, 3)
                local m = MUTANTS[math.random(1, #MUTANTS)]
                if r == 1 then
                    s = s:sub(1, i - 1) .. m .. s:sub(i + 1)
                elseif r == 2 then
                    s = s:sub(1, i - 1) .. m .. s:sub(i)
                else
                    s = s:sub(1, i - 1) .. s:sub(i + 1)
                end
            end
            check_decode(s)
            check_decode(s:sub(1, math.random(0, #s)))
        end
    end)

    it("decodes and encodes random numbers identically", function()
        math.randomseed(7)
        for _ = 1, 5000 do
            local v = (math.random() - 0.5) * 10 ^ math.random(-320, 308)
            check_encode(v)
            check_decode(L.encode(v))
            check_decode(string.format("%.17g", v))
            check_decode(string.format("%.20e", v))
            local digits = {}
            for j = 1, math.random(1, 30) do
                digits[j] = tostring(math.random(0, 9))
            end
            local d = table.concat(digits)
            check_decode(d)
            check_decode("-" .. d .. "." .. d .. "e-" .. math.random(0, 340))
        end
        for _, v in ipairs({ 0, -0.0, 1e15, -1e15, 1e15 - 1, 2 ^ 53,
                             2 ^ 63, 1 / 3, 5e-324, 1.7976931348623157e308,
                             0 / 0, math.huge, -math.huge }) do
            check_encode(v)
        end
    end)

    it("encodes values identically, compact and indented", function()
        local cyclic = { 1 }
        cyclic[2] = { x = cyclic }
        local deep = {}
        local cur = deep
        for _ = 1, 70 do
            cur.k = {}
            cur = cur.k
        end
        local cases = {
            "x", "", "a\"b\\c/\0\1\31\127", "中文😀", "\255", "\192",
            true, false, null, empty_array, nil, print, newproxy(),
            coroutine.create(print), io.stdout, {}, { 1, 2, 3 },
            { 1, nil, 3 }, { [2] = 1 }, { [1e9] = 1 }, { 1, x = 2 },
            { [1.5] = 1 }, { [0] = 1 }, { [true] = 1 }, { [{}] = 1 },
            { [-1] = 1 }, { [math.huge] = 1 }, json.array(), json.object(),
            json.array({ 1, json.object() }), json.object({ [1] = 1 }),
            json.array({ x = 1 }), cyclic, deep, deep.k.k.k.k.k.k,
            { a = { b = { 1, 2, print } } }, { ["\192"] = 1, a = 1 },
            { b = print, ["\192"] = 1 }, { z = 1, y = { x = { 0 / 0 } } },
            { ["a\0b"] = 1, ["a\0"] = 2, a = 3, b = { "\n" }, [""] = {} },
            { shared = cyclic[2], again = { 1 } },
            json.decode(SAMPLE), L.decode(SAMPLE), N.decode(SAMPLE),
        }
        for i = 1, #cases + 1 do         -- + 1: the nil
            local v = cases[i]
            check_encode(v)
            check_encode(v, { indent = "  " })
            check_encode(v, { indent = "" })
            check_encode(v, { indent = "\t\0" })
        end
    end)

    it("encodes random tables identically", function()
        math.randomseed(99)
        local leaves = { 1, -2.5, 0.1, "s", "é", "\1", "\255", true, false,
                         null, empty_array, print, 0 / 0 }
        local keys = { "a", "b", "B", "ab", "", "a.b", "\192", 1, 2, 3, 5 }
        local function gen(depth)
            if depth > 4 or math.random() < 0.3 then
                return leaves[math.random(1, #leaves)]
            end
            local t = {}
            local r = math.random()
            if r < 0.1 then
                json.array(t)
            elseif r < 0.2 then
                json.object(t)
            end
            local array = math.random() < 0.5
            for j = 1, math.random(0, 5) do
                local k = array and j or keys[math.random(1, #keys)]
                t[k] = gen(depth + 1)
            end
            return t
        end
        for _ = 1, 2000 do
            local v = gen(0)
            check_encode(v)
            check_encode(v, { indent = " " })
        end
    end)

    it("checks arguments like the pure-Lua codec", function()
        assert.has_error(function() N.decode(nil) end,
            "bad argument #1 to 'decode' (string expected, got nil)")
        assert.has_error(function() N.encode(1, "  ") end,
            "bad argument #2 to 'encode' (table expected, got string)")
        assert.has_error(function() N.encode(1, { indent = 2 }) end,
            "bad argument #2 to 'encode' (indent must be a string)")
    end)
end)
