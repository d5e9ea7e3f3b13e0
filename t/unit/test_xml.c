/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the XML parser (omni_xml.c): the events it reports, the
 * text it decodes, every refusal with its message and byte offset, the
 * bound on its scratch buffer, and a handler or a buffer that fails.
 */


#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "omni_xml.h"
#include "test_buf.h"


/* the events, written out: "<name", " k=v", ">text", one a line */
typedef struct {
    char        out[8192];
    size_t      len;
    int         stop_at;            /* the event that returns -1, or 0 */
    int         events;
    int         full;               /* out had no room for one */
} test_xml_t;


static test_xml_t  test_xml;
static test_buf_t  test_buf;


static void
test_put(const char *what, const u_char *s, size_t n, const u_char *v,
    size_t vn)
{
    int  w;

    if (test_xml.full) {
        return;
    }

    w = snprintf(test_xml.out + test_xml.len,
                 sizeof(test_xml.out) - test_xml.len, "%s%.*s%s%.*s\n",
                 what, (int) n, s, v ? "=" : "", (int) vn, v ? v : s);
    assert_true(w > 0);

    if ((size_t) w >= sizeof(test_xml.out) - test_xml.len) {
        test_xml.full = 1;
        return;
    }

    test_xml.len += w;
}


static int
test_event(void)
{
    return ++test_xml.events == test_xml.stop_at ? -1 : 0;
}


static int
test_start(void *data, const u_char *name, size_t len)
{
    assert_ptr_equal(data, &test_xml);
    test_put("<", name, len, NULL, 0);
    return test_event();
}


static int
test_attr(void *data, const u_char *name, size_t name_len,
    const u_char *value, size_t value_len)
{
    (void) data;
    test_put(" ", name, name_len, value, value_len);
    return test_event();
}


static int
test_end(void *data, const u_char *text, size_t len)
{
    (void) data;
    test_put(">", text, len, NULL, 0);
    return test_event();
}


static const omni_xml_handler_t  test_handler = {
    test_start, test_attr, test_end, &test_xml
};


static omni_xml_rc_t
test_parse_len(const char *s, size_t len, omni_xml_error_t *err)
{
    omni_xml_rc_t  rc;

    memset(&test_xml.out, 0, sizeof(test_xml.out));
    test_xml.len = 0;
    test_xml.events = 0;
    test_xml.full = 0;

    test_buf_reset(&test_buf);

    rc = omni_xml_parse((const u_char *) s, len, &test_buf.b, &test_handler,
                        err);

    /* decoding never lengthens text: the document bounds the buffer */
    assert_true(test_buf.max <= len);

    return rc;
}


static omni_xml_rc_t
test_parse(const char *s, omni_xml_error_t *err)
{
    return test_parse_len(s, strlen(s), err);
}


static void
test_ok(const char *s, const char *events)
{
    omni_xml_error_t  err;

    assert_int_equal(test_parse(s, &err), OMNI_XML_OK);
    assert_int_equal(err.rc, OMNI_XML_OK);
    assert_false(test_xml.full);
    assert_string_equal(test_xml.out, events);
}


/* the refusal of s, by its whole message */
static void
test_refuses_len(const char *s, size_t len, omni_xml_rc_t rc,
    const char *message)
{
    u_char            buf[512];
    size_t            n;
    omni_xml_error_t  err;

    test_xml.stop_at = 0;

    assert_int_equal(test_parse_len(s, len, &err), rc);
    assert_int_equal(err.rc, rc);

    n = omni_xml_strerror(&err, buf, sizeof(buf));
    assert_true(n < sizeof(buf));
    buf[n] = '\0';
    assert_string_equal((char *) buf, message);
}


#define test_refuses(s, rc, message)                                          \
    test_refuses_len(s, sizeof(s) - 1, rc, message)


