/*
 * Copyright (C) The omni gateway authors
 */


#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "omni_base64.h"
#include "omni_lua_crypto.h"


static int omni_crypto_digest(lua_State *L, const EVP_MD *md);
static int omni_crypto_hmac(lua_State *L, const EVP_MD *md);
static int omni_crypto_sha1(lua_State *L);
static int omni_crypto_sha256(lua_State *L);
static int omni_crypto_hmac_sha1(lua_State *L);
static int omni_crypto_hmac_sha256(lua_State *L);
static int omni_crypto_equals(lua_State *L);
static int omni_crypto_base64_encode(lua_State *L);
static int omni_crypto_base64_decode(lua_State *L);


static const luaL_Reg  omni_crypto_functions[] = {
    { "sha1", omni_crypto_sha1 },
    { "sha256", omni_crypto_sha256 },
    { "hmac_sha1", omni_crypto_hmac_sha1 },
    { "hmac_sha256", omni_crypto_hmac_sha256 },
    { "equals", omni_crypto_equals },
    { "base64_encode", omni_crypto_base64_encode },
    { "base64_decode", omni_crypto_base64_decode },
    { NULL, NULL }
};


int
luaopen_omni_crypto(lua_State *L)
{
    lua_newtable(L);
    luaL_register(L, NULL, omni_crypto_functions);

    return 1;
}


static int
omni_crypto_digest(lua_State *L, const EVP_MD *md)
{
    size_t         len;
    const char    *s;
    unsigned int   n;
    unsigned char  out[EVP_MAX_MD_SIZE];

    s = luaL_checklstring(L, 1, &len);

    if (!EVP_Digest(s, len, out, &n, md, NULL)) {
        return luaL_error(L, "digest failed");
    }

    lua_pushlstring(L, (const char *) out, n);

    return 1;
}


static int
omni_crypto_hmac(lua_State *L, const EVP_MD *md)
{
    size_t         klen, len;
    const char    *key, *s;
    unsigned int   n;
    unsigned char  out[EVP_MAX_MD_SIZE];

    key = luaL_checklstring(L, 1, &klen);
    s = luaL_checklstring(L, 2, &len);

    if (HMAC(md, key, (int) klen, (const unsigned char *) s, len, out, &n)
        == NULL)
    {
        return luaL_error(L, "hmac failed");
    }

    lua_pushlstring(L, (const char *) out, n);

    return 1;
}


static int
omni_crypto_sha1(lua_State *L)
{
    return omni_crypto_digest(L, EVP_sha1());
}


static int
omni_crypto_sha256(lua_State *L)
{
    return omni_crypto_digest(L, EVP_sha256());
}


static int
omni_crypto_hmac_sha1(lua_State *L)
{
    return omni_crypto_hmac(L, EVP_sha1());
}


static int
omni_crypto_hmac_sha256(lua_State *L)
{
    return omni_crypto_hmac(L, EVP_sha256());
}


/* Signatures are compared without leaking where they first differ. */

static int
omni_crypto_equals(lua_State *L)
{
    size_t       alen, blen;
    const char  *a, *b;

    a = luaL_checklstring(L, 1, &alen);
    b = luaL_checklstring(L, 2, &blen);

    lua_pushboolean(L, alen == blen && CRYPTO_memcmp(a, b, alen) == 0);

    return 1;
}


/* standard base64, padded (omni_base64.h) */

static int
omni_crypto_base64_encode(lua_State *L)
{
    size_t       len;
    const char  *s;
    char        *out;

    s = luaL_checklstring(L, 1, &len);

    out = lua_newuserdata(L, omni_base64_encoded_len(len));
    len = omni_base64_encode(out, (const unsigned char *) s, len);

    lua_pushlstring(L, out, len);

    return 1;
}


/* what plugins have always been given: the lenient decoder */

static int
omni_crypto_base64_decode(lua_State *L)
{
    long            n;
    size_t          len;
    const char     *s;
    unsigned char  *out;

    s = luaL_checklstring(L, 1, &len);

    out = lua_newuserdata(L, omni_base64_decoded_len(len));

    n = omni_base64_decode_lenient(out, s, len);
    if (n < 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "invalid base64");
        return 2;
    }

    lua_pushlstring(L, (const char *) out, (size_t) n);

    return 1;
}
