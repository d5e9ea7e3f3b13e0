/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: the WeChat-family encrypted messages (lua/omni/wechat.lua
 * over omni_crypto's AES-CBC), run on the input by t/fuzz/wechat_check.lua:
 * the input as an <Encrypt> text, signed so that it gets past the
 * signature, and as a plaintext frame a sender could have encrypted.
 */


#include <stdint.h>
#include <stddef.h>

#include "fuzz_lua.h"
#include "omni_lua_crypto.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_lua_test(data, size, "wechat_check", "omni_crypto",
                         luaopen_omni_crypto);
}
