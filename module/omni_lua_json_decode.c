/*
 * Copyright (C) The omni gateway authors
 *
 * The native JSON codec's strict decoder (omni_lua_json.h): decode and
 * decode_reply, which keeps the top-level object's "data" as raw text.
 */


#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "omni_lua_json_int.h"
#include "omni_str.h"


/* a checked-only object's keys compared without a Lua table, at most */
#define OMNI_JSON_CHECKED_KEYS  16


static int omni_json_decode_document(lua_State *L, const char *raw);


/* bytes that end a run of plain string bytes: controls, '"', '\' */
static const u_char  omni_json_special[256] = {
    [0 ... 31] = 1, ['"'] = 1, ['\\'] = 1
};


/* decode */

/* "json: <m1><m2><m3> at byte <pos + 1>" into the error slot */
static int
omni_json_dec_fail(omni_json_dec_t *d, size_t pos, const char *m1,
    size_t l1, const char *m2, size_t l2, const char *m3, size_t l3)
{
    char         num[32];
    int          n;
    luaL_Buffer  b;

    n = snprintf(num, sizeof(num), " at byte %lu",
                 (unsigned long) (pos + 1));

    luaL_buffinit(d->L, &b);
    luaL_addlstring(&b, "json: ", 6);
    luaL_addlstring(&b, m1, l1);
    if (m2 != NULL) {
        luaL_addlstring(&b, m2, l2);
    }
    if (m3 != NULL) {
        luaL_addlstring(&b, m3, l3);
    }
    luaL_addlstring(&b, num, (size_t) n);
    luaL_pushresult(&b);
    lua_replace(d->L, OMNI_JSON_DEC_ERR);

    return OMNI_JSON_ERROR;
}


static int
omni_json_dec_fails(omni_json_dec_t *d, size_t pos, const char *msg)
{
    return omni_json_dec_fail(d, pos, msg, strlen(msg), NULL, 0, NULL, 0);
}


/* what is at pos, followed by suffix (may be NULL) */
static int
omni_json_dec_unexpected(omni_json_dec_t *d, size_t pos, const char *suffix)
{
    int     n;
    u_char  c;
    char    what[48];

    if (pos >= d->len) {
        n = snprintf(what, sizeof(what), "unexpected end of input");

    } else {
        c = d->s[pos];

        if (c < 32 || c > 126) {
            n = snprintf(what, sizeof(what), "unexpected byte 0x%02X",
                         (unsigned) c);

        } else {
            n = snprintf(what, sizeof(what), "unexpected character '%c'", c);
        }
    }

    return omni_json_dec_fail(d, pos, what, (size_t) n, suffix,
                              suffix ? strlen(suffix) : 0, NULL, 0);
}


static inline void
omni_json_skip_ws(omni_json_dec_t *d)
{
    size_t         pos;
    const u_char  *s;

    s = d->s;
    pos = d->pos;

    while (pos < d->len
           && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\r'
               || s[pos] == '\n'))
    {
        pos++;
    }

    d->pos = pos;
}


static int
omni_json_hex4(omni_json_dec_t *d, size_t pos, unsigned *cp)
{
    int        i, h;
    unsigned   v;

    if (pos > d->len || d->len - pos < 4) {
        return 0;
    }

    v = 0;

    for (i = 0; i < 4; i++) {
        h = omni_hex_digit(d->s[pos + i]);

        if (h < 0) {
            return 0;
        }

        v = v * 16 + (unsigned) h;
    }

    *cp = v;

    return 1;
}


static void
omni_json_add_utf8(lua_State *L, omni_buf_t *b, unsigned cp)
{
    u_char  *p;

    p = omni_json_buf_reserve(L, b, 4);

    if (cp < 0x80) {
        p[0] = (u_char) cp;
        b->len += 1;

    } else if (cp < 0x800) {
        p[0] = (u_char) (0xC0 | (cp >> 6));
        p[1] = (u_char) (0x80 | (cp & 0x3F));
        b->len += 2;

    } else if (cp < 0x10000) {
        p[0] = (u_char) (0xE0 | (cp >> 12));
        p[1] = (u_char) (0x80 | ((cp >> 6) & 0x3F));
        p[2] = (u_char) (0x80 | (cp & 0x3F));
        b->len += 3;

    } else {
        p[0] = (u_char) (0xF0 | (cp >> 18));
        p[1] = (u_char) (0x80 | ((cp >> 12) & 0x3F));
        p[2] = (u_char) (0x80 | ((cp >> 6) & 0x3F));
        p[3] = (u_char) (0x80 | (cp & 0x3F));
        b->len += 4;
    }
}


