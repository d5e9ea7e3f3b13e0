--- The standalone plugin runner behind tools/omni-plugin: runs a plugin
-- against a fixture without NGINX, in the gateway's sandbox, with a CPU
-- budget (VM instructions, counted by a debug hook) and an approximate
-- memory cap, classifying failures like the gateway does
-- (plugin_error / plugin_timeout / plugin_memory).
--
-- Not used by the gateway itself (it needs `io` and `debug`). Loading
-- this module turns the JIT compiler off, as in the gateway: count hooks
-- do not fire inside compiled traces.
--
-- @module omni.runner

local type, pairs, ipairs, error, tostring, tonumber, select, unpack,
      xpcall, collectgarbage, newproxy =
      type, pairs, ipairs, error, tostring, tonumber, select, unpack,
      xpcall, collectgarbage, newproxy
local find, format, lower, match, sub =
      string.find, string.format, string.lower, string.match, string.sub
local concat, sort = table.concat, table.sort
local sethook, getinfo, traceback = debug.sethook, debug.getinfo,
                                    debug.traceback
local io_open = io.open
local floor = math.floor

local json = require "omni.json"
local host = require "omni.host"
local contract = require "omni.contract"

if jit then
    jit.off()
    jit.flush()
end

local _M = { _VERSION = "1.0" }

