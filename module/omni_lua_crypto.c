/*
 * Copyright (C) The omni gateway authors
 */


#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "omni_base64.h"
#include "omni_lua_crypto.h"


/*
 * One HMAC context per digest and VM: OpenSSL 3's one-shot HMAC() fetches
 * the algorithm and makes a context each time, three quarters of what a
 * webhook's signature cost.  A context is keyed again only for another
 * key: a channel signs with one secret, and keying hashes it into the
 * inner and outer pads.  The key is known by its Lua string (strings are
 * interned: the same bytes are the same string), which the userdata's
 * environment keeps alive so that its address cannot be reused.  They
 * live in a userdata, the HMAC functions' upvalue, freed with the VM.
 */
typedef struct {
    EVP_MAC_CTX   *ctx;
    const char    *key;         /* the string keyed with, or NULL */
} omni_crypto_mac_t;

typedef struct {
    omni_crypto_mac_t   sha1;   /* environment slot 1 holds its key */
    omni_crypto_mac_t   sha256; /* slot 2 */
} omni_crypto_macs_t;


static int omni_crypto_digest(lua_State *L, const EVP_MD *md);
static int omni_crypto_hmac(lua_State *L, const char *digest,
    omni_crypto_mac_t *mac, int slot);
static EVP_MAC_CTX *omni_crypto_mac(const char *digest);
static int omni_crypto_sha1(lua_State *L);
static int omni_crypto_sha256(lua_State *L);
static int omni_crypto_hmac_sha1(lua_State *L);
static int omni_crypto_hmac_sha256(lua_State *L);
static int omni_crypto_equals(lua_State *L);
static int omni_crypto_base64_encode(lua_State *L);
static int omni_crypto_base64_decode(lua_State *L);
static int omni_crypto_aes_cbc(lua_State *L, int enc);
static int omni_crypto_aes_cbc_encrypt(lua_State *L);
static int omni_crypto_aes_cbc_decrypt(lua_State *L);
static int omni_crypto_random_bytes(lua_State *L);


/* the longest text AES-CBC takes: channel messages are kilobytes */
#define OMNI_CRYPTO_AES_MAX     (1024 * 1024)
#define OMNI_CRYPTO_RANDOM_MAX  1024




static int omni_crypto_macs_gc(lua_State *L);


static const luaL_Reg  omni_crypto_functions[] = {
    { "sha1", omni_crypto_sha1 },
    { "sha256", omni_crypto_sha256 },
    { "equals", omni_crypto_equals },
    { "base64_encode", omni_crypto_base64_encode },
    { "base64_decode", omni_crypto_base64_decode },
    { "aes_cbc_encrypt", omni_crypto_aes_cbc_encrypt },
    { "aes_cbc_decrypt", omni_crypto_aes_cbc_decrypt },
    { "random_bytes", omni_crypto_random_bytes },
    { NULL, NULL }
};


int
luaopen_omni_crypto(lua_State *L)
{
    omni_crypto_macs_t  *macs;

    lua_newtable(L);
    luaL_register(L, NULL, omni_crypto_functions);

    macs = lua_newuserdata(L, sizeof(omni_crypto_macs_t));
    macs->sha1.ctx = NULL;
    macs->sha1.key = NULL;
    macs->sha256.ctx = NULL;
    macs->sha256.key = NULL;

    lua_createtable(L, 2, 0);
    lua_setfenv(L, -2);

    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, omni_crypto_macs_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);

    lua_pushvalue(L, -1);
    lua_pushcclosure(L, omni_crypto_hmac_sha1, 1);
    lua_setfield(L, -3, "hmac_sha1");

    lua_pushcclosure(L, omni_crypto_hmac_sha256, 1);
    lua_setfield(L, -2, "hmac_sha256");

    return 1;
}


static int
omni_crypto_macs_gc(lua_State *L)
{
    omni_crypto_macs_t  *macs;

    macs = lua_touserdata(L, 1);

    EVP_MAC_CTX_free(macs->sha1.ctx);
    EVP_MAC_CTX_free(macs->sha256.ctx);
    macs->sha1.ctx = NULL;
    macs->sha256.ctx = NULL;

    return 0;
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
omni_crypto_hmac(lua_State *L, const char *digest, omni_crypto_mac_t *mac,
    int slot)
{
    int             rc;
    size_t          klen, len, n;
    const char     *key, *s;
    unsigned char   out[EVP_MAX_MD_SIZE];

    key = luaL_checklstring(L, 1, &klen);
    s = luaL_checklstring(L, 2, &len);

    if (mac->ctx == NULL) {
        mac->ctx = omni_crypto_mac(digest);
        if (mac->ctx == NULL) {
            return luaL_error(L, "hmac failed");
        }
    }

    if (key == mac->key) {
        /* the pads of the key it holds again */
        rc = EVP_MAC_init(mac->ctx, NULL, 0, NULL);

    } else {
        mac->key = NULL;
        rc = EVP_MAC_init(mac->ctx, (const unsigned char *) key, klen, NULL);

        if (rc == 1) {
            lua_getfenv(L, lua_upvalueindex(1));
            lua_pushvalue(L, 1);
            lua_rawseti(L, -2, slot);
            lua_pop(L, 1);
            mac->key = key;
        }
    }

    if (rc != 1
        || EVP_MAC_update(mac->ctx, (const unsigned char *) s, len) != 1
        || EVP_MAC_final(mac->ctx, out, &n, sizeof(out)) != 1)
    {
        mac->key = NULL;
        return luaL_error(L, "hmac failed");
    }

    lua_pushlstring(L, (const char *) out, n);

    return 1;
}


static EVP_MAC_CTX *
omni_crypto_mac(const char *digest)
{
    EVP_MAC      *mac;
    OSSL_PARAM    params[2];
    EVP_MAC_CTX  *ctx;

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        return NULL;
    }

    /* the context holds its own reference to the algorithm */
    ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);

    if (ctx == NULL) {
        return NULL;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) digest, 0);
    params[1] = OSSL_PARAM_construct_end();

    if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }

    return ctx;
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
    omni_crypto_macs_t  *macs;

    macs = lua_touserdata(L, lua_upvalueindex(1));

    return omni_crypto_hmac(L, "SHA1", &macs->sha1, 1);
}


