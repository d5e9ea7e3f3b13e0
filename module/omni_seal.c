/*
 * Copyright (C) The omni gateway authors
 *
 * Envelope encryption (omni_seal.h): data keys wrapped by a KEK, values
 * sealed with AES-256-GCM under associated data that binds their place.
 */


#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "omni_seal.h"


#define OMNI_SEAL_POOL          4096
/* "omni/1", the kind, three parts of at most 255 bytes, a key header */
#define OMNI_SEAL_AAD_MAX       (6 + 1 + 8 + 3 * (1 + 255) + 5)

#define OMNI_SEAL_TAG_WRAPPED   'K'
#define OMNI_SEAL_TAG_VALUE     'V'


struct omni_seal_s {
    EVP_CIPHER         *cipher;
    EVP_CIPHER_CTX     *enc;
    EVP_CIPHER_CTX     *dec;
    unsigned            generation;     /* of the random bytes below */
    size_t              used;
    unsigned char       pool[OMNI_SEAL_POOL];
};


static omni_seal_rc_t omni_seal_random(omni_seal_t *s, unsigned char *out,
    size_t n);
static void omni_seal_forked(void);
static size_t omni_seal_aad(unsigned char *out, const char *kind,
    const char *customer, size_t customer_len, const char *record,
    const char *field, size_t field_len);
static omni_seal_rc_t omni_seal_encrypt(omni_seal_t *s,
    const unsigned char *key, const unsigned char *nonce,
    const unsigned char *aad, size_t aad_len, const unsigned char *in,
    size_t len, unsigned char *out, unsigned char *tag);
static omni_seal_rc_t omni_seal_decrypt(omni_seal_t *s,
    const unsigned char *key, const unsigned char *nonce,
    const unsigned char *aad, size_t aad_len, const unsigned char *in,
    size_t len, const unsigned char *tag, unsigned char *out);


/* bumped in every child after fork(): its pools are its parent's */
static unsigned        omni_seal_generation = 1;
static pthread_once_t  omni_seal_once = PTHREAD_ONCE_INIT;


static void
omni_seal_atfork(void)
{
    pthread_atfork(NULL, NULL, omni_seal_forked);
}


omni_seal_t *
omni_seal_new(char *err)
{
    omni_seal_t  *s;

    pthread_once(&omni_seal_once, omni_seal_atfork);

    s = calloc(1, sizeof(omni_seal_t));
    if (s == NULL) {
        omni_err(err, "out of memory");
        return NULL;
    }

    /* fetched once: an implicit fetch per operation costs a lookup */
    s->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    s->enc = EVP_CIPHER_CTX_new();
    s->dec = EVP_CIPHER_CTX_new();

    if (s->cipher == NULL || s->enc == NULL || s->dec == NULL
        || EVP_EncryptInit_ex2(s->enc, s->cipher, NULL, NULL, NULL) != 1
        || EVP_DecryptInit_ex2(s->dec, s->cipher, NULL, NULL, NULL) != 1)
    {
        omni_err(err, "OpenSSL has no AES-256-GCM");
        omni_seal_free(s);
        return NULL;
    }

    s->used = OMNI_SEAL_POOL;

    return s;
}


void
omni_seal_free(omni_seal_t *s)
{
    if (s == NULL) {
        return;
    }

    EVP_CIPHER_CTX_free(s->enc);
    EVP_CIPHER_CTX_free(s->dec);
    EVP_CIPHER_free(s->cipher);

    OPENSSL_cleanse(s->pool, sizeof(s->pool));
    free(s);
}


omni_seal_rc_t
omni_seal_data_key(omni_seal_t *s, unsigned char dk[OMNI_SEAL_KEY_LEN])
{
    return omni_seal_random(s, dk, OMNI_SEAL_KEY_LEN);
}


