/*
 * Copyright (C) The omni gateway authors
 *
 * The XML parser behind omni.xml.decode (omni_xml.h): one pass over the
 * document, elements and attributes reported to a handler, each
 * element's text decoded into the caller's scratch buffer, every refusal
 * with its byte offset, and the messages.
 *
 * The scratch buffer is a stack: an open element's text starts where its
 * parent's text ended; when the element closes, its text is reported and
 * cut off, so the parent's text goes on where it stopped.  An attribute's
 * value is decoded on top and cut off once reported.  Decoding never
 * lengthens text, so the buffer never holds more than the document.
 */


#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "omni_xml.h"


/* the byte classes the grammar names */
#define OMNI_XML_NAME_START   0x01      /* [A-Za-z_:] and bytes >= 0x80 */
#define OMNI_XML_NAME_CHAR    0x02      /* those, [0-9], '.' and '-' */
#define OMNI_XML_SPACE        0x04      /* ' ', '\t', '\r', '\n' */
#define OMNI_XML_ALNUM        0x08      /* [0-9A-Za-z] */
#define OMNI_XML_DIGIT        0x10
#define OMNI_XML_HEX          0x20

#define OMNI_XML_LETTER                                                       \
    (OMNI_XML_NAME_START | OMNI_XML_NAME_CHAR | OMNI_XML_ALNUM)

static const u_char  omni_xml_class[256] = {
    [' '] = OMNI_XML_SPACE, ['\t'] = OMNI_XML_SPACE,
    ['\r'] = OMNI_XML_SPACE, ['\n'] = OMNI_XML_SPACE,
    ['_'] = OMNI_XML_NAME_START | OMNI_XML_NAME_CHAR,
    [':'] = OMNI_XML_NAME_START | OMNI_XML_NAME_CHAR,
    ['.'] = OMNI_XML_NAME_CHAR, ['-'] = OMNI_XML_NAME_CHAR,
    ['0' ... '9'] = OMNI_XML_NAME_CHAR | OMNI_XML_ALNUM | OMNI_XML_DIGIT
                    | OMNI_XML_HEX,
    ['A' ... 'F'] = OMNI_XML_LETTER | OMNI_XML_HEX,
    ['G' ... 'Z'] = OMNI_XML_LETTER,
    ['a' ... 'f'] = OMNI_XML_LETTER | OMNI_XML_HEX,
    ['g' ... 'z'] = OMNI_XML_LETTER,
    [0x80 ... 0xff] = OMNI_XML_NAME_START | OMNI_XML_NAME_CHAR
};

#define omni_xml_is(c, what)  (omni_xml_class[(u_char) (c)] & (what))


typedef struct {
    const u_char   *data;
    size_t          len;
} omni_xml_name_t;


typedef struct {
    const u_char              *s;
    size_t                     len;
    omni_buf_t                *scratch;
    const omni_xml_handler_t  *h;
    omni_xml_error_t          *err;
    size_t                     depth;
    size_t                     elements;
    unsigned                   root:1;

    /* the open elements, from 1 */
    omni_xml_name_t            open[OMNI_XML_MAX_DEPTH + 1];
    size_t                     text[OMNI_XML_MAX_DEPTH + 1];

    /* the attributes of the start tag being read, for duplicates */
    omni_xml_name_t            attrs[OMNI_XML_MAX_ATTRS];
} omni_xml_parser_t;


/* a message: pre, the argument, mid, the second argument, post */
typedef struct {
    const char     *pre;
    const char     *mid;
    const char     *post;
} omni_xml_message_t;


static omni_xml_rc_t omni_xml_start_tag(omni_xml_parser_t *p, size_t at,
    size_t *next);
static omni_xml_rc_t omni_xml_attributes(omni_xml_parser_t *p, size_t k,
    size_t *next, int *open);
static omni_xml_rc_t omni_xml_close_tag(omni_xml_parser_t *p, size_t at,
    size_t *next);
