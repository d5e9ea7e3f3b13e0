/*
 * Copyright (C) The omni gateway authors
 *
 * What omnictl's files share: the command's context, the request helpers
 * over the admin API, and the commands each file provides to the table in
 * omnictl.c.  omnictl.c: main, options, the store and the requests;
 * omnictl_store.c: the store's records (sessions, customers, identities,
 * journeys, revocations); omnictl_policy.c: policy revisions, validation
 * and checks; omnictl_keys.c: the keyring file; omnictl_backup.c: export
 * and import.
 */

#ifndef OMNICTL_H_INCLUDED_
#define OMNICTL_H_INCLUDED_


#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "omni_admin.h"
#include "omni_base64.h"
#include "omni_export.h"
#include "omni_keyring.h"
#include "omni_policy.h"
#include "omni_store.h"


#define OMNICTL_EXIT_OK      0
#define OMNICTL_EXIT_FAIL    1
#define OMNICTL_EXIT_USAGE   2
#define OMNICTL_EXIT_DENY    3             /* policy check: denied */
#define OMNICTL_MAP_MAX      (1024UL * 1024 * 1024)

#define OMNICTL_ARGS_MAX     3             /* positional arguments */
#define OMNICTL_LINE_MAX     (8 * 1024 * 1024)  /* bytes of one export
                                                 line: a policy at its
                                                 largest fits in base64 */
#define OMNICTL_BATCH        256           /* records per import commit */
#define OMNICTL_BATCH_BYTES  (16 * 1024 * 1024)
#define OMNICTL_REWRAP_BATCH 256           /* data keys per rewrap commit */

/* the options a command takes */
#define OMNICTL_OPT_AFTER    0x01
#define OMNICTL_OPT_BEFORE   0x02
#define OMNICTL_OPT_LIMIT    0x04
#define OMNICTL_OPT_KIND     0x08
#define OMNICTL_OPT_NOTE     0x10
#define OMNICTL_OPT_ROLES    0x20
#define OMNICTL_OPT_ACTION   0x40
#define OMNICTL_OPT_CHANNEL  0x80
#define OMNICTL_OPT_TIER     0x100
#define OMNICTL_OPT_ANON     0x200
#define OMNICTL_OPT_AGE      0x400
#define OMNICTL_OPT_FILE     0x800
#define OMNICTL_OPT_KEK      0x1000
#define OMNICTL_OPT_INDEX    0x2000
#define OMNICTL_OPT_STATUS   0x4000
#define OMNICTL_OPT_PRIORITY 0x8000
#define OMNICTL_OPT_POOL     0x10000
#define OMNICTL_OPT_SLA      0x20000
#define OMNICTL_OPT_OPEN_CASE 0x40000
#define OMNICTL_OPT_CHECK    (OMNICTL_OPT_ROLES | OMNICTL_OPT_ACTION         \
                              | OMNICTL_OPT_CHANNEL | OMNICTL_OPT_TIER       \
                              | OMNICTL_OPT_ANON | OMNICTL_OPT_AGE           \
                              | OMNICTL_OPT_FILE)

#define OMNICTL_ROLES_MAX    64            /* of policy check --roles */


typedef struct {
    char          *data;
    size_t         len;
    size_t         cap;
    int            failed;             /* out of memory: incomplete */
} omnictl_str_t;


typedef struct {
    const char      *dir;
    omni_store_t    *st;                /* opened on first use */
    const char      *keyring_file;      /* --keyring, $OMNI_KEYRING */
    omni_keyring_t  *keyring;           /* loaded on first use */
    int64_t          now;
    char             actor[OMNI_STORE_VALUE_MAX + 1];  /* "omnictl:USER" */
    FILE            *audit;             /* $OMNI_AUDIT_LOG, or NULL */
    int              argc;              /* positional arguments */
    char            *argv[OMNICTL_ARGS_MAX];
    const char      *after;
    const char      *before;
    const char      *limit;
    const char      *kind;
    const char      *note;
    const char      *roles;
    const char      *action;
    const char      *channel;
    const char      *tier;
    const char      *anonymous;         /* a flag: set when given */
    const char      *open_case;         /* a flag: set when given */
    const char      *session_age;
    const char      *file;
    const char      *kek;               /* flags of keys rotate */
    const char      *index;
    const char      *status;            /* cases */
    const char      *priority;
    const char      *pool;
    const char      *sla_file;          /* --sla, $OMNI_CASE_SLA */
    omni_case_sla_t *sla;               /* loaded on first use */
} omnictl_ctx_t;


int omnictl_usage_error(const char *fmt, ...);
void omnictl_audit(omnictl_ctx_t *ctx, const char *change);
int omnictl_open(omnictl_ctx_t *ctx);
int omnictl_keyring(omnictl_ctx_t *ctx);
int omnictl_time(const char *s, int64_t *t);
int omnictl_number(const char *what, const char *s);
void omnictl_path(omnictl_str_t *s, ...);
void omnictl_param(omnictl_str_t *s, const char *name,
    const char *value);
