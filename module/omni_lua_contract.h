/*
 * Copyright (C) The omni gateway authors
 *
 * A plugin's normalize() result, from Lua to the contract: the Lua C
 * module omni_contract_native, which omni.host calls with the fields and
 * identify()'s identities.  Called with an omni_contract_t (a light
 * userdata, from the gateway), it fills the plugin's part of it: strings
 * stay in the VM, anchored by the fields table, until the contract is
 * written; params are encoded by omni.json's encoder straight into the
 * contract's buffer.  Called without one (the runner, the specs), it checks
 * the same way and writes the contract as a Lua string.  Knows nothing of
 * NGINX.
 */

#ifndef OMNI_LUA_CONTRACT_H_INCLUDED_
#define OMNI_LUA_CONTRACT_H_INCLUDED_


#include <lua.h>

#include "omni_contract.h"


int luaopen_omni_contract_native(lua_State *L);

/*
 * Writes the contract c, whose params are those of the fields table at
 * index fields.  Runs in a protected call (the encoder raises on out of
 * memory).
 */
omni_contract_rc_t omni_lua_contract_write(lua_State *L, int fields,
    omni_contract_t *c, omni_buf_t *out, char *err);


#endif /* OMNI_LUA_CONTRACT_H_INCLUDED_ */
