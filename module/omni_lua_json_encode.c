/*
 * Copyright (C) The omni gateway authors
 *
 * The native JSON codec's deterministic encoder (omni_lua_json.h): encode
 * for Lua, omni_json_encode_into() for the contract writer.
 */


#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "omni_lua_json_int.h"


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
int
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
