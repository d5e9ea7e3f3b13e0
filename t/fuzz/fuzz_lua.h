/*
 * Copyright (C) The omni gateway authors
 *
 * The Lua fuzz targets' VM: one LuaJIT state per process, its memory from
 * the C library (so that the sanitizers see the buffers our C code writes
 * into), lua/ and t/fuzz/ on package.path, omni.json's native codec
 * preloaded.  A harness, t/fuzz/NAME.lua, returns a function of the input
 * that raises when what it checks does not hold.
 */

#ifndef FUZZ_LUA_H_INCLUDED_
#define FUZZ_LUA_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <lua.h>


/*
 * Opens the VM with native (may be NULL) preloaded as the module name,
 * and requires the harness; aborts on failure.
 */
lua_State *fuzz_lua_open(const char *harness, const char *name,
    lua_CFunction native);

/* Calls the harness with data; aborts with its message when it raises. */
void fuzz_lua_run(lua_State *L, const uint8_t *data, size_t size);


#endif /* FUZZ_LUA_H_INCLUDED_ */
