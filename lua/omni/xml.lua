--- A small, safe XML parser for the shallow documents channels send
-- (WeChat official-account pushes, TwiML-like payloads), and helpers to
-- write XML.
--
-- What it accepts: one root element; elements, attributes (single or
-- double quoted), character data, CDATA sections, comments, processing
-- instructions (skipped, including the `<?xml ...?>` declaration), the
-- five predefined entities and numeric character references. The
-- document must be UTF-8.
--
-- What it refuses, with `nil, err`: DOCTYPE and every other `<!...>`
-- declaration (so no entity expansion, no external entities: XXE and
-- "billion laughs" are impossible), unknown entities, a bare `&`,
-- references to characters XML forbids, a NUL byte (U+0000, which XML
-- forbids too), unbalanced or unclosed tags,
-- text or a second element outside the root, duplicate attributes,
-- nesting deeper than 32 levels, more than 10000 elements or more than
-- 64 attributes on one element.
--
-- Namespaces are not interpreted: a prefixed name (`soap:Body`) is
-- kept as it is written.
--
-- @module omni.xml

local type, pairs, error, tostring = type, pairs, error, tostring
local find, gsub = string.find, string.gsub
local concat, sort = table.concat, table.sort

-- the parser is native (module/omni_xml.c, omni_lua_xml.c): every XML
-- push goes through it, and in Lua it was most of a push's cost
local native = require "omni_xml_native"

local _M = { _VERSION = "1.0" }

local MAX_DEPTH = native.MAX_DEPTH

--- Limits: nesting depth, elements per document, attributes per element.
_M.MAX_DEPTH = MAX_DEPTH
_M.MAX_ELEMENTS = native.MAX_ELEMENTS
_M.MAX_ATTRS = native.MAX_ATTRS

local NAME_ONLY = "^[%a_:\128-\255][%w_:%.%-\128-\255]*$"


