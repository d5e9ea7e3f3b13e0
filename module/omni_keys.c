/*
 * Copyright (C) The omni gateway authors
 */


#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "omni_base64.h"
#include "omni_keys.h"


#define OMNI_KEY_FILE_MAX   (1024 * 1024)
#define OMNI_KID_MAX        256


typedef struct {
    const char   *name;
    omni_alg_t    alg;
} omni_alg_name_t;


static const omni_alg_name_t  omni_alg_names[] = {
    { "HS256", OMNI_ALG_HS256 },
    { "HS384", OMNI_ALG_HS384 },
    { "HS512", OMNI_ALG_HS512 },
    { "RS256", OMNI_ALG_RS256 },
    { "RS384", OMNI_ALG_RS384 },
    { "RS512", OMNI_ALG_RS512 },
    { "ES256", OMNI_ALG_ES256 },
    { "ES384", OMNI_ALG_ES384 },
    { "ES512", OMNI_ALG_ES512 },
};


/* RFC 7518 3.2: an HMAC key at least as long as the hash output. */
static const size_t  omni_hmac_min_len[] = { 32, 48, 64 };


static int omni_mem_find(const unsigned char *data, size_t len,
    const char *text);
static int omni_read_file(const char *path, unsigned char **data, size_t *len,
    char *err);
static omni_key_t *omni_keyset_push(omni_keyset_t *ks, const char *source,
    const char *kid, char *err);
static void omni_keyset_pop(omni_keyset_t *ks);
static int omni_key_pin(omni_key_t *key, unsigned algs, int ec_alg,
    char *err);
static int omni_key_set_pkey(omni_key_t *key, EVP_PKEY *pkey, unsigned algs,
    char *err);
static int omni_key_verifiers(omni_key_t *key, char *err);
static int omni_key_macs(omni_key_t *key, char *err);
static int omni_ec_curve_alg(EVP_PKEY *pkey);
static int omni_jwk_member(json_t *jwk, const char *name, unsigned char **out,
    size_t *len, const char *source, char *err);
static EVP_PKEY *omni_jwk_rsa(json_t *jwk, const char *source, char *err);
static EVP_PKEY *omni_jwk_ec(json_t *jwk, const char *source, char *err);
static EVP_PKEY *omni_pkey_fromdata(const char *type, OSSL_PARAM *params,
    const char *source, char *err);


omni_keyset_t *
omni_keyset_new(void)
{
    return calloc(1, sizeof(omni_keyset_t));
}


void
omni_keyset_free(omni_keyset_t *ks)
{
    if (ks == NULL) {
        return;
    }

    while (ks->nkeys) {
        omni_keyset_pop(ks);
    }

    free(ks->keys);
    free(ks);
}


int
omni_alg_by_name(const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < sizeof(omni_alg_names) / sizeof(omni_alg_names[0]); i++) {
        if (strlen(omni_alg_names[i].name) == len
            && memcmp(omni_alg_names[i].name, name, len) == 0)
        {
            return (int) omni_alg_names[i].alg;
        }
    }

    return -1;
}


const char *
omni_alg_name(omni_alg_t alg)
{
    if (alg >= OMNI_ALG_COUNT) {
        return "unknown";
    }

    return omni_alg_names[alg].name;
}


int
omni_algs_parse(const char *list, unsigned *algs, char *err)
{
    int          alg;
    size_t       len;
    const char  *p, *comma;

    *algs = 0;
    p = list;

    for ( ;; ) {
        comma = strchr(p, ',');
        len = comma ? (size_t) (comma - p) : strlen(p);

        alg = omni_alg_by_name(p, len);
        if (alg < 0) {
            omni_err(err, "unknown algorithm \"%.*s\"", (int) len, p);
            return -1;
        }

        *algs |= OMNI_ALG_BIT(alg);

        if (comma == NULL) {
            return 0;
        }

        p = comma + 1;
    }
}


int
omni_keyset_add_pem(omni_keyset_t *ks, const char *path, const char *kid,
    unsigned algs, char *err)
{
    int             rc;
    size_t          len;
    unsigned char  *data;

    if (omni_read_file(path, &data, &len, err) != 0) {
        return -1;
    }

    rc = omni_keyset_add_pem_data(ks, path, data, len, kid, algs, err);
    free(data);

    return rc;
}