static omni_xml_rc_t omni_xml_declaration(omni_xml_parser_t *p, size_t at,
    size_t *next);
static omni_xml_rc_t omni_xml_decode(omni_xml_parser_t *p, size_t from,
    size_t to, int attr);
static omni_xml_rc_t omni_xml_reference(omni_xml_parser_t *p, size_t at,
    size_t to, u_char **out, size_t *next);


static const omni_xml_message_t  omni_xml_messages[] = {
    [OMNI_XML_OK] = { "no error", NULL, NULL },
    [OMNI_XML_NOT_UTF8] = { "document is not valid UTF-8", NULL, NULL },
    [OMNI_XML_NUL] = { "NUL character (U+0000) in the document", NULL, NULL },
    [OMNI_XML_TEXT_OUTSIDE] = { "text outside the root element", NULL,
                                NULL },
    [OMNI_XML_COMMENT] = { "unterminated comment", NULL, NULL },
    [OMNI_XML_CDATA_OUTSIDE] = { "CDATA section outside the root element",
                                 NULL, NULL },
    [OMNI_XML_CDATA] = { "unterminated CDATA section", NULL, NULL },
    [OMNI_XML_DOCTYPE] = { "DOCTYPE declarations are not allowed", NULL,
                           NULL },
    [OMNI_XML_ENTITY_DECL] = { "ENTITY declarations are not allowed", NULL,
                               NULL },
    [OMNI_XML_DECL] = { "markup declarations are not allowed", NULL, NULL },
    [OMNI_XML_PI] = { "unterminated processing instruction", NULL, NULL },
    [OMNI_XML_CLOSE_NAME] = { "element name expected in closing tag", NULL,
                              NULL },
    [OMNI_XML_CLOSE_UNEXPECTED] = { "unexpected closing tag </", ">", NULL },
    [OMNI_XML_CLOSE_MISMATCH] = { "closing tag </", "> does not match <",
                                  ">" },
    [OMNI_XML_CLOSE_GT] = { "'>' expected in closing tag", NULL, NULL },
    [OMNI_XML_START_NAME] = { "element name expected after '<'", NULL, NULL },
    [OMNI_XML_ROOTS] = { "more than one root element", NULL, NULL },
    [OMNI_XML_DEPTH] = { "too deeply nested (more than 32 levels)", NULL,
                         NULL },
    [OMNI_XML_ELEMENTS] = { "too many elements (more than 10000)", NULL,
                            NULL },
    [OMNI_XML_SLASH] = { "'>' expected after '/'", NULL, NULL },
    [OMNI_XML_START_TAG] = { "unterminated start tag", NULL, NULL },
    [OMNI_XML_ATTR_SPACE] = { "whitespace expected before an attribute",
                              NULL, NULL },
    [OMNI_XML_ATTR_NAME] = { "attribute name expected", NULL, NULL },
    [OMNI_XML_ATTR_EQ] = { "'=' expected after attribute '", "'", NULL },
    [OMNI_XML_ATTR_QUOTE] = { "quoted value expected for attribute '", "'",
                              NULL },
    [OMNI_XML_ATTR_VALUE] = { "unterminated value of attribute '", "'",
                              NULL },
    [OMNI_XML_ATTR_LT] = { "'<' in the value of attribute '", "'", NULL },
    [OMNI_XML_ATTR_DUP] = { "duplicate attribute '", "'", NULL },
    [OMNI_XML_ATTRS] = { "too many attributes (more than 64)", NULL, NULL },
    [OMNI_XML_ENTITY_MALFORMED] = { "malformed entity or bare '&'", NULL,
                                    NULL },
    [OMNI_XML_CHAR_REF] = { "invalid character reference &", ";", NULL },
    [OMNI_XML_ENTITY_UNKNOWN] = { "unknown entity &", ";", NULL },
    [OMNI_XML_UNCLOSED] = { "unclosed element <", ">", NULL },
    [OMNI_XML_NO_ROOT] = { "no root element", NULL, NULL },
    [OMNI_XML_NO_MEMORY] = { "out of memory", NULL, NULL },
    [OMNI_XML_STOPPED] = { "stopped by the caller", NULL, NULL }
};