static int
omni_crypto_hmac_sha256(lua_State *L)
{
    omni_crypto_macs_t  *macs;

    macs = lua_touserdata(L, lua_upvalueindex(1));

    return omni_crypto_hmac(L, "SHA256", &macs->sha256, 2);
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


/*
 * AES-CBC without padding (the channel pads: WeChat's PKCS#7 is to 32
 * bytes, not to the block): aes_cbc_encrypt(key, iv, data) and
 * aes_cbc_decrypt(key, iv, data).  A key of 16, 24 or 32 bytes picks
 * AES-128, -192 or -256; the IV is 16 bytes.  Wrong key or IV lengths are
 * the caller's mistake and raise; data that is not whole blocks, or
 * longer than OMNI_CRYPTO_AES_MAX, is bad input: nil and a message.
 */

static int
omni_crypto_aes_cbc(lua_State *L, int enc)
{
    int                n, fin, ok;
    size_t             klen, ivlen, len;
    const char        *key, *iv, *s;
    unsigned char     *out;
    EVP_CIPHER_CTX    *ctx;
    const EVP_CIPHER  *cipher;

    key = luaL_checklstring(L, 1, &klen);
    iv = luaL_checklstring(L, 2, &ivlen);
    s = luaL_checklstring(L, 3, &len);

    switch (klen) {
    case 16:
        cipher = EVP_aes_128_cbc();
        break;
    case 24:
        cipher = EVP_aes_192_cbc();
        break;
    case 32:
        cipher = EVP_aes_256_cbc();
        break;
    default:
        cipher = NULL;
        break;
    }

    if (cipher == NULL) {
        return luaL_argerror(L, 1, "an AES key of 16, 24 or 32 bytes "
                             "expected");
    }

    if (ivlen != 16) {
        return luaL_argerror(L, 2, "an IV of 16 bytes expected");
    }

    if (len > OMNI_CRYPTO_AES_MAX) {
        lua_pushnil(L);
        lua_pushfstring(L, "aes: the data is longer than %d bytes",
                        OMNI_CRYPTO_AES_MAX);
        return 2;
    }

    if (len % 16 != 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "aes: the data is not whole 16-byte blocks");
        return 2;
    }

    if (len == 0) {
        lua_pushliteral(L, "");
        return 1;
    }

    /* before the context: a failed allocation raises, and leaks nothing */
    out = lua_newuserdata(L, len + 16);

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return luaL_error(L, "aes: out of memory");
    }

    n = 0;
    fin = 0;

    ok = EVP_CipherInit_ex(ctx, cipher, NULL, (const unsigned char *) key,
                           (const unsigned char *) iv, enc) == 1
         && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1
         && EVP_CipherUpdate(ctx, out, &n, (const unsigned char *) s,
                             (int) len) == 1
         && EVP_CipherFinal_ex(ctx, out + n, &fin) == 1;

    EVP_CIPHER_CTX_free(ctx);

    if (!ok || (size_t) (n + fin) != len) {
        return luaL_error(L, "aes: the cipher failed");
    }

    lua_pushlstring(L, (const char *) out, len);

    return 1;
}


static int
omni_crypto_aes_cbc_encrypt(lua_State *L)
{
    return omni_crypto_aes_cbc(L, 1);
}


static int
omni_crypto_aes_cbc_decrypt(lua_State *L)
{
    return omni_crypto_aes_cbc(L, 0);
}


/* random_bytes(n): n bytes from OpenSSL's CSPRNG, 1 <= n <= 1024 */

static int
omni_crypto_random_bytes(lua_State *L)
{
    lua_Integer     n;
    unsigned char   buf[OMNI_CRYPTO_RANDOM_MAX];

    n = luaL_checkinteger(L, 1);

    if (n < 1 || n > OMNI_CRYPTO_RANDOM_MAX) {
        return luaL_argerror(L, 1, "a count from 1 to 1024 expected");
    }

    if (RAND_bytes(buf, (int) n) != 1) {
        return luaL_error(L, "random_bytes: the generator failed");
    }

    lua_pushlstring(L, (const char *) buf, (size_t) n);
    OPENSSL_cleanse(buf, (size_t) n);

    return 1;
}
