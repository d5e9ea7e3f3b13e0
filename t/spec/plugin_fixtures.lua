--- Shared fixture runner of the plugin specs: loads a channel plugin
-- through the host exactly as the gateway does and runs the fixtures of
-- t/fixtures/<channel>/ through prepare, respond, authenticate, normalize
-- and render.  Used as dofile("t/spec/plugin_fixtures.lua")(channel).

local assert = require "luassert"


return function(CHANNEL)


    local host = require "omni.host"
    local json = require "omni.json"
    local lfs = require "lfs"

    local PLUGIN = "plugins/" .. CHANNEL .. ".lua"
    local FIXTURES = "t/fixtures/" .. CHANNEL
    local REQUEST_ID = "0123456789abcdef0123456789abcdef"

    local function read_file(path)
        local f = assert(io.open(path, "rb"))
        local s = f:read("*a")
        f:close()
        return s
    end

    --- Loads the plugin the way the gateway does: source text + "@path".
    local function load_plugin()
        local ok, err = host.load(CHANNEL, "@" .. PLUGIN, read_file(PLUGIN))
        assert(ok, err)
    end

    --- Canonical JSON text (sorted keys), for comparisons.
    local function canon(v)
        return assert(json.encode(v))
    end

    local function is_null(v)
        return v == nil or v == json.null
    end

    local function fixture_names()
        local names = {}
        for entry in lfs.dir(FIXTURES) do
            if entry:match("%.json$") then
                names[#names + 1] = entry
            end
        end
        table.sort(names)
        return names
    end

    local function load_fixture(name)
        if not name:match("%.json$") then
            name = name .. ".json"
        end
        return assert(json.decode(read_file(FIXTURES .. "/" .. name)))
    end

    --- host.prepare with a fixture request, as the C side passes it.
    -- req.settings: the host is expected to copy raw.settings (the
    -- omni_plugin_set values); set it here when it does not (yet).
    local function prepare(r)
        local raw = {
            method = r.method, path = r.path, query = r.query or "",
            headers = r.headers or {}, client_ip = r.client_ip or "127.0.0.1",
            claims_json = (not is_null(r.claims)) and canon(r.claims) or nil,
            body = r.body, settings = r.settings,
            location = (not is_null(r.location)) and r.location or nil,
            time = (not is_null(r.time)) and r.time or nil,
        }
        local req, err = host.prepare(CHANNEL, raw)
        if req and r.settings ~= nil and req.settings == nil then
            req.settings = r.settings
        end
        return req, err
    end

    local function known_of(k)
        k = k or {}
    return {
        request_id = k.request_id or REQUEST_ID,
        received_at = k.received_at or 1795540000000,
        channel = CHANNEL,
        principal = (not is_null(k.principal)) and k.principal or nil,
        user_agent = (not is_null(k.user_agent)) and k.user_agent or nil,
    }
end

local function ctx_of(req, status, gateway)
    return { status = status, gateway = gateway, request_id = REQUEST_ID,
        channel = CHANNEL, request = req }
end

--- Every key of `want` must be in `got` with the same value (recursive).
local function assert_subset(want, got, where)
    for k, v in pairs(want) do
        local g = type(got) == "table" and got ~= json.null and got[k] or nil
        local here = where .. "." .. tostring(k)
        if type(v) == "table" and v ~= json.null then
            assert(type(g) == "table", here .. " is not a table")
            assert_subset(v, g, here)
        elseif v == json.null then
            assert(g == json.null, here .. " should be null")
        else
            assert.are.equal(v, g, here)
        end
    end
end

--- Checks a (status, headers, body) answer against an expectation.
local function check_answer(want, status, headers, body)
    assert.are.equal(want.status, status, type(headers) == "table" and headers.message or nil)
    assert.are.equal("table", type(headers))
    assert.are.equal("string", type(body))
    for name, value in pairs(want.headers or {}) do
        assert.are.equal(value, headers[name], "header " .. name)
    end
    for _, name in ipairs(want.absent_headers or {}) do
        assert.is_nil(headers[name], "header " .. name)
    end
    if want.body ~= nil then
        assert.are.equal(want.body, body)
    end
    if want.body_contains ~= nil then
        assert(body:find(want.body_contains, 1, true),
            "body lacks " .. want.body_contains .. ": " .. body)
    end
    if want.json ~= nil then
        assert.are.equal(canon(want.json), canon(assert(json.decode(body))))
    end
    if want.json_subset ~= nil then
        assert_subset(want.json_subset, assert(json.decode(body)), "body")
    end
end

--- Renders a refusal as the gateway does: host.render_error.
local function render_refusal(err, req)
    return host.render_error(CHANNEL, err.code, err.message, err.status,
        ctx_of(req, err.status, true))
end

--- Runs one fixture through the whole pipeline.
local function run_fixture(fx)
    local expect = fx.expect
    local req, err = prepare(fx.request)
    if expect.prepare_error then
        assert.is_nil(req)
        assert.are.equal(expect.prepare_error.code, err.code)
        assert.are.equal(expect.prepare_error.status, err.status)
        if expect.render_error then
            check_answer(expect.render_error, render_refusal(err, nil))
        end
        return
    end
    assert(req, err and err.message)

    local status, headers, body = host.respond(CHANNEL, req)
    if expect.respond then
        check_answer(expect.respond, status, headers, body)
        return
    end
    assert.is_nil(status)

    if expect.authenticate ~= nil then
        local ok, aerr = host.authenticate(CHANNEL, req)
        if expect.authenticate == true then
            assert(ok, aerr and aerr.message)
        else
            assert.is_nil(ok)
            assert.are.equal(expect.authenticate.code, aerr.code)
            assert.are.equal(expect.authenticate.status, aerr.status)
            if expect.render_error then
                check_answer(expect.render_error, render_refusal(aerr, req))
            end
            return
        end
    end

    local text, contract = host.normalize(CHANNEL, req, known_of(fx.known))
    if expect.error then
        assert.is_nil(text)
        assert.are.equal(expect.error.code, contract.code, contract.message)
        assert.are.equal(expect.error.status, contract.status)
        if expect.render_error then
            check_answer(expect.render_error, render_refusal(contract, req))
        end
        return
    end
    assert(text, contract and contract.message)
    local c = assert(json.decode(text))  -- what the service receives
    assert.are.equal("1.3", c.version)
    assert.are.equal(CHANNEL, c.channel.name)
    assert.are.equal(expect.action, c.action)
    if expect.params ~= nil then
        assert.are.equal(canon(expect.params), canon(c.params))
    end
    if expect.identities ~= nil then
        assert.are.equal(canon(expect.identities), canon(c.customer.identities))
    end
    for _, key in ipairs({ "channel", "client", "locale", "principal" }) do
        if expect[key] ~= nil then
            assert.are.equal(canon(expect[key]), canon(c[key]), key)
        end
    end
    if expect.customer_anonymous ~= nil then
        assert.are.equal(expect.customer_anonymous, c.customer.anonymous)
    end

    if expect.render then
        local r = expect.render
        check_answer(r, host.render(CHANNEL, canon(r.reply),
            ctx_of(req, r.upstream_status or 200, false)))
    end
end

--- A request built from a fixture, changed by `patch(request)`, prepared.
local function fixture_req(name, patch)
    local r = load_fixture(name).request
    if patch then
        patch(r)
    end
    return prepare(r)
end

--- normalize shortcut: returns the decoded contract, or nil, err.
local function normalize(req)
    local text, err = host.normalize(CHANNEL, req, known_of())
    if not text then
        return nil, err
    end
    return assert(json.decode(text))
end

--- render shortcut with a reply table.
local function render(reply, req, status, gateway)
    return host.render(CHANNEL, canon(reply), ctx_of(req, status or 200, gateway or false))
end

--- render_error shortcut for gateway errors.
local function render_error(code, status, req)
    return host.render_error(CHANNEL, code, "gateway says " .. code, status,
        ctx_of(req, status, true))
end

--- Asserts a refusal with code and status.
local function assert_refused(code, status, ok, err)
    assert.is_nil(ok)
    assert.are.equal("table", type(err))
    assert.are.equal(code, err.code, err.message)
    assert.are.equal(status, err.status)
end


    --- The specs every plugin has: it loads through the host under its
    -- name, and each of its fixtures (at least 4) runs through.  Given
    -- busted's functions, which are the spec file's, not this chunk's.
    local function describe_loading_and_fixtures(describe, it, setup)
        describe("plugin " .. CHANNEL .. " loading", function()
            it("loads through the host under its name", function()
                load_plugin()
                local found = false
                for _, name in ipairs(host.names()) do
                    found = found or name == CHANNEL
                end
                assert.is_true(found)
            end)
        end)

        describe("plugin " .. CHANNEL .. " fixtures", function()
            setup(load_plugin)
            local names = fixture_names()
            it("has at least 4 fixtures", function()
                assert(#names >= 4, #names .. " fixtures")
            end)
            for _, name in ipairs(names) do
                it(name, function()
                    run_fixture(load_fixture(name))
                end)
            end
        end)
    end

    return {
        host = host,
        json = json,
        REQUEST_ID = REQUEST_ID,
        assert_refused = assert_refused,
        assert_subset = assert_subset,
        canon = canon,
        check_answer = check_answer,
        ctx_of = ctx_of,
        describe_loading_and_fixtures = describe_loading_and_fixtures,
        fixture_names = fixture_names,
        fixture_req = fixture_req,
        is_null = is_null,
        known_of = known_of,
        load_fixture = load_fixture,
        load_plugin = load_plugin,
        normalize = normalize,
        prepare = prepare,
        read_file = read_file,
        render = render,
        render_error = render_error,
        render_refusal = render_refusal,
        run_fixture = run_fixture,
    }
end