static void
test_documents(void **state)
{
    (void) state;

    test_ok("<xml>\n  <ToUserName><![CDATA[gh_1]]></ToUserName>\n"
            "  <CreateTime>1795540000</CreateTime>\n</xml>\n",
            "<xml\n<ToUserName\n>gh_1\n<CreateTime\n>1795540000\n"
            ">\n  \n  \n\n");

    /* the declaration, comments and PIs are skipped, a BOM too */
    test_ok("\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- c --><r><?pi x?>"
            "<a>x<!-- c --></a></r>\n<!-- end -->",
            "<r\n<a\n>x\n>\n");

    /* text joins around children and CDATA; CDATA is not decoded */
    test_ok("<a>x<b>y</b>z<![CDATA[&amp;<b>]]>w</a>",
            "<a\n<b\n>y\n>xz&amp;<b>w\n");

    test_ok("<a>&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&#x1F600;&#20013;</a>",
            "<a\n><>&\"'AB\xF0\x9F\x98\x80\xE4\xB8\xAD\n");

    /* either quote; whitespace before '=' and around the name */
    test_ok("<r a=\"1\" b = 'x&amp;\"y\"' c=\"t&#10;u\nv\tw\"><e k=''/></r  >",
            "<r\n a=1\n b=x&\"y\"\n c=t\nu v w\n<e\n k=\n>\n>\n");

    /* names as written: prefixes, dots, dashes, bytes >= 0x80 */
    test_ok("<s:Env xmlns:s=\"urn:x\"><a.b-c_1/><\xE4\xB8\xAD/></s:Env>",
            "<s:Env\n xmlns:s=urn:x\n<a.b-c_1\n>\n<\xE4\xB8\xAD\n>\n>\n");

    /* empty texts before the scratch buffer has any memory */
    test_ok("<a k=''/>", "<a\n k=\n>\n");
    test_ok("<a></a>", "<a\n>\n");

    /* text that is only whitespace may stand outside the root */
    test_ok(" \t\r\n<a/> \n", "<a\n>\n");
}


static void
test_limits(void **state)
{
    char    *s;
    size_t   i, n;

    (void) state;

    s = malloc(8 + 70 * 16 + 10000 * 4);
    assert_non_null(s);

    /* 32 levels are accepted, the 33rd is refused */
    n = 0;
    for (i = 0; i < 32; i++) {
        n += sprintf(s + n, "<a>");
    }
    for (i = 0; i < 32; i++) {
        n += sprintf(s + n, "</a>");
    }
    assert_int_equal(test_parse_len(s, n, &(omni_xml_error_t) { 0 }),
                     OMNI_XML_OK);

    n = 0;
    for (i = 0; i < 33; i++) {
        n += sprintf(s + n, "<a>");
    }
    test_refuses_len(s, n, OMNI_XML_DEPTH,
                     "xml: too deeply nested (more than 32 levels) "
                     "at byte 97");

    /* 10000 elements are accepted, the 10001st is refused */
    n = sprintf(s, "<r>");
    for (i = 0; i < 9999; i++) {
        n += sprintf(s + n, "<a/>");
    }
    n += sprintf(s + n, "</r>");
    assert_int_equal(test_parse_len(s, n, &(omni_xml_error_t) { 0 }),
                     OMNI_XML_OK);

    n = sprintf(s, "<r>");
    for (i = 0; i < 10000; i++) {
        n += sprintf(s + n, "<a/>");
    }
    test_refuses_len(s, n, OMNI_XML_ELEMENTS,
                     "xml: too many elements (more than 10000) "
                     "at byte 40000");

    /* 64 attributes are accepted, the 65th is refused */
    n = sprintf(s, "<r");
    for (i = 0; i < 64; i++) {
        n += sprintf(s + n, " a%zu=\"1\"", i);
    }
    n += sprintf(s + n, "/>");
    assert_int_equal(test_parse_len(s, n, &(omni_xml_error_t) { 0 }),
                     OMNI_XML_OK);

    n -= 2;
    n += sprintf(s + n, " a64='1'/>");
    test_refuses_len(s, n, OMNI_XML_ATTRS,
                     "xml: too many attributes (more than 64) at byte 506");

    /* a duplicate is named before the count is */
    n -= 10;
    n += sprintf(s + n, " a0='1'/>");
    test_refuses_len(s, n, OMNI_XML_ATTR_DUP,
                     "xml: duplicate attribute 'a0' at byte 506");

    free(s);
}