int omnictl_set(json_t *obj, const char *name, const char *value);
int omnictl_request(omnictl_ctx_t *ctx, const char *method,
    omnictl_str_t *path, omnictl_str_t *query, json_t *body,
    json_t **answer);
int omnictl_request_raw(omnictl_ctx_t *ctx, const char *method,
    omnictl_str_t *path, omnictl_str_t *query, const char *body,
    size_t body_len, json_t **answer);
int omnictl_call(omnictl_ctx_t *ctx, const char *method,
    omnictl_str_t *path, omnictl_str_t *query, json_t *body);
int omnictl_print(json_t *json);
int omnictl_answer(json_t *json);
int omnictl_policy_read(const char *file, char **json, size_t *len);
int omnictl_revisions_load(omnictl_ctx_t *ctx, const char *what);
int omnictl_revisions_show(omnictl_ctx_t *ctx, const char *what);
int omnictl_revisions_list(omnictl_ctx_t *ctx, const char *what);
int omnictl_revisions_rollback(omnictl_ctx_t *ctx, const char *what);
int omnictl_revisions_diff(omnictl_ctx_t *ctx, const char *what);
int omnictl_cmd_dispatch_validate(omnictl_ctx_t *ctx);
int omnictl_cmd_dispatch_simulate(omnictl_ctx_t *ctx);
int omnictl_cmd_dispatch_load(omnictl_ctx_t *ctx);
int omnictl_cmd_dispatch_show(omnictl_ctx_t *ctx);
int omnictl_cmd_dispatch_revisions(omnictl_ctx_t *ctx);
int omnictl_cmd_dispatch_rollback(omnictl_ctx_t *ctx);
int omnictl_cmd_dispatch_capacity(omnictl_ctx_t *ctx);
int omnictl_cmd_dispatch_diff(omnictl_ctx_t *ctx);
int omnictl_cmd_stat(omnictl_ctx_t *ctx);
int omnictl_cmd_cluster_status(omnictl_ctx_t *ctx);
int omnictl_cmd_session(omnictl_ctx_t *ctx);
int omnictl_cmd_session_revoke(omnictl_ctx_t *ctx);
int omnictl_cmd_customer(omnictl_ctx_t *ctx);
int omnictl_cmd_sessions(omnictl_ctx_t *ctx);
int omnictl_cmd_identities(omnictl_ctx_t *ctx);
int omnictl_cmd_journey(omnictl_ctx_t *ctx);
int omnictl_cmd_resolve(omnictl_ctx_t *ctx);
int omnictl_cmd_link(omnictl_ctx_t *ctx);
int omnictl_cmd_unlink(omnictl_ctx_t *ctx);
int omnictl_cmd_merge(omnictl_ctx_t *ctx);
int omnictl_cmd_customers_erase(omnictl_ctx_t *ctx);
int omnictl_cmd_revoke(omnictl_ctx_t *ctx);
int omnictl_cmd_unrevoke(omnictl_ctx_t *ctx);
int omnictl_cmd_revocations(omnictl_ctx_t *ctx);
int omnictl_cmd_export(omnictl_ctx_t *ctx);
int omnictl_cmd_import(omnictl_ctx_t *ctx);
int omnictl_cmd_policy_validate(omnictl_ctx_t *ctx);
int omnictl_cmd_policy_load(omnictl_ctx_t *ctx);
int omnictl_cmd_policy_show(omnictl_ctx_t *ctx);
int omnictl_cmd_policy_revisions(omnictl_ctx_t *ctx);
int omnictl_cmd_policy_rollback(omnictl_ctx_t *ctx);
int omnictl_cmd_policy_diff(omnictl_ctx_t *ctx);
int omnictl_cmd_policy_check(omnictl_ctx_t *ctx);
int omnictl_cmd_keys_init(omnictl_ctx_t *ctx);
int omnictl_cmd_keys_status(omnictl_ctx_t *ctx);
int omnictl_cmd_keys_rotate(omnictl_ctx_t *ctx);
int omnictl_cmd_keys_rewrap(omnictl_ctx_t *ctx);
int omnictl_cmd_keys_reindex(omnictl_ctx_t *ctx);
int omnictl_cmd_keys_retire(omnictl_ctx_t *ctx);
int omnictl_cmd_cases_open(omnictl_ctx_t *ctx);
int omnictl_cmd_cases_show(omnictl_ctx_t *ctx);
int omnictl_cmd_cases_list(omnictl_ctx_t *ctx);
int omnictl_cmd_cases_by_status(omnictl_ctx_t *ctx);
int omnictl_cmd_cases_status(omnictl_ctx_t *ctx);
int omnictl_cmd_cases_note(omnictl_ctx_t *ctx);
int omnictl_cmd_cases_assign(omnictl_ctx_t *ctx);


#endif /* OMNICTL_H_INCLUDED_ */
