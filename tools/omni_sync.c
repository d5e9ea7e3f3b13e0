/*
 * Copyright (C) The omni gateway authors
 *
 * omni-sync: one per gateway node, next to nginx and never inside it (the
 * NATS client starts threads).  It bridges the node's LMDB store and a
 * NATS JetStream stream (docs/cluster.md):
 *
 *   - publishes the store's change log (omni_store.h, "The change log")
 *     in order, each change with the message id <node>:<seq>, so that
 *     JetStream drops the copy a restart after a crash publishes again;
 *     the last published sequence is recorded in the store;
 *   - consumes the stream with a durable pull consumer of its own
 *     (omni-<node>), applies the other nodes' changes and acks them, the
 *     applied stream sequence recorded in the same transaction as the
 *     change;
 *   - applies a stream made again under the same name from its start
 *     (the store records which stream its cursor counts in);
 *   - resumes from both cursors after a restart, keeps running while NATS
 *     is away (the client reconnects; the loop retries with a backoff),
 *     and writes its state to <store>/omni-sync.status every second for
 *     omnictl cluster status.
 *
 * The request path never waits on any of it: nginx reads its own LMDB.
 * This file holds main, the command line, the connection, the stream's
 * and consumer's set-up, the loop and the state file; the publishing
 * and the consuming sides have their own (tools/omni_sync.h).
 */


#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "omni_sync.h"


static volatile sig_atomic_t  omni_sync_stop;


static void omni_sync_signal(int sig);
static int omni_sync_args(omni_sync_t *s, int argc, char **argv);
static int omni_sync_options(omni_sync_t *s);
static int omni_sync_connect(omni_sync_t *s);
static void omni_sync_reconnected(natsConnection *nc, void *data);
static int omni_sync_secret(const char *path, char *buf, size_t size);
static int omni_sync_setup(omni_sync_t *s);
static int omni_sync_step(omni_sync_t *s, const char *what,
    int (*step)(omni_sync_t *s));
static int omni_sync_stream_check(omni_sync_t *s, const jsStreamInfo *si,
    omni_store_changes_state_t *state);
static void omni_sync_time(char *buf, size_t size, int64_t ns);
static int omni_sync_usage(FILE *out);
static void omni_sync_log_text(void *data, const char *text);