/* records the error at the 0-based offset at, and returns it */
static omni_xml_rc_t
omni_xml_fail(omni_xml_parser_t *p, omni_xml_rc_t rc, size_t at,
    const u_char *arg, size_t arg_len, const u_char *arg2, size_t arg2_len)
{
    omni_xml_error_t  *err = p->err;

    err->rc = rc;
    err->pos = at + 1;
    err->arg = arg;
    err->arg_len = arg_len;
    err->arg2 = arg2;
    err->arg2_len = arg2_len;

    return rc;
}


#define omni_xml_fails(p, rc, at)  omni_xml_fail(p, rc, at, NULL, 0, NULL, 0)


/* the end of the name at k, or k when none starts there */
static size_t
omni_xml_name(const omni_xml_parser_t *p, size_t k)
{
    if (k >= p->len || !omni_xml_is(p->s[k], OMNI_XML_NAME_START)) {
        return k;
    }

    for (k++; k < p->len && omni_xml_is(p->s[k], OMNI_XML_NAME_CHAR); k++) {
        /* void */
    }

    return k;
}


static size_t
omni_xml_skip_space(const omni_xml_parser_t *p, size_t k)
{
    while (k < p->len && omni_xml_is(p->s[k], OMNI_XML_SPACE)) {
        k++;
    }

    return k;
}


/* where lit starts at or after from, or p->len when it does not */
static size_t
omni_xml_find(const omni_xml_parser_t *p, size_t from, const char *lit,
    size_t n)
{
    const u_char  *c, *end;

    end = p->s + p->len;

    for (c = p->s + from; c < end; c++) {
        c = memchr(c, lit[0], end - c);

        if (c == NULL || (size_t) (end - c) < n) {
            break;
        }

        if (memcmp(c, lit, n) == 0) {
            return c - p->s;
        }
    }

    return p->len;
}


/* the scratch text from mark on: the buffer may have no memory yet */
static const u_char *
omni_xml_scratch(const omni_xml_parser_t *p, size_t mark)
{
    return p->scratch->data ? p->scratch->data + mark : (const u_char *) "";
}


static int
omni_xml_at(const omni_xml_parser_t *p, size_t k, const char *lit, size_t n)
{
    return p->len - k >= n && memcmp(p->s + k, lit, n) == 0;
}


omni_xml_rc_t
omni_xml_parse(const u_char *s, size_t len, omni_buf_t *scratch,
    const omni_xml_handler_t *h, omni_xml_error_t *err)
{
    size_t              k, at, text_end, next;
    const u_char       *c;
    omni_xml_rc_t       rc;
    omni_xml_parser_t   p;

    p.s = s;
    p.len = len;
    p.scratch = scratch;
    p.h = h;
    p.err = err;
    p.depth = 0;
    p.elements = 0;
    p.root = 0;

    err->rc = OMNI_XML_OK;

    if (!omni_json_utf8_valid(s, len)) {
        return omni_xml_fails(&p, OMNI_XML_NOT_UTF8, 0);
    }

    c = memchr(s, '\0', len);
    if (c != NULL) {
        return omni_xml_fails(&p, OMNI_XML_NUL, c - s);
    }

    k = omni_xml_at(&p, 0, "\xEF\xBB\xBF", 3) ? 3 : 0;

    while (k < len) {
        c = memchr(s + k, '<', len - k);
        text_end = c ? (size_t) (c - s) : len;

        if (text_end > k) {
            if (p.depth == 0) {
                if (omni_xml_skip_space(&p, k) < text_end) {
                    return omni_xml_fails(&p, OMNI_XML_TEXT_OUTSIDE, k);
                }

            } else {
                rc = omni_xml_decode(&p, k, text_end, 0);
                if (rc != OMNI_XML_OK) {
                    return rc;
                }
            }
        }

        if (c == NULL) {
            break;
        }

        at = text_end;

        switch (at + 1 < len ? s[at + 1] : '\0') {

        case '!':
            rc = omni_xml_declaration(&p, at, &next);
            break;

        case '?':
            next = omni_xml_find(&p, at + 2, "?>", 2);
            if (next == len) {
                return omni_xml_fails(&p, OMNI_XML_PI, at);
            }

            next += 2;
            rc = OMNI_XML_OK;
            break;

        case '/':
            rc = omni_xml_close_tag(&p, at, &next);
            break;

        default:
            rc = omni_xml_start_tag(&p, at, &next);
        }

        if (rc != OMNI_XML_OK) {
            return rc;
        }

        k = next;
    }

    if (p.depth > 0) {
        return omni_xml_fail(&p, OMNI_XML_UNCLOSED, len,
                             p.open[p.depth].data, p.open[p.depth].len,
                             NULL, 0);
    }

    if (!p.root) {
        return omni_xml_fails(&p, OMNI_XML_NO_ROOT, 0);
    }

    return OMNI_XML_OK;
}