int
omni_keyset_add_pem_data(omni_keyset_t *ks, const char *path,
    const unsigned char *data, size_t len, const char *kid, unsigned algs,
    char *err)
{
    BIO            *bio;
    X509           *cert;
    EVP_PKEY       *pkey;
    omni_key_t     *key;

    if (len > OMNI_KEY_FILE_MAX) {
        omni_err(err, "\"%s\" is larger than %d bytes", path,
                     OMNI_KEY_FILE_MAX);
        return -1;
    }

    /* a private key in a verification config is a leak waiting to happen */
    if (omni_mem_find(data, len, "PRIVATE KEY-----")) {
        omni_err(err, "\"%s\" holds a private key; give the public key "
                     "(openssl pkey -pubout)", path);
        return -1;
    }

    bio = BIO_new_mem_buf(data, (int) len);
    if (bio == NULL) {
        omni_err(err, "out of memory reading \"%s\"", path);
        return -1;
    }

    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);

    if (pkey == NULL) {
        (void) BIO_reset(bio);
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert != NULL) {
            pkey = X509_get_pubkey(cert);
            X509_free(cert);
        }
    }

    BIO_free(bio);
    ERR_clear_error();

    if (pkey == NULL) {
        omni_err(err, "\"%s\" is not a PEM public key or certificate",
                     path);
        return -1;
    }

    key = omni_keyset_push(ks, path, kid, err);
    if (key == NULL) {
        EVP_PKEY_free(pkey);
        return -1;
    }

    if (omni_key_set_pkey(key, pkey, algs, err) != 0) {
        omni_keyset_pop(ks);
        return -1;
    }

    return 0;
}


int
omni_keyset_add_secret(omni_keyset_t *ks, const char *path, const char *kid,
    unsigned algs, char *err)
{
    size_t          len;
    omni_key_t     *key;
    unsigned char  *data;

    if (omni_read_file(path, &data, &len, err) != 0) {
        return -1;
    }

    if (len == 0) {
        free(data);
        omni_err(err, "secret file \"%s\" is empty", path);
        return -1;
    }

    /*
     * A PEM document as an HMAC secret is the classic key confusion:
     * whoever has the public key could sign tokens with it.
     */
    if (strstr((char *) data, "-----BEGIN ") != NULL) {
        free(data);
        omni_err(err, "secret file \"%s\" holds a PEM document; "
                     "use omni_jwt_key for public keys", path);
        return -1;
    }

    key = omni_keyset_push(ks, path, kid, err);
    if (key == NULL) {
        free(data);
        return -1;
    }

    key->type = OMNI_KEY_HMAC;
    key->secret = data;
    key->secret_len = len;

    if (omni_key_pin(key, algs, -1, err) != 0) {
        omni_keyset_pop(ks);
        return -1;
    }

    return 0;
}


int
omni_keyset_add_jwks(omni_keyset_t *ks, const char *path, char *err)
{
    int             rc;
    size_t          len;
    unsigned char  *data;

    if (omni_read_file(path, &data, &len, err) != 0) {
        return -1;
    }

    rc = omni_keyset_add_jwks_data(ks, path, data, len, err);
    free(data);

    return rc;
}


