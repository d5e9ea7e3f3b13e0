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


#include "omnictl.h"


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

static int omnictl_usage(FILE *out);
static const omnictl_command_t *omnictl_command(const char *group,
    const char *name);
static void omnictl_actor(omnictl_ctx_t *ctx);
static int omnictl_args(omnictl_ctx_t *ctx, const omnictl_command_t *cmd,
    int argc, char **argv);
static void omnictl_str_add(omnictl_str_t *s, const char *p, size_t len);
static void omnictl_str_encode(omnictl_str_t *s, const char *p);
static int omnictl_cmd_help(omnictl_ctx_t *ctx);


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
    { "customers erase", 1, 1, 0, 1, omnictl_cmd_customers_erase },
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

    /* the workflow file, without a store; its revisions in the store */
    { "dispatch validate", 1, 1, 0, 0, omnictl_cmd_dispatch_validate },
    { "dispatch simulate", 1, 2, OMNICTL_OPT_ACTION|OMNICTL_OPT_CHANNEL
      |OMNICTL_OPT_TIER|OMNICTL_OPT_ANON|OMNICTL_OPT_OPEN_CASE, 0,
      omnictl_cmd_dispatch_simulate },
    { "dispatch load", 1, 1, OMNICTL_OPT_NOTE, 1, omnictl_cmd_dispatch_load },
    { "dispatch show", 0, 1, 0, 1, omnictl_cmd_dispatch_show },
    { "dispatch revisions", 0, 0, OMNICTL_OPT_BEFORE|OMNICTL_OPT_LIMIT, 1,
      omnictl_cmd_dispatch_revisions },
    { "dispatch rollback", 1, 1, 0, 1, omnictl_cmd_dispatch_rollback },
    { "dispatch diff", 1, 2, 0, 1, omnictl_cmd_dispatch_diff },
    { "dispatch capacity", 0, 2, OMNICTL_OPT_CHANNEL, 1,
      omnictl_cmd_dispatch_capacity },

    /* the keyring file; status reads the store only when one is given */
    { "keys init", 1, 1, 0, 0, omnictl_cmd_keys_init },
    { "keys status", 0, 0, 0, 0, omnictl_cmd_keys_status },
    { "keys rotate", 0, 0, OMNICTL_OPT_KEK|OMNICTL_OPT_INDEX, 0,
      omnictl_cmd_keys_rotate },
    { "keys rewrap", 0, 0, 0, 1, omnictl_cmd_keys_rewrap },
    { "keys reindex", 0, 0, 0, 1, omnictl_cmd_keys_reindex },
    { "keys retire", 2, 2, 0, 1, omnictl_cmd_keys_retire },

    /* the node's part in a cluster (docs/cluster.md) */
    { "cluster status", 0, 0, 0, 1, omnictl_cmd_cluster_status },

    { "cases open", 3, 3,
      OMNICTL_OPT_PRIORITY|OMNICTL_OPT_CHANNEL|OMNICTL_OPT_SLA, 1,
      omnictl_cmd_cases_open },
    { "cases show", 1, 1, 0, 1, omnictl_cmd_cases_show },
    { "cases list", 1, 1,
      OMNICTL_OPT_AFTER|OMNICTL_OPT_LIMIT|OMNICTL_OPT_STATUS, 1,
      omnictl_cmd_cases_list },
    { "cases by-status", 1, 1, OMNICTL_OPT_AFTER|OMNICTL_OPT_LIMIT, 1,
      omnictl_cmd_cases_by_status },
    { "cases status", 2, 2, 0, 1, omnictl_cmd_cases_status },
    { "cases note", 2, 2, OMNICTL_OPT_KIND|OMNICTL_OPT_SLA, 1,
      omnictl_cmd_cases_note },
    { "cases assign", 1, 2, OMNICTL_OPT_POOL, 1, omnictl_cmd_cases_assign },

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
    { "--open-case", OMNICTL_OPT_OPEN_CASE,
      offsetof(omnictl_ctx_t, open_case), 1 },
    { "--session-age", OMNICTL_OPT_AGE,
      offsetof(omnictl_ctx_t, session_age), 0 },
    { "--file", OMNICTL_OPT_FILE, offsetof(omnictl_ctx_t, file), 0 },
    { "--kek", OMNICTL_OPT_KEK, offsetof(omnictl_ctx_t, kek), 1 },
    { "--index", OMNICTL_OPT_INDEX, offsetof(omnictl_ctx_t, index), 1 },
    { "--status", OMNICTL_OPT_STATUS, offsetof(omnictl_ctx_t, status), 0 },
    { "--priority", OMNICTL_OPT_PRIORITY, offsetof(omnictl_ctx_t, priority),
      0 },
    { "--pool", OMNICTL_OPT_POOL, offsetof(omnictl_ctx_t, pool), 0 },
    { "--sla", OMNICTL_OPT_SLA, offsetof(omnictl_ctx_t, sla_file), 0 },
    { NULL, 0, 0, 0 }
};


