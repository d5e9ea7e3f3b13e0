/*
 * Copyright (C) The omni gateway authors
 *
 * omnictl: the admin API on the command line, working on the gateway's
 * LMDB store directly and safely while nginx runs (LMDB serialises
 * writers across processes and never blocks readers).  Every command but
 * export, import, policy validate, policy check and the keys commands is
 * a request to omni_admin_handle(), the code behind the admin location,
 * so the command line and the HTTP API can never disagree.  The store is
 * opened with the keyring of --keyring, and the same fit check as
 * nginx's.  See docs/omnictl.md.
 */


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
    const char      *session_age;
    const char      *file;
    const char      *kek;               /* flags of keys rotate */
    const char      *index;
} omnictl_ctx_t;


typedef struct {
    const char    *name;               /* "stat", "policy load" */
    int            min;                /* positional arguments */
    int            max;
    unsigned       opts;               /* OMNICTL_OPT_* */
    int            store;              /* needs -d DIR before it runs */
    int          (*run)(omnictl_ctx_t *ctx);
} omnictl_command_t;


typedef struct {
    const char    *name;
    unsigned       bit;                /* OMNICTL_OPT_* */
    size_t         offset;             /* of its value in omnictl_ctx_t */
    int            flag;               /* takes no value */
} omnictl_option_t;


typedef struct {
    FILE          *out;
    char          *line;               /* OMNICTL_LINE_MAX + 1 bytes */
    size_t         n;
    int            error;              /* errno of a failed write */
    int            too_long;           /* a record passes the line bound */
} omnictl_export_t;


typedef struct {
    const char           *name;        /* of the input, for messages */
    omni_store_t         *st;          /* NULL: only check */
    char                 *line;        /* OMNICTL_LINE_MAX + 2 bytes */
    size_t                lineno;
    size_t                n;           /* records read */
    size_t                first;       /* line of recs[0] */
    size_t                nrecs;
    size_t                bytes;
    omni_store_record_t   recs[OMNICTL_BATCH];
} omnictl_import_t;


static int omnictl_usage(FILE *out);
static int omnictl_usage_error(const char *fmt, ...);
static const omnictl_command_t *omnictl_command(const char *group,
    const char *name);
static void omnictl_audit(omnictl_ctx_t *ctx, const char *change);
static void omnictl_actor(omnictl_ctx_t *ctx);
static int omnictl_args(omnictl_ctx_t *ctx, const omnictl_command_t *cmd,
    int argc, char **argv);
static int omnictl_open(omnictl_ctx_t *ctx);
static int omnictl_keyring(omnictl_ctx_t *ctx);
static int omnictl_time(const char *s, int64_t *t);
static int omnictl_number(const char *what, const char *s);

static void omnictl_str_add(omnictl_str_t *s, const char *p, size_t len);
static void omnictl_str_encode(omnictl_str_t *s, const char *p);
static void omnictl_path(omnictl_str_t *s, ...);
static void omnictl_param(omnictl_str_t *s, const char *name,
    const char *value);
static int omnictl_set(json_t *obj, const char *name, const char *value);

static int omnictl_request(omnictl_ctx_t *ctx, const char *method,
    omnictl_str_t *path, omnictl_str_t *query, json_t *body,
    json_t **answer);
static int omnictl_request_raw(omnictl_ctx_t *ctx, const char *method,
    omnictl_str_t *path, omnictl_str_t *query, const char *body,
    size_t body_len, json_t **answer);
static int omnictl_call(omnictl_ctx_t *ctx, const char *method,
    omnictl_str_t *path, omnictl_str_t *query, json_t *body);
static int omnictl_print(json_t *json);
static int omnictl_answer(json_t *json);

static int omnictl_cmd_help(omnictl_ctx_t *ctx);
static int omnictl_cmd_stat(omnictl_ctx_t *ctx);
static int omnictl_cmd_session(omnictl_ctx_t *ctx);
static int omnictl_cmd_session_revoke(omnictl_ctx_t *ctx);
static int omnictl_cmd_customer(omnictl_ctx_t *ctx);
static int omnictl_cmd_sessions(omnictl_ctx_t *ctx);
static int omnictl_cmd_identities(omnictl_ctx_t *ctx);
static int omnictl_cmd_journey(omnictl_ctx_t *ctx);
static int omnictl_cmd_resolve(omnictl_ctx_t *ctx);
static int omnictl_cmd_link(omnictl_ctx_t *ctx);
static int omnictl_cmd_unlink(omnictl_ctx_t *ctx);
static int omnictl_cmd_merge(omnictl_ctx_t *ctx);
static int omnictl_cmd_revoke(omnictl_ctx_t *ctx);
static int omnictl_cmd_unrevoke(omnictl_ctx_t *ctx);
static int omnictl_cmd_revocations(omnictl_ctx_t *ctx);
static int omnictl_cmd_export(omnictl_ctx_t *ctx);
static int omnictl_cmd_import(omnictl_ctx_t *ctx);
static int omnictl_cmd_policy_validate(omnictl_ctx_t *ctx);
static int omnictl_cmd_policy_load(omnictl_ctx_t *ctx);
static int omnictl_cmd_policy_show(omnictl_ctx_t *ctx);
static int omnictl_cmd_policy_revisions(omnictl_ctx_t *ctx);
static int omnictl_cmd_policy_rollback(omnictl_ctx_t *ctx);
static int omnictl_cmd_policy_diff(omnictl_ctx_t *ctx);
static int omnictl_cmd_policy_check(omnictl_ctx_t *ctx);
static int omnictl_cmd_keys_init(omnictl_ctx_t *ctx);
static int omnictl_cmd_keys_status(omnictl_ctx_t *ctx);
static int omnictl_cmd_keys_rotate(omnictl_ctx_t *ctx);
static json_t *omnictl_keys_versions(const omni_keyring_key_t *keys,
    size_t n);

static int omnictl_policy_read(const char *file, char **json, size_t *len);
static omni_policy_t *omnictl_policy_compile(const char *name,
    const char *json, size_t len);
static void omnictl_errors(const char *errors);

static int omnictl_revocations_page(json_t *answer, const char *kind,
    json_t **next);
static int omnictl_rfc3339(const char *s, int64_t *t);
static int omnictl_export_record(void *data, const omni_store_record_t *rec);
static int omnictl_export_to(omnictl_ctx_t *ctx, FILE *out, size_t *n);
static int omnictl_import_pass(omnictl_import_t *im, FILE *in);
static int omnictl_import_line(omnictl_import_t *im, size_t len);
static int omnictl_import_header(omnictl_import_t *im, size_t len);
static int omnictl_import_flush(omnictl_import_t *im);
static void omnictl_import_clear(omnictl_import_t *im);
static int omnictl_getline(FILE *in, char *buf, size_t max, size_t *len,
    int *newline);



static const omnictl_command_t  omnictl_commands[] = {

    { "help", 0, 0, 0, 0, omnictl_cmd_help },
    { "stat", 0, 0, 0, 1, omnictl_cmd_stat },
    { "session", 1, 1, 0, 1, omnictl_cmd_session },
    { "session-revoke", 1, 1, 0, 1, omnictl_cmd_session_revoke },
    { "customer", 1, 1, OMNICTL_OPT_LIMIT, 1, omnictl_cmd_customer },
    { "sessions", 1, 1, OMNICTL_OPT_AFTER|OMNICTL_OPT_LIMIT, 1,
      omnictl_cmd_sessions },
    { "identities", 1, 1, OMNICTL_OPT_AFTER|OMNICTL_OPT_LIMIT, 1,
      omnictl_cmd_identities },
    { "journey", 1, 1, OMNICTL_OPT_BEFORE|OMNICTL_OPT_LIMIT, 1,
      omnictl_cmd_journey },
    { "resolve", 2, 2, 0, 1, omnictl_cmd_resolve },
    { "link", 3, 3, 0, 1, omnictl_cmd_link },
    { "unlink", 2, 2, 0, 1, omnictl_cmd_unlink },
    { "merge", 2, 2, 0, 1, omnictl_cmd_merge },
    { "revoke", 2, 3, 0, 1, omnictl_cmd_revoke },
    { "unrevoke", 2, 2, 0, 1, omnictl_cmd_unrevoke },
    { "revocations", 0, 0, OMNICTL_OPT_KIND, 1, omnictl_cmd_revocations },
    { "export", 0, 1, 0, 1, omnictl_cmd_export },
    { "import", 1, 1, 0, 1, omnictl_cmd_import },

    /* validate and check (with --file) do without a store */
    { "policy validate", 1, 1, 0, 0, omnictl_cmd_policy_validate },
    { "policy load", 1, 1, OMNICTL_OPT_NOTE, 1, omnictl_cmd_policy_load },
    { "policy show", 0, 1, 0, 1, omnictl_cmd_policy_show },
    { "policy revisions", 0, 0, OMNICTL_OPT_BEFORE|OMNICTL_OPT_LIMIT, 1,
      omnictl_cmd_policy_revisions },
    { "policy rollback", 1, 1, 0, 1, omnictl_cmd_policy_rollback },
    { "policy diff", 1, 2, 0, 1, omnictl_cmd_policy_diff },
    { "policy check", 0, 0, OMNICTL_OPT_CHECK, 0, omnictl_cmd_policy_check },

    /* the keyring file; status reads the store only when one is given */
    { "keys init", 1, 1, 0, 0, omnictl_cmd_keys_init },
    { "keys status", 0, 0, 0, 0, omnictl_cmd_keys_status },
    { "keys rotate", 0, 0, OMNICTL_OPT_KEK|OMNICTL_OPT_INDEX, 0,
      omnictl_cmd_keys_rotate },

    { NULL, 0, 0, 0, 0, NULL }
};