int
main(int argc, char **argv)
{
    int           rc;
    char          err[OMNI_ERRLEN];
    omni_sync_t   s;

    memset(&s, 0, sizeof(omni_sync_t));
    s.backoff_ms = OMNI_SYNC_BACKOFF_MIN;
    s.resync_wait = OMNI_SYNC_RESYNC_WAIT;
    s.journey_max = OMNI_SYNC_JOURNEY_MAX;
    s.journey_age = OMNI_SYNC_JOURNEY_AGE;

    rc = omni_sync_args(&s, argc, argv);
    if (rc >= 0) {
        return rc;
    }

    if (s.stream == NULL) {
        s.stream = "OMNI";
    }

    if (s.dir == NULL) {
        fprintf(stderr, "omni-sync: no store: --store DIR\n");
        return 2;
    }

    if (s.node == NULL || s.url == NULL) {
        fprintf(stderr, "omni-sync: --node ID and --nats URL are needed\n");
        return 2;
    }

    if (!omni_store_id_valid(s.node, strnlen(s.node, OMNI_STORE_ID_MAX + 1),
                             OMNI_STORE_ID_MAX)
        || !omni_store_id_valid(s.stream,
                                strnlen(s.stream, OMNI_STORE_ID_MAX + 1),
                                OMNI_STORE_ID_MAX))
    {
        fprintf(stderr, "omni-sync: a node id and a stream name are "
                "[A-Za-z0-9_-]{1,%d}\n", OMNI_STORE_ID_MAX);
        return 2;
    }

    if ((s.tls_cert == NULL) != (s.tls_key == NULL)) {
        fprintf(stderr, "omni-sync: --tls-cert and --tls-key go together\n");
        return 2;
    }

    if ((s.user == NULL) != (s.password_file == NULL)) {
        fprintf(stderr, "omni-sync: --user and --password-file go "
                "together\n");
        return 2;
    }

    if (s.case_digit != NULL
        && (s.case_digit[0] < '0' || s.case_digit[0] > '9'
            || s.case_digit[1] != '\0'))
    {
        fprintf(stderr, "omni-sync: --case-digit wants a digit, not \"%s\"\n",
                s.case_digit);
        return 2;
    }

    /* one way to authenticate: which one was meant cannot be told */
    if ((s.user != NULL) + (s.token_file != NULL) + (s.creds != NULL) > 1) {
        fprintf(stderr, "omni-sync: --user, --token-file and --creds "
                "exclude each other\n");
        return 2;
    }

    snprintf(s.subject, sizeof(s.subject), "%s.%s", OMNI_SYNC_SUBJECT,
             s.node);
    snprintf(s.durable, sizeof(s.durable), "omni-%s", s.node);
    snprintf(s.resync_stream, sizeof(s.resync_stream), "%s_RESYNC",
             s.stream);
    snprintf(s.journey.stream, sizeof(s.journey.stream), "%s_J", s.stream);
    snprintf(s.journey.durable, sizeof(s.journey.durable), "omni-%s-j",
             s.node);
    s.journey.node = s.node;
    s.journey.max_per_customer = s.journey_max;
    s.journey.max_age = s.journey_age;
    s.journey.log = omni_sync_log_text;
    s.journey.log_data = &s;

    s.st = omni_store_open(s.dir, OMNI_SYNC_MAP_MAX, OMNI_STORE_SYNC_FULL,
                           err);
    if (s.st == NULL) {
        fprintf(stderr, "omni-sync: %s\n", err);
        return 1;
    }

    /*
     * A sealed store's identity changes open with its keyring only; a
     * plain store is left plain (omnictl seals one, with nginx stopped
     * or given the keyring too).
     */
    rc = OMNI_STORE_OK;

    if (s.keyring != NULL && !omni_store_is_sealed(s.st)) {
        snprintf(err, OMNI_ERRLEN, "the store at %s is not sealed: "
                 "--keyring is for a sealed store", s.dir);
        rc = OMNI_STORE_INVALID;

    } else if (s.keyring != NULL) {
        rc = (omni_keyring_load(s.keyring, &s.kr, err) == 0)
             ? omni_store_use_keyring(s.st, s.kr, err) : OMNI_STORE_ERROR;
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_changes_node(s.st, s.node, err);
    }

    if (rc == OMNI_STORE_OK && s.log_max > 0) {
        rc = omni_store_changes_limit(s.st, s.log_max, err);
    }

    if (rc == OMNI_STORE_OK && s.case_digit != NULL) {
        rc = omni_store_case_digit(s.st, s.case_digit[0] - '0', err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_journeys_enable(s.st, err);
    }

    s.journey.st = s.st;

    if (rc != OMNI_STORE_OK) {
        fprintf(stderr, "omni-sync: %s\n", err);
        omni_store_close(s.st);
        omni_keyring_free(s.kr);
        return 1;
    }

    signal(SIGTERM, omni_sync_signal);
    signal(SIGINT, omni_sync_signal);
    signal(SIGPIPE, SIG_IGN);

    if (omni_sync_options(&s) != 0) {
        omni_store_close(s.st);
        omni_keyring_free(s.kr);
        return 1;
    }

    omni_sync_log(&s, "started: store %s, stream %s", s.dir, s.stream);

    if (s.kr == NULL && omni_store_is_sealed(s.st)) {
        omni_sync_log(&s, "the store is sealed and no --keyring was given: "
                      "identity changes from other nodes wait for one");
    }

    while (!omni_sync_stop) {
        /*
         * Not before the first set-up ends (ready, or an error to show):
         * a restart's first round would show the engine unreachable.
         */
        if (omni_sync_now_ms() - s.status_at >= 1000
            && (s.status_at != 0 || s.last_error[0] != '\0'))
        {
            omni_sync_write_status(&s);
        }

        /* back from an outage: no backoff left to wait */
        if (__atomic_exchange_n(&s.reconnected, 0, __ATOMIC_ACQ_REL)) {
            s.retry_at = 0;
            s.backoff_ms = OMNI_SYNC_BACKOFF_MIN;
        }

        if (!s.ready) {
            if (omni_sync_now_ms() < s.retry_at) {
                usleep(20000);
                continue;
            }

            if (omni_sync_step(&s, "setting up", omni_sync_setup) != 0) {
                continue;
            }
        }

        if (omni_sync_step(&s, "publishing", omni_sync_publish) != 0
            || omni_sync_step(&s, "applying", omni_sync_consume) != 0
            || omni_sync_step(&s, "the resync round", omni_sync_resync) != 0)
        {
            continue;
        }

        s.backoff_ms = OMNI_SYNC_BACKOFF_MIN;
        omni_sync_journey_round(&s.journey, omni_sync_now_ms());
    }

    omni_sync_log(&s, "stopping");
    omni_sync_write_status(&s);

    if (s.sub != NULL) {
        natsSubscription_Destroy(s.sub);
    }

    omni_sync_resync_close(&s);
    omni_sync_journey_close(&s.journey);

    jsCtx_Destroy(s.journey.js);
    jsCtx_Destroy(s.js);
    natsConnection_Destroy(s.nc);
    natsOptions_Destroy(s.opts);
    nats_Close();
    omni_store_close(s.st);
    omni_keyring_free(s.kr);

    return 0;
}


/*
 * The command line: -1 to go on, else the exit status.  An option given
 * twice is refused: which one was meant cannot be told.
 */
static int
omni_sync_args(omni_sync_t *s, int argc, char **argv)
{
    int                  i, j;
    char                *end;
    const char          *a, *v, **slot;
    unsigned long long   n;

    static const struct {
        const char  *name;
        size_t       offset;
    }  opts[] = {
        { "--store", offsetof(omni_sync_t, dir) },
        { "--node", offsetof(omni_sync_t, node) },
        { "--nats", offsetof(omni_sync_t, url) },
        { "--stream", offsetof(omni_sync_t, stream) },
        { "--creds", offsetof(omni_sync_t, creds) },
        { "--tls-ca", offsetof(omni_sync_t, tls_ca) },
        { "--tls-cert", offsetof(omni_sync_t, tls_cert) },
        { "--tls-key", offsetof(omni_sync_t, tls_key) },
        { "--keyring", offsetof(omni_sync_t, keyring) },
        { "--user", offsetof(omni_sync_t, user) },
        { "--password-file", offsetof(omni_sync_t, password_file) },
        { "--token-file", offsetof(omni_sync_t, token_file) },
        { "--case-digit", offsetof(omni_sync_t, case_digit) },
        { "--log-max", SIZE_MAX },            /* counts */
        { "--stream-max", SIZE_MAX },
        { "--journey-max", SIZE_MAX },
        { "--journey-age", SIZE_MAX },
        { "--resync-wait", SIZE_MAX },
    };

    /* each option given once at most */
    int                  seen[sizeof(opts) / sizeof(opts[0])];

    memset(seen, 0, sizeof(seen));

    for (i = 1; i < argc; i++) {
        a = argv[i];

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return omni_sync_usage(stdout);
        }

        for (j = 0; j < (int) (sizeof(opts) / sizeof(opts[0])); j++) {
            if (strcmp(a, opts[j].name) == 0) {
                break;
            }
        }

        if (j == (int) (sizeof(opts) / sizeof(opts[0]))) {
            fprintf(stderr, "omni-sync: unknown option \"%s\"\n", a);
            return omni_sync_usage(stderr);
        }

        if (i + 1 >= argc || seen[j]++) {
            fprintf(stderr, "omni-sync: %s %s\n", a,
                    i + 1 >= argc ? "needs a value" : "given twice");
            return 2;
        }

        v = argv[++i];

        if (opts[j].offset != SIZE_MAX) {
            slot = (const char **) ((char *) s + opts[j].offset);
            *slot = v;
            continue;
        }

        errno = 0;
        n = strtoull(v, &end, 10);

        if (errno != 0 || *end != '\0' || v[0] < '0' || v[0] > '9' || n == 0
            || n > INT64_MAX)
        {
            fprintf(stderr, "omni-sync: %s wants a count, not \"%s\"\n", a,
                    v);
            return 2;
        }

        if (strcmp(a, "--log-max") == 0) {
            s->log_max = n;

        } else if (strcmp(a, "--resync-wait") == 0) {
            /* the answers' stream keeps them an hour */
            if (n > OMNI_SYNC_RESYNC_WAIT_MAX) {
                fprintf(stderr, "omni-sync: --resync-wait is at most %d "
                        "seconds\n", OMNI_SYNC_RESYNC_WAIT_MAX);
                return 2;
            }

            s->resync_wait = (int64_t) n;

        } else if (strcmp(a, "--stream-max") == 0) {
            s->stream_max = (int64_t) n;

        } else if (strcmp(a, "--journey-max") == 0) {
            s->journey_max = (int64_t) n;

        } else if (n > INT64_MAX / 1000000000) {
            fprintf(stderr, "omni-sync: --journey-age of %llu s is too "
                    "long\n", n);
            return 2;

        } else {
            s->journey_age = (int64_t) n;
        }
    }

    return -1;
}


