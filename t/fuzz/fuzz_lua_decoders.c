/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the support library's decoders of what channels send,
 * omni.xml (its native parser, omni_lua_xml.c, and its Lua writers) and
 * omni.form (its native decoder, omni_lua_form.c, and its Lua encoders),
 * run on the input by t/fuzz/decoders_check.lua.  fuzz_xml and fuzz_form
 * drive the parsers alone.
 */


#include <stdint.h>
#include <stddef.h>

#include "fuzz_lua.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_lua_test(data, size, "decoders_check", NULL, NULL);
}
