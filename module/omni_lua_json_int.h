/*
 * Copyright (C) The omni gateway authors
 *
 * The native JSON codec's insides (omni_lua_json.h), shared by its three
 * files and included by them only: omni_lua_json.c (the Lua module, bind,
 * buffers), omni_lua_json_decode.c and omni_lua_json_encode.c.
 */

#ifndef OMNI_LUA_JSON_INT_H_INCLUDED_
#define OMNI_LUA_JSON_INT_H_INCLUDED_


#include <sys/types.h>
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

/*
 * The registry key of the marks given to bind(): a number, not an
 * address, so that a copy of this code in another Lua C module finds
 * them too, and not a name, which every lookup would hash; negative, so
 * that luaL_ref(), which numbers from 1, never takes it.
 */
#define OMNI_JSON_MARKS_REF    (-0x6f6d6e69)


/* the closures bind() makes (omni_lua_json_decode.c, _encode.c) */
int omni_json_decode(lua_State *L);
int omni_json_decode_reply(lua_State *L);
int omni_json_encode(lua_State *L);


/* inlined: the codec's inner loops add to buffers byte by byte */

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


#endif /* OMNI_LUA_JSON_INT_H_INCLUDED_ */
