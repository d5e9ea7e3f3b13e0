/*
 * Copyright (C) The omni gateway authors
 *
 * Fuzz target: key loading.  The input is loaded as a JWKS document and
 * as PEM text, as a key file's content (omni_keyset_add_jwks_data(),
 * omni_keyset_add_pem_data()).  A failure must leave the keyset as it
 * was, with a message.  Every key that loads is pinned to algorithms of
 * its type and is then used: for each algorithm it may verify, a token
 * naming the key is signed with it when it is a secret (and must
 * verify), or carries a forged signature (and must not).
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "omni_base64.h"
#include "omni_keys.h"
#include "omni_token.h"


#define FUZZ_KEYS_USED  4            /* keys of a set that sign tokens */


static void
fuzz_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_keys: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    abort();
}


static const EVP_MD *
fuzz_md(int alg)
{
    switch ((alg - OMNI_ALG_HS256) % 3) {
    case 0:
        return EVP_sha256();
    case 1:
        return EVP_sha384();
    default:
        return EVP_sha512();
    }
}


/* a token of alg naming key: signed when it is a secret, else forged */
static char *
fuzz_token(const omni_key_t *key, int alg, size_t *len)
{
    char           *tok, *p, *header;
    size_t          hlen, slen;
    json_t         *json;
    unsigned int    mlen;
    unsigned char   sig[1024];

    json = key->kid ? json_pack("{s:s, s:s}", "alg", omni_alg_name(alg),
                                "kid", key->kid)
                    : json_pack("{s:s}", "alg", omni_alg_name(alg));
    header = json_dumps(json, JSON_COMPACT);
    json_decref(json);

    if (header == NULL) {
        fuzz_fail("out of memory", NULL);
    }

    hlen = strlen(header);
    tok = malloc(omni_base64_encoded_len(hlen) + 8
                 + omni_base64_encoded_len(sizeof(sig)));
    if (tok == NULL) {
        fuzz_fail("out of memory", NULL);
    }

    p = tok;
    p += omni_base64url_encode(p, (const unsigned char *) header, hlen);
    p = memcpy(p, ".e30.", 5);     /* {} */
    p += 5;
    free(header);

    if (key->type == OMNI_KEY_HMAC) {
        if (HMAC(fuzz_md(alg), key->secret, (int) key->secret_len,
                 (const unsigned char *) tok, (size_t) (p - tok) - 1, sig,
                 &mlen) == NULL)
        {
            fuzz_fail("HMAC failed", NULL);
        }

        slen = mlen;

    } else {
        /* as long as a real one: RSA the modulus, ECDSA r and s */
        slen = (key->type == OMNI_KEY_RSA)
               ? (size_t) EVP_PKEY_get_size(key->pkey)
               : 2 * (((size_t) EVP_PKEY_get_bits(key->pkey) + 7) / 8);

        if (slen > sizeof(sig)) {
            slen = sizeof(sig);
        }

        memset(sig, 0x5a, slen);
    }

    p += omni_base64url_encode(p, sig, slen);
    *len = (size_t) (p - tok);

    return tok;
}


static void
fuzz_use(const omni_keyset_t *ks)
{
    int                  alg;
    char                *token;
    size_t               i, len;
    unsigned             family;
    omni_token_t        *tok;
    omni_token_rc_t      rc;
    omni_token_conf_t    conf;
    omni_token_error_t   err;
    const omni_key_t    *key;

    memset(&conf, 0, sizeof(omni_token_conf_t));
    conf.keys = ks;
    conf.max_length = 16384;

    for (i = 0; i < ks->nkeys && i < FUZZ_KEYS_USED; i++) {
        key = &ks->keys[i];

        family = (key->type == OMNI_KEY_HMAC) ? OMNI_ALGS_HMAC
                 : (key->type == OMNI_KEY_RSA) ? OMNI_ALGS_RSA
                 : (OMNI_ALG_BIT(OMNI_ALG_ES256) | OMNI_ALG_BIT(OMNI_ALG_ES384)
                    | OMNI_ALG_BIT(OMNI_ALG_ES512));

        if (key->algs == 0 || (key->algs & ~family) != 0
            || (key->type == OMNI_KEY_HMAC) != (key->pkey == NULL))
        {
            fuzz_fail("a key pinned to algorithms not of its type",
                      key->source);
        }

        for (alg = 0; alg < OMNI_ALG_COUNT; alg++) {
            if (!(key->algs & OMNI_ALG_BIT(alg))) {
                continue;
            }

            token = fuzz_token(key, alg, &len);
            rc = omni_token_verify(&conf, token, len, 1800000000, &tok, &err);
            free(token);

            if (tok != NULL) {
                omni_token_free(tok);
            }

            /* another key of the set without a kid may be the one tried */
            if (key->type == OMNI_KEY_HMAC && key->kid != NULL
                && rc != OMNI_TOKEN_OK)
            {
                fuzz_fail("a token signed with a loaded secret does not "
                          "verify", omni_token_code(rc));
            }

            if (key->type != OMNI_KEY_HMAC && rc == OMNI_TOKEN_OK) {
                fuzz_fail("a forged signature verifies", key->source);
            }
        }
    }
}


static void
fuzz_load(const uint8_t *data, size_t size, int jwks)
{
    int             rc;
    char            err[OMNI_ERRLEN];
    omni_keyset_t  *ks;

    ks = omni_keyset_new();
    if (ks == NULL) {
        fuzz_fail("out of memory", NULL);
    }

    err[0] = '\0';

    rc = jwks ? omni_keyset_add_jwks_data(ks, "fuzz.jwks", data, size, err)
              : omni_keyset_add_pem_data(ks, "fuzz.pem", data, size, "pem", 0,
                                         err);

    if (rc != 0) {
        if (ks->nkeys != 0 || err[0] == '\0'
            || memchr(err, '\0', sizeof(err)) == NULL)
        {
            fuzz_fail("a failed load left keys or no message", err);
        }

    } else {
        if (ks->nkeys == 0 && !jwks) {
            fuzz_fail("a PEM load added no key", NULL);
        }

        fuzz_use(ks);
    }

    omni_keyset_free(ks);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_load(data, size, 1);
    fuzz_load(data, size, 0);

    return 0;
}
