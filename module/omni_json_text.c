/*
 * Copyright (C) The omni gateway authors
 *
 * JSON text (omni_json_text.h): UTF-8 validation and string escaping into
 * a growable buffer, for the Lua codec and the contract writer.
 */


#include <string.h>

#include "omni_json_text.h"


/* bytes that make a string need escaping or UTF-8 validation */
static const u_char  omni_json_special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,     /* '\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,     /* DEL */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,     /* 0x80 on */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
};

static const char  omni_json_hex[] = "0123456789abcdef";


int
omni_buf_add(omni_buf_t *b, const void *s, size_t n)
{
    u_char  *p;

    if (n == 0) {
        return 0;
    }

    p = omni_buf_reserve(b, n);
    if (p == NULL) {
        return -1;
    }

    memcpy(p, s, n);
    b->len += n;

    return 0;
}


int
omni_json_utf8_valid(const u_char *p, size_t len)
{
    u_char         c, c1;
    const u_char  *end;

    end = p + len;

    while (p < end) {
        c = *p;

        if (c < 0x80) {
            p++;
            continue;
        }

        if (c >= 0xC2 && c <= 0xDF) {
            if (end - p < 2 || (p[1] & 0xC0) != 0x80) {
                return 0;
            }
            p += 2;
            continue;
        }

        if (c >= 0xE0 && c <= 0xEF) {
            if (end - p < 3
                || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            {
                return 0;
            }
            c1 = p[1];
            if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F)) {
                return 0;
            }
            p += 3;
            continue;
        }

        if (c >= 0xF0 && c <= 0xF4) {
            if (end - p < 4 || (p[1] & 0xC0) != 0x80
                || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            {
                return 0;
            }
            c1 = p[1];
            if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) {
                return 0;
            }
            p += 4;
            continue;
        }

        return 0;
    }

    return 1;
}


omni_json_text_rc_t
omni_json_add_string(omni_buf_t *b, const u_char *s, size_t len)
{
    u_char  c, *p;
    size_t  i;
    int     plain, high;

    plain = 1;
    high = 0;

    for (i = 0; i < len; i++) {
        if (omni_json_special[s[i]]) {
            plain = 0;
            if (s[i] >= 0x80) {
                high = 1;
                break;
            }
        }
    }

    if (plain) {
        p = omni_buf_reserve(b, len + 2);
        if (p == NULL) {
            return OMNI_JSON_TEXT_NO_MEMORY;
        }

        p[0] = '"';
        memcpy(p + 1, s, len);
        p[len + 1] = '"';
        b->len += len + 2;

        return OMNI_JSON_TEXT_OK;
    }

    if (high && !omni_json_utf8_valid(s, len)) {
        return OMNI_JSON_TEXT_NOT_UTF8;
    }

    /* the worst case: every byte as \u00XX */
    if (len > ((size_t) -1 - 2) / 6) {
        return OMNI_JSON_TEXT_NO_MEMORY;
    }

    p = omni_buf_reserve(b, len * 6 + 2);
    if (p == NULL) {
        return OMNI_JSON_TEXT_NO_MEMORY;
    }

    *p++ = '"';

    for (i = 0; i < len; i++) {
        c = s[i];

        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
            *p++ = c;
            continue;
        }

        /* b->len is not moved yet: nothing written counts */
        if (c == '\0') {
            return OMNI_JSON_TEXT_NUL;
        }

        *p++ = '\\';

        switch (c) {
        case '"':
        case '\\':
            *p++ = c;
            break;
        case '\b':
            *p++ = 'b';
            break;
        case '\f':
            *p++ = 'f';
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = omni_json_hex[c >> 4];
            *p++ = omni_json_hex[c & 0xf];
        }
    }

    *p++ = '"';

    b->len = p - b->data;

    return OMNI_JSON_TEXT_OK;
}