omni_seal_rc_t
omni_seal_wrap(omni_seal_t *s, const omni_keyring_key_t *kek,
    const char *customer, size_t customer_len,
    const unsigned char dk[OMNI_SEAL_KEY_LEN], unsigned char *out)
{
    size_t          aad_len;
    unsigned char   aad[OMNI_SEAL_AAD_MAX], *nonce;

    if (customer_len > 255) {
        return OMNI_SEAL_ERROR;
    }

    out[0] = OMNI_SEAL_TAG_WRAPPED;
    out[1] = (unsigned char) (kek->version >> 24);
    out[2] = (unsigned char) (kek->version >> 16);
    out[3] = (unsigned char) (kek->version >> 8);
    out[4] = (unsigned char) kek->version;

    nonce = out + 5;

    if (omni_seal_random(s, nonce, OMNI_SEAL_NONCE_LEN) != OMNI_SEAL_OK) {
        return OMNI_SEAL_ERROR;
    }

    aad_len = omni_seal_aad(aad, "dk", customer, customer_len, "", "", 0);

    /* the header (version included) is authenticated with the key */
    memcpy(aad + aad_len, out, 5);

    return omni_seal_encrypt(s, kek->key, nonce, aad, aad_len + 5, dk,
                             OMNI_SEAL_KEY_LEN,
                             nonce + OMNI_SEAL_NONCE_LEN,
                             nonce + OMNI_SEAL_NONCE_LEN + OMNI_SEAL_KEY_LEN);
}


omni_seal_rc_t
omni_seal_unwrap(omni_seal_t *s, const omni_keyring_t *kr,
    const char *customer, size_t customer_len, const unsigned char *in,
    size_t len, unsigned char dk[OMNI_SEAL_KEY_LEN], uint32_t *version)
{
    size_t                     aad_len;
    unsigned char              aad[OMNI_SEAL_AAD_MAX];
    const unsigned char       *nonce;
    const omni_keyring_key_t  *kek;

    *version = omni_seal_wrapped_version(in, len);

    if (*version == 0 || customer_len > 255) {
        return OMNI_SEAL_BAD;
    }

    kek = omni_keyring_kek_version(kr, *version);
    if (kek == NULL) {
        return OMNI_SEAL_NO_KEY;
    }

    nonce = in + 5;

    aad_len = omni_seal_aad(aad, "dk", customer, customer_len, "", "", 0);
    memcpy(aad + aad_len, in, 5);

    return omni_seal_decrypt(s, kek->key, nonce, aad, aad_len + 5,
                             nonce + OMNI_SEAL_NONCE_LEN, OMNI_SEAL_KEY_LEN,
                             nonce + OMNI_SEAL_NONCE_LEN + OMNI_SEAL_KEY_LEN,
                             dk);
}


uint32_t
omni_seal_wrapped_version(const unsigned char *in, size_t len)
{
    if (len != OMNI_SEAL_WRAPPED_LEN || in[0] != OMNI_SEAL_TAG_WRAPPED) {
        return 0;
    }

    return (uint32_t) in[1] << 24 | (uint32_t) in[2] << 16
           | (uint32_t) in[3] << 8 | in[4];
}


omni_seal_rc_t
omni_seal_value(omni_seal_t *s, const unsigned char dk[OMNI_SEAL_KEY_LEN],
    const omni_seal_aad_t *aad, const void *plain, size_t len,
    unsigned char *out)
{
    size_t          aad_len;
    unsigned char   ad[OMNI_SEAL_AAD_MAX];

    if (aad->customer_len > 255 || strlen(aad->record) > 255
        || aad->field_len > 255 || len > INT32_MAX)
    {
        return OMNI_SEAL_ERROR;
    }

    out[0] = OMNI_SEAL_TAG_VALUE;

    if (omni_seal_random(s, out + 1, OMNI_SEAL_NONCE_LEN) != OMNI_SEAL_OK) {
        return OMNI_SEAL_ERROR;
    }

    aad_len = omni_seal_aad(ad, "v", aad->customer, aad->customer_len,
                            aad->record, aad->field, aad->field_len);

    return omni_seal_encrypt(s, dk, out + 1, ad, aad_len, plain, len,
                             out + 1 + OMNI_SEAL_NONCE_LEN,
                             out + 1 + OMNI_SEAL_NONCE_LEN + len);
}


omni_seal_rc_t
omni_seal_open(omni_seal_t *s, const unsigned char dk[OMNI_SEAL_KEY_LEN],
    const omni_seal_aad_t *aad, const unsigned char *in, size_t len,
    unsigned char *out, size_t *out_len)
{
    size_t          aad_len, n;
    unsigned char   ad[OMNI_SEAL_AAD_MAX];

    if (len < OMNI_SEAL_OVERHEAD || in[0] != OMNI_SEAL_TAG_VALUE
        || aad->customer_len > 255 || strlen(aad->record) > 255
        || aad->field_len > 255 || len - OMNI_SEAL_OVERHEAD > INT32_MAX)
    {
        return OMNI_SEAL_BAD;
    }

    n = len - OMNI_SEAL_OVERHEAD;

    aad_len = omni_seal_aad(ad, "v", aad->customer, aad->customer_len,
                            aad->record, aad->field, aad->field_len);

    *out_len = n;

    return omni_seal_decrypt(s, dk, in + 1, ad, aad_len,
                             in + 1 + OMNI_SEAL_NONCE_LEN, n,
                             in + 1 + OMNI_SEAL_NONCE_LEN + n, out);
}