static void
test_refusals(void **state)
{
    (void) state;

    test_refuses("<a>\xFF</a>", OMNI_XML_NOT_UTF8,
                 "xml: document is not valid UTF-8 at byte 1");
    test_refuses("<a>\xED\xA0\x80</a>", OMNI_XML_NOT_UTF8,
                 "xml: document is not valid UTF-8 at byte 1");
    test_refuses("<a>x\0y</a>", OMNI_XML_NUL,
                 "xml: NUL character (U+0000) in the document at byte 5");
    test_refuses("<a k=\"\0\"/>", OMNI_XML_NUL,
                 "xml: NUL character (U+0000) in the document at byte 7");

    test_refuses("text<a/>", OMNI_XML_TEXT_OUTSIDE,
                 "xml: text outside the root element at byte 1");
    test_refuses("<a/> &amp;", OMNI_XML_TEXT_OUTSIDE,
                 "xml: text outside the root element at byte 5");
    test_refuses("<a/><b/>", OMNI_XML_ROOTS,
                 "xml: more than one root element at byte 5");
    test_refuses("<![CDATA[x]]><a/>", OMNI_XML_CDATA_OUTSIDE,
                 "xml: CDATA section outside the root element at byte 1");

    test_refuses("<a><!-- x</a>", OMNI_XML_COMMENT,
                 "xml: unterminated comment at byte 4");
    test_refuses("<a><!---></a>", OMNI_XML_COMMENT,
                 "xml: unterminated comment at byte 4");
    test_refuses("<a><![CDATA[x]]</a>", OMNI_XML_CDATA,
                 "xml: unterminated CDATA section at byte 4");
    test_refuses("<a><?pi ?</a>", OMNI_XML_PI,
                 "xml: unterminated processing instruction at byte 4");
    test_refuses("<?>", OMNI_XML_PI,
                 "xml: unterminated processing instruction at byte 1");

    /* XXE and billion laughs: no declaration is read at all */
    test_refuses("<?xml version=\"1.0\"?><!DOCTYPE foo [<!ENTITY xxe "
                 "SYSTEM \"file:///etc/passwd\">]><foo>&xxe;</foo>",
                 OMNI_XML_DOCTYPE,
                 "xml: DOCTYPE declarations are not allowed at byte 22");
    test_refuses("<!ENTITY a \"b\"><r/>", OMNI_XML_ENTITY_DECL,
                 "xml: ENTITY declarations are not allowed at byte 1");
    test_refuses("<r><!ELEMENT r ANY></r>", OMNI_XML_DECL,
                 "xml: markup declarations are not allowed at byte 4");
    test_refuses("<r><!doctype r></r>", OMNI_XML_DECL,
                 "xml: markup declarations are not allowed at byte 4");

    test_refuses("<a><b></a></b>", OMNI_XML_CLOSE_MISMATCH,
                 "xml: closing tag </a> does not match <b> at byte 7");
    test_refuses("<a></A>", OMNI_XML_CLOSE_MISMATCH,
                 "xml: closing tag </A> does not match <a> at byte 4");
    test_refuses("<ab></a>", OMNI_XML_CLOSE_MISMATCH,
                 "xml: closing tag </a> does not match <ab> at byte 5");
    test_refuses("</a>", OMNI_XML_CLOSE_UNEXPECTED,
                 "xml: unexpected closing tag </a> at byte 1");
    test_refuses("<a></a></a>", OMNI_XML_CLOSE_UNEXPECTED,
                 "xml: unexpected closing tag </a> at byte 8");
    test_refuses("<a></>", OMNI_XML_CLOSE_NAME,
                 "xml: element name expected in closing tag at byte 6");
    test_refuses("<a></a", OMNI_XML_CLOSE_GT,
                 "xml: '>' expected in closing tag at byte 7");
    test_refuses("<a></a x>", OMNI_XML_CLOSE_GT,
                 "xml: '>' expected in closing tag at byte 7");
    test_refuses("<a>", OMNI_XML_UNCLOSED,
                 "xml: unclosed element <a> at byte 4");
    test_refuses("<a><b></b>", OMNI_XML_UNCLOSED,
                 "xml: unclosed element <a> at byte 11");

    test_refuses("", OMNI_XML_NO_ROOT, "xml: no root element at byte 1");
    test_refuses("  <!-- c -->  ", OMNI_XML_NO_ROOT,
                 "xml: no root element at byte 1");
    test_refuses("\xEF\xBB\xBF", OMNI_XML_NO_ROOT,
                 "xml: no root element at byte 1");

    test_refuses("<>", OMNI_XML_START_NAME,
                 "xml: element name expected after '<' at byte 2");
    test_refuses("<1a/>", OMNI_XML_START_NAME,
                 "xml: element name expected after '<' at byte 2");
    test_refuses("<a>x<", OMNI_XML_START_NAME,
                 "xml: element name expected after '<' at byte 6");
    test_refuses("<a", OMNI_XML_START_TAG,
                 "xml: unterminated start tag at byte 3");
    test_refuses("<a b='1' ", OMNI_XML_START_TAG,
                 "xml: unterminated start tag at byte 10");
    test_refuses("<a / >", OMNI_XML_SLASH,
                 "xml: '>' expected after '/' at byte 5");
    test_refuses("<a/", OMNI_XML_SLASH,
                 "xml: '>' expected after '/' at byte 4");
    test_refuses("<a b=\"1\"c=\"2\"/>", OMNI_XML_ATTR_SPACE,
                 "xml: whitespace expected before an attribute at byte 9");
    test_refuses("<a!>", OMNI_XML_ATTR_SPACE,
                 "xml: whitespace expected before an attribute at byte 3");
    test_refuses("<a 1=\"2\"/>", OMNI_XML_ATTR_NAME,
                 "xml: attribute name expected at byte 4");
    test_refuses("<a b>", OMNI_XML_ATTR_EQ,
                 "xml: '=' expected after attribute 'b' at byte 5");
    test_refuses("<a b", OMNI_XML_ATTR_EQ,
                 "xml: '=' expected after attribute 'b' at byte 5");
    test_refuses("<a b=c/>", OMNI_XML_ATTR_QUOTE,
                 "xml: quoted value expected for attribute 'b' at byte 6");
    test_refuses("<a b = ", OMNI_XML_ATTR_QUOTE,
                 "xml: quoted value expected for attribute 'b' at byte 8");
    test_refuses("<a b=\"c/>", OMNI_XML_ATTR_VALUE,
                 "xml: unterminated value of attribute 'b' at byte 6");
    test_refuses("<a b='c\"/>", OMNI_XML_ATTR_VALUE,
                 "xml: unterminated value of attribute 'b' at byte 6");
    test_refuses("<a b=\"x<\"/>", OMNI_XML_ATTR_LT,
                 "xml: '<' in the value of attribute 'b' at byte 7");
    test_refuses("<a b=\"1\" b=\"2\"/>", OMNI_XML_ATTR_DUP,
                 "xml: duplicate attribute 'b' at byte 10");
}


