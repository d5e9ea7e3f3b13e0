/*
 * Copyright (C) The omni gateway authors
 *
 * The native JSON codec (omni_lua_json.h): the Lua C module
 * omni_json_native, bind(), and the buffers whose memory the VM owns.  The
 * decoder is omni_lua_json_decode.c, the encoder omni_lua_json_encode.c.
 */


#include "omni_lua_json_int.h"


static int omni_json_bind(lua_State *L);
static int omni_json_utf8(lua_State *L);



static const luaL_Reg  omni_json_functions[] = {
    { "bind", omni_json_bind },
    { "utf8_valid", omni_json_utf8 },
    { NULL, NULL }
};


int
luaopen_omni_json_native(lua_State *L)
{
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
    lua_rawseti(L, LUA_REGISTRYINDEX, OMNI_JSON_MARKS_REF);

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


int
omni_json_push_marks(lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, OMNI_JSON_MARKS_REF);

    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return -1;
    }

    return 0;
}
