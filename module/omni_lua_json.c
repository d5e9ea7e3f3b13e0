/*
 * Copyright (C) The omni gateway authors
 */


#include <sys/types.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "omni_json_text.h"
#include "omni_lua_json.h"


#define OMNI_JSON_MAX_DEPTH   64

/*
 * The marks given to bind(): the upvalues of decode and encode, and the
 * same values kept in the registry for omni_json_encode_into().
 */
#define OMNI_JSON_NULL         1
#define OMNI_JSON_EMPTY_ARRAY  2
#define OMNI_JSON_ARRAY_MT     3
#define OMNI_JSON_OBJECT_MT    4
#define OMNI_JSON_TOSTRING     5
#define OMNI_JSON_FORMAT       6
#define OMNI_JSON_RAW_MT       7
#define OMNI_JSON_MARKS        7

/* decode only runs as a closure */
#define OMNI_JSON_UPVALUE(i)   lua_upvalueindex(i)

/* encode also runs with the marks on the stack from marks on */
#define OMNI_JSON_MARK(e, i)                                                  \
    ((e)->marks ? (e)->marks + (i) - 1 : lua_upvalueindex(i))

/* decode's stack: the text, the error message, the scratch buffer */
#define OMNI_JSON_DEC_ERR      2
#define OMNI_JSON_DEC_BUF      3

/* encode's stack: value, indent, the error, the output, the key stack */
#define OMNI_JSON_ENC_ERR      3
#define OMNI_JSON_ENC_BUF      4
#define OMNI_JSON_ENC_KEYS     5

#define OMNI_JSON_OK           0
#define OMNI_JSON_ERROR       -1




typedef struct {
    lua_State         *L;
    const u_char      *s;
    size_t             len;
    size_t             pos;
    omni_lua_buf_t    buf;
} omni_json_dec_t;


typedef struct {
    const char        *data;
    size_t             len;
} omni_json_key_t;


typedef struct {
    const char        *key;     /* NULL: an array index */
    size_t             klen;
    size_t             index;
} omni_json_path_t;


typedef struct {
    lua_State         *L;
    omni_buf_t        *out;
    int                marks;   /* 0: the closure's upvalues */
    int                err;     /* stack slots */
    int                keys_slot;
    const char        *root;    /* the value's name in messages */
    const char        *indent;  /* NULL: compact */
    size_t             indent_len;
    omni_json_key_t   *keys;
    size_t             nkeys;
    size_t             keys_cap;
    omni_json_path_t   path[OMNI_JSON_MAX_DEPTH + 1];
    const void        *seen[OMNI_JSON_MAX_DEPTH + 1];

    /* the first 128 keys need no allocation */
    omni_json_key_t    keys0[128];
} omni_json_enc_t;


static int omni_json_bind(lua_State *L);
static int omni_json_decode(lua_State *L);
static int omni_json_decode_reply(lua_State *L);
static int omni_json_decode_document(lua_State *L, const char *raw);
static int omni_json_encode(lua_State *L);


static int omni_json_utf8(lua_State *L);


static const luaL_Reg  omni_json_functions[] = {
    { "bind", omni_json_bind },
    { "utf8_valid", omni_json_utf8 },
    { NULL, NULL }
};


/* bytes that end a run of plain string bytes: controls, '"', '\' */
static u_char  omni_json_special[256];

/*
 * The registry key of the marks given to bind(): a name, not an address,
 * so that a copy of this code in another Lua C module finds them too.
 */
#define OMNI_JSON_MARKS_KEY    "omni_json_native.marks"


int
luaopen_omni_json_native(lua_State *L)
{
    int  i;

    for (i = 0; i < 256; i++) {
        omni_json_special[i] = (i < 32 || i == '"' || i == '\\');
    }

    lua_newtable(L);
    luaL_register(L, NULL, omni_json_functions);

    /* omni.json's MAX_DEPTH: the limit is stated here only */
    lua_pushinteger(L, OMNI_JSON_MAX_DEPTH);
    lua_setfield(L, -2, "MAX_DEPTH");

    return 1;
}


