/*
 * Copyright (C) The omni gateway authors
 *
 * omni_form_native (omni_lua_form.h): decode(s) builds omni.form's two
 * tables from the decoder's pairs, every table and string in the VM, so
 * the memory cap counts what the result holds; the decoder's scratch
 * buffer is a userdata the VM owns too, and exists only when a pair has
 * something to decode.
 *
 * decode returns t (name -> its last value) and all (name -> every value,
 * in order), or nil and "form: <what>"; unescape(s) returns s with '+' as
 * a space and "%XX" as a byte.  sort_names(a, n) sorts the strings
 * a[1..n] in byte order, as table.sort does, for omni.twilio's string to
 * sign: in C the sort is a tenth of table.sort's cost, which calls back
 * into the VM for every comparison.
 */


#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "omni_form.h"
#include "omni_lua_form.h"
#include "omni_lua_json.h"


/* decode's stack: the input, the scratch buffer, t and all */
#define OMNI_LUA_FORM_IN       1
#define OMNI_LUA_FORM_BUF      2
#define OMNI_LUA_FORM_T        3
#define OMNI_LUA_FORM_ALL      4

/* the longest message ("form: NUL (%00) at byte " and a size_t) */
#define OMNI_LUA_FORM_MESSAGE  64

/* unescape decodes a string this long on the C stack, a longer one in
 * a userdata */
#define OMNI_LUA_FORM_STACK    512


/* a string being sorted: its bytes and its stack slot */
typedef struct {
    const u_char       *data;
    size_t              len;
    int                 slot;
} omni_lua_form_name_t;


static int omni_lua_form_decode(lua_State *L);
static int omni_lua_form_unescape(lua_State *L);
static int omni_lua_form_sort_names(lua_State *L);
static int omni_lua_form_cmp(const void *one, const void *two);
static int omni_lua_form_start(void *data, size_t pairs);
static int omni_lua_form_pair(void *data, const u_char *name,
    size_t name_len, const u_char *value, size_t value_len);


int
luaopen_omni_form_native(lua_State *L)
{
    lua_newtable(L);

    lua_pushcfunction(L, omni_lua_form_decode);
    lua_setfield(L, -2, "decode");
    lua_pushcfunction(L, omni_lua_form_unescape);
    lua_setfield(L, -2, "unescape");
    lua_pushcfunction(L, omni_lua_form_sort_names);
    lua_setfield(L, -2, "sort_names");

    /* omni.form's limit: stated here only */
    lua_pushinteger(L, OMNI_FORM_MAX_PAIRS);
    lua_setfield(L, -2, "MAX_PAIRS");

    return 1;
}


/* decode(s) -> t, all | nil, err */
static int
omni_lua_form_decode(lua_State *L)
{
    size_t               len, n;
    u_char               msg[OMNI_LUA_FORM_MESSAGE];
    const char          *s;
    omni_lua_buf_t       scratch;
    omni_form_error_t    err;
    omni_form_handler_t  h;

    /* the name as written, whatever the caller calls the function */
    if (lua_type(L, OMNI_LUA_FORM_IN) != LUA_TSTRING) {
        return luaL_error(L, "bad argument #1 to 'decode' (string expected, "
                          "got %s)", luaL_typename(L, OMNI_LUA_FORM_IN));
    }

    s = lua_tolstring(L, OMNI_LUA_FORM_IN, &len);

    lua_settop(L, OMNI_LUA_FORM_BUF);
    luaL_checkstack(L, 8, "form.decode");

    omni_lua_buf_init(&scratch, L, OMNI_LUA_FORM_BUF);

    h.start = omni_lua_form_start;
    h.pair = omni_lua_form_pair;
    h.data = L;

    if (omni_form_parse((const u_char *) s, len, &scratch.b, &h, &err)
        == OMNI_FORM_OK)
    {
        return 2;
    }

    lua_pushnil(L);

    n = omni_form_strerror(&err, msg, sizeof(msg));
    lua_pushlstring(L, (const char *) msg, n < sizeof(msg) ? n : sizeof(msg));

    return 2;
}


