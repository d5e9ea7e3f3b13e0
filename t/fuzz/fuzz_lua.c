/*
 * Copyright (C) The omni gateway authors
 */


#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lualib.h>

#include "fuzz_lua.h"
#include "omni_lua_form.h"
#include "omni_lua_json.h"
#include "omni_lua_xml.h"


/*
 * No leak checks: LuaJIT keeps pointers in tagged values that
 * LeakSanitizer does not recognise, so all the VM holds would look lost,
 * and the cores these targets drive allocate from the VM alone.
 */
const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
    return "detect_leaks=0";
}


/* the harness function, in the registry */
static int  fuzz_lua_ref = LUA_NOREF;


static void *
fuzz_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void) ud;
    (void) osize;

    if (nsize == 0) {
        free(ptr);
        return NULL;
    }

    return realloc(ptr, nsize);
}


static void
fuzz_lua_die(lua_State *L, const char *what)
{
    fprintf(stderr, "fuzz: %s: %s\n", what,
            lua_isstring(L, -1) ? lua_tostring(L, -1) : "(no message)");
    abort();
}


static lua_State *
fuzz_lua_open(const char *harness, const char *name, lua_CFunction native)
{
    lua_State  *L;

    L = lua_newstate(fuzz_lua_alloc, NULL);
    if (L == NULL) {
        fprintf(stderr, "fuzz: cannot create a Lua state\n");
        abort();
    }

    luaL_openlibs(L);

    /* the support library and the harnesses, and no other native module */
    if (luaL_dostring(L, "package.path = '" FUZZ_ROOT "/lua/?.lua;"
                      FUZZ_ROOT "/t/fuzz/?.lua' package.cpath = ''") != 0)
    {
        fuzz_lua_die(L, "package.path");
    }

    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_omni_json_native);
    lua_setfield(L, -2, "omni_json_native");
    lua_pushcfunction(L, luaopen_omni_xml_native);
    lua_setfield(L, -2, "omni_xml_native");
    lua_pushcfunction(L, luaopen_omni_form_native);
    lua_setfield(L, -2, "omni_form_native");

    if (native != NULL) {
        lua_pushcfunction(L, native);
        lua_setfield(L, -2, name);
    }

    lua_pop(L, 2);

    lua_getglobal(L, "require");
    lua_pushstring(L, harness);

    if (lua_pcall(L, 1, 1, 0) != 0) {
        fuzz_lua_die(L, harness);
    }

    if (!lua_isfunction(L, -1)) {
        lua_pushliteral(L, "the harness returned no function");
        fuzz_lua_die(L, harness);
    }

    fuzz_lua_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    return L;
}


int
fuzz_lua_test(const uint8_t *data, size_t size, const char *harness,
    const char *name, lua_CFunction native)
{
    static lua_State  *L;

    if (L == NULL) {
        L = fuzz_lua_open(harness, name, native);
    }

    lua_rawgeti(L, LUA_REGISTRYINDEX, fuzz_lua_ref);
    lua_pushlstring(L, (const char *) data, size);

    if (lua_pcall(L, 1, 0, 0) != 0) {
        fuzz_lua_die(L, "the harness raised");
    }

    return 0;
}
