/*
 * Copyright (C) The omni gateway authors
 *
 * JWS token verification: the compact token is split and decoded here,
 * header and claims are parsed once with jansson, the signature is checked
 * against keys parsed at configuration load, then the registered claims
 * are validated.  Knows nothing of NGINX.
 */

#ifndef OMNI_TOKEN_H_INCLUDED_
#define OMNI_TOKEN_H_INCLUDED_


#include <stddef.h>
#include <time.h>

#include "omni_keys.h"
#include "omni_str.h"


/* jansson's value, named so that users of a token need not include it */
struct json_t;


#define OMNI_TOKEN_MAX_ROLES      64
#define OMNI_TOKEN_MAX_ROLE_LEN   128
#define OMNI_TOKEN_DETAIL_LEN     128
#define OMNI_TOKEN_LOG_LEN        64

/* NumericDates run from the epoch through 9999-12-31T23:59:59Z */
#define OMNI_TOKEN_TIME_MAX       253402300799.0


typedef enum {
    OMNI_TOKEN_OK = 0,
    OMNI_TOKEN_MISSING,
    OMNI_TOKEN_TOO_LARGE,
    OMNI_TOKEN_MALFORMED,
    OMNI_TOKEN_CRIT_UNSUPPORTED,
    OMNI_TOKEN_ALG_NOT_ALLOWED,
    OMNI_TOKEN_KEY_UNKNOWN,
    OMNI_TOKEN_SIGNATURE_INVALID,
    OMNI_TOKEN_CLAIM_MISSING,
    OMNI_TOKEN_CLAIM_INVALID,
    OMNI_TOKEN_EXPIRED,
    OMNI_TOKEN_NOT_YET_VALID,
    OMNI_TOKEN_ISSUED_IN_FUTURE,
    OMNI_TOKEN_LIFETIME_EXCEEDED,
    OMNI_TOKEN_ISSUER_MISMATCH,
    OMNI_TOKEN_AUDIENCE_MISMATCH,
    OMNI_TOKEN_NO_MEMORY,
    OMNI_TOKEN_RC_COUNT
} omni_token_rc_t;


typedef struct {
    const omni_keyset_t   *keys;
    size_t                 max_length;
    long                   leeway;       /* seconds of clock skew forgiven */
    int                    require_exp;
    long                   max_lifetime; /* seconds; 0: no limit */
    const char           **issuers;      /* any of; none configured: any */
    size_t                 nissuers;
    const char           **audiences;    /* token must name one of them */
    size_t                 naudiences;
    const char            *roles_claim;  /* dotted path, e.g. "a.roles" */
} omni_token_conf_t;


/*
 * A verified token.  It never changes once omni_token_verify() returns
 * it, so one token may be read by many requests at once; its strings are
 * NUL-terminated and live as long as it does.
 */
typedef struct {
    const char            *alg;          /* header values */
    const char            *kid;          /* NULL when absent */
    const char            *sub;          /* string claims, NULL when */
    const char            *iss;          /* absent or not strings */
    const char            *jti;
    const char            *sid;
    double                 exp;          /* NumericDates, -1 when absent */
    double                 nbf;
    double                 iat;
    const omni_key_t      *key;          /* the key that verified it */
    const char *const     *roles;
    size_t                 nroles;
    const char            *claims;       /* the payload as compact JSON, */
    size_t                 claims_len;   /* no control byte in it */
    const struct json_t   *payload;      /* the parsed claims */
    size_t                 size;         /* bytes it holds, roughly */
} omni_token_t;


/* Why a token was refused, and what was learnt of it for the log. */
typedef struct {
    char                   detail[OMNI_TOKEN_DETAIL_LEN];
    char                   kid[OMNI_TOKEN_LOG_LEN + 1];  /* cut short */
    char                   sub[OMNI_TOKEN_LOG_LEN + 1];
    unsigned               has_kid:1;
    unsigned               has_sub:1;
} omni_token_error_t;


/*
 * Verifies token (len bytes, not necessarily NUL-terminated) at time now.
 * On success *tok is the verified token, to be freed with
 * omni_token_free(); on failure *tok is NULL and err says why, in words
 * fit for error_description, with the kid and sub learnt so far.
 */
omni_token_rc_t omni_token_verify(const omni_token_conf_t *conf,
    const char *token, size_t len, time_t now, omni_token_t **tok,
    omni_token_error_t *err);

/*
 * The checks of a verified token that depend on the time, as verification
 * runs them: for a token verified earlier under the same conf.
 */
omni_token_rc_t omni_token_check_time(const omni_token_conf_t *conf,
    const omni_token_t *tok, time_t now, omni_token_error_t *err);

/* The first second at which tok is expired under conf, 0 if never. */
time_t omni_token_expires(const omni_token_conf_t *conf,
    const omni_token_t *tok);

void omni_token_free(omni_token_t *tok);

/* The stable error code, e.g. "token_expired". */
const char *omni_token_code(omni_token_rc_t rc);

/*
 * Claim name (len bytes) of a verified token as text: a string as it is,
 * any other value as compact JSON.  Returns the text's length, or -1 when
 * the claim is absent.  *text points into the token for a string, and to
 * buf for JSON that fits its size bytes; when it does not, *text is NULL
 * and the length returned is the size needed.
 */
long omni_token_claim_text(const omni_token_t *tok, const char *name,
    size_t len, char *buf, size_t size, const char **text);


#endif /* OMNI_TOKEN_H_INCLUDED_ */
