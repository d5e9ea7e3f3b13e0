/*
 * Copyright (C) The omni gateway authors
 *
 * The native helpers channel plugins use for channel-native signatures:
 * digests, HMACs, a constant-time compare, base64, AES-CBC (WeChat's
 * encrypted mode) and random bytes.  Knows nothing of
 * NGINX: the same code is the Lua C module omni_crypto.so for the runner
 * and the specs.
 */

#ifndef OMNI_LUA_CRYPTO_H_INCLUDED_
#define OMNI_LUA_CRYPTO_H_INCLUDED_


#include <lua.h>


int luaopen_omni_crypto(lua_State *L);


#endif /* OMNI_LUA_CRYPTO_H_INCLUDED_ */