static const omnictl_option_t  omnictl_options[] = {
    { "--after", OMNICTL_OPT_AFTER, offsetof(omnictl_ctx_t, after), 0 },
    { "--before", OMNICTL_OPT_BEFORE, offsetof(omnictl_ctx_t, before), 0 },
    { "--limit", OMNICTL_OPT_LIMIT, offsetof(omnictl_ctx_t, limit), 0 },
    { "--kind", OMNICTL_OPT_KIND, offsetof(omnictl_ctx_t, kind), 0 },
    { "--note", OMNICTL_OPT_NOTE, offsetof(omnictl_ctx_t, note), 0 },
    { "--roles", OMNICTL_OPT_ROLES, offsetof(omnictl_ctx_t, roles), 0 },
    { "--action", OMNICTL_OPT_ACTION, offsetof(omnictl_ctx_t, action), 0 },
    { "--channel", OMNICTL_OPT_CHANNEL, offsetof(omnictl_ctx_t, channel),
      0 },
    { "--tier", OMNICTL_OPT_TIER, offsetof(omnictl_ctx_t, tier), 0 },
    { "--anonymous", OMNICTL_OPT_ANON, offsetof(omnictl_ctx_t, anonymous),
      1 },
    { "--session-age", OMNICTL_OPT_AGE,
      offsetof(omnictl_ctx_t, session_age), 0 },
    { "--file", OMNICTL_OPT_FILE, offsetof(omnictl_ctx_t, file), 0 },
    { "--kek", OMNICTL_OPT_KEK, offsetof(omnictl_ctx_t, kek), 1 },
    { "--index", OMNICTL_OPT_INDEX, offsetof(omnictl_ctx_t, index), 1 },
    { NULL, 0, 0, 0 }
};


static const char  *omnictl_kinds[] = { "jti", "session", "subject", NULL };


/* the commands that take a second word, and what it may be */
static const char  *omnictl_groups[][2] = {
    { "policy", "validate, load, show, revisions, rollback, diff or check" },
    { "keys", "init, status or rotate" },
    { NULL, NULL }
};



int
main(int argc, char **argv)
{
    int                       i, g, rc;
    const char               *dir, *keyring, *audit;
    omnictl_ctx_t             ctx;
    const omnictl_command_t  *cmd;

    dir = NULL;
    keyring = NULL;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            return omnictl_usage(stdout);
        }

        if (strcmp(argv[i], "-d") == 0) {
            if (i + 1 == argc || argv[i + 1][0] == '\0') {
                return omnictl_usage_error("-d needs a directory");
            }

            dir = argv[++i];
            continue;
        }

        if (strcmp(argv[i], "--keyring") == 0) {
            if (i + 1 == argc || argv[i + 1][0] == '\0') {
                return omnictl_usage_error("--keyring needs a file");
            }

            keyring = argv[++i];
            continue;
        }

        if (strncmp(argv[i], "--keyring=", 10) == 0 && argv[i][10] != '\0') {
            keyring = argv[i] + 10;
            continue;
        }

        if (argv[i][0] == '-') {
            return omnictl_usage_error("unknown option \"%s\"", argv[i]);
        }

        break;
    }

    if (i == argc) {
        return omnictl_usage_error("no command");
    }

    for (g = 0; omnictl_groups[g][0] != NULL; g++) {
        if (strcmp(argv[i], omnictl_groups[g][0]) == 0) {
            break;
        }
    }

    if (omnictl_groups[g][0] != NULL) {
        if (++i == argc) {
            return omnictl_usage_error("%s needs a command: %s",
                                       omnictl_groups[g][0],
                                       omnictl_groups[g][1]);
        }

        cmd = omnictl_command(omnictl_groups[g][0], argv[i]);
        if (cmd == NULL) {
            return omnictl_usage_error("unknown command \"%s %s\"",
                                       omnictl_groups[g][0], argv[i]);
        }

    } else {
        cmd = omnictl_command(NULL, argv[i]);
        if (cmd == NULL) {
            return omnictl_usage_error("unknown command \"%s\"", argv[i]);
        }
    }

    memset(&ctx, 0, sizeof(ctx));

    rc = omnictl_args(&ctx, cmd, argc - i - 1, argv + i + 1);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    if (cmd->run == omnictl_cmd_help) {
        return omnictl_usage(stdout);
    }

    if (dir == NULL) {
        dir = getenv("OMNI_STORE");
    }

    if (dir != NULL && dir[0] == '\0') {
        dir = NULL;
    }

    if (dir == NULL && cmd->store) {
        return omnictl_usage_error("no store directory: give -d DIR or set "
                                   "OMNI_STORE");
    }

    if (keyring == NULL) {
        keyring = getenv("OMNI_KEYRING");
    }

    ctx.dir = dir;
    ctx.keyring_file = (keyring != NULL && keyring[0] != '\0') ? keyring
                                                               : NULL;
    ctx.now = (int64_t) time(NULL);
    omnictl_actor(&ctx);

    /* opened before anything changes: a change must not go unrecorded */
    audit = getenv("OMNI_AUDIT_LOG");

    if (audit != NULL && audit[0] != '\0') {
        ctx.audit = fopen(audit, "a");

        if (ctx.audit == NULL) {
            fprintf(stderr, "omnictl: cannot open the audit log %s: %s\n",
                    audit, strerror(errno));
            return OMNICTL_EXIT_FAIL;
        }
    }

    rc = cmd->run(&ctx);

    if (ctx.audit != NULL && fclose(ctx.audit) != 0) {
        fprintf(stderr, "omnictl: writing the audit log %s: %s\n", audit,
                strerror(errno));
        rc = OMNICTL_EXIT_FAIL;
    }

    if (ctx.st != NULL) {
        omni_store_close(ctx.st);
    }

    omni_keyring_free(ctx.keyring);

    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "omnictl: writing the output: %s\n",
                strerror(errno));
        return OMNICTL_EXIT_FAIL;
    }

    return rc;
}


static int
omnictl_usage(FILE *out)
{
    fprintf(out,
"Usage: omnictl [-d DIR] [--keyring FILE] COMMAND [ARGUMENTS]\n"
"\n"
"Commands (the admin API's operations, on the store in DIR):\n"
"  stat                                   entries per sub-database, map use\n"
"  session ID                             a session\n"
"  session-revoke ID                      end a session everywhere\n"
"  customer ID [--limit N]               a customer: survivor, identities,\n"
"                                         sessions\n"
"  sessions CUSTOMER [--after ID] [--limit N]\n"
"                                         a page of a customer's sessions\n"
"  identities CUSTOMER [--after TYPE:VALUE] [--limit N]\n"
"                                         a page of a customer's identities\n"
"  journey CUSTOMER [--before CURSOR] [--limit N]\n"
"                                         a page of a customer's journey,\n"
"                                         newest first\n"
"  resolve TYPE VALUE                     the customer of an identity\n"
"  link TYPE VALUE CUSTOMER               link an identity to a customer\n"
"                                         (moves it from another one)\n"
"  unlink TYPE VALUE                      unlink an identity\n"
"  merge FROM INTO                        merge customer FROM into INTO\n"
"  revoke jti JTI [EXPIRES]               refuse the token with this jti\n"
"                                         (until EXPIRES, epoch seconds;\n"
"                                         default: until unrevoked)\n"
"  revoke subject SUB [BEFORE]            refuse SUB's tokens issued before\n"
"                                         BEFORE (epoch seconds; default:\n"
"                                         now)\n"
"  revoke session ID                      refuse the session and end it\n"
"  unrevoke jti|subject|session VALUE     drop a revocation\n"
"  revocations [--kind jti|subject|session]\n"
"                                         list revocations, one a line:\n"
"                                         kind value time\n"
"  export [FILE]                          every record as JSON lines, to\n"
"                                         FILE (replaced) or stdout\n"
"  import FILE                            write the records of an export\n"
"                                         (FILE - is stdin)\n"
"  policy validate FILE                   compile a policy file and say\n"
"                                         \"ok\" or every error (no store)\n"
"  policy load FILE [--note TEXT]         store FILE as the next policy\n"
"                                         revision and make it current\n"
"  policy show [N]                        the current policy or revision N\n"
"  policy revisions [--before N] [--limit N]\n"
"                                         a page of revisions, newest first\n"
"  policy rollback N                      a new revision with N's policy\n"
"  policy diff A [B]                      what changed from revision A to B\n"
"                                         (default: the current one)\n"
"  policy check --action ACTION --channel CHANNEL [--roles A,B]\n"
"               [--tier T] [--anonymous] [--session-age SECONDS]\n"
"               [--file FILE]             decide one request against FILE\n"
"                                         or the store's policy: prints the\n"
"                                         decision, the rule and the roles\n"
"  keys init FILE                         a new keyring in FILE (mode 0600;\n"
"                                         an existing FILE is never replaced)\n"
"  keys status                            the keyring's id and versions, and\n"
"                                         whether it fits the store in DIR\n"
"  keys rotate --kek | --index            add a version of the KEKs or of\n"
"                                         the index keys (no data is sealed\n"
"                                         yet: nothing to re-wrap)\n"
"  help                                   this text (also -h, --help)\n"
"\n"
"Options take their value as the next argument or after \"=\"\n"
"(--limit=10); \"--\" ends them.  DIR, the directory of the omni_store\n"
"directive, defaults to $OMNI_STORE; the keyring FILE, that of\n"
"omni_store_keyring, to $OMNI_KEYRING: a store made with a keyring opens\n"
"only with it.  Safe while nginx runs; run it as nginx's worker user.\n"
"Answers are JSON on stdout.  A policy FILE of - is stdin.\n"
"\n"
"Exit status: 0 done (policy check: allowed), 1 failed or not found\n"
"(the message on stderr), 2 usage error, 3 policy check: denied.\n");

    return OMNICTL_EXIT_OK;
}