/*
 * The connection's options, kept for the process's life.  The first
 * connection is made by the loop (omni_sync_connect()), which retries
 * and logs why it failed; the client reconnects by itself after that.
 */
static int
omni_sync_options(omni_sync_t *s)
{
    natsStatus    ns;
    natsOptions  *opts;
    char          secret[OMNI_SYNC_SECRET_MAX + 2];

    ns = natsOptions_Create(&opts);

    if (ns == NATS_OK) {
        ns = natsOptions_SetURL(opts, s->url);
    }

    if (ns == NATS_OK) {
        ns = natsOptions_SetName(opts, s->durable);
    }

    if (ns == NATS_OK) {
        ns = natsOptions_SetTimeout(opts, 1000);
    }

    if (ns == NATS_OK) {
        ns = natsOptions_SetMaxReconnect(opts, -1);
    }

    if (ns == NATS_OK) {
        ns = natsOptions_SetReconnectWait(opts, 250);
    }

    if (ns == NATS_OK) {
        ns = natsOptions_SetReconnectedCB(opts, omni_sync_reconnected, s);
    }

    if (ns == NATS_OK && s->creds != NULL) {
        ns = natsOptions_SetUserCredentialsFromFiles(opts, s->creds, NULL);
    }

    /* secrets come from files, never argv; the client keeps its copy */
    if (ns == NATS_OK && (s->password_file != NULL || s->token_file != NULL))
    {
        if (omni_sync_secret(s->password_file ? s->password_file
                                              : s->token_file,
                             secret, sizeof(secret))
            != 0)
        {
            natsOptions_Destroy(opts);
            return -1;
        }

        ns = s->user ? natsOptions_SetUserInfo(opts, s->user, secret)
                     : natsOptions_SetToken(opts, secret);

        explicit_bzero(secret, sizeof(secret));
    }

    if (ns == NATS_OK && (s->tls_ca != NULL || s->tls_cert != NULL)) {
        ns = natsOptions_SetSecure(opts, true);

        if (ns == NATS_OK && s->tls_ca != NULL) {
            ns = natsOptions_LoadCATrustedCertificates(opts, s->tls_ca);
        }

        if (ns == NATS_OK && s->tls_cert != NULL) {
            ns = natsOptions_LoadCertificatesChain(opts, s->tls_cert,
                                                   s->tls_key);
        }
    }

    if (ns != NATS_OK) {
        natsOptions_Destroy(opts);

        /* not the URL: it may hold a user and a password */
        fprintf(stderr, "omni-sync: cannot set up the connection to NATS: "
                "%s\n", natsStatus_GetText(ns));
        return -1;
    }

    s->opts = opts;

    return 0;
}


