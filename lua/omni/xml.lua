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

local type, pairs, error, pcall, tostring, tonumber, setmetatable,
      getmetatable =
      type, pairs, error, pcall, tostring, tonumber, setmetatable,
      getmetatable
local byte, sub, find, gsub =
      string.byte, string.sub, string.find, string.gsub
local concat, sort = table.concat, table.sort

local utf8 = require "omni.utf8"
local utf8_valid = utf8.is_valid
local utf8_char = utf8.encode_unchecked

local _M = { _VERSION = "1.0" }

local MAX_DEPTH = 32
local MAX_ELEMENTS = 10000
local MAX_ATTRS = 64

--- Limits: nesting depth, elements per document, attributes per element.
_M.MAX_DEPTH = MAX_DEPTH
_M.MAX_ELEMENTS = MAX_ELEMENTS
_M.MAX_ATTRS = MAX_ATTRS

local NAME = "^[%a_:\128-\255][%w_:%.%-\128-\255]*"
local NAME_ONLY = NAME .. "$"

local ENTITIES = {
    lt = "<", gt = ">", amp = "&", quot = '"', apos = "'",
}

local fail_mt = {}

local function fail(msg, pos)
    error(setmetatable({ msg = msg, pos = pos }, fail_mt), 0)
end

-- XML 1.0 Char production
local function is_xml_char(cp)
    return cp == 0x9 or cp == 0xA or cp == 0xD
           or (cp >= 0x20 and cp <= 0xD7FF)
           or (cp >= 0xE000 and cp <= 0xFFFD)
           or (cp >= 0x10000 and cp <= 0x10FFFF)
end

local function decode_entities(text, pos)
    if not find(text, "&", 1, true) then
        return text
    end
    local buf, n, i = {}, 0, 1
    while true do
        local a = find(text, "&", i, true)
        if not a then
            break
        end
        local _, e, ref = find(text, "^&(#?[%w]+);", a)
        if not e or #ref > 10 then
            fail("malformed entity or bare '&'", pos + a - 1)
        end
        local c
        if byte(ref) == 35 then                         -- '#'
            local cp
            if find(ref, "^#x%x+$") then
                cp = tonumber(sub(ref, 3), 16)
            elseif find(ref, "^#%d+$") then
                cp = tonumber(sub(ref, 2), 10)
            end
            if not cp or not is_xml_char(cp) then
                fail("invalid character reference &" .. ref .. ";",
                     pos + a - 1)
            end
            c = utf8_char(cp)
        else
            c = ENTITIES[ref]
            if not c then
                fail("unknown entity &" .. ref .. ";", pos + a - 1)
            end
        end
        if a > i then
            n = n + 1
            buf[n] = sub(text, i, a - 1)
        end
        n = n + 1
        buf[n] = c
        i = e + 1
    end
    n = n + 1
    buf[n] = sub(text, i)
    return concat(buf, "", 1, n)
end

-- parses the attributes and the end of a start tag; pos is after the
-- name; returns the position after the tag and whether it stays open
local function parse_attrs(s, pos, attrs)
    local count = 0
    while true do
        local _, we = find(s, "^[ \t\r\n]*", pos)
        local spaced = we >= pos
        pos = we + 1
        local c = byte(s, pos)
        if c == 62 then                                 -- '>'
            return pos + 1, true
        elseif c == 47 then                             -- '/'
            if byte(s, pos + 1) ~= 62 then
                fail("'>' expected after '/'", pos + 1)
            end
            return pos + 2, false
        elseif c == nil then
            fail("unterminated start tag", pos)
        elseif not spaced then
            fail("whitespace expected before an attribute", pos)
        end

        local _, ne = find(s, NAME, pos)
        if not ne then
            fail("attribute name expected", pos)
        end
        local name = sub(s, pos, ne)
        local _, eq = find(s, "^[ \t\r\n]*=[ \t\r\n]*", ne + 1)
        if not eq then
            fail("'=' expected after attribute '" .. name .. "'", ne + 1)
        end
        local q = byte(s, eq + 1)
        if q ~= 34 and q ~= 39 then
            fail("quoted value expected for attribute '" .. name .. "'",
                 eq + 1)
        end
        local close = find(s, q == 34 and '"' or "'", eq + 2, true)
        if not close then
            fail("unterminated value of attribute '" .. name .. "'", eq + 1)
        end
        local raw = sub(s, eq + 2, close - 1)
        if find(raw, "<", 1, true) then
            fail("'<' in the value of attribute '" .. name .. "'", eq + 2)
        end
        if attrs[name] ~= nil then
            fail("duplicate attribute '" .. name .. "'", pos)
        end
        count = count + 1
        if count > MAX_ATTRS then
            fail("too many attributes (more than " .. MAX_ATTRS .. ")", pos)
        end
        -- attribute-value normalization: literal whitespace to spaces
        raw = gsub(raw, "[\t\n\r]", " ")
        attrs[name] = decode_entities(raw, eq + 2)
        pos = close + 1
    end
end

