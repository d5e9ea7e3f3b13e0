/*
 * Copyright (C) The omni gateway authors
 *
 * Envelope encryption of customer data, with AES-256-GCM through OpenSSL.
 * Each customer has a random data key; the store keeps it wrapped by the
 * keyring's newest key-encryption key, whose version the wrapped key
 * names.  A value is sealed with its customer's data key, and the
 * associated data binds it to the customer, the kind of record and the
 * field it belongs to: a ciphertext copied to another customer or another
 * field fails to open.  Knows nothing of NGINX or LMDB.
 *
 *   wrapped data key: 'K' | KEK version (4, big-endian) | nonce (12)
 *                     | key (32) | tag (16)
 *   sealed value:     'V' | nonce (12) | ciphertext | tag (16)
 *
 * Nonces are random (96 bits) from a per-object pool of random bytes,
 * thrown away in a child after fork(): create the object in the process
 * that uses it.  A data key seals far fewer than 2^32 values, the bound
 * for random GCM nonces.
 */

#ifndef OMNI_SEAL_H_INCLUDED_
#define OMNI_SEAL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "omni_keyring.h"
#include "omni_err.h"


#define OMNI_SEAL_KEY_LEN       32
#define OMNI_SEAL_NONCE_LEN     12
#define OMNI_SEAL_TAG_LEN       16
#define OMNI_SEAL_WRAPPED_LEN   (1 + 4 + OMNI_SEAL_NONCE_LEN                 \
                                 + OMNI_SEAL_KEY_LEN + OMNI_SEAL_TAG_LEN)
#define OMNI_SEAL_OVERHEAD      (1 + OMNI_SEAL_NONCE_LEN + OMNI_SEAL_TAG_LEN)


typedef enum {
    OMNI_SEAL_OK = 0,
    OMNI_SEAL_BAD,              /* tampered, truncated, or sealed for
                                   another customer or field */
    OMNI_SEAL_NO_KEY,           /* a KEK version the keyring lacks */
    OMNI_SEAL_ERROR             /* OpenSSL or memory */
} omni_seal_rc_t;


/* what a sealed value belongs to, in its associated data */
typedef struct {
    const char     *customer;
    size_t          customer_len;
    const char     *record;         /* e.g. "identity", "session" */
    const char     *field;          /* e.g. the identity type, or "" */
    size_t          field_len;
} omni_seal_aad_t;


typedef struct omni_seal_s  omni_seal_t;


omni_seal_t *omni_seal_new(char *err);
void omni_seal_free(omni_seal_t *s);

/* A new random data key. */
omni_seal_rc_t omni_seal_data_key(omni_seal_t *s,
    unsigned char dk[OMNI_SEAL_KEY_LEN]);

/* Wraps dk with kek for the customer: out holds OMNI_SEAL_WRAPPED_LEN. */
omni_seal_rc_t omni_seal_wrap(omni_seal_t *s, const omni_keyring_key_t *kek,
    const char *customer, size_t customer_len,
    const unsigned char dk[OMNI_SEAL_KEY_LEN], unsigned char *out);

/*
 * Opens a wrapped data key with the keyring's KEK of the version it names
 * (returned in *version, for rotation).
 */
omni_seal_rc_t omni_seal_unwrap(omni_seal_t *s, const omni_keyring_t *kr,
    const char *customer, size_t customer_len, const unsigned char *in,
    size_t len, unsigned char dk[OMNI_SEAL_KEY_LEN], uint32_t *version);

/* The KEK version a wrapped key names, or 0 when it is no wrapped key. */
uint32_t omni_seal_wrapped_version(const unsigned char *in, size_t len);

/* Seals len bytes: out holds len + OMNI_SEAL_OVERHEAD. */
omni_seal_rc_t omni_seal_value(omni_seal_t *s,
    const unsigned char dk[OMNI_SEAL_KEY_LEN], const omni_seal_aad_t *aad,
    const void *plain, size_t len, unsigned char *out);

/* Opens what omni_seal_value() sealed: out holds len bytes at least. */
omni_seal_rc_t omni_seal_open(omni_seal_t *s,
    const unsigned char dk[OMNI_SEAL_KEY_LEN], const omni_seal_aad_t *aad,
    const unsigned char *in, size_t len, unsigned char *out,
    size_t *out_len);


#endif /* OMNI_SEAL_H_INCLUDED_ */