/*
 * The first connection.  The client's own retry of a failed first
 * connect (natsOptions_SetRetryOnFailedConnect) loops inside the call on
 * a refused certificate or password, silently: the loop retries here
 * instead, and says why.
 */
static int
omni_sync_connect(omni_sync_t *s)
{
    char         text[OMNI_ERRLEN];
    const char  *why;
    jsOptions    jo;
    natsStatus   ns;

    ns = natsConnection_Connect(&s->nc, s->opts);

    if (ns == NATS_OK) {
        ns = natsConnection_JetStream(&s->js, s->nc, NULL);
    }

    /*
     * The journeys' own context answers within 250 ms or fails: a slow
     * journey stream backs off instead of holding the loop
     */
    if (ns == NATS_OK) {
        jsOptions_Init(&jo);
        jo.Wait = OMNI_SYNC_JOURNEY_WAIT;
        ns = natsConnection_JetStream(&s->journey.js, s->nc, &jo);
    }

    if (ns == NATS_OK) {
        return 0;
    }

    why = nats_GetLastError(NULL);

    /* "(conn.c:733): SSL handshake error: ...": the client's source line */
    if (why != NULL && why[0] == '(' && strstr(why, "): ") != NULL) {
        why = strstr(why, "): ") + 3;
    }

    snprintf(text, sizeof(text), "cannot connect (%s)",
             why != NULL && why[0] != '\0' ? why : natsStatus_GetText(ns));

    natsConnection_Destroy(s->nc);
    s->nc = NULL;

    omni_sync_failed(s, text, ns, 0, 1);

    return -1;
}