int
omni_keyset_add_jwks_data(omni_keyset_t *ks, const char *path,
    const unsigned char *data, size_t len, char *err)
{
    int             alg;
    char            source[OMNI_ERRLEN / 2];
    size_t          i, klen, loaded;
    json_t         *root, *keys, *jwk, *v;
    unsigned        algs;
    EVP_PKEY       *pkey;
    omni_key_t     *key;
    const char     *kty, *kid, *use;
    json_error_t    jerr;
    unsigned char  *secret;

    if (len > OMNI_KEY_FILE_MAX) {
        omni_err(err, "\"%s\" is larger than %d bytes", path,
                     OMNI_KEY_FILE_MAX);
        return -1;
    }

    root = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES,
                      &jerr);

    if (root == NULL) {
        omni_err(err, "invalid JSON in JWKS \"%s\" at line %d: %s",
                     path, jerr.line, jerr.text);
        return -1;
    }

    loaded = ks->nkeys;

    keys = json_object_get(root, "keys");
    if (!json_is_array(keys) || json_array_size(keys) == 0) {
        json_decref(root);
        omni_err(err, "JWKS \"%s\" has no \"keys\" array", path);
        return -1;
    }

    json_array_foreach(keys, i, jwk) {
        snprintf(source, sizeof(source), "%s#%zu", path, i);

        if (!json_is_object(jwk)) {
            omni_err(err, "key %s is not a JSON object", source);
            goto failed;
        }

        v = json_object_get(jwk, "use");
        use = json_string_value(v);
        if (v != NULL && use == NULL) {
            omni_err(err, "key %s: \"use\" is not a string", source);
            goto failed;
        }

        if (use != NULL && strcmp(use, "sig") != 0) {
            /* encryption keys share JWKS documents; they never verify */
            continue;
        }

        v = json_object_get(jwk, "kid");
        kid = json_string_value(v);
        if (v != NULL && kid == NULL) {
            omni_err(err, "key %s: \"kid\" is not a string", source);
            goto failed;
        }

        algs = 0;
        v = json_object_get(jwk, "alg");
        if (v != NULL) {
            if (!json_is_string(v)) {
                omni_err(err, "key %s: \"alg\" is not a string", source);
                goto failed;
            }

            alg = omni_alg_by_name(json_string_value(v),
                                   json_string_length(v));
            if (alg < 0) {
                omni_err(err, "key %s: unsupported algorithm \"%s\"",
                             source, json_string_value(v));
                goto failed;
            }

            algs = OMNI_ALG_BIT(alg);
        }

        kty = json_string_value(json_object_get(jwk, "kty"));
        if (kty == NULL) {
            omni_err(err, "key %s has no \"kty\"", source);
            goto failed;
        }

        if (strcmp(kty, "oct") == 0) {
            if (omni_jwk_member(jwk, "k", &secret, &klen, source, err) != 0) {
                goto failed;
            }

            key = omni_keyset_push(ks, source, kid, err);
            if (key == NULL) {
                free(secret);
                goto failed;
            }

            key->type = OMNI_KEY_HMAC;
            key->secret = secret;
            key->secret_len = klen;

            if (omni_key_pin(key, algs, -1, err) != 0) {
                omni_keyset_pop(ks);
                goto failed;
            }

            continue;
        }

        if (strcmp(kty, "RSA") == 0) {
            pkey = omni_jwk_rsa(jwk, source, err);

        } else if (strcmp(kty, "EC") == 0) {
            pkey = omni_jwk_ec(jwk, source, err);

        } else {
            omni_err(err, "key %s: unsupported \"kty\" \"%s\"",
                         source, kty);
            goto failed;
        }

        if (pkey == NULL) {
            goto failed;
        }

        key = omni_keyset_push(ks, source, kid, err);
        if (key == NULL) {
            EVP_PKEY_free(pkey);
            goto failed;
        }

        if (omni_key_set_pkey(key, pkey, algs, err) != 0) {
            omni_keyset_pop(ks);
            goto failed;
        }
    }

    json_decref(root);
    return 0;

failed:

    /* all of the file or nothing: keys it added before the error go */
    while (ks->nkeys > loaded) {
        omni_keyset_pop(ks);
    }

    json_decref(root);
    return -1;
}



