--- Plugin environments: an allowlist of globals, private copies of the
-- standard and omni libraries, a guarded `require`, and loud failures
-- for global reads of unknown names and for every global write.
--
-- A plugin gets: assert error ipairs next pairs pcall rawequal rawget
-- select tonumber tostring type unpack xpcall, `string` (without dump),
-- `table`, `math` (without randomseed), `os` (time and date only), `bit`,
-- `coroutine`, and `require` for the omni support library only.
--
-- `pcall`, `xpcall` and `coroutine.resume`/`wrap` are wrapped so that a
-- plugin cannot swallow the gateway's own fatal errors (see `is_fatal`):
-- they are raised again as they are. (The gateway also keeps raising
-- its timeout at every instruction once the budget is spent.)
--
-- @module omni.sandbox

local type, pairs, error, pcall, xpcall, tostring, select, setmetatable,
      assert, ipairs, next, rawequal, rawget, tonumber, unpack =
      type, pairs, error, pcall, xpcall, tostring, select, setmetatable,
      assert, ipairs, next, rawequal, rawget, tonumber, unpack
local string, table, math, os, bit, coroutine =
      string, table, math, os, bit, coroutine
local co_create, co_resume = coroutine.create, coroutine.resume
local find = string.find

local _M = { _VERSION = "1.0" }

--- The support-library modules plugins may require.
local MODULES = {
    "omni", "omni.json", "omni.form", "omni.xml", "omni.crypto",
    "omni.base64", "omni.utf8", "omni.contract", "omni.wechat",
    "omni.twilio", "omni.cases",
}
_M.MODULES = MODULES

local libraries = {}
for i = 1, #MODULES do
    libraries[MODULES[i]] = require(MODULES[i])
end


--- Tells whether an error value is one a plugin must not catch: a
-- userdata (a CPU or memory marker raised by a hook), the gateway's
-- time-budget error (a string containing "plugin_timeout: ") or a
-- memory error.
-- @param e the error value
-- @treturn boolean
local function is_fatal(e)
    local t = type(e)
    return t == "userdata"
           or (t == "string" and (e == "not enough memory"
                                  or find(e, "plugin_timeout: ", 1, true)))
end
_M.is_fatal = is_fatal


-- deep copy of library tables, sharing copies of shared tables;
-- functions, userdata and strings are shared (immutable)
local function copy(t, seen, depth)
    local c = seen[t]
    if c then
        return c
    end
    if depth > 8 then
        error("library table nested too deeply", 2)
    end
    c = {}
    seen[t] = c
    for k, v in pairs(t) do
        if type(v) == "table" then
            c[k] = copy(v, seen, depth + 1)
        else
            c[k] = v
        end
    end
    return c
end


local function pass(ok, ...)
    if not ok then
        local e = ...
        if is_fatal(e) then
            error(e, 0)
        end
    end
    return ok, ...
end


local function safe_pcall(f, ...)
    return pass(pcall(f, ...))
end


local function safe_xpcall(f, handler, ...)
    if type(handler) ~= "function" then
        error("bad argument #2 to 'xpcall' (function expected, got "
              .. type(handler) .. ")", 2)
    end
    return pass(xpcall(f, function(e)
        if is_fatal(e) then
            return e
        end
        return handler(e)
    end, ...))
end


local function safe_resume(co, ...)
    return pass(co_resume(co, ...))
end


local function wrapped(ok, ...)
    if ok then
        return ...
    end
    error((...), 0)
end


local function safe_wrap(f)
    local co = co_create(f)
    return function(...)
        return wrapped(co_resume(co, ...))
    end
end


-- The environment is an empty proxy: reads fall through to the table of
-- allowed globals (then to an error), and every write raises, even to a
-- name that exists.
local GLOBALS_MT = {
    __index = function(_, k)
        error("global '" .. tostring(k) .. "' is not defined", 2)
    end,
    __metatable = false,
}

local function no_write(_, k)
    error("assignment to global '" .. tostring(k)
          .. "' is not allowed in plugins", 2)
end


--- Builds a fresh plugin environment (for `setfenv` on a plugin chunk).
-- Each call makes new copies of every library table, so what one plugin
-- changes in `string`, `table`, `math` or `omni` is invisible to others.
-- @treturn table the environment
-- @usage local env = sandbox.new(); setfenv(chunk, env)
function _M.new()
    local seen = {}

    local libs = {}
    for i = 1, #MODULES do
        local name = MODULES[i]
        libs[name] = copy(libraries[name], seen, 1)
    end

    local str = copy(string, seen, 1)
    str.dump = nil

    local m = copy(math, seen, 1)
    m.randomseed = nil          -- the generator is shared by the VM

    local co = copy(coroutine, seen, 1)
    co.resume = safe_resume
    co.wrap = safe_wrap

    local function require_(name)
        local lib = type(name) == "string" and libs[name]
        if not lib then
            error("module '" .. tostring(name)
                  .. "' is not allowed in plugins", 2)
        end
        return lib
    end

    local globals = {
        assert = assert,
        error = error,
        ipairs = ipairs,
        next = next,
        pairs = pairs,
        pcall = safe_pcall,
        rawequal = rawequal,
        rawget = rawget,
        select = select,
        tonumber = tonumber,
        tostring = tostring,
        type = type,
        unpack = unpack,
        xpcall = safe_xpcall,
        string = str,
        table = copy(table, seen, 1),
        math = m,
        os = { time = os.time, date = os.date },
        bit = bit and copy(bit, seen, 1) or nil,
        coroutine = co,
        require = require_,
    }

    setmetatable(globals, GLOBALS_MT)

    return setmetatable({}, {
        __index = globals,
        __newindex = no_write,
        __metatable = false,
    })
end


return _M