/* random bytes from the pool, refilled 4k at a time and after fork() */

static omni_seal_rc_t
omni_seal_random(omni_seal_t *s, unsigned char *out, size_t n)
{
    if (s->generation != omni_seal_generation
        || s->used + n > OMNI_SEAL_POOL)
    {
        if (RAND_bytes(s->pool, OMNI_SEAL_POOL) != 1) {
            return OMNI_SEAL_ERROR;
        }

        s->generation = omni_seal_generation;
        s->used = 0;
    }

    memcpy(out, s->pool + s->used, n);

    /* a nonce or key handed out is not kept */
    OPENSSL_cleanse(s->pool + s->used, n);
    s->used += n;

    return OMNI_SEAL_OK;
}


static void
omni_seal_forked(void)
{
    omni_seal_generation++;
}


/*
 * "omni/1", the kind, and each part with its length first: no two
 * different bindings have the same bytes.
 */

static size_t
omni_seal_aad(unsigned char *out, const char *kind, const char *customer,
    size_t customer_len, const char *record, const char *field,
    size_t field_len)
{
    size_t           n, len, i;
    const char      *part[3];
    size_t           part_len[3];

    memcpy(out, "omni/1", 6);
    n = 6;

    len = strlen(kind);
    out[n++] = (unsigned char) len;
    memcpy(out + n, kind, len);
    n += len;

    part[0] = customer;
    part_len[0] = customer_len;
    part[1] = record;
    part_len[1] = strlen(record);
    part[2] = field;
    part_len[2] = field_len;

    for (i = 0; i < 3; i++) {
        out[n++] = (unsigned char) part_len[i];
        memcpy(out + n, part[i], part_len[i]);
        n += part_len[i];
    }

    return n;
}


static omni_seal_rc_t
omni_seal_encrypt(omni_seal_t *s, const unsigned char *key,
    const unsigned char *nonce, const unsigned char *aad, size_t aad_len,
    const unsigned char *in, size_t len, unsigned char *out,
    unsigned char *tag)
{
    int  n;

    if (EVP_EncryptInit_ex2(s->enc, NULL, key, nonce, NULL) != 1
        || EVP_EncryptUpdate(s->enc, NULL, &n, aad, (int) aad_len) != 1
        || (len && EVP_EncryptUpdate(s->enc, out, &n, in, (int) len) != 1)
        || EVP_EncryptFinal_ex(s->enc, out + len, &n) != 1
        || EVP_CIPHER_CTX_ctrl(s->enc, EVP_CTRL_AEAD_GET_TAG,
                               OMNI_SEAL_TAG_LEN, tag) != 1)
    {
        return OMNI_SEAL_ERROR;
    }

    return OMNI_SEAL_OK;
}


static omni_seal_rc_t
omni_seal_decrypt(omni_seal_t *s, const unsigned char *key,
    const unsigned char *nonce, const unsigned char *aad, size_t aad_len,
    const unsigned char *in, size_t len, const unsigned char *tag,
    unsigned char *out)
{
    int  n;

    if (EVP_DecryptInit_ex2(s->dec, NULL, key, nonce, NULL) != 1
        || EVP_DecryptUpdate(s->dec, NULL, &n, aad, (int) aad_len) != 1
        || (len && EVP_DecryptUpdate(s->dec, out, &n, in, (int) len) != 1)
        || EVP_CIPHER_CTX_ctrl(s->dec, EVP_CTRL_AEAD_SET_TAG,
                               OMNI_SEAL_TAG_LEN, (void *) tag) != 1)
    {
        return OMNI_SEAL_ERROR;
    }

    if (EVP_DecryptFinal_ex(s->dec, out + len, &n) != 1) {
        /* nothing that failed to authenticate is handed out */
        OPENSSL_cleanse(out, len);
        return OMNI_SEAL_BAD;
    }

    return OMNI_SEAL_OK;
}