/* strstr() for text that may hold a NUL before what it looks for */
static int
omni_mem_find(const unsigned char *data, size_t len, const char *text)
{
    size_t  i, n;

    n = strlen(text);

    for (i = 0; i + n <= len; i++) {
        if (data[i] == (unsigned char) text[0]
            && memcmp(data + i, text, n) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static int
omni_read_file(const char *path, unsigned char **data, size_t *len, char *err)
{
    long            size;
    FILE           *f;
    unsigned char  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        omni_err(err, "cannot open \"%s\": %s", path, strerror(errno));
        return -1;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        omni_err(err, "cannot read \"%s\": %s", path, strerror(errno));
        fclose(f);
        return -1;
    }

    if (size > OMNI_KEY_FILE_MAX) {
        omni_err(err, "\"%s\" is larger than %d bytes", path,
                     OMNI_KEY_FILE_MAX);
        fclose(f);
        return -1;
    }

    /* one spare byte keeps the text NUL-terminated for strstr() */
    buf = malloc((size_t) size + 1);
    if (buf == NULL) {
        omni_err(err, "out of memory reading \"%s\"", path);
        fclose(f);
        return -1;
    }

    if (fread(buf, 1, (size_t) size, f) != (size_t) size) {
        omni_err(err, "cannot read \"%s\"", path);
        free(buf);
        fclose(f);
        return -1;
    }

    fclose(f);

    buf[size] = '\0';
    *data = buf;
    *len = (size_t) size;

    return 0;
}


static omni_key_t *
omni_keyset_push(omni_keyset_t *ks, const char *source, const char *kid,
    char *err)
{
    size_t       i, n;
    omni_key_t  *key, *keys;

    if (kid != NULL) {
        n = strlen(kid);

        if (n == 0 || n > OMNI_KID_MAX) {
            omni_err(err, "key %s: \"kid\" must be 1 to %d characters",
                         source, OMNI_KID_MAX);
            return NULL;
        }

        for (i = 0; i < n; i++) {
            if ((unsigned char) kid[i] < 0x20 || kid[i] == 0x7f) {
                omni_err(err, "key %s: \"kid\" has control characters",
                             source);
                return NULL;
            }
        }

        for (i = 0; i < ks->nkeys; i++) {
            if (ks->keys[i].kid && strcmp(ks->keys[i].kid, kid) == 0) {
                omni_err(err, "key %s: duplicate kid \"%s\", "
                             "also used by %s", source, kid,
                             ks->keys[i].source);
                return NULL;
            }
        }
    }

    if (ks->nkeys == ks->nalloc) {
        n = ks->nalloc ? ks->nalloc * 2 : 4;
        keys = realloc(ks->keys, n * sizeof(omni_key_t));
        if (keys == NULL) {
            omni_err(err, "out of memory");
            return NULL;
        }

        ks->keys = keys;
        ks->nalloc = n;
    }

    key = &ks->keys[ks->nkeys];
    memset(key, 0, sizeof(omni_key_t));

    key->source = strdup(source);
    if (key->source == NULL || (kid && (key->kid = strdup(kid)) == NULL)) {
        free(key->source);
        omni_err(err, "out of memory");
        return NULL;
    }

    ks->nkeys++;

    return key;
}


static void
omni_keyset_pop(omni_keyset_t *ks)
{
    int          i;
    omni_key_t  *key;

    key = &ks->keys[--ks->nkeys];

    for (i = 0; i < 3; i++) {
        EVP_MD_CTX_free(key->verify[i]);
        EVP_MAC_CTX_free(key->hmac[i]);
    }

    EVP_PKEY_free(key->pkey);

    if (key->secret) {
        OPENSSL_cleanse(key->secret, key->secret_len);
        free(key->secret);
    }

    free(key->kid);
    free(key->source);
}


static int
omni_key_pin(omni_key_t *key, unsigned algs, int ec_alg, char *err)
{
    int       i;
    unsigned  allowed;

    switch (key->type) {

    case OMNI_KEY_HMAC:
        allowed = 0;

        for (i = 0; i < 3; i++) {
            if (key->secret_len >= omni_hmac_min_len[i]) {
                allowed |= OMNI_ALG_BIT(OMNI_ALG_HS256 + i);
            }
        }

        if (allowed == 0) {
            omni_err(err, "secret %s is %zu bytes, HS256 needs at "
                         "least 32", key->source, key->secret_len);
            return -1;
        }

        if (algs & ~OMNI_ALGS_HMAC) {
            omni_err(err, "secret %s can only be pinned to HS256, "
                         "HS384 or HS512", key->source);
            return -1;
        }

        if (algs & ~allowed) {
            omni_err(err, "secret %s is %zu bytes, too short for the "
                         "pinned algorithms (HS256 needs 32, HS384 48, "
                         "HS512 64)", key->source, key->secret_len);
            return -1;
        }

        break;

    case OMNI_KEY_RSA:
        allowed = OMNI_ALGS_RSA;

        if (algs & ~allowed) {
            omni_err(err, "RSA key %s can only be pinned to RS256, "
                         "RS384 or RS512", key->source);
            return -1;
        }

        break;

    default: /* OMNI_KEY_EC */
        if (ec_alg < 0) {
            omni_err(err, "EC key %s uses an unsupported curve "
                         "(P-256, P-384 and P-521 are)", key->source);
            return -1;
        }

        allowed = OMNI_ALG_BIT(ec_alg);

        if (algs & ~allowed) {
            omni_err(err, "EC key %s can only be pinned to %s, "
                         "the algorithm of its curve", key->source,
                         omni_alg_name((omni_alg_t) ec_alg));
            return -1;
        }

        break;
    }

    key->algs = algs ? algs : allowed;

    return (key->type == OMNI_KEY_HMAC) ? omni_key_macs(key, err) : 0;
}


static int
omni_key_set_pkey(omni_key_t *key, EVP_PKEY *pkey, unsigned algs, char *err)
{
    int  bits;

    key->pkey = pkey;

    switch (EVP_PKEY_get_base_id(pkey)) {

    case EVP_PKEY_RSA:
        key->type = OMNI_KEY_RSA;

        bits = EVP_PKEY_get_bits(pkey);
        if (bits < OMNI_RSA_MIN_BITS) {
            omni_err(err, "RSA key %s has %d bits, at least %d are "
                         "required", key->source, bits, OMNI_RSA_MIN_BITS);
            return -1;
        }

        if (omni_key_pin(key, algs, -1, err) != 0) {
            return -1;
        }

        return omni_key_verifiers(key, err);

    case EVP_PKEY_EC:
        key->type = OMNI_KEY_EC;

        if (omni_key_pin(key, algs, omni_ec_curve_alg(pkey), err) != 0) {
            return -1;
        }

        return omni_key_verifiers(key, err);

    default:
        omni_err(err, "key %s is neither RSA nor EC", key->source);
        return -1;
    }
}


/*
 * Sets up one verifier per hash the key is pinned to.  OpenSSL 3 looks up
 * the algorithm implementations on every EVP_DigestVerifyInit(); copying a
 * context initialised here skips that on the request path.
 */

static int
omni_key_verifiers(omni_key_t *key, char *err)
{
    int            i;
    const EVP_MD  *md;

    for (i = 0; i < 3; i++) {
        if (!(key->algs & (OMNI_ALG_BIT(OMNI_ALG_RS256 + i)
                           | OMNI_ALG_BIT(OMNI_ALG_ES256 + i))))
        {
            continue;
        }

        md = (i == 0) ? EVP_sha256() : (i == 1) ? EVP_sha384() : EVP_sha512();

        key->verify[i] = EVP_MD_CTX_new();

        if (key->verify[i] == NULL
            || EVP_DigestVerifyInit(key->verify[i], NULL, md, NULL,
                                    key->pkey) != 1)
        {
            ERR_clear_error();
            omni_err(err, "key %s: cannot set up verification",
                         key->source);
            return -1;
        }
    }

    return 0;
}


/*
 * One keyed HMAC context per hash the secret is pinned to.  A worker is a
 * single thread, so verification reinitialises the key's own context:
 * HMAC() would fetch the algorithms and hash the key again every time.
 */

static int
omni_key_macs(omni_key_t *key, char *err)
{
    int          i, ok;
    EVP_MAC     *mac;
    OSSL_PARAM   params[2];

    static char  *digests[] = { "SHA256", "SHA384", "SHA512" };

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ok = (mac != NULL);

    for (i = 0; ok && i < 3; i++) {
        if (!(key->algs & OMNI_ALG_BIT(OMNI_ALG_HS256 + i))) {
            continue;
        }

        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     digests[i], 0);
        params[1] = OSSL_PARAM_construct_end();

        key->hmac[i] = EVP_MAC_CTX_new(mac);

        ok = key->hmac[i] != NULL
             && EVP_MAC_init(key->hmac[i], key->secret, key->secret_len,
                             params) == 1;
    }

    /* the contexts hold their own references */
    EVP_MAC_free(mac);

    if (!ok) {
        ERR_clear_error();
        omni_err(err, "secret %s: cannot set up verification",
                     key->source);
        return -1;
    }

    return 0;
}


static int
omni_ec_curve_alg(EVP_PKEY *pkey)
{
    char  group[64];

    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                        group, sizeof(group), NULL))
    {
        return -1;
    }

    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
        return OMNI_ALG_ES256;
    }

    if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
        return OMNI_ALG_ES384;
    }

    if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0) {
        return OMNI_ALG_ES512;
    }

    return -1;
}