/* d->pos is at the opening quote; pushes the string */
static int
omni_json_decode_string(omni_json_dec_t *d, int push)
{
    int            escaped;
    char           msg[64];
    u_char         c, e;
    size_t         start, i, j, len;
    unsigned       cp, lo;
    const u_char  *s;

    s = d->s;
    len = d->len;
    start = d->pos;
    i = start + 1;
    escaped = 0;
    d->buf.b.len = 0;

    for ( ;; ) {
        j = i;

        while (j < len && !omni_json_special[s[j]]) {
            j++;
        }

        if (j >= len) {
            return omni_json_dec_fails(d, start, "unterminated string");
        }

        c = s[j];

        if (c != '"' && c != '\\') {
            snprintf(msg, sizeof(msg),
                     "unescaped control character 0x%02X in string",
                     (unsigned) c);
            return omni_json_dec_fails(d, j, msg);
        }

        if (!omni_json_utf8_valid(s + i, j - i)) {
            return omni_json_dec_fails(d, start, "invalid UTF-8 in string");
        }

        if (c == '"') {
            if (!push) {
                /* checked only */

            } else if (!escaped) {
                lua_pushlstring(d->L, (const char *) s + i, j - i);

            } else {
                omni_json_buf_add(d->L, &d->buf.b, s + i, j - i);
                lua_pushlstring(d->L, (const char *) d->buf.b.data,
                                d->buf.b.len);
            }

            d->pos = j + 1;
            return OMNI_JSON_OK;
        }

        /* a backslash: keep what precedes it, then the escape */

        escaped = 1;

        if (push) {
            omni_json_buf_add(d->L, &d->buf.b, s + i, j - i);
        }

        e = (j + 1 < len) ? s[j + 1] : 0;

        if (e == 'u') {
            if (!omni_json_hex4(d, j + 2, &cp)) {
                return omni_json_dec_fails(d, j, "invalid \\u escape");
            }

            i = j + 6;

            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (!(i + 1 < len && s[i] == '\\' && s[i + 1] == 'u')) {
                    return omni_json_dec_fails(d, j,
                                               "lone surrogate in \\u escape");
                }

                if (!omni_json_hex4(d, i + 2, &lo)) {
                    return omni_json_dec_fails(d, i, "invalid \\u escape");
                }

                if (lo < 0xDC00 || lo > 0xDFFF) {
                    return omni_json_dec_fails(d, j,
                                               "lone surrogate in \\u escape");
                }

                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;

            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return omni_json_dec_fails(d, j,
                                           "lone surrogate in \\u escape");

            } else if (cp == 0) {
                /* the gateway's rule: no JSON it reads or writes holds NUL */
                return omni_json_dec_fails(d, j, "\\u0000 (NUL) in string");
            }

            if (push) {
                omni_json_add_utf8(d->L, &d->buf.b, cp);
            }

            continue;
        }

        switch (e) {
        case '"':
        case '\\':
        case '/':
            break;
        case 'b':
            e = '\b';
            break;
        case 'f':
            e = '\f';
            break;
        case 'n':
            e = '\n';
            break;
        case 'r':
            e = '\r';
            break;
        case 't':
            e = '\t';
            break;
        default:
            return omni_json_dec_fails(d, j, "invalid escape in string");
        }

        if (push) {
            omni_json_buf_addc(d->L, &d->buf.b, e);
        }

        i = j + 2;
    }
}


static size_t
omni_json_digits(omni_json_dec_t *d, size_t pos)
{
    while (pos < d->len && d->s[pos] >= '0' && d->s[pos] <= '9') {
        pos++;
    }

    return pos;
}


