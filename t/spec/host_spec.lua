-- omni.host: loading plugins, the request table, calling plugins and
-- validating what they return.

local helpers = require "t.spec.helpers"
local host = require "omni.host"
local json = require "omni.json"

local raw, known = helpers.raw, helpers.known

local function load(name, body)
    local ok, err = helpers.load(host, name, body)
    assert(ok, err)
end

local function load_source(name, source, chunkname)
    return host.load(name, chunkname or ("@t/spec/plugins/" .. name .. ".lua"), source)
end

local function prepare(name, over)
    return host.prepare(name, raw(over))
end

describe("omni.host.load", function()
    it("loads a plugin and lists it", function()
        load("alpha")
        load("beta")
        local names = host.names()
        assert.truthy(#names >= 2)
        local seen = {}
        for _, n in ipairs(names) do
            seen[n] = true
        end
        assert.is_true(seen.alpha and seen.beta)
        for i = 2, #names do
            assert.truthy(names[i - 1] < names[i], "names are sorted")
        end
    end)

    it("describes a plugin", function()
        load("described", [[
            function _M.respond() return nil end
            function _M.identify() return nil end
        ]])
        assert.same({
            name = "described", version = "0.1", file = "t/spec/plugins/described.lua",
            functions = { "normalize", "render", "identify", "respond" },
        }, host.info("described"))
        assert.is_nil(host.info("nope"))
    end)

    it("replaces a plugin loaded again under the same name", function()
        load("twice", [[function _M.normalize() return { action = "first.one" } end]])
        load("twice", [[function _M.normalize() return { action = "second.one" } end]])
        local _, c = host.normalize("twice", assert(prepare("twice")), known())
        assert.equal("second.one", c.action)
    end)

    it("keeps the old plugin when a new version fails to load", function()
        load("keeper", [[function _M.normalize() return { action = "old.one" } end]])
        assert.is_nil(load_source("keeper", "return {"))
        local _, c = host.normalize("keeper", assert(prepare("keeper")), known())
        assert.equal("old.one", c.action)
    end)

    it("unloads", function()
        load("gone")
        host.unload("gone")
        assert.is_nil(host.info("gone"))
        local req, err = host.prepare("gone", raw())
        assert.is_nil(req)
        assert.same({ code = "plugin_error", status = 500, message = "plugin 'gone' is not loaded" }, err)
    end)

    it("reports a syntax error with file and line", function()
        local ok, err = load_source("broken", "local _M = {}\n\nlocal x = = 1\nreturn _M\n")
        assert.is_nil(ok)
        assert.matches("^t/spec/plugins/broken%.lua:3: ", err)
    end)

    it("reports a runtime error at load time with file and line", function()
        local ok, err = load_source("boom", "local _M = {}\nlocal t = nil\nt.x = 1\nreturn _M\n")
        assert.is_nil(ok)
        assert.matches("^t/spec/plugins/boom%.lua:3: attempt to index", err)
    end)

    it("reports a sandbox violation at load time", function()
        local ok, err = load_source("leaky", "local f = io.open('/etc/passwd')\nreturn {}\n")
        assert.is_nil(ok)
        assert.matches("leaky%.lua:1: global 'io' is not defined", err)
    end)

    it("refuses what does not return a table", function()
        local ok, err = load_source("notable", "return 42")
        assert.is_nil(ok)
        assert.equal("t/spec/plugins/notable.lua: the plugin must return a table (got number)", err)
        ok, err = load_source("nothing", "local x = 1")
        assert.is_nil(ok)
        assert.equal("t/spec/plugins/nothing.lua: the plugin must return a table (got nil)", err)
    end)

    it("refuses a wrong or missing name", function()
        local ok, err = load_source("right", 'return { name = "wrong", version = "1", normalize = function() end, render = function() end }')
        assert.is_nil(ok)
        assert.equal("t/spec/plugins/right.lua: the plugin's name is 'wrong', expected 'right' (the file's base name)", err)
        ok, err = load_source("right", 'return { version = "1", normalize = function() end, render = function() end }')
        assert.is_nil(ok)
        assert.equal("t/spec/plugins/right.lua: the plugin's name is nil, expected 'right' (the file's base name)", err)
    end)

    it("refuses a missing or non-string version", function()
        local ok, err = load_source("nover", 'return { name = "nover", normalize = function() end, render = function() end }')
        assert.is_nil(ok)
        assert.equal("t/spec/plugins/nover.lua: the plugin's version must be a string (got nil)", err)
        ok, err = load_source("nover", 'return { name = "nover", version = 1, normalize = function() end, render = function() end }')
        assert.is_nil(ok)
        assert.equal("t/spec/plugins/nover.lua: the plugin's version must be a string (got 1)", err)
    end)

    it("refuses a plugin without normalize or render", function()
        local ok, err = load_source("nonorm", 'return { name = "nonorm", version = "1", render = function() end }')
        assert.is_nil(ok)
        assert.equal("t/spec/plugins/nonorm.lua: the plugin does not define normalize() (got nil)", err)
        ok, err = load_source("norender", 'return { name = "norender", version = "1", normalize = function() end, render = "x" }')
        assert.is_nil(ok)
        assert.equal("t/spec/plugins/norender.lua: the plugin does not define render() (got string)", err)
    end)

    it("refuses optional functions that are not functions", function()
        for _, f in ipairs({ "authenticate", "identify", "respond" }) do
            local ok, err = load_source("opt", 'return { name = "opt", version = "1", normalize = function() end, render = function() end, '
                                        .. f .. ' = true }')
            assert.is_nil(ok)
            assert.equal("t/spec/plugins/opt.lua: " .. f .. " must be a function (got boolean)", err)
        end
    end)

    it("refuses invalid plugin names", function()
        for _, bad in ipairs({ "Web", "1web", "", "we-b", string.rep("a", 33) }) do
            local ok, err = load_source(bad, "return {}")
            assert.is_nil(ok)
            assert.matches("invalid plugin name", err)
        end
    end)

    it("refuses precompiled bytecode", function()
        local bc = string.dump(function() return {} end)
        local ok, err = load_source("bc", bc)
        assert.is_nil(ok)
        assert.equal("t/spec/plugins/bc.lua: precompiled bytecode is not allowed", err)
    end)

    it("accepts chunk names without '@'", function()
        local ok = host.load("plain", "plain.lua", helpers.plugin_source("plain"))
        assert.is_true(ok)
        assert.equal("plain.lua", host.info("plain").file)
    end)

    it("raises for caller mistakes", function()
        assert.has_error(function() host.load(nil, "@x", "") end)
        assert.has_error(function() host.load("x", nil, "") end)
        assert.has_error(function() host.load("x", "@x", nil) end)
    end)

    it("lets fatal errors at load time through", function()
        -- error values that are userdata (the CPU and memory markers a
        -- gateway hook raises) are not turned into `nil, message`
        local ok, e = pcall(host.load, "fatal", "@fatal.lua",
                            'error(require("omni").json.null)')
        assert.is_false(ok)
        assert.equal(json.null, e)
        ok, e = pcall(host.load, "fatal", "@fatal.lua",
                      'error("fatal.lua:1: plugin_timeout: the time budget of 50 ms is spent")')
        assert.is_false(ok)
        assert.matches("plugin_timeout", e)
    end)
end)

describe("omni.host.prepare", function()
    setup(function()
        load("prep")
    end)

    it("builds the request table", function()
        local req = assert(prepare("prep", {
            method = "POST", path = "/prep/x", query = "a=1&b=x+y&a=2",
            headers = { ["content-type"] = "Application/JSON; charset=UTF-8", ["x-k"] = "v" },
            client_ip = "198.51.100.1", body = '{"k":[1,{}]}',
            settings = { token = "s3cret" },
        }))
        assert.equal("POST", req.method)
        assert.equal("/prep/x", req.path)
        assert.equal("a=1&b=x+y&a=2", req.query)
        assert.same({ a = "2", b = "x y" }, req.args)
        assert.equal("v", req.headers["x-k"])
        assert.equal("198.51.100.1", req.client_ip)
        assert.equal('{"k":[1,{}]}', req.raw_body)
        assert.equal("application/json", req.content_type)
        assert.equal('{"k":[1,{}]}', json.encode(req.body))
        assert.equal("prep", req.channel)
        assert.same({ token = "s3cret" }, req.settings)
        assert.is_nil(req.claims)
        assert.is_nil(req.xml)
    end)

    it("reads the media type out of Content-Type", function()
        local function mt(ct, body)
            local req = assert(host.prepare("prep", { method = "POST", path = "/", client_ip = "1.2.3.4",
                                                      headers = { ["content-type"] = ct }, body = body or "" }))
            return req.content_type, req.body
        end
        assert.equal("text/plain", mt("text/plain"))
        assert.equal("text/plain", mt(" \tText/Plain \t; charset=utf-8"))
        assert.equal("application/x-www-form-urlencoded", mt("application/x-www-form-urlencoded;"))
        assert.is_nil(mt(""))
        assert.is_nil(mt(" \t "))
        assert.is_nil(mt("; charset=utf-8"))
        local t, body = mt("application/ld+json", '{"a":1}')
        assert.equal("application/ld+json", t)
        assert.same({ a = 1 }, body)
        t, body = mt("application/atom+xml", "<a><b>x</b></a>")
        assert.equal("application/atom+xml", t)
        assert.same({ b = "x" }, body)
        t, body = mt("application/+json", '{"a":1}')
        assert.is_nil(body)
    end)

    it("defaults query, body, headers and settings", function()
        local req = assert(host.prepare("prep", { method = "GET", path = "/", client_ip = "1.2.3.4" }))
        assert.equal("", req.query)
        assert.same({}, req.args)
        assert.equal("", req.raw_body)
        assert.same({}, req.headers)
        assert.same({}, req.settings)
        assert.is_nil(req.content_type)
        assert.is_nil(req.body)
    end)

    it("takes the channel from raw.channel when given", function()
        assert.equal("other", assert(prepare("prep", { channel = "other" })).channel)
    end)

    it("parses JSON bodies, including +json types", function()
        for _, ct in ipairs({ "application/json", "application/vnd.api+json", " application/json ;x=y" }) do
            local req = assert(prepare("prep", { headers = { ["content-type"] = ct }, body = '{"a":1}' }))
            assert.equal(1, req.body.a, ct)
        end
    end)

    it("refuses malformed JSON bodies", function()
        local req, err = prepare("prep", { body = '{"a":' })
        assert.is_nil(req)
        assert.same({ code = "body_malformed", status = 400,
                      message = "json: unexpected end of input at byte 6" }, err)
        req, err = prepare("prep", { body = string.rep("[", 100) .. string.rep("]", 100) })
        assert.is_nil(req)
        assert.equal("body_malformed", err.code)
        assert.matches("too deeply nested", err.message)
    end)

    it("accepts JSON scalars and arrays as bodies", function()
        assert.equal(5, assert(prepare("prep", { body = "5" })).body)
        assert.equal(json.null, assert(prepare("prep", { body = "null" })).body)
        assert.equal(2, #assert(prepare("prep", { body = "[1,2]" })).body)
    end)

    it("parses form bodies", function()
        local req = assert(prepare("prep", {
            headers = { ["content-type"] = "application/x-www-form-urlencoded" },
            body = "From=%2B8613800138000&Digits=1&Digits=2",
        }))
        assert.same({ From = "+8613800138000", Digits = "2" }, req.body)
        assert.same({ From = { "+8613800138000" }, Digits = { "1", "2" } },
                    req.body_values)
    end)

    it("refuses form bodies with too many pairs", function()
        local req, err = prepare("prep", {
            headers = { ["content-type"] = "application/x-www-form-urlencoded" },
            body = string.rep("a=1&", 1001),
        })
        assert.is_nil(req)
        assert.same({ code = "body_malformed", status = 400,
                      message = "form: too many parameters (more than 1000)" }, err)
    end)

    it("refuses query strings with too many pairs", function()
        local req, err = prepare("prep", { query = string.rep("a=1&", 1001) })
        assert.is_nil(req)
        assert.same({ code = "body_malformed", status = 400,
                      message = "query string: form: too many parameters (more than 1000)" }, err)
    end)

    it("parses XML bodies into fields and the tree", function()
        for _, ct in ipairs({ "text/xml", "application/xml", "application/atom+xml", "TEXT/XML; charset=utf-8" }) do
            local req = assert(prepare("prep", {
                headers = { ["content-type"] = ct },
                body = "<xml><MsgType><![CDATA[text]]></MsgType><Content>hi &amp; bye</Content></xml>",
            }))
            assert.same({ MsgType = "text", Content = "hi & bye" }, req.body, ct)
            assert.equal("xml", req.xml_root)
            -- the tree is built when first read, from the body as it came
            assert.is_nil(rawget(req, "xml"))
            req.raw_body = "<changed/>"
            assert.equal("xml", req.xml.name)
            assert.equal(2, #req.xml.children)
            assert.equal(req.xml, rawget(req, "xml"))
        end
    end)

    it("refuses malformed and hostile XML", function()
        local req, err = prepare("prep", {
            headers = { ["content-type"] = "text/xml" },
            body = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        })
        assert.is_nil(req)
        assert.same({ code = "body_malformed", status = 400,
                      message = "xml: DOCTYPE declarations are not allowed at byte 1" }, err)
        req, err = prepare("prep", { headers = { ["content-type"] = "text/xml" }, body = "<a><b></a>" })
        assert.is_nil(req)
        assert.equal("body_malformed", err.code)
    end)

    it("refuses a NUL in the query string or a parsed body", function()
        local function refused(raw, message)
            local req, err = prepare("prep", raw)
            assert.is_nil(req)
            assert.same({ code = "body_malformed", status = 400,
                          message = message }, err)
        end
        refused({ query = "a=1&b=%00" },
                "query string: form: NUL (%00) at byte 7")
        refused({ headers = { ["content-type"] = "application/json" },
                  body = '{"q":"x\\u0000"}' },
                "json: \\u0000 (NUL) in string at byte 8")
        refused({ body = '{"q":"x\\u0000"}' },
                "json: \\u0000 (NUL) in string at byte 8")
        refused({ headers = { ["content-type"] = "application/x-www-form-urlencoded" },
                  body = "openid=o6%00x" },
                "form: NUL (%00) at byte 10")
        refused({ headers = { ["content-type"] = "text/xml" },
                  body = "<xml><Content>a\0b</Content></xml>" },
                "xml: NUL character (U+0000) in the document at byte 16")
        -- a body no parser reads is the plugin's: it may hold anything
        local req = assert(prepare("prep", { headers = { ["content-type"] = "application/octet-stream" },
                                             body = "a\0b" }))
        assert.equal("a\0b", req.raw_body)
    end)

    it("leaves other content types and missing types unparsed", function()
        for _, headers in ipairs({ { ["content-type"] = "text/plain" }, { ["content-type"] = "multipart/form-data; boundary=x" },
                                   { ["content-type"] = "" }, {} }) do
            local req = assert(prepare("prep", { headers = headers, body = "{not json" }))
            assert.is_nil(req.body)
            assert.equal("{not json", req.raw_body)
        end
    end)

    it("does not parse an empty body", function()
        local req = assert(prepare("prep", { body = "" }))
        assert.is_nil(req.body)
        req = assert(prepare("prep", { body = "", headers = { ["content-type"] = "text/xml" } }))
        assert.is_nil(req.body)
        assert.is_nil(req.xml)
    end)

    it("decodes claims_json into req.claims", function()
        local req = assert(prepare("prep", { claims_json = '{"sub":"alice","roles":["a"],"openid":"o6"}' }))
        assert.equal("alice", req.claims.sub)
        assert.equal("a", req.claims.roles[1])
    end)

    it("refuses claims that are not a JSON object", function()
        for _, bad in ipairs({ "[1]", "nope", '"x"', string.rep("[", 80) }) do
            local req, err = prepare("prep", { claims_json = bad })
            assert.is_nil(req)
            assert.equal("claim_invalid", err.code)
            assert.equal(401, err.status)
        end
    end)

    it("raises for caller mistakes", function()
        assert.has_error(function() host.prepare("prep", nil) end)
        assert.has_error(function() host.prepare("prep", { headers = "x" }) end)
        assert.has_error(function() host.prepare("prep", { query = 1 }) end)
        assert.has_error(function() host.prepare("prep", { body = {} }) end)
        assert.has_error(function() host.prepare("prep", { claims_json = {} }) end)
        assert.has_error(function() host.prepare("prep", { settings = "x" }) end)
        assert.has_error(function() host.prepare(nil, raw()) end)
    end)
end)

describe("omni.host.set_claims", function()
    it("adds the claims to a prepared request", function()
        load("claims")
        local req = assert(prepare("claims"))
        assert.is_true(host.set_claims(req, '{"sub":"bob"}'))
        assert.equal("bob", req.claims.sub)
    end)

    it("refuses payloads that are not objects", function()
        local req = {}
        local ok, err = host.set_claims(req, "[]")
        assert.is_nil(ok)
        assert.same({ code = "claim_invalid", status = 401,
                      message = "the token's claims cannot be read: not a JSON object" }, err)
        ok, err = host.set_claims(req, "{")
        assert.is_nil(ok)
        assert.equal("the token's claims cannot be read: json: unexpected end of input, object key expected at byte 2", err.message)
        assert.is_nil(req.claims)
    end)

    it("raises for caller mistakes", function()
        assert.has_error(function() host.set_claims(nil, "{}") end)
        assert.has_error(function() host.set_claims({}, nil) end)
    end)
end)

describe("omni.host.begin", function()
    setup(function()
        load("beginner", [[
            function _M.respond(req)
                if req.method == "OPTIONS" then
                    return 204, { Allow = req.settings.allow }, ""
                elseif req.method == "DELETE" then
                    return nil, omni.error("method_not_allowed", "no", 405)
                end
                return nil
            end
        ]])
    end)

    -- the request's parts as the gateway passes them
    local function begin(over)
        local r = raw(over)
        return host.begin("beginner", r.method, r.path, r.query, r.client_ip,
                          r.body, r.headers, { allow = "GET" }, r.location,
                          r.time)
    end

    it("prepares, then lets the plugin answer, with the settings", function()
        local req, s, h, b = begin({ method = "OPTIONS" })
        assert.is_table(req)
        assert.equal("GET", req.settings.allow)
        assert.equal(204, s)
        assert.same({ Allow = "GET" }, h)
        assert.equal("", b)
    end)

    it("goes on, or passes respond()'s refusal on", function()
        local req, s, err = begin({ method = "POST" })
        assert.is_table(req)
        assert.is_nil(s)
        assert.is_nil(err)
        req, s, err = begin({ method = "DELETE" })
        assert.is_table(req)
        assert.is_nil(s)
        assert.same({ code = "method_not_allowed", status = 405, message = "no" }, err)
    end)

    it("builds the request prepare() builds from the same parts", function()
        local cases = {
            {},
            { method = "GET", path = "/mp/orders", query = "a=1&b=2",
              location = "/mp/", time = 1795539999, body = "" },
            { headers = { ["content-type"] = "application/x-www-form-urlencoded" },
              body = "x=1&y=%20" },
            { headers = {}, body = "" },
        }
        for _, over in ipairs(cases) do
            local r = raw(over)
            r.settings = { allow = "GET" }
            local want = assert(host.prepare("beginner", r))
            local got = assert(begin(over))
            for _, k in ipairs({ "method", "path", "route", "mount", "time",
                                 "args", "query", "headers", "client_ip",
                                 "raw_body", "content_type", "channel",
                                 "settings", "body", "body_values" }) do
                assert.same(want[k], got[k], k)
            end
        end
    end)

    it("takes a missing query, body and time as empty and now", function()
        local before = os.time()
        local req = assert(host.begin("beginner", "GET", "/x", nil, nil, nil,
                                      {}, {}, nil, nil))
        assert.equal("", req.query)
        assert.equal("", req.raw_body)
        assert.same({}, req.args)
        assert.is_true(req.time >= before and req.time <= os.time())
    end)

    it("refuses a malformed query string", function()
        local req, err = begin({ query = "a=b%00c" })
        assert.is_nil(req)
        assert.equal("body_malformed", err.code)
    end)

    it("passes prepare()'s refusal on, without a request", function()
        local req, err = begin({ method = "POST", body = "{",
                                 headers = { ["content-type"] = "application/json" } })
        assert.is_nil(req)
        assert.equal("body_malformed", err.code)
    end)
end)

describe("omni.host.respond", function()
    it("goes on when the plugin has no respond()", function()
        load("norespond")
        local a, b = host.respond("norespond", assert(prepare("norespond")))
        assert.is_nil(a)
        assert.is_nil(b)
    end)

    it("answers directly, or goes on, or refuses", function()
        load("responder", [[
            function _M.respond(req)
                if req.method == "OPTIONS" then
                    return 204, { ["Access-Control-Allow-Origin"] = "*" }, ""
                elseif req.method == "DELETE" then
                    return nil, omni.error("method_not_allowed", "no", 405)
                end
                return nil
            end
        ]])
        local s, h, b = host.respond("responder", assert(prepare("responder", { method = "OPTIONS" })))
        assert.equal(204, s)
        assert.same({ ["Access-Control-Allow-Origin"] = "*" }, h)
        assert.equal("", b)
        local a, err = host.respond("responder", assert(prepare("responder", { method = "POST" })))
        assert.is_nil(a)
        assert.is_nil(err)
        a, err = host.respond("responder", assert(prepare("responder", { method = "DELETE" })))
        assert.is_nil(a)
        assert.same({ code = "method_not_allowed", status = 405, message = "no" }, err)
    end)

    it("validates a direct answer like render's", function()
        load("badresponder", [[
            function _M.respond(req)
                return 200, { ["Bad Name"] = "x" }, ""
            end
        ]])
        local a, err = host.respond("badresponder", assert(prepare("badresponder")))
        assert.is_nil(a)
        assert.same({ code = "plugin_error", status = 500,
                      message = "respond: invalid header name 'Bad Name'" }, err)
    end)
end)

describe("omni.host.authenticate", function()
    setup(function()
        load("auth", [[
            function _M.authenticate(req)
                local mode = req.args.mode
                if mode == "ok" then return true
                elseif mode == "string" then return nil, "bad signature"
                elseif mode == "error" then return nil, omni.error("signature_invalid", "signature mismatch", 401)
                elseif mode == "false" then return false, { message = "nope" }
                elseif mode == "yes" then return "yes"
                elseif mode == "badcode" then return nil, { code = "Bad Code", message = "m", status = 403 }
                elseif mode == "badstatus" then return nil, { code = "x_y", status = 200 }
                elseif mode == "fracstatus" then return nil, { status = 401.5 }
                elseif mode == "long" then return nil, string.rep("é", 1000)
                elseif mode == "binary" then return nil, "bad\255byte"
                elseif mode == "nul" then return nil, "a\0b"
                elseif mode == "empty" then return nil, ""
                elseif mode == "number" then return nil, 42
                elseif mode == "nothing" then return nil
                elseif mode == "raise" then error({ custom = true })
                end
            end
        ]])
    end)

    local function auth(mode)
        return host.authenticate("auth", assert(prepare("auth", { query = "mode=" .. mode })))
    end

    it("is true without an authenticate()", function()
        load("noauth")
        assert.is_true(host.authenticate("noauth", assert(prepare("noauth"))))
    end)

    it("passes", function()
        assert.is_true(auth("ok"))
    end)

    it("turns a string into plugin_rejected/400", function()
        local ok, err = auth("string")
        assert.is_nil(ok)
        assert.same({ code = "plugin_rejected", status = 400, message = "bad signature" }, err)
    end)

    it("keeps an omni.error", function()
        local _, err = auth("error")
        assert.same({ code = "signature_invalid", status = 401, message = "signature mismatch" }, err)
    end)

    it("treats false like nil", function()
        local _, err = auth("false")
        assert.same({ code = "plugin_rejected", status = 400, message = "nope" }, err)
    end)

    it("refuses truthy values other than true", function()
        local _, err = auth("yes")
        assert.same({ code = "plugin_error", status = 500,
                      message = "authenticate must return true, or nil and an error (got 'yes')" }, err)
    end)

    it("sanitizes the error's code, status and message", function()
        local _, err = auth("badcode")
        assert.same({ code = "plugin_rejected", status = 403, message = "m" }, err)
        _, err = auth("badstatus")
        assert.same({ code = "x_y", status = 400, message = "the request was rejected" }, err)
        _, err = auth("fracstatus")
        assert.same({ code = "plugin_rejected", status = 400, message = "the request was rejected" }, err)
        _, err = auth("long")
        assert.equal(1024, #err.message)
        _, err = auth("binary")
        assert.equal("bad\239\191\189byte", err.message)
        _, err = auth("nul")
        assert.equal("a\239\191\189b", err.message)
        _, err = auth("empty")
        assert.equal("the request was rejected", err.message)
        _, err = auth("number")
        assert.equal("the request was rejected", err.message)
        _, err = auth("nothing")
        assert.same({ code = "plugin_rejected", status = 400, message = "the request was rejected" }, err)
    end)

    it("lets a plugin's Lua errors through unchanged", function()
        local req = assert(prepare("auth", { query = "mode=raise" }))
        local ok, e = pcall(host.authenticate, "auth", req)
        assert.is_false(ok)
        assert.same({ custom = true }, e)
    end)
end)

describe("omni.host.normalize", function()
    setup(function()
        load("norm", [[
            function _M.normalize(req)
                local b = req.body or {}
                local kind = req.args.kind
                if kind == "refuse" then return nil, omni.error("order_missing", "which order?", 422) end
                if kind == "refuse_string" then return nil, "no" end
                if kind == "nothing" then return nil end
                if kind == "false" then return false end
                if kind == "string" then return "order.query" end
                if kind == "noaction" then return { params = {} } end
                if kind == "verb" then return { action = "Not A Verb" } end
                if kind == "function" then return { action = "a.b", params = { cb = function() end } } end
                if kind == "userdata" then return { action = "a.b", params = { u = omni.json.null, e = omni.json.empty_array, x = { io = b.nope } } } end
                if kind == "cycle" then local t = {} t.self = t return { action = "a.b", params = t } end
                if kind == "nan" then return { action = "a.b", params = { n = 0/0 } } end
                if kind == "array" then return { action = "a.b", params = { 1, 2 } } end
                if kind == "params_string" then return { action = "a.b", params = "x" } end
                if kind == "long" then return { action = "a.b", app_id = string.rep("x", 200) } end
                if kind == "badutf8" then return { action = "a.b", params = { q = req.args.q } } end
                if kind == "raise" then error("kaput") end
                if kind == "ids" then
                    local ids = {}
                    for i = 1, tonumber(req.args.n) do ids[i] = { type = "phone", value = tostring(i) } end
                    return { action = "a.b", identities = ids }
                end
                return {
                    action = "order.query",
                    params = { order_no = b.order_no, echo = b },
                    app_id = req.headers["x-app-id"],
                    client_version = "1.2.3",
                    locale = "zh-CN",
                    device_id = "dev-9",
                    tier = "gold",
                    identities = { { type = "wechat_openid", value = "o6_x" } },
                }
            end
        ]])
    end)

    local function norm(over, k)
        local req = assert(prepare("norm", over))
        return host.normalize("norm", req, known(k))
    end

    it("builds and encodes the contract", function()
        local s, c = norm({ body = '{"order_no":"42","list":[],"obj":{}}',
                            headers = { ["content-type"] = "application/json", ["x-app-id"] = "wx1",
                                        ["user-agent"] = "spec/1.0" } })
        assert.is_string(s)
        assert.equal(s, json.encode(c))
        local d = assert(json.decode(s))
        assert.equal("1.3", d.version)
        assert.equal("4f1c0c5e2a9b4d7c8e6f1a2b3c4d5e6f", d.request_id)
        assert.equal("2026-11-24T17:06:40.123Z", d.received_at)
        assert.same({ name = "test", app_id = "wx1", client_version = "1.2.3" }, d.channel)
        assert.equal("order.query", d.action)
        assert.equal("42", d.params.order_no)
        assert.matches('"list":%[%]', s)            -- [] stays []
        assert.matches('"obj":{}', s)               -- {} stays {}
        assert.equal("zh-CN", d.locale)
        assert.same({ ip = "203.0.113.7", user_agent = "spec/1.0", device_id = "dev-9" }, d.client)
        assert.equal("gold", d.customer.tier)
        assert.is_true(d.customer.anonymous)
        assert.equal(json.null, d.customer.id)
        assert.equal(json.null, d.principal)
        assert.equal(json.null, d.session)
        assert.equal(json.null, d.route)
        assert.same({ { type = "wechat_openid", value = "o6_x" } }, d.customer.identities)
    end)

    it("takes the principal and user agent from known", function()
        local s = norm(nil, { principal = { subject = "alice", roles = { "agent" }, issuer = "https://idp" },
                              user_agent = "from-known" })
        local d = json.decode(s)
        assert.same({ subject = "alice", roles = { "agent" }, issuer = "https://idp" }, d.principal)
        assert.is_false(d.customer.anonymous)
        assert.equal("from-known", d.client.user_agent)
    end)

    it("defaults the channel, the client address and the time", function()
        local req = assert(prepare("norm", { client_ip = "192.0.2.1" }))
        local before = os.time()
        local _, c = host.normalize("norm", req, { request_id = "r1" })
        assert.equal("norm", c.channel.name)
        assert.equal("192.0.2.1", c.client.ip)
        local y, mo, d, h, mi, sec = c.received_at:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
        local t = os.time({ year = y, month = mo, day = d, hour = h, min = mi, sec = sec })
        assert.truthy(math.abs(t - before) < 86400 + 2)
    end)

    it("passes a refusal on", function()
        local s, err = norm({ query = "kind=refuse" })
        assert.is_nil(s)
        assert.same({ code = "order_missing", status = 422, message = "which order?" }, err)
        s, err = norm({ query = "kind=refuse_string" })
        assert.same({ code = "plugin_rejected", status = 400, message = "no" }, err)
    end)

    local function invalid(kind, message, over)
        over = over or {}
        over.query = "kind=" .. kind .. (over.query or "")
        local s, err = norm(over)
        assert.is_nil(s)
        assert.same({ code = "plugin_contract_invalid", status = 500, message = message }, err)
    end

    it("reports every invalid result", function()
        invalid("nothing", "normalize returned nil without an error")
        invalid("false", "normalize returned false without an error")
        invalid("string", "normalize must return a table of fields (got string)")
        invalid("noaction", "action is missing")
        invalid("verb", "action must be dotted lowercase words like 'order.query' (got 'Not A Verb')")
        invalid("function", "params.cb is a function")
        invalid("cycle", "params.self is a cycle")
        invalid("nan", "params.n is NaN")
        invalid("array", "params must be a JSON object, not an array")
        invalid("params_string", "params must be a table (got string)")
        invalid("long", "app_id must be a string of at most 128 bytes (got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...', 200 bytes)")
        invalid("badutf8", "params.q is not valid UTF-8", { query = "&q=%FF" })
        invalid("ids", "identities has more than 16 entries", { query = "&n=17" })
    end)

    it("encodes json.null and empty_array in params", function()
        local s = norm({ query = "kind=userdata" })
        assert.matches('"params":{"e":%[%],"u":null,"x":{}}', s)
    end)

    it("lets a plugin's Lua errors through", function()
        local req = assert(prepare("norm", { query = "kind=raise" }))
        local ok, e = pcall(host.normalize, "norm", req, known())
        assert.is_false(ok)
        assert.matches("t/spec/plugins/norm%.lua:%d+: kaput", e)
    end)

    it("raises for caller mistakes", function()
        local req = assert(prepare("norm"))
        assert.has_error(function() host.normalize("norm", nil, known()) end)
        assert.has_error(function() host.normalize("norm", req, nil) end)
        assert.has_error(function() host.normalize("norm", req, known({ request_id = "bad id" })) end)
    end)

    describe("with identify()", function()
        setup(function()
            load("ident", [[
                function _M.normalize(req)
                    return { action = "a.b", identities = { { type = "phone", value = "1" } } }
                end
                function _M.identify(req, claims)
                    local kind = req.args.kind
                    if kind == "none" then return nil end
                    if kind == "null" then return omni.json.null end
                    if kind == "refuse" then return nil, omni.error("who_are_you", "unknown", 403) end
                    if kind == "bad" then return { { type = "Bad", value = "x" } } end
                    if kind == "notarray" then return "x" end
                    if kind == "many" then
                        local ids = {}
                        for i = 1, 16 do ids[i] = { type = "email", value = i .. "@x" } end
                        return ids
                    end
                    return { { type = "openid", value = claims and claims.openid or "none" },
                             { type = "phone", value = "1" } }
                end
            ]])
        end)

        local function ident(kind, claims)
            local req = assert(prepare("ident", { query = "kind=" .. kind, claims_json = claims }))
            return host.normalize("ident", req, known())
        end

        it("merges identities, without duplicates, with the claims", function()
            local _, c = ident("ok", '{"openid":"o6"}')
            assert.same({ { type = "phone", value = "1" }, { type = "openid", value = "o6" } },
                        c.customer.identities)
        end)

        it("accepts nothing", function()
            local _, c = ident("none")
            assert.equal(1, #c.customer.identities)
            _, c = ident("null")
            assert.equal(1, #c.customer.identities)
        end)

        it("passes a refusal on", function()
            local s, err = ident("refuse")
            assert.is_nil(s)
            assert.same({ code = "who_are_you", status = 403, message = "unknown" }, err)
        end)

        it("reports invalid identities", function()
            local s, err = ident("bad")
            assert.is_nil(s)
            assert.equal("identify()[1].type must match ^[a-z][a-z0-9_]{0,31}$ (got 'Bad')", err.message)
            s, err = ident("notarray")
            assert.equal("identify() must be an array of {type=, value=}", err.message)
        end)

        it("reports too many identities after merging", function()
            local s, err = ident("many")
            assert.is_nil(s)
            assert.same({ code = "plugin_contract_invalid", status = 500,
                          message = "too many identities (more than 16)" }, err)
        end)
    end)
end)

describe("omni.host.normalize with known.defer and omni.host.complete", function()
    local contract = require "omni.contract"

    setup(function()
        load("deferred", [[
            function _M.normalize(req)
                if req.args.kind == "verb" then return { action = "Not A Verb" } end
                if req.args.kind == "function" then return { action = "a.b", params = { cb = function() end } } end
                return { action = "order.query", params = { order_no = "42" },
                         identities = { { type = "phone", value = "+8613800138000" } } }
            end
            function _M.identify(req, claims)
                return { { type = "wechat_openid", value = "o6_x" },
                         { type = "phone", value = "+8613800138000" } }
            end
        ]])
    end)

    local function deferred(k, over)
        local req = assert(prepare("deferred", over))
        k = k or {}
        k.defer = true
        local ids, c = host.normalize("deferred", req, known(k))
        return req, ids, c
    end

    local function session(over)
        local s = {
            id = "ses_7Qm2Xk9Rt4Vb",
            new = false,
            created_at = 1795542760118,
            last_seen_at = 1795543443000,
            channels = { "wechat_oa", "test" },
            context = "",
        }
        for k, v in pairs(over or {}) do
            s[k] = v
        end
        return s
    end

    -- complete's text decodes to a contract that validates, equal to the table
    local function completed(req, gw)
        local s, c = host.complete(req, gw)
        assert(s, c and c.message)
        assert.is_string(s)
        assert.equal(s, json.encode(c))
        local d = assert(json.decode(s))
        assert.is_true(contract.validate(d))
        assert.equal("1.3", d.version)
        return d, c
    end

    local function invalid_gw(gw, message)
        local req = deferred()
        local s, err = host.complete(req, gw)
        assert.is_nil(s)
        assert.same({ code = "plugin_contract_invalid", status = 500, message = message }, err)
    end

    it("returns the identities, identify()'s merged in, and keeps the fields", function()
        local req, ids = deferred()
        assert.same({ { type = "phone", value = "+8613800138000" },
                      { type = "wechat_openid", value = "o6_x" } }, ids)
        assert.is_true(json.is_array(ids))
        local kept = 0
        for k in pairs(req) do
            if type(k) ~= "string" then
                kept = kept + 1
            end
        end
        assert.equal(1, kept, "kept under a key no plugin can name")
        local d = completed(req, {})
        assert.equal("order.query", d.action)
        assert.equal(json.null, d.customer.id)
        assert.equal(json.null, d.session)
        assert.same(ids, d.customer.identities)
        assert.equal("42", d.params.order_no)
    end)

    it("returns an empty array when there are no identities", function()
        load("deferred_none", [[
            function _M.normalize(req) return { action = "a.b" } end
        ]])
        local req = assert(prepare("deferred_none"))
        local ids = host.normalize("deferred_none", req, known({ defer = true }))
        assert.equal(0, #ids)
        assert.equal("[]", json.encode(ids))
    end)

    it("validates like normalize does", function()
        local req = assert(prepare("deferred", { query = "kind=verb" }))
        local ids, err = host.normalize("deferred", req, known({ defer = true }))
        assert.is_nil(ids)
        assert.same({ code = "plugin_contract_invalid", status = 500,
                      message = "action must be dotted lowercase words like 'order.query' (got 'Not A Verb')" }, err)
        local s, cerr = host.complete(req, {})
        assert.is_nil(s)
        assert.equal("plugin_error", cerr.code)
    end)

    it("leaves what only encoding finds to complete", function()
        local req, ids = deferred(nil, { query = "kind=function" })
        assert.is_table(ids)
        local s, err = host.complete(req, { customer_id = "cus_1" })
        assert.is_nil(s)
        assert.same({ code = "plugin_contract_invalid", status = 500, message = "params.cb is a function" }, err)
    end)

    it("encodes as before when defer is not true", function()
        for _, defer in ipairs({ false, "yes", 1 }) do
            local req = assert(prepare("deferred"))
            local s, c = host.normalize("deferred", req, known({ defer = defer }))
            assert.is_string(s)
            assert.equal(s, json.encode(c))
            local t, err = host.complete(req, {})
            assert.is_nil(t)
            assert.equal("plugin_error", err.code)
        end
    end)

    it("completes without a customer or a session", function()
        local req = deferred()
        local d = completed(req, {})
        assert.equal(json.null, d.customer.id)
        assert.is_true(d.customer.anonymous)
        assert.equal(json.null, d.session)
        assert.equal(2, #d.customer.identities)
    end)

    it("sets the customer id and recomputes anonymous", function()
        local req = deferred()
        local d = completed(req, { customer_id = "cus_01J9ZK4Q7W3M" })
        assert.equal("cus_01J9ZK4Q7W3M", d.customer.id)
        assert.is_false(d.customer.anonymous)
        assert.equal(json.null, d.principal)
        assert.equal(json.null, d.session)
    end)

    it("keeps anonymous false with a principal and no customer id", function()
        local req = deferred({ principal = { subject = "u1", roles = { "customer" } } })
        local d = completed(req, {})
        assert.equal(json.null, d.customer.id)
        assert.is_false(d.customer.anonymous)
    end)

    it("completes with a session, context \"\" as {}", function()
        local req = deferred()
        local d, c = completed(req, { customer_id = "cus_1", session = session() })
        assert.same({
            id = "ses_7Qm2Xk9Rt4Vb",
            new = false,
            created_at = "2026-11-24T17:52:40.118Z",
            last_seen_at = "2026-11-24T18:04:03.000Z",
            channels = { "wechat_oa", "test" },
            context = {},
        }, d.session)
        assert.matches('"context":{}', json.encode(c))
        assert.is_false(d.customer.anonymous)
    end)

    it("completes a new session", function()
        local req = deferred()
        local d = completed(req, { customer_id = "cus_1", session = session({
            new = true, created_at = 1795540000123, last_seen_at = 1795540000123,
            channels = { "test" }, context = "{}" }) })
        assert.is_true(d.session.new)
        assert.equal(d.session.created_at, d.session.last_seen_at)
        assert.same({ "test" }, d.session.channels)
        assert.same({}, d.session.context)
    end)

    it("completes with a nested context", function()
        local req = deferred()
        -- keys in the order the encoder sorts them
        local text = '{"cart":{"coupon":null,"items":[{"quantity":2,"sku":"SKU-88213"}]},"seen":{},"tags":[]}'
        local _, c = completed(req, { customer_id = "cus_1", session = session({ context = text }) })
        assert.equal(text, json.encode(c.session.context))
        assert.equal(json.null, c.session.context.cart.coupon)
        assert.equal(2, c.session.context.cart.items[1].quantity)
    end)

    it("turns a stored context that is not an object into {}", function()
        for _, bad in ipairs({ "[1,2]", "42", "not json", '{"a":' }) do
            local req = deferred()
            local d = completed(req, { customer_id = "cus_1", session = session({ context = bad }) })
            assert.same({}, d.session.context, bad)
        end
    end)

    it("drops the kept contract", function()
        local req = deferred()
        completed(req, {})
        local s, err = host.complete(req, {})
        assert.is_nil(s)
        assert.same({ code = "plugin_error", status = 500,
                      message = "complete: no contract is kept for this request"
                                .. " (normalize did not run with known.defer)" }, err)
        -- also after a failure
        req = deferred()
        assert.is_nil((host.complete(req, { customer_id = "bad id" })))
        s, err = host.complete(req, { customer_id = "cus_1" })
        assert.is_nil(s)
        assert.equal("plugin_error", err.code)
    end)

    it("refuses to complete without normalize", function()
        local req = assert(prepare("deferred"))
        local s, err = host.complete(req, { customer_id = "cus_1" })
        assert.is_nil(s)
        assert.same({ code = "plugin_error", status = 500,
                      message = "complete: no contract is kept for this request"
                                .. " (normalize did not run with known.defer)" }, err)
    end)

    it("refuses invalid values from the gateway", function()
        invalid_gw({ customer_id = "cus 1" },
                   "customer.id must be null or match ^[A-Za-z0-9_-]{1,64}$ (got 'cus 1')")
        invalid_gw({ customer_id = "" },
                   "customer.id must be null or match ^[A-Za-z0-9_-]{1,64}$ (got '')")
        invalid_gw({ customer_id = "cus_1", session = session({ id = "ses/1" }) },
                   "session.id must match ^[A-Za-z0-9_-]{1,64}$ (got 'ses/1')")
        invalid_gw({ customer_id = "cus_1", session = session({ channels = { "test", "Web" } }) },
                   "session.channels[2] must match ^[a-z][a-z0-9_]{0,31}$ (got 'Web')")
        invalid_gw({ customer_id = "cus_1", session = session({ channels = { "test", "web", "test" } }) },
                   "session.channels[3] repeats 'test'")
        invalid_gw({ customer_id = "cus_1", session = session({ channels = {} }) },
                   "session.channels must not be empty")
        local many = {}
        for i = 1, 40 do
            many[i] = "c" .. i
        end
        invalid_gw({ customer_id = "cus_1", session = session({ channels = many }) },
                   "session.channels has more than 16 entries")
        invalid_gw({ customer_id = "cus_1",
                     session = session({ context = '{"k":"' .. string.rep("x", 4089) .. '"}' }) },
                   "session.context must be at most 4096 bytes as compact JSON (got 4097)")
        invalid_gw({ session = session() }, "session must be null when customer.id is null")
    end)

    it("accepts a context of exactly 4096 bytes", function()
        local req = deferred()
        local text = '{"k":"' .. string.rep("x", 4088) .. '"}'
        assert.equal(4096, #text)
        local _, c = completed(req, { customer_id = "cus_1", session = session({ context = text }) })
        assert.equal(text, json.encode(c.session.context))
    end)

    it("raises for caller mistakes", function()
        local req = deferred()
        local function raises(gw, message)
            local ok, e = pcall(host.complete, req, gw)
            assert.is_false(ok)
            assert.matches(message, e, 1, true)
        end
        raises(nil, "bad argument #2 to 'complete' (table expected, got nil)")
        raises({ customer_id = 7 }, "bad argument #2 to 'complete' (gw.customer_id must be a string or nil)")
        raises({ session = "ses_1" }, "bad argument #2 to 'complete' (gw.session must be a table or nil)")
        raises({ session = session({ id = 1 }) }, "(gw.session.id must be a string)")
        raises({ session = session({ new = "no" }) }, "(gw.session.new must be a boolean)")
        raises({ session = session({ created_at = "2026" }) },
               "(gw.session.created_at must be milliseconds since the epoch)")
        raises({ session = session({ last_seen_at = -1 }) },
               "(gw.session.last_seen_at must be milliseconds since the epoch)")
        raises({ session = session({ channels = "test" }) }, "(gw.session.channels must be a table)")
        raises({ session = session({ context = {} }) }, "(gw.session.context must be a string)")
        local ok, e = pcall(host.complete, nil, {})
        assert.is_false(ok)
        assert.matches("bad argument #1 to 'complete' (table expected, got nil)", e, 1, true)
        -- the errors name the caller's line, not the host's
        ok, e = pcall(function() host.complete(req, { session = session({ id = 1 }) }) end)
        assert.matches("host_spec%.lua:%d+: bad argument", e)
        -- a caller mistake keeps the contract for a corrected call
        completed(req, {})
    end)
end)

describe("omni.host.render", function()
    setup(function()
        load("rend", [[
            function _M.render(reply, ctx)
                local mode = ctx.request and ctx.request.args.mode
                local body = json.encode({ reply = reply, status = ctx.status, gateway = ctx.gateway,
                                           channel = ctx.channel, request_id = ctx.request_id })
                if mode == "status_string" then return "200", {}, body end
                if mode == "status_low" then return 99, {}, body end
                if mode == "status_high" then return 600, {}, body end
                if mode == "status_frac" then return 200.5, {}, body end
                if mode == "headers_string" then return 200, "x", body end
                if mode == "header_space" then return 200, { ["X Bad"] = "1" }, body end
                if mode == "header_colon" then return 200, { ["X:Bad"] = "1" }, body end
                if mode == "header_empty" then return 200, { [""] = "1" }, body end
                if mode == "header_number_key" then return 200, { [1] = "1" }, body end
                if mode == "header_crlf" then return 200, { ["X-A"] = "a\r\nSet-Cookie: x=1" }, body end
                if mode == "header_lf" then return 200, { ["X-A"] = "a\nb" }, body end
                if mode == "header_nul" then return 200, { ["X-A"] = "a\0b" }, body end
                if mode == "header_del" then return 200, { ["X-A"] = "a\127" }, body end
                if mode == "header_number" then return 200, { ["X-A"] = 5 }, body end
                if mode == "header_long" then return 200, { ["X-A"] = string.rep("x", 8193) }, body end
                if mode == "header_many" then
                    local h = {}
                    for i = 1, 65 do h["X-" .. i] = "1" end
                    return 200, h, body
                end
                if mode == "header_64" then
                    local h = {}
                    for i = 1, 64 do h["X-" .. i .. "-" .. math.random(1e9)] = "1" end
                    return 200, h, body
                end
                if mode == "content_length" then return 200, { ["Content-Length"] = "5" }, body end
                if mode == "transfer_encoding" then return 200, { ["transfer-encoding"] = "chunked" }, body end
                if mode == "connection" then return 200, { Connection = "close" }, body end
                if mode == "dup" then return 200, { ["X-A"] = "1", ["x-a"] = "2" }, body end
                if mode == "tab" then return 200, { ["X-A"] = "a\tb" }, body end
                if mode == "body_nil" then return 200, {} end
                if mode == "body_number" then return 200, {}, 5 end
                if mode == "nil" then return nil, "no" end
                if mode == "no_headers" then return 200, nil, body end
                if mode == "raise" then error("render broke") end
                return ctx.status, { ["Content-Type"] = "application/json", ["X-Tab"] = "a\tb" }, body
            end
        ]])
    end)

    local function ctx(mode, over)
        local c = { status = 200, gateway = false, channel = "rend", request_id = "rid",
                    request = assert(prepare("rend", { query = "mode=" .. (mode or "") })) }
        for k, v in pairs(over or {}) do
            c[k] = v
        end
        return c
    end

    local function render(reply, mode, over)
        return host.render("rend", reply, ctx(mode, over))
    end

    it("renders a valid reply", function()
        local s, h, b, why = render('{"ok":true,"data":{"list":[],"n":1}}', nil, { status = 201 })
        assert.equal(201, s)
        assert.same({ ["Content-Type"] = "application/json", ["X-Tab"] = "a\tb" }, h)
        assert.is_nil(why)
        local d = json.decode(b)
        assert.is_true(d.reply.ok)
        assert.equal(1, d.reply.data.n)
        assert.matches('"list":%[%]', b)
        assert.is_false(d.gateway)
        assert.equal("rend", d.channel)
        assert.equal("rid", d.request_id)
    end)

    it("renders an error reply with the upstream status", function()
        local s, _, b = render('{"ok":false,"error":{"code":"order_not_found","message":"no such order"}}',
                               nil, { status = 404 })
        assert.equal(404, s)
        local d = json.decode(b)
        assert.same({ code = "order_not_found", message = "no such order" }, d.reply.error)
    end)

    it("accepts an already decoded reply", function()
        local s, _, b = render({ ok = true, data = 1 })
        assert.equal(200, s)
        assert.equal(1, json.decode(b).reply.data)
    end)

    local function replaced(body, reason)
        local s, _, b, why = render(body)
        assert.equal(502, s)
        local d = json.decode(b)
        assert.same({ code = "upstream_reply_invalid", message = "the service sent an invalid reply" }, d.reply.error)
        assert.is_false(d.reply.ok)
        assert.is_true(d.gateway)
        assert.equal(502, d.status)
        assert.equal(reason, why)
    end

    it("replaces an invalid upstream reply with upstream_reply_invalid/502", function()
        replaced("this is not json", "json: unexpected character 't' at byte 1")
        replaced("", "json: empty document at byte 1")
        replaced('{"ok":"yes"}', "reply.ok must be true or false")
        replaced('{"ok":true}', "reply.data is required when ok is true")
        replaced('{"ok":false,"error":{"code":"Bad","message":"x"}}',
                 "reply.error.code must match ^[a-z][a-z0-9_]{0,63}$")
        replaced("[1]", "the reply must be a JSON object")
        replaced(string.rep("[", 100), "json: too deeply nested (more than 64 levels) at byte 65")
        replaced(nil, "the reply is a nil")
    end)

    it("does not change the caller's ctx", function()
        local c = ctx()
        host.render("rend", "junk", c)
        assert.equal(200, c.status)
        assert.is_false(c.gateway)
    end)

    local function bad(mode, message)
        local s, err = render('{"ok":true,"data":null}', mode)
        assert.is_nil(s)
        assert.same({ code = "plugin_error", status = 500, message = message }, err)
    end

    it("refuses invalid statuses", function()
        bad("status_string", "render: status must be an integer from 100 to 599 (got '200')")
        bad("status_low", "render: status must be an integer from 100 to 599 (got 99)")
        bad("status_high", "render: status must be an integer from 100 to 599 (got 600)")
        bad("status_frac", "render: status must be an integer from 100 to 599 (got 200.5)")
        bad("nil", "render: status must be an integer from 100 to 599 (got nil)")
    end)

    it("refuses invalid headers", function()
        bad("headers_string", "render: headers must be a table (got string)")
        bad("header_space", "render: invalid header name 'X Bad'")
        bad("header_colon", "render: invalid header name 'X:Bad'")
        bad("header_empty", "render: invalid header name ''")
        bad("header_number_key", "render: invalid header name 1")
        bad("header_crlf", "render: the value of header 'X-A' contains a control character or is too long")
        bad("header_lf", "render: the value of header 'X-A' contains a control character or is too long")
        bad("header_nul", "render: the value of header 'X-A' contains a control character or is too long")
        bad("header_del", "render: the value of header 'X-A' contains a control character or is too long")
        bad("header_long", "render: the value of header 'X-A' contains a control character or is too long")
        bad("header_number", "render: the value of header 'X-A' must be a string (got number)")
        bad("header_many", "render: more than " .. host.MAX_HEADERS
                           .. " headers")
        assert.equal(64, host.MAX_HEADERS)     -- what omni_lua.c copies
        bad("content_length", "render: header 'Content-Length' is set by the gateway")
        bad("transfer_encoding", "render: header 'transfer-encoding' is set by the gateway")
        bad("connection", "render: header 'Connection' is set by the gateway")
    end)

    it("refuses a header set twice in different cases", function()
        local s, err = render('{"ok":true,"data":null}', "dup")
        assert.is_nil(s)
        assert.matches("^render: header '[Xx]%-[Aa]' is set twice$", err.message)
    end)

    it("tells one answer's headers from another's", function()
        -- the same name in the next answer, after a refusal and after
        -- more distinct names than the checker keeps
        for _ = 1, 3 do
            assert.equal(200, (render('{"ok":true,"data":null}', "tab")))
            assert.is_nil((render('{"ok":true,"data":null}', "dup")))
        end
        for _ = 1, 6 do
            assert.equal(200, (render('{"ok":true,"data":null}', "header_64")))
        end
        assert.is_nil((render('{"ok":true,"data":null}', "dup")))
        assert.equal(200, (render('{"ok":true,"data":null}', "tab")))
    end)

    it("renders into a copy of ctx", function()
        local c = ctx()
        assert.equal(502, (host.render("rend", "not json", c)))
        assert.equal(200, c.status)
        assert.is_false(c.gateway)
    end)

    it("renders the gateway's reply with the ctx made from its parts", function()
        local c = ctx(nil)
        local s, h, b, why = host.render_reply("rend", '{"ok":true,"data":7}', 201,
                                               "rid", c.request)
        assert.equal(201, s)
        assert.same({ ["Content-Type"] = "application/json", ["X-Tab"] = "a\tb" }, h)
        assert.is_nil(why)
        assert.same({ reply = { ok = true, data = 7 }, status = 201, gateway = false,
                      channel = "rend", request_id = "rid" }, json.decode(b))
        local s2, _, b2 = host.render_reply("rend", '{"ok":true,"data":7}', 200)
        assert.equal(200, s2)
        assert.is_nil(json.decode(b2).request_id)
        s, _, b, why = host.render_reply("rend", "not json", 200, "rid", c.request)
        assert.equal(502, s)
        assert.is_true(json.decode(b).gateway)
        assert.is_string(why)
        s, h = host.render_reply("rend", '{"ok":true,"data":7}', 200, "rid",
                                 assert(prepare("rend", { query = "mode=dup" })))
        assert.is_nil(s)
        assert.equal("plugin_error", h.code)
        s, h = host.render_reply("nope", "{}", 200)
        assert.is_nil(s)
        assert.is_table(h)
    end)

    it("refuses a body that is not a string", function()
        bad("body_nil", "render: body must be a string (got nil)")
        bad("body_number", "render: body must be a string (got number)")
    end)

    it("accepts nil headers as none", function()
        local s, h = render('{"ok":true,"data":null}', "no_headers")
        assert.equal(200, s)
        assert.same({}, h)
    end)

    it("lets a plugin's Lua errors through", function()
        local ok, e = pcall(host.render, "rend", '{"ok":true,"data":1}', ctx("raise"))
        assert.is_false(ok)
        assert.matches("render broke", e)
    end)

    it("raises for a ctx that is not a table", function()
        assert.has_error(function() host.render("rend", "{}", "ctx") end)
    end)

    it("reports an unknown plugin", function()
        local s, err = host.render("nope", "{}", {})
        assert.is_nil(s)
        assert.equal("plugin_error", err.code)
    end)
end)

describe("omni.host.render_error", function()
    setup(function()
        load("rerr", [[
            function _M.render(reply, ctx)
                return ctx.status, { ["Content-Type"] = "application/json" },
                       json.encode({ reply = reply, gateway = ctx.gateway, status = ctx.status,
                                     has_request = ctx.request ~= nil })
            end
        ]])
    end)

    it("renders a gateway error natively", function()
        local s, h, b = host.render_error("rerr", "token_expired", "the token has expired", 401,
                                          { status = 200, gateway = false, request_id = "r" })
        assert.equal(401, s)
        assert.same({ ["Content-Type"] = "application/json" }, h)
        local d = json.decode(b)
        assert.same({ ok = false, error = { code = "token_expired", message = "the token has expired" } }, d.reply)
        assert.is_true(d.gateway)
        assert.equal(401, d.status)
        assert.is_false(d.has_request)
    end)

    it("works without a ctx and without a message", function()
        local s, _, b = host.render_error("rerr", "body_too_large", nil, 413)
        assert.equal(413, s)
        assert.equal("body_too_large", json.decode(b).reply.error.message)
    end)

    it("validates the plugin's answer", function()
        load("rerr_bad", [[function _M.render() return 200, { ["X"] = "a\nb" }, "" end]])
        local s, err = host.render_error("rerr_bad", "plugin_error", "x", 500)
        assert.is_nil(s)
        assert.equal("plugin_error", err.code)
    end)

    it("raises for caller mistakes", function()
        assert.has_error(function() host.render_error("rerr", "Bad Code", "m", 400) end)
        assert.has_error(function() host.render_error("rerr", "x", 1, 400) end)
        assert.has_error(function() host.render_error("rerr", "x", "m", 99) end)
        assert.has_error(function() host.render_error("rerr", "x", "m", "400") end)
        assert.has_error(function() host.render_error("rerr", "x", "m", 400, "ctx") end)
    end)
end)