static int
omni_jwk_member(json_t *jwk, const char *name, unsigned char **out,
    size_t *len, const char *source, char *err)
{
    long            n;
    json_t         *v;
    unsigned char  *buf;

    v = json_object_get(jwk, name);
    if (!json_is_string(v) || json_string_length(v) == 0) {
        omni_err(err, "key %s: \"%s\" is missing or not a string",
                     source, name);
        return -1;
    }

    buf = malloc(omni_base64_decoded_len(json_string_length(v)) + 1);
    if (buf == NULL) {
        omni_err(err, "out of memory");
        return -1;
    }

    n = omni_base64url_decode_padded(buf, json_string_value(v),
                                     json_string_length(v));
    if (n <= 0) {
        free(buf);
        omni_err(err, "key %s: \"%s\" is not base64url", source, name);
        return -1;
    }

    *out = buf;
    *len = (size_t) n;

    return 0;
}


static EVP_PKEY *
omni_jwk_rsa(json_t *jwk, const char *source, char *err)
{
    BIGNUM          *n, *e;
    size_t           nlen, elen;
    EVP_PKEY        *pkey;
    OSSL_PARAM      *params;
    unsigned char   *nbuf, *ebuf;
    OSSL_PARAM_BLD  *bld;

    if (omni_jwk_member(jwk, "n", &nbuf, &nlen, source, err) != 0) {
        return NULL;
    }

    if (omni_jwk_member(jwk, "e", &ebuf, &elen, source, err) != 0) {
        free(nbuf);
        return NULL;
    }

    pkey = NULL;
    params = NULL;
    n = BN_bin2bn(nbuf, (int) nlen, NULL);
    e = BN_bin2bn(ebuf, (int) elen, NULL);
    bld = OSSL_PARAM_BLD_new();

    free(nbuf);
    free(ebuf);

    if (n == NULL || e == NULL || bld == NULL
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
    {
        omni_err(err, "key %s: out of memory", source);
        goto done;
    }

    pkey = omni_pkey_fromdata("RSA", params, source, err);

done:

    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);

    return pkey;
}


