--- Specs for plugins/miniprogram.lua: WeChat mini-program wx.request calls.
--
-- The plugin is loaded through the host exactly as the gateway loads it
-- (host.load with the file's source and "@path"); every fixture of
-- t/fixtures/miniprogram/ runs through host.prepare, respond, authenticate,
-- normalize and render; then the channel's refusals and the rendering of
-- gateway errors are checked.
--
-- Fixture "expect" keys understood here:
--
--     prepare_error {code, status}       host.prepare refuses the request
--     respond {status, headers, body}    the plugin answers directly
--     authenticate true | {code, status} the signature check
--     error {code, status}               normalize refuses
--     action, params, identities, channel, client, locale, principal,
--     customer_anonymous                 compared with the contract JSON
--     render {reply, upstream_status, status, headers, absent_headers,
--             body | json | body_contains | json_subset}
--     render_error {status, headers, body, body_contains, json_subset}:
--                                        the refusal rendered as a gateway
--                                        error (host.render_error)
--
-- Run from the repository root:
--     LUA_CPATH="build/lib/?.so;;" busted --lua=luajit -m 'lua/?.lua;lua/?/init.lua' t/spec
local CHANNEL = "miniprogram"

local F = dofile("t/spec/plugin_fixtures.lua")(CHANNEL)

local host = F.host
local json = F.json
local REQUEST_ID = F.REQUEST_ID
local assert_refused = F.assert_refused
local canon = F.canon
local ctx_of = F.ctx_of
local fixture_req = F.fixture_req
local load_plugin = F.load_plugin
local normalize = F.normalize
local render = F.render
local render_error = F.render_error


F.describe_loading_and_fixtures(describe, it, setup)

describe("plugin miniprogram", function()
    setup(load_plugin)

    describe("routes", function()
        it("joins two to four path segments into the action", function()
            for _, case in ipairs({ { "/miniprogram/order/query/", "order.query" },
                    { "/miniprogram/member/points/history", "member.points.history" },
                    { "/miniprogram/a/b/c/d", "a.b.c.d" } }) do
                local req = assert(fixture_req("order_query", function(r) r.path = case[1] end))
                assert.are.equal(case[2], assert(normalize(req)).action)
            end
        end)

        it("refuses paths that are not a dotted verb with 404", function()
            for _, path in ipairs({ "/miniprogram", "/miniprogram/", "/miniprogram/order",
                    "/miniprogram/Order/Query", "/miniprogram/order/query.json",
                    "/miniprogram/order//query", "/miniprogram/1order/query",
                    "/miniprogram/a/b/c/d/e", "/miniprogram/order/" .. string.rep("q", 33),
                    "/miniprogram/order/qu%0d%0aery" }) do
                local req = assert(fixture_req("order_query", function(r) r.path = path end))
                assert_refused("route_not_found", 404, normalize(req))
            end
        end)

        it("refuses methods other than POST and GET with 405", function()
            local req = assert(fixture_req("order_query", function(r) r.method = "PUT" end))
            assert_refused("method_not_allowed", 405, normalize(req))
        end)
    end)

    describe("bodies", function()
        it("refuses JSON values that are not objects", function()
            for _, body in ipairs({ "null", "7", "[1]", "[]", "false", '"x"' }) do
                local req = assert(fixture_req("order_query", function(r) r.body = body end))
                assert_refused("invalid_body", 400, normalize(req))
            end
        end)

        it("takes an empty body as {}", function()
            local req = assert(fixture_req("order_query", function(r) r.body = "" end))
            assert.are.equal("{}", canon(assert(normalize(req)).params))
        end)

        it("refuses a body it cannot read with 415", function()
            local req = assert(fixture_req("order_query", function(r)
                r.headers["content-type"] = "text/plain"
            end))
            assert_refused("unsupported_media_type", 415, normalize(req))
        end)

        it("keeps data as a parameter when the body is not an envelope", function()
            local req = assert(fixture_req("order_query", function(r)
                r.body = '{"data":{"x":1},"order_id":"ORD-1","openid":"oBody"}'
            end))
            local c = assert(normalize(req))
            assert.are.equal('{"data":{"x":1},"order_id":"ORD-1"}', canon(c.params))
            -- the header wins over the body field
            assert.are.equal("o6_bmjrPTlm6_2sgVt7hMZOPfL2M", c.customer.identities[1].value)
        end)

        it("refuses identities of the wrong type or shape", function()
            for _, body in ipairs({ '{"openid":12345}', '{"openid":"o b"}',
                    '{"unionid":{"a":1}}', '{"openid":"' .. string.rep("o", 65) .. '"}' }) do
                local req = assert(fixture_req("envelope", function(r) r.body = body end))
                assert_refused("invalid_identity", 400, normalize(req))
            end
        end)

        it("is anonymous without openid", function()
            local req = assert(fixture_req("envelope", function(r)
                r.body = '{"data":{"coupon_id":"CPN-88"}}'
            end))
            local c = assert(normalize(req))
            assert.are.equal("[]", canon(c.customer.identities))
            assert.is_true(c.customer.anonymous)
        end)

        it("refuses more than 32 query arguments on GET", function()
            local args = {}
            for i = 1, 33 do
                args[i] = "k" .. i .. "=v"
            end
            local req = assert(fixture_req("order_list_get", function(r)
                r.query = table.concat(args, "&")
            end))
            assert_refused("invalid_parameter", 400, normalize(req))
        end)
    end)

    describe("headers", function()
        it("refuses X-WX-Appid and X-WX-Version with control characters", function()
            for _, case in ipairs({ { "x-wx-appid", "wx1\r\nSet-Cookie: a" },
                    { "x-wx-version", "8.0\n44" }, { "x-wx-appid", string.rep("w", 129) } }) do
                local req = assert(fixture_req("order_query", function(r)
                    r.headers[case[1]] = case[2]
                end))
                assert_refused("invalid_header", 400, normalize(req))
            end
        end)

        it("reads the locale from Accept-Language first", function()
            local req = assert(fixture_req("envelope", function(r)
                r.headers["accept-language"] = "en-GB,en;q=0.8"
            end))
            assert.are.equal("en-GB", assert(normalize(req)).locale)
        end)
    end)

    describe("render", function()
        local function errcode_of(body)
            return assert(json.decode(body)).errcode
        end

        it("always answers 200 and maps gateway statuses to errcodes", function()
            local req = assert(fixture_req("order_query"))
            for _, case in ipairs({ { "token_invalid", 401, 40001 }, { "forbidden", 403, 40003 },
                    { "body_malformed", 400, 40000 }, { "body_too_large", 413, 40013 },
                    { "plugin_error", 500, 50000 }, { "upstream_reply_invalid", 502, 50002 },
                    { "plugin_timeout", 504, 50004 } }) do
                local status, headers, body = render_error(case[1], case[2], req)
                assert.are.equal(200, status)
                assert.are.equal("application/json; charset=utf-8", headers["Content-Type"])
                local decoded = assert(json.decode(body))
                assert.are.equal(case[3], decoded.errcode, case[1])
                assert.are.equal(case[1] .. ": gateway says " .. case[1], decoded.errmsg)
                assert.are.equal(REQUEST_ID, decoded.request_id)
                assert.is_nil(decoded.data)
            end
        end)

        it("maps service error codes to errcodes", function()
            for _, case in ipairs({ { "order_not_found", 40004 }, { "forbidden", 40003 },
                    { "invalid_coupon", 40000 }, { "order_conflict", 40009 },
                    { "rate_limited", 40029 }, { "internal_error", 50000 },
                    { "stock_unavailable", 50003 }, { "coupon_exhausted", 50000 } }) do
                local status, _, body = render({ ok = false,
                    error = { code = case[1], message = "m" } }, nil, 500)
                assert.are.equal(200, status)
                assert.are.equal(case[2], errcode_of(body), case[1])
            end
        end)

        it("renders an invalid service reply as errcode 50002", function()
            local status, _, body = host.render(CHANNEL, "not json", ctx_of(nil, 200, false))
            assert.are.equal(200, status)
            assert.are.equal(50002, errcode_of(body))
        end)

        it("renders data null on success", function()
            local _, _, body = host.render(CHANNEL, '{"ok":true,"data":null}', ctx_of(nil, 200, false))
            assert.are.equal('{"data":null,"errcode":0,"errmsg":"ok"}', body)
        end)
    end)
end)
