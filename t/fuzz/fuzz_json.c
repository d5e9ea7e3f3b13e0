/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: omni.json's native codec (module/omni_lua_json.c), through
 * omni.json as plugins call it; the checks are t/fuzz/json_check.lua's.
 */


#include <stdint.h>
#include <stddef.h>

#include "fuzz_lua.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lua_State  *L;

    if (L == NULL) {
        L = fuzz_lua_open("json_check", NULL, NULL);
    }

    fuzz_lua_run(L, data, size);

    return 0;
}