static int
omni_json_decode_number(omni_json_dec_t *d, int push)
{
    int            simple;
    char           tmp[64];
    size_t         start, int_start, end, q, i;
    double         v;
    const u_char  *s;

    s = d->s;
    start = d->pos;
    int_start = (s[start] == '-') ? start + 1 : start;

    end = omni_json_digits(d, int_start);

    if (end == int_start) {
        return omni_json_dec_unexpected(d, start, NULL);
    }

    if (s[int_start] == '0' && end > int_start + 1) {
        return omni_json_dec_fails(d, start, "leading zero in number");
    }

    simple = (end - int_start <= 15);

    if (end < d->len && s[end] == '.') {
        q = omni_json_digits(d, end + 1);

        if (q == end + 1) {
            return omni_json_dec_fails(d, end + 1,
                                       "digit expected after decimal point");
        }

        end = q;
        simple = 0;
    }

    if (end < d->len && (s[end] == 'e' || s[end] == 'E')) {
        q = end + 1;

        if (q < d->len && (s[q] == '+' || s[q] == '-')) {
            q++;
        }

        i = omni_json_digits(d, q);

        if (i == q) {
            return omni_json_dec_fails(d, end + 1,
                                       "digit expected in exponent");
        }

        end = i;
        simple = 0;
    }

    if (simple) {
        /* at most 15 digits: exact in a double */
        v = 0;

        for (i = int_start; i < end; i++) {
            v = v * 10 + (s[i] - '0');
        }

        if (int_start != start) {
            v = -v;
        }

    } else if (end - start < sizeof(tmp)) {
        memcpy(tmp, s + start, end - start);
        tmp[end - start] = '\0';
        v = strtod(tmp, NULL);

    } else {
        /* long numbers: the very conversion tonumber() makes */
        lua_pushlstring(d->L, (const char *) s + start, end - start);
        v = lua_tonumber(d->L, -1);
        lua_pop(d->L, 1);
    }

    if (isinf(v)) {
        return omni_json_dec_fails(d, start, "number out of range");
    }

    if (push) {
        lua_pushnumber(d->L, v);
    }

    d->pos = end;

    return OMNI_JSON_OK;
}


static int omni_json_decode_value(omni_json_dec_t *d, int depth, int push);
static void omni_json_check_keys(omni_json_dec_t *d, omni_json_key_t *keys,
    size_t n);


static int
omni_json_decode_array(omni_json_dec_t *d, int depth, int push)
{
    int     n;
    u_char  c;

    if (depth > OMNI_JSON_MAX_DEPTH) {
        return omni_json_dec_fails(d, d->pos,
                                   "too deeply nested (more than 64 levels)");
    }

    luaL_checkstack(d->L, 4, "json: nesting");

    if (push) {
        lua_newtable(d->L);
        lua_pushvalue(d->L, OMNI_JSON_UPVALUE(OMNI_JSON_ARRAY_MT));
        lua_setmetatable(d->L, -2);
    }

    d->pos++;
    omni_json_skip_ws(d);

    if (d->pos < d->len && d->s[d->pos] == ']') {
        d->pos++;
        return OMNI_JSON_OK;
    }

    for (n = 1; /* void */; n++) {
        if (omni_json_decode_value(d, depth, push) != OMNI_JSON_OK) {
            return OMNI_JSON_ERROR;
        }

        if (push) {
            lua_rawseti(d->L, -2, n);
        }

        omni_json_skip_ws(d);

        c = (d->pos < d->len) ? d->s[d->pos] : 0;

        if (c == ']') {
            d->pos++;
            return OMNI_JSON_OK;
        }

        if (c != ',' || d->pos >= d->len) {
            return omni_json_dec_unexpected(d, d->pos,
                                            ", ',' or ']' expected");
        }

        d->pos++;
        omni_json_skip_ws(d);
    }
}


/*
 * Without push the object is only checked.  Its first keys are compared
 * as the text between their quotes, which is the key itself when it holds
 * no escape; past OMNI_JSON_CHECKED_KEYS keys, or at the first escaped
 * one, the keys go into a scratch table instead, which finds duplicates
 * as the decoded object would.  With raw, the member of that name is
 * checked only and kept as its text (the top-level "data" of a unified
 * reply).
 */
