-- omni.contract: the request contract and the unified reply.

local contract = require "omni.contract"
local json = require "omni.json"
local lfs = require "lfs"

local null = json.null

local function read(path)
    local fh = assert(io.open(path, "rb"))
    local s = fh:read("*a")
    fh:close()
    return s
end

local function json_files(dir)
    local out = {}
    for entry in lfs.dir(dir) do
        if entry:match("%.json$") then
            out[#out + 1] = entry
        end
    end
    table.sort(out)
    return out
end

local function known(over)
    local k = {
        request_id = "4f1c0c5e2a9b4d7c8e6f1a2b3c4d5e6f",
        received_at = 1795540000123,
        channel = "miniprogram",
        client_ip = "203.0.113.7",
    }
    for key, v in pairs(over or {}) do
        k[key] = v
    end
    return k
end

local function invalid_fields(fields, message)
    local ok, err = contract.validate_fields(fields)
    assert.is_nil(ok)
    assert.equal(message, err)
end

describe("omni.contract predicates", function()
    -- every case goes through the writer's C predicate too: same answer
    local native = require "omni_contract_native"
    local lua_predicates = {}
    for _, name in ipairs({ "is_name", "is_action", "is_code", "is_locale", "is_request_id", "is_id" }) do
        lua_predicates[name] = contract[name]
    end
    local function both(name, s)
        local answer = lua_predicates[name](s)
        local c_name = name == "is_request_id" and "is_id" or name
        assert.equal(answer, native[c_name](s), name .. "(" .. tostring(s) .. ") in C")
        return answer
    end
    local contract = setmetatable({}, { __index = function(_, name)
        return function(s) return both(name, s) end
    end })
    it("is_name", function()
        assert.is_true(contract.is_name("web"))
        assert.is_true(contract.is_name("wechat_oa"))
        assert.is_true(contract.is_name("a" .. string.rep("b", 31)))
        assert.is_false(contract.is_name("a" .. string.rep("b", 32)))
        for _, bad in ipairs({ "", "Web", "1web", "_web", "we-b", "we b", "web\n" }) do
            assert.is_false(contract.is_name(bad), bad)
        end
        assert.is_false(contract.is_name(nil))
        assert.is_false(contract.is_name(1))
    end)

    it("is_action", function()
        for _, good in ipairs({ "order.query", "a.b", "cart.add_item", "a1.b2.c3", "x_.y_" }) do
            assert.is_true(contract.is_action(good), good)
        end
        for _, bad in ipairs({ "order", "Order.query", "order.Query", "order..query",
                               ".order.query", "order.query.", "order.1query",
                               "order._query", "1order.query", "order.query\n",
                               "order query.x", "order-x.y", "", "order.qu ery" }) do
            assert.is_false(contract.is_action(bad), bad)
        end
        assert.is_true(contract.is_action("a." .. string.rep("b", 126)))
        assert.is_false(contract.is_action("a." .. string.rep("b", 127)))
        assert.is_false(contract.is_action(nil))
        assert.is_false(contract.is_action({}))
    end)

    it("is_code", function()
        assert.is_true(contract.is_code("order_not_found"))
        assert.is_true(contract.is_code("a" .. string.rep("b", 63)))
        assert.is_false(contract.is_code("a" .. string.rep("b", 64)))
        assert.is_false(contract.is_code("OrderNotFound"))
        assert.is_false(contract.is_code("order.not_found"))
        assert.is_false(contract.is_code(""))
        assert.is_false(contract.is_code(nil))
    end)

    it("is_locale", function()
        for _, good in ipairs({ "zh", "zh-CN", "en-US", "zh-Hans-CN", "de-DE-1996", "abcdefgh-12345678" }) do
            assert.is_true(contract.is_locale(good), good)
        end
        for _, bad in ipairs({ "", "z", "zh_CN", "abcdefghi", "zh-", "zh--CN", "-CN",
                               "zh-123456789", "1a", "zh CN", "zh-CN\n" }) do
            assert.is_false(contract.is_locale(bad), bad)
        end
        assert.is_false(contract.is_locale("en" .. string.rep("-abc", 20)))  -- > 64
        assert.is_false(contract.is_locale(nil))
    end)

    it("is_request_id", function()
        assert.is_true(contract.is_request_id("a"))
        assert.is_true(contract.is_request_id("4f1c-_A9"))
        assert.is_true(contract.is_request_id(string.rep("a", 64)))
        assert.is_false(contract.is_request_id(string.rep("a", 65)))
        assert.is_false(contract.is_request_id(""))
        assert.is_false(contract.is_request_id("a b"))
        assert.is_false(contract.is_request_id("a/b"))
        assert.is_false(contract.is_request_id(12))
    end)

    it("is_id", function()
        assert.is_true(contract.is_id("cus_01J9ZK4Q7W3M"))
        assert.is_true(contract.is_id("a-B_9"))
        assert.is_true(contract.is_id(string.rep("a", 64)))
        assert.is_false(contract.is_id(string.rep("a", 65)))
        assert.is_false(contract.is_id(""))
        assert.is_false(contract.is_id("cus 1"))
        assert.is_false(contract.is_id("cus.1"))
        assert.is_false(contract.is_id("cus1\n"))
        assert.is_false(contract.is_id(1))
        assert.is_false(contract.is_id(nil))
    end)

    it("timestamp", function()
        local timestamp = require("omni.contract").timestamp
        assert.equal("1970-01-01T00:00:00.000Z", timestamp(0))
        assert.equal("2026-11-24T17:06:40.123Z", timestamp(1795540000123))
        assert.equal("2026-11-24T17:06:40.999Z", timestamp(1795540000999.9))
        assert.has_error(function() timestamp(-1) end)
        assert.has_error(function() timestamp(0 / 0) end)
        assert.has_error(function() timestamp("1") end)
        -- the writer's C formatting, over leap years and the range's ends
        for _, ms in ipairs({ 0, 1795540000123, 951782400000, 951868799999, 4107542400000,
                              253402300799999, 1795540000999.9 }) do
            assert.equal(timestamp(ms), native.timestamp(ms), tostring(ms))
        end
    end)
end)

describe("omni.contract.validate_fields", function()
    it("accepts the smallest result", function()
        assert.is_true(contract.validate_fields({ action = "order.query" }))
    end)

    it("accepts every field", function()
        assert.is_true(contract.validate_fields({
            action = "order.query",
            params = { order_no = "1", items = { 1, 2 }, nested = { a = { b = {} } } },
            app_id = "wx8f3c2a1b4d5e6f70",
            client_version = "8.0.54",
            locale = "zh-CN",
            device_id = "dev-1",
            tier = "gold",
            identities = { { type = "wechat_openid", value = "o6_x" } },
        }))
    end)

    it("accepts json.null as absent and empty strings", function()
        assert.is_true(contract.validate_fields({
            action = "a.b", params = null, app_id = null, client_version = null,
            locale = null, device_id = null, tier = null, identities = null,
        }))
        assert.is_true(contract.validate_fields({ action = "a.b", app_id = "" }))
    end)

    it("accepts decoded objects and empty tables as params", function()
        assert.is_true(contract.validate_fields({ action = "a.b", params = {} }))
        assert.is_true(contract.validate_fields({ action = "a.b", params = json.decode("{}") }))
        assert.is_true(contract.validate_fields({ action = "a.b", params = json.object({}) }))
    end)

    it("accepts an intent and its confidence, for the dispatch", function()
        assert.is_true(contract.validate_fields({ action = "a.b", intent = "faq.hours",
                                                  confidence = 0.92 }))
        assert.is_true(contract.validate_fields({ action = "a.b", intent = "complaint" }))
        assert.is_true(contract.validate_fields({ action = "a.b", intent = "x", confidence = 0 }))
        assert.is_true(contract.validate_fields({ action = "a.b", intent = "x", confidence = 1 }))
        assert.is_true(contract.validate_fields({ action = "a.b", intent = null,
                                                  confidence = null }))
    end)

    it("refuses a bad intent or confidence", function()
        invalid_fields({ action = "a.b", intent = "Faq" },
            "intent must be dotted lowercase words like 'faq.hours' (got 'Faq')")
        invalid_fields({ action = "a.b", intent = 3 },
            "intent must be dotted lowercase words like 'faq.hours' (got number)")
        invalid_fields({ action = "a.b", intent = "x", confidence = 1.5 },
            "confidence must be a number from 0 to 1 (got number)")
        invalid_fields({ action = "a.b", intent = "x", confidence = 0 / 0 },
            "confidence must be a number from 0 to 1 (got number)")
        invalid_fields({ action = "a.b", intent = "x", confidence = "0.5" },
            "confidence must be a number from 0 to 1 (got '0.5')")
        invalid_fields({ action = "a.b", confidence = 0.5 },
            "confidence needs an intent")
    end)

    it("refuses a result that is not a table", function()
        invalid_fields("order.query", "normalize must return a table of fields (got string)")
        invalid_fields(true, "normalize must return a table of fields (got boolean)")
    end)

    it("refuses a missing action", function()
        invalid_fields({}, "action is missing")
        invalid_fields({ params = {} }, "action is missing")
        invalid_fields({ action = null }, "action is missing")
    end)

    it("refuses a bad action", function()
        invalid_fields({ action = "Not A Verb" },
            "action must be dotted lowercase words like 'order.query' (got 'Not A Verb')")
        invalid_fields({ action = "order" },
            "action must be dotted lowercase words like 'order.query' (got 'order')")
        invalid_fields({ action = 42 },
            "action must be dotted lowercase words like 'order.query' (got number)")
        local long = "a." .. string.rep("b", 200)
        local ok, err = contract.validate_fields({ action = long })
        assert.is_nil(ok)
        assert.matches("%.%.%.'%)$", err)      -- shown cut
    end)

    it("refuses params that are not a table", function()
        invalid_fields({ action = "a.b", params = "x" }, "params must be a table (got string)")
        invalid_fields({ action = "a.b", params = 1 }, "params must be a table (got number)")
        invalid_fields({ action = "a.b", params = print }, "params must be a table (got function)")
    end)

    it("refuses params that are an array", function()
        invalid_fields({ action = "a.b", params = { 1, 2 } }, "params must be a JSON object, not an array")
        invalid_fields({ action = "a.b", params = json.empty_array }, "params must be a JSON object, not an array")
        invalid_fields({ action = "a.b", params = json.array({}) }, "params must be a JSON object, not an array")
        invalid_fields({ action = "a.b", params = json.decode("[]") }, "params must be a JSON object, not an array")
    end)

    it("refuses unknown fields", function()
        invalid_fields({ action = "a.b", parms = {} }, "unknown field 'parms'")
        invalid_fields({ action = "a.b", [1] = "x" }, "unknown field number")
    end)

    it("refuses oversize or non-string optional strings", function()
        invalid_fields({ action = "a.b", app_id = string.rep("x", 129) },
            "app_id must be a string of at most 128 bytes (got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...', 129 bytes)")
        assert.is_true(contract.validate_fields({ action = "a.b", app_id = string.rep("x", 128) }))
        invalid_fields({ action = "a.b", client_version = string.rep("x", 65) },
            "client_version must be a string of at most 64 bytes (got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...', 65 bytes)")
        invalid_fields({ action = "a.b", device_id = string.rep("x", 129) },
            "device_id must be a string of at most 128 bytes (got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...', 129 bytes)")
        invalid_fields({ action = "a.b", tier = string.rep("x", 65) },
            "tier must be a string of at most 64 bytes (got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...', 65 bytes)")
        invalid_fields({ action = "a.b", app_id = 12 }, "app_id must be a string of at most 128 bytes (got number)")
        invalid_fields({ action = "a.b", tier = {} }, "tier must be a string of at most 64 bytes (got table)")
    end)

    it("refuses a bad locale", function()
        invalid_fields({ action = "a.b", locale = "zh_CN" },
            "locale must be a language tag like 'zh-CN' (got 'zh_CN')")
        invalid_fields({ action = "a.b", locale = "" },
            "locale must be a language tag like 'zh-CN' (got '')")
        invalid_fields({ action = "a.b", locale = 1 },
            "locale must be a language tag like 'zh-CN' (got number)")
    end)

    it("refuses malformed identities", function()
        invalid_fields({ action = "a.b", identities = "x" },
            "identities must be an array of {type=, value=}")
        invalid_fields({ action = "a.b", identities = { type = "phone", value = "1" } },
            "identities must be an array of {type=, value=}")
        invalid_fields({ action = "a.b", identities = { [1] = { type = "a", value = "b" }, [3] = { type = "a", value = "c" } } },
            "identities must be an array of {type=, value=}")
        invalid_fields({ action = "a.b", identities = { "phone" } },
            "identities[1] must be a table {type=, value=}")
        invalid_fields({ action = "a.b", identities = { { type = "Phone", value = "1" } } },
            "identities[1].type must match ^[a-z][a-z0-9_]{0,31}$ (got 'Phone')")
        invalid_fields({ action = "a.b", identities = { { value = "1" } } },
            "identities[1].type must match ^[a-z][a-z0-9_]{0,31}$ (got nil)")
        invalid_fields({ action = "a.b", identities = { { type = "phone", value = "" } } },
            "identities[1].value must be a string of 1 to 256 bytes (got '', 0 bytes)")
        invalid_fields({ action = "a.b", identities = { { type = "phone", value = 138 } } },
            "identities[1].value must be a string of 1 to 256 bytes (got number)")
        invalid_fields({ action = "a.b", identities = { { type = "phone", value = string.rep("1", 257) } } },
            "identities[1].value must be a string of 1 to 256 bytes (got '1111111111111111111111111111111111111111...', 257 bytes)")
        invalid_fields({ action = "a.b", identities = { { type = "phone", value = "1", extra = 1 } } },
            "identities[1] has an unknown key 'extra'")
        invalid_fields({ action = "a.b", identities = { { type = "a", value = "1" }, { type = "b" } } },
            "identities[2].value must be a string of 1 to 256 bytes (got nil)")
    end)

    it("refuses a NUL in an identity or an optional string", function()
        invalid_fields({ action = "a.b", identities = { { type = "phone", value = "+1555\0x" } } },
            "identities[1].value holds a NUL character (U+0000)")
        invalid_fields({ action = "a.b", tier = "gold\0x" },
            "tier holds a NUL character (U+0000)")
        invalid_fields({ action = "a.b", app_id = "\0" },
            "app_id holds a NUL character (U+0000)")
        local ok, err = contract.check_identities({ { type = "a", value = "\0" } }, "identify()")
        assert.is_nil(ok)
        assert.equal("identify()[1].value holds a NUL character (U+0000)", err)
    end)

    it("refuses more than 16 identities", function()
        local ids = {}
        for i = 1, 16 do
            ids[i] = { type = "phone", value = tostring(i) }
        end
        assert.is_true(contract.validate_fields({ action = "a.b", identities = ids }))
        ids[17] = { type = "phone", value = "17" }
        invalid_fields({ action = "a.b", identities = ids }, "identities has more than 16 entries")
    end)

    it("stops early on a huge identity list", function()
        local ids = {}
        for i = 1, 100000 do
            ids[i] = { type = "phone", value = "x" }
        end
        invalid_fields({ action = "a.b", identities = ids }, "identities has more than 16 entries")
    end)
end)

describe("omni.contract.encode", function()
    -- the contract as the gateway writes it, decoded
    local function build(fields, k, extra, gw)
        local s, err = contract.encode(fields, k, extra, gw)
        if not s then
            return nil, err
        end
        return assert(json.decode(s)), s
    end

    it("writes every key, null when unknown", function()
        local c, s = assert(build({ action = "order.query" }, known()))
        assert.equal([[{"action":"order.query","channel":{"app_id":null,"client_version":null,"name":"miniprogram"},"client":{"device_id":null,"ip":"203.0.113.7","user_agent":null},"customer":{"anonymous":true,"cases":null,"id":null,"identities":[],"tier":null},"dispatch":null,"intent":null,"locale":null,"params":{},"principal":null,"received_at":"2026-11-24T17:06:40.123Z","request_id":"4f1c0c5e2a9b4d7c8e6f1a2b3c4d5e6f","route":null,"session":null,"version":"1.3"}]],
                     s)
        assert.equal(s, json.encode(c))
        assert.is_true(contract.validate(c))
    end)

    it("writes the dispatch's decision and the intent (1.3)", function()
        local c, s = assert(build({ action = "order.query", intent = "order.status", confidence = 0.92 },
            known(), nil, { dispatch = { pool = "agents", rule = "gold", step = 1, reason = "overflow" } }))
        assert.truthy(s:find([["dispatch":{"pool":"agents","reason":"overflow","rule":"gold","step":1},]]
                             .. [["intent":{"confidence":0.92,"name":"order.status"},"locale":]], 1, true))
        assert.equal(s, json.encode(c))
        assert.is_true(contract.validate(c))

        -- an intent without a confidence: null (the dispatch counts it as 1)
        c = assert(build({ action = "order.query", intent = "complaint" }, known()))
        assert.same({ name = "complaint", confidence = null }, c.intent)
        assert.equal(null, c.dispatch)

        -- the plugin's intent stays untrusted
        for _, bad in ipairs({ "Order.status", "a..b", string.rep("a", 129), "a b", 7 }) do
            local _, err = build({ action = "a.b", intent = bad }, known())
            assert.truthy(err:find("^intent must be dotted lowercase words"), err)
        end
        for _, bad in ipairs({ -0.1, 1.5, 0 / 0, math.huge, "0.5" }) do
            local _, err = build({ action = "a.b", intent = "faq.hours", confidence = bad }, known())
            assert.truthy(err:find("^confidence must be a number from 0 to 1"), err)
        end

        -- what the gateway adds is checked as in the gateway
        local _, err = build({ action = "a.b" }, known(), nil,
            { dispatch = { pool = "a b", rule = "gold", step = 0, reason = "first" } })
        assert.equal("dispatch.pool must match ^[A-Za-z0-9_.-]{1,64}$ (got 'a b')", err)
        _, err = build({ action = "a.b" }, known(), nil,
            { dispatch = { pool = "agents", rule = "gold", step = 8, reason = "first" } })
        assert.equal("dispatch.step must be 0 to 7 (got 8)", err)
        assert.has_error(function()
            contract.encode({ action = "a.b" }, known(), nil, { dispatch = "agents" })
        end, "bad argument #4 to 'encode' (gw.dispatch must be a table)")
    end)

    it("fills every field from the plugin and the gateway", function()
        local c = assert(build({
            action = "order.query",
            params = { order_no = "1" },
            app_id = "wx1", client_version = "8.0.1", locale = "zh-CN",
            device_id = "d1", tier = "gold",
            identities = { { type = "wechat_openid", value = "o6" } },
        }, known({
            principal = { subject = "alice", roles = { "agent", "vip" }, issuer = "https://idp" },
            user_agent = "Mozilla/5.0",
        }), { { type = "wechat_unionid", value = "u1" }, { type = "wechat_openid", value = "o6" } }))
        assert.is_true(contract.validate(c))
        assert.equal("wx1", c.channel.app_id)
        assert.equal("8.0.1", c.channel.client_version)
        assert.equal("zh-CN", c.locale)
        assert.equal("d1", c.client.device_id)
        assert.equal("Mozilla/5.0", c.client.user_agent)
        assert.equal("gold", c.customer.tier)
        assert.is_false(c.customer.anonymous)
        assert.same({ { type = "wechat_openid", value = "o6" }, { type = "wechat_unionid", value = "u1" } },
                    c.customer.identities)
        assert.same({ subject = "alice", roles = { "agent", "vip" }, issuer = "https://idp" }, c.principal)
        assert.same({ order_no = "1" }, c.params)
    end)

    it("merges identities, drops duplicates, keeps order", function()
        local c = assert(build({ action = "a.b",
                                 identities = { { type = "a", value = "1" }, { type = "b", value = "2" } } },
                               known(),
                               { { type = "a", value = "1" }, { type = "a", value = "3" } }))
        assert.same({ { type = "a", value = "1" }, { type = "b", value = "2" },
                      { type = "a", value = "3" } }, c.customer.identities)
        c = assert(build({ action = "a.b", identities = null }, known(), null))
        assert.equal("[]", json.encode(c.customer.identities))
    end)

    it("maps a principal without subject, issuer or roles", function()
        local c = assert(build({ action = "a.b" }, known({ principal = {} })))
        assert.equal(null, c.principal.subject)
        assert.equal(null, c.principal.issuer)
        assert.equal("[]", json.encode(c.principal.roles))
        assert.is_false(c.customer.anonymous)
        assert.is_true(contract.validate(c))
    end)

    it("keeps only roles the contract allows", function()
        local c = assert(build({ action = "a.b" }, known({
            principal = { roles = { "ok", "with space", "a,b", "", 12, string.rep("r", 129), "fine" } },
        })))
        assert.same({ "ok", "fine" }, c.principal.roles)
    end)

    it("treats json.null principal as none", function()
        local c = assert(build({ action = "a.b" }, known({ principal = null })))
        assert.equal(null, c.principal)
        assert.is_true(c.customer.anonymous)
    end)

    it("repairs and cuts the user agent, never refusing it", function()
        local c = assert(build({ action = "a.b" }, known({ user_agent = "bad\255ua" })))
        assert.equal("bad\239\191\189ua", c.client.user_agent)
        c = assert(build({ action = "a.b" }, known({ user_agent = "nul\0ua" })))
        assert.equal("nul\239\191\189ua", c.client.user_agent)
        c = assert(build({ action = "a.b" }, known({ user_agent = string.rep("中", 300) })))
        assert.equal(510, #c.client.user_agent)
        assert.is_true(contract.validate(c))
    end)

    it("refuses too many identities after merging", function()
        local a, b = {}, {}
        for i = 1, 10 do
            a[i] = { type = "a", value = tostring(i) }
            b[i] = { type = "b", value = tostring(i) }
        end
        local c, err = build({ action = "a.b", identities = a }, known(), b)
        assert.is_nil(c)
        assert.equal("too many identities (more than 16)", err)
    end)

    it("raises for what the gateway must get right", function()
        assert.has_error(function() contract.encode({ action = "a.b" }, known({ request_id = "a b" })) end)
        assert.has_error(function() contract.encode({ action = "a.b" }, known({ request_id = false })) end)
        assert.has_error(function() contract.encode({ action = "a.b" }, known({ channel = "Web" })) end)
        assert.has_error(function() contract.encode({ action = "a.b" }, known({ received_at = "now" })) end)
        assert.has_error(function() contract.encode({ action = "a.b" }, known({ received_at = -5 })) end)
        assert.has_error(function() contract.encode({ action = "a.b" }, known({ client_ip = false })) end)
        assert.has_error(function() contract.encode({ action = "a.b" }, known({ principal = "alice" })) end)
        assert.has_error(function() contract.encode("x", known()) end)
        assert.has_error(function() contract.encode({ action = "a.b" }, nil) end)
    end)

    -- a time the writer cannot write as RFC 3339 must not reach it (a
    -- double past int64 was undefined behaviour, a negative one garbage)
    it("raises for session times it cannot write", function()
        local function gw(over)
            local session = { id = "ses_1", new = false, created_at = 1795542760118,
                              last_seen_at = 1795543443000, channels = { "web" },
                              context = "{}" }
            for k, v in pairs(over) do
                session[k] = v
            end
            return { customer_id = "cus_1", session = session }
        end
        assert.truthy(contract.encode({ action = "a.b" }, known(), nil, gw({})))
        for _, bad in ipairs({ 1e300, -1e300, 0 / 0, 1 / 0, -1, 253402300800000, "1", false }) do
            for _, key in ipairs({ "created_at", "last_seen_at" }) do
                assert.has_error(function()
                    contract.encode({ action = "a.b" }, known(), nil, gw({ [key] = bad }))
                end, "bad argument #4 to 'encode' (gw.session.created_at and last_seen_at "
                     .. "must be milliseconds since the epoch)")
            end
        end
    end)

    describe("deep problems in params are found by encoding", function()
        local function encode_err(params)
            local s, err = contract.encode({ action = "a.b", params = params }, known())
            assert.is_nil(s)
            return err
        end

        it("a function", function()
            assert.equal("params.cb is a function", encode_err({ cb = print }))
        end)

        it("a userdata", function()
            assert.equal("params.fh is a userdata", encode_err({ fh = io.stdout }))
        end)

        it("a thread", function()
            assert.equal("params.co is a thread", encode_err({ co = coroutine.create(print) }))
        end)

        it("a cycle", function()
            local t = { a = {} }
            t.a.back = t
            assert.equal("params.a.back is a cycle", encode_err(t))
        end)

        it("NaN and infinity", function()
            assert.equal("params.n is NaN", encode_err({ n = 0 / 0 }))
            assert.equal("params.list[2] is infinite", encode_err({ list = { 1, math.huge } }))
        end)

        it("sparse and mixed tables", function()
            assert.equal("params.list is a sparse array", encode_err({ list = { 1, nil, 3 } }))
            assert.equal("params.m mixes string and integer keys", encode_err({ m = { 1, x = 2 } }))
        end)

        it("invalid UTF-8", function()
            assert.equal("params.q is not valid UTF-8", encode_err({ q = "\214\208" }))
        end)

        it("a NUL, in a value or a key", function()
            assert.equal("params.q holds a NUL character (U+0000)", encode_err({ q = "a\0" }))
            assert.equal("params.m has a key holding a NUL character (U+0000)",
                         encode_err({ m = { ["k\0"] = 1 } }))
        end)

        it("too deep", function()
            local deep = {}
            local cur = deep
            for _ = 1, 70 do
                cur.x = {}
                cur = cur.x
            end
            assert.matches("too deeply nested", encode_err({ d = deep }))
        end)
    end)

    describe("strings that are not UTF-8 name their field", function()
        it("in the plugin's fields", function()
            local _, err = build({ action = "a.b", app_id = "\255" }, known())
            assert.equal("channel.app_id is not valid UTF-8", err)
            _, err = build({ action = "a.b", identities = { { type = "a", value = "x\255" } } }, known())
            assert.equal("customer.identities[1].value is not valid UTF-8", err)
            _, err = build({ action = "a.b", tier = "\192\128" }, known())
            assert.equal("customer.tier is not valid UTF-8", err)
        end)
    end)
end)

describe("omni.contract.validate", function()
    local VALID = "t/fixtures/contracts/valid"
    local INVALID = "t/fixtures/contracts/invalid"

    for _, name in ipairs(json_files(VALID)) do
        it("accepts " .. VALID .. "/" .. name, function()
            local c = assert(json.decode(read(VALID .. "/" .. name)))
            local ok, err = contract.validate(c)
            assert.is_true(ok, err)
        end)
    end

    for _, name in ipairs(json_files(INVALID)) do
        it("refuses " .. INVALID .. "/" .. name, function()
            local c = assert(json.decode(read(INVALID .. "/" .. name)))
            local ok, err = contract.validate(c)
            assert.is_nil(ok, name .. " was accepted")
            assert.is_string(err)
        end)
    end

    it("refuses what is not a table", function()
        assert.is_nil((contract.validate("x")))
        assert.is_nil((contract.validate(nil)))
    end)

    it("names the field", function()
        local c = json.decode(assert(contract.encode({ action = "a.b" }, known())))
        c.locale = "zh_CN"
        assert.equal("locale must be null or a language tag (got 'zh_CN')", select(2, contract.validate(c)))
        c.locale = null
        c.extra = 1
        assert.equal("contract has an unknown key 'extra'", select(2, contract.validate(c)))
        c.extra = nil
        c.client.ip = nil
        assert.equal("client.ip is missing", select(2, contract.validate(c)))
    end)

    it("checks customer.id", function()
        local c = json.decode(assert(contract.encode({ action = "a.b" }, known())))
        c.customer.id = "cus_1"
        assert.equal("customer.anonymous must be true exactly when there is no principal and no customer id",
                     select(2, contract.validate(c)))
        c.customer.anonymous = false
        assert.is_true(contract.validate(c))
        for _, bad in ipairs({ "", "cus 1", string.rep("c", 65) }) do
            c.customer.id = bad
            local _, err = contract.validate(c)
            assert.equal("customer.id must be null or match ^[A-Za-z0-9_-]{1,64}$ (got '"
                         .. (#bad > 40 and string.rep("c", 40) .. "..." or bad) .. "')", err)
        end
        c.customer.id = 7
        assert.equal("customer.id must be null or match ^[A-Za-z0-9_-]{1,64}$ (got number)",
                     select(2, contract.validate(c)))
    end)

    it("checks dispatch and intent (1.3)", function()
        local c = json.decode(assert(contract.encode({ action = "a.b" }, known())))
        c.dispatch = { pool = "agents", rule = "default", step = 0, reason = "first" }
        c.intent = { name = "faq", confidence = null }
        assert.is_true(contract.validate(c))
        c.dispatch.step = 0.5
        assert.equal("dispatch.step must be an integer from 0 to 7", select(2, contract.validate(c)))
        c.dispatch.step = 0
        c.dispatch.upstream = "agents"
        assert.equal("dispatch has an unknown key 'upstream'", select(2, contract.validate(c)))
        c.dispatch.upstream = nil
        c.intent.confidence = 2
        assert.equal("intent.confidence must be null or a number from 0 to 1",
                     select(2, contract.validate(c)))
        c.intent = { name = "FAQ", confidence = 1 }
        assert.equal("intent.name must be dotted lowercase words (got 'FAQ')",
                     select(2, contract.validate(c)))
        c.intent = nil
        assert.equal("contract.intent is missing", select(2, contract.validate(c)))
    end)

    describe("session", function()
        local function with_session(over)
            local c = json.decode(assert(contract.encode({ action = "a.b" }, known())))
            c.customer.id = "cus_1"
            c.customer.anonymous = false
            c.session = {
                id = "ses_1",
                new = false,
                created_at = "2026-11-24T17:52:40.118Z",
                last_seen_at = "2026-11-24T18:04:03.000Z",
                channels = { "wechat_oa", "miniprogram" },
                context = json.object({}),
            }
            for k, v in pairs(over or {}) do
                c.session[k] = v
            end
            return c
        end

        local function refuses(over, message)
            local ok, err = contract.validate(with_session(over))
            assert.is_nil(ok)
            assert.equal(message, err)
        end

        it("accepts a session object", function()
            assert.is_true(contract.validate(with_session()))
            assert.is_true(contract.validate(with_session({ new = true, context = {} })))
            assert.is_true(contract.validate(with_session({
                context = json.decode('{"cart":{"items":[{"sku":"x","n":2}],"coupon":null},"seen":[]}'),
            })))
            assert.is_true(contract.validate(with_session({ channels = json.decode('["web"]') })))
            local sixteen = {}
            for i = 1, 16 do
                sixteen[i] = "c" .. i
            end
            assert.is_true(contract.validate(with_session({ channels = sixteen })))
        end)

        it("accepts null", function()
            local c = with_session()
            c.session = null
            assert.is_true(contract.validate(c))
        end)

        it("refuses what is neither null nor an object", function()
            local c = with_session()
            c.session = "ses_1"
            assert.equal("session must be null or an object", select(2, contract.validate(c)))
            c.session = json.decode("[]")
            assert.equal("session must be null or an object", select(2, contract.validate(c)))
            c.session = nil
            assert.equal("contract.session is missing", select(2, contract.validate(c)))
        end)

        it("refuses unknown and missing keys", function()
            refuses({ customer = "cus_1" }, "session has an unknown key 'customer'")
            refuses({ context = false }, "session.context must be a JSON object")
            local c = with_session()
            c.session.context = nil
            assert.equal("session.context is missing", select(2, contract.validate(c)))
        end)

        it("refuses a bad id", function()
            refuses({ id = "ses 1" }, "session.id must match ^[A-Za-z0-9_-]{1,64}$ (got 'ses 1')")
            refuses({ id = "" }, "session.id must match ^[A-Za-z0-9_-]{1,64}$ (got '')")
            refuses({ id = string.rep("s", 65) },
                    "session.id must match ^[A-Za-z0-9_-]{1,64}$ (got '" .. string.rep("s", 40) .. "...')")
            refuses({ id = 12 }, "session.id must match ^[A-Za-z0-9_-]{1,64}$ (got number)")
        end)

        it("refuses a new that is not a boolean", function()
            refuses({ new = "false" }, "session.new must be a boolean")
            refuses({ new = null }, "session.new must be a boolean")
        end)

        it("refuses bad timestamps", function()
            refuses({ created_at = "2026-11-24T17:52:40Z" },
                    "session.created_at must be RFC 3339 UTC with milliseconds (got '2026-11-24T17:52:40Z')")
            refuses({ created_at = 1795542760118 },
                    "session.created_at must be RFC 3339 UTC with milliseconds (got number)")
            refuses({ last_seen_at = "2026-02-30T18:04:03.000Z" },
                    "session.last_seen_at must be RFC 3339 UTC with milliseconds (got '2026-02-30T18:04:03.000Z')")
        end)

        it("refuses bad channel lists", function()
            refuses({ channels = "web" }, "session.channels must be an array of channel names")
            refuses({ channels = { web = true } }, "session.channels must be an array of channel names")
            refuses({ channels = json.empty_array }, "session.channels must not be empty")
            refuses({ channels = {} }, "session.channels must not be empty")
            refuses({ channels = json.decode("[]") }, "session.channels must not be empty")
            refuses({ channels = { "web", "Web" } },
                    "session.channels[2] must match ^[a-z][a-z0-9_]{0,31}$ (got 'Web')")
            refuses({ channels = { "web", 7 } },
                    "session.channels[2] must match ^[a-z][a-z0-9_]{0,31}$ (got number)")
            refuses({ channels = { "web", "app", "web" } }, "session.channels[3] repeats 'web'")
            local many = {}
            for i = 1, 17 do
                many[i] = "c" .. i
            end
            refuses({ channels = many }, "session.channels has more than 16 entries")
        end)

        it("refuses a context that is not an object", function()
            refuses({ context = { 1, 2 } }, "session.context must be a JSON object")
            refuses({ context = json.decode("[]") }, "session.context must be a JSON object")
            refuses({ context = json.empty_array }, "session.context must be a JSON object")
            refuses({ context = "{}" }, "session.context must be a JSON object")
            refuses({ context = null }, "session.context must be a JSON object")
        end)

        it("bounds the context to 4096 bytes of compact JSON", function()
            -- {"k":"..."}: 8 bytes around the value
            assert.is_true(contract.validate(with_session({ context = { k = string.rep("x", 4088) } })))
            refuses({ context = { k = string.rep("x", 4089) } },
                    "session.context must be at most 4096 bytes as compact JSON (got 4097)")
        end)

        it("refuses a context JSON cannot hold", function()
            refuses({ context = { cb = print } }, "session.context.cb is a function")
            refuses({ context = { list = { 1, 0 / 0 } } }, "session.context.list[2] is NaN")
        end)

        it("refuses a session without a customer id", function()
            local c = with_session()
            c.customer.id = null
            c.principal = { subject = "u1", roles = json.empty_array, issuer = null }
            assert.equal("session must be null when customer.id is null", select(2, contract.validate(c)))
        end)
    end)

    it("checks dates for real", function()
        local c = json.decode(assert(contract.encode({ action = "a.b" }, known())))
        for _, good in ipairs({ "2024-02-29T00:00:00.000Z", "2000-02-29T23:59:60.999Z" }) do
            c.received_at = good
            assert.is_true(contract.validate(c), good)
        end
        for _, bad in ipairs({ "2023-02-29T00:00:00.000Z", "1900-02-29T00:00:00.000Z",
                               "2026-13-01T00:00:00.000Z", "2026-04-31T00:00:00.000Z",
                               "2026-01-00T00:00:00.000Z", "2026-01-01T24:00:00.000Z",
                               "2026-01-01T00:60:00.000Z", "2026-01-01T00:00:61.000Z",
                               "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000+00:00",
                               "2026-01-01 00:00:00.000Z", 1795540000 }) do
            c.received_at = bad
            assert.is_nil((contract.validate(c)), tostring(bad))
        end
    end)
end)

describe("omni.contract.validate_reply", function()
    local VALID = "t/fixtures/replies/valid"
    local INVALID = "t/fixtures/replies/invalid"

    for _, name in ipairs(json_files(VALID)) do
        it("accepts " .. VALID .. "/" .. name, function()
            local r = assert(json.decode(read(VALID .. "/" .. name)))
            local ok, err = contract.validate_reply(r)
            assert.is_true(ok, err)
        end)
    end

    for _, name in ipairs(json_files(INVALID)) do
        it("refuses " .. INVALID .. "/" .. name, function()
            local r = json.decode(read(INVALID .. "/" .. name))
            assert.is_nil((contract.validate_reply(r)), name .. " was accepted")
        end)
    end

    it("explains", function()
        assert.equal("reply.data is required when ok is true",
                     select(2, contract.validate_reply({ ok = true })))
        assert.equal("reply.error is not allowed when ok is true",
                     select(2, contract.validate_reply({ ok = true, data = 1, error = {} })))
        assert.equal("reply.ok must be true or false",
                     select(2, contract.validate_reply({ ok = "true", data = 1 })))
        assert.equal("reply.error must be an object when ok is false",
                     select(2, contract.validate_reply({ ok = false })))
        assert.equal("reply.error.code must match ^[a-z][a-z0-9_]{0,63}$",
                     select(2, contract.validate_reply({ ok = false, error = { code = "X", message = "" } })))
        assert.equal("reply.error.message must be a string",
                     select(2, contract.validate_reply({ ok = false, error = { code = "x" } })))
        assert.equal("reply.error has an unknown key 'detail'",
                     select(2, contract.validate_reply({ ok = false, error = { code = "x", message = "m", detail = 1 } })))
        assert.equal("the reply has an unknown key 'meta'",
                     select(2, contract.validate_reply({ ok = true, data = 1, meta = 1 })))
        assert.equal("the reply must be a JSON object",
                     select(2, contract.validate_reply(json.decode("[]"))))
        assert.equal("the reply must be a JSON object",
                     select(2, contract.validate_reply("x")))
    end)

    it("accepts data = null and error replies with data", function()
        assert.is_true(contract.validate_reply(json.decode('{"ok":true,"data":null}')))
        assert.is_true(contract.validate_reply(json.decode('{"ok":false,"error":{"code":"x","message":""},"data":[1]}')))
    end)
end)
