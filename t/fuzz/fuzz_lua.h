/*
 * Copyright (C) The omni gateway authors
 *
 * The Lua fuzz targets' VM: one LuaJIT state per process, its memory from
 * the C library (so that the sanitizers see the buffers our C code writes
 * into), lua/ and t/fuzz/ on package.path, the native JSON codec, XML
 * parser and form decoder preloaded.  A harness, t/fuzz/NAME.lua, returns
 * a function of the input that raises when what it checks does not hold.
 */

#ifndef FUZZ_LUA_H_INCLUDED_
#define FUZZ_LUA_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <lua.h>


/*
 * Runs the harness on data, in the VM opened on the first call with
 * native (may be NULL) preloaded as the module name; aborts with the
 * harness's message when it raises, or when the VM cannot be made.
 */
int fuzz_lua_test(const uint8_t *data, size_t size, const char *harness,
    const char *name, lua_CFunction native);


#endif /* FUZZ_LUA_H_INCLUDED_ */