static void
test_references(void **state)
{
    (void) state;

    test_refuses("<a>a & b</a>", OMNI_XML_ENTITY_MALFORMED,
                 "xml: malformed entity or bare '&' at byte 6");
    test_refuses("<a>&amp</a>", OMNI_XML_ENTITY_MALFORMED,
                 "xml: malformed entity or bare '&' at byte 4");
    test_refuses("<a>&;</a>", OMNI_XML_ENTITY_MALFORMED,
                 "xml: malformed entity or bare '&' at byte 4");
    test_refuses("<a>&#;</a>", OMNI_XML_ENTITY_MALFORMED,
                 "xml: malformed entity or bare '&' at byte 4");
    test_refuses("<a>&#99999999999;</a>", OMNI_XML_ENTITY_MALFORMED,
                 "xml: malformed entity or bare '&' at byte 4");
    test_refuses("<a>&abcdefghijk;</a>", OMNI_XML_ENTITY_MALFORMED,
                 "xml: malformed entity or bare '&' at byte 4");
    test_refuses("<a k=\"x &\"/>", OMNI_XML_ENTITY_MALFORMED,
                 "xml: malformed entity or bare '&' at byte 9");

    test_refuses("<a>x&x;</a>", OMNI_XML_ENTITY_UNKNOWN,
                 "xml: unknown entity &x; at byte 5");
    test_refuses("<a>&nbsp;</a>", OMNI_XML_ENTITY_UNKNOWN,
                 "xml: unknown entity &nbsp; at byte 4");
    test_refuses("<a>&LT;</a>", OMNI_XML_ENTITY_UNKNOWN,
                 "xml: unknown entity &LT; at byte 4");
    test_refuses("<a k='&foo;'/>", OMNI_XML_ENTITY_UNKNOWN,
                 "xml: unknown entity &foo; at byte 7");

    test_refuses("<a>&#0;</a>", OMNI_XML_CHAR_REF,
                 "xml: invalid character reference &#0; at byte 4");
    test_refuses("<a>&#x1;</a>", OMNI_XML_CHAR_REF,
                 "xml: invalid character reference &#x1; at byte 4");
    test_refuses("<a>&#xD800;</a>", OMNI_XML_CHAR_REF,
                 "xml: invalid character reference &#xD800; at byte 4");
    test_refuses("<a>&#xFFFE;</a>", OMNI_XML_CHAR_REF,
                 "xml: invalid character reference &#xFFFE; at byte 4");
    test_refuses("<a>&#x110000;</a>", OMNI_XML_CHAR_REF,
                 "xml: invalid character reference &#x110000; at byte 4");
    test_refuses("<a>&#xFFFFFFFF;</a>", OMNI_XML_CHAR_REF,
                 "xml: invalid character reference &#xFFFFFFFF; at byte 4");
    test_refuses("<a>&#1114112;</a>", OMNI_XML_CHAR_REF,
                 "xml: invalid character reference &#1114112; at byte 4");
    test_refuses("<a>&#xZZ;</a>", OMNI_XML_CHAR_REF,
                 "xml: invalid character reference &#xZZ; at byte 4");
    test_refuses("<a>&#X41;</a>", OMNI_XML_CHAR_REF,
                 "xml: invalid character reference &#X41; at byte 4");
    test_refuses("<a>&#x;</a>", OMNI_XML_CHAR_REF,
                 "xml: invalid character reference &#x; at byte 4");
    test_refuses("<a>&#65a;</a>", OMNI_XML_CHAR_REF,
                 "xml: invalid character reference &#65a; at byte 4");

    /* the longest references still read */
    test_ok("<a>&#000000065;&#x0010FFFF;&#xFFFD;&#9;&#xA;&#13;</a>",
            "<a\n>A\xF4\x8F\xBF\xBF\xEF\xBF\xBD\t\n\r\n");
}


