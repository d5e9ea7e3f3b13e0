/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the support library's decoders of what channels send,
 * omni.xml and omni.form (pure Lua, over omni.utf8's native check), run
 * on the input by t/fuzz/decoders_check.lua.
 */


#include <stdint.h>
#include <stddef.h>

#include "fuzz_lua.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_lua_test(data, size, "decoders_check", NULL, NULL);
}