static int
omnictl_usage_error(const char *fmt, ...)
{
    va_list  args;

    fprintf(stderr, "omnictl: ");

    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);

    fprintf(stderr, "\n\n");

    (void) omnictl_usage(stderr);

    return OMNICTL_EXIT_USAGE;
}


/* a command by its name, or by the name after group ("policy") */

static const omnictl_command_t *
omnictl_command(const char *group, const char *name)
{
    size_t                    len;
    const char               *p;
    const omnictl_command_t  *cmd;

    len = group ? strlen(group) : 0;

    for (cmd = omnictl_commands; cmd->name != NULL; cmd++) {
        p = cmd->name;

        if (group != NULL) {
            if (strncmp(p, group, len) != 0 || p[len] != ' ') {
                continue;
            }

            p += len + 1;

        } else if (strchr(p, ' ') != NULL) {
            continue;
        }

        if (strcmp(p, name) == 0) {
            return cmd;
        }
    }

    return NULL;
}


/* who writes a policy revision: "omnictl:" and the user name */

static void
omnictl_actor(omnictl_ctx_t *ctx)
{
    uid_t           uid;
    struct passwd  *pw;

    uid = getuid();
    pw = getpwuid(uid);

    if (pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0') {
        snprintf(ctx->actor, sizeof(ctx->actor), "omnictl:%s", pw->pw_name);

    } else {
        snprintf(ctx->actor, sizeof(ctx->actor), "omnictl:%lu",
                 (unsigned long) uid);
    }
}


/* positional arguments and options, in any order, after the command */

static int
omnictl_args(omnictl_ctx_t *ctx, const omnictl_command_t *cmd, int argc,
    char **argv)
{
    int                      i, options;
    size_t                   len;
    const char              *arg, *value, **slot;
    const omnictl_option_t  *opt;

    options = 1;

    for (i = 0; i < argc; i++) {
        arg = argv[i];

        if (!options || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (ctx->argc == cmd->max) {
                return omnictl_usage_error("too many arguments for %s "
                                           "(\"%s\")", cmd->name, arg);
            }

            ctx->argv[ctx->argc++] = argv[i];
            continue;
        }

        if (strcmp(arg, "--") == 0) {
            options = 0;
            continue;
        }

        value = strchr(arg, '=');
        len = value ? (size_t) (value - arg) : strlen(arg);

        for (opt = omnictl_options; opt->name != NULL; opt++) {
            if (strlen(opt->name) == len && strncmp(arg, opt->name, len) == 0)
            {
                break;
            }
        }

        if (opt->name == NULL) {
            return omnictl_usage_error("unknown option \"%.*s\"", (int) len,
                                       arg);
        }

        if (!(cmd->opts & opt->bit)) {
            return omnictl_usage_error("%s takes no option \"%.*s\"",
                                       cmd->name, (int) len, arg);
        }

        slot = (const char **) ((char *) ctx + opt->offset);

        if (opt->flag) {
            if (value != NULL) {
                return omnictl_usage_error("%s takes no value", opt->name);
            }

            value = arg;

        } else if (value != NULL) {
            value++;

        } else if (i + 1 < argc) {
            value = argv[++i];

        } else {
            return omnictl_usage_error("%s needs a value", arg);
        }

        if (*slot != NULL) {
            return omnictl_usage_error("%.*s is given twice", (int) len,
                                       arg);
        }

        *slot = value;
    }

    if (ctx->argc < cmd->min) {
        return omnictl_usage_error("too few arguments for %s", cmd->name);
    }

    if (ctx->limit != NULL && omnictl_number("--limit", ctx->limit) != 0) {
        return OMNICTL_EXIT_USAGE;
    }

    return OMNICTL_EXIT_OK;
}


static int
omnictl_open(omnictl_ctx_t *ctx)
{
    int   rc;
    char  err[OMNI_ERRLEN];

    if (ctx->st != NULL) {
        return OMNICTL_EXIT_OK;
    }

    if (ctx->dir == NULL) {
        return omnictl_usage_error("no store directory: give -d DIR or set "
                                   "OMNI_STORE");
    }

    /* a keyring that cannot be read opens no store, nor creates one */
    rc = omnictl_keyring(ctx);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    ctx->st = omni_store_open(ctx->dir, OMNICTL_MAP_MAX, OMNI_STORE_SYNC_FULL,
                              err);
    if (ctx->st == NULL) {
        fprintf(stderr, "omnictl: %s\n", err);
        return OMNICTL_EXIT_FAIL;
    }

    rc = omni_store_keyring_check(ctx->st,
                                  ctx->keyring ? ctx->keyring->id : NULL,
                                  err);
    if (rc != OMNI_STORE_OK) {
        fprintf(stderr, "omnictl: %s%s\n", err,
                (rc == OMNI_STORE_INVALID && ctx->keyring == NULL)
                ? "; give it with --keyring FILE or OMNI_KEYRING" : "");
        omni_store_close(ctx->st);
        ctx->st = NULL;
        return OMNICTL_EXIT_FAIL;
    }

    return OMNICTL_EXIT_OK;
}


/* the keyring of --keyring or $OMNI_KEYRING, when there is one */

static int
omnictl_keyring(omnictl_ctx_t *ctx)
{
    char  err[OMNI_ERRLEN];

    if (ctx->keyring != NULL || ctx->keyring_file == NULL) {
        return OMNICTL_EXIT_OK;
    }

    if (omni_keyring_load(ctx->keyring_file, &ctx->keyring, err) != 0) {
        fprintf(stderr, "omnictl: %s\n", err);
        return OMNICTL_EXIT_FAIL;
    }

    return OMNICTL_EXIT_OK;
}


static int
omnictl_time(const char *s, int64_t *t)
{
    char       *end;
    long long   v;

    errno = 0;
    v = strtoll(s, &end, 10);

    if (errno != 0 || end == s || *end != '\0' || v < 0) {
        return omnictl_usage_error("\"%s\" is not a time in epoch seconds",
                                   s);
    }

    *t = (int64_t) v;

    return OMNICTL_EXIT_OK;
}


/* a decimal number; its range is the admin API's to check */

static int
omnictl_number(const char *what, const char *s)
{
    const char  *p;

    for (p = s; *p >= '0' && *p <= '9'; p++) {
        /* void */
    }

    if (p == s || *p != '\0' || p - s > 18) {
        return omnictl_usage_error("%s \"%s\" is not a number", what, s);
    }

    return 0;
}


static void
omnictl_str_add(omnictl_str_t *s, const char *p, size_t len)
{
    char    *data;
    size_t   cap;

    if (s->failed) {
        return;
    }

    if (s->len + len + 1 > s->cap) {
        cap = s->cap ? s->cap : 128;

        while (cap < s->len + len + 1) {
            cap *= 2;
        }

        data = realloc(s->data, cap);
        if (data == NULL) {
            s->failed = 1;
            return;
        }

        s->data = data;
        s->cap = cap;
    }

    memcpy(s->data + s->len, p, len);
    s->len += len;
    s->data[s->len] = '\0';
}


/* percent-encodes every byte but the unreserved ones of RFC 3986 */

static void
omnictl_str_encode(omnictl_str_t *s, const char *p)
{
    char                  hex[3];
    const unsigned char  *c;

    for (c = (const unsigned char *) p; *c != '\0'; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')
            || (*c >= '0' && *c <= '9')
            || *c == '.' || *c == '_' || *c == '~' || *c == '-')
        {
            omnictl_str_add(s, (const char *) c, 1);
            continue;
        }

        hex[0] = '%';
        hex[1] = "0123456789ABCDEF"[*c >> 4];
        hex[2] = "0123456789ABCDEF"[*c & 0xf];

        omnictl_str_add(s, hex, 3);
    }
}


/* "/seg1/seg2/...", each segment encoded; the list ends with NULL */

static void
omnictl_path(omnictl_str_t *s, ...)
{
    va_list      args;
    const char  *seg;

    va_start(args, s);

    while ((seg = va_arg(args, const char *)) != NULL) {
        omnictl_str_add(s, "/", 1);
        omnictl_str_encode(s, seg);
    }

    va_end(args);
}


/* adds name=value to a query, unless value is NULL */

static void
omnictl_param(omnictl_str_t *s, const char *name, const char *value)
{
    if (value == NULL) {
        return;
    }

    if (s->len > 0) {
        omnictl_str_add(s, "&", 1);
    }

    omnictl_str_add(s, name, strlen(name));
    omnictl_str_add(s, "=", 1);
    omnictl_str_encode(s, value);
}


static int
omnictl_set(json_t *obj, const char *name, const char *value)
{
    json_t  *s;

    s = json_string(value);
    if (s == NULL) {
        return omnictl_usage_error("\"%s\" is not valid UTF-8", name);
    }

    if (json_object_set_new(obj, name, s) != 0) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    return OMNICTL_EXIT_OK;
}


/*
 * One request to the admin API.  On 2xx *answer (NULL to drop it) receives
 * the answer; otherwise its message goes to stderr.  Frees path and query;
 * body stays the caller's.
 */