/* the commands that take a second word, and what it may be */
static const char  *omnictl_groups[][2] = {
    { "policy", "validate, load, show, revisions, rollback, diff or check" },
    { "keys", "init, status, rotate, rewrap, reindex or retire" },
    { "customers", "erase" },
    { "dispatch", "validate, simulate, load, show, revisions, rollback, "
      "diff or capacity" },
    { "cluster", "status" },
    { "cases", "open, show, list, by-status, status, note or assign" },
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
    omni_case_sla_free(ctx.sla);

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
"  customers erase ID                     crypto-erasure: the customer's data\n"
"                                         key and every record of it (and of\n"
"                                         the customers merged into it), for\n"
"                                         good; audited\n"
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
"  dispatch validate FILE                 compile a workflow file and say\n"
"                                         \"ok\" or every error\n"
"  dispatch simulate FILE [STATE] --channel CHANNEL [--action ACTION]\n"
"               [--tier T] [--anonymous]  where the workflow sends one\n"
"               [--open-case]             request, sending nothing; STATE:\n"
"                                         POOL=N,...,intent=I@CONFIDENCE,\n"
"                                         affinity=POOL (N in flight)\n"
"  dispatch load FILE [--note TEXT]       store FILE as the next workflow\n"
"                                         revision and make it current\n"
"  dispatch show [N]                      the current workflow or revision N\n"
"  dispatch revisions [--before N] [--limit N]\n"
"                                         a page of workflow revisions\n"
"  dispatch rollback N                    a new revision with N's workflow\n"
"  dispatch diff A [B]                    what changed from workflow\n"
"                                         revision A to B (default: the\n"
"                                         current one)\n"
"  dispatch capacity [POOL N|workflow] [--channel CHANNEL]\n"
"                                         the capacities set live, or set\n"
"                                         POOL's (on CHANNEL) for every\n"
"                                         worker, kept across restarts\n"
"  keys init FILE                         a new keyring in FILE (mode 0600;\n"
"                                         an existing FILE is never replaced)\n"
"  keys status                            the keyring's id and versions, and\n"
"                                         whether it fits the store in DIR,\n"
"                                         with the data keys each KEK wraps\n"
"  keys rotate --kek | --index            add a version of the KEKs or of\n"
"                                         the index keys\n"
"  keys rewrap                            after keys rotate --kek and a\n"
"                                         reload of nginx: re-wrap every data\n"
"                                         key of the store in DIR with the\n"
"                                         newest KEK (resumable)\n"
"  keys reindex                           after keys rotate --index and a\n"
"                                         reload of nginx: rebuild the\n"
"                                         identity map of the store in DIR\n"
"                                         under the newest index key, both\n"
"                                         readable meanwhile (resumable)\n"
"  keys retire kek|index VERSION          drop an old version from the\n"
"                                         keyring once the store in DIR no\n"
"                                         longer uses it\n"
"  cluster status                         the change log's cursors and\n"
"                                         omni-sync's state (cluster.md)\n"
"  cases open CUSTOMER CATEGORY SUBJECT [--priority P] [--channel C]\n"
"             [--sla FILE]                open a case, due times from the\n"
"                                         SLA table FILE ($OMNI_CASE_SLA)\n"
"  cases show ID                          a case and its events\n"
"  cases list CUSTOMER [--status open] [--after ID] [--limit N]\n"
"                                         a customer's cases, open first\n"
"  cases by-status STATUS [--after ID] [--limit N]\n"
"                                         the cases of one status\n"
"  cases status ID STATUS                 move a case (new, open, pending,\n"
"                                         on_hold, resolved, closed)\n"
"  cases note ID TEXT [--kind note|internal|reply] [--sla FILE]\n"
"                                         add a note (a reply to a closed\n"
"                                         case opens a follow-up)\n"
"  cases assign ID [ASSIGNEE] [--pool POOL]\n"
"                                         assign (\"\" clears)\n"
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


int
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


int
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

    rc = ctx->keyring ? omni_store_use_keyring(ctx->st, ctx->keyring, err)
                      : omni_store_keyring_check(ctx->st, NULL, err);
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

int
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


int
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

int
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

void
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

void
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


int
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

int
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

int
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
    req.sla = ctx->sla;

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
void
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

int
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


int
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

int
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