static EVP_PKEY *
omni_jwk_ec(json_t *jwk, const char *source, char *err)
{
    size_t          xlen, ylen, field;
    EVP_PKEY       *pkey;
    OSSL_PARAM      params[3];
    const char     *crv;
    unsigned char  *x, *y, point[1 + 2 * 66];

    crv = json_string_value(json_object_get(jwk, "crv"));
    if (crv == NULL) {
        omni_err(err, "key %s: \"crv\" is missing", source);
        return NULL;
    }

    if (strcmp(crv, "P-256") == 0) {
        field = 32;

    } else if (strcmp(crv, "P-384") == 0) {
        field = 48;

    } else if (strcmp(crv, "P-521") == 0) {
        field = 66;

    } else {
        omni_err(err, "key %s: unsupported curve \"%s\"", source, crv);
        return NULL;
    }

    if (omni_jwk_member(jwk, "x", &x, &xlen, source, err) != 0) {
        return NULL;
    }

    if (omni_jwk_member(jwk, "y", &y, &ylen, source, err) != 0) {
        free(x);
        return NULL;
    }

    if (xlen != field || ylen != field) {
        free(x);
        free(y);
        omni_err(err, "key %s: \"x\" and \"y\" must be %zu bytes for %s",
                     source, field, crv);
        return NULL;
    }

    /* an uncompressed SEC1 point: 0x04 || x || y */
    point[0] = 0x04;
    memcpy(point + 1, x, field);
    memcpy(point + 1 + field, y, field);
    free(x);
    free(y);

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *) crv, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  point, 1 + 2 * field);
    params[2] = OSSL_PARAM_construct_end();

    pkey = omni_pkey_fromdata("EC", params, source, err);

    return pkey;
}


static EVP_PKEY *
omni_pkey_fromdata(const char *type, OSSL_PARAM *params, const char *source,
    char *err)
{
    EVP_PKEY      *pkey;
    EVP_PKEY_CTX  *ctx, *check;

    pkey = NULL;

    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (ctx == NULL
        || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    {
        EVP_PKEY_CTX_free(ctx);
        ERR_clear_error();
        omni_err(err, "key %s: not a valid %s public key", source, type);
        return NULL;
    }

    EVP_PKEY_CTX_free(ctx);

    /* fromdata does not prove that an EC point lies on its curve */
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (check == NULL || EVP_PKEY_public_check(check) <= 0) {
        EVP_PKEY_CTX_free(check);
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        omni_err(err, "key %s: %s public key fails validation", source,
                     type);
        return NULL;
    }

    EVP_PKEY_CTX_free(check);

    return pkey;
}
