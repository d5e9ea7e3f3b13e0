/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the contract writer (module/omni_contract.c) through
 * omni_contract_native's encode, as the runner and the specs call it; the
 * input is decoded by omni.json into a plugin's fields, and the checks
 * are t/fuzz/contract_check.lua's.
 */


#include <stdint.h>
#include <stddef.h>

#include "fuzz_lua.h"
#include "omni_lua_contract.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_lua_test(data, size, "contract_check", "omni_contract_native",
                         luaopen_omni_contract_native);
}
