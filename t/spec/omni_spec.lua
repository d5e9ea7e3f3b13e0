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
