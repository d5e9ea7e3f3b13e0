/*
 * Copyright (C) The omni gateway authors
 *
 * Verification keys, parsed once at configuration load and pinned to the
 * algorithms each may verify.  Knows nothing of NGINX.
 */

#ifndef OMNI_KEYS_H_INCLUDED_
#define OMNI_KEYS_H_INCLUDED_


#include <stddef.h>
#include <openssl/evp.h>

#include "omni_err.h"


typedef enum {
    OMNI_ALG_HS256 = 0,
    OMNI_ALG_HS384,
    OMNI_ALG_HS512,
    OMNI_ALG_RS256,
    OMNI_ALG_RS384,
    OMNI_ALG_RS512,
    OMNI_ALG_ES256,
    OMNI_ALG_ES384,
    OMNI_ALG_ES512,
    OMNI_ALG_COUNT
} omni_alg_t;

#define OMNI_ALG_BIT(alg)   (1u << (alg))
#define OMNI_ALGS_HMAC      (OMNI_ALG_BIT(OMNI_ALG_HS256)                    \
                             | OMNI_ALG_BIT(OMNI_ALG_HS384)                  \
                             | OMNI_ALG_BIT(OMNI_ALG_HS512))
#define OMNI_ALGS_RSA       (OMNI_ALG_BIT(OMNI_ALG_RS256)                    \
                             | OMNI_ALG_BIT(OMNI_ALG_RS384)                  \
                             | OMNI_ALG_BIT(OMNI_ALG_RS512))

#define OMNI_RSA_MIN_BITS   2048


typedef enum {
    OMNI_KEY_HMAC = 0,
    OMNI_KEY_RSA,
    OMNI_KEY_EC
} omni_key_type_t;


typedef struct {
    omni_key_type_t   type;
    unsigned          algs;        /* OMNI_ALG_BIT set it may verify */
    char             *kid;         /* NULL when the key has none */
    char             *source;      /* "file" or "file#index", for messages */
    EVP_PKEY         *pkey;        /* RSA and EC */
    EVP_MD_CTX       *verify[3];   /* SHA-256/384/512 verifiers, set up
                                      once: per request they are copied */
    unsigned char    *secret;      /* HMAC */
    size_t            secret_len;
    EVP_MAC_CTX      *hmac[3];     /* HS256/384/512, keyed once: each
                                      token reinitialises them */
} omni_key_t;


typedef struct {
    omni_key_t       *keys;
    size_t            nkeys;
    size_t            nalloc;
} omni_keyset_t;


omni_keyset_t *omni_keyset_new(void);
void omni_keyset_free(omni_keyset_t *ks);

/*
 * Each loader returns 0, or -1 with a message naming the file and the
 * problem in err (OMNI_ERRLEN bytes).  algs of 0 pins the key to the
 * algorithms its type allows: RS* for RSA, the curve's ES* for EC, and the
 * HS* whose minimum secret length the secret meets.
 */
int omni_keyset_add_pem(omni_keyset_t *ks, const char *path, const char *kid,
    unsigned algs, char *err);
int omni_keyset_add_secret(omni_keyset_t *ks, const char *path,
    const char *kid, unsigned algs, char *err);
int omni_keyset_add_jwks(omni_keyset_t *ks, const char *path, char *err);

/*
 * The PEM and JWKS loaders on text already in memory (len bytes, no NUL
 * needed), named path in messages: what the loaders above run on a file's
 * content, for callers that hold the text (the fuzz targets).
 */
int omni_keyset_add_pem_data(omni_keyset_t *ks, const char *path,
    const unsigned char *data, size_t len, const char *kid, unsigned algs,
    char *err);
int omni_keyset_add_jwks_data(omni_keyset_t *ks, const char *path,
    const unsigned char *data, size_t len, char *err);

/* Algorithm names are case-sensitive as in RFC 7518; -1 if unknown. */
int omni_alg_by_name(const char *name, size_t len);
const char *omni_alg_name(omni_alg_t alg);

/* Parses "RS256,RS384" into a bit set; -1 with err on an unknown name. */
int omni_algs_parse(const char *list, unsigned *algs, char *err);


#endif /* OMNI_KEYS_H_INCLUDED_ */
