-- omni.runner and tools/omni-plugin: the standalone runner, and the
-- worked example of docs/plugins.md (run exactly as documented).

local helpers = require "t.spec.helpers"
local runner = require "omni.runner"
local json = require "omni.json"

local function main(args)
    local out, err = helpers.sink(), helpers.sink()
    local code = runner.main(args, out, err)
    return code, out.text(), err.text()
end

local function tmpdir()
    local base = os.tmpname()
    os.remove(base)
    assert(os.execute("mkdir -p '" .. base .. "'") == 0)
    return base
end

local function write(path, content)
    local fh = assert(io.open(path, "wb"))
    fh:write(content)
    fh:close()
    return path
end

local PLUGIN = helpers.plugin_source("echo", [[
    function _M.respond(req)
        if req.method == "OPTIONS" then
            return 204, { Allow = "POST" }, ""
        end
    end
    function _M.authenticate(req)
        if req.headers["x-deny"] then
            return nil, omni.error("signature_invalid", "denied", 401)
        end
        return true
    end
    function _M.normalize(req)
        if req.args.crash then
            local t = nil
            return t.x
        end
        if req.args.spin then
            while true do end
        end
        return {
            action = "echo.call",
            params = { body = req.body, settings = req.settings, sub = req.claims and req.claims.sub },
        }
    end
]])