/*
 * bind(null, empty_array, array_mt, object_mt, tostring, string.format,
 * raw_mt) returns decode, encode and decode_reply closures over
 * omni.json's sentinels and metatables, and keeps them for C callers.
 */
static int
omni_json_bind(lua_State *L)
{
    int  i;

    luaL_checktype(L, 1, LUA_TUSERDATA);
    luaL_checktype(L, 2, LUA_TUSERDATA);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_checktype(L, 4, LUA_TTABLE);
    luaL_checktype(L, 5, LUA_TFUNCTION);
    luaL_checktype(L, 6, LUA_TFUNCTION);
    luaL_checktype(L, 7, LUA_TTABLE);
    lua_settop(L, OMNI_JSON_MARKS);

    lua_createtable(L, OMNI_JSON_MARKS, 0);
    for (i = 1; i <= OMNI_JSON_MARKS; i++) {
        lua_pushvalue(L, i);
        lua_rawseti(L, -2, i);
    }
    lua_setfield(L, LUA_REGISTRYINDEX, OMNI_JSON_MARKS_KEY);

    for (i = 1; i <= OMNI_JSON_MARKS; i++) {
        lua_pushvalue(L, i);
    }
    lua_pushcclosure(L, omni_json_decode, OMNI_JSON_MARKS);

    for (i = 1; i <= OMNI_JSON_MARKS; i++) {
        lua_pushvalue(L, i);
    }
    lua_pushcclosure(L, omni_json_encode, OMNI_JSON_MARKS);

    for (i = 1; i <= OMNI_JSON_MARKS; i++) {
        lua_pushvalue(L, i);
    }
    lua_pushcclosure(L, omni_json_decode_reply, OMNI_JSON_MARKS);

    return 3;
}


/* utf8_valid(s): whether s is RFC 3629 UTF-8, for omni.utf8 */
static int
omni_json_utf8(lua_State *L)
{
    size_t       len;
    const char  *s;

    s = luaL_checklstring(L, 1, &len);

    lua_pushboolean(L, omni_json_utf8_valid((const u_char *) s, len));

    return 1;
}


/* buffers */

static u_char *
omni_json_buf_grow(omni_buf_t *b, size_t n)
{
    size_t            cap;
    u_char           *p;
    omni_lua_buf_t  *jb = (omni_lua_buf_t *) b;

    if (n > (size_t) -1 / 2 - b->len) {
        return NULL;
    }

    cap = b->cap ? b->cap : 256;

    while (cap < b->len + n) {
        cap *= 2;
    }

    /*
     * the old data is a userdata or the caller's: a memory error here
     * unwinds like any other, and nothing leaks
     */
    p = lua_newuserdata(jb->L, cap);
    if (b->len) {
        memcpy(p, b->data, b->len);
    }
    lua_replace(jb->L, jb->slot);

    b->data = p;
    b->cap = cap;

    return p + b->len;
}


void
omni_lua_buf_init(omni_lua_buf_t *jb, lua_State *L, int slot)
{
    jb->b.data = NULL;
    jb->b.len = 0;
    jb->b.cap = 0;
    jb->b.grow = omni_json_buf_grow;
    jb->b.ctx = NULL;
    jb->L = L;
    jb->slot = slot;
}


static inline u_char *
omni_json_buf_reserve(lua_State *L, omni_buf_t *b, size_t n)
{
    u_char  *p;

    p = omni_buf_reserve(b, n);
    if (p == NULL) {
        luaL_error(L, "json: out of memory");
    }

    return p;
}


static inline void
omni_json_buf_add(lua_State *L, omni_buf_t *b, const void *s, size_t n)
{
    u_char  *p;

    /* an empty run (a string that starts with an escape) adds nothing */
    if (n == 0) {
        return;
    }

    p = omni_json_buf_reserve(L, b, n);
    memcpy(p, s, n);
    b->len += n;
}