static int
omni_json_decode_object(omni_json_dec_t *d, int depth, int push,
    const char *raw)
{
    u_char           c;
    size_t           key_pos, klen, start, nkeys, i;
    const char      *key;
    omni_json_key_t  keys[OMNI_JSON_CHECKED_KEYS];

    if (depth > OMNI_JSON_MAX_DEPTH) {
        return omni_json_dec_fails(d, d->pos,
                                   "too deeply nested (more than 64 levels)");
    }

    luaL_checkstack(d->L, 6, "json: nesting");

    /* a checked-only object gets its table when its keys need one */
    nkeys = push ? OMNI_JSON_CHECKED_KEYS + 1 : 0;

    if (push) {
        lua_newtable(d->L);
        lua_pushvalue(d->L, OMNI_JSON_UPVALUE(OMNI_JSON_OBJECT_MT));
        lua_setmetatable(d->L, -2);
    }

    d->pos++;
    omni_json_skip_ws(d);

    if (d->pos < d->len && d->s[d->pos] == '}') {
        d->pos++;
        goto done;
    }

    for ( ;; ) {
        if (d->pos >= d->len || d->s[d->pos] != '"') {
            return omni_json_dec_unexpected(d, d->pos,
                                            ", object key expected");
        }

        key_pos = d->pos;

        if (nkeys < OMNI_JSON_CHECKED_KEYS) {
            if (omni_json_decode_string(d, 0) != OMNI_JSON_OK) {
                return OMNI_JSON_ERROR;
            }

            key = (const char *) d->s + key_pos + 1;
            klen = d->pos - key_pos - 2;

            if (memchr(key, '\\', klen) == NULL) {
                /* in the order of the table's checks: the same messages */
                omni_json_skip_ws(d);

                if (d->pos >= d->len || d->s[d->pos] != ':') {
                    return omni_json_dec_unexpected(d, d->pos,
                                                    ", ':' expected");
                }

                for (i = 0; i < nkeys; i++) {
                    if (keys[i].len == klen
                        && memcmp(keys[i].data, key, klen) == 0)
                    {
                        return omni_json_dec_fail(d, key_pos,
                                                  "duplicate key '", 15, key,
                                                  klen, "'", 1);
                    }
                }

                keys[nkeys].data = key;
                keys[nkeys].len = klen;
                nkeys++;

                d->pos++;
                omni_json_skip_ws(d);

                if (omni_json_decode_value(d, depth, 0) != OMNI_JSON_OK) {
                    return OMNI_JSON_ERROR;
                }

                goto next;
            }

            /* an escaped key: from here on the scratch table compares */
            d->pos = key_pos;
        }

        if (nkeys <= OMNI_JSON_CHECKED_KEYS) {
            omni_json_check_keys(d, keys, nkeys);
            nkeys = OMNI_JSON_CHECKED_KEYS + 1;
        }

        if (omni_json_decode_string(d, 1) != OMNI_JSON_OK) {
            return OMNI_JSON_ERROR;
        }

        omni_json_skip_ws(d);

        if (d->pos >= d->len || d->s[d->pos] != ':') {
            return omni_json_dec_unexpected(d, d->pos, ", ':' expected");
        }

        lua_pushvalue(d->L, -1);
        lua_rawget(d->L, -3);

        if (!lua_isnil(d->L, -1)) {
            key = lua_tolstring(d->L, -2, &klen);
            return omni_json_dec_fail(d, key_pos, "duplicate key '", 15,
                                      key, klen, "'", 1);
        }

        lua_pop(d->L, 1);

        d->pos++;
        omni_json_skip_ws(d);

        key = lua_tolstring(d->L, -1, &klen);

        if (raw && klen == strlen(raw) && memcmp(key, raw, klen) == 0) {
            start = d->pos;

            if (omni_json_decode_value(d, depth, 0) != OMNI_JSON_OK) {
                return OMNI_JSON_ERROR;
            }

            lua_createtable(d->L, 1, 0);
            lua_pushlstring(d->L, (const char *) d->s + start,
                            d->pos - start);
            lua_rawseti(d->L, -2, 1);
            lua_pushvalue(d->L, OMNI_JSON_UPVALUE(OMNI_JSON_RAW_MT));
            lua_setmetatable(d->L, -2);

        } else if (omni_json_decode_value(d, depth, push) != OMNI_JSON_OK) {
            return OMNI_JSON_ERROR;

        } else if (!push) {
            lua_pushboolean(d->L, 1);
        }

        lua_rawset(d->L, -3);

    next:

        omni_json_skip_ws(d);

        c = (d->pos < d->len) ? d->s[d->pos] : 0;

        if (c == '}') {
            d->pos++;
            goto done;
        }

        if (c != ',' || d->pos >= d->len) {
            return omni_json_dec_unexpected(d, d->pos,
                                            ", ',' or '}' expected");
        }

        d->pos++;
        omni_json_skip_ws(d);
    }

done:

    if (!push && nkeys > OMNI_JSON_CHECKED_KEYS) {
        lua_pop(d->L, 1);
    }

    return OMNI_JSON_OK;
}


