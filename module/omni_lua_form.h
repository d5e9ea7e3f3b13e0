/*
 * Copyright (C) The omni gateway authors
 *
 * The Lua C module omni_form_native: omni.form's decode and unescape
 * (lua/omni/form.lua, which keeps the encoders), over the decoder in
 * omni_form.c.  Knows nothing of NGINX: the same code is
 * omni_form_native.so for the runner and the specs.
 */

#ifndef OMNI_LUA_FORM_H_INCLUDED_
#define OMNI_LUA_FORM_H_INCLUDED_


#include <lua.h>


int luaopen_omni_form_native(lua_State *L);


#endif /* OMNI_LUA_FORM_H_INCLUDED_ */