-- docs/plugins.md, "What exists twice, and why": the time budget is
-- enforced twice, with one default, which the gateway states where its
-- directive is initialised
describe("omni.runner's limits", function()
    it("default to the gateway's omni_plugin_timeout", function()
        local ls = assert(io.popen("ls module/ngx_http_omni_*.c"))
        local found = {}
        for path in ls:lines() do
            local fh = assert(io.open(path, "rb"))
            local ms = fh:read("*a"):match(
                "ngx_conf_init_msec_value%(%s*omcf%->timeout%s*,%s*(%d+)%s*%)")
            fh:close()
            found[#found + 1] = tonumber(ms)
        end
        ls:close()
        assert.same({ runner.DEFAULT_TIMEOUT }, found)
    end)
end)


describe("omni.runner.fixture", function()
    it("turns a fixture into raw and known, with defaults", function()
        local raw, known = runner.fixture(json.decode([[{"request": {}}]]), "echo")
        assert.same({ method = "GET", path = "/", query = "", headers = {}, client_ip = "127.0.0.1",
                      settings = {} }, raw)
        assert.same({ request_id = "0123456789abcdef0123456789abcdef", channel = "echo" }, known)
    end)

    it("reads every field", function()
        local raw, known = runner.fixture(json.decode([[{
            "request": {"method": "PUT", "path": "/x", "query": "a=1",
                        "headers": {"Content-Type": "text/plain", "X-Multi": ["a", "b"]},
                        "client_ip": "192.0.2.1", "body": "hi", "claims": {"sub": "alice"},
                        "settings": {"k": "v"}, "channel": "other"},
            "known": {"request_id": "r-1", "received_at": 5, "principal": {"subject": "alice"},
                      "user_agent": "ua"}
        }]]), "echo")
        assert.same({ method = "PUT", path = "/x", query = "a=1",
                      headers = { ["content-type"] = "text/plain", ["x-multi"] = "a, b" },
                      client_ip = "192.0.2.1", body = "hi", claims_json = '{"sub":"alice"}',
                      settings = { k = "v" }, channel = "other" }, raw)
        assert.equal("r-1", known.request_id)
        assert.equal(5, known.received_at)
        assert.equal("other", known.channel)
        assert.equal("alice", known.principal.subject)
        assert.equal("ua", known.user_agent)
    end)

    it("encodes body_json and defaults the method to POST", function()
        local raw = runner.fixture(json.decode([[{"request": {"body_json": {"a": [], "b": {}}}}]]), "echo")
        assert.equal('{"a":[],"b":{}}', raw.body)
        assert.equal("POST", raw.method)
    end)

    it("treats null as absent", function()
        local raw, known = runner.fixture(json.decode([[{"request": {"body": null, "headers": null},
                                                          "known": {"principal": null}}]]), "echo")
        assert.is_nil(raw.body)
        assert.is_nil(known.principal)
    end)

    it("refuses malformed fixtures", function()
        local cases = {
            { '{}', 'a "request" object is expected' },
            { '{"request": 1}', 'a "request" object is expected' },
            { '{"request": {"headers": []}}', "request.headers must be an object" },
            { '{"request": {"headers": {"a": 1}}}', "header a must be a string" },
            { '{"request": {"headers": {"a": [1]}}}', "header a must be a string" },
            { '{"request": {"body": 1}}', "request.body must be a string" },
            { '{"request": {"claims": [1]}}', "request.claims must be an object" },
            { '{"request": {"settings": {"a": 1}}}', "request.settings.a must be a string" },
            { '{"request": {"settings": []}}', "request.settings must be an object" },
            { '{"request": {"path": 1}}', "request.path must be a string" },
            { '{"request": {}, "known": 1}', "known must be an object" },
            { '{"request": {}, "known": {"principal": "x"}}', "known.principal must be an object" },
            { '{"request": {}, "known": {"received_at": "now"}}', "known.received_at must be milliseconds" },
            { '{"request": {}, "known": {"request_id": "a b"}}', "known.request_id must match" },
            { '{"request": {}, "known": {"channel": "Web"}}', "known.channel must match" },
        }
        for _, case in ipairs(cases) do
            local raw, err = runner.fixture(json.decode(case[1]), "echo")
            assert.is_nil(raw, case[1])
            assert.matches(case[2], err, 1, true)
        end
    end)
end)

describe("omni-plugin", function()
    local dir, plugin, fixture, reply

    setup(function()
        dir = tmpdir()
        plugin = write(dir .. "/echo.lua", PLUGIN)
        fixture = write(dir .. "/req.json", [[{
            "request": {"method": "POST", "path": "/echo", "headers": {"Content-Type": "application/json"},
                        "body": "{\"x\":[]}", "settings": {"token": "t"}, "claims": {"sub": "bob"}},
            "known": {"request_id": "abc", "received_at": 1795543200123}
        }]])
        reply = write(dir .. "/reply.json", '{"ok":true,"data":{"n":1}}')
    end)

    teardown(function()
        os.execute("rm -rf '" .. dir .. "'")
    end)

    it("prints the usage", function()
        local code, out = main({ "--help" })
        assert.equal(0, code)
        assert.matches("usage: omni%-plugin", out)
        local code2, _, err = main({})
        assert.equal(2, code2)
        assert.matches("usage:", err)
        code2, _, err = main({ "frobnicate", plugin })
        assert.equal(2, code2)
        code2, _, err = main({ "check", plugin, "--bogus" })
        assert.equal(2, code2)
        assert.matches("unknown option %-%-bogus", err)
        code2, _, err = main({ "check", plugin, "--budget", "x" })
        assert.equal(2, code2)
        assert.matches("%-%-budget needs a positive integer", err)
        code2, _, err = main({ "normalize", plugin })
        assert.equal(2, code2)
        assert.matches("omni%-plugin normalize: wrong number of arguments", err)
    end)

    describe("check", function()
        it("loads a plugin", function()
            local code, out = main({ "check", plugin })
            assert.equal(0, code)
            assert.equal("ok: echo 0.1 (normalize, render, authenticate, respond)\n", out)
        end)

        it("reports a syntax error with file and line", function()
            local bad = write(dir .. "/bad.lua", "local _M = {}\nlocal = 1\nreturn _M\n")
            local code, out = main({ "check", bad })
            assert.equal(1, code)
            assert.matches("^" .. dir:gsub("%p", "%%%0") .. "/bad%.lua:2: ", out)
        end)

        it("reports a missing function", function()
            local bad = write(dir .. "/norender.lua", 'return { name = "norender", version = "1", normalize = function() end }')
            local code, out = main({ "check", bad })
            assert.equal(1, code)
            assert.matches("does not define render%(%)", out)
        end)

        it("reports a missing file and a file that is not .lua", function()
            local code, out = main({ "check", dir .. "/missing.lua" })
            assert.equal(1, code)
            assert.matches("No such file", out)
            code, out = main({ "check", dir .. "/req.json" })
            assert.equal(1, code)
            assert.matches("must end in %.lua", out)
        end)

        it("stops a plugin that loops at load time", function()
            local bad = write(dir .. "/spin.lua", "while true do end")
            local code, out = main({ "check", bad, "--budget", "100000" })
            assert.equal(1, code)
            assert.equal("spin load: CPU budget exhausted (100000 instructions)\n", out)
        end)
    end)

    describe("normalize", function()
        it("prints the contract, pretty or compact", function()
            local code, out = main({ "normalize", plugin, fixture })
            assert.equal(0, code)
            local c = assert(json.decode(out))
            assert.equal("echo.call", c.action)
            assert.equal("abc", c.request_id)
            assert.equal("2026-11-24T18:00:00.123Z", c.received_at)
            assert.same({ token = "t" }, c.params.settings)
            assert.equal("bob", c.params.sub)
            assert.matches("\n  \"action\": \"echo.call\",\n", out, 1, true)
            code, out = main({ "normalize", plugin, fixture, "--compact" })
            assert.equal(0, code)
            assert.matches('^{"action":"echo.call",.*"params":{"body":{"x":%[%]},', out)
            assert.equal(1, select(2, out:gsub("\n", "")))
        end)

        it("prints a plugin error as JSON and its traceback on stderr", function()
            local f = write(dir .. "/crash.json", '{"request": {"query": "crash=1"}}')
            local code, out, err = main({ "normalize", plugin, f })
            assert.equal(1, code)
            local e = assert(json.decode(out)).error
            assert.equal("plugin_error", e.code)
            assert.equal(500, e.status)
            assert.matches("^echo normalize: .*/echo%.lua:%d+: attempt to index local 't'", e.message)
            assert.matches("stack traceback:", err)
        end)

        it("reports a timeout", function()
            local f = write(dir .. "/spin.json", '{"request": {"query": "spin=1"}}')
            local code, out = main({ "normalize", plugin, f, "--budget", "100000", "--timeout", "0" })
            assert.equal(1, code)
            assert.equal('{"error":{"code":"plugin_timeout","message":"echo normalize: CPU budget exhausted (100000 instructions)","status":500}}\n', out)
            -- a budget the loop cannot reach first, whatever the CPU speed
            code, out = main({ "normalize", plugin, f, "--timeout", "20", "--budget", "100000000000" })
            assert.equal(1, code)
            assert.equal('{"error":{"code":"plugin_timeout","message":"echo normalize: time budget of 20 ms exhausted","status":500}}\n', out)
        end)

        it("reports a malformed body", function()
            local f = write(dir .. "/junk.json", '{"request": {"headers": {"content-type": "application/json"}, "body": "{"}}')
            local code, out = main({ "normalize", plugin, f })
            assert.equal(1, code)
            assert.equal('{"error":{"code":"body_malformed","message":"json: unexpected end of input, object key expected at byte 2","status":400}}\n', out)
        end)

        it("reports a bad fixture as a usage error", function()
            local f = write(dir .. "/notjson.json", "{")
            local code, _, err = main({ "normalize", plugin, f })
            assert.equal(2, code)
            assert.matches("notjson%.json: json: ", err)
            code, _, err = main({ "normalize", plugin, dir .. "/nowhere.json" })
            assert.equal(2, code)
            assert.matches("No such file", err)
        end)
    end)

    describe("render", function()
        it("prints the answer", function()
            local code, out = main({ "render", plugin, reply, "--status", "201" })
            assert.equal(0, code)
            assert.equal('HTTP 201\nContent-Type: application/json\n\n{"data":{"n":1},"ok":true}\n', out)
        end)

        it("renders an invalid reply as upstream_reply_invalid, with a note", function()
            local junk = write(dir .. "/junk.txt", "not json")
            local code, out, err = main({ "render", plugin, junk })
            assert.equal(0, code)
            assert.matches("^HTTP 502\n", out)
            assert.matches("upstream_reply_invalid", out)
            assert.matches("note: the reply was replaced by upstream_reply_invalid: json:", err)
        end)

        it("passes --gateway and --request into ctx", function()
            local inspect = write(dir .. "/ctx.lua", helpers.plugin_source("ctx", [[
                function _M.render(reply, ctx)
                    return 200, {}, json.encode({ gateway = ctx.gateway, path = ctx.request and ctx.request.path or json.null,
                                                  request_id = ctx.request_id, channel = ctx.channel })
                end
            ]]))
            local code, out = main({ "render", inspect, reply, "--gateway", "--request", fixture })
            assert.equal(0, code)
            assert.equal('HTTP 200\n\n{"channel":"ctx","gateway":true,"path":"/echo","request_id":"abc"}\n', out)
            code, out = main({ "render", inspect, reply })
            assert.equal('HTTP 200\n\n{"channel":"ctx","gateway":false,"path":null,"request_id":"0123456789abcdef0123456789abcdef"}\n', out)
        end)

        it("reports an invalid answer from the plugin", function()
            local bad = write(dir .. "/badrender.lua", helpers.plugin_source("badrender", [[
                function _M.render() return 200, { ["X-A"] = "a\r\nb" }, "" end
            ]]))
            local code, out = main({ "render", bad, reply })
            assert.equal(1, code)
            assert.equal('{"error":{"code":"plugin_error","message":"render: the value of header \'X-A\' contains a control character or is too long","status":500}}\n', out)
        end)
    end)

    describe("run", function()
        it("goes through every step", function()
            local code, out = main({ "run", plugin, fixture, reply, "--compact" })
            assert.equal(0, code)
            local lines = {}
            for line in out:gmatch("([^\n]*)\n") do
                lines[#lines + 1] = line
            end
            assert.equal("# respond: no direct answer", lines[1])
            assert.equal("# authenticate: ok", lines[2])
            assert.equal("# normalize: contract", lines[3])
            assert.matches('^{"action":"echo.call"', lines[4])
            assert.equal("# render (200)", lines[5])
            assert.equal("HTTP 200", lines[6])
        end)

        it("stops at a direct answer", function()
            local f = write(dir .. "/options.json", '{"request": {"method": "OPTIONS"}}')
            local code, out = main({ "run", plugin, f })
            assert.equal(0, code)
            assert.equal("# respond: answered directly\nHTTP 204\nAllow: POST\n\n", out)
        end)

        it("renders a refusal natively", function()
            local f = write(dir .. "/deny.json", '{"request": {"headers": {"x-deny": "1"}}, "known": {"request_id": "r9"}}')
            local code, out = main({ "run", plugin, f })
            assert.equal(1, code)
            assert.equal(table.concat({
                "# respond: no direct answer",
                "# authenticate: signature_invalid",
                '{"error":{"code":"signature_invalid","message":"denied","status":401}}',
                "# render_error (401)",
                "HTTP 401",
                "Content-Type: application/json",
                "",
                '{"error":{"code":"signature_invalid","message":"denied"},"ok":false}',
                "",
            }, "\n"), out)
        end)

        it("renders a plugin failure natively", function()
            local f = write(dir .. "/crash2.json", '{"request": {"query": "crash=1"}}')
            local code, out = main({ "run", plugin, f })
            assert.equal(1, code)
            assert.matches("# normalize: plugin_error\n", out, 1, true)
            assert.matches("# render_error (500)\nHTTP 500\n", out, 1, true)
        end)

        it("reports a malformed body and renders it without a request", function()
            local f = write(dir .. "/junk2.json", '{"request": {"headers": {"content-type": "text/xml"}, "body": "<a>"}}')
            local code, out = main({ "run", plugin, f })
            assert.equal(1, code)
            assert.matches("# prepare: body_malformed\n", out, 1, true)
            assert.matches("# render_error (400)\nHTTP 400\n", out, 1, true)
        end)
    end)

    it("runs as a script", function()
        local fh = assert(io.popen("tools/omni-plugin check '" .. plugin .. "' 2>&1; echo \"rc=$?\""))
        local out = fh:read("*a")
        fh:close()
        assert.equal("ok: echo 0.1 (normalize, render, authenticate, respond)\nrc=0\n", out)
        fh = assert(io.popen("cd tools && ./omni-plugin normalize '" .. plugin .. "' '" .. fixture
                             .. "' --compact 2>&1; echo \"rc=$?\""))
        out = fh:read("*a")
        fh:close()
        assert.matches('^{"action":"echo.call".*\nrc=0\n$', out)
    end)
end)

describe("docs/plugins.md, the kiosk example", function()
    local doc = helpers.read("docs/plugins.md")
    local dir = tmpdir()

    -- the files: <!-- kiosk: NAME --> then a fenced block
    local files = 0
    for name, body in doc:gmatch("<!%-%- kiosk: ([%w._-]+) %-%->\n```%w*\n(.-)\n```") do
        if name ~= "command" then
            write(dir .. "/" .. name, body .. "\n")
            files = files + 1
        end
    end

    it("has the plugin and its fixtures", function()
        assert.truthy(files >= 6)
    end)

    -- the commands: <!-- kiosk: command --> then ```console with "$ tools/omni-plugin ..."
    for block in doc:gmatch("<!%-%- kiosk: command %-%->\n```console\n(.-)\n```") do
        local cmdline, expected = block:match("^%$ tools/omni%-plugin ([^\n]*)\n(.*)$")
        it("prints what it says: omni-plugin " .. cmdline, function()
            local args = {}
            for word in cmdline:gmatch("%S+") do
                args[#args + 1] = (word:gsub("^kiosk/", dir .. "/"))
            end
            local _, out = main(args)
            assert.equal(expected .. "\n", out)
        end)
    end

    it("is the plugin in the doc that the runner accepts", function()
        local code = main({ "check", dir .. "/kiosk.lua" })
        assert.equal(0, code)
    end)

    it("has a signature that matches its secret", function()
        local crypto = require "omni.crypto"
        if not crypto.available then
            pending("omni_crypto is not built")
            return
        end
        local fx = json.decode(helpers.read(dir .. "/order.json"))
        local sig = crypto.hex(crypto.hmac_sha256(fx.request.settings.secret,
                                                  fx.request.headers["X-Kiosk-Id"] .. "\n" .. fx.request.body))
        assert.equal(sig, fx.request.headers["X-Kiosk-Signature"])
    end)

    it("produces a contract that validates", function()
        local _, out = main({ "normalize", dir .. "/kiosk.lua", dir .. "/order.json" })
        local c = assert(json.decode(out))
        assert.is_true(require("omni.contract").validate(c))
    end)
end)
