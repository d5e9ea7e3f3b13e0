-- omni.form: application/x-www-form-urlencoded.

local form = require "omni.form"

describe("omni.form.decode", function()
    it("decodes pairs", function()
        local t, all = form.decode("a=1&b=2")
        assert.same({ a = "1", b = "2" }, t)
        assert.same({ a = { "1" }, b = { "2" } }, all)
    end)

    it("lets the last value win and lists all values", function()
        local t, all = form.decode("b=1&a=x&b=2&b=3")
        assert.same({ a = "x", b = "3" }, t)
        assert.same({ "1", "2", "3" }, all.b)
        assert.same({ "x" }, all.a)
    end)

    it("decodes an empty string to empty tables", function()
        local t, all = form.decode("")
        assert.same({}, t)
        assert.same({}, all)
    end)

    it("skips empty pairs", function()
        assert.same({ a = "1", b = "2" }, (form.decode("&a=1&&b=2&")))
    end)

    it("gives keys without '=' an empty value", function()
        assert.same({ flag = "", x = "" }, (form.decode("flag&x=")))
    end)

    it("keeps '=' after the first one in the value", function()
        assert.same({ sig = "ab==" }, (form.decode("sig=ab==")))
    end)

    it("accepts an empty key", function()
        assert.same({ [""] = "v" }, (form.decode("=v")))
    end)

    it("percent-decodes keys and values, either case", function()
        assert.same({ ["a b"] = "é/&=", k = "\1\255" },
                    (form.decode("a%20b=%C3%a9%2F%26%3D&k=%01%fF")))
    end)

    it("refuses a NUL, percent-encoded or raw, in a key or a value", function()
        local function refused(s, byte)
            local t, err = form.decode(s)
            assert.is_nil(t, s)
            assert.equal("form: NUL (%00) at byte " .. byte, err)
        end
        refused("a=%00", 3)
        refused("a=1&b=x%00y", 8)
        refused("%00=1", 1)
        refused("a=\0", 3)
        refused("a=\0&b=%00", 3)
        refused("a=%00&b=\0", 3)
        refused("a=%%00", 4)                -- '%' kept, then %00
        -- %2500 is "%00" as text, not a NUL
        assert.same({ a = "%00" }, (form.decode("a=%2500")))
    end)

    it("turns '+' into a space, and %2B into '+'", function()
        assert.same({ q = "a b+c", ["x y"] = "1" },
                    (form.decode("q=a+b%2Bc&x+y=1")))
    end)

    it("keeps malformed percent sequences literally", function()
        assert.same({ a = "%zz", b = "%", c = "%4", d = "100%", e = "%A" },
                    (form.decode("a=%zz&b=%&c=%4&d=100%&e=%%41")))
    end)

    it("does not treat ';' as a separator", function()
        assert.same({ a = "1;b=2" }, (form.decode("a=1;b=2")))
    end)

    it("passes bytes through without UTF-8 checks", function()
        assert.same({ q = "\214\208" }, (form.decode("q=%D6%D0")))
    end)

    it("accepts 1000 pairs and refuses more", function()
        local parts = {}
        for i = 1, 1000 do
            parts[i] = "k" .. i .. "=" .. i
        end
        local t = form.decode(table.concat(parts, "&"))
        assert.equal("1000", t.k1000)
        parts[1001] = "k1001=1"
        local t2, err = form.decode(table.concat(parts, "&"))
        assert.is_nil(t2)
        assert.equal("form: too many parameters (more than 1000)", err)
    end)

    it("counts empty pairs against the cap", function()
        local t, err = form.decode(string.rep("&", 5000))
        assert.is_nil(t)
        assert.matches("too many parameters", err)
    end)

    it("raises for a non-string", function()
        assert.has_error(function() form.decode(nil) end,
            "bad argument #1 to 'decode' (string expected, got nil)")
        assert.has_error(function() form.decode({}) end)
    end)
end)

describe("omni.form.encode", function()
    it("encodes sorted pairs", function()
        assert.equal("a=1&b=x%20y&c=true", form.encode({ c = true, b = "x y", a = 1 }))
    end)

    it("repeats keys for arrays", function()
        assert.equal("a=1&a=2&b=3", form.encode({ a = { "1", 2 }, b = "3" }))
    end)

    it("percent-encodes everything but unreserved characters", function()
        assert.equal("k%26=%2B%3D%25%C3%A9-._~", form.encode({ ["k&"] = "+=%é-._~" }))
    end)

    it("round-trips through decode", function()
        local t = { ["a b"] = "c+d&e=f%", ["中"] = "文" }
        assert.same(t, (form.decode(form.encode(t))))
    end)

    it("encodes an empty table as an empty string", function()
        assert.equal("", form.encode({}))
    end)

    it("raises for bad values and keys", function()
        assert.has_error(function() form.encode("x") end)
        assert.has_error(function() form.encode({ a = {} , b = print }) end)
        assert.has_error(function() form.encode({ [1] = "x" }) end)
        assert.has_error(function() form.encode({ a = { print } }) end)
    end)
end)

describe("omni.form.escape / unescape", function()
    it("escapes spaces as %20", function()
        assert.equal("a%20b%2Fc", form.escape("a b/c"))
    end)

    it("unescapes", function()
        assert.equal("a b/c%zz", form.unescape("a+b%2fc%zz"))
    end)

    it("raises for non-strings", function()
        assert.has_error(function() form.escape(1) end)
        assert.has_error(function() form.unescape(nil) end)
    end)
end)
