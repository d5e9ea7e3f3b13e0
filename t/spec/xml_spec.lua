-- omni.xml: safe parsing of channel XML, and writing it.

local xml = require "omni.xml"

local WECHAT_TEXT = [==[
<xml>
  <ToUserName><![CDATA[gh_3a2b1c0d9e8f]]></ToUserName>
  <FromUserName><![CDATA[o6_bmjrPTlm6_2sgVt7hMZOPfL2M]]></FromUserName>
  <CreateTime>1795540000</CreateTime>
  <MsgType><![CDATA[text]]></MsgType>
  <Content><![CDATA[查询订单 <1234> & more]]></Content>
  <MsgId>24567890123456789</MsgId>
</xml>
]==]

local WECHAT_EVENT = [==[<xml><ToUserName><![CDATA[gh_1]]></ToUserName>
<FromUserName><![CDATA[o6_x]]></FromUserName><CreateTime>1</CreateTime>
<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[scancode_push]]></Event>
<EventKey><![CDATA[rselfmenu_0_1]]></EventKey>
<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>
</xml>]==]

local function fails(s, pattern)
    local doc, err = xml.decode(s)
    assert.is_nil(doc, "parsed: " .. s:sub(1, 80))
    assert.is_string(err)
    if pattern then
        assert.matches(pattern, err, 1, true)
    end
    return err
end