static int
omnictl_request(omnictl_ctx_t *ctx, const char *method, omnictl_str_t *path,
    omnictl_str_t *query, json_t *body, json_t **answer)
{
    int    rc;
    char  *text;

    text = NULL;

    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL) {
            fprintf(stderr, "omnictl: out of memory\n");
            free(path->data);

            if (query != NULL) {
                free(query->data);
            }

            return OMNICTL_EXIT_FAIL;
        }
    }

    rc = omnictl_request_raw(ctx, method, path, query, text,
                             text ? strlen(text) : 0, answer);
    free(text);

    return rc;
}


/*
 * The same with the body as text (NULL: none), as a policy file is sent:
 * byte for byte.  An answer with "errors" (policy_invalid) has each of
 * them printed after its message.
 */

static int
omnictl_request_raw(omnictl_ctx_t *ctx, const char *method,
    omnictl_str_t *path, omnictl_str_t *query, const char *body,
    size_t body_len, json_t **answer)
{
    int                    rc;
    size_t                 i;
    json_t                *json, *code, *message, *errors, *e;
    json_error_t           jerr;
    omni_admin_result_t    res;
    omni_admin_request_t   req;

    json = NULL;
    memset(&res, 0, sizeof(res));

    rc = omnictl_open(ctx);
    if (rc != OMNICTL_EXIT_OK) {
        goto done;
    }

    rc = OMNICTL_EXIT_FAIL;

    if (path->failed || path->data == NULL || (query && query->failed)) {
        fprintf(stderr, "omnictl: out of memory\n");
        goto done;
    }

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = path->data;
    req.path_len = path->len;
    req.query = (query && query->len) ? query->data : NULL;
    req.query_len = (query && query->len) ? query->len : 0;
    req.body = body;
    req.body_len = body_len;
    req.now = ctx->now;
    req.actor = ctx->actor;

    if (omni_admin_handle(ctx->st, &req, &res) != 0 || res.body == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        goto done;
    }

    if (res.audit != NULL) {
        omnictl_audit(ctx, res.audit);
    }

    json = json_loadb(res.body, res.body_len, 0, &jerr);

    if (res.status >= 200 && res.status < 300) {
        if (json == NULL || !json_is_object(json)) {
            fprintf(stderr, "omnictl: the answer (%u) is not a JSON object: "
                    "%.*s\n", res.status, (int) res.body_len, res.body);
            goto done;
        }

        if (answer != NULL) {
            *answer = json;
            json = NULL;
        }

        rc = OMNICTL_EXIT_OK;
        goto done;
    }

    code = json_object_get(json, "error");
    message = json_object_get(json, "message");

    if (json_is_string(code) && json_is_string(message)) {
        fprintf(stderr, "omnictl: %s (%s)\n", json_string_value(message),
                json_string_value(code));

        errors = json_object_get(json, "errors");

        json_array_foreach(errors, i, e) {
            if (json_is_string(e)) {
                fprintf(stderr, "  %s\n", json_string_value(e));
            }
        }

    } else {
        fprintf(stderr, "omnictl: status %u: %.*s\n", res.status,
                (int) res.body_len, res.body);
    }

done:

    json_decref(json);
    free(path->data);

    if (query != NULL) {
        free(query->data);
    }

    omni_admin_result_free(&res);

    return rc;
}


/*
 * Every change goes to syslog (authpriv), like the admin API's changes go
 * to nginx's error log, and to $OMNI_AUDIT_LOG as a JSON line when set.
 */
static void
omnictl_audit(omnictl_ctx_t *ctx, const char *change)
{
    char       when[32];
    char      *line;
    json_t    *entry;
    struct tm  tm;
    time_t     now;

    syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s by %s", change, ctx->actor);

    if (ctx->audit == NULL) {
        return;
    }

    now = (time_t) ctx->now;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);

    entry = json_pack("{s:s, s:s, s:s, s:s}", "time", when, "actor",
                      ctx->actor, "store", ctx->dir ? ctx->dir : "",
                      "change", change);
    line = entry ? json_dumps(entry, JSON_COMPACT | JSON_PRESERVE_ORDER)
                 : NULL;

    if (line == NULL || fprintf(ctx->audit, "%s\n", line) < 0) {
        fprintf(stderr, "omnictl: the change \"%s\" was made but could "
                "not be written to the audit log\n", change);
    }

    free(line);
    json_decref(entry);
}


/* a request whose answer is printed */

static int
omnictl_call(omnictl_ctx_t *ctx, const char *method, omnictl_str_t *path,
    omnictl_str_t *query, json_t *body)
{
    int      rc;
    json_t  *answer;

    answer = NULL;

    rc = omnictl_request(ctx, method, path, query, body, &answer);
    json_decref(body);

    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    rc = omnictl_print(answer);
    json_decref(answer);

    return rc;
}


static int
omnictl_print(json_t *json)
{
    if (json_dumpf(json, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0
        || putchar('\n') == EOF)
    {
        fprintf(stderr, "omnictl: writing the output: %s\n",
                strerror(errno));
        return OMNICTL_EXIT_FAIL;
    }

    return OMNICTL_EXIT_OK;
}


/* an answer omnictl made, printed and freed; NULL: making it failed */

static int
omnictl_answer(json_t *json)
{
    int  rc;

    if (json == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    rc = omnictl_print(json);
    json_decref(json);

    return rc;
}


static int
omnictl_cmd_help(omnictl_ctx_t *ctx)
{
    (void) ctx;

    return omnictl_usage(stdout);
}


static int
omnictl_cmd_stat(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    omnictl_path(&path, "stats", NULL);

    return omnictl_call(ctx, "GET", &path, NULL, NULL);
}


static int
omnictl_cmd_session(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    omnictl_path(&path, "sessions", ctx->argv[0], NULL);

    return omnictl_call(ctx, "GET", &path, NULL, NULL);
}


static int
omnictl_cmd_session_revoke(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    omnictl_path(&path, "sessions", ctx->argv[0], NULL);

    return omnictl_call(ctx, "DELETE", &path, NULL, NULL);
}


static int
omnictl_cmd_customer(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };
    omnictl_str_t  query = { NULL, 0, 0, 0 };

    omnictl_path(&path, "customers", ctx->argv[0], NULL);
    omnictl_param(&query, "limit", ctx->limit);

    return omnictl_call(ctx, "GET", &path, &query, NULL);
}


static int
omnictl_cmd_sessions(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };
    omnictl_str_t  query = { NULL, 0, 0, 0 };

    omnictl_path(&path, "customers", ctx->argv[0], "sessions", NULL);
    omnictl_param(&query, "after", ctx->after);
    omnictl_param(&query, "limit", ctx->limit);

    return omnictl_call(ctx, "GET", &path, &query, NULL);
}


static int
omnictl_cmd_identities(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };
    omnictl_str_t  query = { NULL, 0, 0, 0 };

    omnictl_path(&path, "customers", ctx->argv[0], "identities", NULL);
    omnictl_param(&query, "after", ctx->after);
    omnictl_param(&query, "limit", ctx->limit);

    return omnictl_call(ctx, "GET", &path, &query, NULL);
}


static int
omnictl_cmd_journey(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };
    omnictl_str_t  query = { NULL, 0, 0, 0 };

    omnictl_path(&path, "customers", ctx->argv[0], "journey", NULL);
    omnictl_param(&query, "before", ctx->before);
    omnictl_param(&query, "limit", ctx->limit);

    return omnictl_call(ctx, "GET", &path, &query, NULL);
}


static int
omnictl_cmd_resolve(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    omnictl_path(&path, "identities", ctx->argv[0], ctx->argv[1], NULL);

    return omnictl_call(ctx, "GET", &path, NULL, NULL);
}