/* "<!": a comment, a CDATA section, or a declaration (refused) */
static omni_xml_rc_t
omni_xml_declaration(omni_xml_parser_t *p, size_t at, size_t *next)
{
    size_t   e, n;
    u_char  *out;

    if (omni_xml_at(p, at, "<!--", 4)) {
        e = omni_xml_find(p, at + 4, "-->", 3);
        if (e == p->len) {
            return omni_xml_fails(p, OMNI_XML_COMMENT, at);
        }

        *next = e + 3;
        return OMNI_XML_OK;
    }

    if (omni_xml_at(p, at, "<![CDATA[", 9)) {
        if (p->depth == 0) {
            return omni_xml_fails(p, OMNI_XML_CDATA_OUTSIDE, at);
        }

        e = omni_xml_find(p, at + 9, "]]>", 3);
        if (e == p->len) {
            return omni_xml_fails(p, OMNI_XML_CDATA, at);
        }

        n = e - (at + 9);

        if (n) {
            out = omni_buf_reserve(p->scratch, n);
            if (out == NULL) {
                return omni_xml_fails(p, OMNI_XML_NO_MEMORY, at);
            }

            memcpy(out, p->s + at + 9, n);
            p->scratch->len += n;
        }

        *next = e + 3;
        return OMNI_XML_OK;
    }

    if (omni_xml_at(p, at, "<!DOCTYPE", 9)) {
        return omni_xml_fails(p, OMNI_XML_DOCTYPE, at);
    }

    if (omni_xml_at(p, at, "<!ENTITY", 8)) {
        return omni_xml_fails(p, OMNI_XML_ENTITY_DECL, at);
    }

    return omni_xml_fails(p, OMNI_XML_DECL, at);
}


static omni_xml_rc_t
omni_xml_start_tag(omni_xml_parser_t *p, size_t at, size_t *next)
{
    int            open;
    size_t         ne;
    omni_xml_rc_t  rc;

    ne = omni_xml_name(p, at + 1);
    if (ne == at + 1) {
        return omni_xml_fails(p, OMNI_XML_START_NAME, at + 1);
    }

    if (p->depth == 0 && p->root) {
        return omni_xml_fails(p, OMNI_XML_ROOTS, at);
    }

    if (p->depth >= OMNI_XML_MAX_DEPTH) {
        return omni_xml_fails(p, OMNI_XML_DEPTH, at);
    }

    if (++p->elements > OMNI_XML_MAX_ELEMENTS) {
        return omni_xml_fails(p, OMNI_XML_ELEMENTS, at);
    }

    if (p->h->start(p->h->data, p->s + at + 1, ne - at - 1) != 0) {
        return omni_xml_fails(p, OMNI_XML_STOPPED, at);
    }

    rc = omni_xml_attributes(p, ne, next, &open);
    if (rc != OMNI_XML_OK) {
        return rc;
    }

    p->root = 1;

    if (!open) {
        if (p->h->end(p->h->data, (const u_char *) "", 0) != 0) {
            return omni_xml_fails(p, OMNI_XML_STOPPED, at);
        }

        return OMNI_XML_OK;
    }

    p->depth++;
    p->open[p->depth].data = p->s + at + 1;
    p->open[p->depth].len = ne - at - 1;
    p->text[p->depth] = p->scratch->len;

    return OMNI_XML_OK;
}


