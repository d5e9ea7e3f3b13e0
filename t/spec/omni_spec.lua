--- Specs for the helpers of lua/omni.lua that plugins share.

local omni = require "omni"

describe("omni.first_language", function()
    it("takes the first tag of Accept-Language", function()
        assert.are.equal("zh-CN", omni.first_language("zh-CN,zh;q=0.9,en;q=0.8"))
        assert.are.equal("en", omni.first_language("  en ;q=1"))
    end)

    it("never carries what follows a tag, such as CR/LF", function()
        assert.are.equal("en-US", omni.first_language("en-US\r\nX: 1"))
    end)

    it("turns WeChat's underscore form into a tag", function()
        assert.are.equal("zh-CN", omni.first_language("zh_CN"))
    end)

    it("gives nil for anything that is no tag", function()
        assert.is_nil(omni.first_language(nil))
        assert.is_nil(omni.first_language(42))
        assert.is_nil(omni.first_language(""))
        assert.is_nil(omni.first_language("*"))
        assert.is_nil(omni.first_language("x"))
        assert.is_nil(omni.first_language(string.rep("a", 100)))
    end)
end)

describe("omni.error_status", function()
    local service = { status = 200, gateway = false }

    it("keeps the gateway's status", function()
        assert.are.equal(401, omni.error_status("token_expired",
                                                { status = 401, gateway = true }))
        assert.are.equal(500, omni.error_status("plugin_error",
                                                { status = 99, gateway = true }))
    end)

    it("maps service codes by name", function()
        local cases = {
            order_not_found = 404, not_found = 404, unauthorized = 401,
            card_unauthorized = 401, permission_denied = 403,
            order_conflict = 409, already_exists = 409, rate_limited = 429,
            invalid_coupon = 400, coupon_invalid = 400, phone_required = 400,
            name_missing = 400, internal_error = 500,
            upstream_reply_invalid = 502, stock_unavailable = 503,
        }
        for code, status in pairs(cases) do
            assert.are.equal(status, omni.error_status(code, service), code)
        end
    end)

    it("falls back to the service's error status, then 422", function()
        assert.are.equal(409, omni.error_status("coupon_exhausted",
                                                { status = 409 }))
        assert.are.equal(422, omni.error_status("coupon_exhausted", service))
        assert.are.equal(422, omni.error_status(nil, service))
    end)
end)

describe("omni's helpers for plugins", function()
    it("trimmed", function()
        assert.equal("a b", omni.trimmed("  a b \t"))
        assert.is_nil(omni.trimmed("   "))
        assert.is_nil(omni.trimmed(""))
        assert.is_nil(omni.trimmed(42))
        assert.is_nil(omni.trimmed(nil))
        -- exactly Lua's %s: tab, LF, VT, FF, CR and space; nothing else
        assert.equal("x", omni.trimmed("\t\n\v\f\r x\r\n\f\v\t "))
        assert.is_nil(omni.trimmed("\t\n\v\f\r "))
        assert.equal("\0a\0", omni.trimmed(" \0a\0 "))
        assert.equal("\194\160a", omni.trimmed("\194\160a"))
        assert.equal("a", omni.trimmed("a"))
        assert.equal("a  b", omni.trimmed("a  b"))
        assert.equal("a  b", omni.trimmed("a  b "))
        assert.equal("a  b", omni.trimmed(" a  b"))
        local long = string.rep("x ", 5000) .. "y"
        assert.equal(long, omni.trimmed(long))
        assert.equal(long, omni.trimmed("  " .. long .. "\n"))
        assert.equal(omni.trimmed, omni.form.trimmed)
    end)

    it("header", function()
        local headers = { ["x-app-id"] = " wx1 ", ["x-v"] = "8.0 beta",
                          ["x-bad"] = "a\tb", ["x-long"] = string.rep("x", 9) }
        assert.equal("wx1", omni.header(headers, "x-app-id", "X-App-Id", 8))
        assert.is_nil(omni.header(headers, "x-none", "X-None", 8))
        assert.is_nil(omni.header(nil, "x-app-id", "X-App-Id", 8))
        assert.equal("8.0 beta", omni.header(headers, "x-v", "X-V", 8, true))
        local v, err = omni.header(headers, "x-v", "X-V", 8)
        assert.is_nil(v)
        assert.same({ code = "invalid_header", message = "X-V is not valid", status = 400 }, err)
        assert.is_nil((omni.header(headers, "x-bad", "X-Bad", 8, true)))
        assert.is_nil((omni.header(headers, "x-long", "X-Long", 8)))
    end)

    it("printable", function()
        assert.equal("wx1", omni.printable(" wx1 ", 8))
        assert.equal("8.0 beta", omni.printable("8.0 beta", 8, true))
        assert.is_false(omni.printable("8.0 beta", 8))
        assert.is_false(omni.printable("a\tb", 8, true))
        assert.is_false(omni.printable("caf\195\169", 8))
        assert.is_false(omni.printable(string.rep("x", 9), 8))
        assert.equal(string.rep("x", 8), omni.printable(string.rep("x", 8), 8))
        assert.is_nil(omni.printable("  ", 8))
        assert.is_nil(omni.printable(42, 8))
        assert.is_nil(omni.printable(nil, 8))
    end)

    it("error_parts", function()
        assert.same({ "not_found", "no such order" },
                    { omni.error_parts({ code = "not_found", message = "no such order" }) })
        assert.same({ "not_found", "" }, { omni.error_parts({ code = "not_found" }) })
        assert.same({ "internal_error", "m" },
                    { omni.error_parts({ code = 42, message = "m" }) })
        assert.same({ "internal_error", "" }, { omni.error_parts("oops") })
        assert.same({ "internal_error", "" }, { omni.error_parts(nil) })
    end)

    it("is_object", function()
        assert.is_true(omni.is_object({}))
        assert.is_true(omni.is_object({ a = 1 }))
        assert.is_true(omni.is_object(omni.json.decode("{}")))
        assert.is_false(omni.is_object(omni.json.decode("[]")))
        assert.is_false(omni.is_object({ 1, 2 }))
        assert.is_false(omni.is_object("x"))
    end)

    it("clip", function()
        assert.equal("a?b", omni.clip("a\nb"))
        assert.equal(string.rep("x", 200) .. "...", omni.clip(string.rep("x", 300)))
        assert.equal("xx...", omni.clip("xxx", 2))
        assert.equal("42", omni.clip(42))
    end)

    it("settings", function()
        assert.same({ a = "1" }, omni.settings({ settings = { a = "1" } }))
        assert.same({}, omni.settings(nil))
        assert.same({}, omni.settings({ settings = "x" }))
    end)
end)