/* the client's thread: the loop sets up again at its next turn */
static void
omni_sync_reconnected(natsConnection *nc, void *data)
{
    omni_sync_t  *s = data;

    (void) nc;

    __atomic_store_n(&s->reconnected, 1, __ATOMIC_RELEASE);
}


/*
 * A password or token: the file's first line, 1 to OMNI_SYNC_SECRET_MAX
 * bytes without control characters, in a file others cannot read.
 * Never printed.
 */
static int
omni_sync_secret(const char *path, char *buf, size_t size)
{
    int           fd;
    size_t        len;
    ssize_t       n;
    struct stat   sb;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1) {
        fprintf(stderr, "omni-sync: cannot open \"%s\": %s\n", path,
                strerror(errno));
        return -1;
    }

    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)
        || (sb.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    {
        close(fd);
        fprintf(stderr, "omni-sync: \"%s\" must be a file only its owner "
                "may read (chmod 600)\n", path);
        return -1;
    }

    n = read(fd, buf, size - 1);
    close(fd);

    if (n < 0) {
        fprintf(stderr, "omni-sync: cannot read \"%s\": %s\n", path,
                strerror(errno));
        return -1;
    }

    len = (size_t) n;
    buf[len] = '\0';

    /* one trailing newline is the editor's */
    if (len > 0 && buf[len - 1] == '\n') {
        buf[--len] = '\0';
    }

    if (len == 0 || len > OMNI_SYNC_SECRET_MAX || strlen(buf) != len
        || strpbrk(buf, "\r\n\t") != NULL)
    {
        explicit_bzero(buf, size);
        fprintf(stderr, "omni-sync: \"%s\" must hold one line of 1 to %d "
                "bytes\n", path, OMNI_SYNC_SECRET_MAX);
        return -1;
    }

    for (len = 0; buf[len] != '\0'; len++) {
        if ((unsigned char) buf[len] < 0x20 || buf[len] == 0x7f) {
            explicit_bzero(buf, size);
            fprintf(stderr, "omni-sync: \"%s\" holds a control "
                    "character\n", path);
            return -1;
        }
    }

    return 0;
}