/* the attributes and the end of a start tag, from k after its name */
static omni_xml_rc_t
omni_xml_attributes(omni_xml_parser_t *p, size_t k, size_t *next, int *open)
{
    size_t          ws, ne, e, close, mark, i, n;
    const u_char   *s, *name, *q;
    omni_xml_rc_t   rc;

    s = p->s;
    n = 0;

    for ( ;; ) {
        ws = k;
        k = omni_xml_skip_space(p, k);

        if (k == p->len) {
            return omni_xml_fails(p, OMNI_XML_START_TAG, k);
        }

        if (s[k] == '>') {
            *open = 1;
            *next = k + 1;
            return OMNI_XML_OK;
        }

        if (s[k] == '/') {
            if (k + 1 == p->len || s[k + 1] != '>') {
                return omni_xml_fails(p, OMNI_XML_SLASH, k + 1);
            }

            *open = 0;
            *next = k + 2;
            return OMNI_XML_OK;
        }

        if (k == ws) {
            return omni_xml_fails(p, OMNI_XML_ATTR_SPACE, k);
        }

        ne = omni_xml_name(p, k);
        if (ne == k) {
            return omni_xml_fails(p, OMNI_XML_ATTR_NAME, k);
        }

        name = s + k;

        e = omni_xml_skip_space(p, ne);
        if (e == p->len || s[e] != '=') {
            return omni_xml_fail(p, OMNI_XML_ATTR_EQ, ne, name, ne - k,
                                 NULL, 0);
        }

        e = omni_xml_skip_space(p, e + 1);
        if (e == p->len || (s[e] != '"' && s[e] != '\'')) {
            return omni_xml_fail(p, OMNI_XML_ATTR_QUOTE, e, name, ne - k,
                                 NULL, 0);
        }

        q = memchr(s + e + 1, s[e], p->len - e - 1);
        if (q == NULL) {
            return omni_xml_fail(p, OMNI_XML_ATTR_VALUE, e, name, ne - k,
                                 NULL, 0);
        }

        close = q - s;

        if (memchr(s + e + 1, '<', close - e - 1) != NULL) {
            return omni_xml_fail(p, OMNI_XML_ATTR_LT, e + 1, name, ne - k,
                                 NULL, 0);
        }

        for (i = 0; i < n; i++) {
            if (p->attrs[i].len == ne - k
                && memcmp(p->attrs[i].data, name, ne - k) == 0)
            {
                return omni_xml_fail(p, OMNI_XML_ATTR_DUP, k, name, ne - k,
                                     NULL, 0);
            }
        }

        if (n == OMNI_XML_MAX_ATTRS) {
            return omni_xml_fails(p, OMNI_XML_ATTRS, k);
        }

        p->attrs[n].data = name;
        p->attrs[n].len = ne - k;
        n++;

        mark = p->scratch->len;

        rc = omni_xml_decode(p, e + 1, close, 1);
        if (rc != OMNI_XML_OK) {
            return rc;
        }

        if (p->h->attr(p->h->data, name, ne - k, omni_xml_scratch(p, mark),
                       p->scratch->len - mark)
            != 0)
        {
            return omni_xml_fails(p, OMNI_XML_STOPPED, k);
        }

        p->scratch->len = mark;
        k = close + 1;
    }
}


