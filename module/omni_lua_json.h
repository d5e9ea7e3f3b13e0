/*
 * Copyright (C) The omni gateway authors
 *
 * The JSON codec behind omni.json (lua/omni/json.lua, which has no parser
 * of its own): a strict decoder and a deterministic encoder.  Knows
 * nothing of NGINX: the same code is the Lua C module omni_json_native.so
 * for the runner and the specs.  The Lua module is omni_lua_json.c, the
 * decoder omni_lua_json_decode.c, the encoder omni_lua_json_encode.c.
 *
 * The module has one function, bind(null, empty_array, array_mt,
 * object_mt, tostring, string.format), which returns the decode and encode
 * functions working with omni.json's sentinels and marker metatables, and
 * keeps them for C callers of omni_json_encode_into().
 */

#ifndef OMNI_LUA_JSON_H_INCLUDED_
#define OMNI_LUA_JSON_H_INCLUDED_


#include <lua.h>

#include "omni_json_text.h"


/* what bind() keeps, by index in the table omni_json_push_marks() pushes */
#define OMNI_JSON_MARK_NULL         1
#define OMNI_JSON_MARK_EMPTY_ARRAY  2
#define OMNI_JSON_MARK_ARRAY_MT     3
#define OMNI_JSON_MARK_OBJECT_MT    4


/* a buffer whose memory is a userdata the VM collects, at a stack slot */
typedef struct {
    omni_buf_t         b;              /* first: grow gets its address */
    lua_State         *L;
    int                slot;
} omni_lua_buf_t;


int luaopen_omni_json_native(lua_State *L);

void omni_lua_buf_init(omni_lua_buf_t *lb, lua_State *L, int slot);

/* Pushes the marks table; -1 (nothing pushed) before omni.json is loaded. */
int omni_json_push_marks(lua_State *L);

/*
 * Encodes the value at idx compactly as omni.json's encode does, appending
 * to out; messages name the place under root ("params.x is a function").
 * Runs in a protected call (it raises on out of memory) in a VM where
 * omni.json is loaded.  Returns 0, or -1 with the message pushed.
 */
int omni_json_encode_into(lua_State *L, int idx, const char *root,
    omni_buf_t *out);


#endif /* OMNI_LUA_JSON_H_INCLUDED_ */