/* the stream, this node's durable consumer, and a pull subscription */
static int
omni_sync_setup(omni_sync_t *s)
{
    int                          rc;
    char                         err[OMNI_ERRLEN];
    const char                  *subjects[1], *why;
    jsErrCode                    jerr;
    natsStatus                   ns;
    jsStreamInfo                *si;
    jsStreamConfig               sc;
    omni_sync_consumer_t         oc;
    omni_store_changes_state_t   state;

    if (s->nc == NULL && omni_sync_connect(s) != 0) {
        return -1;
    }

    if (natsConnection_Status(s->nc) != NATS_CONN_STATUS_CONNECTED) {
        /* the client's reason: a refused certificate, a bad password */
        why = NULL;
        (void) natsConnection_GetLastError(s->nc, &why);

        snprintf(err, sizeof(err), "not connected (%s)",
                 why != NULL && why[0] != '\0' ? why : "no reason given");

        omni_sync_failed(s, err, NATS_CONNECTION_DISCONNECTED, 0, 1);
        return -1;
    }

    rc = omni_store_changes_state(s->st, &state, err);
    if (rc != OMNI_STORE_OK) {
        omni_sync_log(s, "%s", err);
        omni_sync_failed(s, "store", NATS_ERR, 0, 0);
        return -1;
    }

    subjects[0] = OMNI_SYNC_SUBJECT ".>";

    jsStreamConfig_Init(&sc);
    sc.Name = s->stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Duplicates = OMNI_SYNC_DUP_WINDOW;
    sc.MaxMsgs = s->stream_max > 0 ? s->stream_max : -1;

    ns = omni_sync_stream_add(s->js, &sc, &si, &jerr);

    if (ns != NATS_OK) {
        omni_sync_failed(s, "stream", ns, jerr, 1);
        return -1;
    }

    if (omni_sync_stream_check(s, si, &state) != 0) {
        jsStreamInfo_Destroy(si);
        return -1;
    }

    if (state.applied + 1 < si->State.FirstSeq && si->State.FirstSeq > 1
        && state.applied + 1 <= si->State.LastSeq)
    {
        omni_sync_resync_want(s, state.applied + 1, si->State.FirstSeq - 1);
    }

    if (si->State.LastSeq < state.applied) {
        omni_sync_log(s, "the stream ends at message %" PRIu64 " and this "
                      "node applied up to %" PRIu64 ": was it made again? "
                      "Its messages up to %" PRIu64 " will not be applied",
                      si->State.LastSeq, state.applied, state.applied);
    }

    jsStreamInfo_Destroy(si);

    /*
     * The durable consumer acks what the store applied; one that is
     * ahead of the store's cursor (a store restored from a backup, a new
     * store under an old node id), holds messages a failed write left
     * unacked, or was found delivering elsewhere, is made again from the
     * cursor.  A remake asked for is kept until the old one is deleted.
     */
    memset(&oc, 0, sizeof(omni_sync_consumer_t));
    oc.js = s->js;
    oc.stream = s->stream;
    oc.durable = s->durable;
    oc.filter = OMNI_SYNC_SUBJECT ".>";
    oc.applied = state.applied;
    oc.remake = s->remake;

    rc = omni_sync_consumer(&oc, &s->sub);

    if (oc.remade && oc.ack_floor > state.applied) {
        omni_sync_log(s, "consumer %s acked up to %" PRIu64 ", the store "
                      "applied up to %" PRIu64 ": made again", s->durable,
                      oc.ack_floor, state.applied);
    }

    if (rc == 0 || oc.remade) {
        s->remake = 0;
    }

    if (rc != 0) {
        omni_sync_failed(s, oc.what, oc.ns, oc.jerr, 1);
        return -1;
    }

    s->ready = 1;
    s->applied = state.applied;
    s->last_error[0] = '\0';
    omni_sync_write_status(s);
    omni_sync_log(s, "stream %s and consumer %s ready: published up to %"
                  PRIu64 " of %" PRIu64 ", applied up to stream message %"
                  PRIu64, s->stream, s->durable, state.published, state.last,
                  state.applied);

    /* after the state file: the resync's stream costs a round trip */
    return omni_sync_resync_setup(s);
}


/*
 * The stream applied from: one made again under the same name (deleted,
 * its messages numbered from 1 again) is applied from its first message
 * by a consumer made again; said once, when first seen.
 */
