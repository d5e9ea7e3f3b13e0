-- The checks of fuzz_contract: the input, decoded by omni.json, is a
-- plugin's fields, written into a contract with what the gateway knows;
-- or an array [fields, known, extra, gw] that also says what the gateway
-- knows.  encode returns the contract's text or nil and a message; it
-- raises only "bad argument" for what the host's own types rule out.  A
-- text must decode and pass omni.contract.validate.

local json = require "omni.json"
local contract = require "omni.contract"

local KNOWN = {
    request_id = "r-1",
    received_at = 1795540000123,
    channel = "web",
    client_ip = "203.0.113.7",
    user_agent = "fuzz/1.0",
    principal = {
        subject = "alice",
        issuer = "https://idp.example.com",
        roles = { "customer", "vip" },
    },
}

local GW = {
    customer_id = "c-1",
    session = {
        id = "s-1",
        new = false,
        created_at = 1795540000000,
        last_seen_at = 1795540000100,
        channels = { "web", "app" },
        context = '{"cart":[1,2]}',
    },
}

local function check(cond, what, s)
    if not cond then
        error(what .. ": " .. string.format("%q", s), 0)
    end
end

return function(s)
    local v = json.decode(s)
    if type(v) ~= "table" then
        return
    end

    local fields, known, extra, gw = v, KNOWN, nil, GW

    if json.is_array(v) then
        fields, known, extra, gw = v[1], v[2], v[3], v[4]
        if type(fields) ~= "table" then
            return
        end
        if type(known) ~= "table" then
            known = KNOWN
        end
        if type(extra) ~= "table" then
            extra = nil
        end
        if type(gw) ~= "table" then
            gw = nil
        end
    end

    local ok, text, err = pcall(contract.encode, fields, known, extra, gw)

    if not ok then
        check(type(text) == "string" and text:find("^bad argument"),
              "encode raised " .. tostring(text), s)
        return
    end

    if text == nil then
        check(type(err) == "string" and #err > 0,
              "encode failed without a message", s)
        return
    end

    check(type(text) == "string", "encode returned no text", s)

    local doc, derr = json.decode(text)
    check(type(doc) == "table", "the contract does not decode ("
          .. tostring(derr) .. ")", s)

    local valid, verr = contract.validate(doc)
    check(valid == true, "the contract is not valid (" .. tostring(verr)
          .. ")", s)
end