--- Parses an XML document.
-- @function decode
-- @tparam string s the document
-- @treturn table|nil the root element: `{ name = "xml", attrs = {...},
--   children = { <elements> }, text = "<its own character data>" }`
--   (text joins the element's direct text and CDATA, entities decoded)
-- @treturn string|nil the error, e.g. `"xml: DOCTYPE declarations are
--   not allowed at byte 22"`
-- @usage local doc, err = xml.decode(req.raw_body)
_M.decode = native.decode


--- Parses an XML document into what `fields` makes of its tree, without
-- the tree: as `xml.fields(xml.decode(s))`, a table per element that has
-- children and none for the others.  Refuses what `decode` refuses, with
-- the same message.
-- @function decode_fields
-- @tparam string s the document
-- @treturn table|nil the fields
-- @treturn string the root element's name; or the error
-- @usage local f, root = xml.decode_fields(req.raw_body)
_M.decode_fields = native.decode_fields


local function fields(node, depth)
    local t = {}
    local children = node.children
    for i = 1, #children do
        local child = children[i]
        if #child.children == 0 or depth >= MAX_DEPTH then
            t[child.name] = child.text
        else
            t[child.name] = fields(child, depth + 1)
        end
    end
    return t
end


--- Flattens a decoded document: child element name -> its text (CDATA
-- unwrapped, entities decoded). A child that has children of its own
-- becomes a nested table built the same way. When a name repeats, the
-- last element wins (walk `doc.children` for lists).
-- @tparam table doc a node from `decode`
-- @treturn table
-- @usage local f = xml.fields(xml.decode(body)); print(f.MsgType)
function _M.fields(doc)
    if type(doc) ~= "table" or type(doc.children) ~= "table" then
        error("bad argument #1 to 'fields' (decoded XML node expected)", 2)
    end
    return fields(doc, 1)
end


local ESCAPES = {
    ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
    ['"'] = "&quot;", ["'"] = "&apos;",
}

-- in attribute values, literal whitespace would be read back as spaces
local ATTR_ESCAPES = {
    ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
    ['"'] = "&quot;", ["'"] = "&apos;",
    ["\t"] = "&#9;", ["\n"] = "&#10;", ["\r"] = "&#13;",
}


--- Escapes `& < > " '` for use in XML text or attribute values (in an
-- attribute value a reader turns literal tabs and newlines into spaces:
-- `element` writes them as character references).
-- @tparam string s
-- @treturn string
function _M.escape(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'escape' (string expected, got "
              .. type(s) .. ")", 2)
    end
    -- most text has nothing to escape: find() makes no new string
    if not find(s, "[&<>\"']") then
        return s
    end
    return (gsub(s, "[&<>\"']", ESCAPES))
end


--- Removes the characters XML 1.0 forbids (the C0 controls but tab, LF
-- and CR): what a plugin does to a service's text before writing it in
-- an element or a CDATA section.
-- @tparam string s
-- @treturn string
function _M.strip(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'strip' (string expected, got "
              .. type(s) .. ")", 2)
    end
    if not find(s, "[%z\1-\8\11\12\14-\31]") then
        return s
    end
    return (gsub(s, "[%z\1-\8\11\12\14-\31]", ""))
end


--- Wraps text in a CDATA section (a `]]>` inside is split safely).
-- Use it as a child of `element`.
-- @tparam string s
-- @treturn string
-- @usage xml.element("Content", { xml.cdata("hello") })
function _M.cdata(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'cdata' (string expected, got "
              .. type(s) .. ")", 2)
    end
    if find(s, "]]>", 1, true) then
        s = gsub(s, "%]%]>", "]]]]><![CDATA[>")
    end
    return "<![CDATA[" .. s .. "]]>"
end


--- Builds an element.
-- @tparam string name the element name
-- @param[opt] content a string or number (escaped), or an array of
--   already-built markup strings (children from `element`/`cdata`),
--   or nil for an empty element `<name/>`
-- @tparam[opt] table attrs attribute name -> string or number (escaped,
--   tabs and newlines as references, written in sorted order)
-- @treturn string
-- @usage xml.element("xml", {
--     xml.element("ToUserName", { xml.cdata(openid) }),
--     xml.element("CreateTime", 1795540000),
-- })
function _M.element(name, content, attrs)
    if type(name) ~= "string" or not find(name, NAME_ONLY) then
        error("bad argument #1 to 'element' (XML name expected)", 2)
    end

    local a = ""
    if attrs ~= nil then
        if type(attrs) ~= "table" then
            error("bad argument #3 to 'element' (table expected, got "
                  .. type(attrs) .. ")", 2)
        end
        local keys, nk = {}, 0
        for k, v in pairs(attrs) do
            if type(k) ~= "string" or not find(k, NAME_ONLY) then
                error("bad argument #3 to 'element' (invalid attribute name "
                      .. tostring(k) .. ")", 2)
            end
            local tv = type(v)
            if tv ~= "string" and tv ~= "number" then
                error("bad argument #3 to 'element' (attribute '" .. k
                      .. "' is a " .. tv .. ")", 2)
            end
            nk = nk + 1
            keys[nk] = k
        end
        sort(keys)
        local buf = {}
        for i = 1, nk do
            local k = keys[i]
            buf[i] = " " .. k .. '="'
                     .. gsub(tostring(attrs[k]), "[&<>\"'\t\n\r]",
                             ATTR_ESCAPES) .. '"'
        end
        a = concat(buf, "", 1, nk)
    end

    local tc = type(content)
    if content == nil then
        return "<" .. name .. a .. "/>"
    elseif tc == "string" or tc == "number" then
        return "<" .. name .. a .. ">"
               .. gsub(tostring(content), "[&<>\"']", ESCAPES)
               .. "</" .. name .. ">"
    elseif tc == "table" then
        local n = #content
        for i = 1, n do
            if type(content[i]) ~= "string" then
                error("bad argument #2 to 'element' (child " .. i
                      .. " is a " .. type(content[i]) .. ")", 2)
            end
        end
        return "<" .. name .. a .. ">" .. concat(content, "", 1, n)
               .. "</" .. name .. ">"
    end
    error("bad argument #2 to 'element' (string, number, table or nil "
          .. "expected, got " .. tc .. ")", 2)
end


return _M
