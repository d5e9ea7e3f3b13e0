-- omni_form_native.sort_names: the byte-order sort omni.twilio's string
-- to sign uses in place of table.sort; it must order exactly as
-- table.sort orders strings, or the signature changes.

local native = require "omni_form_native"

local sort_names = native.sort_names

describe("omni_form_native.sort_names", function()
    it("orders as table.sort does, prefixes, high bytes and NULs included",
       function()
        local alphabet = { "a", "A", "b", "_", "0", "\0", "\127", "\128",
                           "\255", "Ca", "Call", "ab" }
        math.randomseed(7)
        for _ = 1, 2000 do
            local a, b = {}, {}
            for i = 1, math.random(0, 40) do
                local parts = {}
                for j = 1, math.random(0, 4) do
                    parts[j] = alphabet[math.random(#alphabet)]
                end
                a[i] = table.concat(parts)
                b[i] = a[i]
            end
            table.sort(a)
            sort_names(b, #b)
            assert.same(a, b)
        end
    end)

    it("sorts a[1..n] only, and keeps duplicates", function()
        local t = { "b", "a", "b", "z", "y" }
        sort_names(t, 3)
        assert.same({ "a", "b", "b", "z", "y" }, t)
        sort_names(t, 0)
        assert.same({ "a", "b", "b", "z", "y" }, t)
    end)

    it("sorts MAX_PAIRS names and refuses more, or what is not a string",
       function()
        local t = {}
        for i = 1, native.MAX_PAIRS do
            t[i] = tostring(native.MAX_PAIRS - i)
        end
        sort_names(t, #t)
        assert.equal("0", t[1])
        assert.equal("999", t[#t])
        t[#t + 1] = "x"
        assert.has_error(function() sort_names(t, #t) end)
        assert.has_error(function() sort_names({ "a", 1 }, 2) end,
            "bad argument #1 to 'sort_names' (string expected at 2, got"
            .. " number)")
        assert.has_error(function() sort_names({ "a" }, -1) end)
        assert.has_error(function() sort_names("a", 1) end)
    end)
end)