/* a long name is whole in the message, or cut at the buffer's size */
static void
test_messages(void **state)
{
    char              s[600], want[700];
    u_char            buf[32];
    size_t            n;
    omni_xml_error_t  err;

    (void) state;

    memset(s, 'n', sizeof(s));
    memcpy(s, "<", 1);
    memcpy(s + 300, "></x>", 5);

    assert_int_equal(test_parse_len(s, 305, &err), OMNI_XML_CLOSE_MISMATCH);

    snprintf(want, sizeof(want), "xml: closing tag </x> does not match "
             "<%.*s> at byte 301", 299, s + 1);

    n = omni_xml_strerror(&err, buf, sizeof(buf));
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, sizeof(buf));

    assert_int_equal(omni_xml_strerror(&err, NULL, 0), strlen(want));
}


static void
test_handler_stops(void **state)
{
    int               i;
    omni_xml_error_t  err;

    (void) state;

    /* start, attr, end of <b/>, end of <a>: each may stop the parse */
    for (i = 1; i <= 4; i++) {
        test_xml.stop_at = i;
        assert_int_equal(test_parse("<a><b k='v'/></a>", &err),
                         OMNI_XML_STOPPED);
        assert_int_equal(test_xml.events, i);
    }

    test_xml.stop_at = 0;
}


static void
test_no_memory(void **state)
{
    u_char              small[2];
    omni_buf_t          b;
    omni_xml_error_t    err;

    (void) state;

    b.data = small;
    b.len = 0;
    b.cap = sizeof(small);
    b.grow = NULL;
    b.ctx = NULL;

    test_xml.stop_at = 0;

    assert_int_equal(omni_xml_parse((const u_char *) "<a>xy</a>", 9, &b,
                                    &test_handler, &err),
                     OMNI_XML_OK);

    assert_int_equal(omni_xml_parse((const u_char *) "<a>xyz</a>", 10, &b,
                                    &test_handler, &err),
                     OMNI_XML_NO_MEMORY);
    assert_int_equal(err.pos, 4);

    b.len = 0;
    assert_int_equal(omni_xml_parse((const u_char *) "<a k='xyz'/>", 12, &b,
                                    &test_handler, &err),
                     OMNI_XML_NO_MEMORY);

    b.len = 0;
    assert_int_equal(omni_xml_parse((const u_char *) "<a><![CDATA[xyz]]></a>",
                                    22, &b, &test_handler, &err),
                     OMNI_XML_NO_MEMORY);
}


static int
test_teardown(void **state)
{
    (void) state;

    test_buf_reset(&test_buf);

    return 0;
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_handler_stops),
        cmocka_unit_test(test_no_memory),
    };

    return cmocka_run_group_tests(tests, NULL, test_teardown);
}
