/*
 * Copyright (C) The omni gateway authors
 *
 * The Lua C module omni_xml_native: omni.xml's decode (lua/omni/xml.lua,
 * which keeps the writing helpers and fields()), over the parser in
 * omni_xml.c.  Knows nothing of NGINX: the same code is
 * omni_xml_native.so for the runner and the specs.
 */

#ifndef OMNI_LUA_XML_H_INCLUDED_
#define OMNI_LUA_XML_H_INCLUDED_


#include <lua.h>


int luaopen_omni_xml_native(lua_State *L);


#endif /* OMNI_LUA_XML_H_INCLUDED_ */
