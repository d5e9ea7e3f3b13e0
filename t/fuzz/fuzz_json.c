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
    return fuzz_lua_test(data, size, "json_check", NULL, NULL);
}
