/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the channel plugins of plugins/, each run through the
 * host on the input as a request and as a service's reply
 * (t/fuzz/plugins_check.lua): whatever a channel sends, every step
 * returns a result or an error, never raises.
 */


#include <stdint.h>
#include <stddef.h>

#include <lauxlib.h>

#include "fuzz_lua.h"
#include "omni_lua_contract.h"
#include "omni_lua_crypto.h"


/*
 * The module the harness requires first: the natives the host needs
 * beside fuzz_lua's, preloaded, and the tree's root for the plugins.
 */
static int
fuzz_plugins_natives(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_omni_crypto);
    lua_setfield(L, -2, "omni_crypto");
    lua_pushcfunction(L, luaopen_omni_contract_native);
    lua_setfield(L, -2, "omni_contract_native");
    lua_pop(L, 2);

    lua_createtable(L, 0, 1);
    lua_pushliteral(L, FUZZ_ROOT);
    lua_setfield(L, -2, "root");

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_lua_test(data, size, "plugins_check", "fuzz_plugins_natives",
                         fuzz_plugins_natives);
}