static omni_xml_rc_t
omni_xml_close_tag(omni_xml_parser_t *p, size_t at, size_t *next)
{
    size_t            ne, e, mark;
    omni_xml_name_t  *open;

    ne = omni_xml_name(p, at + 2);
    if (ne == at + 2) {
        return omni_xml_fails(p, OMNI_XML_CLOSE_NAME, at + 2);
    }

    if (p->depth == 0) {
        return omni_xml_fail(p, OMNI_XML_CLOSE_UNEXPECTED, at, p->s + at + 2,
                             ne - at - 2, NULL, 0);
    }

    open = &p->open[p->depth];

    if (open->len != ne - at - 2
        || memcmp(open->data, p->s + at + 2, open->len) != 0)
    {
        return omni_xml_fail(p, OMNI_XML_CLOSE_MISMATCH, at, p->s + at + 2,
                             ne - at - 2, open->data, open->len);
    }

    e = omni_xml_skip_space(p, ne);
    if (e == p->len || p->s[e] != '>') {
        return omni_xml_fails(p, OMNI_XML_CLOSE_GT, ne);
    }

    mark = p->text[p->depth];

    if (p->h->end(p->h->data, omni_xml_scratch(p, mark),
                  p->scratch->len - mark)
        != 0)
    {
        return omni_xml_fails(p, OMNI_XML_STOPPED, at);
    }

    p->scratch->len = mark;
    p->depth--;
    *next = e + 1;

    return OMNI_XML_OK;
}


/*
 * Appends s[from, to) to the scratch buffer, references decoded; in an
 * attribute value, literal tabs, newlines and carriage returns become
 * spaces first (XML's attribute-value normalization: "&#10;" stays a
 * newline).
 */
static omni_xml_rc_t
omni_xml_decode(omni_xml_parser_t *p, size_t from, size_t to, int attr)
{
    size_t          k, run, i;
    u_char         *out, *o;
    const u_char   *amp;
    omni_xml_rc_t   rc;

    if (from == to) {
        return OMNI_XML_OK;
    }

    /* a reference is never shorter than what it stands for */
    out = omni_buf_reserve(p->scratch, to - from);
    if (out == NULL) {
        return omni_xml_fails(p, OMNI_XML_NO_MEMORY, from);
    }

    o = out;
    k = from;

    while (k < to) {
        amp = memchr(p->s + k, '&', to - k);
        run = (amp ? (size_t) (amp - p->s) : to) - k;

        if (attr) {
            for (i = 0; i < run; i++) {
                o[i] = omni_xml_is(p->s[k + i], OMNI_XML_SPACE) ? ' '
                                                                : p->s[k + i];
            }

        } else {
            memcpy(o, p->s + k, run);
        }

        o += run;

        if (amp == NULL) {
            break;
        }

        rc = omni_xml_reference(p, amp - p->s, to, &o, &k);
        if (rc != OMNI_XML_OK) {
            return rc;
        }
    }

    p->scratch->len += o - out;

    return OMNI_XML_OK;
}


/* XML 1.0's Char production */
static int
omni_xml_char(uint64_t cp)
{
    return cp == 0x9 || cp == 0xA || cp == 0xD
           || (cp >= 0x20 && cp <= 0xD7FF)
           || (cp >= 0xE000 && cp <= 0xFFFD)
           || (cp >= 0x10000 && cp <= 0x10FFFF);
}


/*
 * The reference at s[at] ('&'), within s[at, to): "&name;" of a predefined
 * entity, "&#digits;" or "&#xhex;" (lower-case x), written at *out.
 */