static int
omnictl_cmd_link(omnictl_ctx_t *ctx)
{
    int             rc;
    json_t         *body;
    omnictl_str_t   path = { NULL, 0, 0, 0 };

    body = json_object();
    if (body == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    rc = omnictl_set(body, "customer", ctx->argv[2]);
    if (rc != OMNICTL_EXIT_OK) {
        json_decref(body);
        return rc;
    }

    omnictl_path(&path, "identities", ctx->argv[0], ctx->argv[1], NULL);

    return omnictl_call(ctx, "PUT", &path, NULL, body);
}


static int
omnictl_cmd_unlink(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    omnictl_path(&path, "identities", ctx->argv[0], ctx->argv[1], NULL);

    return omnictl_call(ctx, "DELETE", &path, NULL, NULL);
}


static int
omnictl_cmd_merge(omnictl_ctx_t *ctx)
{
    int             rc;
    json_t         *body;
    omnictl_str_t   path = { NULL, 0, 0, 0 };

    body = json_object();
    if (body == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    rc = omnictl_set(body, "into", ctx->argv[1]);
    if (rc != OMNICTL_EXIT_OK) {
        json_decref(body);
        return rc;
    }

    omnictl_path(&path, "customers", ctx->argv[0], "merge", NULL);

    return omnictl_call(ctx, "POST", &path, NULL, body);
}


static int
omnictl_cmd_revoke(omnictl_ctx_t *ctx)
{
    int             rc;
    json_t         *body, *jt;
    int64_t         t;
    const char     *kind;
    omnictl_str_t   path = { NULL, 0, 0, 0 };

    kind = ctx->argv[0];

    if (strcmp(kind, "jti") != 0 && strcmp(kind, "subject") != 0
        && strcmp(kind, "session") != 0)
    {
        return omnictl_usage_error("revoke jti, subject or session, not "
                                   "\"%s\"", kind);
    }

    if (ctx->argc == 3 && strcmp(kind, "session") == 0) {
        return omnictl_usage_error("revoke session takes no time");
    }

    /* without a time the admin API's defaults: a jti for good, now */
    t = 0;

    if (ctx->argc == 3) {
        rc = omnictl_time(ctx->argv[2], &t);
        if (rc != OMNICTL_EXIT_OK) {
            return rc;
        }
    }

    body = json_object();
    if (body == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    rc = omnictl_set(body, "kind", kind);

    if (rc == OMNICTL_EXIT_OK) {
        rc = omnictl_set(body, "value", ctx->argv[1]);
    }

    if (rc == OMNICTL_EXIT_OK && ctx->argc == 3) {
        jt = json_integer((json_int_t) t);

        if (jt == NULL
            || json_object_set_new(body, strcmp(kind, "jti") == 0
                                         ? "expires_at" : "before", jt) != 0)
        {
            fprintf(stderr, "omnictl: out of memory\n");
            rc = OMNICTL_EXIT_FAIL;
        }
    }

    if (rc != OMNICTL_EXIT_OK) {
        json_decref(body);
        return rc;
    }

    omnictl_path(&path, "revocations", NULL);

    return omnictl_call(ctx, "POST", &path, NULL, body);
}


static int
omnictl_cmd_unrevoke(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    if (strcmp(ctx->argv[0], "jti") != 0
        && strcmp(ctx->argv[0], "subject") != 0
        && strcmp(ctx->argv[0], "session") != 0)
    {
        return omnictl_usage_error("unrevoke jti, subject or session, not "
                                   "\"%s\"", ctx->argv[0]);
    }

    omnictl_path(&path, "revocations", ctx->argv[0], ctx->argv[1], NULL);

    return omnictl_call(ctx, "DELETE", &path, NULL, NULL);
}


/*
 * Text, one revocation a line ("kind value time"), kinds in the order
 * jti, session, subject: every page of GET /revocations.
 */

static int
omnictl_cmd_revocations(omnictl_ctx_t *ctx)
{
    int             rc, k;
    char            limit[32];
    char           *after;
    json_t         *answer, *next;
    omnictl_str_t   path, query;

    if (ctx->kind != NULL) {
        for (k = 0; omnictl_kinds[k] != NULL; k++) {
            if (strcmp(ctx->kind, omnictl_kinds[k]) == 0) {
                break;
            }
        }

        if (omnictl_kinds[k] == NULL) {
            return omnictl_usage_error("--kind jti, subject or session, not "
                                       "\"%s\"", ctx->kind);
        }
    }

    snprintf(limit, sizeof(limit), "%d", OMNI_ADMIN_LIMIT_MAX);

    for (k = 0; omnictl_kinds[k] != NULL; k++) {
        if (ctx->kind != NULL && strcmp(ctx->kind, omnictl_kinds[k]) != 0) {
            continue;
        }

        after = NULL;

        for ( ;; ) {
            memset(&path, 0, sizeof(path));
            memset(&query, 0, sizeof(query));

            omnictl_path(&path, "revocations", NULL);
            omnictl_param(&query, "kind", omnictl_kinds[k]);
            omnictl_param(&query, "after", after);
            omnictl_param(&query, "limit", limit);

            free(after);
            after = NULL;
            answer = NULL;

            rc = omnictl_request(ctx, "GET", &path, &query, NULL, &answer);
            if (rc != OMNICTL_EXIT_OK) {
                return rc;
            }

            next = NULL;
            rc = omnictl_revocations_page(answer, omnictl_kinds[k], &next);

            if (rc == OMNICTL_EXIT_OK && next != NULL) {
                after = strdup(json_string_value(next));
                if (after == NULL) {
                    fprintf(stderr, "omnictl: out of memory\n");
                    rc = OMNICTL_EXIT_FAIL;
                }
            }

            json_decref(answer);

            if (rc != OMNICTL_EXIT_OK) {
                return rc;
            }

            if (after == NULL) {
                break;
            }
        }
    }

    return OMNICTL_EXIT_OK;
}


/*
 * Prints the revocations of one page; *next is where the following page
 * starts, NULL after the last.  The answer's times are RFC 3339 (null: a
 * jti kept until removed); the lines have epoch seconds (0: none).
 */

static int
omnictl_revocations_page(json_t *answer, const char *kind, json_t **next)
{
    size_t   i;
    int64_t  secs;
    json_t  *items, *item, *value, *t;

    items = json_object_get(answer, "revocations");
    *next = json_object_get(answer, "next");

    if (!json_is_array(items) || !(json_is_string(*next)
                                   || json_is_null(*next)))
    {
        fprintf(stderr, "omnictl: the answer has no \"revocations\" or "
                "\"next\"\n");
        return OMNICTL_EXIT_FAIL;
    }

    if (json_is_null(*next)) {
        *next = NULL;
    }

    json_array_foreach(items, i, item) {
        value = json_object_get(item, "value");
        t = json_object_get(item, "time");
        secs = 0;

        if (!json_is_string(value)
            || !(json_is_null(t)
                 || (json_is_string(t)
                     && omnictl_rfc3339(json_string_value(t), &secs) == 0)))
        {
            fprintf(stderr, "omnictl: revocation %zu of the answer has no "
                    "\"value\" or no \"time\"\n", i);
            return OMNICTL_EXIT_FAIL;
        }

        if (printf("%s %s %lld\n", kind, json_string_value(value),
                   (long long) secs) < 0)
        {
            fprintf(stderr, "omnictl: writing the output: %s\n",
                    strerror(errno));
            return OMNICTL_EXIT_FAIL;
        }
    }

    return OMNICTL_EXIT_OK;
}


/* "YYYY-MM-DDTHH:MM:SSZ" as the admin API writes it, in epoch seconds */

static int
omnictl_rfc3339(const char *s, int64_t *t)
{
    int        n;
    time_t     secs;
    struct tm  tm;

    memset(&tm, 0, sizeof(tm));
    n = 0;

    if (strlen(s) != sizeof("1970-01-01T00:00:00Z") - 1
        || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6
        || n != (int) strlen(s))
    {
        return -1;
    }

    tm.tm_year -= 1900;
    tm.tm_mon -= 1;

    secs = timegm(&tm);
    if (secs == (time_t) -1) {
        return -1;
    }

    *t = (int64_t) secs;

    return 0;
}


/* policy */

static int
omnictl_cmd_policy_validate(omnictl_ctx_t *ctx)
{
    int             rc;
    char           *json;
    size_t          len;
    const char     *name;
    omni_policy_t  *p;

    name = ctx->argv[0];

    rc = omnictl_policy_read(name, &json, &len);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    p = omnictl_policy_compile(name, json, len);
    free(json);

    if (p == NULL) {
        return OMNICTL_EXIT_FAIL;
    }

    rc = OMNICTL_EXIT_OK;

    if (printf("%s: ok (%zu roles, %zu rules)\n", name, omni_policy_roles(p),
               omni_policy_rules(p))
        < 0)
    {
        fprintf(stderr, "omnictl: writing the output: %s\n",
                strerror(errno));
        rc = OMNICTL_EXIT_FAIL;
    }

    omni_policy_free(p);

    return rc;
}


/* the file as it is, so that the store keeps the author's text */

static int
omnictl_cmd_policy_load(omnictl_ctx_t *ctx)
{
    int             rc;
    char           *json;
    size_t          len;
    json_t         *answer;
    omnictl_str_t   path = { NULL, 0, 0, 0 };
    omnictl_str_t   query = { NULL, 0, 0, 0 };

    rc = omnictl_policy_read(ctx->argv[0], &json, &len);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    omnictl_path(&path, "policy", NULL);
    omnictl_param(&query, "note", ctx->note);

    answer = NULL;

    rc = omnictl_request_raw(ctx, "PUT", &path, &query, json, len, &answer);
    free(json);

    if (rc == OMNICTL_EXIT_OK) {
        rc = omnictl_print(answer);
    }

    json_decref(answer);

    return rc;
}


static int
omnictl_cmd_policy_show(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };

    if (ctx->argc == 0) {
        omnictl_path(&path, "policy", NULL);

    } else if (omnictl_number("revision", ctx->argv[0]) != 0) {
        return OMNICTL_EXIT_USAGE;

    } else {
        omnictl_path(&path, "policy", "revisions", ctx->argv[0], NULL);
    }

    return omnictl_call(ctx, "GET", &path, NULL, NULL);
}


static int
omnictl_cmd_policy_revisions(omnictl_ctx_t *ctx)
{
    omnictl_str_t  path = { NULL, 0, 0, 0 };
    omnictl_str_t  query = { NULL, 0, 0, 0 };

    if (ctx->before != NULL && omnictl_number("--before", ctx->before) != 0)
    {
        return OMNICTL_EXIT_USAGE;
    }

    omnictl_path(&path, "policy", "revisions", NULL);
    omnictl_param(&query, "before", ctx->before);
    omnictl_param(&query, "limit", ctx->limit);

    return omnictl_call(ctx, "GET", &path, &query, NULL);
}


static int
omnictl_cmd_policy_rollback(omnictl_ctx_t *ctx)
{
    json_t         *body;
    omnictl_str_t   path = { NULL, 0, 0, 0 };

    if (omnictl_number("revision", ctx->argv[0]) != 0) {
        return OMNICTL_EXIT_USAGE;
    }

    body = json_pack("{s:I}", "revision",
                     (json_int_t) strtoll(ctx->argv[0], NULL, 10));
    if (body == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    omnictl_path(&path, "policy", "rollback", NULL);

    return omnictl_call(ctx, "POST", &path, NULL, body);
}


static int
omnictl_cmd_policy_diff(omnictl_ctx_t *ctx)
{
    int            i;
    omnictl_str_t  path = { NULL, 0, 0, 0 };
    omnictl_str_t  query = { NULL, 0, 0, 0 };

    for (i = 0; i < ctx->argc; i++) {
        if (omnictl_number("revision", ctx->argv[i]) != 0) {
            return OMNICTL_EXIT_USAGE;
        }
    }

    omnictl_path(&path, "policy", "diff", NULL);
    omnictl_param(&query, "from", ctx->argv[0]);
    omnictl_param(&query, "to", ctx->argc == 2 ? ctx->argv[1] : NULL);

    return omnictl_call(ctx, "GET", &path, &query, NULL);
}


/*
 * One decision, explained, against --file or the store's current policy:
 * "allow  rule agent-orders  via vip_desk > agent" and exit 0, or
 * "deny  rule ..." and exit 3.
 */

static int
omnictl_cmd_policy_check(omnictl_ctx_t *ctx)
{
    int                     rc, n;
    char                   *json, *list, *p, err[OMNI_ERRLEN];
    char                    how[OMNI_POLICY_PATH_MAX];
    size_t                  len, nroles;
    const char             *roles[OMNICTL_ROLES_MAX], *name;
    omni_policy_t          *policy;
    omni_policy_request_t   req;
    omni_policy_decision_t  d;

    if (ctx->action == NULL || ctx->channel == NULL) {
        return omnictl_usage_error("policy check needs --action and "
                                   "--channel");
    }

    memset(&req, 0, sizeof(req));
    req.action = ctx->action;
    req.channel = ctx->channel;
    req.tier = ctx->tier;
    req.anonymous = (ctx->anonymous != NULL);

    if (ctx->session_age != NULL) {
        if (omnictl_number("--session-age", ctx->session_age) != 0) {
            return OMNICTL_EXIT_USAGE;
        }

        req.has_session = 1;
        req.session_age = (int64_t) strtoll(ctx->session_age, NULL, 10);
    }

    /* "a,b": empty names between commas are skipped */
    list = strdup(ctx->roles ? ctx->roles : "");
    if (list == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    nroles = 0;

    for (p = strtok(list, ","); p != NULL; p = strtok(NULL, ",")) {
        if (nroles == OMNICTL_ROLES_MAX) {
            free(list);
            return omnictl_usage_error("--roles names more than %d roles",
                                       OMNICTL_ROLES_MAX);
        }

        roles[nroles++] = p;
    }

    req.roles = roles;
    req.nroles = nroles;

    if (ctx->file != NULL) {
        name = ctx->file;
        rc = omnictl_policy_read(name, &json, &len);

    } else {
        name = "the store's policy";
        rc = omnictl_open(ctx);

        if (rc == OMNICTL_EXIT_OK
            && omni_store_policy_get(ctx->st, 0, &json, &len, NULL, err)
               != OMNI_STORE_OK)
        {
            fprintf(stderr, "omnictl: %s\n", err);
            rc = OMNICTL_EXIT_FAIL;
        }
    }

    if (rc != OMNICTL_EXIT_OK) {
        free(list);
        return rc;
    }

    policy = omnictl_policy_compile(name, json, len);
    free(json);

    if (policy == NULL) {
        free(list);
        return OMNICTL_EXIT_FAIL;
    }

    how[0] = '\0';
    omni_policy_explain(policy, &req, &d, how, sizeof(how));

    if (strcmp(d.rule, "default") == 0) {
        n = printf("%s  rule default (no rule matched)\n",
                   d.allow ? "allow" : "deny");

    } else if (how[0] != '\0') {
        n = printf("%s  rule %s  via %s\n", d.allow ? "allow" : "deny",
                   d.rule, how);

    } else {
        n = printf("%s  rule %s\n", d.allow ? "allow" : "deny", d.rule);
    }

    rc = d.allow ? OMNICTL_EXIT_OK : OMNICTL_EXIT_DENY;

    if (n < 0) {
        fprintf(stderr, "omnictl: writing the output: %s\n",
                strerror(errno));
        rc = OMNICTL_EXIT_FAIL;
    }

    omni_policy_free(policy);
    free(list);

    return rc;
}


/* a policy file (- is stdin) of at most OMNI_POLICY_SIZE_MAX bytes */

static int
omnictl_policy_read(const char *file, char **json, size_t *len)
{
    FILE    *in;
    char    *buf, *p;
    size_t   n, cap, size;

    *json = NULL;
    *len = 0;

    if (strcmp(file, "-") == 0) {
        in = stdin;

    } else {
        in = fopen(file, "r");
        if (in == NULL) {
            fprintf(stderr, "omnictl: \"%s\": %s\n", file, strerror(errno));
            return OMNICTL_EXIT_FAIL;
        }
    }

    buf = NULL;
    size = 0;
    cap = 0;

    for ( ;; ) {
        if (size == cap) {
            cap = cap ? cap * 2 : 65536;

            /* one byte past the maximum tells a file too large */
            if (cap > (size_t) OMNI_POLICY_SIZE_MAX + 1) {
                cap = (size_t) OMNI_POLICY_SIZE_MAX + 1;
            }

            p = realloc(buf, cap + 1);
            if (p == NULL) {
                fprintf(stderr, "omnictl: out of memory\n");
                goto failed;
            }

            buf = p;
        }

        n = fread(buf + size, 1, cap - size, in);
        size += n;

        if (n == 0 || size > (size_t) OMNI_POLICY_SIZE_MAX) {
            break;
        }
    }

    if (ferror(in)) {
        fprintf(stderr, "omnictl: reading \"%s\": %s\n", file,
                strerror(errno));
        goto failed;
    }

    if (size > (size_t) OMNI_POLICY_SIZE_MAX) {
        fprintf(stderr, "omnictl: \"%s\" is larger than %d bytes, the most "
                "a policy may have\n", file, OMNI_POLICY_SIZE_MAX);
        goto failed;
    }

    if (in != stdin) {
        fclose(in);
    }

    buf[size] = '\0';
    *json = buf;
    *len = size;

    return OMNICTL_EXIT_OK;

failed:

    if (in != stdin) {
        fclose(in);
    }

    free(buf);

    return OMNICTL_EXIT_FAIL;
}


/* NULL when it does not compile, its errors printed under its name */

static omni_policy_t *
omnictl_policy_compile(const char *name, const char *json, size_t len)
{
    int             end;
    char           *errors;
    size_t          n, more;
    const char     *p, *nl;
    omni_policy_t  *policy;

    errors = NULL;

    policy = omni_policy_compile(json, len, &errors);
    if (policy != NULL) {
        free(errors);
        return policy;
    }

    if (errors == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return NULL;
    }

    /* as the admin API counts them: see omni_admin_policy_invalid() */
    n = 0;

    for (p = errors; *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        end = 0;

        if (sscanf(p, "%zu more errors not listed%n", &more, &end) == 1
            && end > 0 && (p[end] == '\n' || p[end] == '\0'))
        {
            n += more;

        } else if (*p != '\n') {
            n++;
        }

        if (nl == NULL) {
            break;
        }
    }

    fprintf(stderr, "omnictl: %s: %zu error%s\n", name, n,
            n == 1 ? "" : "s");
    omnictl_errors(errors);
    free(errors);

    return NULL;
}


/* one error a line, indented, as the admin API's "errors" are printed */

static void
omnictl_errors(const char *errors)
{
    const char  *p, *nl;

    for (p = errors; *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');

        if (nl == NULL) {
            fprintf(stderr, "  %s\n", p);
            break;
        }

        if (nl > p) {
            fprintf(stderr, "  %.*s\n", (int) (nl - p), p);
        }
    }
}


/*
 * keys: the keyring file of omni_store_keyring.  No key is ever printed:
 * ids and version numbers only.
 */

static int
omnictl_cmd_keys_init(omnictl_ctx_t *ctx)
{
    int              fd;
    char             err[OMNI_ERRLEN], id[2 * OMNI_KEYRING_ID_LEN + 1];
    char             change[256];
    const char      *file;
    omni_keyring_t  *kr;

    file = ctx->argv[0];

    /* the name taken first: two inits racing cannot both win */
    fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd == -1) {
        fprintf(stderr, "omnictl: \"%s\": %s%s\n", file, strerror(errno),
                errno == EEXIST ? "; keys init never replaces a keyring"
                                : "");
        return OMNICTL_EXIT_FAIL;
    }

    close(fd);

    if (omni_keyring_generate(&kr, err) != 0
        || omni_keyring_save(kr, file, 0, err) != 0)
    {
        fprintf(stderr, "omnictl: %s\n", err);
        omni_keyring_free(kr);
        (void) unlink(file);
        return OMNICTL_EXIT_FAIL;
    }

    omni_keyring_id_hex(kr, id);
    omni_keyring_free(kr);

    snprintf(change, sizeof(change), "keyring %s created", id);
    omnictl_audit(ctx, change);

    return omnictl_answer(json_pack("{s:s, s:s, s:i, s:i}", "keyring", file,
                                    "id", id, "kek", 1, "index", 1));
}


/* the keyring, and with a store whether it fits, without writing to it */

static int
omnictl_cmd_keys_status(omnictl_ctx_t *ctx)
{
    int              rc, recorded, fit;
    char             err[OMNI_ERRLEN], id[2 * OMNI_KEYRING_ID_LEN + 1];
    json_t          *json, *store;
    omni_keyring_t  *kr;

    if (ctx->keyring_file == NULL) {
        return omnictl_usage_error("keys status needs a keyring: give "
                                   "--keyring FILE or set OMNI_KEYRING");
    }

    rc = omnictl_keyring(ctx);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    kr = ctx->keyring;
    omni_keyring_id_hex(kr, id);

    store = NULL;
    fit = OMNI_STORE_OK;

    if (ctx->dir != NULL) {
        fit = omni_store_keyring_probe(ctx->dir, kr->id, &recorded, err);

        store = (fit == OMNI_STORE_OK)
                ? json_pack("{s:s, s:b, s:b}", "dir", ctx->dir, "fits", 1,
                            "recorded", recorded)
                : json_pack("{s:s, s:b, s:s}", "dir", ctx->dir, "fits", 0,
                            "problem", err);
    }

    json = json_pack("{s:s, s:s, s:{s:o, s:I}, s:{s:o, s:I}}",
                     "keyring", ctx->keyring_file, "id", id,
                     "kek", "versions",
                     omnictl_keys_versions(kr->kek, kr->nkek),
                     "newest", (json_int_t) omni_keyring_kek(kr)->version,
                     "index", "versions",
                     omnictl_keys_versions(kr->index, kr->nindex),
                     "newest", (json_int_t) omni_keyring_index(kr)->version);

    /* takes store, or frees it when json or store is NULL */
    if (ctx->dir != NULL && json_object_set_new(json, "store", store) != 0) {
        json_decref(json);
        json = NULL;
    }

    rc = omnictl_answer(json);

    if (rc == OMNICTL_EXIT_OK && fit != OMNI_STORE_OK) {
        fprintf(stderr, "omnictl: %s\n", err);
        return OMNICTL_EXIT_FAIL;
    }

    return rc;
}


/*
 * A new version, which nginx uses from its next reload.  Nothing is
 * sealed yet (issue 13), so there are no data keys to re-wrap and no
 * indexes to rebuild; the note says so.
 */

static int
omnictl_cmd_keys_rotate(omnictl_ctx_t *ctx)
{
    int              rc, kek;
    char             err[OMNI_ERRLEN], id[2 * OMNI_KEYRING_ID_LEN + 1];
    char             change[256];
    uint32_t         version;
    struct stat      sb, now;
    omni_keyring_t  *kr;

    if ((ctx->kek == NULL) == (ctx->index == NULL)) {
        return omnictl_usage_error("keys rotate needs --kek or --index");
    }

    if (ctx->keyring_file == NULL) {
        return omnictl_usage_error("keys rotate needs a keyring: give "
                                   "--keyring FILE or set OMNI_KEYRING");
    }

    rc = omnictl_keyring(ctx);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    /* loaded: a regular file, not a link */
    if (stat(ctx->keyring_file, &sb) != 0) {
        fprintf(stderr, "omnictl: \"%s\": %s\n", ctx->keyring_file,
                strerror(errno));
        return OMNICTL_EXIT_FAIL;
    }

    kr = ctx->keyring;
    kek = (ctx->kek != NULL);

    rc = kek ? omni_keyring_add_kek(kr, err) : omni_keyring_add_index(kr, err);

    if (rc != 0
        || omni_keyring_save(kr, ctx->keyring_file, (sb.st_mode & S_IRGRP) != 0,
                             err)
           != 0)
    {
        fprintf(stderr, "omnictl: %s\n", err);
        return OMNICTL_EXIT_FAIL;
    }

    /* the new file is the writer's: give it back its owner and group */
    if (stat(ctx->keyring_file, &now) == 0
        && (now.st_uid != sb.st_uid || now.st_gid != sb.st_gid)
        && chown(ctx->keyring_file, sb.st_uid, sb.st_gid) != 0)
    {
        fprintf(stderr, "omnictl: warning: \"%s\" now belongs to uid %lu "
                "gid %lu, not %lu %lu as before: %s\n", ctx->keyring_file,
                (unsigned long) now.st_uid, (unsigned long) now.st_gid,
                (unsigned long) sb.st_uid, (unsigned long) sb.st_gid,
                strerror(errno));
    }

    omni_keyring_id_hex(kr, id);
    version = kek ? omni_keyring_kek(kr)->version
                  : omni_keyring_index(kr)->version;

    snprintf(change, sizeof(change), "keyring %s: %s version %lu added", id,
             kek ? "kek" : "index", (unsigned long) version);
    omnictl_audit(ctx, change);

    return omnictl_answer(json_pack(
               "{s:s, s:s, s:s, s:I, s:s}", "keyring", ctx->keyring_file,
               "id", id, "rotated", kek ? "kek" : "index",
               "version", (json_int_t) version, "note", kek
               ? "new data keys will be wrapped with this version once "
                 "nginx reloads; re-wrapping the existing ones comes with "
                 "sealing (not yet: nothing is sealed)"
               : "new blind indexes will use this version once nginx "
                 "reloads; rebuilding the existing ones comes with sealing "
                 "(not yet: nothing is indexed)"));
}


static json_t *
omnictl_keys_versions(const omni_keyring_key_t *keys, size_t n)
{
    size_t   i;
    json_t  *list;

    list = json_array();

    for (i = 0; list != NULL && i < n; i++) {
        if (json_array_append_new(list, json_integer(keys[i].version)) != 0) {
            json_decref(list);
            list = NULL;
        }
    }

    return list;
}


/* export: a header line, then one line per record, meta first */

static int
omnictl_cmd_export(omnictl_ctx_t *ctx)
{
    int          rc, fd;
    FILE        *out;
    char        *tmp;
    size_t       n, len;
    const char  *file;

    rc = omnictl_open(ctx);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    file = (ctx->argc == 1 && strcmp(ctx->argv[0], "-") != 0)
           ? ctx->argv[0] : NULL;

    if (file == NULL) {
        return omnictl_export_to(ctx, stdout, &n);
    }

    /* a complete file or none: written aside, then renamed over FILE */

    len = strlen(file);

    tmp = malloc(len + sizeof(".XXXXXX"));
    if (tmp == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    memcpy(tmp, file, len);
    memcpy(tmp + len, ".XXXXXX", sizeof(".XXXXXX"));

    fd = mkstemp(tmp);
    if (fd == -1) {
        fprintf(stderr, "omnictl: creating \"%s\": %s\n", tmp,
                strerror(errno));
        free(tmp);
        return OMNICTL_EXIT_FAIL;
    }

    out = fdopen(fd, "w");
    if (out == NULL) {
        fprintf(stderr, "omnictl: \"%s\": %s\n", tmp, strerror(errno));
        close(fd);
        rc = OMNICTL_EXIT_FAIL;
        goto failed;
    }

    rc = omnictl_export_to(ctx, out, &n);

    if (rc == OMNICTL_EXIT_OK
        && (fflush(out) != 0 || fsync(fileno(out)) != 0))
    {
        fprintf(stderr, "omnictl: writing \"%s\": %s\n", tmp,
                strerror(errno));
        rc = OMNICTL_EXIT_FAIL;
    }

    if (fclose(out) != 0 && rc == OMNICTL_EXIT_OK) {
        fprintf(stderr, "omnictl: writing \"%s\": %s\n", tmp,
                strerror(errno));
        rc = OMNICTL_EXIT_FAIL;
    }

    if (rc == OMNICTL_EXIT_OK && rename(tmp, file) != 0) {
        fprintf(stderr, "omnictl: renaming \"%s\" to \"%s\": %s\n", tmp,
                file, strerror(errno));
        rc = OMNICTL_EXIT_FAIL;
    }

failed:

    if (rc != OMNICTL_EXIT_OK) {
        (void) unlink(tmp);
        free(tmp);
        return rc;
    }

    free(tmp);

    return omnictl_answer(json_pack("{s:I}", "exported", (json_int_t) n));
}


static int
omnictl_export_to(omnictl_ctx_t *ctx, FILE *out, size_t *n)
{
    int               rc;
    char              err[OMNI_ERRLEN], when[32];
    time_t            now;
    struct tm         tm;
    omnictl_export_t  ex;

    now = (time_t) ctx->now;

    if (gmtime_r(&now, &tm) == NULL
        || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    {
        fprintf(stderr, "omnictl: the time %lld has no date\n",
                (long long) ctx->now);
        return OMNICTL_EXIT_FAIL;
    }

    if (fprintf(out, "{\"omni_store_export\":%d,\"format\":%d,"
                "\"exported_at\":\"%s\"}\n", OMNI_EXPORT_VERSION,
                OMNI_STORE_FORMAT, when) < 0)
    {
        fprintf(stderr, "omnictl: writing the export: %s\n",
                strerror(errno));
        return OMNICTL_EXIT_FAIL;
    }

    memset(&ex, 0, sizeof(ex));
    ex.out = out;

    ex.line = malloc(OMNICTL_LINE_MAX + 1);
    if (ex.line == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    rc = omni_store_export(ctx->st, omnictl_export_record, &ex, err);

    free(ex.line);

    if (rc == OMNI_STORE_OK && fflush(out) != 0) {
        ex.error = errno;
        rc = OMNI_STORE_ERROR;
    }

    if (rc != OMNI_STORE_OK) {
        if (ex.error) {
            fprintf(stderr, "omnictl: writing the export: %s\n",
                    strerror(ex.error));

        } else if (ex.too_long) {
            fprintf(stderr, "omnictl: record %zu of the export (in %s) "
                    "passes %d bytes as a line\n", ex.n + 1,
                    omni_store_db_name(ex.too_long - 1), OMNICTL_LINE_MAX);

        } else {
            fprintf(stderr, "omnictl: %s\n", err);
        }

        return OMNICTL_EXIT_FAIL;
    }

    *n = ex.n;

    return OMNICTL_EXIT_OK;
}


static int
omnictl_export_record(void *data, const omni_store_record_t *rec)
{
    char              *p;
    size_t             len;
    const char        *db;
    omnictl_export_t  *ex;

    ex = data;
    db = omni_store_db_name(rec->db);

    len = sizeof("{\"db\":\"\",\"key\":\"\",\"value\":\"\"}\n") - 1
          + strlen(db)
          + omni_base64_encoded_len(rec->key_len)
          + omni_base64_encoded_len(rec->val_len);

    if (len > OMNICTL_LINE_MAX) {
        ex->too_long = rec->db + 1;
        return 1;
    }

    p = ex->line;
    p += sprintf(p, "{\"db\":\"%s\",\"key\":\"", db);
    p += omni_base64_encode(p, rec->key, rec->key_len);
    p += sprintf(p, "\",\"value\":\"");
    p += omni_base64_encode(p, rec->val, rec->val_len);
    p += sprintf(p, "\"}\n");

    if (fwrite(ex->line, 1, (size_t) (p - ex->line), ex->out)
        != (size_t) (p - ex->line))
    {
        ex->error = errno ? errno : EIO;
        return 1;
    }

    ex->n++;

    return 0;
}


/*
 * import: every line is checked first, then written in batches, so a
 * malformed file writes nothing.  A pipe is copied to a temporary file
 * to be read twice.
 */

static int
omnictl_cmd_import(omnictl_ctx_t *ctx)
{
    int                rc;
    FILE              *in, *spool;
    char               err[OMNI_ERRLEN], buf[65536];
    off_t              start;
    size_t             i, n, records;
    omnictl_import_t  *im;
    omni_store_stats_t stats;

    in = NULL;
    spool = NULL;
    im = NULL;
    rc = OMNICTL_EXIT_FAIL;

    if (strcmp(ctx->argv[0], "-") == 0) {
        in = stdin;

    } else {
        in = fopen(ctx->argv[0], "r");
        if (in == NULL) {
            fprintf(stderr, "omnictl: \"%s\": %s\n", ctx->argv[0],
                    strerror(errno));
            return OMNICTL_EXIT_FAIL;
        }
    }

    start = ftello(in);

    if (start == -1) {
        spool = tmpfile();
        if (spool == NULL) {
            fprintf(stderr, "omnictl: a temporary file for stdin: %s\n",
                    strerror(errno));
            goto done;
        }

        while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
            if (fwrite(buf, 1, n, spool) != n) {
                fprintf(stderr, "omnictl: copying stdin: %s\n",
                        strerror(errno));
                goto done;
            }
        }

        if (ferror(in) || fflush(spool) != 0) {
            fprintf(stderr, "omnictl: reading stdin: %s\n", strerror(errno));
            goto done;
        }

        start = 0;
    }

    im = calloc(1, sizeof(omnictl_import_t));
    if (im != NULL) {
        im->line = malloc(OMNICTL_LINE_MAX + 2);
    }

    if (im == NULL || im->line == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        goto done;
    }

    im->name = (in == stdin) ? "stdin" : ctx->argv[0];

    /* the check */

    if (fseeko(spool ? spool : in, start, SEEK_SET) != 0) {
        fprintf(stderr, "omnictl: \"%s\": %s\n", im->name, strerror(errno));
        goto done;
    }

    rc = omnictl_import_pass(im, spool ? spool : in);
    if (rc != OMNICTL_EXIT_OK) {
        goto done;
    }

    records = im->n;

    /* the writes */

    rc = omnictl_open(ctx);
    if (rc != OMNICTL_EXIT_OK) {
        goto done;
    }

    rc = OMNICTL_EXIT_FAIL;

    if (omni_store_stats(ctx->st, &stats, err) != OMNI_STORE_OK) {
        fprintf(stderr, "omnictl: %s\n", err);
        goto done;
    }

    for (i = 0; i < OMNI_STORE_DB_COUNT; i++) {
        if (i != OMNI_STORE_DB_META && stats.entries[i] != 0) {
            fprintf(stderr, "omnictl: warning: the store in %s is not "
                    "empty; imported records replace those with the same "
                    "keys, the others stay\n", ctx->dir);
            break;
        }
    }

    if (fseeko(spool ? spool : in, start, SEEK_SET) != 0) {
        fprintf(stderr, "omnictl: \"%s\": %s\n", im->name, strerror(errno));
        goto done;
    }

    im->st = ctx->st;
    im->lineno = 0;
    im->n = 0;

    rc = omnictl_import_pass(im, spool ? spool : in);
    if (rc != OMNICTL_EXIT_OK) {
        goto done;
    }

    if (im->n != records) {
        fprintf(stderr, "omnictl: \"%s\" changed while importing it\n",
                im->name);
        rc = OMNICTL_EXIT_FAIL;
        goto done;
    }

    rc = omnictl_answer(json_pack("{s:I}", "imported", (json_int_t) im->n));

done:

    if (im != NULL) {
        omnictl_import_clear(im);
        free(im->line);
        free(im);
    }

    if (spool != NULL) {
        fclose(spool);
    }

    if (in != NULL && in != stdin) {
        fclose(in);
    }

    return rc;
}


/* reads every line: checks them, and writes them when im->st is set */

static int
omnictl_import_pass(omnictl_import_t *im, FILE *in)
{
    int     rc, newline;
    size_t  len;

    for ( ;; ) {
        rc = omnictl_getline(in, im->line, OMNICTL_LINE_MAX, &len, &newline);

        if (rc == 0) {
            break;
        }

        im->lineno++;

        if (rc == -1) {
            fprintf(stderr, "omnictl: %s line %zu: longer than %d bytes\n",
                    im->name, im->lineno, OMNICTL_LINE_MAX);
            return OMNICTL_EXIT_FAIL;
        }

        if (rc == -2) {
            fprintf(stderr, "omnictl: reading %s: %s\n", im->name,
                    strerror(errno));
            return OMNICTL_EXIT_FAIL;
        }

        if (!newline) {
            fprintf(stderr, "omnictl: %s line %zu: no newline at its end, "
                    "the file is cut short\n", im->name, im->lineno);
            return OMNICTL_EXIT_FAIL;
        }

        if (len == 0) {
            fprintf(stderr, "omnictl: %s line %zu: empty\n", im->name,
                    im->lineno);
            return OMNICTL_EXIT_FAIL;
        }

        rc = (im->lineno == 1) ? omnictl_import_header(im, len)
                               : omnictl_import_line(im, len);
        if (rc != OMNICTL_EXIT_OK) {
            return rc;
        }
    }

    if (im->lineno == 0) {
        fprintf(stderr, "omnictl: %s is empty, not an export\n", im->name);
        return OMNICTL_EXIT_FAIL;
    }

    return omnictl_import_flush(im);
}


static int
omnictl_import_header(omnictl_import_t *im, size_t len)
{
    char  err[OMNI_ERRLEN];

    if (omni_export_header(im->line, len, err) != 0) {
        fprintf(stderr, "omnictl: %s line 1: %s\n", im->name, err);
        return OMNICTL_EXIT_FAIL;
    }

    return OMNICTL_EXIT_OK;
}


static int
omnictl_import_line(omnictl_import_t *im, size_t len)
{
    char                  err[OMNI_ERRLEN];
    omni_store_record_t   rec;

    if (omni_export_record(im->line, len, &rec, err) != 0) {
        fprintf(stderr, "omnictl: %s line %zu: %s\n", im->name, im->lineno,
                err);
        return OMNICTL_EXIT_FAIL;
    }

    im->n++;

    if (im->st == NULL) {
        free((void *) rec.key);
        return OMNICTL_EXIT_OK;
    }

    if (im->nrecs == 0) {
        im->first = im->lineno;
    }

    im->recs[im->nrecs++] = rec;
    im->bytes += rec.key_len + rec.val_len;

    if (im->nrecs == OMNICTL_BATCH || im->bytes >= OMNICTL_BATCH_BYTES) {
        return omnictl_import_flush(im);
    }

    return OMNICTL_EXIT_OK;
}


static int
omnictl_import_flush(omnictl_import_t *im)
{
    int   rc;
    char  err[OMNI_ERRLEN];

    if (im->st == NULL || im->nrecs == 0) {
        return OMNICTL_EXIT_OK;
    }

    rc = omni_store_import(im->st, im->recs, im->nrecs, err);

    if (rc != OMNI_STORE_OK) {
        fprintf(stderr, "omnictl: %s lines %zu to %zu: %s; the lines before "
                "%zu are imported\n", im->name, im->first,
                im->first + im->nrecs - 1, err, im->first);
    }

    omnictl_import_clear(im);

    return (rc == OMNI_STORE_OK) ? OMNICTL_EXIT_OK : OMNICTL_EXIT_FAIL;
}


static void
omnictl_import_clear(omnictl_import_t *im)
{
    size_t  i;

    for (i = 0; i < im->nrecs; i++) {
        free((void *) im->recs[i].key);
    }

    im->nrecs = 0;
    im->bytes = 0;
}


/*
 * One line into buf (at most max bytes, without the newline).  Returns 1,
 * 0 at the end of the input, -1 for a longer line, -2 on a read error.
 */

static int
omnictl_getline(FILE *in, char *buf, size_t max, size_t *len, int *newline)
{
    int     c;
    size_t  n;

    n = 0;
    *newline = 0;

    while ((c = getc_unlocked(in)) != EOF) {
        if (c == '\n') {
            *newline = 1;
            break;
        }

        if (n == max) {
            return -1;
        }

        buf[n++] = (char) c;
    }

    if (c == EOF && ferror(in)) {
        return -2;
    }

    if (c == EOF && n == 0) {
        return 0;
    }

    buf[n] = '\0';
    *len = n;

    return 1;
}
