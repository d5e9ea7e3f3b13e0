/*
 * Copyright (C) The omni gateway authors
 *
 * The native JSON codec behind omni.json: the same strict decoder and
 * deterministic encoder as its pure-Lua implementation, byte for byte,
 * error message for error message.  Knows nothing of NGINX: the same
 * code is the Lua C module omni_json_native.so for the runner and the
 * specs.
 *
 * The module has one function, bind(null, empty_array, array_mt,
 * object_mt), which returns the decode and encode functions working with
 * omni.json's sentinels and marker metatables.
 */

#ifndef OMNI_LUA_JSON_H_INCLUDED_
#define OMNI_LUA_JSON_H_INCLUDED_


#include <lua.h>


int luaopen_omni_json_native(lua_State *L);


#endif /* OMNI_LUA_JSON_H_INCLUDED_ */