static omni_xml_rc_t
omni_xml_reference(omni_xml_parser_t *p, size_t at, size_t to, u_char **out,
    size_t *next)
{
    size_t          r, q, n, i;
    u_char         *o;
    uint64_t        cp;
    const u_char   *s, *ref;

    static const struct {
        const char  *name;
        size_t       len;
        u_char       c;
    } predefined[] = {
        { "lt", 2, '<' }, { "gt", 2, '>' }, { "amp", 3, '&' },
        { "quot", 4, '"' }, { "apos", 4, '\'' }
    };

    s = p->s;
    r = at + 1;

    if (r < to && s[r] == '#') {
        r++;
    }

    for (q = r; q < to && omni_xml_is(s[q], OMNI_XML_ALNUM); q++) {
        /* void */
    }

    ref = s + at + 1;
    n = q - at - 1;

    if (q == r || q == to || s[q] != ';' || n > OMNI_XML_MAX_REF) {
        return omni_xml_fails(p, OMNI_XML_ENTITY_MALFORMED, at);
    }

    o = *out;
    *next = q + 1;

    if (ref[0] != '#') {
        for (i = 0; i < sizeof(predefined) / sizeof(predefined[0]); i++) {
            if (predefined[i].len == n
                && memcmp(predefined[i].name, ref, n) == 0)
            {
                *o = predefined[i].c;
                *out = o + 1;
                return OMNI_XML_OK;
            }
        }

        return omni_xml_fail(p, OMNI_XML_ENTITY_UNKNOWN, at, ref, n, NULL, 0);
    }

    cp = 0;

    if (n >= 3 && ref[1] == 'x') {
        for (i = 2; i < n && omni_xml_is(ref[i], OMNI_XML_HEX); i++) {
            cp = cp * 16 + (ref[i] <= '9' ? ref[i] - '0'
                                          : (ref[i] | 0x20) - 'a' + 10);
        }

    } else {
        for (i = 1; i < n && omni_xml_is(ref[i], OMNI_XML_DIGIT); i++) {
            cp = cp * 10 + (ref[i] - '0');
        }
    }

    /* at most 9 digits or 8 hex digits: cp cannot overflow */
    if (i < n || !omni_xml_char(cp)) {
        return omni_xml_fail(p, OMNI_XML_CHAR_REF, at, ref, n, NULL, 0);
    }

    if (cp < 0x80) {
        *o++ = (u_char) cp;

    } else if (cp < 0x800) {
        *o++ = (u_char) (0xC0 | (cp >> 6));
        *o++ = (u_char) (0x80 | (cp & 0x3F));

    } else if (cp < 0x10000) {
        *o++ = (u_char) (0xE0 | (cp >> 12));
        *o++ = (u_char) (0x80 | ((cp >> 6) & 0x3F));
        *o++ = (u_char) (0x80 | (cp & 0x3F));

    } else {
        *o++ = (u_char) (0xF0 | (cp >> 18));
        *o++ = (u_char) (0x80 | ((cp >> 12) & 0x3F));
        *o++ = (u_char) (0x80 | ((cp >> 6) & 0x3F));
        *o++ = (u_char) (0x80 | (cp & 0x3F));
    }

    *out = o;

    return OMNI_XML_OK;
}


/* messages */

static size_t
omni_xml_put(u_char *buf, size_t size, size_t at, const void *s, size_t n)
{
    if (at < size && n != 0) {
        memcpy(buf + at, s, n < size - at ? n : size - at);
    }

    return at + n;
}


size_t
omni_xml_strerror(const omni_xml_error_t *err, u_char *buf, size_t size)
{
    int                        n;
    char                       num[32];
    size_t                     at;
    const omni_xml_message_t  *m;

    m = &omni_xml_messages[err->rc];

    at = omni_xml_put(buf, size, 0, "xml: ", 5);
    at = omni_xml_put(buf, size, at, m->pre, strlen(m->pre));

    if (m->mid != NULL) {
        at = omni_xml_put(buf, size, at, err->arg, err->arg_len);
        at = omni_xml_put(buf, size, at, m->mid, strlen(m->mid));
    }

    if (m->post != NULL) {
        at = omni_xml_put(buf, size, at, err->arg2, err->arg2_len);
        at = omni_xml_put(buf, size, at, m->post, strlen(m->post));
    }

    n = snprintf(num, sizeof(num), " at byte %zu", err->pos);

    return omni_xml_put(buf, size, at, num, (size_t) n);
}