static inline void
omni_json_buf_addc(lua_State *L, omni_buf_t *b, u_char c)
{
    u_char  *p;

    p = omni_json_buf_reserve(L, b, 1);
    *p = c;
    b->len++;
}


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
    int        i;
    u_char     c;
    unsigned   v;

    if (pos > d->len || d->len - pos < 4) {
        return 0;
    }

    v = 0;

    for (i = 0; i < 4; i++) {
        c = d->s[pos + i];

        if (c >= '0' && c <= '9') {
            v = v * 16 + (c - '0');

        } else if (c >= 'a' && c <= 'f') {
            v = v * 16 + (c - 'a' + 10);

        } else if (c >= 'A' && c <= 'F') {
            v = v * 16 + (c - 'A' + 10);

        } else {
            return 0;
        }
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
 * Without push the object is only checked: its keys go into a scratch
 * table, which finds duplicates as the decoded object would.  With raw,
 * the member of that name is checked only and kept as its text (the
 * top-level "data" of a unified reply).
 */
static int
omni_json_decode_object(omni_json_dec_t *d, int depth, int push,
    const char *raw)
{
    u_char       c;
    size_t       key_pos, klen, start;
    const char  *key;

    if (depth > OMNI_JSON_MAX_DEPTH) {
        return omni_json_dec_fails(d, d->pos,
                                   "too deeply nested (more than 64 levels)");
    }

    luaL_checkstack(d->L, 6, "json: nesting");

    lua_newtable(d->L);

    if (push) {
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

    if (!push) {
        lua_pop(d->L, 1);
    }

    return OMNI_JSON_OK;
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
static int
omni_json_decode(lua_State *L)
{
    return omni_json_decode_document(L, NULL);
}


/* decode_reply(s): as decode, the top-level object's "data" kept raw */
static int
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


/* encode */

/* "<path> <w1><w2><w3>" into the error slot */
static int
omni_json_enc_fail(omni_json_enc_t *e, int depth, const char *w1,
    const char *w2, size_t l2, const char *w3)
{
    int          i, n;
    char         num[32];
    luaL_Buffer  b;

    luaL_buffinit(e->L, &b);

    if (e->root) {
        luaL_addstring(&b, e->root);

    } else if (depth == 0) {
        luaL_addstring(&b, "value");
    }

    for (i = 1; i <= depth; i++) {
        if (e->path[i].key == NULL) {
            n = snprintf(num, sizeof(num), "[%lu]",
                         (unsigned long) e->path[i].index);
            luaL_addlstring(&b, num, (size_t) n);
            continue;
        }

        if (i > 1 || e->root) {
            luaL_addchar(&b, '.');
        }

        luaL_addlstring(&b, e->path[i].key, e->path[i].klen);
    }

    luaL_addchar(&b, ' ');
    luaL_addstring(&b, w1);

    if (w2 != NULL) {
        luaL_addlstring(&b, w2, l2);
    }

    if (w3 != NULL) {
        luaL_addstring(&b, w3);
    }

    luaL_pushresult(&b);
    lua_replace(e->L, e->err);

    return OMNI_JSON_ERROR;
}


static int
omni_json_encode_string(omni_json_enc_t *e, const u_char *s, size_t len,
    int depth)
{
    switch (omni_json_add_string(e->out, s, len)) {

    case OMNI_JSON_TEXT_OK:
        return OMNI_JSON_OK;

    case OMNI_JSON_TEXT_NOT_UTF8:
        return omni_json_enc_fail(e, depth, "is not valid UTF-8", NULL, 0,
                                  NULL);

    case OMNI_JSON_TEXT_NUL:
        return omni_json_enc_fail(e, depth, "holds a NUL character (U+0000)",
                                  NULL, 0, NULL);

    default:
        return luaL_error(e->L, "json: out of memory");
    }
}


/*
 * "%.<p>g" as LuaJIT's string.format() writes it.  That rounds a tie (the
 * exact value halfway between two p-digit decimals) away from zero, where
 * the C library rounds it to even: glibc's digits are used unless the
 * value may be such a tie, then string.format() itself.
 */
static int
omni_json_format_g(omni_json_enc_t *e, double v, int p, char *out,
    size_t size)
{
    int          n, k;
    char         probe[64];
    size_t       len;
    const char  *s, *d;

    n = snprintf(probe, sizeof(probe), "%.*e", p + 2, v);

    /* the significant digits p + 1 to p + 3 of d[0].d[2]d[3]... */
    d = (probe[0] == '-') ? probe + 1 : probe;
    k = p + 1;

    if (n > 0 && (size_t) n < sizeof(probe)
        && (d[k] != '5' || d[k + 1] != '0' || d[k + 2] != '0'))
    {
        n = snprintf(out, size, "%.*g", p, v);
        return n;
    }

    lua_pushvalue(e->L, OMNI_JSON_MARK(e, OMNI_JSON_FORMAT));
    lua_pushfstring(e->L, "%%.%dg", p);
    lua_pushnumber(e->L, v);
    lua_call(e->L, 2, 1);

    s = lua_tolstring(e->L, -1, &len);
    if (s == NULL || len >= size) {
        return luaL_error(e->L, "'string.format' returned no number");
    }

    memcpy(out, s, len);
    out[len] = '\0';
    lua_pop(e->L, 1);

    return (int) len;
}


static int
omni_json_encode_number(omni_json_enc_t *e, double v, int depth)
{
    int   n;
    char  tmp[64];

    if (isnan(v)) {
        return omni_json_enc_fail(e, depth, "is NaN", NULL, 0, NULL);
    }

    if (isinf(v)) {
        return omni_json_enc_fail(e, depth, "is infinite", NULL, 0, NULL);
    }

    if (v == floor(v) && v > -1e15 && v < 1e15) {
        n = snprintf(tmp, sizeof(tmp), "%lld", (long long) v);

    } else {
        n = omni_json_format_g(e, v, 14, tmp, sizeof(tmp));

        if (strtod(tmp, NULL) != v) {
            n = omni_json_format_g(e, v, 16, tmp, sizeof(tmp));

            if (strtod(tmp, NULL) != v) {
                n = omni_json_format_g(e, v, 17, tmp, sizeof(tmp));
            }
        }
    }

    omni_json_buf_add(e->L, e->out, tmp, (size_t) n);

    return OMNI_JSON_OK;
}


static void
omni_json_newline(omni_json_enc_t *e, int depth)
{
    int  i;

    omni_json_buf_addc(e->L, e->out, '\n');

    for (i = 0; i < depth; i++) {
        omni_json_buf_add(e->L, e->out, e->indent, e->indent_len);
    }
}


static int
omni_json_key_cmp(const void *one, const void *two)
{
    int                     rc;
    size_t                  n;
    const omni_json_key_t  *a, *b;

    a = one;
    b = two;
    n = a->len < b->len ? a->len : b->len;

    rc = memcmp(a->data, b->data, n);

    if (rc != 0) {
        return rc;
    }

    return (a->len > b->len) - (a->len < b->len);
}


static void
omni_json_add_key(omni_json_enc_t *e, const char *data, size_t len)
{
    size_t            cap;
    omni_json_key_t  *keys;

    if (e->nkeys == e->keys_cap) {
        if (e->keys_cap > ((size_t) -1 / sizeof(omni_json_key_t)) / 4) {
            luaL_error(e->L, "json: out of memory");
            return;
        }

        cap = e->keys_cap ? e->keys_cap * 2 : 32;

        keys = lua_newuserdata(e->L, cap * sizeof(omni_json_key_t));
        if (e->nkeys) {
            memcpy(keys, e->keys, e->nkeys * sizeof(omni_json_key_t));
        }
        lua_replace(e->L, e->keys_slot);

        e->keys = keys;
        e->keys_cap = cap;
    }

    e->keys[e->nkeys].data = data;
    e->keys[e->nkeys].len = len;
    e->nkeys++;
}


static int omni_json_encode_value(omni_json_enc_t *e, int idx, int depth);


/* the table at idx, whose keys are (from kbase on) the key stack's */
static int
omni_json_encode_table(omni_json_enc_t *e, int idx, int depth)
{
    int            i, d, top, strings, marked_array, marked_object;
    size_t         n, k, kbase, nk, klen;
    double         key, max;
    const char    *ks;
    lua_State     *L;
    const void    *t;

    L = e->L;
    t = lua_topointer(L, idx);

    for (i = 0; i < depth; i++) {
        if (e->seen[i] == t) {
            return omni_json_enc_fail(e, depth, "is a cycle", NULL, 0, NULL);
        }
    }

    if (depth >= OMNI_JSON_MAX_DEPTH) {
        return omni_json_enc_fail(e, depth, "is too deeply nested (more than"
                                  " 64 levels)", NULL, 0, NULL);
    }

    e->seen[depth] = t;

    luaL_checkstack(L, 6, "json: nesting");

    /* classify: string keys, or the integers 1..n */

    kbase = e->nkeys;
    n = 0;
    max = 0;
    strings = 0;

    lua_pushnil(L);

    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);

        switch (lua_type(L, -1)) {

        case LUA_TSTRING:
            strings = 1;
            ks = lua_tolstring(L, -1, &klen);
            omni_json_add_key(e, ks, klen);
            break;

        case LUA_TNUMBER:
            key = lua_tonumber(L, -1);
            if (key >= 1 && key == floor(key) && key < HUGE_VAL) {
                n++;
                if (key > max) {
                    max = key;
                }
                break;
            }
            /* fall through */

        default:
            lua_pushvalue(L, OMNI_JSON_MARK(e, OMNI_JSON_TOSTRING));
            lua_pushvalue(L, -2);
            lua_call(L, 1, 1);
            ks = lua_tolstring(L, -1, &klen);
            if (ks == NULL) {
                return luaL_error(L, "'tostring' must return a string");
            }
            return omni_json_enc_fail(e, depth, "has a key that is not a"
                                      " string or a positive integer (",
                                      ks, klen, ")");
        }

        if (strings && n > 0) {
            return omni_json_enc_fail(e, depth,
                                      "mixes string and integer keys",
                                      NULL, 0, NULL);
        }
    }

    marked_array = 0;
    marked_object = 0;

    if (lua_getmetatable(L, idx)) {
        marked_array = lua_rawequal(L, -1,
                                    OMNI_JSON_MARK(e, OMNI_JSON_ARRAY_MT));
        marked_object = lua_rawequal(L, -1,
                                     OMNI_JSON_MARK(e, OMNI_JSON_OBJECT_MT));
        lua_pop(L, 1);
    }

    if (marked_array && strings) {
        return omni_json_enc_fail(e, depth, "is an array with string keys",
                                  NULL, 0, NULL);
    }

    if (marked_object && n > 0) {
        return omni_json_enc_fail(e, depth, "is an object with integer keys",
                                  NULL, 0, NULL);
    }

    d = depth + 1;

    if (marked_object || (!marked_array && n == 0)) {
        goto object;
    }

    if (max != (double) n) {
        return omni_json_enc_fail(e, depth, "is a sparse array",
                                  NULL, 0, NULL);
    }

    if (n == 0) {
        omni_json_buf_add(L, e->out, "[]", 2);
        return OMNI_JSON_OK;
    }

    omni_json_buf_addc(L, e->out, '[');

    for (k = 1; k <= n; k++) {
        if (k > 1) {
            omni_json_buf_addc(L, e->out, ',');
        }

        if (e->indent) {
            omni_json_newline(e, d);
        }

        e->path[d].key = NULL;
        e->path[d].index = k;

        lua_rawgeti(L, idx, (int) k);
        top = lua_gettop(L);

        if (omni_json_encode_value(e, top, d) != OMNI_JSON_OK) {
            return OMNI_JSON_ERROR;
        }

        lua_pop(L, 1);
    }

    if (e->indent) {
        omni_json_newline(e, depth);
    }

    omni_json_buf_addc(L, e->out, ']');

    return OMNI_JSON_OK;

object:

    nk = e->nkeys - kbase;

    if (nk == 0) {
        omni_json_buf_add(L, e->out, "{}", 2);
        return OMNI_JSON_OK;
    }

    qsort(e->keys + kbase, nk, sizeof(omni_json_key_t), omni_json_key_cmp);

    omni_json_buf_addc(L, e->out, '{');

    for (k = 0; k < nk; k++) {
        /* e->keys may move as nested tables push their keys */
        ks = e->keys[kbase + k].data;
        klen = e->keys[kbase + k].len;

        if (k > 0) {
            omni_json_buf_addc(L, e->out, ',');
        }

        if (e->indent) {
            omni_json_newline(e, d);
        }

        /* named by its parent: a NUL would cut the message short */
        if (memchr(ks, '\0', klen) != NULL) {
            return omni_json_enc_fail(e, depth, "has a key holding a NUL "
                                      "character (U+0000)", NULL, 0, NULL);
        }

        e->path[d].key = ks;
        e->path[d].klen = klen;

        if (omni_json_encode_string(e, (const u_char *) ks, klen, d)
            != OMNI_JSON_OK)
        {
            return OMNI_JSON_ERROR;
        }

        if (e->indent) {
            omni_json_buf_add(L, e->out, ": ", 2);

        } else {
            omni_json_buf_addc(L, e->out, ':');
        }

        lua_pushlstring(L, ks, klen);
        lua_rawget(L, idx);
        top = lua_gettop(L);

        if (omni_json_encode_value(e, top, d) != OMNI_JSON_OK) {
            return OMNI_JSON_ERROR;
        }

        lua_pop(L, 1);
    }

    e->nkeys = kbase;

    if (e->indent) {
        omni_json_newline(e, depth);
    }

    omni_json_buf_addc(L, e->out, '}');

    return OMNI_JSON_OK;
}


static int
omni_json_encode_value(omni_json_enc_t *e, int idx, int depth)
{
    int          type, raw;
    size_t       len;
    const char  *s;
    lua_State   *L;

    L = e->L;
    type = lua_type(L, idx);

    switch (type) {

    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        return omni_json_encode_string(e, (const u_char *) s, len, depth);

    case LUA_TNUMBER:
        return omni_json_encode_number(e, lua_tonumber(L, idx), depth);

    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx)) {
            omni_json_buf_add(L, e->out, "true", 4);

        } else {
            omni_json_buf_add(L, e->out, "false", 5);
        }
        return OMNI_JSON_OK;

    case LUA_TTABLE:
        if (lua_getmetatable(L, idx)) {
            raw = lua_rawequal(L, -1, OMNI_JSON_MARK(e, OMNI_JSON_RAW_MT));
            lua_pop(L, 1);

            if (raw) {
                /* a service's text that decode_reply checked */
                lua_rawgeti(L, idx, 1);
                s = lua_tolstring(L, -1, &len);

                if (s == NULL || lua_type(L, -1) != LUA_TSTRING) {
                    return omni_json_enc_fail(e, depth, "is a raw value "
                                              "without its text", NULL, 0,
                                              NULL);
                }

                omni_json_buf_add(L, e->out, s, len);
                lua_pop(L, 1);

                return OMNI_JSON_OK;
            }
        }

        return omni_json_encode_table(e, idx, depth);

    case LUA_TNIL:
        return omni_json_enc_fail(e, depth, "is nil", NULL, 0, NULL);

    default:
        break;
    }

    if (lua_rawequal(L, idx, OMNI_JSON_MARK(e, OMNI_JSON_NULL))) {
        omni_json_buf_add(L, e->out, "null", 4);
        return OMNI_JSON_OK;
    }

    if (lua_rawequal(L, idx, OMNI_JSON_MARK(e, OMNI_JSON_EMPTY_ARRAY))) {
        omni_json_buf_add(L, e->out, "[]", 2);
        return OMNI_JSON_OK;
    }

    s = lua_typename(L, type);

    return omni_json_enc_fail(e, depth, "is a ", s, strlen(s), NULL);
}