describe("omni.xml.decode", function()
    it("parses a WeChat text push with CDATA", function()
        local doc = assert(xml.decode(WECHAT_TEXT))
        assert.equal("xml", doc.name)
        assert.equal(6, #doc.children)
        assert.equal("ToUserName", doc.children[1].name)
        assert.equal("gh_3a2b1c0d9e8f", doc.children[1].text)
        local f = xml.fields(doc)
        assert.same({
            ToUserName = "gh_3a2b1c0d9e8f",
            FromUserName = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
            CreateTime = "1795540000",
            MsgType = "text",
            Content = "查询订单 <1234> & more",
            MsgId = "24567890123456789",
        }, f)
    end)

    it("nests fields for elements with children", function()
        local f = xml.fields(assert(xml.decode(WECHAT_EVENT)))
        assert.equal("scancode_push", f.Event)
        assert.same({ ScanType = "qrcode", ScanResult = "1" }, f.ScanCodeInfo)
    end)

    it("decodes the fields alone as fields() makes them of the tree", function()
        for _, doc in ipairs({
            WECHAT_EVENT,
            "<xml><A>1</A><A>2</A><B x='1'/><C><D>d</D><E/></C>mixed</xml>",
            "<r><a><b/></a><a>last</a></r>",
            "<r><a>first</a><a><b>x</b></a></r>",
            "<r/>", "<r>only text</r>", "<r><a><b><c>deep</c></b></a></r>",
        }) do
            local f, root = xml.decode_fields(doc)
            local tree = assert(xml.decode(doc))
            assert.same(xml.fields(tree), f, doc)
            assert.equal(tree.name, root)
        end
        for _, bad in ipairs({ "<r", "<r><a></r>", "", "<a/><b/>",
                               '<!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>' }) do
            local f, err = xml.decode_fields(bad)
            local _, derr = xml.decode(bad)
            assert.is_nil(f)
            assert.equal(derr, err)
        end
        assert.has_error(function() xml.decode_fields(1) end)
    end)

    it("lets the last repeated element win in fields", function()
        local doc = assert(xml.decode("<r><a>1</a><a>2</a></r>"))
        assert.equal("2", xml.fields(doc).a)
        assert.equal(2, #doc.children)
    end)

    it("accepts the XML declaration, comments and PIs", function()
        local doc = assert(xml.decode('<?xml version="1.0" encoding="UTF-8"?>\n'
            .. "<!-- a comment --><r><?pi data?><a>x<!-- c --></a></r>\n<!-- end -->"))
        assert.equal("x", xml.fields(doc).a)
    end)

    it("ignores a UTF-8 byte order mark", function()
        assert.equal("r", assert(xml.decode("\239\187\191<r/>")).name)
    end)

    it("decodes the predefined entities", function()
        local doc = assert(xml.decode("<a>&lt;&gt;&amp;&quot;&apos;</a>"))
        assert.equal([[<>&"']], doc.text)
    end)

    it("decodes decimal and hex references", function()
        local doc = assert(xml.decode("<a>&#65;&#x42;&#20013;&#x1F600;&#9;</a>"))
        assert.equal("AB中😀\t", doc.text)
    end)

    it("does not decode entities inside CDATA", function()
        local doc = assert(xml.decode("<a><![CDATA[&amp;<b>]]>&amp;</a>"))
        assert.equal("&amp;<b>&", doc.text)
    end)

    it("joins text around children and CDATA", function()
        local doc = assert(xml.decode("<a>x<b>y</b>z<![CDATA[w]]></a>"))
        assert.equal("xzw", doc.text)
        assert.equal("y", doc.children[1].text)
    end)

    it("parses attributes, either quote, with entities", function()
        local doc = assert(xml.decode([[<r a="1" b = 'x&amp;"y"' c="t&#10;u
v"><e k="v"/></r>]]))
        assert.same({ a = "1", b = 'x&"y"', c = "t\nu v" }, doc.attrs)
        assert.same({ k = "v" }, doc.children[1].attrs)
        assert.equal("", doc.children[1].text)
    end)

    it("keeps namespace prefixes", function()
        local doc = assert(xml.decode('<s:Env xmlns:s="urn:x"><s:Body>b</s:Body></s:Env>'))
        assert.equal("s:Env", doc.name)
        assert.equal("urn:x", doc.attrs["xmlns:s"])
        assert.equal("b", xml.fields(doc)["s:Body"])
    end)

    it("accepts whitespace before '>' in closing tags", function()
        assert.is_table(xml.decode("<a>1</a  >"))
    end)

    it("accepts 32 levels of nesting", function()
        assert.is_table(xml.decode(string.rep("<a>", 32) .. string.rep("</a>", 32)))
    end)

    describe("refuses", function()
        it("DOCTYPE (XXE, billion laughs)", function()
            fails([[<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>]],
                  "DOCTYPE declarations are not allowed")
            fails([[<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>]],
                  "DOCTYPE declarations are not allowed")
        end)

        it("ENTITY and other declarations", function()
            fails([[<!ENTITY a "b"><r/>]], "ENTITY declarations are not allowed")
            fails([[<r><!ENTITY a "b"></r>]], "ENTITY declarations are not allowed")
            fails([[<r><!ELEMENT r ANY></r>]], "markup declarations are not allowed")
        end)

        it("unknown entities and bare ampersands", function()
            fails("<a>&xxe;</a>", "unknown entity &xxe;")
            fails("<a>&nbsp;</a>", "unknown entity &nbsp;")
            fails("<a>a & b</a>", "malformed entity or bare '&'")
            fails("<a>&amp</a>", "malformed entity")
            fails('<a k="&foo;"/>', "unknown entity &foo;")
        end)

        it("a NUL byte, in text, CDATA or an attribute", function()
            fails("<a>x\0y</a>", "NUL character (U+0000) in the document at byte 5")
            fails("<a><![CDATA[\0]]></a>", "NUL character (U+0000)")
            fails('<a k="\0"/>', "NUL character (U+0000)")
        end)

        it("character references XML forbids", function()
            fails("<a>&#0;</a>", "invalid character reference")
            fails("<a>&#x1;</a>", "invalid character reference")
            fails("<a>&#xD800;</a>", "invalid character reference")
            fails("<a>&#xFFFE;</a>", "invalid character reference")
            fails("<a>&#x110000;</a>", "invalid character reference")
            fails("<a>&#99999999999;</a>", "malformed entity")
            fails("<a>&#1114112;</a>", "invalid character reference")
            fails("<a>&#xZZ;</a>", "invalid character reference")
            fails("<a>&#X41;</a>", "invalid character reference")
        end)

        it("unbalanced tags", function()
            fails("<a><b></a></b>", "closing tag </a> does not match <b>")
            fails("<a>", "unclosed element <a>")
            fails("<a><b></b>", "unclosed element <a>")
            fails("</a>", "unexpected closing tag </a>")
            fails("<a></a></a>", "unexpected closing tag </a>")
            fails("<a></A>", "does not match")
        end)

        it("a depth bomb", function()
            fails(string.rep("<a>", 33) .. string.rep("</a>", 33), "too deeply nested")
            fails(string.rep("<a>", 100000), "too deeply nested")
        end)

        it("too many elements and attributes", function()
            fails("<r>" .. string.rep("<a/>", 10000) .. "</r>", "too many elements")
            local attrs = {}
            for i = 1, 65 do
                attrs[i] = "a" .. i .. '="1"'
            end
            fails("<r " .. table.concat(attrs, " ") .. "/>", "too many attributes")
        end)

        it("text and elements outside the root", function()
            fails("text<a/>", "text outside the root element")
            fails("<a/>text", "text outside the root element")
            fails("<a/><b/>", "more than one root element")
            fails("<![CDATA[x]]><a/>", "CDATA section outside the root element")
        end)

        it("empty documents", function()
            fails("", "no root element")
            fails("  <!-- only a comment -->  ", "no root element")
        end)

        it("malformed tags", function()
            fails("<>", "element name expected")
            fails("<1a/>", "element name expected")
            fails("<a", "unterminated start tag")
            fails("<a b>", "'=' expected after attribute 'b'")
            fails("<a b=c/>", "quoted value expected")
            fails('<a b="c/>', "unterminated value")
            fails('<a b="1"c="2"/>', "whitespace expected before an attribute")
            fails('<a b="1" b="2"/>', "duplicate attribute 'b'")
            fails('<a b="<"/>', "'<' in the value")
            fails("<a / >", "'>' expected after '/'")
            fails("<a></a", "'>' expected in closing tag")
            fails("<a></>", "element name expected in closing tag")
        end)

        it("unterminated comments, CDATA and PIs", function()
            fails("<a><!-- x</a>", "unterminated comment")
            fails("<a><![CDATA[x</a>", "unterminated CDATA section")
            fails("<a><?pi </a>", "unterminated processing instruction")
        end)

        it("invalid UTF-8", function()
            fails("<a>\255</a>", "not valid UTF-8")
            -- a GBK document, whatever it declares
            fails('<?xml version="1.0" encoding="GBK"?><a>\214\208</a>', "not valid UTF-8")
        end)

        it("says where the error is", function()
            assert.equal("xml: unknown entity &x; at byte 5", fails("<a>x&x;</a>"))
        end)

        it("non-string arguments (raises)", function()
            assert.has_error(function() xml.decode(nil) end,
                "bad argument #1 to 'decode' (string expected, got nil)")
        end)
    end)
end)

describe("omni.xml.fields", function()
    it("raises for something that is not a node", function()
        assert.has_error(function() xml.fields(nil) end)
        assert.has_error(function() xml.fields({}) end)
    end)
end)

describe("omni.xml writing", function()
    it("escapes the five special characters", function()
        assert.equal("&lt;a&gt; &amp; &quot;b&quot; &apos;c&apos;",
                     xml.escape([[<a> & "b" 'c']]))
        assert.has_error(function() xml.escape(1) end)
    end)

    it("strips the characters XML forbids", function()
        assert.equal("a\tb\nc\rd", xml.strip("a\0\1\tb\8\n\11c\12\r\14d\31"))
        assert.equal("\127 \194\128 你好", xml.strip("\127 \194\128 你好"))
        assert.has_error(function() xml.strip(nil) end)
    end)

    it("wraps CDATA, splitting ']]>'", function()
        assert.equal("<![CDATA[x]]>", xml.cdata("x"))
        local s = xml.cdata("a]]>b")
        assert.equal("<![CDATA[a]]]]><![CDATA[>b]]>", s)
        assert.equal("a]]>b", assert(xml.decode("<r>" .. s .. "</r>")).text)
        assert.has_error(function() xml.cdata(nil) end)
    end)

    it("builds elements with text, children and attributes", function()
        assert.equal("<a>x &amp; y</a>", xml.element("a", "x & y"))
        assert.equal("<a>12</a>", xml.element("a", 12))
        assert.equal("<a/>", xml.element("a"))
        assert.equal("<a></a>", xml.element("a", ""))
        assert.equal('<a k="1" z="&quot;"><b/><![CDATA[c]]></a>',
                     xml.element("a", { xml.element("b"), xml.cdata("c") },
                                 { z = '"', k = 1 }))
    end)

    -- a reader turns literal tabs and newlines in a value into spaces
    it("writes whitespace in attribute values as references", function()
        local s = xml.element("a", nil, { k = "x\ty\nz\r " })
        assert.equal('<a k="x&#9;y&#10;z&#13; "/>', s)
        assert.equal("x\ty\nz\r ", assert(xml.decode(s)).attrs.k)
    end)

    it("round-trips a WeChat reply", function()
        local s = xml.element("xml", {
            xml.element("ToUserName", { xml.cdata("o6_x") }),
            xml.element("FromUserName", { xml.cdata("gh_1") }),
            xml.element("CreateTime", 1795540000),
            xml.element("MsgType", { xml.cdata("text") }),
            xml.element("Content", { xml.cdata("你好 <b> & ]]> bye") }),
        })
        local f = xml.fields(assert(xml.decode(s)))
        assert.equal("你好 <b> & ]]> bye", f.Content)
        assert.equal("1795540000", f.CreateTime)
    end)

    it("raises for invalid names and contents", function()
        assert.has_error(function() xml.element("1a", "x") end)
        assert.has_error(function() xml.element("a b", "x") end)
        assert.has_error(function() xml.element("a", true) end)
        assert.has_error(function() xml.element("a", { 1 }) end)
        assert.has_error(function() xml.element("a", "x", { ["b c"] = "1" }) end)
        assert.has_error(function() xml.element("a", "x", { b = {} }) end)
        assert.has_error(function() xml.element("a", "x", "b") end)
    end)
end)
