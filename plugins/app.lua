--- app: JSON-RPC 2.0 style calls from the native apps.
--
-- Route: `POST /app/rpc` (one trailing slash accepted), JSON body.  The
-- mount point is `/app` by default, or the location's (`location
-- /mobile/` -> `POST /mobile/rpc`) or the `prefix` setting's
-- (docs/plugins.md, "Mount points"); the mount point itself (`POST /app`,
-- or an exact `location = /api/app`) is the same endpoint.
--
-- Single-endpoint style of other SDKs: the settings `action_field` and
-- `params_field` rename `method` and `params` (e.g. `cmd` and `data`:
-- `{"cmd": "order.query", "data": {...}, "id": 7}`).  With them set, a
-- missing or malformed action is `invalid_parameter` (-32600), params
-- that are not an object too.
--
-- Single call: `{"jsonrpc": "2.0", "method": "order.query", "params": {...},
-- "id": 7}` -> action = method, params = params (`{}` when absent or null).
-- `jsonrpc` is optional but must be "2.0" when present; `method` must be a
-- dotted verb (`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`, at most 128
-- characters); `params` must be an object (by-name; positional arrays are
-- refused); `id` may be a string (at most 128 bytes), a number or null, and
-- a call without `id` is a notification.
--
-- Batch: a JSON array of 1..20 calls -> action `app.batch` with
-- `params.calls = [{"method": .., "params": {..}, "id": <id or null>}, ...]`
-- in request order.  The backend executes them and answers
-- `{"ok": true, "data": [{"id": .., "ok": true, "data": ..} |
-- {"id": .., "ok": false, "error": {"code": .., "message": ..}}, ...]}` with
-- one entry per call, in the same order (results are matched by position).
-- A batch is all-or-nothing at the gateway: one invalid call refuses the
-- whole batch (message names its index); non-null ids must be unique.
-- `app.batch` cannot be called directly.
--
-- Identities and metadata: X-Device-Id -> identity `device_id` and
-- client.device_id; X-App-Id -> app_id; X-App-Version -> client_version;
-- Accept-Language (first tag) -> locale.
--
-- Refusals: `route_not_found` (404), `method_not_allowed` (405),
-- `invalid_request` (400), `invalid_params` (400), `batch_too_large` (400),
-- `invalid_header` (400).
--
-- Rendering: HTTP 200 with a JSON-RPC response, `{"jsonrpc": "2.0",
-- "result": .., "id": ..}` or `{"jsonrpc": "2.0", "error": {"code": N,
-- "message": .., "data": {"code": <omni code>, "request_id": ..}}, "id": ..}`.
-- Requests made only of notifications get 204 with no body when the service
-- answered.  Error codes:
--
--     body_malformed                          -32700  parse error
--     invalid_request, batch_too_large        -32600  invalid request
--     method_not_found                        -32601
--     invalid_params                          -32602
--     gateway 400 (other codes)               -32600
--     gateway 4xx (401, 403, 404, 413, 429..) -32000 - (status - 400):
--                                             401 -> -32001, 403 -> -32003,
--                                             404 -> -32004, 413 -> -32013
--     gateway 500                             -32603  internal error
--     gateway 5xx (other)                     -32050 - (status - 500):
--                                             502 -> -32052, 503 -> -32053
--     upstream_reply_invalid                  -32052
--     any other service error                 -32000  (data.code = its code)
--
-- When a whole batch fails (e.g. 401), the answer is one error object with
-- id null, as JSON-RPC does for requests it cannot process.
--
-- @module app
local omni = require "omni"

local json = omni.json
local omni_error = omni.error
local is_object = omni.is_object
local header = omni.header
local clip = omni.clip

local type = type
local ipairs = ipairs
local tonumber = tonumber
local tostring = tostring
local match = string.match
local floor = math.floor
local huge = math.huge

-- render only wraps reply.data: it stays the service's text (checked by
-- the host), written back as it is
local _M = { name = "app", version = "1.1", raw_data = true, prefix = "/app" }

local MAX_BATCH = 20
local CLIP = 80         -- client text in messages: 80 bytes at most
local MAX_METHOD = 128
local MAX_ID = 128
local BATCH_ACTION = "app.batch"

--- True for a JSON array table (decoded/marked, or a plain sequence);
-- false for the json.empty_array sentinel, which is not a table.
local function is_array(v)
    return type(v) == "table" and (json.is_array(v) or v[1] ~= nil)
end

--- An empty JSON object that encodes as {} (not []).
local function empty_object()
    if json.object then
        return json.object({})
    end
    return {}
end

--- True when name is a dotted verb of at most 128 characters.
local function valid_method(name)
    if type(name) ~= "string" or #name > MAX_METHOD then
        return false
    end
    local first, rest = match(name, "^([a-z][a-z0-9_]*)(.*)$")
    if not first or rest == "" then
        return false
    end
    while rest ~= "" do
        local tail = match(rest, "^%.[a-z][a-z0-9_]*(.*)$")
        if not tail then
            return false
        end
        rest = tail
    end
    return true
end

--- True for a valid JSON-RPC id (string, finite number, null); nil is a
-- notification and is valid too.
local function valid_id(id)
    if id == nil or id == json.null then
        return true
    end
    if type(id) == "string" then
        return #id <= MAX_ID
    end
    if type(id) == "number" then
        return id == id and id ~= huge and id ~= -huge
    end
    return false
end

--- Checks one call object.
-- @param call the decoded call
-- @param where "" for a single call, " (call N)" in a batch
-- @param fields nil for JSON-RPC's names, or {action=, params=} from the
--   settings (the single-endpoint style of other SDKs)
-- @return method, params; or nil, err
local function check_call(call, where, fields)
    if not is_object(call) then
        return nil, omni_error("invalid_request", "a call must be a JSON object" .. where, 400)
    end
    if call.jsonrpc ~= nil and call.jsonrpc ~= "2.0" then
        return nil, omni_error("invalid_request", "jsonrpc must be \"2.0\"" .. where, 400)
    end
    if not valid_id(call.id) then
        return nil, omni_error("invalid_request",
            "id must be a string, a number or null" .. where, 400)
    end
    if fields then
        local method, params = omni.body_call(call, fields.action, fields.params)
        if not method then
            params.message = params.message .. where
            return nil, params
        end
        if method == BATCH_ACTION then
            return nil, omni_error("invalid_parameter",
                "'" .. BATCH_ACTION .. "' is reserved" .. where, 400)
        end
        return method, params
    end
    local method = call.method
    if type(method) ~= "string" then
        return nil, omni_error("invalid_request", "method is missing" .. where, 400)
    end
    if not valid_method(method) then
        return nil, omni_error("invalid_request",
            "method '" .. clip(method, CLIP) .. "' is not a dotted verb such as order.query" .. where, 400)
    end
    if method == BATCH_ACTION then
        return nil, omni_error("invalid_request",
            "method '" .. BATCH_ACTION .. "' is reserved" .. where, 400)
    end
    local params = call.params
    if params == nil or params == json.null then
        params = empty_object()
    elseif not is_object(params) then
        return nil, omni_error("invalid_params", "params must be a JSON object" .. where, 400)
    end
    return method, params
end

--- The call(s) of the request body.
local function request_body(req)
    local body = req.body
    if body == nil then
        local raw = req.raw_body
        if raw == nil or raw == "" then
            return nil, omni_error("invalid_request", "the body is empty", 400)
        end
        local decoded, err = json.decode(raw)
        if decoded == nil then
            return nil, omni_error("body_malformed", "invalid JSON: " .. clip(err, CLIP), 400)
        end
        body = decoded
    end
    return body
end

--- Validates a batch and builds params.calls.
local function batch_params(body, fields)
    local n = #body
    if n == 0 then
        return nil, omni_error("invalid_request", "the batch is empty", 400)
    end
    if n > MAX_BATCH or body[MAX_BATCH + 1] ~= nil then
        return nil, omni_error("batch_too_large",
            "a batch holds at most " .. MAX_BATCH .. " calls", 400)
    end
    local calls = {}
    local seen = {}
    for i = 1, n do
        local call = body[i]
        local where = " (call " .. i .. ")"
        local method, params = check_call(call, where, fields)
        if not method then
            return nil, params
        end
        local id = call.id
        if id ~= nil and id ~= json.null then
            local key = type(id) .. ":" .. tostring(id)
            if seen[key] then
                return nil, omni_error("invalid_request", "duplicate id" .. where, 400)
            end
            seen[key] = true
        end
        calls[i] = { method = method, params = params, id = id == nil and json.null or id }
    end
    if json.array then
        calls = json.array(calls)
    end
    return { calls = calls }
end

--- Normalizes an app request into contract fields.
-- @param req the request table built by the host
-- @return fields, or nil, err
function _M.normalize(req)
    local route = req.route
    local endpoint = (req.mount or "") .. "/rpc"
    if route ~= "/rpc" and route ~= "/rpc/" and route ~= "/" then
        return nil, omni_error("route_not_found",
            "no route for " .. clip(req.path, CLIP) .. " (use POST " .. endpoint .. ")", 404)
    end
    if req.method ~= "POST" then
        return nil, omni_error("method_not_allowed", "use POST " .. endpoint, 405)
    end
    local action_field, params_field = omni.call_fields(req.settings, nil, "params")
    if action_field == false then
        return nil, params_field
    end
    local fields = action_field and { action = action_field, params = params_field } or nil

    local body, err = request_body(req)
    if body == nil then
        return nil, err
    end

    local action, params
    if is_array(body) then
        params, err = batch_params(body, fields)
        if not params then
            return nil, err
        end
        action = BATCH_ACTION
    elseif is_object(body) then
        action, params = check_call(body, "", fields)
        if not action then
            return nil, params
        end
    else
        return nil, omni_error("invalid_request",
            "the body must be a call object or a non-empty array of calls", 400)
    end

    local headers = type(req.headers) == "table" and req.headers or {}
    local device_id, app_id, client_version
    device_id, err = header(headers, "x-device-id", "X-Device-Id", 128)
    if err then
        return nil, err
    end
    app_id, err = header(headers, "x-app-id", "X-App-Id", 128)
    if err then
        return nil, err
    end
    client_version, err = header(headers, "x-app-version", "X-App-Version", 64, true)
    if err then
        return nil, err
    end

    local identities = {}
    if device_id then
        identities[1] = { type = "device_id", value = device_id }
    end

    return {
        action = action,
        params = params,
        identities = identities,
        device_id = device_id,
        app_id = app_id,
        client_version = client_version,
        locale = omni.first_language(headers["accept-language"]),
    }
end

local RPC_CODES = {
    body_malformed = -32700,
    invalid_request = -32600,
    batch_too_large = -32600,
    method_not_found = -32601,
    invalid_params = -32602,
    upstream_reply_invalid = -32052,
}

--- The JSON-RPC error code for an omni error (see the module documentation).
local function rpc_code(code, status, gateway)
    if RPC_CODES[code] then
        return RPC_CODES[code]
    end
    if not gateway then
        return -32000
    end
    status = tonumber(status)
    if not status or status ~= floor(status) or status < 400 or status > 599 then
        return -32603
    end
    if status == 400 then
        return -32600
    elseif status < 500 then
        return -32000 - (status - 400)
    elseif status == 500 then
        return -32603
    end
    return -32050 - (status - 500)
end

--- A JSON-RPC error object for an omni error table.
local function rpc_error(e, status, gateway, request_id)
    local code, message = omni.error_parts(e)
    return {
        code = rpc_code(code, status, gateway),
        message = message,
        data = { code = code, request_id = request_id },
    }
end

--- What render needs to know about the request: single or batch, ids.
-- @return kind ("single", "batch" or "unknown"), ids (single: the id, or
-- nil for a notification; batch: array of {id=, notify=})
local function request_shape(req)
    local body = type(req) == "table" and req.body or nil
    if is_array(body) and #body <= MAX_BATCH then
        local calls = {}
        for i = 1, #body do
            local call = body[i]
            local id, notify = json.null, false
            if is_object(call) then
                id = call.id
                notify = id == nil
                if id == nil or not valid_id(id) then
                    id = json.null
                end
            end
            calls[i] = { id = id, notify = notify }
        end
        return "batch", calls
    end
    if is_object(body) then
        local id = body.id
        if not valid_id(id) then
            id = json.null
        end
        return "single", id
    end
    return "unknown", json.null
end

--- Fresh response headers (the host may keep what render returns).
local function headers()
    return { ["Content-Type"] = "application/json; charset=utf-8" }
end

local function encode_or_fail(value, request_id)
    local body = json.encode(value)
    if body then
        return body
    end
    return json.encode({
        jsonrpc = "2.0",
        error = { code = -32603, message = "the reply could not be encoded",
            data = { code = "plugin_error", request_id = request_id } },
        id = json.null,
    })
end

--- Renders a unified reply as a JSON-RPC response (always 200, or 204 for
-- notifications).
-- @param reply {ok=true, data=...} or {ok=false, error={code=, message=}}
-- @param ctx {status=, gateway=, request_id=, channel=, request=}
-- @return status, headers, body
function _M.render(reply, ctx)
    ctx = type(ctx) == "table" and ctx or {}
    local request_id = type(ctx.request_id) == "string" and ctx.request_id or json.null
    local ok = type(reply) == "table" and reply.ok == true
    local kind, ids = request_shape(ctx.request)

    if not ok then
        local e = type(reply) == "table" and reply.error or nil
        local id = json.null
        if kind == "single" then
            id = ids
        end
        if id == nil then
            if not ctx.gateway then
                return 204, {}, ""
            end
            id = json.null
        end
        return 200, headers(), encode_or_fail({
            jsonrpc = "2.0",
            error = rpc_error(e, ctx.status, ctx.gateway, request_id),
            id = id,
        }, request_id)
    end

    if kind ~= "batch" then
        if kind == "single" and ids == nil then
            return 204, {}, ""
        end
        local result = reply.data
        if result == nil then
            result = json.null
        end
        return 200, headers(), encode_or_fail({
            jsonrpc = "2.0", result = result, id = ids,
        }, request_id)
    end

    -- a batch is answered call by call: look inside the service's text
    local data = reply.data
    if json.is_raw(data) then
        data = json.decode(json.raw_text(data))
    end
    if not is_array(data) or #data ~= #ids then
        return 200, headers(), encode_or_fail({
            jsonrpc = "2.0",
            error = rpc_error({ code = "upstream_reply_invalid",
                message = "the service sent an invalid batch reply" }, 502, false, request_id),
            id = json.null,
        }, request_id)
    end

    local responses = {}
    for i, call in ipairs(ids) do
        if not call.notify then
            local result = data[i]
            local response = { jsonrpc = "2.0", id = call.id }
            if type(result) == "table" and result.ok == true then
                local value = result.data
                if value == nil then
                    value = json.null
                end
                response.result = value
            elseif type(result) == "table" and result.ok == false
                    and type(result.error) == "table" then
                response.error = rpc_error(result.error, nil, false, request_id)
            else
                response.error = rpc_error({ code = "upstream_reply_invalid",
                    message = "the service sent an invalid result for this call" },
                    502, false, request_id)
            end
            responses[#responses + 1] = response
        end
    end
    if not responses[1] then
        return 204, {}, ""
    end
    if json.array then
        responses = json.array(responses)
    end
    return 200, headers(), encode_or_fail(responses, request_id)
end

return _M