/* encode(value, indent): the text, or nil and the error */
static int
omni_json_encode(lua_State *L)
{
    u_char           out0[4096];
    omni_lua_buf_t  out;
    omni_json_enc_t  e;

    e.L = L;
    e.marks = 0;
    e.root = NULL;
    e.indent = NULL;
    e.indent_len = 0;

    if (!lua_isnoneornil(L, 2)) {
        e.indent = luaL_checklstring(L, 2, &e.indent_len);
    }

    luaL_checkany(L, 1);
    lua_settop(L, 2);
    lua_pushnil(L);                     /* OMNI_JSON_ENC_ERR */
    lua_pushnil(L);                     /* OMNI_JSON_ENC_BUF */
    lua_pushnil(L);                     /* OMNI_JSON_ENC_KEYS */

    /* the first 4 KB need no allocation */
    omni_lua_buf_init(&out, L, OMNI_JSON_ENC_BUF);
    out.b.data = out0;
    out.b.cap = sizeof(out0);

    e.out = &out.b;
    e.err = OMNI_JSON_ENC_ERR;
    e.keys_slot = OMNI_JSON_ENC_KEYS;
    e.keys = e.keys0;
    e.nkeys = 0;
    e.keys_cap = sizeof(e.keys0) / sizeof(omni_json_key_t);

    if (omni_json_encode_value(&e, 1, 0) != OMNI_JSON_OK) {
        lua_pushnil(L);
        lua_pushvalue(L, OMNI_JSON_ENC_ERR);
        return 2;
    }

    lua_pushlstring(L, (const char *) out.b.data, out.b.len);

    return 1;
}