local function parse(s)
    local len = #s
    if not utf8_valid(s) then
        fail("document is not valid UTF-8", 1)
    end
    local nul = find(s, "\0", 1, true)
    if nul then
        fail("NUL character (U+0000) in the document", nul)
    end

    local pos = 1
    if sub(s, 1, 3) == "\239\187\191" then
        pos = 4
    end

    local root
    local stack, bufs, counts = {}, {}, {}
    local depth, elements = 0, 0

    while pos <= len do
        local lt = find(s, "<", pos, true)
        local text_end = (lt or len + 1) - 1

        if text_end >= pos then
            local text = sub(s, pos, text_end)
            if depth == 0 then
                if find(text, "[^ \t\r\n]") then
                    fail("text outside the root element", pos)
                end
            else
                local n = counts[depth] + 1
                counts[depth] = n
                bufs[depth][n] = decode_entities(text, pos)
            end
        end

        if not lt then
            break
        end

        local b = byte(s, lt + 1)

        if b == 33 then                                 -- '<!'
            if sub(s, lt, lt + 3) == "<!--" then
                local e = find(s, "-->", lt + 4, true)
                if not e then
                    fail("unterminated comment", lt)
                end
                pos = e + 3

            elseif sub(s, lt, lt + 8) == "<![CDATA[" then
                if depth == 0 then
                    fail("CDATA section outside the root element", lt)
                end
                local e = find(s, "]]>", lt + 9, true)
                if not e then
                    fail("unterminated CDATA section", lt)
                end
                local n = counts[depth] + 1
                counts[depth] = n
                bufs[depth][n] = sub(s, lt + 9, e - 1)
                pos = e + 3

            elseif sub(s, lt, lt + 8) == "<!DOCTYPE" then
                fail("DOCTYPE declarations are not allowed", lt)

            elseif sub(s, lt, lt + 7) == "<!ENTITY" then
                fail("ENTITY declarations are not allowed", lt)

            else
                fail("markup declarations are not allowed", lt)
            end

        elseif b == 63 then                             -- '<?'
            local e = find(s, "?>", lt + 2, true)
            if not e then
                fail("unterminated processing instruction", lt)
            end
            pos = e + 2

        elseif b == 47 then                             -- '</'
            local _, ne = find(s, NAME, lt + 2)
            if not ne then
                fail("element name expected in closing tag", lt + 2)
            end
            local name = sub(s, lt + 2, ne)
            if depth == 0 then
                fail("unexpected closing tag </" .. name .. ">", lt)
            end
            local node = stack[depth]
            if name ~= node.name then
                fail("closing tag </" .. name .. "> does not match <"
                     .. node.name .. ">", lt)
            end
            local _, e = find(s, "^[ \t\r\n]*>", ne + 1)
            if not e then
                fail("'>' expected in closing tag", ne + 1)
            end
            local n = counts[depth]
            if n == 1 then
                node.text = bufs[depth][1]
            elseif n > 1 then
                node.text = concat(bufs[depth], "", 1, n)
            end
            stack[depth], bufs[depth], counts[depth] = nil, nil, nil
            depth = depth - 1
            pos = e + 1

        else                                            -- start tag
            local _, ne = find(s, NAME, lt + 1)
            if not ne then
                fail("element name expected after '<'", lt + 1)
            end
            if depth == 0 and root then
                fail("more than one root element", lt)
            end
            if depth >= MAX_DEPTH then
                fail("too deeply nested (more than " .. MAX_DEPTH
                     .. " levels)", lt)
            end
            elements = elements + 1
            if elements > MAX_ELEMENTS then
                fail("too many elements (more than " .. MAX_ELEMENTS .. ")",
                     lt)
            end

            local node = {
                name = sub(s, lt + 1, ne),
                attrs = {},
                children = {},
                text = "",
            }
            local open
            pos, open = parse_attrs(s, ne + 1, node.attrs)

            if depth == 0 then
                root = node
            else
                local children = stack[depth].children
                children[#children + 1] = node
            end
            if open then
                depth = depth + 1
                stack[depth], bufs[depth], counts[depth] = node, {}, 0
            end
        end
    end

    if depth > 0 then
        fail("unclosed element <" .. stack[depth].name .. ">", len + 1)
    end
    if not root then
        fail("no root element", 1)
    end
    return root
end


--- Parses an XML document.
-- @tparam string s the document
-- @treturn table|nil the root element: `{ name = "xml", attrs = {...},
--   children = { <elements> }, text = "<its own character data>" }`
--   (text joins the element's direct text and CDATA, entities decoded)
-- @treturn string|nil the error, e.g. `"xml: DOCTYPE declarations are
--   not allowed at byte 22"`
-- @usage local doc, err = xml.decode(req.raw_body)
function _M.decode(s)
    if type(s) ~= "string" then
        error("bad argument #1 to 'decode' (string expected, got "
              .. type(s) .. ")", 2)
    end
    local ok, v = pcall(parse, s)
    if ok then
        return v
    end
    if getmetatable(v) == fail_mt then
        return nil, "xml: " .. v.msg .. " at byte " .. v.pos
    end
    error(v, 0)         -- CPU budget or memory: let it through
end


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
    return "<![CDATA[" .. gsub(s, "%]%]>", "]]]]><![CDATA[>") .. "]]>"
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
