/*
 * Copyright (C) The omni gateway authors
 *
 * Blind indexes (omni_blind.h): normalising identity values per type and
 * keying them with HMAC-SHA-256 under the keyring's index key.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "omni_blind.h"


typedef struct {
    uint32_t          version;
    EVP_MAC_CTX      *mac;           /* keyed once, re-initialised per use */
} omni_blind_key_t;


struct omni_blind_s {
    size_t             nkeys;
    omni_blind_key_t   keys[OMNI_KEYRING_VERSIONS];    /* oldest first */
};


typedef struct {
    const char         *name;
    omni_blind_rule_t   rule;
} omni_blind_name_t;


static int omni_blind_phone(const char *v, size_t len, char *out,
    size_t *out_len);
static int omni_blind_email(const char *v, size_t len, char *out,
    size_t *out_len);
static int omni_blind_card(const char *v, size_t len, char *out,
    size_t *out_len);
static int omni_blind_upper(const char *v, size_t len, char *out,
    size_t *out_len);
static int omni_blind_is(const char *type, size_t len, const char *name);
static int omni_blind_ends(const char *type, size_t len, const char *suffix);


static const omni_blind_name_t  omni_blind_names[] = {
    { "phone", OMNI_BLIND_PHONE },
    { "mobile", OMNI_BLIND_PHONE },
    { "tel", OMNI_BLIND_PHONE },
    { "msisdn", OMNI_BLIND_PHONE },
    { "email", OMNI_BLIND_EMAIL },
    { "mail", OMNI_BLIND_EMAIL },
    { "card", OMNI_BLIND_CARD },
    { "bank_card", OMNI_BLIND_CARD },
    { "card_number", OMNI_BLIND_CARD },
    { "national_id", OMNI_BLIND_UPPER },
    { "id_card", OMNI_BLIND_UPPER },
    { "id_number", OMNI_BLIND_UPPER },
    { "passport", OMNI_BLIND_UPPER },
    { "tax_id", OMNI_BLIND_UPPER },
    { NULL, OMNI_BLIND_EXACT }
};


static const omni_blind_name_t  omni_blind_suffixes[] = {
    { "_phone", OMNI_BLIND_PHONE },
    { "_mobile", OMNI_BLIND_PHONE },
    { "_email", OMNI_BLIND_EMAIL },
    { "_card", OMNI_BLIND_CARD },
    { "_id_number", OMNI_BLIND_UPPER },
    { "_passport", OMNI_BLIND_UPPER },
    { NULL, OMNI_BLIND_EXACT }
};


omni_blind_rule_t
omni_blind_rule(const char *type, size_t len)
{
    const omni_blind_name_t  *n;

    for (n = omni_blind_names; n->name; n++) {
        if (omni_blind_is(type, len, n->name)) {
            return n->rule;
        }
    }

    for (n = omni_blind_suffixes; n->name; n++) {
        if (omni_blind_ends(type, len, n->name)) {
            return n->rule;
        }
    }

    return OMNI_BLIND_EXACT;
}


int
omni_blind_normalize(const char *type, size_t type_len, const char *value,
    size_t len, char *out, size_t *out_len)
{
    if (len == 0 || len > OMNI_BLIND_VALUE_MAX) {
        return -1;
    }

    switch (omni_blind_rule(type, type_len)) {

    case OMNI_BLIND_PHONE:
        return omni_blind_phone(value, len, out, out_len);

    case OMNI_BLIND_EMAIL:
        return omni_blind_email(value, len, out, out_len);

    case OMNI_BLIND_CARD:
        return omni_blind_card(value, len, out, out_len);

    case OMNI_BLIND_UPPER:
        return omni_blind_upper(value, len, out, out_len);

    default:
        memcpy(out, value, len);
        *out_len = len;
        return 0;
    }
}


