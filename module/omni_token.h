/*
 * Copyright (C) The omni gateway authors
 *
 * JWS token verification: libjwt parses the token once without a key, the
 * signature is checked against keys parsed at configuration load, then the
 * registered claims are validated.  Knows nothing of NGINX.
 */

#ifndef OMNI_TOKEN_H_INCLUDED_
#define OMNI_TOKEN_H_INCLUDED_


#include <stddef.h>
#include <time.h>
#include <jwt.h>

#include "omni_keys.h"


#define OMNI_TOKEN_MAX_ROLES      64
#define OMNI_TOKEN_MAX_ROLE_LEN   128
#define OMNI_TOKEN_DETAIL_LEN     128


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
    const char           **issuers;      /* any of; none configured: any */
    size_t                 nissuers;
    const char           **audiences;    /* token must name one of them */
    size_t                 naudiences;
    const char            *roles_claim;  /* dotted path, e.g. "a.roles" */
} omni_token_conf_t;


typedef struct {
    jwt_t                 *jwt;
    const char            *alg;          /* header values, owned by jwt */
    const char            *kid;
    const char            *sub;          /* claims, set once parsed */
    const char            *iss;
    const char            *jti;
    double                 iat;          /* -1 when the token has none */
    const omni_key_t      *key;          /* the key that verified it */
    char                  *roles[OMNI_TOKEN_MAX_ROLES];
    size_t                 nroles;
    char                   detail[OMNI_TOKEN_DETAIL_LEN];
} omni_token_t;


/*
 * Verifies token (len bytes, not necessarily NUL-terminated) at time now.
 * On any return tok holds what was learnt (alg, kid, sub for the log)
 * and must be released with omni_token_release(); on failure tok->detail
 * says why in words fit for error_description.
 */
omni_token_rc_t omni_token_verify(const omni_token_conf_t *conf,
    const char *token, size_t len, time_t now, omni_token_t *tok);
void omni_token_release(omni_token_t *tok);

/* The stable error code, e.g. "token_expired". */
const char *omni_token_code(omni_token_rc_t rc);

/*
 * A claim of a verified token as text: strings as they are, other values
 * as compact JSON; name NULL gives the whole payload.  Returns a malloc()ed
 * NUL-terminated string, or NULL when the claim is absent.
 */
char *omni_token_claim_text(omni_token_t *tok, const char *name,
    size_t *len);

/* Whether s has no control bytes and so may go into a header or a log. */
int omni_text_is_clean(const char *s, size_t len);


#endif /* OMNI_TOKEN_H_INCLUDED_ */
