--- Specs for plugins/web.lua: REST JSON for browser SPAs.
--
-- The plugin is loaded through the host exactly as the gateway loads it
-- (host.load with the file's source and "@path"); every fixture of
-- t/fixtures/web/ runs through host.prepare, respond, authenticate,
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
local CHANNEL = "web"

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
local render_refusal = F.render_refusal


F.describe_loading_and_fixtures(describe, it, setup)

describe("plugin web", function()
    setup(load_plugin)

    describe("routes", function()
        it("maps every route of the table", function()
            local cases = {
                { "GET", "/web/orders", "order.list" },
                { "GET", "/web/orders/", "order.list" },
                { "GET", "/web/orders/A-1_b", "order.query" },
                { "GET", "/web/profile", "customer.profile" },
            }
            for _, case in ipairs(cases) do
                local req = assert(fixture_req("profile_get", function(r)
                    r.method, r.path, r.query = case[1], case[2], ""
                end))
                local c = assert(normalize(req))
                assert.are.equal(case[3], c.action)
            end
        end)

        it("ignores the query string outside order.list", function()
            local req = assert(fixture_req("order_query", function(r)
                r.query = "_=1795539999000&order_id=evil"
            end))
            local c = assert(normalize(req))
            assert.are.equal('{"order_id":"ORD-20261124-0042"}', canon(c.params))
        end)

        it("refuses unknown, malformed and traversing paths with 404", function()
            local paths = { "/web", "/web/", "/web/orders//x", "/web/orders/../profile",
                "/web/orders/" .. string.rep("a", 65), "/web/orders/a%20b",
                "/web/orders/ORD-1/refund/now", "/api/orders", "/web/Orders" }
            for _, path in ipairs(paths) do
                local req = assert(fixture_req("order_query", function(r) r.path = path end))
                assert_refused("route_not_found", 404, normalize(req))
            end
        end)

        it("refuses a known path with another method with 405", function()
            local req = assert(fixture_req("profile_update", function(r) r.method = "POST" end))
            local ok, err = normalize(req)
            assert_refused("method_not_allowed", 405, ok, err)
            local status, headers = render_refusal(err, req)
            assert.are.equal(405, status)
            assert.are.equal("GET, OPTIONS, PUT", headers.Allow)
        end)
    end)

    describe("bodies", function()
        it("refuses JSON values that are not objects", function()
            for _, body in ipairs({ "null", "42", '"text"', "true", "[1,2]", "[]" }) do
                local req = assert(fixture_req("order_create", function(r) r.body = body end))
                assert_refused("invalid_body", 400, normalize(req))
            end
        end)

        it("requires a body for order.create and customer.update", function()
            for _, name in ipairs({ "order_create", "profile_update" }) do
                local req = assert(fixture_req(name, function(r) r.body = "" end))
                assert_refused("invalid_body", 400, normalize(req))
            end
        end)

        it("accepts a refund without a body", function()
            local req = assert(fixture_req("order_refund", function(r)
                r.body = ""
                r.headers["content-type"] = nil
            end))
            local c = assert(normalize(req))
            assert.are.equal("order.refund", c.action)
            assert.are.equal('{"order_id":"ORD-20261124-0042"}', canon(c.params))
        end)

        it("lets the path's params override the body's", function()
            local req = assert(fixture_req("order_refund", function(r)
                r.headers["content-type"] = "application/json"
                r.body = '{"order_id":"ORD-OTHER","reason":"late"}'
            end))
            local c = assert(normalize(req))
            assert.are.equal('{"order_id":"ORD-20261124-0042","reason":"late"}',
                             canon(c.params))
        end)

        it("refuses a form body with 415", function()
            local req = assert(fixture_req("order_create", function(r)
                r.headers["content-type"] = "application/x-www-form-urlencoded"
                r.body = "sku=SKU-1&qty=2"
            end))
            assert_refused("unsupported_media_type", 415, normalize(req))
        end)

        it("accepts +json media types", function()
            local req = assert(fixture_req("profile_update", function(r)
                r.headers["content-type"] = "application/merge-patch+json"
                r.body = '{"nickname":"Bob"}'
            end))
            local c = assert(normalize(req))
            assert.are.equal('{"nickname":"Bob"}', canon(c.params))
        end)

        it("lets the host refuse malformed JSON", function()
            local req, err = fixture_req("order_create", function(r) r.body = '{"items":' end)
            assert_refused("body_malformed", 400, req, err)
        end)
    end)

    describe("query arguments of order.list", function()
        it("converts the numeric ones and refuses bad numbers", function()
            for _, query in ipairs({ "page=-1", "page=1.5", "limit=1e3", "offset=", "page_size=9999999999" }) do
                local req = assert(fixture_req("order_list", function(r) r.query = query end))
                assert_refused("invalid_parameter", 400, normalize(req))
            end
        end)

        it("refuses more than 32 arguments", function()
            local args = {}
            for i = 1, 33 do
                args[i] = "a" .. i .. "=1"
            end
            local req = assert(fixture_req("order_list", function(r)
                r.query = table.concat(args, "&")
            end))
            assert_refused("invalid_parameter", 400, normalize(req))
        end)
    end)

    describe("headers", function()
        it("refuses metadata headers with control characters or too long", function()
            local cases = {
                { "x-app-id", "shop\r\nX-Evil: 1" },
                { "x-app-id", string.rep("a", 129) },
                { "x-device-id", "dev ice" },
                { "x-client-version", "3.14\0" },
                { "x-client-version", string.rep("1", 65) },
            }
            for _, case in ipairs(cases) do
                local req = assert(fixture_req("order_query", function(r)
                    r.headers[case[1]] = case[2]
                end))
                assert_refused("invalid_header", 400, normalize(req))
            end
        end)

        it("ignores an Accept-Language that is not a language tag", function()
            for _, value in ipairs({ "*", "q=0.5", "x", "zh-CN-toolongsubtag", "" }) do
                local req = assert(fixture_req("order_query", function(r)
                    r.headers["accept-language"] = value
                end))
                local c = assert(normalize(req))
                assert.are.equal(json.null, c.locale)
            end
        end)

        it("turns zh_CN into zh-CN", function()
            local req = assert(fixture_req("order_query", function(r)
                r.headers["accept-language"] = "zh_CN"
            end))
            assert.are.equal("zh-CN", assert(normalize(req)).locale)
        end)
    end)

    describe("CORS", function()
        it("answers a preflight without Origin without the allow-origin header", function()
            local req = assert(fixture_req("preflight", function(r) r.headers.origin = nil end))
            local status, headers, body = host.respond(CHANNEL, req)
            assert.are.equal(204, status)
            assert.is_nil(headers["Access-Control-Allow-Origin"])
            assert.are.equal("", body)
        end)

        it("never echoes a malformed Origin (CRLF, paths, other schemes)", function()
            local origins = { "https://shop.example.com\r\nSet-Cookie: a=1",
                "https://shop.example.com/path", "javascript:alert(1)", "null",
                "https://" .. string.rep("a", 300) .. ".com" }
            for _, origin in ipairs(origins) do
                local req = assert(fixture_req("preflight", function(r)
                    r.headers.origin = origin
                end))
                local status, headers = host.respond(CHANNEL, req)
                assert.are.equal(204, status)
                assert.is_nil(headers["Access-Control-Allow-Origin"])
                status, headers = render({ ok = true, data = {} }, req)
                assert.are.equal(200, status)
                assert.is_nil(headers["Access-Control-Allow-Origin"])
            end
        end)

        local ALLOWED = "https://app.example.com,https://*.example.org http://localhost:3000 *.shop.example"

        local function preflight(origin, settings)
            return assert(fixture_req("preflight", function(r)
                r.headers.origin = origin
                r.settings = settings or { allowed_origins = ALLOWED }
            end))
        end

        it("with allowed_origins, answers listed origins and patterns only", function()
            for _, origin in ipairs({ "https://app.example.com", "https://a.example.org",
                    "https://a.b.example.org", "http://localhost:3000", "https://x.shop.example",
                    "https://App.Example.com" }) do
                local status, headers = host.respond(CHANNEL, preflight(origin))
                assert.are.equal(204, status, origin)
                assert.are.equal(origin, headers["Access-Control-Allow-Origin"])
                assert.is_nil(headers["Access-Control-Allow-Credentials"])
                assert.are.equal("Origin", headers["Vary"])
            end
            for _, origin in ipairs({ "https://example.org", "http://a.example.org",
                    "https://a.example.org:8443", "https://evilexample.org",
                    "https://app.example.com.evil", "http://localhost:3001",
                    "https://shop.example", "null", "https://app.example.com/x",
                    "https://app.example.com\r\nX: 1" }) do
                local ok, err = host.respond(CHANNEL, preflight(origin))
                assert.is_nil(ok, origin)
                assert.are.equal("origin_not_allowed", err.code)
                assert.are.equal(403, err.status)
                assert.is_nil(err.message:find("[\r\n]"))
                local status, headers = render_error("origin_not_allowed", 403, preflight(origin))
                assert.are.equal(403, status)
                assert.is_nil(headers["Access-Control-Allow-Origin"])
                assert.are.equal("Origin", headers["Vary"])
            end
        end)

        it("adds credentials only when configured, and only with a list", function()
            local _, headers = host.respond(CHANNEL, preflight("https://app.example.com",
                { allowed_origins = ALLOWED, allow_credentials = "on" }))
            assert.are.equal("true", headers["Access-Control-Allow-Credentials"])
            local req = preflight("https://app.example.com",
                { allowed_origins = ALLOWED, allow_credentials = "on" })
            req.method = "GET"
            _, headers = render({ ok = true, data = {} }, req)
            assert.are.equal("https://app.example.com", headers["Access-Control-Allow-Origin"])
            assert.are.equal("true", headers["Access-Control-Allow-Credentials"])
            _, headers = host.respond(CHANNEL, preflight("https://any.example",
                { allow_credentials = "on" }))
            assert.are.equal("https://any.example", headers["Access-Control-Allow-Origin"])
            assert.is_nil(headers["Access-Control-Allow-Credentials"])
        end)

        it("refuses a malformed allowlist as plugin_misconfigured", function()
            for _, list in ipairs({ "ftp://x.example", "https://*.com", "https://a..b.com",
                    "https://a.example.com:99999", "", "https://*", "https://a.example.com/path" }) do
                local ok, err = host.respond(CHANNEL, preflight("https://a.example.com",
                    { allowed_origins = list }))
                assert.is_nil(ok, list)
                assert.are.equal("plugin_misconfigured", err.code, list)
            end
        end)

        it("does not answer other methods directly", function()
            local req = assert(fixture_req("order_query"))
            assert.is_nil(host.respond(CHANNEL, req))
        end)
    end)

    describe("render", function()
        it("renders gateway errors with their own status", function()
            local req = assert(fixture_req("order_query"))
            for _, case in ipairs({ { "token_expired", 401 }, { "forbidden", 403 },
                    { "body_malformed", 400 }, { "plugin_error", 500 },
                    { "upstream_reply_invalid", 502 }, { "body_too_large", 413 } }) do
                local status, headers, body = render_error(case[1], case[2], req)
                assert.are.equal(case[2], status)
                assert.are.equal("application/json; charset=utf-8", headers["Content-Type"])
                assert.are.equal("https://shop.example.com", headers["Access-Control-Allow-Origin"])
                local decoded = assert(json.decode(body))
                assert.are.equal(case[1], decoded.error.code)
                assert.are.equal("gateway says " .. case[1], decoded.error.message)
                assert.are.equal(REQUEST_ID, decoded.request_id)
                if case[2] == 401 then
                    assert.are.equal("Bearer", headers["WWW-Authenticate"])
                end
            end
        end)

        it("renders gateway errors without a request", function()
            local status, headers, body = render_error("token_missing", 401, nil)
            assert.are.equal(401, status)
            assert.is_nil(headers["Access-Control-Allow-Origin"])
            assert.are.equal("token_missing", assert(json.decode(body)).error.code)
        end)

        it("maps service error codes to statuses", function()
            local cases = {
                { "not_found", 404 }, { "customer_not_found", 404 },
                { "unauthorized", 401 }, { "forbidden", 403 }, { "order_forbidden", 403 },
                { "permission_denied", 403 }, { "conflict", 409 }, { "order_conflict", 409 },
                { "email_exists", 409 }, { "rate_limited", 429 }, { "invalid_amount", 400 },
                { "coupon_invalid", 400 }, { "address_required", 400 },
                { "internal_error", 500 }, { "payment_unavailable", 503 },
                { "upstream_reply_invalid", 502 }, { "sku_out_of_stock", 422 },
            }
            for _, case in ipairs(cases) do
                local status = render({ ok = false, error = { code = case[1], message = "m" } },
                    nil, 200, false)
                assert.are.equal(case[2], status, case[1])
            end
        end)

        it("uses the upstream error status for unknown codes", function()
            local status = render({ ok = false, error = { code = "teapot", message = "m" } }, nil, 418)
            assert.are.equal(418, status)
        end)

        it("renders an invalid service reply as 502", function()
            local req = assert(fixture_req("order_query"))
            local status, _, body = host.render(CHANNEL, '{"ok":"yes"}', ctx_of(req, 200, false))
            assert.are.equal(502, status)
            assert.are.equal("upstream_reply_invalid", assert(json.decode(body)).error.code)
        end)

        it("renders data null and keeps {} and [] apart", function()
            local _, _, body = host.render(CHANNEL, '{"ok":true,"data":null}', ctx_of(nil, 200, false))
            assert.are.equal('{"data":null}', body)
            _, _, body = host.render(CHANNEL, '{"ok":true,"data":{"a":{},"b":[]}}', ctx_of(nil, 200, false))
            assert.are.equal('{"data":{"a":{},"b":[]}}', body)
        end)
    end)
end)
