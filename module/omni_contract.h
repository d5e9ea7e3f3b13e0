/*
 * Copyright (C) The omni gateway authors
 *
 * The request contract, version 1.3 (docs/contract.md,
 * schema/contract.schema.json): the checks of what a plugin returned and
 * of what the gateway adds, and the one writer of the contract's JSON,
 * straight into the caller's memory.  The gateway and the Lua runner both
 * use it (through omni_lua_contract.c).  Knows neither NGINX nor Lua:
 * params come through a callback.
 *
 * The text is what omni.json's encoder would write for the contract as a
 * Lua table: compact, object keys sorted, the same string escapes.
 */

#ifndef OMNI_CONTRACT_H_INCLUDED_
#define OMNI_CONTRACT_H_INCLUDED_


#include <stdint.h>

#include "omni_json_text.h"
#include "omni_str.h"
#include "omni_err.h"


#define OMNI_CONTRACT_VERSION              "1.3"

#define OMNI_CONTRACT_NAME_MAX             32    /* channel, identity type */
#define OMNI_CONTRACT_ACTION_MAX           128
#define OMNI_CONTRACT_CODE_MAX             64
#define OMNI_CONTRACT_APP_ID_MAX           128
#define OMNI_CONTRACT_CLIENT_VERSION_MAX   64
#define OMNI_CONTRACT_DEVICE_ID_MAX        128
#define OMNI_CONTRACT_TIER_MAX             64
#define OMNI_CONTRACT_LOCALE_MAX           64
#define OMNI_CONTRACT_USER_AGENT_MAX       512
#define OMNI_CONTRACT_IDENTITY_VALUE_MAX   256
#define OMNI_CONTRACT_IDENTITIES           16
#define OMNI_CONTRACT_ID_MAX               64    /* request, customer, session */
#define OMNI_CONTRACT_ROLES                64
#define OMNI_CONTRACT_ROLE_MAX             128
#define OMNI_CONTRACT_CHANNELS             16
#define OMNI_CONTRACT_CONTEXT_MAX          4096
#define OMNI_CONTRACT_IP_MAX               64
#define OMNI_CONTRACT_CASES                8     /* open cases carried */
#define OMNI_CONTRACT_POOL_MAX             64    /* dispatch pool, rule */
#define OMNI_CONTRACT_STEPS                8     /* targets of a rule */

/* milliseconds of 10000-01-01T00:00:00Z: times are before it */
#define OMNI_CONTRACT_MS_MAX               253402300800000LL

#define OMNI_CONTRACT_SHOW_LEN             48    /* 'first 40 bytes...' */


typedef enum {
    OMNI_CONTRACT_OK = 0,
    OMNI_CONTRACT_INVALID,          /* err says why, naming the field */
    OMNI_CONTRACT_NO_MEMORY
} omni_contract_rc_t;


/*
 * Writes a JSON value at out; on OMNI_CONTRACT_INVALID err names the
 * place under path ("params.x is a function").
 */
typedef omni_contract_rc_t (*omni_contract_value_pt)(void *data,
    const char *path, omni_buf_t *out, char *err);


typedef struct {
    omni_str_t                      id;
    int                             new;
    int64_t                         created_at;     /* ms since the epoch */
    int64_t                         last_seen_at;
    const omni_str_t               *channels;
    size_t                          nchannels;
    omni_str_t                      context;        /* an object; empty: {} */
} omni_contract_session_t;


/* an open case of the customer (docs/cases.md); names checked by the
 * store, checked again here */
typedef struct {
    omni_str_t                      id;             /* 10 digits */
    omni_str_t                      status;
    omni_str_t                      category;
    int64_t                         due;            /* ms; 0: null */
} omni_contract_case_t;


/* where the dispatch sent the request (docs/dispatch.md) */
typedef struct {
    omni_str_t                      pool;           /* the pool's name */
    omni_str_t                      rule;           /* a rule's id, default */
    int                             step;           /* the target's index */
    omni_str_t                      reason;         /* first, overflow... */
} omni_contract_dispatch_t;


typedef struct {
    /* from the plugin; data NULL: null */
    omni_str_t                      action;
    omni_str_t                      app_id;
    omni_str_t                      client_version;
    omni_str_t                      device_id;
    omni_str_t                      tier;
    omni_str_t                      locale;
    omni_str_t                      intent;          /* NULL: null */
    double                          confidence;      /* -1: none */
    omni_pair_t                     identities[OMNI_CONTRACT_IDENTITIES];
    size_t                          nidentities;
    omni_contract_value_pt          params;          /* NULL: {} */
    void                           *params_data;

    /* from the gateway */
    omni_str_t                      request_id;
    int64_t                         received_at;     /* ms since the epoch */
    omni_str_t                      channel;
    omni_str_t                      client_ip;
    omni_str_t                      user_agent;      /* raw; NULL: none */
    int                             principal;       /* authenticated */
    omni_str_t                      subject;         /* NULL: null */
    omni_str_t                      issuer;
    const omni_str_t               *roles;           /* unchecked */
    size_t                          nroles;
    omni_str_t                      customer_id;     /* NULL: null */
    const omni_contract_case_t     *cases;           /* NULL: null */
    size_t                          ncases;
    const omni_contract_session_t  *session;         /* NULL: null */
    const omni_contract_dispatch_t *dispatch;        /* NULL: null */
} omni_contract_t;


/* ^[a-z][a-z0-9_]{0,31}$: channel names, identity types */
int omni_contract_is_name(const char *s, size_t len);
/* dotted lowercase words, at least two, at most 128 bytes */
int omni_contract_is_action(const char *s, size_t len);
/* ^[a-z][a-z0-9_]{0,63}$ */
int omni_contract_is_code(const char *s, size_t len);
/* ^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$, at most 64 bytes */
int omni_contract_is_locale(const char *s, size_t len);
/* ^[A-Za-z0-9_-]{1,64}$: request, customer and session ids */
int omni_contract_is_id(const char *s, size_t len);
/* 1-128 bytes without space, comma or control byte */
int omni_contract_is_role(const char *s, size_t len);
/* an action, or one word as a name: dotted lowercase words, 128 at most */
int omni_contract_is_intent(const char *s, size_t len);

/*
 * Adds an identity to c unless it is there already (same type and value);
 * OMNI_CONTRACT_INVALID when it would be the 17th.  The strings must live
 * as long as c.
 */
omni_contract_rc_t omni_contract_add_identity(omni_contract_t *c,
    omni_str_t type, omni_str_t value, char *err);

/*
 * Checks what the gateway adds that a plugin's checks do not cover: the
 * client address, the customer id, the cases, the session and the
 * dispatch decision.
 */
omni_contract_rc_t omni_contract_check_gateway(const omni_contract_t *c,
    char *err);

/* OMNI_CONTRACT_INVALID, with err set from the printf-style message. */
omni_contract_rc_t omni_contract_invalid(char *err, const char *fmt, ...);

/* Appends the contract's JSON to out. */
omni_contract_rc_t omni_contract_write(const omni_contract_t *c,
    omni_buf_t *out, char *err);

/* "2026-11-24T18:00:00.123Z" (24 bytes, no NUL) for 0 <= ms < MS_MAX */
size_t omni_contract_timestamp(int64_t ms, char *buf);

/*
 * A value in a message as omni.contract shows it: 'text', cut to 40 bytes
 * on a character boundary with "..." added.  Returns buf (NUL-terminated,
 * OMNI_CONTRACT_SHOW_LEN bytes at least).
 */
const char *omni_contract_show(char *buf, const char *s, size_t len);


#endif /* OMNI_CONTRACT_H_INCLUDED_ */
