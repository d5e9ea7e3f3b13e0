--- A plugin's standalone time: the host calls the gateway makes for one
-- request (prepare, authenticate, normalize) on a channel fixture, in a
-- loop, JIT on as in the gateway, with no nginx and no network.  What
-- docs/performance.md's per-plugin figures are measured with.
--
--     luajit tools/bench/plugin_loop.lua PLUGIN.lua FIXTURE.json [N]
--
-- Prints µs per request over N requests (default 100000) after 2000 to
-- warm the JIT up.  N = 0 runs the warm-up only: under
-- `valgrind --tool=callgrind`, the difference between a run of N and one
-- of 0, over N, is the instructions per request, which a shared machine
-- does not move.  Run from the repository root after `make lib`.
--
-- normalize here also decodes the contract it wrote (the runner's
-- `host.normalize`), which the gateway does not: the figures are the
-- runner's, compared before and after a change.

package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/lib/?.so;" .. package.cpath

local json = require "omni.json"
local host = require "omni.host"
local runner = require "omni.runner"

local WARM_UP = 2000

local plugin, fixture, n = arg[1], arg[2], tonumber(arg[3] or 100000)
if not plugin or not fixture or not n then
    io.stderr:write("usage: luajit tools/bench/plugin_loop.lua PLUGIN.lua "
                    .. "FIXTURE.json [N]\n")
    os.exit(2)
end

local function read(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

local name = assert(plugin:match("([^/]+)%.lua$"), "PLUGIN.lua expected")
assert(host.load(name, "@" .. plugin, read(plugin)))

local raw, known = runner.fixture(assert(json.decode(read(fixture))), name)
assert(raw, known)

local function request()
    local req = assert(host.prepare(name, raw))
    assert(host.authenticate(name, req))
    local s, err = host.normalize(name, req, known)
    if not s then
        error(fixture .. ": " .. tostring(err.message), 0)
    end
end

for _ = 1, WARM_UP do
    request()
end

if n == 0 then
    return
end

collectgarbage()

local t0 = os.clock()
for _ = 1, n do
    request()
end

io.write(string.format("%s %s: %.2f µs per request (%d requests)\n", name,
                       fixture:match("[^/]+$"),
                       (os.clock() - t0) * 1e6 / n, n))