static int
omni_sync_stream_check(omni_sync_t *s, const jsStreamInfo *si,
    omni_store_changes_state_t *state)
{
    int       rc, again;
    char      err[OMNI_ERRLEN], name[OMNI_STORE_ID_MAX + 1];
    char      was_at[64], now_at[64];
    int64_t   was;

    rc = omni_store_changes_stream_get(s->st, name, &was, err);

    /* the same stream: nothing to write (a set-up stays quick) */
    if (rc == OMNI_STORE_OK && was == si->Created
        && strcmp(name, s->stream) == 0)
    {
        return 0;
    }

    if (rc == OMNI_STORE_OK || rc == OMNI_STORE_NOT_FOUND) {
        rc = omni_store_changes_stream(s->st, s->stream, si->Created, &again,
                                       err);
    }

    if (rc == OMNI_STORE_OK && again) {
        omni_sync_time(was_at, sizeof(was_at), was);
        omni_sync_time(now_at, sizeof(now_at), si->Created);

        omni_sync_log(s, "stream %s made at %s is not the one this node "
                      "applied up to message %" PRIu64 " (%s, made at %s): "
                      "applying it from its first message, consumer %s "
                      "made again", s->stream, now_at, state->applied, name,
                      was_at, s->durable);

        s->remake = 1;
        rc = omni_store_changes_state(s->st, state, err);
    }

    if (rc != OMNI_STORE_OK) {
        omni_sync_log(s, "%s", err);
        omni_sync_failed(s, "store", NATS_ERR, 0, 0);
        return -1;
    }

    return 0;
}


/* a stream's creation time, as JetStream gives it (ns), in UTC */
static void
omni_sync_time(char *buf, size_t size, int64_t ns)
{
    time_t     t;
    struct tm  tm;

    t = (time_t) (ns / 1000000000);
    gmtime_r(&t, &tm);

    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int) (ns / 1000000 % 1000));
}


/*
 * A step of the loop, timed: one that held the loop OMNI_SYNC_SLOW_MS or
 * more is said, so that a sync that stops moving shows where it waited
 * (a NATS call or the store; a back-off after a failure counts too,
 * after the failure's own line)
 */
static int
omni_sync_step(omni_sync_t *s, const char *what, int (*step)(omni_sync_t *s))
{
    int      rc;
    int64_t  start, ms;

    start = omni_sync_now_ms();
    rc = step(s);
    ms = omni_sync_now_ms() - start;

    if (ms >= OMNI_SYNC_SLOW_MS) {
        omni_sync_log(s, "%s took %" PRId64 " ms", what, ms);
    }

    return rc;
}


/*
 * Backs off: a failure of NATS sets the stream and the consumer up again
 * once the client has reconnected (it does by itself); one of the store
 * only waits.
 */
void
omni_sync_failed(omni_sync_t *s, const char *what, natsStatus ns,
    jsErrCode jerr, int reset)
{
    char  text[sizeof(s->last_error)];

    if (jerr) {
        snprintf(text, sizeof(text), "%s: %s, JetStream error %d", what,
                 natsStatus_GetText(ns), (int) jerr);

    } else {
        snprintf(text, sizeof(text), "%s: %s", what, natsStatus_GetText(ns));
    }

    if (strcmp(text, s->last_error) != 0) {
        omni_sync_log(s, "%s (retrying, %d ms apart at most)", text,
                      OMNI_SYNC_BACKOFF_MAX);
        memcpy(s->last_error, text, sizeof(text));
    }

    if (reset) {
        s->ready = 0;
        s->retry_at = omni_sync_now_ms() + s->backoff_ms;

    } else {
        usleep((useconds_t) s->backoff_ms * 1000);
    }

    s->backoff_ms = s->backoff_ms * 2 > OMNI_SYNC_BACKOFF_MAX
                    ? OMNI_SYNC_BACKOFF_MAX : s->backoff_ms * 2;
}


/*
 * <store>/omni-sync.status, replaced whole: one JSON object, read by
 * omnictl cluster status (tools/omnictl_cluster.c)
 */
