--- Specs for plugins/app.lua: JSON-RPC 2.0 calls from the native apps.
--
-- The plugin is loaded through the host exactly as the gateway loads it
-- (host.load with the file's source and "@path"); every fixture of
-- t/fixtures/app/ runs through host.prepare, respond, authenticate,
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
local CHANNEL = "app"

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

describe("plugin app", function()
    setup(load_plugin)

    local function call_req(body, patch)
        return assert(fixture_req("single_call", function(r)
            r.body = body
            if patch then
                patch(r)
            end
        end))
    end

    describe("single calls", function()
        it("refuses invalid calls with invalid_request", function()
            local bodies = {
                '{"jsonrpc":"1.0","method":"order.query","id":1}',
                '{"jsonrpc":2,"method":"order.query","id":1}',
                '{"params":{},"id":1}',
                '{"method":42,"id":1}',
                '{"method":"order","id":1}',
                '{"method":"order.","id":1}',
                '{"method":"order..query","id":1}',
                '{"method":".order.query","id":1}',
                '{"method":"Order.Query","id":1}',
                '{"method":"order.query\\n","id":1}',
                '{"method":"order.query\\r\\nX: y","id":1}',
                '{"method":"order-query.x","id":1}',
                '{"method":"' .. string.rep("a", 64) .. "." .. string.rep("b", 64) .. '","id":1}',
                '{"method":"app.batch","params":{"calls":[]},"id":1}',
                '{"method":"order.query","id":{"a":1}}',
                '{"method":"order.query","id":true}',
                '{"method":"order.query","id":"' .. string.rep("i", 129) .. '"}',
                "{}", "[]", "null", "42", '"order.query"',
            }
            for _, body in ipairs(bodies) do
                assert_refused("invalid_request", 400, normalize(call_req(body)))
            end
        end)

        it("refuses params that are not an object with invalid_params", function()
            for _, params in ipairs({ "[1,2]", '"x"', "7", "true" }) do
                local req = call_req('{"method":"order.query","params":' .. params .. ',"id":1}')
                assert_refused("invalid_params", 400, normalize(req))
            end
        end)

        it("takes params null as {}", function()
            local c = assert(normalize(call_req('{"method":"order.query","params":null,"id":1}')))
            assert.are.equal("{}", canon(c.params))
        end)

        it("refuses other paths and methods", function()
            assert_refused("route_not_found", 404, normalize(call_req("{}", function(r)
                r.path = "/app/rpc2"
            end)))
            assert_refused("method_not_allowed", 405, normalize(call_req("", function(r)
                r.method = "GET"
            end)))
        end)

        it("refuses an empty body", function()
            assert_refused("invalid_request", 400, normalize(call_req("")))
        end)

        it("refuses metadata headers with control characters", function()
            for _, case in ipairs({ { "x-device-id", "dev\r\nid" }, { "x-app-id", "a b" },
                    { "x-app-version", "5.2\n" .. string.rep("9", 70) } }) do
                local req = call_req('{"method":"order.query","id":1}', function(r)
                    r.headers[case[1]] = case[2]
                end)
                assert_refused("invalid_header", 400, normalize(req))
            end
        end)
    end)

    describe("batches", function()
        local function batch_of(n, make)
            local calls = {}
            for i = 1, n do
                calls[i] = make and make(i)
                    or ('{"jsonrpc":"2.0","method":"order.query","params":{"n":' .. i .. '},"id":' .. i .. '}')
            end
            return "[" .. table.concat(calls, ",") .. "]"
        end

        it("accepts 20 calls and refuses 21", function()
            local c = assert(normalize(call_req(batch_of(20))))
            assert.are.equal("app.batch", c.action)
            assert.are.equal(20, #c.params.calls)
            assert.are.equal(20, c.params.calls[20].id)
            assert_refused("batch_too_large", 400, normalize(call_req(batch_of(21))))
            assert_refused("batch_too_large", 400, normalize(call_req(batch_of(1000))))
        end)

        it("refuses the whole batch when one call is invalid, naming it", function()
            local body = batch_of(3, function(i)
                if i == 2 then
                    return '{"method":"bad"}'
                end
                return '{"method":"order.query","id":' .. i .. '}'
            end)
            local ok, err = normalize(call_req(body))
            assert_refused("invalid_request", 400, ok, err)
            assert.truthy(err.message:find("call 2", 1, true))
            for _, entry in ipairs({ "1", "null", '"x"', "[]" }) do
                assert_refused("invalid_request", 400,
                    normalize(call_req('[{"method":"a.b","id":1},' .. entry .. ']')))
            end
        end)

        it("refuses duplicate ids", function()
            assert_refused("invalid_request", 400, normalize(call_req(
                '[{"method":"a.b","id":1},{"method":"a.c","id":1}]')))
            -- 1 and "1" are different ids; null ids may repeat
            assert(normalize(call_req('[{"method":"a.b","id":1},{"method":"a.c","id":"1"},'
                .. '{"method":"a.d","id":null},{"method":"a.e","id":null}]')))
        end)

        it("renders a whole-batch failure as one error with id null", function()
            local req = assert(fixture_req("batch"))
            local status, _, body = render_error("token_expired", 401, req)
            assert.are.equal(200, status)
            local decoded = assert(json.decode(body))
            assert.are.equal(-32001, decoded.error.code)
            assert.are.equal(json.null, decoded.id)
        end)

        it("renders a reply with the wrong number of results as -32052", function()
            local req = assert(fixture_req("batch"))
            local status, _, body = render({ ok = true, data = { { id = 1, ok = true, data = 1 } } }, req)
            assert.are.equal(200, status)
            local decoded = assert(json.decode(body))
            assert.are.equal(-32052, decoded.error.code)
            assert.are.equal(json.null, decoded.id)
        end)

        it("renders a malformed per-call result as an error for that call", function()
            local req = assert(fixture_req("batch"))
            local _, _, body = render({ ok = true, data = { 1, { ok = true, data = 2 },
                { ok = true, data = 3 }, { ok = false } } }, req)
            local decoded = assert(json.decode(body))
            assert.are.equal(3, #decoded)
            assert.are.equal(-32052, decoded[1].error.code)
            assert.are.equal(1, decoded[1].id)
            assert.are.equal(2, decoded[2].result)
            assert.are.equal(-32052, decoded[3].error.code)
        end)

        it("answers 204 when the batch holds only notifications", function()
            local req = call_req('[{"method":"a.b"},{"method":"a.c"}]')
            local status, _, body = render({ ok = true, data = { { ok = true, data = 1 },
                { ok = true, data = 2 } } }, req)
            assert.are.equal(204, status)
            assert.are.equal("", body)
        end)
    end)

    describe("render", function()
        it("always answers 200 with the call's id and maps gateway statuses", function()
            local req = assert(fixture_req("single_call"))
            for _, case in ipairs({ { "token_invalid", 401, -32001 }, { "forbidden", 403, -32003 },
                    { "body_malformed", 400, -32700 }, { "plugin_rejected", 400, -32600 },
                    { "body_too_large", 413, -32013 }, { "plugin_error", 500, -32603 },
                    { "upstream_reply_invalid", 502, -32052 }, { "plugin_timeout", 503, -32053 } }) do
                local status, headers, body = render_error(case[1], case[2], req)
                assert.are.equal(200, status)
                assert.are.equal("application/json; charset=utf-8", headers["Content-Type"])
                local decoded = assert(json.decode(body))
                assert.are.equal("2.0", decoded.jsonrpc)
                assert.are.equal(7, decoded.id)
                assert.are.equal(case[3], decoded.error.code, case[1])
                assert.are.equal("gateway says " .. case[1], decoded.error.message)
                assert.are.equal(case[1], decoded.error.data.code)
                assert.are.equal(REQUEST_ID, decoded.error.data.request_id)
                assert.is_nil(decoded.result)
            end
        end)

        it("renders service errors as -32000 with the code in data", function()
            local req = assert(fixture_req("single_call"))
            local _, _, body = render({ ok = false, error = { code = "order_not_found",
                message = "no such order" } }, req, 404)
            local decoded = assert(json.decode(body))
            assert.are.equal(-32000, decoded.error.code)
            assert.are.equal("order_not_found", decoded.error.data.code)
        end)

        it("answers a failed notification with 204 but a gateway refusal with an error", function()
            local req = assert(fixture_req("notification"))
            local status = render({ ok = false, error = { code = "x_failed", message = "m" } }, req)
            assert.are.equal(204, status)
            local body
            status, _, body = render_error("token_missing", 401, req)
            assert.are.equal(200, status)
            assert.are.equal(-32001, assert(json.decode(body)).error.code)
        end)

        it("keeps string ids and renders result null", function()
            local req = assert(fixture_req("no_params"))
            local _, _, body = host.render(CHANNEL, '{"ok":true,"data":null}', ctx_of(req, 200, false))
            assert.are.equal('{"id":"req-1","jsonrpc":"2.0","result":null}', body)
        end)

        it("renders a parse error without a request", function()
            local status, _, body = render_error("body_malformed", 400, nil)
            assert.are.equal(200, status)
            local decoded = assert(json.decode(body))
            assert.are.equal(-32700, decoded.error.code)
            assert.are.equal(json.null, decoded.id)
        end)
    end)
end)
