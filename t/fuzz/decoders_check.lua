-- The checks of fuzz_lua_decoders, on every input:
--   omni.xml: decode returns a tree or nil and a message, never raises;
--   fields() takes any tree it returns; a tree written back with
--   element() and cdata() decodes to the same tree; decode_fields
--   fails as decode does, with its message, and otherwise gives what
--   fields() makes of the tree and the root's name;
--   omni.form: decode returns the pairs or nil and a message; what
--   encode writes of them decodes to the same pairs; unescape undoes
--   escape.

local xml = require "omni.xml"
local form = require "omni.form"

local function check(cond, what, s)
    if not cond then
        error(what .. ": " .. string.format("%q", s), 0)
    end
end

local function write(node)
    local parts = {}
    for i, child in ipairs(node.children) do
        parts[i] = write(child)
    end
    if node.text ~= "" then
        parts[#parts + 1] = xml.cdata(node.text)
    end
    return xml.element(node.name, parts, node.attrs)
end

local function same(a, b)
    if type(a) ~= "table" or type(b) ~= "table" then
        return a == b
    end
    for k, v in pairs(a) do
        if not same(v, b[k]) then
            return false
        end
    end
    for k in pairs(b) do
        if a[k] == nil then
            return false
        end
    end
    return true
end

local function check_xml(s)
    local ok, doc, err = pcall(xml.decode, s)
    check(ok, "xml.decode raised " .. tostring(doc), s)

    local fok, fields, root = pcall(xml.decode_fields, s)
    check(fok, "xml.decode_fields raised " .. tostring(fields), s)

    if doc == nil then
        check(type(err) == "string" and err:find("^xml: "),
              "xml.decode failed without a message", s)
        check(fields == nil and root == err,
              "xml.decode_fields fails otherwise than decode", s)
        return
    end

    local flat
    ok, flat = pcall(xml.fields, doc)
    check(ok, "xml.fields raised " .. tostring(flat), s)
    check(same(fields, flat) and root == doc.name,
          "xml.decode_fields differs from fields(decode())", s)

    local text = write(doc)
    local again, aerr = xml.decode(text)
    check(again ~= nil, "a written tree does not decode (" .. tostring(aerr)
          .. ")", s)
    check(same(doc, again), "a written tree decodes to another tree", s)
end

local function check_form(s)
    local ok, t, all = pcall(form.decode, s)
    check(ok, "form.decode raised " .. tostring(t), s)

    if t == nil then
        check(type(all) == "string", "form.decode failed without a message",
              s)
        return
    end

    local t2, all2 = form.decode(form.encode(all))
    check(t2 ~= nil and same(t, t2) and same(all, all2),
          "encoded pairs decode to other pairs", s)

    check(form.unescape(form.escape(s)) == s, "unescape(escape(s)) ~= s", s)
end

return function(s)
    check_xml(s)
    check_form(s)
end
