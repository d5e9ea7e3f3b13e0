--- What the channels share about the customer's own cases (docs/cases.md,
-- "The customer's own queries"): the gateway answers `case.list` and
-- `case.get` itself with a unified reply (`data.cases` or `data.case`);
-- the channels that speak or send text say it in a sentence.
--
-- @module omni.cases

local type, ipairs = type, ipairs
local find, gsub, sub = string.find, string.gsub, string.sub
local concat = table.concat

local _M = { _VERSION = "1.0" }

local MAX_LIST = 20          -- what the gateway answers at most
local MAX_TEXT = 200         -- of the latest update, in a sentence

local STATUS = {
    new = "received", open = "being handled",
    pending = "waiting for your answer", on_hold = "being handled",
    resolved = "resolved", closed = "closed",
}


--- A case id as a caller types or keys it: 10 digits, with spaces or
-- dashes between them if any.  The check digit is the gateway's to check.
-- @param s
-- @treturn string|nil the 10 digits
function _M.id_of(s)
    if type(s) ~= "string" or #s > 40 then
        return nil
    end
    local digits = gsub(s, "[%s%-]", "")
    if find(digits, "^%d%d%d%d%d%d%d%d%d%d$") then
        return digits
    end
    return nil
end


-- "4821093756", or "4 8 2 1 0 9 3 7 5 6" to be spoken digit by digit
local function id_text(id, spoken)
    if type(id) ~= "string" then
        return "?"
    end
    if spoken then
        return (gsub(id, "(%d)", "%1 "):gsub(" $", ""))
    end
    return id
end


local function one(c, spoken)
    local status = STATUS[c.status] or "in progress"
    local category = type(c.category) == "string" and c.category or "case"
    return "Case " .. id_text(c.id, spoken) .. " (" .. gsub(category, "_", " ")
           .. ") is " .. status .. "."
end


--- The sentence of a gateway's case answer, or nil when data is none.
-- @param data reply.data
-- @param spoken digits one by one (speech)
-- @treturn string|nil
function _M.summary(data, spoken)
    if type(data) ~= "table" then
        return nil
    end
    if type(data.cases) == "table" then
        local parts = {}
        for i, c in ipairs(data.cases) do
            if i > MAX_LIST or type(c) ~= "table" then
                break
            end
            parts[#parts + 1] = one(c, spoken)
        end
        if #parts == 0 then
            return "You have no case with us."
        end
        return (#parts == 1 and "You have one case. "
                or "You have " .. #parts .. " cases. ") .. concat(parts, " ")
    end
    if type(data.case) == "table" then
        local c = data.case
        local text = one(c, spoken)
        local events = type(c.events) == "table" and c.events or {}
        for i = #events, 1, -1 do
            local e = events[i]
            if type(e) == "table" and e.kind == "note"
               and type(e.text) == "string" then
                local note = gsub(e.text, "%s+", " ")
                if #note > MAX_TEXT then
                    note = sub(note, 1, MAX_TEXT) .. "..."
                end
                text = text .. " Latest update: " .. note
                break
            end
        end
        return text
    end
    return nil
end


return _M
