/*
 * Copyright (C) The omni gateway authors
 *
 * Blind indexes: the store finds an identity by HMAC-SHA-256, under the
 * keyring's index key, of its type and its normalised value, so a lookup
 * stays one read and the store never holds the value in clear.  What an
 * index tells one who reads the store: that two records name the same
 * identity (equality), and how many identities there are; not the value,
 * which takes the index key to test guesses against.
 *
 * Values are normalised by their type's rule first, so that the ways a
 * caller may write one identity meet:
 *
 *   phone   phone, mobile, tel, msisdn, *_phone, *_mobile: E.164,
 *           "+" and 8 to 15 digits ("00" taken for "+"; spaces, dashes,
 *           dots and brackets dropped)
 *   email   email, mail, *_email: ASCII lower case, one "@" inside
 *   card    card, bank_card, card_number, *_card: 12 to 19 digits
 *           (spaces and dashes dropped) passing the Luhn check
 *   upper   national_id, id_card, id_number, passport, tax_id,
 *           *_id_number, *_passport: ASCII upper case, spaces dropped
 *   exact   every other type (openids, subjects, device ids...)
 *
 * Knows nothing of NGINX or LMDB.
 */

#ifndef OMNI_BLIND_H_INCLUDED_
#define OMNI_BLIND_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "omni_keyring.h"
#include "omni_err.h"


#define OMNI_BLIND_LEN          32
#define OMNI_BLIND_VALUE_MAX    255
#define OMNI_BLIND_TYPE_MAX     32


typedef enum {
    OMNI_BLIND_EXACT = 0,
    OMNI_BLIND_PHONE,
    OMNI_BLIND_EMAIL,
    OMNI_BLIND_CARD,
    OMNI_BLIND_UPPER
} omni_blind_rule_t;


typedef struct omni_blind_s  omni_blind_t;


omni_blind_rule_t omni_blind_rule(const char *type, size_t len);

/*
 * The value as its type's rule writes it, into out (OMNI_BLIND_VALUE_MAX
 * bytes); -1 when it cannot be one of its kind (a phone number without
 * its country code, a card number failing the Luhn check, an empty one).
 */
int omni_blind_normalize(const char *type, size_t type_len,
    const char *value, size_t len, char *out, size_t *out_len);

/* One keyed HMAC per index key of the keyring, made once per process. */
omni_blind_t *omni_blind_new(const omni_keyring_t *kr, char *err);
void omni_blind_free(omni_blind_t *b);

/*
 * The index of a normalised value of type under the index key of the
 * version given (0: the newest); -1 when the keyring lacks that version.
 */
int omni_blind_index(omni_blind_t *b, uint32_t version, const char *type,
    size_t type_len, const char *value, size_t len,
    unsigned char out[OMNI_BLIND_LEN]);


#endif /* OMNI_BLIND_H_INCLUDED_ */