omni_blind_t *
omni_blind_new(const omni_keyring_t *kr, char *err)
{
    size_t         i;
    EVP_MAC       *hmac;
    OSSL_PARAM     params[2];
    omni_blind_t  *b;

    b = calloc(1, sizeof(omni_blind_t));
    if (b == NULL) {
        omni_err(err, "out of memory");
        return NULL;
    }

    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (hmac == NULL) {
        omni_err(err, "OpenSSL has no HMAC");
        free(b);
        return NULL;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    for (i = 0; i < kr->nindex; i++) {
        b->keys[i].version = kr->index[i].version;
        b->keys[i].mac = EVP_MAC_CTX_new(hmac);

        if (b->keys[i].mac == NULL
            || EVP_MAC_init(b->keys[i].mac, kr->index[i].key,
                            OMNI_KEYRING_KEY_LEN, params) != 1)
        {
            omni_err(err, "cannot key HMAC-SHA-256");
            b->nkeys = i + 1;
            omni_blind_free(b);
            EVP_MAC_free(hmac);
            return NULL;
        }
    }

    b->nkeys = kr->nindex;
    EVP_MAC_free(hmac);

    return b;
}


void
omni_blind_free(omni_blind_t *b)
{
    size_t  i;

    if (b == NULL) {
        return;
    }

    for (i = 0; i < b->nkeys; i++) {
        EVP_MAC_CTX_free(b->keys[i].mac);
    }

    free(b);
}


int
omni_blind_index(omni_blind_t *b, uint32_t version, const char *type,
    size_t type_len, const char *value, size_t len,
    unsigned char out[OMNI_BLIND_LEN])
{
    size_t             i, n;
    unsigned char      sep;
    omni_blind_key_t  *k;

    if (b->nkeys == 0) {
        return -1;
    }

    k = &b->keys[b->nkeys - 1];

    if (version) {
        for (i = 0, k = NULL; i < b->nkeys; i++) {
            if (b->keys[i].version == version) {
                k = &b->keys[i];
            }
        }

        if (k == NULL) {
            return -1;
        }
    }

    /* the type, a NUL no type holds, then the value */
    sep = 0;

    if (EVP_MAC_init(k->mac, NULL, 0, NULL) != 1
        || EVP_MAC_update(k->mac, (const unsigned char *) type, type_len) != 1
        || EVP_MAC_update(k->mac, &sep, 1) != 1
        || EVP_MAC_update(k->mac, (const unsigned char *) value, len) != 1
        || EVP_MAC_final(k->mac, out, &n, OMNI_BLIND_LEN) != 1
        || n != OMNI_BLIND_LEN)
    {
        return -1;
    }

    return 0;
}


/* E.164: "+" then 8 to 15 digits, the first not 0 */

static int
omni_blind_phone(const char *v, size_t len, char *out, size_t *out_len)
{
    size_t  i, n;

    i = 0;

    while (i < len && v[i] == ' ') {
        i++;
    }

    if (i < len && v[i] == '+') {
        i++;

    } else if (i + 1 < len && v[i] == '0' && v[i + 1] == '0') {
        i += 2;

    } else {
        return -1;
    }

    out[0] = '+';
    n = 1;

    for ( /* void */ ; i < len; i++) {
        if (v[i] >= '0' && v[i] <= '9') {
            if (n == 16) {
                return -1;
            }

            out[n++] = v[i];
            continue;
        }

        if (!strchr(" -.()", v[i]) || v[i] == '\0') {
            return -1;
        }
    }

    if (n < 9 || out[1] == '0') {
        return -1;
    }

    *out_len = n;

    return 0;
}


static int
omni_blind_email(const char *v, size_t len, char *out, size_t *out_len)
{
    char    c;
    size_t  i, at;

    while (len && v[0] == ' ') {
        v++;
        len--;
    }

    while (len && v[len - 1] == ' ') {
        len--;
    }

    at = len;

    for (i = 0; i < len; i++) {
        c = v[i];

        if ((unsigned char) c <= ' ' || c == 0x7f) {
            return -1;
        }

        if (c == '@') {
            if (at != len) {
                return -1;
            }

            at = i;
        }

        out[i] = (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
    }

    if (at == 0 || at >= len - 1) {
        return -1;
    }

    *out_len = len;

    return 0;
}


/* the payment card numbers of ISO/IEC 7812, with their check digit */

static int
omni_blind_card(const char *v, size_t len, char *out, size_t *out_len)
{
    int     sum, d;
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (v[i] >= '0' && v[i] <= '9') {
            if (n == 19) {
                return -1;
            }

            out[n++] = v[i];
            continue;
        }

        if (v[i] != ' ' && v[i] != '-') {
            return -1;
        }
    }

    if (n < 12) {
        return -1;
    }

    /* Luhn: every second digit from the right doubled */
    sum = 0;

    for (i = 0; i < n; i++) {
        d = out[n - 1 - i] - '0';

        if (i % 2) {
            d *= 2;
            if (d > 9) {
                d -= 9;
            }
        }

        sum += d;
    }

    if (sum % 10) {
        return -1;
    }

    *out_len = n;

    return 0;
}


static int
omni_blind_upper(const char *v, size_t len, char *out, size_t *out_len)
{
    char    c;
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        c = v[i];

        if (c == ' ') {
            continue;
        }

        if ((unsigned char) c < ' ' || c == 0x7f) {
            return -1;
        }

        out[n++] = (c >= 'a' && c <= 'z') ? (char) (c - 'a' + 'A') : c;
    }

    if (n == 0) {
        return -1;
    }

    *out_len = n;

    return 0;
}


static int
omni_blind_is(const char *type, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(type, name, len) == 0;
}


static int
omni_blind_ends(const char *type, size_t len, const char *suffix)
{
    size_t  n;

    n = strlen(suffix);

    return len > n && memcmp(type + len - n, suffix, n) == 0;
}