/* makes t and all, sized for the pairs to come */
static int
omni_lua_form_start(void *data, size_t pairs)
{
    lua_State  *L = data;

    lua_createtable(L, 0, (int) pairs);
    lua_createtable(L, 0, (int) pairs);

    return 0;
}


/* t[name] = value, and value appended to all[name] */
static int
omni_lua_form_pair(void *data, const u_char *name, size_t name_len,
    const u_char *value, size_t value_len)
{
    size_t      n;
    lua_State  *L = data;

    lua_pushlstring(L, (const char *) name, name_len);
    lua_pushlstring(L, (const char *) value, value_len);

    lua_pushvalue(L, -2);
    lua_pushvalue(L, -2);
    lua_rawset(L, OMNI_LUA_FORM_T);

    lua_pushvalue(L, -2);
    lua_rawget(L, OMNI_LUA_FORM_ALL);

    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_createtable(L, 1, 0);
        n = 0;

    } else {
        n = lua_objlen(L, -1);
    }

    /* name, list, value: the value goes last in the list */
    lua_insert(L, -2);
    lua_rawseti(L, -2, (int) n + 1);

    if (n == 0) {
        lua_rawset(L, OMNI_LUA_FORM_ALL);

    } else {
        lua_pop(L, 2);
    }

    return 0;
}


/* unescape(s) -> s decoded; s itself when it has nothing to decode */
static int
omni_lua_form_unescape(lua_State *L)
{
    size_t         len, n;
    u_char        *d, buf[OMNI_LUA_FORM_STACK];
    const u_char  *s;

    if (lua_type(L, 1) != LUA_TSTRING) {
        return luaL_error(L, "bad argument #1 to 'unescape' (string "
                          "expected, got %s)", luaL_typename(L, 1));
    }

    s = (const u_char *) lua_tolstring(L, 1, &len);

    lua_settop(L, 1);

    if (omni_form_escaped(s, len) == s + len) {
        return 1;
    }

    d = len <= sizeof(buf) ? buf : lua_newuserdata(L, len);

    n = omni_form_unescape(d, s, len);
    lua_pushlstring(L, (const char *) d, n);

    return 1;
}


/*
 * sort_names(a, n): a[1..n], strings, sorted in place in byte order (a
 * shorter string before the longer one it begins).  n is at most
 * MAX_PAIRS; each string stays on the stack while it is sorted, so none
 * can be collected before it is written back.
 */
static int
omni_lua_form_sort_names(lua_State *L)
{
    int                    i, n;
    size_t                 len;
    lua_Integer            arg;
    omni_lua_form_name_t  *names;

    luaL_checktype(L, 1, LUA_TTABLE);
    arg = luaL_checkinteger(L, 2);
    luaL_argcheck(L, arg >= 0 && arg <= OMNI_FORM_MAX_PAIRS, 2,
                  "out of range");

    n = (int) arg;

    lua_settop(L, 2);
    luaL_checkstack(L, n + 1, "form.sort_names");

    names = lua_newuserdata(L, n * sizeof(omni_lua_form_name_t));

    for (i = 0; i < n; i++) {
        lua_rawgeti(L, 1, i + 1);

        if (lua_type(L, -1) != LUA_TSTRING) {
            return luaL_error(L, "bad argument #1 to 'sort_names' (string "
                              "expected at %d, got %s)", i + 1,
                              luaL_typename(L, -1));
        }

        names[i].data = (const u_char *) lua_tolstring(L, -1, &len);
        names[i].len = len;
        names[i].slot = lua_gettop(L);
    }

    qsort(names, n, sizeof(omni_lua_form_name_t), omni_lua_form_cmp);

    for (i = 0; i < n; i++) {
        lua_pushvalue(L, names[i].slot);
        lua_rawseti(L, 1, i + 1);
    }

    return 0;
}


static int
omni_lua_form_cmp(const void *one, const void *two)
{
    int                          rc;
    const omni_lua_form_name_t  *a = one, *b = two;

    rc = memcmp(a->data, b->data, a->len < b->len ? a->len : b->len);

    if (rc != 0) {
        return rc;
    }

    return (a->len > b->len) - (a->len < b->len);
}