/* the scratch table of a checked-only object, with the keys seen so far */

static void
omni_json_check_keys(omni_json_dec_t *d, omni_json_key_t *keys, size_t n)
{
    size_t  i;

    lua_createtable(d->L, 0, (int) n + 4);

    for (i = 0; i < n; i++) {
        lua_pushlstring(d->L, keys[i].data, keys[i].len);
        lua_pushboolean(d->L, 1);
        lua_rawset(d->L, -3);
    }
}


static int
omni_json_decode_value(omni_json_dec_t *d, int depth, int push)
{
    size_t         pos, left;
    const u_char  *s;

    pos = d->pos;

    if (pos >= d->len) {
        return omni_json_dec_unexpected(d, pos, NULL);
    }

    s = d->s + pos;
    left = d->len - pos;

    switch (*s) {

    case '{':
        return omni_json_decode_object(d, depth + 1, push, NULL);

    case '[':
        return omni_json_decode_array(d, depth + 1, push);

    case '"':
        return omni_json_decode_string(d, push);

    case 't':
        if (left >= 4 && memcmp(s, "true", 4) == 0) {
            if (push) {
                lua_pushboolean(d->L, 1);
            }

            d->pos += 4;
            return OMNI_JSON_OK;
        }
        break;

    case 'f':
        if (left >= 5 && memcmp(s, "false", 5) == 0) {
            if (push) {
                lua_pushboolean(d->L, 0);
            }

            d->pos += 5;
            return OMNI_JSON_OK;
        }
        break;

    case 'n':
        if (left >= 4 && memcmp(s, "null", 4) == 0) {
            if (push) {
                lua_pushvalue(d->L, OMNI_JSON_UPVALUE(OMNI_JSON_NULL));
            }

            d->pos += 4;
            return OMNI_JSON_OK;
        }
        break;

    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return omni_json_decode_number(d, push);

    default:
        break;
    }

    return omni_json_dec_unexpected(d, pos, NULL);
}


/* decode(s): the value, or nil and "json: ... at byte N" */
int
omni_json_decode(lua_State *L)
{
    return omni_json_decode_document(L, NULL);
}


/* decode_reply(s): as decode, the top-level object's "data" kept raw */
int
omni_json_decode_reply(lua_State *L)
{
    return omni_json_decode_document(L, "data");
}


static int
omni_json_decode_document(lua_State *L, const char *raw)
{
    int              rc;
    omni_json_dec_t  d;

    d.L = L;
    d.s = (const u_char *) luaL_checklstring(L, 1, &d.len);
    d.pos = 0;
    omni_lua_buf_init(&d.buf, L, OMNI_JSON_DEC_BUF);

    lua_settop(L, 1);
    lua_pushnil(L);                     /* OMNI_JSON_DEC_ERR */
    lua_pushnil(L);                     /* OMNI_JSON_DEC_BUF */

    if (d.len >= 3 && memcmp(d.s, "\xEF\xBB\xBF", 3) == 0) {
        d.pos = 3;
    }

    omni_json_skip_ws(&d);

    if (d.pos >= d.len) {
        omni_json_dec_fails(&d, d.pos, "empty document");
        goto failed;
    }

    if (raw && d.s[d.pos] == '{') {
        rc = omni_json_decode_object(&d, 1, 1, raw);

    } else {
        rc = omni_json_decode_value(&d, 0, 1);
    }

    if (rc != OMNI_JSON_OK) {
        goto failed;
    }

    omni_json_skip_ws(&d);

    if (d.pos < d.len) {
        omni_json_dec_unexpected(&d, d.pos, " after the document");
        goto failed;
    }

    return 1;

failed:

    lua_pushnil(L);
    lua_pushvalue(L, OMNI_JSON_DEC_ERR);

    return 2;
}