--- Defaults: 50 ms of CPU time (like the gateway's omni_plugin_timeout)
-- and at most 10 million VM instructions per call; 64 MB.
_M.DEFAULT_TIMEOUT = 50
_M.DEFAULT_BUDGET = 10000000
_M.DEFAULT_MEMORY = 64

--- The request id used when a fixture gives none.
_M.DEFAULT_REQUEST_ID = "0123456789abcdef0123456789abcdef"

local HOOK_EVERY = 1000

-- the markers the hook raises (userdata, like the gateway's)
local TIMEOUT = newproxy(false)
local MEMORY = newproxy(false)
_M.TIMEOUT, _M.MEMORY = TIMEOUT, MEMORY

local SELF = getinfo(1, "S").source


local clock = os.clock


local function pack(...)
    return { n = select("#", ...), ... }
end


--- Calls `f(...)` under a CPU budget and a memory cap.
-- Once the budget or the cap is exceeded, the marker is raised at every
-- VM instruction outside this module until the call has unwound, so a
-- plugin cannot catch it and carry on.
-- @tparam table opts `{ timeout = ms of CPU time, budget = instructions,
--   memory = MB }` (defaults: DEFAULT_TIMEOUT, DEFAULT_BUDGET,
--   DEFAULT_MEMORY; timeout = 0 disables the time check)
-- @tparam string label "<plugin> <function>", prefixed to messages
-- @tparam function f
-- @return true and f's results; or false and
--   `{ code=, status=500, message=, traceback= }`
function _M.call(opts, label, f, ...)
    opts = opts or {}
    local budget = opts.budget or _M.DEFAULT_BUDGET
    local memory = opts.memory or _M.DEFAULT_MEMORY
    local timeout = opts.timeout or _M.DEFAULT_TIMEOUT
    local limit = collectgarbage("count") + memory * 1024
    local deadline = timeout > 0 and clock() + timeout / 1000 or nil
    local used, tripped, why = 0, nil, nil

    local function again()
        local info = getinfo(2, "S")
        if info and info.source == SELF then
            return
        end
        error(tripped, 0)
    end

    local function hook()
        used = used + HOOK_EVERY
        if used > budget then
            tripped = TIMEOUT
            why = "CPU budget exhausted (" .. budget .. " instructions)"
        elseif deadline and clock() > deadline then
            tripped = TIMEOUT
            why = "time budget of " .. timeout .. " ms exhausted"
        elseif collectgarbage("count") > limit then
            collectgarbage()
            if collectgarbage("count") > limit then
                tripped = MEMORY
            end
        end
        if tripped then
            sethook(again, "", 1)
            error(tripped, 0)
        end
    end

    sethook(hook, "", HOOK_EVERY)
    local res = pack(xpcall(f, traceback, ...))
    sethook()

    if res[1] then
        return true, unpack(res, 2, res.n)
    end

    local e = res[2]
    if tripped == TIMEOUT or e == TIMEOUT then
        return false, {
            code = "plugin_timeout", status = 500,
            message = label .. ": " .. (why or "CPU budget exhausted"),
        }
    end
    if tripped == MEMORY or e == MEMORY
       or (type(e) == "string" and find(e, "not enough memory", 1, true))
    then
        return false, {
            code = "plugin_memory", status = 500,
            message = label .. ": memory limit exceeded (" .. memory
                      .. " MB)",
        }
    end

    local msg, tb
    if type(e) == "string" then
        msg, tb = match(e, "^(.-)\nstack traceback:\n(.*)$")
        msg = msg or e
    else
        msg = "(error object is a " .. type(e) .. " value)"
    end
    return false, {
        code = "plugin_error", status = 500,
        message = label .. ": " .. msg,
        traceback = tb,
    }
end


-------------------------------------------------------------------------
-- fixtures
-------------------------------------------------------------------------

local function read_file(path)
    local fh, err = io_open(path, "rb")
    if not fh then
        return nil, err
    end
    local s = fh:read("*a")
    fh:close()
    return s
end
_M.read_file = read_file


local function nonnull(v)
    if v == json.null then
        return nil
    end
    return v
end


--- Turns a decoded fixture into the `raw` table for host.prepare and
-- the `known` table for host.normalize.
-- @tparam table fx `{ request = {...}, known = {...} }`
-- @tparam string name the plugin's name
-- @treturn table|nil raw
-- @treturn table|string known, or the error
function _M.fixture(fx, name)
    if type(fx) ~= "table" or type(fx.request) ~= "table" then
        return nil, "fixture: a \"request\" object is expected"
    end
    local r = fx.request
    local headers = {}
    if nonnull(r.headers) ~= nil then
        if not json.is_object(r.headers) then
            return nil, "fixture: request.headers must be an object"
        end
        for k, v in pairs(r.headers) do
            if type(v) == "table" then
                for i = 1, #v do
                    if type(v[i]) ~= "string" then
                        return nil, "fixture: header " .. k .. " must be a"
                                    .. " string or an array of strings"
                    end
                end
                v = concat(v, ", ")
            elseif type(v) ~= "string" then
                return nil, "fixture: header " .. k .. " must be a string"
                            .. " or an array of strings"
            end
            local lk = lower(k)
            if headers[lk] then
                headers[lk] = headers[lk] .. ", " .. v
            else
                headers[lk] = v
            end
        end
    end

    local body = nonnull(r.body)
    if nonnull(r.body_json) ~= nil then
        local err
        body, err = json.encode(r.body_json)
        if not body then
            return nil, "fixture: request.body_json: " .. err
        end
    end
    if body ~= nil and type(body) ~= "string" then
        return nil, "fixture: request.body must be a string (use body_json"
                    .. " for a JSON value)"
    end

    local claims_json
    if nonnull(r.claims) ~= nil then
        if not json.is_object(r.claims) then
            return nil, "fixture: request.claims must be an object"
        end
        claims_json = json.encode(r.claims)
    end

    local settings
    if nonnull(r.settings) ~= nil then
        if not json.is_object(r.settings) then
            return nil, "fixture: request.settings must be an object"
        end
        settings = {}
        for k, v in pairs(r.settings) do
            if type(v) ~= "string" then
                return nil, "fixture: request.settings." .. k
                            .. " must be a string"
            end
            settings[k] = v
        end
    end

    local method = nonnull(r.method) or (body and "POST" or "GET")
    local raw = {
        method = method,
        path = nonnull(r.path) or "/",
        query = nonnull(r.query) or "",
        headers = headers,
        client_ip = nonnull(r.client_ip) or "127.0.0.1",
        claims_json = claims_json,
        body = body,
        channel = nonnull(r.channel),
        settings = settings or {},
        location = nonnull(r.location),
        time = nonnull(r.time),
    }
    for _, k in ipairs({ "method", "path", "query", "client_ip" }) do
        if type(raw[k]) ~= "string" then
            return nil, "fixture: request." .. k .. " must be a string"
        end
    end
    if raw.location ~= nil and type(raw.location) ~= "string" then
        return nil, "fixture: request.location must be a string"
    end
    if raw.time ~= nil and type(raw.time) ~= "number" then
        return nil, "fixture: request.time must be seconds since the epoch"
    end

    local kn = nonnull(fx.known) or {}
    if type(kn) ~= "table" then
        return nil, "fixture: known must be an object"
    end
    local principal = nonnull(kn.principal)
    if principal ~= nil and type(principal) ~= "table" then
        return nil, "fixture: known.principal must be an object or null"
    end
    local known = {
        request_id = nonnull(kn.request_id) or _M.DEFAULT_REQUEST_ID,
        received_at = nonnull(kn.received_at),
        channel = nonnull(kn.channel) or raw.channel or name,
        principal = principal,
        user_agent = nonnull(kn.user_agent),
    }
    if known.received_at ~= nil and type(known.received_at) ~= "number" then
        return nil, "fixture: known.received_at must be milliseconds"
    end
    if not contract.is_request_id(known.request_id) then
        return nil, "fixture: known.request_id must match"
                    .. " ^[A-Za-z0-9_-]{1,64}$"
    end
    if not contract.is_name(known.channel) then
        return nil, "fixture: known.channel must match"
                    .. " ^[a-z][a-z0-9_]{0,31}$"
    end
    return raw, known
end


-------------------------------------------------------------------------
-- the command line
-------------------------------------------------------------------------

local USAGE = [[
usage: omni-plugin COMMAND PLUGIN.lua [ARGS] [OPTIONS]

commands:
  check     PLUGIN.lua                     load it: syntax and interface
  normalize PLUGIN.lua FIXTURE.json        print the request contract
  render    PLUGIN.lua REPLY.json          print the native response
  run       PLUGIN.lua FIXTURE.json [REPLY.json]
                                           respond, authenticate,
                                           normalize (and render)

options:
  --timeout MS   CPU time per call, in ms (default 50, 0: no limit)
  --budget N     VM instructions per call (default 10000000)
  --memory MB    memory a call may add, approximate (default 64)
  --compact      print the contract exactly as sent (one line)
  --status N     render: the upstream HTTP status (default 200)
  --gateway      render: ctx.gateway = true
  --request F    render: a fixture whose request becomes ctx.request

exit status: 0 success, 1 the plugin failed or refused, 2 usage error
]]
_M.USAGE = USAGE


local function parse_args(argv)
    local opts = { positional = {} }
    local i, n = 1, #argv
    while i <= n do
        local a = argv[i]
        if a == "--budget" or a == "--memory" or a == "--status"
           or a == "--timeout"
        then
            local v = tonumber(argv[i + 1])
            if not v or v < 0 or v ~= floor(v)
               or (v == 0 and a ~= "--timeout")
            then
                return nil, a .. " needs a positive integer"
            end
            opts[sub(a, 3)] = v
            i = i + 2
        elseif a == "--request" then
            if not argv[i + 1] then
                return nil, "--request needs a fixture file"
            end
            opts.request = argv[i + 1]
            i = i + 2
        elseif a == "--gateway" then
            opts.gateway = true
            i = i + 1
        elseif a == "--compact" then
            opts.compact = true
            i = i + 1
        elseif a == "-h" or a == "--help" then
            opts.help = true
            i = i + 1
        elseif sub(a, 1, 2) == "--" then
            return nil, "unknown option " .. a
        else
            opts.positional[#opts.positional + 1] = a
            i = i + 1
        end
    end
    return opts
end


local function error_json(err)
    return json.encode({ error = {
        code = err.code,
        message = err.message,
        status = err.status,
    } })
end


local function format_response(status, headers, body)
    local names = {}
    for k in pairs(headers) do
        names[#names + 1] = k
    end
    sort(names)
    local out = { "HTTP " .. status }
    for i = 1, #names do
        out[#out + 1] = names[i] .. ": " .. headers[names[i]]
    end
    out[#out + 1] = ""
    out[#out + 1] = body
    local s = concat(out, "\n")
    if sub(s, -1) ~= "\n" then
        s = s .. "\n"
    end
    return s
end
_M.format_response = format_response


local function load_plugin(path, opts)
    local name = match(path, "([^/]+)%.lua$")
    if not name then
        return nil, { code = "plugin_error", status = 500,
                      message = path .. ": a plugin file must end in .lua" }
    end
    local source, err = read_file(path)
    if not source then
        return nil, { code = "plugin_error", status = 500, message = err }
    end
    local ok, loaded, lerr = _M.call(opts, name .. " load", host.load, name,
                                     "@" .. path, source)
    if not ok then
        return nil, loaded
    end
    if not loaded then
        return nil, { code = "plugin_error", status = 500, message = lerr }
    end
    return name
end


local function load_fixture(path, name)
    local text, err = read_file(path)
    if not text then
        return nil, err
    end
    local fx
    fx, err = json.decode(text)
    if fx == nil then
        return nil, path .. ": " .. err
    end
    local raw, known = _M.fixture(fx, name)
    if not raw then
        return nil, path .. ": " .. known
    end
    return raw, known
end


-- runs host[fname](name, ...) under the limits; returns the host's
-- results, or nil, err (a plugin Lua error becomes an err table)
local function guarded(opts, stderr, name, fname, ...)
    local res = pack(_M.call(opts, name .. " " .. fname, host[fname],
                             name, ...))
    if not res[1] then
        local err = res[2]
        if err.traceback and stderr then
            stderr:write(err.message, "\nstack traceback:\n", err.traceback,
                         "\n")
        end
        return nil, err
    end
    return unpack(res, 2, res.n)
end


local function pretty(v)
    return json.encode(v, { indent = "  " })
end


local function print_contract(out, opts, s, c)
    if opts.compact then
        out:write(s, "\n")
    else
        out:write(pretty(c), "\n")
    end
end


local commands = {}


function commands.check(opts, out)
    local path = opts.positional[2]
    if not path or opts.positional[3] then
        return nil, "wrong number of arguments"
    end
    local name, err = load_plugin(path, opts)
    if not name then
        out:write(err.message, "\n")
        return 1
    end
    local info = host.info(name)
    out:write("ok: ", info.name, " ", info.version, " (",
              concat(info.functions, ", "), ")\n")
    return 0
end


function commands.normalize(opts, out, stderr)
    local path, fpath = opts.positional[2], opts.positional[3]
    if not fpath or opts.positional[4] then
        return nil, "wrong number of arguments"
    end
    local name, err = load_plugin(path, opts)
    if not name then
        out:write(error_json(err), "\n")
        return 1
    end
    local raw, known = load_fixture(fpath, name)
    if not raw then
        stderr:write(known, "\n")
        return 2
    end
    local req
    req, err = guarded(opts, stderr, name, "prepare", raw)
    if not req then
        out:write(error_json(err), "\n")
        return 1
    end
    local s, c = guarded(opts, stderr, name, "normalize", req, known)
    if not s then
        out:write(error_json(c), "\n")
        return 1
    end
    print_contract(out, opts, s, c)
    return 0
end


local function render_ctx(opts, name, req, known)
    return {
        status = opts.status or 200,
        gateway = opts.gateway == true,
        request_id = known and known.request_id or _M.DEFAULT_REQUEST_ID,
        channel = known and known.channel or name,
        request = req,
    }
end


function commands.render(opts, out, stderr)
    local path, rpath = opts.positional[2], opts.positional[3]
    if not rpath or opts.positional[4] then
        return nil, "wrong number of arguments"
    end
    local name, err = load_plugin(path, opts)
    if not name then
        out:write(error_json(err), "\n")
        return 1
    end
    local reply
    reply, err = read_file(rpath)
    if not reply then
        stderr:write(err, "\n")
        return 2
    end
    local req, known
    if opts.request then
        local raw
        raw, known = load_fixture(opts.request, name)
        if not raw then
            stderr:write(known, "\n")
            return 2
        end
        req, err = guarded(opts, stderr, name, "prepare", raw)
        if not req then
            out:write(error_json(err), "\n")
            return 1
        end
    end
    local status, headers, body, why = guarded(opts, stderr, name, "render",
        reply, render_ctx(opts, name, req, known))
    if not status then
        out:write(error_json(headers), "\n")
        return 1
    end
    if why then
        stderr:write("note: the reply was replaced by upstream_reply_invalid: ",
                     why, "\n")
    end
    out:write(format_response(status, headers, body))
    return 0
end


-- `run`: on a failure, show the error and how the channel renders it
local function run_failed(opts, out, stderr, name, step, err, req, known)
    out:write("# ", step, ": ", err.code, "\n", error_json(err), "\n")
    local ctx = render_ctx(opts, name, req, known)
    local status, headers, body = guarded(opts, stderr, name, "render_error",
        err.code, err.message, err.status or 500, ctx)
    if status then
        out:write("# render_error (", err.status or 500, ")\n",
                  format_response(status, headers, body))
    else
        out:write("# render_error failed\n", error_json(headers), "\n")
    end
    return 1
end


function commands.run(opts, out, stderr)
    local path, fpath, rpath = opts.positional[2], opts.positional[3],
                               opts.positional[4]
    if not fpath or opts.positional[5] then
        return nil, "wrong number of arguments"
    end
    local name, err = load_plugin(path, opts)
    if not name then
        out:write("# load: ", err.code, "\n", error_json(err), "\n")
        return 1
    end
    local raw, known = load_fixture(fpath, name)
    if not raw then
        stderr:write(known, "\n")
        return 2
    end
    local reply
    if rpath then
        reply, err = read_file(rpath)
        if not reply then
            stderr:write(err, "\n")
            return 2
        end
    end

    local req
    req, err = guarded(opts, stderr, name, "prepare", raw)
    if not req then
        return run_failed(opts, out, stderr, name, "prepare", err, nil, known)
    end

    local status, headers, body = guarded(opts, stderr, name, "respond", req)
    if status then
        out:write("# respond: answered directly\n",
                  format_response(status, headers, body))
        return 0
    elseif headers then
        return run_failed(opts, out, stderr, name, "respond", headers, req,
                          known)
    end
    out:write("# respond: no direct answer\n")

    local ok
    ok, err = guarded(opts, stderr, name, "authenticate", req)
    if not ok then
        return run_failed(opts, out, stderr, name, "authenticate", err, req,
                          known)
    end
    out:write("# authenticate: ok\n")

    local s, c = guarded(opts, stderr, name, "normalize", req, known)
    if not s then
        return run_failed(opts, out, stderr, name, "normalize", c, req, known)
    end
    out:write("# normalize: contract\n")
    print_contract(out, opts, s, c)

    if reply then
        local why
        status, headers, body, why = guarded(opts, stderr, name, "render",
            reply, render_ctx(opts, name, req, known))
        if not status then
            return run_failed(opts, out, stderr, name, "render", headers,
                              req, known)
        end
        if why then
            out:write("# note: the reply was replaced by"
                      .. " upstream_reply_invalid: ", why, "\n")
        end
        out:write("# render (", opts.status or 200, ")\n",
                  format_response(status, headers, body))
    end
    return 0
end


--- The command line.
-- @tparam table argv the arguments (as `arg`)
-- @param[opt] out a file-like object (`:write`) for results (io.stdout)
-- @param[opt] stderr a file-like object for diagnostics (io.stderr)
-- @treturn number the exit status
function _M.main(argv, out, stderr)
    out = out or io.stdout
    stderr = stderr or io.stderr
    local opts, err = parse_args(argv)
    if not opts then
        stderr:write("omni-plugin: ", err, "\n", USAGE)
        return 2
    end
    if opts.help then
        out:write(USAGE)
        return 0
    end
    local cmd = commands[opts.positional[1] or ""]
    if not cmd or not opts.positional[2] then
        stderr:write(USAGE)
        return 2
    end
    local code, why = cmd(opts, out, stderr)
    if not code then
        stderr:write("omni-plugin ", opts.positional[1], ": ", why, "\n",
                     USAGE)
        return 2
    end
    return code
end


return _M
