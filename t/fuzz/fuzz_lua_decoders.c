/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the support library's decoders of what channels send,
 * omni.xml (its native parser, omni_lua_xml.c, and its Lua writers) and
 * omni.form (Lua, over omni.utf8's native check), run on the input by
 * t/fuzz/decoders_check.lua.  fuzz_xml drives the parser alone.
 */


#include <stdint.h>
#include <stddef.h>

#include "fuzz_lua.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_lua_test(data, size, "decoders_check", NULL, NULL);
}