void
omni_sync_write_status(omni_sync_t *s)
{
    int                          rc, connected, queued;
    char                         path[4096], tmp[4096 + 8];
    char                         err[OMNI_ERRLEN];
    FILE                        *f;
    int64_t                      dropped;
    omni_store_changes_state_t   state;

    s->status_at = omni_sync_now_ms();

    /* the client's side of the consumer: what came and waits, or was lost */
    queued = 0;
    dropped = 0;

    if (s->sub != NULL) {
        (void) natsSubscription_GetPending(s->sub, &queued, NULL);
        (void) natsSubscription_GetDropped(s->sub, &dropped);
    }

    rc = omni_store_changes_state(s->st, &state, err);
    if (rc != OMNI_STORE_OK) {
        return;
    }

    connected = s->nc != NULL
                && natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED;

    snprintf(path, sizeof(path), "%s%s", s->dir, OMNI_SYNC_STATUS);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);

    f = fopen(tmp, "w");
    if (f == NULL) {
        return;
    }

    /* the error text is ours and NATS's: no quote or control in it */
    fprintf(f, "{\"node\":\"%s\",\"pid\":%ld,\"updated_at\":%" PRId64 ","
            "\"engine_reachable\":%s,\"ready\":%s,\"pending_remote\":%"
            PRIu64 ",\"published_this_run\":%" PRIu64 ","
            "\"applied_this_run\":%" PRIu64 ",\"fetched_this_run\":%" PRIu64
            ",\"fetch_queue\":{\"waiting\":%d,\"dropped\":%" PRId64 "},"
            "\"stalled_this_run\":%" PRIu64 ",\"journeys_published_this_run\":"
            "%" PRIu64 ",\"journeys_applied_this_run\":%" PRIu64 ","
            "\"journeys_stalled_this_run\":%" PRIu64 ",\"last_error\":\"%s\"",
            s->node, (long) getpid(), (int64_t) time(NULL),
            connected ? "true" : "false", s->ready ? "true" : "false",
            s->pending, s->published_n, s->applied_n, s->fetched_n,
            queued, dropped, s->stall.n, s->journey.published_n,
            s->journey.applied_n, s->journey.stall.n,
            strpbrk(s->last_error, "\"\\") ? "?" : s->last_error);

    omni_sync_resync_status(s, f);
    fputs("}\n", f);

    if (fclose(f) == 0) {
        (void) rename(tmp, path);
    }
}


void
omni_sync_log(omni_sync_t *s, const char *fmt, ...)
{
    char        buf[1024];
    time_t      now;
    va_list     ap;
    struct tm   tm;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);

    now = time(NULL);
    gmtime_r(&now, &tm);

    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02dZ omni-sync %s: %s\n",
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
            tm.tm_min, tm.tm_sec, s->node, buf);
}


/* the journeys' log (omni_sync_journey.c takes a function and its data) */
static void
omni_sync_log_text(void *data, const char *text)
{
    omni_sync_log(data, "%s", text);
}


int64_t
omni_sync_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
omni_sync_signal(int sig)
{
    (void) sig;

    omni_sync_stop = 1;
}


static int
omni_sync_usage(FILE *out)
{
    fprintf(out,
        "usage: omni-sync --store DIR --node ID --nats URL [options]\n"
        "\n"
        "  --stream NAME       the JetStream stream (OMNI), subjects "
        OMNI_SYNC_SUBJECT ".>\n"
        "  --user NAME --password-file FILE   a NATS user and its "
        "password\n"
        "  --token-file FILE   a NATS authentication token\n"
        "  --creds FILE        NATS user credentials (JWT and seed)\n"
        "  --tls-ca FILE       trust these CAs (TLS on)\n"
        "  --tls-cert FILE --tls-key FILE   a client certificate\n"
        "  --keyring FILE      the store's keyring (omni_store_keyring): "
        "a sealed\n"
        "                      store's identity changes open with it\n"
        "  --log-max N         local changes the store keeps (100000)\n"
        "  --stream-max N      messages the stream keeps, when this node "
        "makes it\n"
        "  --resync-wait S     seconds a full resync waits for every "
        "node's answer (30)\n"
        "  --case-digit D      the first digit of this node's case ids "
        "(0-9)\n"
        "  --journey-max N     events of one customer the journey stream "
        "keeps (1000)\n"
        "  --journey-age S     seconds the journey stream keeps an event "
        "(90 days)\n"
        "\n"
        "omnictl -d DIR cluster status shows what it does; "
        "docs/cluster.md\n");

    return out == stdout ? 0 : 2;
}