int
omni_json_push_marks(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, OMNI_JSON_MARKS_KEY);

    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return -1;
    }

    return 0;
}


int
omni_json_encode_into(lua_State *L, int idx, const char *root,
    omni_buf_t *out)
{
    int              i, top;
    omni_json_enc_t  e;

    idx = (idx < 0) ? lua_gettop(L) + idx + 1 : idx;
    top = lua_gettop(L);

    luaL_checkstack(L, OMNI_JSON_MARKS + 4, "json: encode");

    if (omni_json_push_marks(L) != 0) {
        return luaL_error(L, "json: omni.json is not loaded");
    }

    for (i = 1; i <= OMNI_JSON_MARKS; i++) {
        lua_rawgeti(L, top + 1, i);
    }

    lua_pushnil(L);
    lua_pushnil(L);

    e.L = L;
    e.marks = top + 2;
    e.err = top + 2 + OMNI_JSON_MARKS;
    e.keys_slot = e.err + 1;
    e.root = root;
    e.indent = NULL;
    e.indent_len = 0;
    e.out = out;
    e.keys = e.keys0;
    e.nkeys = 0;
    e.keys_cap = sizeof(e.keys0) / sizeof(omni_json_key_t);

    if (omni_json_encode_value(&e, idx, 0) != OMNI_JSON_OK) {
        lua_pushvalue(L, e.err);
        lua_replace(L, top + 1);
        lua_settop(L, top + 1);
        return -1;
    }

    lua_settop(L, top);

    return 0;
}
