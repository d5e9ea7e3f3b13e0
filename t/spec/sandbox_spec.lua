-- omni.sandbox: what plugins can and cannot reach.

local helpers = require "t.spec.helpers"
local sandbox = require "omni.sandbox"
local host = require "omni.host"
local json = require "omni.json"
local runner = require "omni.runner"

-- runs `code` in a fresh plugin environment
local function run(code, env)
    env = env or sandbox.new()
    local chunk = assert(loadstring(code, "=plugin"))
    setfenv(chunk, env)
    return chunk()
end

local function refuses(code, pattern)
    local ok, err = pcall(run, code)
    assert.is_false(ok, code)
    assert.matches(pattern, tostring(err), 1, true)
end

describe("the plugin environment", function()
    it("offers the allowed globals", function()
        local env = sandbox.new()
        for _, name in ipairs({ "assert", "error", "ipairs", "next", "pairs", "pcall",
                                "rawequal", "rawget", "select", "tonumber", "tostring",
                                "type", "unpack", "xpcall", "string", "table", "math",
                                "os", "bit", "coroutine", "require" }) do
            assert.is_not_nil(env[name], name)
        end
    end)

    it("runs ordinary code", function()
        assert.equal("HELLO 3 2 5", run([[
            local t = {}
            table.insert(t, "hello")
            local s = string.upper(t[1]) .. " " .. math.floor(3.7) .. " " .. #("ab")
            return s .. " " .. bit.bor(4, 1)
        ]]))
        assert.equal("ABC", run([[return ("abc"):upper()]]))
        assert.is_number(run([[return os.time()]]))
        assert.is_string(run([[return os.date("!%Y-%m-%d", 0)]]))
    end)

    for _, name in ipairs({ "io", "debug", "ffi", "jit", "load", "loadstring", "loadfile",
                            "dofile", "getfenv", "setfenv", "rawset", "rawlen",
                            "collectgarbage", "module", "package", "newproxy", "print",
                            "getmetatable", "setmetatable", "gcinfo", "_G", "arg" }) do
        it("has no global '" .. name .. "'", function()
            refuses("return " .. name, "global '" .. name .. "' is not defined")
        end)
    end

    it("offers only os.time and os.date", function()
        local os_ = run("return os")
        local keys = {}
        for k in pairs(os_) do
            keys[#keys + 1] = k
        end
        table.sort(keys)
        assert.same({ "date", "time" }, keys)
        refuses([[return os.execute("id")]], "attempt to call field 'execute' (a nil value)")
        refuses([[return os.getenv("HOME")]], "attempt to call field 'getenv' (a nil value)")
        refuses([[return os.exit(1)]], "attempt to call field 'exit' (a nil value)")
        refuses([[return os.remove("/tmp/x")]], "attempt to call field 'remove' (a nil value)")
    end)

    it("has no string.dump and no math.randomseed", function()
        assert.is_nil(run("return string.dump"))
        assert.is_nil(run("return math.randomseed"))
        refuses("return string.dump(function() end)", "attempt to call field 'dump'")
    end)

    it("raises on reads of undefined globals", function()
        refuses("return undefined_thing", "global 'undefined_thing' is not defined")
        refuses("if omni then end", "global 'omni' is not defined")
    end)

    it("raises on every global write", function()
        refuses("leaked = true", "assignment to global 'leaked' is not allowed in plugins")
        refuses("string = nil", "assignment to global 'string' is not allowed in plugins")
        refuses("require = function() end", "assignment to global 'require' is not allowed in plugins")
        refuses("function helper() end", "assignment to global 'helper' is not allowed in plugins")
        refuses("pcall = nil", "assignment to global 'pcall' is not allowed in plugins")
        local env = sandbox.new()
        assert.is_nil(rawget(env, "string"))        -- an empty proxy
    end)

    it("cannot bypass the guard on the environment", function()
        -- no rawset, no setmetatable, no getfenv: nothing reaches the env table
        refuses("rawset(_ENV or {}, 'x', 1)", "global")
        local env = sandbox.new()
        assert.equal(false, getmetatable(env))      -- protected metatable
    end)

    describe("require", function()
        it("gives the support library", function()
            local omni, j, f, x, c, cr, b, u = run([[
                return require("omni"), require("omni.json"), require("omni.form"),
                       require("omni.xml"), require("omni.contract"), require("omni.crypto"),
                       require("omni.base64"), require("omni.utf8")
            ]])
            assert.equal(j, omni.json)
            assert.equal(f, omni.form)
            assert.equal(x, omni.xml)
            assert.equal(c, omni.contract)
            assert.equal(cr, omni.crypto)
            assert.equal(b, omni.base64)
            assert.equal(u, omni.utf8)
            assert.is_function(omni.error)
            assert.equal(json.null, omni.null)
            assert.equal(json.null, j.null)          -- sentinels are shared
            assert.equal(json.empty_array, j.empty_array)
        end)

        it("returns the same copy on each call", function()
            assert.is_true(run([[return require("omni") == require("omni")]]))
        end)

        for _, name in ipairs({ "io", "os", "debug", "ffi", "jit", "string", "package",
                                "omni.host", "omni.sandbox", "omni.runner", "omni_crypto",
                                "lfs", "socket", "omni.json.x", "" }) do
            it("refuses require('" .. name .. "')", function()
                refuses("return require('" .. name .. "')",
                        "module '" .. name .. "' is not allowed in plugins")
            end)
        end

        it("refuses require of a non-string", function()
            refuses("return require(nil)", "module 'nil' is not allowed in plugins")
            refuses("return require({})", "is not allowed in plugins")
        end)
    end)

    describe("isolation", function()
        it("keeps each plugin's changes to its own libraries", function()
            local a, b = sandbox.new(), sandbox.new()
            run([[
                string.upper = nil
                string.format = function() return "evil" end
                table.insert = nil
                table.concat = nil
                math.floor = function() return 42 end
                bit.band = nil
                coroutine.create = nil
                local omni = require "omni"
                omni.json.encode = function() return "evil" end
                omni.json.decode = nil
                omni.error = nil
                omni.contract.LIMITS.identities = 1000
                omni.contract.validate_fields = function() return true end
                require("omni.form").decode = nil
            ]], a)
            assert.is_nil(run("return string.upper", a))
            -- the other plugin and the host see the originals
            assert.equal("X 1 [1]", run([[
                local omni = require "omni"
                local t = {}
                table.insert(t, 1)
                return string.upper("x") .. " " .. math.floor(1.5) .. " " .. omni.json.encode(t)
            ]], b))
            assert.is_function(run([[return require("omni.form").decode]], b))
            assert.equal(16, run([[return require("omni.contract").LIMITS.identities]], b))
            assert.equal("[1]", json.encode({ 1 }))
            assert.equal("X", string.upper("x"))
            assert.equal(1, math.floor(1.5))
            -- the shared string metatable still points to the real library
            assert.equal("Y", run([[return ("y"):upper()]], a))
        end)

        it("keeps a plugin's changes away from the host's checks", function()
            local evil = [[
                local omni = require "omni"
                omni.contract.validate_fields = function() return true end
                omni.json.encode = function() return "{}" end
                string.find = function() return nil end
                function _M.normalize() return { action = "Not A Verb" } end
            ]]
            assert(helpers.load(host, "evil", evil))
            local req = assert(host.prepare("evil", helpers.raw()))
            local s, err = host.normalize("evil", req, helpers.known())
            assert.is_nil(s)
            assert.equal("plugin_contract_invalid", err.code)
        end)

        it("keeps plugins loaded by the host apart", function()
            assert(helpers.load(host, "one", [[
                string.rep = nil
                local omni = require "omni"
                omni.json.encode = nil
                function _M.normalize() return { action = "one.x", params = { v = tostring(string.rep) } } end
            ]]))
            assert(helpers.load(host, "two", [[
                function _M.normalize()
                    return { action = "two.x", params = { v = string.rep("a", 3), j = json.encode({}) } }
                end
            ]]))
            local _, c1 = host.normalize("one", assert(host.prepare("one", helpers.raw())), helpers.known())
            local _, c2 = host.normalize("two", assert(host.prepare("two", helpers.raw())), helpers.known())
            assert.equal("nil", c1.params.v)
            assert.same({ v = "aaa", j = "{}" }, c2.params)
        end)
    end)

    describe("fatal errors cannot be swallowed", function()
        local marker = newproxy()

        local function env_with(fn)
            local env = sandbox.new()
            local wrapper = setmetatable({ boom = fn }, { __index = env })
            return wrapper
        end

        it("pcall still catches ordinary errors", function()
            local ok, e, x = run([[return pcall(function(a) error("plain " .. a, 0) end, "x")]])
            assert.is_false(ok)
            assert.equal("plain x", e)
            assert.is_nil(x)
            assert.same({ true, 1, 2 }, { run([[return pcall(function() return 1, 2 end)]]) })
        end)

        it("xpcall still calls the handler for ordinary errors", function()
            local ok, e = run([[return xpcall(function() error("x", 0) end, function(m) return "handled " .. m end)]])
            assert.is_false(ok)
            assert.equal("handled x", e)
            assert.same({ true, 3 }, { run([[return xpcall(function(a, b) return a + b end, function() end, 1, 2)]]) })
            refuses([[return xpcall(function() end, nil)]], "bad argument #2 to 'xpcall'")
        end)

        for _, fatal in ipairs({ "userdata", "not enough memory", "plugin_timeout" }) do
            local value = fatal == "userdata" and marker
                          or fatal == "plugin_timeout" and "loop.lua:3: plugin_timeout: the time budget of 50 ms is spent"
                          or fatal

            it("pcall raises a " .. fatal .. " error again", function()
                local env = env_with(function() error(value, 0) end)
                local ok, e = pcall(run, [[
                    local caught = pcall(boom)
                    return "swallowed"
                ]], env)
                assert.is_false(ok)
                assert.equal(value, e)
            end)

            it("xpcall raises a " .. fatal .. " error again, without the handler", function()
                local env = env_with(function() error(value, 0) end)
                local ok, e = pcall(run, [[
                    xpcall(boom, function() while true do end end)
                    return "swallowed"
                ]], env)
                assert.is_false(ok)
                assert.equal(value, e)
            end)

            it("coroutine.resume raises a " .. fatal .. " error again", function()
                local env = env_with(function() error(value, 0) end)
                local ok, e = pcall(run, [[
                    local co = coroutine.create(boom)
                    coroutine.resume(co)
                    return "swallowed"
                ]], env)
                assert.is_false(ok)
                assert.equal(value, e)
            end)

            it("coroutine.wrap passes a " .. fatal .. " error on", function()
                local env = env_with(function() error(value, 0) end)
                local ok, e = pcall(run, [[
                    local f = coroutine.wrap(boom)
                    f()
                    return "swallowed"
                ]], env)
                assert.is_false(ok)
                assert.equal(value, e)
            end)
        end

        it("coroutines still work", function()
            assert.same({ 1, 2, 3 }, run([[
                local out = {}
                local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
                for _ = 1, 3 do out[#out + 1] = gen() end
                return out
            ]]))
            local ok, e = run([[
                local co = coroutine.create(function() error("inner", 0) end)
                return coroutine.resume(co)
            ]])
            assert.is_false(ok)
            assert.equal("inner", e)
        end)
    end)

    describe("budgets (through the runner)", function()
        local function call(body, opts)
            assert(helpers.load(host, "greedy", body))
            local req = assert(host.prepare("greedy", helpers.raw()))
            return runner.call(opts or { budget = 200000, memory = 8, timeout = 0 }, "greedy normalize",
                               host.normalize, "greedy", req, helpers.known())
        end

        it("stops an endless loop", function()
            local ok, err = call([[function _M.normalize() while true do end end]])
            assert.is_false(ok)
            assert.equal("plugin_timeout", err.code)
            assert.equal("greedy normalize: CPU budget exhausted (200000 instructions)", err.message)
        end)

        it("stops a loop that swallows the timeout with pcall", function()
            local ok, err = call([[function _M.normalize()
                while true do pcall(function() while true do end end) end
            end]])
            assert.is_false(ok)
            assert.equal("plugin_timeout", err.code)
        end)

        it("stops a loop in an xpcall handler", function()
            local ok, err = call([[function _M.normalize()
                while true do
                    xpcall(function() while true do end end, function() while true do end end)
                end
            end]])
            assert.is_false(ok)
            assert.equal("plugin_timeout", err.code)
        end)

        it("stops a loop inside a coroutine", function()
            local ok, err = call([[function _M.normalize()
                while true do
                    local co = coroutine.create(function() while true do end end)
                    coroutine.resume(co)
                end
            end]])
            assert.is_false(ok)
            assert.equal("plugin_timeout", err.code)
        end)

        it("stops a loop in a table.sort comparator", function()
            local ok, err = call([[function _M.normalize()
                local t = { 3, 2, 1 }
                table.sort(t, function(a, b) while true do end end)
            end]])
            assert.is_false(ok)
            assert.equal("plugin_timeout", err.code)
        end)

        it("stops unbounded allocation", function()
            local ok, err = call([[function _M.normalize()
                local hoard, chunk = {}, string.rep("x", 4096)
                local i = 0
                while true do
                    i = i + 1
                    hoard[i] = chunk .. i
                end
            end]], { budget = 1e9, memory = 8, timeout = 0 })
            assert.is_false(ok)
            assert.equal("plugin_memory", err.code)
            assert.equal("greedy normalize: memory limit exceeded (8 MB)", err.message)
            collectgarbage()
        end)

        it("stops allocation hidden in pcall", function()
            local ok, err = call([[function _M.normalize()
                local hoard = {}
                while true do
                    pcall(function() for i = 1, 1e9 do hoard[#hoard + 1] = string.rep("y", 1000) .. i end end)
                end
            end]], { budget = 1e9, memory = 8, timeout = 0 })
            assert.is_false(ok)
            assert.equal("plugin_memory", err.code)
            collectgarbage()
        end)

        it("classifies an ordinary error with its position", function()
            local ok, err = call([[function _M.normalize()
                local missing
                return { action = missing.action }
            end]])
            assert.is_false(ok)
            assert.equal("plugin_error", err.code)
            assert.matches("^greedy normalize: t/spec/plugins/greedy%.lua:%d+: attempt to index local 'missing'", err.message)
            assert.matches("in function 'normalize'", err.traceback)
        end)

        it("classifies error objects that are not strings", function()
            local ok, err = call([[function _M.normalize() error({ code = 1 }) end]])
            assert.is_false(ok)
            assert.equal("greedy normalize: (error object is a table value)", err.message)
        end)

        it("removes the hook afterwards", function()
            call([[function _M.normalize() while true do end end]])
            assert.is_nil(debug.gethook())
            local n = 0
            for _ = 1, 1e6 do
                n = n + 1
            end
            assert.equal(1e6, n)
        end)

        it("returns the results of a call within budget", function()
            local ok, s, c = call([[function _M.normalize() return { action = "a.b" } end]])
            assert.is_true(ok)
            assert.is_string(s)
            assert.equal("a.b", c.action)
        end)
    end)
end)
