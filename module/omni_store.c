/*
 * Copyright (C) The omni gateway authors
 *
 * Records.  Integers are big-endian, strings carry no NUL, "len" is one
 * byte, every value starts with the record version (OMNI_STORE_REC_V1) so
 * a later build detects a record it does not know.
 *
 * meta         "format"                      "1" (text, no version byte)
 *              "policy:current"              be32 revision (no version
 *                                            byte)
 *              "policy:rev:"<be32 revision>  1, be64 time, len author,
 *                                            len note, the policy bytes
 * sessions     <id>                          1, nchannels, be16 context
 *                                            length, be64 created, be64
 *                                            last_seen, len customer,
 *                                            nchannels x (len channel),
 *                                            context
 * identities   <type>:<value>                1, customer
 * customers    <customer>\0S<session>        empty: session index
 *              <customer>\0I<type>:<value>   empty: identity index
 *              <customer>\0M                 1, be64 merged_at, survivor
 *              <customer>\0F<from>           empty: from was merged here
 *              <customer>\0J                 1, be32 journey events
 * revocations  j:<jti>                       1, be64 expires_at (0: never)
 *              s:<session>                   1, be64 revoked_at
 *              u:<sub>                       1, be64 before
 * journeys     <customer>\0<be64 time_ms>\0<be32 seq>
 *                                            1, len channel, len action,
 *                                            len outcome, len session
 * expiry       a<be64 last_seen><session>    empty: idle order
 *              c<be64 created><session>      empty: age order
 *              j<be64 expires_at><jti>       empty: jti purge order
 *
 * Ids never hold a NUL, so "<customer>\0" is a prefix no other customer
 * shares and cursor ranges over it are exact.
 */


#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>

#include "omni_store.h"


#define OMNI_STORE_REC_V1      1
#define OMNI_STORE_KEY_MAX     511      /* LMDB's default key size limit */
#define OMNI_STORE_IKEY_MAX    (OMNI_STORE_TYPE_MAX + 1 + OMNI_STORE_VALUE_MAX)
/* a session: version, nchannels, be16, two be64, then the strings */
#define OMNI_STORE_VAL_MAX                                                    \
    (20 + 1 + OMNI_STORE_ID_MAX                                               \
     + OMNI_STORE_CHANNELS * (1 + OMNI_STORE_CHANNEL_MAX)                     \
     + OMNI_STORE_CONTEXT_MAX)
#define OMNI_STORE_WRITE_TRIES 64       /* doublings and remaps per write */
#define OMNI_STORE_CHUNK       32       /* keys collected per purge pass */
#define OMNI_STORE_JKEY_EXTRA  14       /* \0, be64 time, \0, be32 seq */
#define OMNI_STORE_RESUME_SCAN 32       /* sessions of a customer looked at */

#define OMNI_TAG_SESSION       'S'
#define OMNI_TAG_IDENTITY      'I'
#define OMNI_TAG_MERGED        'M'
#define OMNI_TAG_FROM          'F'
#define OMNI_TAG_JOURNEY       'J'

#define OMNI_POLICY_CURRENT    "policy:current"
#define OMNI_POLICY_REV        "policy:rev:"
#define OMNI_POLICY_REV_LEN    (sizeof(OMNI_POLICY_REV) - 1)
#define OMNI_POLICY_SEED_NOTE  "seed"

#define OMNI_EXP_SEEN          'a'
#define OMNI_EXP_CREATED       'c'
#define OMNI_EXP_JTI           'j'

#define OMNI_IDX_CUSTOMER      0x01
#define OMNI_IDX_SEEN          0x02
#define OMNI_IDX_CREATED       0x04
#define OMNI_IDX_ALL           0x07


struct omni_store_s {
    MDB_env        *env;
    MDB_txn        *rtxn;           /* the reusable read transaction */
    MDB_dbi         dbi[OMNI_STORE_DB_COUNT];
    size_t          map_max;
    pid_t           pid;
    unsigned        reading:1;
    unsigned        map_full:1;     /* the last write ran out of map */
    char           *dir;
};


typedef struct {
    unsigned char  *p;
    size_t          len;
    size_t          cap;
    int             overflow;
} omni_sbuf_t;


typedef struct {
    omni_sbuf_t     b;
    unsigned char   data[OMNI_STORE_KEY_MAX];
} omni_skey_t;


typedef struct {
    const unsigned char  *p;
    size_t                len;
    size_t                pos;
    int                   bad;
} omni_srd_t;


typedef struct {
    size_t          len;
    unsigned char   data[OMNI_STORE_IKEY_MAX];
} omni_item_t;


typedef int (*omni_store_op_pt)(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);

/* returns 0, or -1 for a record it cannot read */
typedef int (*omni_store_item_pt)(void *out, size_t i,
    const unsigned char *rest, size_t len, const MDB_val *val);


typedef struct {
    const omni_store_session_t  *in;
} omni_session_put_t;


typedef struct {
    const char             *id;
    const char             *channel;
    int64_t                 now;
    int64_t                 min_interval;
    int                     wrote;
    omni_store_session_t   *s;
} omni_session_touch_t;


typedef struct {
    int64_t                 now;
    int64_t                 idle;
    int64_t                 absolute;
    size_t                  max;
    size_t                  purged;
} omni_session_purge_t;


typedef struct {
    const char             *type;
    const char             *value;
    const char             *customer;
} omni_identity_op_t;


typedef struct {
    const char             *from;
    const char             *to;
    int64_t                 now;
} omni_merge_op_t;


typedef struct {
    int                     kind;
    const char             *value;
    int64_t                 time;
} omni_revoke_op_t;


typedef struct {
    int64_t                 now;
    size_t                  max;
    size_t                  purged;
} omni_revoke_purge_t;


typedef struct {
    const char             *customer;
    omni_store_journey_t   *ev;
    size_t                  max_count;
    int64_t                 max_age;
} omni_journey_op_t;


typedef struct {
    omni_store_journey_item_t  *items;
    size_t                      n;
    size_t                      max_count;
    int64_t                     max_age;
    size_t                      skipped;
} omni_journey_many_t;


typedef struct {
    const char             *customer;
    const char             *channel;
    int64_t                 now;
    int64_t                 idle;
    int64_t                 absolute;
    int64_t                 touch;
    const char             *new_id;
    omni_store_session_t   *s;
    int                     created;
} omni_session_resume_t;


typedef struct {
    const char             *id;
    omni_store_update_pt    update;
    void                   *data;
    omni_store_session_t   *s;
} omni_session_update_t;


typedef struct {
    const omni_store_identity_t  *ids;
    size_t                        n;
    const char                   *new_id;
    char                         *customer;
    int                           created;
} omni_claim_op_t;


typedef struct {
    const omni_store_record_t  *recs;
    size_t                      n;
} omni_import_op_t;


typedef struct {
    const char             *json;
    size_t                  len;
    const char             *author;
    const char             *note;
    int64_t                 now;
    int                     seed;       /* only when there is no current */
    uint32_t                rev;        /* written; 0: none */
} omni_policy_op_t;


static const char  *omni_store_db_names[] = {
    "meta",
    "sessions",
    "identities",
    "customers",
    "revocations",
    "journeys",
    "expiry",
};


static const char  *omni_store_rc_names[] = {
    "ok",
    "not_found",
    "full",
    "invalid",
    "error",
};


static void omni_store_err(char *err, const char *fmt, ...);
static int omni_store_mdb(omni_store_t *st, int mrc, const char *what,
    char *err);
static int omni_store_check_id(const char *what, const char *s, size_t max,
    char *err);
static int omni_store_check_text(const char *what, const char *s,
    size_t max, char *err);
static int omni_store_check_time(const char *what, int64_t t, char *err);

static void omni_sbuf_init(omni_sbuf_t *b, unsigned char *p, size_t cap);
static omni_sbuf_t *omni_skey_init(omni_skey_t *k);
static void omni_sbuf_add(omni_sbuf_t *b, const void *data, size_t len);
static void omni_sbuf_str(omni_sbuf_t *b, const char *s);
static void omni_sbuf_u8(omni_sbuf_t *b, unsigned v);
static void omni_sbuf_be(omni_sbuf_t *b, uint64_t v, size_t n);
static void omni_sbuf_lstr(omni_sbuf_t *b, const char *s);
static void omni_srd_init(omni_srd_t *r, const MDB_val *v);
static unsigned omni_srd_u8(omni_srd_t *r);
static uint64_t omni_srd_be(omni_srd_t *r, size_t n);
static void omni_srd_bytes(omni_srd_t *r, size_t n, char *out, size_t max);
static void omni_srd_lstr(omni_srd_t *r, char *out, size_t max);
static uint64_t omni_be_get(const unsigned char *p, size_t n);

static void omni_key_customer(omni_sbuf_t *k, const char *customer, int tag);
static void omni_key_expiry(omni_sbuf_t *k, int tag, int64_t t,
    const char *rest);
static void omni_key_journey(omni_sbuf_t *k, const char *customer,
    int64_t t, uint32_t seq);

static int omni_store_mdb_key(const omni_sbuf_t *key, int db, MDB_val *k,
    char *err);
static int omni_store_get(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *key, MDB_val *val, char *err);
static int omni_store_put(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *key, const void *data, size_t len, unsigned flags,
    char *err);
static int omni_store_del(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *key, char *err);
static int omni_store_scan(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *prefix, const void *after, size_t alen, size_t max,
    omni_store_item_pt item, void *out, size_t *n, char *err);
static int omni_store_walk(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *prefix, const omni_sbuf_t *start, int exclusive,
    MDB_cursor_op op, size_t max, omni_store_item_pt item, void *out,
    size_t *n, char *err);
static int omni_store_count_item(void *out, size_t i,
    const unsigned char *rest, size_t len, const MDB_val *val);
static int omni_store_collect_item(void *out, size_t i,
    const unsigned char *rest, size_t len, const MDB_val *val);

static int omni_store_write(omni_store_t *st, omni_store_op_pt op,
    void *data, char *err);
static int omni_store_grow(omni_store_t *st, char *err);
static int omni_store_remap(omni_store_t *st, char *err);
static int omni_store_rbegin(omni_store_t *st, MDB_txn **txn, int *own,
    char *err);
static void omni_store_rend(omni_store_t *st, int own);
static int omni_store_init_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_store_init(omni_store_t *st, char *err);

static int omni_session_check(const omni_store_session_t *s, char *err);
static void omni_session_encode(const omni_store_session_t *s,
    omni_sbuf_t *b);
static int omni_session_load(omni_store_t *st, MDB_txn *txn, const char *id,
    omni_store_session_t *s, char *err);
static int omni_session_index(omni_store_t *st, MDB_txn *txn,
    const omni_store_session_t *s, unsigned what, int add, char *err);
static int omni_session_store(omni_store_t *st, MDB_txn *txn,
    const omni_store_session_t *s, char *err);
static int omni_session_has_channel(const omni_store_session_t *s,
    const char *channel);
static int omni_session_needs_write(const omni_store_session_t *s,
    const char *channel, int64_t now, int64_t min_interval);
static int omni_session_put_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_session_touch_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_session_delete_op(omni_store_t *st, MDB_txn *txn,
    void *data, char *err);
static int omni_session_remove(omni_store_t *st, MDB_txn *txn,
    const char *id, char *err);
static int omni_session_purge_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_session_purge_index(omni_store_t *st, MDB_txn *txn,
    omni_session_purge_t *ctx, int tag, int64_t cutoff, char *err);
static int omni_session_find_live(omni_store_t *st, MDB_txn *txn,
    omni_session_resume_t *ctx, int *found, char *err);
static int omni_session_resume_op(omni_store_t *st, MDB_txn *txn,
    void *data, char *err);
static int omni_session_update_op(omni_store_t *st, MDB_txn *txn,
    void *data, char *err);
static int omni_claim_find(omni_store_t *st, MDB_txn *txn,
    omni_claim_op_t *ctx, size_t *unknown, char *err);
static int omni_claim_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_journey_append_run(omni_store_t *st, MDB_txn *txn,
    omni_store_journey_item_t *items, size_t n, size_t max_count,
    int64_t max_age, char *err);
static int omni_journey_many_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_import_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_session_id_item(void *out, size_t i,
    const unsigned char *rest, size_t len, const MDB_val *val);

static int omni_customer_follow(omni_store_t *st, MDB_txn *txn,
    const char *id, char *survivor, char *err);
static int omni_customer_count(omni_store_t *st, MDB_txn *txn,
    const char *customer, int tag, size_t max, size_t *n, char *err);
static int omni_customer_known(omni_store_t *st, MDB_txn *txn,
    const char *customer, int *known, char *err);
static int omni_identity_check(const char *type, const char *value,
    omni_sbuf_t *key, char *err);
static int omni_identity_customer(const MDB_val *v, char *customer);
static int omni_identity_link_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_identity_unlink_op(omni_store_t *st, MDB_txn *txn,
    void *data, char *err);
static int omni_identity_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val);
static int omni_merge_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_merge_move(omni_store_t *st, MDB_txn *txn,
    const char *from, const char *to, int64_t now, omni_item_t *ids,
    size_t nids, omni_item_t *merged, size_t nmerged, char *err);

static int omni_revoke_key(int kind, const char *value, omni_sbuf_t *key,
    char *err);
static int omni_revoke_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_revoke_remove_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_revoke_purge_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_revoke_time(const MDB_val *v, int64_t *t);
static int omni_revocation_item(void *out, size_t i,
    const unsigned char *rest, size_t len, const MDB_val *val);

static int omni_journey_check(const char *customer,
    const omni_store_journey_t *ev, char *err);
static int omni_journey_append_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_journey_seq(omni_store_t *st, MDB_txn *txn,
    const omni_sbuf_t *prefix, int64_t t, uint32_t *seq, char *err);
static int omni_journey_trim(omni_store_t *st, MDB_txn *txn,
    const omni_sbuf_t *prefix, int64_t cutoff, size_t max_count,
    uint32_t *count, char *err);
static int omni_journey_item(void *out, size_t i, const unsigned char *p,
    size_t len, const MDB_val *v);

static int omni_policy_check(const char *json, size_t len,
    const char *author, const char *note, int64_t now, char *err);
static void omni_key_policy(omni_sbuf_t *k, uint32_t rev);
static int omni_policy_current_get(omni_store_t *st, MDB_txn *txn,
    uint32_t *rev, char *err);
static int omni_policy_last(omni_store_t *st, MDB_txn *txn, uint32_t *rev,
    char *err);
static int omni_policy_write_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
static int omni_policy_info_item(void *out, size_t i,
    const unsigned char *p, size_t len, const MDB_val *v);
static int omni_policy_decode(uint32_t rev, const MDB_val *v,
    omni_store_policy_info_t *info, size_t *offset);


/* the store */

omni_store_t *
omni_store_open(const char *dir, size_t map_max, int sync_mode, char *err)
{
    int            mrc, dead;
    long           page;
    size_t         size;
    unsigned int   flags;
    struct stat    sb;
    omni_store_t  *st;

    if (dir == NULL || dir[0] == '\0') {
        omni_store_err(err, "no store directory");
        return NULL;
    }

    if (stat(dir, &sb) != 0) {
        omni_store_err(err, "store directory \"%s\": %s", dir,
                       strerror(errno));
        return NULL;
    }

    if (!S_ISDIR(sb.st_mode)) {
        omni_store_err(err, "store directory \"%s\" is not a directory",
                       dir);
        return NULL;
    }

    if (access(dir, R_OK | W_OK | X_OK) != 0) {
        omni_store_err(err, "store directory \"%s\" is not writable: %s",
                       dir, strerror(errno));
        return NULL;
    }

    switch (sync_mode) {
    case OMNI_STORE_SYNC_FULL:
        flags = 0;
        break;
    case OMNI_STORE_SYNC_META:
        flags = MDB_NOMETASYNC;
        break;
    case OMNI_STORE_SYNC_NONE:
        flags = MDB_NOSYNC;
        break;
    default:
        omni_store_err(err, "unknown sync mode %d for store %s", sync_mode,
                       dir);
        return NULL;
    }

    page = sysconf(_SC_PAGESIZE);
    if (page <= 0) {
        page = 4096;
    }

    map_max -= map_max % (size_t) page;

    if (map_max < OMNI_STORE_MAP_MIN) {
        omni_store_err(err, "map size of store %s is below the minimum of "
                       "%d bytes", dir, OMNI_STORE_MAP_MIN);
        return NULL;
    }

    st = calloc(1, sizeof(omni_store_t));
    if (st == NULL) {
        omni_store_err(err, "out of memory opening store %s", dir);
        return NULL;
    }

    st->dir = strdup(dir);
    if (st->dir == NULL) {
        free(st);
        omni_store_err(err, "out of memory opening store %s", dir);
        return NULL;
    }

    st->map_max = map_max;
    st->pid = getpid();

    mrc = mdb_env_create(&st->env);
    if (mrc != 0) {
        st->env = NULL;
        omni_store_err(err, "cannot create the environment of store %s: %s",
                       dir, mdb_strerror(mrc));
        goto failed;
    }

    size = map_max < OMNI_STORE_MAP_INITIAL ? map_max
                                            : OMNI_STORE_MAP_INITIAL;

    mrc = mdb_env_set_maxdbs(st->env, 8);
    if (mrc == 0) {
        mrc = mdb_env_set_mapsize(st->env, size);
    }

    if (mrc == 0) {
        mrc = mdb_env_open(st->env, dir, flags | MDB_NOTLS, 0660);
    }

    if (mrc != 0) {
        omni_store_err(err, "cannot open store %s: %s", dir,
                       mdb_strerror(mrc));
        goto failed;
    }

    /* slots left by processes that died inside a read transaction */
    mrc = mdb_reader_check(st->env, &dead);
    if (mrc != 0) {
        omni_store_err(err, "cannot check the readers of store %s: %s", dir,
                       mdb_strerror(mrc));
        goto failed;
    }

    if (omni_store_init(st, err) != OMNI_STORE_OK) {
        goto failed;
    }

    return st;

failed:

    if (st->env != NULL) {
        mdb_env_close(st->env);
    }

    free(st->dir);
    free(st);

    return NULL;
}


void
omni_store_close(omni_store_t *st)
{
    if (st == NULL) {
        return;
    }

    /*
     * In a child that inherited the store mdb_env_close() would free the
     * parent's reader slots: leave the environment alone there.
     */
    if (st->pid == getpid()) {
        if (st->rtxn != NULL) {
            mdb_txn_abort(st->rtxn);
        }

        mdb_env_close(st->env);
    }

    free(st->dir);
    free(st);
}


const char *
omni_store_rc_name(int rc)
{
    if (rc < 0 || rc > OMNI_STORE_ERROR) {
        return "unknown";
    }

    return omni_store_rc_names[rc];
}


const char *
omni_store_db_name(int db)
{
    if (db < 0 || db >= OMNI_STORE_DB_COUNT) {
        return "unknown";
    }

    return omni_store_db_names[db];
}


int
omni_store_read_begin(omni_store_t *st, char *err)
{
    int  i, mrc;

    if (st->reading) {
        omni_store_err(err, "a read transaction is open already");
        return OMNI_STORE_INVALID;
    }

    mrc = 0;

    for (i = 0; i < 3; i++) {
        if (st->rtxn != NULL) {
            mrc = mdb_txn_renew(st->rtxn);
            if (mrc != 0) {
                mdb_txn_abort(st->rtxn);
                st->rtxn = NULL;
            }

        } else {
            mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &st->rtxn);
            if (mrc != 0) {
                st->rtxn = NULL;
            }
        }

        if (mrc != MDB_MAP_RESIZED) {
            break;
        }

        /* another process grew the map: adopt its size */
        mrc = mdb_env_set_mapsize(st->env, 0);
        if (mrc != 0) {
            break;
        }

        mrc = MDB_MAP_RESIZED;
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "cannot begin a read transaction",
                              err);
    }

    st->reading = 1;

    return OMNI_STORE_OK;
}


void
omni_store_read_end(omni_store_t *st)
{
    if (st->reading) {
        mdb_txn_reset(st->rtxn);
        st->reading = 0;
    }
}


int
omni_store_stats(omni_store_t *st, omni_store_stats_t *stats, char *err)
{
    int          i, rc, own, mrc;
    MDB_txn     *txn;
    MDB_stat     ms;
    MDB_envinfo  info;

    memset(stats, 0, sizeof(omni_store_stats_t));

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    for (i = 0; i < OMNI_STORE_DB_COUNT; i++) {
        mrc = mdb_stat(txn, st->dbi[i], &ms);
        if (mrc != 0) {
            omni_store_rend(st, own);
            return omni_store_mdb(st, mrc, "mdb_stat", err);
        }

        stats->entries[i] = ms.ms_entries;
    }

    omni_store_rend(st, own);

    mrc = mdb_env_info(st->env, &info);
    if (mrc == 0) {
        mrc = mdb_env_stat(st->env, &ms);
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_env_info", err);
    }

    stats->txn_id = info.me_last_txnid;
    stats->map_used = (info.me_last_pgno + 1) * (size_t) ms.ms_psize;
    stats->map_size = info.me_mapsize;
    stats->map_max = st->map_max;

    return OMNI_STORE_OK;
}


int
omni_store_export(omni_store_t *st, omni_store_record_pt record,
    void *data, char *err)
{
    int                  db, rc, own, mrc;
    MDB_txn             *txn;
    MDB_val              k, v;
    MDB_cursor          *cur;
    omni_store_record_t  rec;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    for (db = 0; db < OMNI_STORE_DB_COUNT; db++) {
        mrc = mdb_cursor_open(txn, st->dbi[db], &cur);
        if (mrc != 0) {
            omni_store_rend(st, own);
            return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
        }

        for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
             mrc == 0;
             mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        {
            rec.db = db;
            rec.key = k.mv_data;
            rec.key_len = k.mv_size;
            rec.val = v.mv_data;
            rec.val_len = v.mv_size;

            if (record(data, &rec) != 0) {
                mdb_cursor_close(cur);
                omni_store_rend(st, own);
                omni_store_err(err, "export of %s stopped", st->dir);
                return OMNI_STORE_ERROR;
            }
        }

        mdb_cursor_close(cur);

        if (mrc != MDB_NOTFOUND) {
            omni_store_rend(st, own);
            return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
        }
    }

    omni_store_rend(st, own);

    return OMNI_STORE_OK;
}


int
omni_store_import(omni_store_t *st, const omni_store_record_t *recs,
    size_t n, char *err)
{
    char              format[16];
    size_t            i, len;
    omni_import_op_t  ctx;

    len = (size_t) snprintf(format, sizeof(format), "%d", OMNI_STORE_FORMAT);

    for (i = 0; i < n; i++) {
        if (recs[i].db < 0 || recs[i].db >= OMNI_STORE_DB_COUNT) {
            omni_store_err(err, "record %zu: no sub-database %d", i + 1,
                           recs[i].db);
            return OMNI_STORE_INVALID;
        }

        if (recs[i].key_len == 0 || recs[i].key_len > OMNI_STORE_KEY_MAX) {
            omni_store_err(err, "record %zu: a key of %zu bytes (1 to %d)",
                           i + 1, recs[i].key_len, OMNI_STORE_KEY_MAX);
            return OMNI_STORE_INVALID;
        }

        if (recs[i].db == OMNI_STORE_DB_META
            && recs[i].key_len == sizeof("format") - 1
            && memcmp(recs[i].key, "format", sizeof("format") - 1) == 0
            && (recs[i].val_len != len
                || memcmp(recs[i].val, format, len) != 0))
        {
            omni_store_err(err, "record %zu: a store format other than "
                           "this build's (%d)", i + 1, OMNI_STORE_FORMAT);
            return OMNI_STORE_INVALID;
        }
    }

    if (n == 0) {
        return OMNI_STORE_OK;
    }

    ctx.recs = recs;
    ctx.n = n;

    return omni_store_write(st, omni_import_op, &ctx, err);
}


static int
omni_import_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                mrc;
    size_t             i;
    MDB_val            k, v;
    omni_import_op_t  *ctx;

    ctx = data;

    for (i = 0; i < ctx->n; i++) {
        k.mv_data = (void *) ctx->recs[i].key;
        k.mv_size = ctx->recs[i].key_len;
        v.mv_data = (void *) ctx->recs[i].val;
        v.mv_size = ctx->recs[i].val_len;

        mrc = mdb_put(txn, st->dbi[ctx->recs[i].db], &k, &v, 0);
        if (mrc != 0) {
            return omni_store_mdb(st, mrc, "mdb_put", err);
        }
    }

    return OMNI_STORE_OK;
}


static int
omni_store_init_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int           i, mrc, printable;
    char          format[16];
    size_t        len;
    MDB_val       key, val;
    unsigned      flags;
    const char   *p;

    /* a read transaction (data NULL) only finds, a write one creates */
    flags = (data != NULL) ? MDB_CREATE : 0;

    /* meta first: a later format may lay the other databases out anew */
    mrc = mdb_dbi_open(txn, omni_store_db_names[OMNI_STORE_DB_META], flags,
                       &st->dbi[OMNI_STORE_DB_META]);
    if (mrc == MDB_NOTFOUND && flags == 0) {
        return OMNI_STORE_NOT_FOUND;
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "cannot open the meta database", err);
    }

    len = (size_t) snprintf(format, sizeof(format), "%d", OMNI_STORE_FORMAT);

    key.mv_data = "format";
    key.mv_size = sizeof("format") - 1;

    mrc = mdb_get(txn, st->dbi[OMNI_STORE_DB_META], &key, &val);

    if (mrc == MDB_NOTFOUND && flags == 0) {
        return OMNI_STORE_NOT_FOUND;
    }

    if (mrc == MDB_NOTFOUND) {
        val.mv_data = format;
        val.mv_size = len;

        mrc = mdb_put(txn, st->dbi[OMNI_STORE_DB_META], &key, &val, 0);
        if (mrc != 0) {
            return omni_store_mdb(st, mrc, "cannot write the store format",
                                  err);
        }

    } else if (mrc != 0) {
        return omni_store_mdb(st, mrc, "cannot read the store format", err);

    } else if (val.mv_size != len || memcmp(val.mv_data, format, len) != 0) {
        p = val.mv_data;
        printable = val.mv_size > 0 && val.mv_size <= 16;

        for (i = 0; printable && (size_t) i < val.mv_size; i++) {
            printable = (p[i] > ' ' && p[i] < 0x7f);
        }

        omni_store_err(err, "store format %.*s in %s is not supported by "
                       "this build (%d)", printable ? (int) val.mv_size : 1,
                       printable ? p : "?", st->dir, OMNI_STORE_FORMAT);
        return OMNI_STORE_INVALID;
    }

    for (i = OMNI_STORE_DB_META + 1; i < OMNI_STORE_DB_COUNT; i++) {
        mrc = mdb_dbi_open(txn, omni_store_db_names[i], flags, &st->dbi[i]);
        if (mrc == MDB_NOTFOUND && flags == 0) {
            return OMNI_STORE_NOT_FOUND;
        }

        if (mrc != 0) {
            return omni_store_mdb(st, mrc, "cannot open a database", err);
        }
    }

    return OMNI_STORE_OK;
}


/*
 * Opens the databases of an existing store under a read transaction, so
 * that workers starting together do not queue for the write lock; a store
 * being created takes the write path.
 */
static int
omni_store_init(omni_store_t *st, char *err)
{
    int       rc, mrc, create;
    MDB_txn  *txn;

    mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);

    if (mrc == 0) {
        rc = omni_store_init_op(st, txn, NULL, err);

        if (rc == OMNI_STORE_OK) {
            /* a committed read transaction leaves its handles open */
            mrc = mdb_txn_commit(txn);
            if (mrc != 0) {
                return omni_store_mdb(st, mrc, "cannot open the databases",
                                      err);
            }

            return OMNI_STORE_OK;
        }

        mdb_txn_abort(txn);

        if (rc != OMNI_STORE_NOT_FOUND) {
            return rc;
        }
    }

    create = 1;

    return omni_store_write(st, omni_store_init_op, &create, err);
}


/*
 * Runs op in a write transaction and commits it.  When the map is full the
 * transaction is aborted, the map doubled (up to map_max) and op run again;
 * when another process grew the map its size is adopted first.
 */
static int
omni_store_write(omni_store_t *st, omni_store_op_pt op, void *data,
    char *err)
{
    int       i, rc, mrc;
    MDB_txn  *txn;

    for (i = 0; i < OMNI_STORE_WRITE_TRIES; i++) {
        mrc = mdb_txn_begin(st->env, NULL, 0, &txn);

        if (mrc == MDB_MAP_RESIZED) {
            rc = omni_store_remap(st, err);
            if (rc != OMNI_STORE_OK) {
                return rc;
            }

            continue;
        }

        if (mrc != 0) {
            return omni_store_mdb(st, mrc,
                                  "cannot begin a write transaction", err);
        }

        st->map_full = 0;

        rc = op(st, txn, data, err);

        if (rc != OMNI_STORE_OK) {
            mdb_txn_abort(txn);

            if (!st->map_full) {
                return rc;
            }

        } else {
            mrc = mdb_txn_commit(txn);
            if (mrc == 0) {
                return OMNI_STORE_OK;
            }

            if (mrc != MDB_MAP_FULL) {
                return omni_store_mdb(st, mrc, "cannot commit", err);
            }
        }

        rc = omni_store_grow(st, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    omni_store_err(err, "gave up writing to store %s after %d attempts",
                   st->dir, OMNI_STORE_WRITE_TRIES);

    return OMNI_STORE_ERROR;
}


static int
omni_store_grow(omni_store_t *st, char *err)
{
    int          mrc;
    size_t       next;
    MDB_envinfo  info;

    mrc = mdb_env_info(st->env, &info);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_env_info", err);
    }

    if (info.me_mapsize >= st->map_max) {
        omni_store_err(err, "store %s is full: its map reached the maximum "
                       "of %zu bytes", st->dir, st->map_max);
        return OMNI_STORE_FULL;
    }

    if (st->reading) {
        omni_store_err(err, "store %s is full at %zu bytes and cannot grow "
                       "while a read transaction is open", st->dir,
                       info.me_mapsize);
        return OMNI_STORE_FULL;
    }

    next = info.me_mapsize > st->map_max / 2 ? st->map_max
                                             : info.me_mapsize * 2;

    mrc = mdb_env_set_mapsize(st->env, next);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "cannot grow the map", err);
    }

    return OMNI_STORE_OK;
}


static int
omni_store_remap(omni_store_t *st, char *err)
{
    int  mrc;

    if (st->reading) {
        omni_store_err(err, "store %s grew in another process while a read "
                       "transaction is open here", st->dir);
        return OMNI_STORE_ERROR;
    }

    mrc = mdb_env_set_mapsize(st->env, 0);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "cannot adopt the new map size", err);
    }

    return OMNI_STORE_OK;
}


static int
omni_store_rbegin(omni_store_t *st, MDB_txn **txn, int *own, char *err)
{
    int  rc;

    if (st->reading) {
        *own = 0;
        *txn = st->rtxn;
        return OMNI_STORE_OK;
    }

    rc = omni_store_read_begin(st, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    *own = 1;
    *txn = st->rtxn;

    return OMNI_STORE_OK;
}


static void
omni_store_rend(omni_store_t *st, int own)
{
    if (own) {
        omni_store_read_end(st);
    }
}


/* sessions */

int
omni_store_session_get(omni_store_t *st, const char *id,
    omni_store_session_t *s, char *err)
{
    int       rc, own;
    MDB_txn  *txn;

    rc = omni_store_check_id("session id", id, OMNI_STORE_ID_MAX, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_session_load(st, txn, id, s, err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_session_put(omni_store_t *st, const omni_store_session_t *s,
    char *err)
{
    int                 rc;
    omni_session_put_t  ctx;

    rc = omni_session_check(s, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.in = s;

    return omni_store_write(st, omni_session_put_op, &ctx, err);
}


int
omni_store_session_touch(omni_store_t *st, const char *id,
    const char *channel, int64_t now, int64_t min_interval, int *wrote,
    omni_store_session_t *s, char *err)
{
    int                    rc, own;
    MDB_txn               *txn;
    omni_store_session_t  *cur, local;
    omni_session_touch_t   ctx;

    if (wrote != NULL) {
        *wrote = 0;
    }

    rc = omni_store_check_id("session id", id, OMNI_STORE_ID_MAX, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("channel", channel, OMNI_STORE_CHANNEL_MAX,
                                 err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("now", now, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("minimum interval", min_interval, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    cur = (s != NULL) ? s : &local;

    /* most touches change nothing: decide under the read lock first */
    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_session_load(st, txn, id, cur, err);

    omni_store_rend(st, own);

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (!omni_session_needs_write(cur, channel, now, min_interval)) {
        return OMNI_STORE_OK;
    }

    ctx.id = id;
    ctx.channel = channel;
    ctx.now = now;
    ctx.min_interval = min_interval;
    ctx.wrote = 0;
    ctx.s = cur;

    rc = omni_store_write(st, omni_session_touch_op, &ctx, err);

    if (rc == OMNI_STORE_OK && wrote != NULL) {
        *wrote = ctx.wrote;
    }

    return rc;
}


int
omni_store_session_delete(omni_store_t *st, const char *id, char *err)
{
    int  rc;

    rc = omni_store_check_id("session id", id, OMNI_STORE_ID_MAX, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    return omni_store_write(st, omni_session_delete_op, (void *) id, err);
}


int
omni_store_sessions_by_customer(omni_store_t *st, const char *customer,
    const char *after, omni_store_id_t *ids, size_t max, size_t *n,
    char *err)
{
    int          rc, own;
    MDB_txn     *txn;
    omni_skey_t  prefix;

    *n = 0;

    rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                             err);
    if (rc == OMNI_STORE_OK && after != NULL) {
        rc = omni_store_check_id("session id", after, OMNI_STORE_ID_MAX,
                                 err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_key_customer(omni_skey_init(&prefix), customer, OMNI_TAG_SESSION);

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, after,
                         after != NULL ? strlen(after) : 0, max,
                         omni_session_id_item, ids, n, err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_session_purge(omni_store_t *st, int64_t now,
    int64_t idle_timeout, int64_t absolute_timeout, size_t max_batch,
    size_t *purged, char *err)
{
    int                   rc;
    omni_session_purge_t  ctx;

    *purged = 0;

    rc = omni_store_check_time("now", now, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("idle timeout", idle_timeout, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("absolute timeout", absolute_timeout,
                                   err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (max_batch == 0 || (idle_timeout == 0 && absolute_timeout == 0)) {
        return OMNI_STORE_OK;
    }

    ctx.now = now;
    ctx.idle = idle_timeout;
    ctx.absolute = absolute_timeout;
    ctx.max = max_batch;
    ctx.purged = 0;

    rc = omni_store_write(st, omni_session_purge_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *purged = ctx.purged;
    }

    return rc;
}


int
omni_store_session_resume(omni_store_t *st, const char *customer,
    const char *channel, int64_t now, int64_t idle, int64_t absolute,
    int64_t touch_interval, const char *new_id, omni_store_session_t *s,
    int *created, char *err)
{
    int                    rc, own, found;
    MDB_txn               *txn;
    omni_session_resume_t  ctx;

    *created = 0;

    rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                             err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("channel", channel, OMNI_STORE_CHANNEL_MAX,
                                 err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("session id", new_id, OMNI_STORE_ID_MAX,
                                 err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("now", now, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("idle timeout", idle, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("absolute timeout", absolute, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("touch interval", touch_interval, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (idle == 0) {
        omni_store_err(err, "the idle timeout must be positive");
        return OMNI_STORE_INVALID;
    }

    ctx.customer = customer;
    ctx.channel = channel;
    ctx.now = now;
    ctx.idle = idle;
    ctx.absolute = absolute;
    ctx.touch = touch_interval;
    ctx.new_id = new_id;
    ctx.s = s;
    ctx.created = 0;

    /* a request within the touch interval of the last one only reads */
    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_session_find_live(st, txn, &ctx, &found, err);

    omni_store_rend(st, own);

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (found && !omni_session_needs_write(s, channel, now, touch_interval)) {
        return OMNI_STORE_OK;
    }

    rc = omni_store_write(st, omni_session_resume_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *created = ctx.created;
    }

    return rc;
}


int
omni_store_session_update(omni_store_t *st, const char *id,
    omni_store_update_pt update, void *data, omni_store_session_t *s,
    char *err)
{
    int                    rc;
    omni_store_session_t   local;
    omni_session_update_t  ctx;

    rc = omni_store_check_id("session id", id, OMNI_STORE_ID_MAX, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.id = id;
    ctx.update = update;
    ctx.data = data;
    ctx.s = (s != NULL) ? s : &local;

    return omni_store_write(st, omni_session_update_op, &ctx, err);
}


/*
 * The most recently seen live session of the customer, among the first
 * OMNI_STORE_RESUME_SCAN of them in id order: a customer has few at a
 * time and the purge removes the dead ones.
 */
static int
omni_session_find_live(omni_store_t *st, MDB_txn *txn,
    omni_session_resume_t *ctx, int *found, char *err)
{
    int                    rc;
    size_t                 i, n;
    omni_skey_t            prefix;
    omni_store_id_t        ids[OMNI_STORE_RESUME_SCAN];
    omni_store_session_t   cand;

    *found = 0;
    n = 0;

    omni_key_customer(omni_skey_init(&prefix), ctx->customer,
                      OMNI_TAG_SESSION);

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                         0, OMNI_STORE_RESUME_SCAN, omni_session_id_item,
                         ids, &n, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    for (i = 0; i < n; i++) {
        rc = omni_session_load(st, txn, ids[i].id, &cand, err);

        if (rc == OMNI_STORE_NOT_FOUND) {
            continue;
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (ctx->now - cand.last_seen >= ctx->idle
            || (ctx->absolute > 0 && ctx->now - cand.created >= ctx->absolute))
        {
            continue;
        }

        if (!*found || cand.last_seen > ctx->s->last_seen) {
            *ctx->s = cand;
            *found = 1;
        }
    }

    return OMNI_STORE_OK;
}


static int
omni_session_resume_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err)
{
    int                     rc, found;
    omni_store_session_t   *s;
    omni_session_resume_t  *ctx;

    ctx = data;
    s = ctx->s;
    ctx->created = 0;

    /* another worker may have created or touched it since the read */
    rc = omni_session_find_live(st, txn, ctx, &found, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (!found) {
        memset(s, 0, sizeof(omni_store_session_t));
        memcpy(s->id, ctx->new_id, strlen(ctx->new_id) + 1);
        memcpy(s->customer, ctx->customer, strlen(ctx->customer) + 1);
        memcpy(s->channels[0], ctx->channel, strlen(ctx->channel) + 1);
        s->nchannels = 1;
        s->created = ctx->now;
        s->last_seen = ctx->now;

        rc = omni_session_store(st, txn, s, err);
        if (rc == OMNI_STORE_OK) {
            rc = omni_session_index(st, txn, s, OMNI_IDX_ALL, 1, err);
        }

        if (rc == OMNI_STORE_OK) {
            ctx->created = 1;
        }

        return rc;
    }

    if (!omni_session_needs_write(s, ctx->channel, ctx->now, ctx->touch)) {
        return OMNI_STORE_OK;
    }

    /* a session past OMNI_STORE_CHANNELS channels just stops listing them */
    if (!omni_session_has_channel(s, ctx->channel)
        && s->nchannels < OMNI_STORE_CHANNELS)
    {
        memcpy(s->channels[s->nchannels], ctx->channel,
               strlen(ctx->channel) + 1);
        s->nchannels++;
    }

    if (ctx->now > s->last_seen) {
        rc = omni_session_index(st, txn, s, OMNI_IDX_SEEN, 0, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        s->last_seen = ctx->now;

        rc = omni_session_index(st, txn, s, OMNI_IDX_SEEN, 1, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    return omni_session_store(st, txn, s, err);
}


static int
omni_session_update_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err)
{
    int                     rc;
    char                    out[OMNI_STORE_CONTEXT_MAX + 1];
    size_t                  len;
    omni_store_session_t   *s;
    omni_session_update_t  *ctx;

    ctx = data;
    s = ctx->s;

    rc = omni_session_load(st, txn, ctx->id, s, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    s->context[s->context_len] = '\0';
    len = 0;

    rc = ctx->update(ctx->data, s->context, s->context_len, out, &len, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (len > OMNI_STORE_CONTEXT_MAX) {
        omni_store_err(err, "the context of session %s would be %zu bytes, "
                       "more than %d", ctx->id, len, OMNI_STORE_CONTEXT_MAX);
        return OMNI_STORE_INVALID;
    }

    memcpy(s->context, out, len);
    s->context[len] = '\0';
    s->context_len = len;

    return omni_session_store(st, txn, s, err);
}


static int
omni_session_check(const omni_store_session_t *s, char *err)
{
    int           rc;
    unsigned      i, j;
    json_t       *json;
    json_error_t  jerr;

    rc = omni_store_check_id("session id", s->id, OMNI_STORE_ID_MAX, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (s->customer[0] != '\0') {
        rc = omni_store_check_id("customer id", s->customer,
                                 OMNI_STORE_ID_MAX, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    rc = omni_store_check_time("created", s->created, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("last_seen", s->last_seen, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (s->nchannels > OMNI_STORE_CHANNELS) {
        omni_store_err(err, "session %s has more than %d channels", s->id,
                       OMNI_STORE_CHANNELS);
        return OMNI_STORE_INVALID;
    }

    for (i = 0; i < s->nchannels; i++) {
        rc = omni_store_check_id("channel", s->channels[i],
                                 OMNI_STORE_CHANNEL_MAX, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        for (j = 0; j < i; j++) {
            if (strcmp(s->channels[i], s->channels[j]) == 0) {
                omni_store_err(err, "session %s lists channel %s twice",
                               s->id, s->channels[i]);
                return OMNI_STORE_INVALID;
            }
        }
    }

    if (s->context_len == 0) {
        return OMNI_STORE_OK;
    }

    if (s->context_len > OMNI_STORE_CONTEXT_MAX) {
        omni_store_err(err, "context of session %s is longer than %d bytes",
                       s->id, OMNI_STORE_CONTEXT_MAX);
        return OMNI_STORE_INVALID;
    }

    if (memchr(s->context, '\0', s->context_len) != NULL) {
        omni_store_err(err, "context of session %s holds a NUL byte", s->id);
        return OMNI_STORE_INVALID;
    }

    json = json_loadb(s->context, s->context_len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (json == NULL) {
        omni_store_err(err, "context of session %s is not JSON: %s", s->id,
                       jerr.text);
        return OMNI_STORE_INVALID;
    }

    rc = json_is_object(json);
    json_decref(json);

    if (!rc) {
        omni_store_err(err, "context of session %s is not a JSON object",
                       s->id);
        return OMNI_STORE_INVALID;
    }

    return OMNI_STORE_OK;
}


static void
omni_session_encode(const omni_store_session_t *s, omni_sbuf_t *b)
{
    unsigned  i;

    omni_sbuf_u8(b, OMNI_STORE_REC_V1);
    omni_sbuf_u8(b, s->nchannels);
    omni_sbuf_be(b, s->context_len, 2);
    omni_sbuf_be(b, (uint64_t) s->created, 8);
    omni_sbuf_be(b, (uint64_t) s->last_seen, 8);
    omni_sbuf_lstr(b, s->customer);

    for (i = 0; i < s->nchannels; i++) {
        omni_sbuf_lstr(b, s->channels[i]);
    }

    omni_sbuf_add(b, s->context, s->context_len);
}


static int
omni_session_load(omni_store_t *st, MDB_txn *txn, const char *id,
    omni_store_session_t *s, char *err)
{
    int          rc;
    size_t       ctxlen;
    unsigned     i, version;
    MDB_val      val;
    omni_srd_t   r;
    omni_skey_t  key;

    omni_sbuf_str(omni_skey_init(&key), id);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_SESSIONS, &key.b, &val, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_store_err(err, "session %s not found", id);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    memset(s, 0, sizeof(omni_store_session_t));
    omni_srd_init(&r, &val);

    version = omni_srd_u8(&r);
    s->nchannels = omni_srd_u8(&r);
    ctxlen = (size_t) omni_srd_be(&r, 2);
    s->created = (int64_t) omni_srd_be(&r, 8);
    s->last_seen = (int64_t) omni_srd_be(&r, 8);
    omni_srd_lstr(&r, s->customer, OMNI_STORE_ID_MAX);

    if (version != OMNI_STORE_REC_V1 || s->nchannels > OMNI_STORE_CHANNELS) {
        r.bad = 1;
    }

    for (i = 0; !r.bad && i < s->nchannels; i++) {
        omni_srd_lstr(&r, s->channels[i], OMNI_STORE_CHANNEL_MAX);
    }

    omni_srd_bytes(&r, ctxlen, s->context, OMNI_STORE_CONTEXT_MAX);

    if (r.bad || r.pos != r.len) {
        omni_store_err(err, "session %s has a record this build cannot "
                       "read (version %u)", id, version);
        return OMNI_STORE_ERROR;
    }

    s->context_len = ctxlen;
    memcpy(s->id, id, strlen(id) + 1);

    return OMNI_STORE_OK;
}


static int
omni_session_index(omni_store_t *st, MDB_txn *txn,
    const omni_store_session_t *s, unsigned what, int add, char *err)
{
    int          i, rc, db;
    omni_skey_t  key;
    omni_sbuf_t *k;

    for (i = 0; i < 3; i++) {
        k = omni_skey_init(&key);

        if (i == 0 && (what & OMNI_IDX_CUSTOMER) && s->customer[0] != '\0') {
            omni_key_customer(k, s->customer, OMNI_TAG_SESSION);
            omni_sbuf_str(k, s->id);
            db = OMNI_STORE_DB_CUSTOMERS;

        } else if (i == 1 && (what & OMNI_IDX_SEEN)) {
            omni_key_expiry(k, OMNI_EXP_SEEN, s->last_seen, s->id);
            db = OMNI_STORE_DB_EXPIRY;

        } else if (i == 2 && (what & OMNI_IDX_CREATED)) {
            omni_key_expiry(k, OMNI_EXP_CREATED, s->created, s->id);
            db = OMNI_STORE_DB_EXPIRY;

        } else {
            continue;
        }

        if (add) {
            rc = omni_store_put(st, txn, db, k, "", 0, 0, err);

        } else {
            rc = omni_store_del(st, txn, db, k, err);
            if (rc == OMNI_STORE_NOT_FOUND) {
                rc = OMNI_STORE_OK;
            }
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    return OMNI_STORE_OK;
}


static int
omni_session_store(omni_store_t *st, MDB_txn *txn,
    const omni_store_session_t *s, char *err)
{
    unsigned char  data[OMNI_STORE_VAL_MAX];
    omni_sbuf_t    val;
    omni_skey_t    key;

    omni_sbuf_init(&val, data, sizeof(data));
    omni_session_encode(s, &val);

    if (val.overflow) {
        omni_store_err(err, "session %s does not fit a record", s->id);
        return OMNI_STORE_INVALID;
    }

    omni_sbuf_str(omni_skey_init(&key), s->id);

    return omni_store_put(st, txn, OMNI_STORE_DB_SESSIONS, &key.b, val.p,
                          val.len, 0, err);
}


static int
omni_session_has_channel(const omni_store_session_t *s, const char *channel)
{
    unsigned  i;

    for (i = 0; i < s->nchannels && i < OMNI_STORE_CHANNELS; i++) {
        if (strcmp(s->channels[i], channel) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
omni_session_needs_write(const omni_store_session_t *s, const char *channel,
    int64_t now, int64_t min_interval)
{
    if (!omni_session_has_channel(s, channel)) {
        return 1;
    }

    return now > s->last_seen && now - s->last_seen >= min_interval;
}


static int
omni_session_put_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                    rc;
    omni_session_put_t    *ctx;
    omni_store_session_t   old;

    ctx = data;

    rc = omni_session_load(st, txn, ctx->in->id, &old, err);

    if (rc == OMNI_STORE_OK) {
        rc = omni_session_index(st, txn, &old, OMNI_IDX_ALL, 0, err);

    } else if (rc == OMNI_STORE_NOT_FOUND) {
        rc = OMNI_STORE_OK;
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_session_store(st, txn, ctx->in, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_session_index(st, txn, ctx->in, OMNI_IDX_ALL, 1, err);
    }

    return rc;
}


static int
omni_session_touch_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                    rc;
    omni_store_session_t  *s;
    omni_session_touch_t  *ctx;

    ctx = data;
    s = ctx->s;
    ctx->wrote = 0;

    /* another process may have written since the read */
    rc = omni_session_load(st, txn, ctx->id, s, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (!omni_session_needs_write(s, ctx->channel, ctx->now,
                                  ctx->min_interval))
    {
        return OMNI_STORE_OK;
    }

    if (!omni_session_has_channel(s, ctx->channel)) {
        if (s->nchannels >= OMNI_STORE_CHANNELS) {
            omni_store_err(err, "session %s has seen %d channels already",
                           s->id, OMNI_STORE_CHANNELS);
            return OMNI_STORE_INVALID;
        }

        memcpy(s->channels[s->nchannels], ctx->channel,
               strlen(ctx->channel) + 1);
        s->nchannels++;
    }

    if (ctx->now > s->last_seen) {
        rc = omni_session_index(st, txn, s, OMNI_IDX_SEEN, 0, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        s->last_seen = ctx->now;

        rc = omni_session_index(st, txn, s, OMNI_IDX_SEEN, 1, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    rc = omni_session_store(st, txn, s, err);
    if (rc == OMNI_STORE_OK) {
        ctx->wrote = 1;
    }

    return rc;
}


static int
omni_session_delete_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    return omni_session_remove(st, txn, data, err);
}


static int
omni_session_remove(omni_store_t *st, MDB_txn *txn, const char *id,
    char *err)
{
    int                   rc;
    omni_skey_t           key;
    omni_store_session_t  s;

    rc = omni_session_load(st, txn, id, &s, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_session_index(st, txn, &s, OMNI_IDX_ALL, 0, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_sbuf_str(omni_skey_init(&key), id);

    return omni_store_del(st, txn, OMNI_STORE_DB_SESSIONS, &key.b, err);
}


static int
omni_session_purge_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                    rc;
    omni_session_purge_t  *ctx;

    ctx = data;
    ctx->purged = 0;

    if (ctx->idle > 0 && ctx->now >= ctx->idle) {
        rc = omni_session_purge_index(st, txn, ctx, OMNI_EXP_SEEN,
                                      ctx->now - ctx->idle, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    if (ctx->absolute > 0 && ctx->now >= ctx->absolute) {
        rc = omni_session_purge_index(st, txn, ctx, OMNI_EXP_CREATED,
                                      ctx->now - ctx->absolute, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    return OMNI_STORE_OK;
}


/*
 * Removes the sessions whose index time (last_seen or created) is at or
 * before cutoff, oldest first, until ctx->max are gone.  Index keys are
 * collected a chunk at a time and deleted after the cursor is closed.
 */
static int
omni_session_purge_index(omni_store_t *st, MDB_txn *txn,
    omni_session_purge_t *ctx, int tag, int64_t cutoff, char *err)
{
    int              rc, mrc;
    char             ids[OMNI_STORE_CHUNK][OMNI_STORE_ID_MAX + 1];
    size_t           i, n, idlen, budget;
    int64_t          times[OMNI_STORE_CHUNK];
    uint64_t         t;
    MDB_val          k, v;
    MDB_cursor      *cur;
    omni_skey_t      key;
    unsigned char    start;
    unsigned char   *p;

    start = (unsigned char) tag;

    /* every index key looked at costs one, whether a session went or not */
    budget = ctx->max - ctx->purged;

    while (budget > 0) {
        mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_EXPIRY], &cur);
        if (mrc != 0) {
            return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
        }

        k.mv_data = &start;
        k.mv_size = 1;
        n = 0;

        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

        while (mrc == 0 && n < OMNI_STORE_CHUNK && n < budget) {
            p = k.mv_data;

            if (k.mv_size == 0 || p[0] != start) {
                break;
            }

            idlen = k.mv_size - 9;

            if (k.mv_size < 10 || idlen > OMNI_STORE_ID_MAX) {
                mdb_cursor_close(cur);
                omni_store_err(err, "store %s holds a malformed expiry key",
                               st->dir);
                return OMNI_STORE_ERROR;
            }

            t = omni_be_get(p + 1, 8);
            if (t > (uint64_t) cutoff) {
                break;
            }

            times[n] = (int64_t) t;
            memcpy(ids[n], p + 9, idlen);
            ids[n][idlen] = '\0';
            n++;

            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }

        mdb_cursor_close(cur);

        if (mrc != 0 && mrc != MDB_NOTFOUND) {
            return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
        }

        if (n == 0) {
            break;
        }

        budget -= n;

        for (i = 0; i < n; i++) {
            /* the key found goes even if the record disagrees with it */
            omni_key_expiry(omni_skey_init(&key), tag, times[i], ids[i]);

            rc = omni_store_del(st, txn, OMNI_STORE_DB_EXPIRY, &key.b, err);

            if (rc == OMNI_STORE_NOT_FOUND) {
                /*
                 * Gone with a session purged earlier in this chunk, whose
                 * index held a stale entry too (an import over it)
                 */
                continue;
            }

            if (rc == OMNI_STORE_OK) {
                rc = omni_session_remove(st, txn, ids[i], err);

                if (rc == OMNI_STORE_OK) {
                    ctx->purged++;

                } else if (rc == OMNI_STORE_NOT_FOUND) {
                    rc = OMNI_STORE_OK;
                }
            }

            if (rc != OMNI_STORE_OK) {
                return rc;
            }
        }

        /* a chunk that ended short found everything due */
        if (n < OMNI_STORE_CHUNK && budget > 0) {
            break;
        }
    }

    return OMNI_STORE_OK;
}


static int
omni_session_id_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val)
{
    omni_store_id_t  *ids;

    (void) val;

    if (len == 0 || len > OMNI_STORE_ID_MAX) {
        return -1;
    }

    ids = out;
    memcpy(ids[i].id, rest, len);
    ids[i].id[len] = '\0';

    return 0;
}


/* identities and customers */

int
omni_store_identity_resolve(omni_store_t *st, const char *type,
    const char *value, char *customer, char *err)
{
    int          rc, own;
    char         direct[OMNI_STORE_ID_MAX + 1];
    MDB_txn     *txn;
    MDB_val      val;
    omni_skey_t  key;

    rc = omni_identity_check(type, value, omni_skey_init(&key), err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_get(st, txn, OMNI_STORE_DB_IDENTITIES, &key.b, &val,
                        err);

    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_store_err(err, "identity %s:%s is not linked", type, value);

    } else if (rc == OMNI_STORE_OK) {
        if (omni_identity_customer(&val, direct) != 0) {
            omni_store_err(err, "identity %s:%s has a record this build "
                           "cannot read", type, value);
            rc = OMNI_STORE_ERROR;

        } else {
            rc = omni_customer_follow(st, txn, direct, customer, err);
        }
    }

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_customer_claim(omni_store_t *st,
    const omni_store_identity_t *ids, size_t n, int create,
    const char *new_id, char *customer, int *created, char *err)
{
    int              rc, own;
    size_t           unknown;
    MDB_txn         *txn;
    omni_claim_op_t  ctx;

    *created = 0;
    customer[0] = '\0';

    if (create) {
        rc = omni_store_check_id("customer id", new_id, OMNI_STORE_ID_MAX,
                                 err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    if (n > OMNI_STORE_CLAIM_MAX) {
        omni_store_err(err, "%zu identities, more than %d", n,
                       OMNI_STORE_CLAIM_MAX);
        return OMNI_STORE_INVALID;
    }

    ctx.ids = ids;
    ctx.n = n;
    ctx.new_id = new_id;
    ctx.customer = customer;
    ctx.created = 0;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_claim_find(st, txn, &ctx, &unknown, err);

    omni_store_rend(st, own);

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (!create || unknown == 0) {
        if (customer[0] == '\0') {
            omni_store_err(err, "no identity is linked to a customer");
            return OMNI_STORE_NOT_FOUND;
        }

        return OMNI_STORE_OK;
    }

    rc = omni_store_write(st, omni_claim_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *created = ctx.created;
    }

    return rc;
}


/*
 * Resolves the identities in order: the first that resolves names the
 * customer; *unknown counts those linked to nobody.  Identities the
 * store cannot hold (a space in a value, too long) are skipped: a
 * channel may see them, the map does not keep them.
 */
static int
omni_claim_find(omni_store_t *st, MDB_txn *txn, omni_claim_op_t *ctx,
    size_t *unknown, char *err)
{
    int          rc;
    char         direct[OMNI_STORE_ID_MAX + 1];
    char         ignored[OMNI_STORE_ERRLEN];
    size_t       i;
    MDB_val      val;
    omni_skey_t  key;

    *unknown = 0;
    ctx->customer[0] = '\0';

    for (i = 0; i < ctx->n; i++) {
        if (omni_identity_check(ctx->ids[i].type, ctx->ids[i].value,
                                omni_skey_init(&key), ignored)
            != OMNI_STORE_OK)
        {
            continue;
        }

        rc = omni_store_get(st, txn, OMNI_STORE_DB_IDENTITIES, &key.b, &val,
                            err);

        if (rc == OMNI_STORE_NOT_FOUND) {
            (*unknown)++;
            continue;
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (ctx->customer[0] != '\0') {
            continue;
        }

        if (omni_identity_customer(&val, direct) != 0) {
            omni_store_err(err, "identity %s:%s has a record this build "
                           "cannot read", ctx->ids[i].type,
                           ctx->ids[i].value);
            return OMNI_STORE_ERROR;
        }

        rc = omni_customer_follow(st, txn, direct, ctx->customer, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    return OMNI_STORE_OK;
}


static int
omni_claim_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                  rc;
    char                 ignored[OMNI_STORE_ERRLEN];
    size_t               i, unknown;
    MDB_val              val;
    omni_skey_t          key;
    omni_claim_op_t     *ctx;
    omni_identity_op_t   link;

    ctx = data;
    ctx->created = 0;

    /* resolve again: another process may have linked them meanwhile */
    rc = omni_claim_find(st, txn, ctx, &unknown, err);
    if (rc != OMNI_STORE_OK || unknown == 0) {
        return rc;
    }

    if (ctx->customer[0] == '\0') {
        memcpy(ctx->customer, ctx->new_id, strlen(ctx->new_id) + 1);
        ctx->created = 1;
    }

    for (i = 0; i < ctx->n; i++) {
        if (omni_identity_check(ctx->ids[i].type, ctx->ids[i].value,
                                omni_skey_init(&key), ignored)
            != OMNI_STORE_OK)
        {
            continue;
        }

        rc = omni_store_get(st, txn, OMNI_STORE_DB_IDENTITIES, &key.b, &val,
                            err);

        if (rc == OMNI_STORE_OK) {
            continue;
        }

        if (rc != OMNI_STORE_NOT_FOUND) {
            return rc;
        }

        link.type = ctx->ids[i].type;
        link.value = ctx->ids[i].value;
        link.customer = ctx->customer;

        rc = omni_identity_link_op(st, txn, &link, err);

        /* a customer at OMNI_STORE_IDENTITIES_MAX keeps what it has */
        if (rc == OMNI_STORE_INVALID) {
            break;
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    return OMNI_STORE_OK;
}


int
omni_store_identity_link(omni_store_t *st, const char *type,
    const char *value, const char *customer, char *err)
{
    int                 rc;
    omni_skey_t         key;
    omni_identity_op_t  ctx;

    rc = omni_identity_check(type, value, omni_skey_init(&key), err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                                 err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.type = type;
    ctx.value = value;
    ctx.customer = customer;

    return omni_store_write(st, omni_identity_link_op, &ctx, err);
}


int
omni_store_identity_unlink(omni_store_t *st, const char *type,
    const char *value, char *err)
{
    int                 rc;
    omni_skey_t         key;
    omni_identity_op_t  ctx;

    rc = omni_identity_check(type, value, omni_skey_init(&key), err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.type = type;
    ctx.value = value;
    ctx.customer = NULL;

    return omni_store_write(st, omni_identity_unlink_op, &ctx, err);
}


int
omni_store_identities_by_customer(omni_store_t *st, const char *customer,
    const omni_store_identity_t *after, omni_store_identity_t *ids,
    size_t max, size_t *n, char *err)
{
    int          rc, own;
    MDB_txn     *txn;
    omni_skey_t  prefix, start;

    *n = 0;

    rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                             err);
    if (rc == OMNI_STORE_OK && after != NULL) {
        rc = omni_identity_check(after->type, after->value,
                                 omni_skey_init(&start), err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_key_customer(omni_skey_init(&prefix), customer, OMNI_TAG_IDENTITY);

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b,
                         after != NULL ? start.b.p : NULL,
                         after != NULL ? start.b.len : 0, max,
                         omni_identity_item, ids, n, err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_customer_resolve(omni_store_t *st, const char *id,
    char *survivor, char *err)
{
    int       rc, own;
    MDB_txn  *txn;

    rc = omni_store_check_id("customer id", id, OMNI_STORE_ID_MAX, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_customer_follow(st, txn, id, survivor, err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_customer_merge(omni_store_t *st, const char *from,
    const char *to, int64_t now, char *err)
{
    int              rc;
    omni_merge_op_t  ctx;

    rc = omni_store_check_id("customer id", from, OMNI_STORE_ID_MAX, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("customer id", to, OMNI_STORE_ID_MAX, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("now", now, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (strcmp(from, to) == 0) {
        omni_store_err(err, "cannot merge customer %s into itself", from);
        return OMNI_STORE_INVALID;
    }

    ctx.from = from;
    ctx.to = to;
    ctx.now = now;

    return omni_store_write(st, omni_merge_op, &ctx, err);
}


/*
 * Follows "merged into" records from id, at most OMNI_STORE_CHAIN_MAX
 * hops, so that a damaged store with a loop still answers.
 */
static int
omni_customer_follow(omni_store_t *st, MDB_txn *txn, const char *id,
    char *survivor, char *err)
{
    int          rc, hop;
    char         cur[OMNI_STORE_ID_MAX + 1];
    MDB_val      val;
    omni_srd_t   r;
    omni_skey_t  key;

    memcpy(cur, id, strlen(id) + 1);

    for (hop = 0; hop <= OMNI_STORE_CHAIN_MAX; hop++) {
        omni_key_customer(omni_skey_init(&key), cur, OMNI_TAG_MERGED);

        rc = omni_store_get(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, &val,
                            err);

        if (rc == OMNI_STORE_NOT_FOUND) {
            memcpy(survivor, cur, strlen(cur) + 1);
            return OMNI_STORE_OK;
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (hop == OMNI_STORE_CHAIN_MAX) {
            break;
        }

        omni_srd_init(&r, &val);

        if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
            r.bad = 1;
        }

        (void) omni_srd_be(&r, 8);
        omni_srd_bytes(&r, r.len - (r.pos < r.len ? r.pos : r.len), cur,
                       OMNI_STORE_ID_MAX);

        if (r.bad || cur[0] == '\0') {
            omni_store_err(err, "customer %s has a merge record this build "
                           "cannot read", id);
            return OMNI_STORE_ERROR;
        }
    }

    omni_store_err(err, "customer %s: merge chain longer than %d hops", id,
                   OMNI_STORE_CHAIN_MAX);

    return OMNI_STORE_ERROR;
}


/*
 * Whether the store holds any record of customer: an identity, a session,
 * a journey, a merge either way.  Customers have no record of their own.
 */
static int
omni_customer_known(omni_store_t *st, MDB_txn *txn, const char *customer,
    int *known, char *err)
{
    int          rc;
    size_t       n;
    omni_skey_t  prefix;

    omni_sbuf_str(omni_skey_init(&prefix), customer);
    omni_sbuf_u8(&prefix.b, '\0');

    n = 0;

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                         0, 1, omni_store_count_item, NULL, &n, err);

    *known = (n != 0);

    return rc;
}


/* counts the <customer>\0<tag> records, stopping at max */
static int
omni_customer_count(omni_store_t *st, MDB_txn *txn, const char *customer,
    int tag, size_t max, size_t *n, char *err)
{
    omni_skey_t  prefix;

    *n = 0;
    omni_key_customer(omni_skey_init(&prefix), customer, tag);

    return omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                           0, max, omni_store_count_item, NULL, n, err);
}


static int
omni_identity_check(const char *type, const char *value, omni_sbuf_t *key,
    char *err)
{
    int  rc;

    rc = omni_store_check_id("identity type", type, OMNI_STORE_TYPE_MAX,
                             err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_text("identity value", value,
                                   OMNI_STORE_VALUE_MAX, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_sbuf_str(key, type);
    omni_sbuf_u8(key, ':');
    omni_sbuf_str(key, value);

    return OMNI_STORE_OK;
}


static int
omni_identity_customer(const MDB_val *v, char *customer)
{
    const unsigned char  *p;

    p = v->mv_data;

    if (v->mv_size < 2 || v->mv_size > OMNI_STORE_ID_MAX + 1
        || p[0] != OMNI_STORE_REC_V1)
    {
        return -1;
    }

    memcpy(customer, p + 1, v->mv_size - 1);
    customer[v->mv_size - 1] = '\0';

    return 0;
}


static int
omni_identity_link_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                  rc;
    char                 target[OMNI_STORE_ID_MAX + 1];
    char                 old[OMNI_STORE_ID_MAX + 1];
    size_t               n;
    MDB_val              val;
    omni_skey_t          key, ikey;
    unsigned char        rec[OMNI_STORE_ID_MAX + 1];
    omni_sbuf_t          b;
    omni_identity_op_t  *ctx;

    ctx = data;

    rc = omni_customer_follow(st, txn, ctx->customer, target, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    (void) omni_identity_check(ctx->type, ctx->value, omni_skey_init(&ikey),
                               err);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_IDENTITIES, &ikey.b, &val,
                        err);

    if (rc == OMNI_STORE_OK) {
        if (omni_identity_customer(&val, old) != 0) {
            omni_store_err(err, "identity %s:%s has a record this build "
                           "cannot read", ctx->type, ctx->value);
            return OMNI_STORE_ERROR;
        }

        if (strcmp(old, target) == 0) {
            return OMNI_STORE_OK;
        }

        /* the identity moves: drop it from its former customer */
        omni_key_customer(omni_skey_init(&key), old, OMNI_TAG_IDENTITY);
        omni_sbuf_add(&key.b, ikey.b.p, ikey.b.len);

        rc = omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, err);
        if (rc == OMNI_STORE_NOT_FOUND) {
            rc = OMNI_STORE_OK;
        }

    } else if (rc == OMNI_STORE_NOT_FOUND) {
        rc = OMNI_STORE_OK;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_customer_count(st, txn, target, OMNI_TAG_IDENTITY,
                             OMNI_STORE_IDENTITIES_MAX, &n, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (n >= OMNI_STORE_IDENTITIES_MAX) {
        omni_store_err(err, "customer %s has %d identities already", target,
                       OMNI_STORE_IDENTITIES_MAX);
        return OMNI_STORE_INVALID;
    }

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_str(&b, target);

    rc = omni_store_put(st, txn, OMNI_STORE_DB_IDENTITIES, &ikey.b, b.p,
                        b.len, 0, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_key_customer(omni_skey_init(&key), target, OMNI_TAG_IDENTITY);
    omni_sbuf_add(&key.b, ikey.b.p, ikey.b.len);

    return omni_store_put(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, "", 0, 0,
                          err);
}


static int
omni_identity_unlink_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err)
{
    int                  rc;
    char                 old[OMNI_STORE_ID_MAX + 1];
    MDB_val              val;
    omni_skey_t          key, ikey;
    omni_identity_op_t  *ctx;

    ctx = data;

    (void) omni_identity_check(ctx->type, ctx->value, omni_skey_init(&ikey),
                               err);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_IDENTITIES, &ikey.b, &val,
                        err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_store_err(err, "identity %s:%s is not linked", ctx->type,
                       ctx->value);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (omni_identity_customer(&val, old) != 0) {
        omni_store_err(err, "identity %s:%s has a record this build cannot "
                       "read", ctx->type, ctx->value);
        return OMNI_STORE_ERROR;
    }

    rc = omni_store_del(st, txn, OMNI_STORE_DB_IDENTITIES, &ikey.b, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_key_customer(omni_skey_init(&key), old, OMNI_TAG_IDENTITY);
    omni_sbuf_add(&key.b, ikey.b.p, ikey.b.len);

    rc = omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, err);

    return rc == OMNI_STORE_NOT_FOUND ? OMNI_STORE_OK : rc;
}


static int
omni_identity_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val)
{
    const unsigned char    *colon;
    omni_store_identity_t  *ids;

    (void) val;

    ids = out;
    colon = memchr(rest, ':', len);

    if (colon == NULL || colon == rest
        || (size_t) (colon - rest) > OMNI_STORE_TYPE_MAX
        || len - (size_t) (colon - rest) - 1 > OMNI_STORE_VALUE_MAX)
    {
        return -1;
    }

    memcpy(ids[i].type, rest, colon - rest);
    ids[i].type[colon - rest] = '\0';
    memcpy(ids[i].value, colon + 1, len - (colon - rest) - 1);
    ids[i].value[len - (colon - rest) - 1] = '\0';

    return 0;
}


static int
omni_merge_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int               rc, known;
    char              target[OMNI_STORE_ID_MAX + 1];
    size_t            nids, nmerged, n;
    omni_item_t      *ids, *merged;
    omni_merge_op_t  *ctx;
    omni_skey_t       prefix;

    ctx = data;

    rc = omni_customer_follow(st, txn, ctx->from, target, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (strcmp(target, ctx->from) != 0) {
        omni_store_err(err, "customer %s is merged into %s already",
                       ctx->from, target);
        return OMNI_STORE_INVALID;
    }

    /*
     * Both ends must be customers the store knows: a mistyped id would
     * otherwise take the identities, or leave the real customer apart
     * while the merge was reported done.
     */
    rc = omni_customer_known(st, txn, ctx->from, &known, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (!known) {
        omni_store_err(err, "customer %s is unknown", ctx->from);
        return OMNI_STORE_NOT_FOUND;
    }

    rc = omni_customer_follow(st, txn, ctx->to, target, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (strcmp(target, ctx->from) == 0) {
        omni_store_err(err, "merging customer %s into %s would make a loop: "
                       "%s resolves to %s", ctx->from, ctx->to, ctx->to,
                       ctx->from);
        return OMNI_STORE_INVALID;
    }

    /* the end of the chain, which a damaged store may lack */
    rc = omni_customer_known(st, txn, target, &known, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (!known) {
        if (strcmp(target, ctx->to) == 0) {
            omni_store_err(err, "customer %s is unknown", ctx->to);

        } else {
            omni_store_err(err, "customer %s, which %s was merged into, is "
                           "unknown", target, ctx->to);
        }

        return OMNI_STORE_NOT_FOUND;
    }

    ids = calloc(OMNI_STORE_IDENTITIES_MAX + OMNI_STORE_MERGED_MAX + 2,
                 sizeof(omni_item_t));
    if (ids == NULL) {
        omni_store_err(err, "out of memory merging customer %s", ctx->from);
        return OMNI_STORE_ERROR;
    }

    merged = ids + OMNI_STORE_IDENTITIES_MAX + 1;
    nids = 0;
    nmerged = 0;

    /* what moves is read first: the writes go to the same database */
    omni_key_customer(omni_skey_init(&prefix), ctx->from, OMNI_TAG_IDENTITY);

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                         0, OMNI_STORE_IDENTITIES_MAX + 1,
                         omni_store_collect_item, ids, &nids, err);
    if (rc != OMNI_STORE_OK) {
        goto done;
    }

    rc = omni_customer_count(st, txn, target, OMNI_TAG_IDENTITY,
                             OMNI_STORE_IDENTITIES_MAX + 1, &n, err);
    if (rc != OMNI_STORE_OK) {
        goto done;
    }

    if (nids + n > OMNI_STORE_IDENTITIES_MAX) {
        omni_store_err(err, "merging customer %s into %s would give %s more "
                       "than %d identities", ctx->from, target, target,
                       OMNI_STORE_IDENTITIES_MAX);
        rc = OMNI_STORE_INVALID;
        goto done;
    }

    omni_key_customer(omni_skey_init(&prefix), ctx->from, OMNI_TAG_FROM);

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_CUSTOMERS, &prefix.b, NULL,
                         0, OMNI_STORE_MERGED_MAX + 1,
                         omni_store_collect_item, merged, &nmerged, err);
    if (rc != OMNI_STORE_OK) {
        goto done;
    }

    rc = omni_customer_count(st, txn, target, OMNI_TAG_FROM,
                             OMNI_STORE_MERGED_MAX + 1, &n, err);
    if (rc != OMNI_STORE_OK) {
        goto done;
    }

    if (nmerged + n + 1 > OMNI_STORE_MERGED_MAX) {
        omni_store_err(err, "merging customer %s into %s would merge more "
                       "than %d customers into %s", ctx->from, target,
                       OMNI_STORE_MERGED_MAX, target);
        rc = OMNI_STORE_INVALID;
        goto done;
    }

    rc = omni_merge_move(st, txn, ctx->from, target, ctx->now, ids, nids,
                         merged, nmerged, err);

done:

    free(ids);

    return rc;
}


/*
 * Points every identity of from, and every customer merged into from, at
 * to, then records from as merged into to: no chain grows past one hop.
 */
static int
omni_merge_move(omni_store_t *st, MDB_txn *txn, const char *from,
    const char *to, int64_t now, omni_item_t *ids, size_t nids,
    omni_item_t *merged, size_t nmerged, char *err)
{
    int            rc;
    char           id[OMNI_STORE_ID_MAX + 1];
    size_t         i;
    omni_sbuf_t    b;
    omni_skey_t    key, ikey;
    unsigned char  rec[OMNI_STORE_ID_MAX + 9];

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_str(&b, to);

    for (i = 0; i < nids; i++) {
        omni_sbuf_init(&ikey.b, ikey.data, sizeof(ikey.data));
        omni_sbuf_add(&ikey.b, ids[i].data, ids[i].len);

        rc = omni_store_put(st, txn, OMNI_STORE_DB_IDENTITIES, &ikey.b, b.p,
                            b.len, 0, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        omni_key_customer(omni_skey_init(&key), to, OMNI_TAG_IDENTITY);
        omni_sbuf_add(&key.b, ids[i].data, ids[i].len);

        rc = omni_store_put(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, "", 0,
                            0, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        omni_key_customer(omni_skey_init(&key), from, OMNI_TAG_IDENTITY);
        omni_sbuf_add(&key.b, ids[i].data, ids[i].len);

        rc = omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_be(&b, (uint64_t) now, 8);
    omni_sbuf_str(&b, to);

    for (i = 0; i <= nmerged; i++) {
        if (i < nmerged) {
            if (merged[i].len == 0 || merged[i].len > OMNI_STORE_ID_MAX) {
                omni_store_err(err, "customer %s has a malformed merge "
                               "record", from);
                return OMNI_STORE_ERROR;
            }

            memcpy(id, merged[i].data, merged[i].len);
            id[merged[i].len] = '\0';

        } else {
            memcpy(id, from, strlen(from) + 1);
        }

        omni_key_customer(omni_skey_init(&key), id, OMNI_TAG_MERGED);

        rc = omni_store_put(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, b.p,
                            b.len, 0, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        omni_key_customer(omni_skey_init(&key), to, OMNI_TAG_FROM);
        omni_sbuf_str(&key.b, id);

        rc = omni_store_put(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, "", 0,
                            0, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (i < nmerged) {
            omni_key_customer(omni_skey_init(&key), from, OMNI_TAG_FROM);
            omni_sbuf_str(&key.b, id);

            rc = omni_store_del(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b,
                                err);
            if (rc != OMNI_STORE_OK) {
                return rc;
            }
        }
    }

    return OMNI_STORE_OK;
}


/* revocations */

int
omni_store_revoke_jti(omni_store_t *st, const char *jti, int64_t expires_at,
    char *err)
{
    int               rc;
    omni_skey_t       key;
    omni_revoke_op_t  ctx;

    rc = omni_revoke_key(OMNI_STORE_REVOKED_JTI, jti, omni_skey_init(&key),
                         err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("expires_at", expires_at, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.kind = OMNI_STORE_REVOKED_JTI;
    ctx.value = jti;
    ctx.time = expires_at;

    return omni_store_write(st, omni_revoke_op, &ctx, err);
}


int
omni_store_revoke_session(omni_store_t *st, const char *id, int64_t now,
    char *err)
{
    int               rc;
    omni_skey_t       key;
    omni_revoke_op_t  ctx;

    rc = omni_revoke_key(OMNI_STORE_REVOKED_SESSION, id,
                         omni_skey_init(&key), err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("now", now, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.kind = OMNI_STORE_REVOKED_SESSION;
    ctx.value = id;
    ctx.time = now;

    return omni_store_write(st, omni_revoke_op, &ctx, err);
}


int
omni_store_revoke_subject_before(omni_store_t *st, const char *sub,
    int64_t before, char *err)
{
    int               rc;
    omni_skey_t       key;
    omni_revoke_op_t  ctx;

    rc = omni_revoke_key(OMNI_STORE_REVOKED_SUBJECT, sub,
                         omni_skey_init(&key), err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("before", before, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.kind = OMNI_STORE_REVOKED_SUBJECT;
    ctx.value = sub;
    ctx.time = before;

    return omni_store_write(st, omni_revoke_op, &ctx, err);
}


int
omni_store_is_revoked(omni_store_t *st, const char *jti, const char *session,
    const char *sub, int64_t iat, int *rule, char *err)
{
    int           rc, own, kind;
    int64_t       before;
    MDB_txn      *txn;
    MDB_val       val;
    const char   *value;
    omni_skey_t   key;

    *rule = OMNI_STORE_REVOKED_NONE;

    /* every argument is checked before anything is read */
    for (kind = OMNI_STORE_REVOKED_JTI; kind <= OMNI_STORE_REVOKED_SUBJECT;
         kind++)
    {
        value = (kind == OMNI_STORE_REVOKED_JTI) ? jti
                : (kind == OMNI_STORE_REVOKED_SESSION) ? session : sub;

        if (value != NULL) {
            rc = omni_revoke_key(kind, value, omni_skey_init(&key), err);
            if (rc != OMNI_STORE_OK) {
                return rc;
            }
        }
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    for (kind = OMNI_STORE_REVOKED_JTI; kind <= OMNI_STORE_REVOKED_SUBJECT;
         kind++)
    {
        value = (kind == OMNI_STORE_REVOKED_JTI) ? jti
                : (kind == OMNI_STORE_REVOKED_SESSION) ? session : sub;

        if (value == NULL) {
            continue;
        }

        (void) omni_revoke_key(kind, value, omni_skey_init(&key), err);

        rc = omni_store_get(st, txn, OMNI_STORE_DB_REVOCATIONS, &key.b, &val,
                            err);

        if (rc == OMNI_STORE_NOT_FOUND) {
            continue;
        }

        if (rc != OMNI_STORE_OK) {
            break;
        }

        if (kind != OMNI_STORE_REVOKED_SUBJECT) {
            *rule = kind;
            break;
        }

        if (omni_revoke_time(&val, &before) != 0) {
            omni_store_err(err, "revocation of subject %s has a record this "
                           "build cannot read", sub);
            rc = OMNI_STORE_ERROR;
            break;
        }

        /* a token without iat cannot show it came after the cut */
        if (iat < 0 || iat < before) {
            *rule = kind;
        }
    }

    omni_store_rend(st, own);

    return (rc == OMNI_STORE_NOT_FOUND) ? OMNI_STORE_OK : rc;
}


int
omni_store_revocations_list(omni_store_t *st, int kind, const char *after,
    omni_store_revocation_t *out, size_t max, size_t *n, char *err)
{
    int          rc, own;
    size_t       i;
    MDB_txn     *txn;
    omni_skey_t  prefix, start;

    *n = 0;

    rc = omni_revoke_key(kind, "-", omni_skey_init(&prefix), err);
    if (rc == OMNI_STORE_OK && after != NULL) {
        rc = omni_revoke_key(kind, after, omni_skey_init(&start), err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    prefix.b.len = 2;                  /* "j:", "s:" or "u:" */

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_scan(st, txn, OMNI_STORE_DB_REVOCATIONS, &prefix.b,
                         after != NULL ? start.b.p + 2 : NULL,
                         after != NULL ? start.b.len - 2 : 0, max,
                         omni_revocation_item, out, n, err);

    omni_store_rend(st, own);

    for (i = 0; i < *n; i++) {
        out[i].kind = kind;
    }

    return rc;
}


int
omni_store_revocation_remove(omni_store_t *st, int kind, const char *value,
    char *err)
{
    int               rc;
    omni_skey_t       key;
    omni_revoke_op_t  ctx;

    rc = omni_revoke_key(kind, value, omni_skey_init(&key), err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.kind = kind;
    ctx.value = value;
    ctx.time = 0;

    return omni_store_write(st, omni_revoke_remove_op, &ctx, err);
}


int
omni_store_revocations_purge(omni_store_t *st, int64_t now,
    size_t max_batch, size_t *purged, char *err)
{
    int                  rc;
    omni_revoke_purge_t  ctx;

    *purged = 0;

    rc = omni_store_check_time("now", now, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (max_batch == 0) {
        return OMNI_STORE_OK;
    }

    ctx.now = now;
    ctx.max = max_batch;
    ctx.purged = 0;

    rc = omni_store_write(st, omni_revoke_purge_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *purged = ctx.purged;
    }

    return rc;
}


static int
omni_revoke_key(int kind, const char *value, omni_sbuf_t *key, char *err)
{
    int  rc, tag;

    switch (kind) {
    case OMNI_STORE_REVOKED_JTI:
        tag = 'j';
        rc = omni_store_check_text("jti", value, OMNI_STORE_VALUE_MAX, err);
        break;
    case OMNI_STORE_REVOKED_SESSION:
        tag = 's';
        rc = omni_store_check_id("session id", value, OMNI_STORE_ID_MAX,
                                 err);
        break;
    case OMNI_STORE_REVOKED_SUBJECT:
        tag = 'u';
        rc = omni_store_check_text("subject", value, OMNI_STORE_VALUE_MAX,
                                   err);
        break;
    default:
        omni_store_err(err, "unknown revocation kind %d", kind);
        return OMNI_STORE_INVALID;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_sbuf_u8(key, tag);
    omni_sbuf_u8(key, ':');
    omni_sbuf_str(key, value);

    return OMNI_STORE_OK;
}


static int
omni_revoke_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                rc;
    int64_t            old;
    MDB_val            val;
    omni_sbuf_t        b;
    omni_skey_t        key, ekey;
    unsigned char      rec[9];
    omni_revoke_op_t  *ctx;

    ctx = data;

    (void) omni_revoke_key(ctx->kind, ctx->value, omni_skey_init(&key), err);

    if (ctx->kind == OMNI_STORE_REVOKED_JTI) {
        rc = omni_store_get(st, txn, OMNI_STORE_DB_REVOCATIONS, &key.b, &val,
                            err);

        if (rc == OMNI_STORE_OK) {
            if (omni_revoke_time(&val, &old) != 0) {
                omni_store_err(err, "revocation of jti %s has a record this "
                               "build cannot read", ctx->value);
                return OMNI_STORE_ERROR;
            }

            if (old > 0) {
                omni_key_expiry(omni_skey_init(&ekey), OMNI_EXP_JTI, old,
                                ctx->value);

                rc = omni_store_del(st, txn, OMNI_STORE_DB_EXPIRY, &ekey.b,
                                    err);
            }
        }

        if (rc == OMNI_STORE_NOT_FOUND) {
            rc = OMNI_STORE_OK;
        }

        if (rc == OMNI_STORE_OK && ctx->time > 0) {
            omni_key_expiry(omni_skey_init(&ekey), OMNI_EXP_JTI, ctx->time,
                            ctx->value);

            rc = omni_store_put(st, txn, OMNI_STORE_DB_EXPIRY, &ekey.b, "",
                                0, 0, err);
        }

        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    if (ctx->kind == OMNI_STORE_REVOKED_SESSION) {
        /* a revoked session ends: no channel can resume it */
        rc = omni_session_remove(st, txn, ctx->value, err);
        if (rc != OMNI_STORE_OK && rc != OMNI_STORE_NOT_FOUND) {
            return rc;
        }
    }

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_be(&b, (uint64_t) ctx->time, 8);

    return omni_store_put(st, txn, OMNI_STORE_DB_REVOCATIONS, &key.b, b.p,
                          b.len, 0, err);
}


static int
omni_revoke_remove_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                rc;
    int64_t            old;
    MDB_val            val;
    omni_skey_t        key, ekey;
    omni_revoke_op_t  *ctx;

    ctx = data;

    (void) omni_revoke_key(ctx->kind, ctx->value, omni_skey_init(&key), err);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_REVOCATIONS, &key.b, &val,
                        err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_store_err(err, "no revocation of %s %s", ctx->kind
                       == OMNI_STORE_REVOKED_JTI ? "jti"
                       : ctx->kind == OMNI_STORE_REVOKED_SESSION ? "session"
                       : "subject", ctx->value);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (ctx->kind == OMNI_STORE_REVOKED_JTI
        && omni_revoke_time(&val, &old) == 0 && old > 0)
    {
        omni_key_expiry(omni_skey_init(&ekey), OMNI_EXP_JTI, old, ctx->value);

        rc = omni_store_del(st, txn, OMNI_STORE_DB_EXPIRY, &ekey.b, err);
        if (rc != OMNI_STORE_OK && rc != OMNI_STORE_NOT_FOUND) {
            return rc;
        }
    }

    return omni_store_del(st, txn, OMNI_STORE_DB_REVOCATIONS, &key.b, err);
}


static int
omni_revoke_purge_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                   rc, mrc;
    size_t                i, n, len, budget;
    int64_t               times[OMNI_STORE_CHUNK], t;
    MDB_val               k, v;
    MDB_cursor           *cur;
    omni_skey_t           key;
    omni_item_t          *items;
    unsigned char         start, *p;
    omni_revoke_purge_t  *ctx;

    ctx = data;
    ctx->purged = 0;
    start = OMNI_EXP_JTI;
    budget = ctx->max;

    items = calloc(OMNI_STORE_CHUNK, sizeof(omni_item_t));
    if (items == NULL) {
        omni_store_err(err, "out of memory purging revocations");
        return OMNI_STORE_ERROR;
    }

    rc = OMNI_STORE_OK;

    while (budget > 0) {
        mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_EXPIRY], &cur);
        if (mrc != 0) {
            rc = omni_store_mdb(st, mrc, "mdb_cursor_open", err);
            break;
        }

        k.mv_data = &start;
        k.mv_size = 1;
        n = 0;

        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

        while (mrc == 0 && n < OMNI_STORE_CHUNK && n < budget) {
            p = k.mv_data;

            if (k.mv_size == 0 || p[0] != start) {
                break;
            }

            len = k.mv_size - 9;

            if (k.mv_size < 10 || len > OMNI_STORE_VALUE_MAX) {
                omni_store_err(err, "store %s holds a malformed expiry key",
                               st->dir);
                rc = OMNI_STORE_ERROR;
                break;
            }

            t = (int64_t) omni_be_get(p + 1, 8);
            if (t > ctx->now) {
                break;
            }

            times[n] = t;
            items[n].len = len;
            memcpy(items[n].data, p + 9, len);
            n++;

            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }

        mdb_cursor_close(cur);

        if (rc != OMNI_STORE_OK) {
            break;
        }

        if (mrc != 0 && mrc != MDB_NOTFOUND) {
            rc = omni_store_mdb(st, mrc, "mdb_cursor_get", err);
            break;
        }

        budget -= n;

        for (i = 0; rc == OMNI_STORE_OK && i < n; i++) {
            omni_sbuf_init(&key.b, key.data, sizeof(key.data));
            omni_sbuf_u8(&key.b, OMNI_EXP_JTI);
            omni_sbuf_be(&key.b, (uint64_t) times[i], 8);
            omni_sbuf_add(&key.b, items[i].data, items[i].len);

            rc = omni_store_del(st, txn, OMNI_STORE_DB_EXPIRY, &key.b, err);
            if (rc != OMNI_STORE_OK) {
                break;
            }

            omni_sbuf_init(&key.b, key.data, sizeof(key.data));
            omni_sbuf_u8(&key.b, 'j');
            omni_sbuf_u8(&key.b, ':');
            omni_sbuf_add(&key.b, items[i].data, items[i].len);

            /* the index names the expiry the record holds: both go */
            rc = omni_store_del(st, txn, OMNI_STORE_DB_REVOCATIONS, &key.b,
                                err);
            if (rc == OMNI_STORE_OK) {
                ctx->purged++;

            } else if (rc == OMNI_STORE_NOT_FOUND) {
                rc = OMNI_STORE_OK;
            }
        }

        if (rc != OMNI_STORE_OK || n < OMNI_STORE_CHUNK) {
            break;
        }
    }

    free(items);

    return rc;
}


static int
omni_revoke_time(const MDB_val *v, int64_t *t)
{
    const unsigned char  *p;

    p = v->mv_data;

    if (v->mv_size != 9 || p[0] != OMNI_STORE_REC_V1) {
        return -1;
    }

    *t = (int64_t) omni_be_get(p + 1, 8);

    return 0;
}


static int
omni_revocation_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val)
{
    omni_store_revocation_t  *r;

    r = out;

    if (len == 0 || len > OMNI_STORE_VALUE_MAX
        || omni_revoke_time(val, &r[i].time) != 0)
    {
        return -1;
    }

    memcpy(r[i].value, rest, len);
    r[i].value[len] = '\0';

    return 0;
}


/* journeys */

int
omni_store_journey_append(omni_store_t *st, const char *customer,
    omni_store_journey_t *ev, size_t max_count, int64_t max_age_ms,
    char *err)
{
    int                rc;
    omni_journey_op_t  ctx;

    rc = omni_journey_check(customer, ev, err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("maximum age", max_age_ms, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.customer = customer;
    ctx.ev = ev;
    ctx.max_count = max_count;
    ctx.max_age = max_age_ms;

    return omni_store_write(st, omni_journey_append_op, &ctx, err);
}


int
omni_store_journey_append_many(omni_store_t *st,
    omni_store_journey_item_t *items, size_t n, size_t max_count,
    int64_t max_age_ms, size_t *skipped, char *err)
{
    int                  rc;
    omni_journey_many_t  ctx;

    if (skipped != NULL) {
        *skipped = 0;
    }

    rc = omni_store_check_time("maximum age", max_age_ms, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (n == 0) {
        return OMNI_STORE_OK;
    }

    ctx.items = items;
    ctx.n = n;
    ctx.max_count = max_count;
    ctx.max_age = max_age_ms;
    ctx.skipped = 0;

    rc = omni_store_write(st, omni_journey_many_op, &ctx, err);

    if (rc == OMNI_STORE_OK && skipped != NULL) {
        *skipped = ctx.skipped;
    }

    return rc;
}


static int
omni_journey_many_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                   rc;
    char                  ignored[OMNI_STORE_ERRLEN];
    size_t                i, run;
    omni_journey_many_t  *ctx;

    ctx = data;
    ctx->skipped = 0;

    /* events that cannot be stored are left out, at the front of a run */
    for (i = 0; i < ctx->n; i += run) {
        if (omni_journey_check(ctx->items[i].customer, ctx->items[i].ev,
                               ignored)
            != OMNI_STORE_OK)
        {
            ctx->skipped++;
            run = 1;
            continue;
        }

        /* a run: consecutive valid events of the same customer */
        for (run = 1; i + run < ctx->n; run++) {
            if (strcmp(ctx->items[i + run].customer, ctx->items[i].customer)
                != 0
                || omni_journey_check(ctx->items[i + run].customer,
                                      ctx->items[i + run].ev, ignored)
                   != OMNI_STORE_OK)
            {
                break;
            }
        }

        rc = omni_journey_append_run(st, txn, ctx->items + i, run,
                                     ctx->max_count, ctx->max_age, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    return OMNI_STORE_OK;
}


int
omni_store_journey_read(omni_store_t *st, const char *customer,
    const omni_store_cursor_t *before, omni_store_journey_t *out, size_t max,
    size_t *n, char *err)
{
    int          rc, own;
    MDB_txn     *txn;
    omni_skey_t  prefix, start;

    *n = 0;

    rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                             err);
    if (rc == OMNI_STORE_OK && before != NULL) {
        rc = omni_store_check_time("cursor time", before->time_ms, err);
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_sbuf_str(omni_skey_init(&prefix), customer);
    omni_sbuf_u8(&prefix.b, '\0');

    /* the first key past the ones wanted: the event before, or the end */
    omni_skey_init(&start);

    if (before != NULL) {
        omni_key_journey(&start.b, customer, before->time_ms, before->seq);

    } else {
        omni_sbuf_add(&start.b, prefix.b.p, prefix.b.len);
        omni_sbuf_u8(&start.b, 0xff);
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_store_walk(st, txn, OMNI_STORE_DB_JOURNEYS, &prefix.b,
                         &start.b, 1, MDB_PREV, max, omni_journey_item, out,
                         n, err);

    omni_store_rend(st, own);

    return rc;
}


static int
omni_journey_check(const char *customer, const omni_store_journey_t *ev,
    char *err)
{
    int  rc;

    rc = omni_store_check_id("customer id", customer, OMNI_STORE_ID_MAX,
                             err);
    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_time("event time", ev->time_ms, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_id("channel", ev->channel,
                                 OMNI_STORE_CHANNEL_MAX, err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_text("action", ev->action, OMNI_STORE_NAME_MAX,
                                   err);
    }

    if (rc == OMNI_STORE_OK) {
        rc = omni_store_check_text("outcome", ev->outcome,
                                   OMNI_STORE_NAME_MAX, err);
    }

    if (rc == OMNI_STORE_OK && ev->session[0] != '\0') {
        rc = omni_store_check_id("session id", ev->session,
                                 OMNI_STORE_ID_MAX, err);
    }

    return rc;
}


static int
omni_journey_append_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err)
{
    omni_journey_op_t          *ctx;
    omni_store_journey_item_t   item;

    ctx = data;
    item.customer = ctx->customer;
    item.ev = ctx->ev;

    return omni_journey_append_run(st, txn, &item, 1, ctx->max_count,
                                   ctx->max_age, err);
}


/*
 * Appends events of one customer: each gets its sequence number and its
 * record; the customer's event count is read, the oldest events trimmed
 * and the count written once for the whole run.
 */
static int
omni_journey_append_run(omni_store_t *st, MDB_txn *txn,
    omni_store_journey_item_t *items, size_t n, size_t max_count,
    int64_t max_age, char *err)
{
    int                    rc;
    size_t                 i, deleted;
    int64_t                cutoff, last_time;
    uint32_t               seq, count, before;
    MDB_val                val;
    omni_sbuf_t            b;
    omni_skey_t            key, prefix;
    const char            *customer;
    unsigned char          rec[1 + 4 * (1 + OMNI_STORE_NAME_MAX)];
    omni_store_journey_t  *ev;

    customer = items[0].customer;

    omni_sbuf_str(omni_skey_init(&prefix), customer);
    omni_sbuf_u8(&prefix.b, '\0');

    last_time = -1;
    seq = 0;

    for (i = 0; i < n; i++) {
        ev = items[i].ev;

        /* events in the same millisecond follow each other in the run */
        if (ev->time_ms == last_time && seq < UINT32_MAX) {
            seq++;

        } else {
            rc = omni_journey_seq(st, txn, &prefix.b, ev->time_ms, &seq,
                                  err);
            if (rc != OMNI_STORE_OK) {
                return rc;
            }
        }

        last_time = ev->time_ms;

        omni_sbuf_init(&b, rec, sizeof(rec));
        omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
        omni_sbuf_lstr(&b, ev->channel);
        omni_sbuf_lstr(&b, ev->action);
        omni_sbuf_lstr(&b, ev->outcome);
        omni_sbuf_lstr(&b, ev->session);

        omni_key_journey(omni_skey_init(&key), customer, ev->time_ms, seq);

        rc = omni_store_put(st, txn, OMNI_STORE_DB_JOURNEYS, &key.b, b.p,
                            b.len, MDB_NOOVERWRITE, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        ev->seq = seq;
    }

    /* the event count lives with the customer */
    omni_key_customer(omni_skey_init(&key), customer, OMNI_TAG_JOURNEY);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, &val, err);

    if (rc == OMNI_STORE_OK) {
        if (val.mv_size != 5
            || ((unsigned char *) val.mv_data)[0] != OMNI_STORE_REC_V1)
        {
            omni_store_err(err, "journey count of customer %s has a record "
                           "this build cannot read", customer);
            return OMNI_STORE_ERROR;
        }

        count = (uint32_t) omni_be_get((unsigned char *) val.mv_data + 1, 4);

    } else if (rc == OMNI_STORE_NOT_FOUND) {
        count = 0;

    } else {
        return rc;
    }

    count = (count > UINT32_MAX - n) ? UINT32_MAX : count + (uint32_t) n;

    cutoff = -1;

    if (max_age > 0 && items[n - 1].ev->time_ms >= max_age) {
        cutoff = items[n - 1].ev->time_ms - max_age;
    }

    /* each round deletes at most OMNI_STORE_TRIM_BATCH: one per event */
    for (deleted = 0; deleted < n * OMNI_STORE_TRIM_BATCH; /* void */) {
        before = count;

        rc = omni_journey_trim(st, txn, &prefix.b, cutoff, max_count, &count,
                               err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }

        if (before - count < OMNI_STORE_TRIM_BATCH) {
            break;
        }

        deleted += before - count;
    }

    omni_sbuf_init(&b, rec, sizeof(rec));
    omni_sbuf_u8(&b, OMNI_STORE_REC_V1);
    omni_sbuf_be(&b, count, 4);

    return omni_store_put(st, txn, OMNI_STORE_DB_CUSTOMERS, &key.b, b.p,
                          b.len, 0, err);
}


/* the next sequence number for an event of the customer at time t */
static int
omni_journey_seq(omni_store_t *st, MDB_txn *txn, const omni_sbuf_t *prefix,
    int64_t t, uint32_t *seq, char *err)
{
    int            mrc;
    MDB_val        k, v;
    MDB_cursor    *cur;
    omni_skey_t    last;
    unsigned char *p;

    *seq = 0;

    omni_sbuf_init(&last.b, last.data, sizeof(last.data));
    omni_sbuf_add(&last.b, prefix->p, prefix->len);
    omni_sbuf_be(&last.b, (uint64_t) t, 8);
    omni_sbuf_u8(&last.b, '\0');
    omni_sbuf_be(&last.b, UINT32_MAX, 4);

    mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_JOURNEYS], &cur);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    k.mv_data = last.b.p;
    k.mv_size = last.b.len;

    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

    if (mrc == 0) {
        if (k.mv_size == last.b.len
            && memcmp(k.mv_data, last.b.p, last.b.len) == 0)
        {
            mdb_cursor_close(cur);
            omni_store_err(err, "too many journey events in one millisecond");
            return OMNI_STORE_INVALID;
        }

        mrc = mdb_cursor_get(cur, &k, &v, MDB_PREV);

    } else if (mrc == MDB_NOTFOUND) {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    }

    /* the same customer and millisecond: one more than the last */
    if (mrc == 0 && k.mv_size == last.b.len
        && memcmp(k.mv_data, last.b.p, last.b.len - 4) == 0)
    {
        p = k.mv_data;
        *seq = (uint32_t) omni_be_get(p + k.mv_size - 4, 4) + 1;
    }

    mdb_cursor_close(cur);

    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
    }

    return OMNI_STORE_OK;
}


/*
 * Deletes the oldest events of the customer, at most OMNI_STORE_TRIM_BATCH
 * of them, while more than max_count remain (0: no bound) or their time
 * is at or before cutoff (-1: no bound).
 */
static int
omni_journey_trim(omni_store_t *st, MDB_txn *txn, const omni_sbuf_t *prefix,
    int64_t cutoff, size_t max_count, uint32_t *count, char *err)
{
    int          rc, mrc;
    size_t       i, n, len;
    int64_t      t;
    MDB_val      k, v;
    MDB_cursor  *cur;
    omni_skey_t  keys[OMNI_STORE_TRIM_BATCH];

    if (max_count == 0 && cutoff < 0) {
        return OMNI_STORE_OK;
    }

    mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_JOURNEYS], &cur);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    k.mv_data = prefix->p;
    k.mv_size = prefix->len;
    n = 0;
    len = prefix->len + OMNI_STORE_JKEY_EXTRA - 1;

    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

    while (mrc == 0 && n < OMNI_STORE_TRIM_BATCH) {
        if (k.mv_size != len
            || memcmp(k.mv_data, prefix->p, prefix->len) != 0)
        {
            break;
        }

        t = (int64_t) omni_be_get((unsigned char *) k.mv_data + prefix->len,
                                  8);

        if (!((max_count > 0 && *count - n > max_count)
              || (cutoff >= 0 && t <= cutoff)))
        {
            break;
        }

        omni_sbuf_init(&keys[n].b, keys[n].data, sizeof(keys[n].data));
        omni_sbuf_add(&keys[n].b, k.mv_data, k.mv_size);
        n++;

        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }

    mdb_cursor_close(cur);

    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
    }

    for (i = 0; i < n; i++) {
        rc = omni_store_del(st, txn, OMNI_STORE_DB_JOURNEYS, &keys[i].b, err);
        if (rc != OMNI_STORE_OK) {
            return rc;
        }
    }

    *count = (*count > n) ? *count - (uint32_t) n : 0;

    return OMNI_STORE_OK;
}


/* rest: be64 time, \0, be32 seq; out: the events */
static int
omni_journey_item(void *out, size_t i, const unsigned char *p, size_t len,
    const MDB_val *v)
{
    omni_srd_t             r;
    omni_store_journey_t  *ev;

    if (len != OMNI_STORE_JKEY_EXTRA - 1) {
        return -1;
    }

    ev = (omni_store_journey_t *) out + i;

    memset(ev, 0, sizeof(omni_store_journey_t));
    ev->time_ms = (int64_t) omni_be_get(p, 8);
    ev->seq = (uint32_t) omni_be_get(p + 9, 4);

    omni_srd_init(&r, v);

    if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        return -1;
    }

    omni_srd_lstr(&r, ev->channel, OMNI_STORE_CHANNEL_MAX);
    omni_srd_lstr(&r, ev->action, OMNI_STORE_NAME_MAX);
    omni_srd_lstr(&r, ev->outcome, OMNI_STORE_NAME_MAX);
    omni_srd_lstr(&r, ev->session, OMNI_STORE_ID_MAX);

    return (r.bad || r.pos != r.len) ? -1 : 0;
}


/* policy revisions */

int
omni_store_policy_current(omni_store_t *st, uint32_t *rev, char *err)
{
    int       rc, own;
    MDB_txn  *txn;

    *rev = 0;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    rc = omni_policy_current_get(st, txn, rev, err);

    omni_store_rend(st, own);

    return rc;
}


int
omni_store_policy_get(omni_store_t *st, uint32_t rev, char **json,
    size_t *len, omni_store_policy_info_t *info, char *err)
{
    int                        rc, own;
    char                      *buf;
    size_t                     offset;
    MDB_txn                   *txn;
    MDB_val                    val;
    omni_skey_t                key;
    omni_store_policy_info_t   pi;

    *json = NULL;
    *len = 0;

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (rev == 0) {
        rc = omni_policy_current_get(st, txn, &rev, err);

        if (rc == OMNI_STORE_OK && rev == 0) {
            omni_store_err(err, "the store has no policy");
            rc = OMNI_STORE_NOT_FOUND;
        }

        if (rc != OMNI_STORE_OK) {
            omni_store_rend(st, own);
            return rc;
        }
    }

    omni_key_policy(omni_skey_init(&key), rev);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_META, &key.b, &val, err);
    if (rc == OMNI_STORE_NOT_FOUND) {
        omni_store_err(err, "no policy revision %" PRIu32, rev);
    }

    if (rc != OMNI_STORE_OK) {
        omni_store_rend(st, own);
        return rc;
    }

    if (omni_policy_decode(rev, &val, &pi, &offset) != 0) {
        omni_store_rend(st, own);
        omni_store_err(err, "policy revision %" PRIu32 " has a record this "
                       "build cannot read", rev);
        return OMNI_STORE_ERROR;
    }

    buf = malloc(pi.len + 1);
    if (buf == NULL) {
        omni_store_rend(st, own);
        omni_store_err(err, "out of memory reading policy revision %" PRIu32,
                       rev);
        return OMNI_STORE_ERROR;
    }

    memcpy(buf, (const unsigned char *) val.mv_data + offset, pi.len);
    buf[pi.len] = '\0';

    omni_store_rend(st, own);

    *json = buf;
    *len = pi.len;

    if (info != NULL) {
        *info = pi;
    }

    return OMNI_STORE_OK;
}


int
omni_store_policy_put(omni_store_t *st, const char *json, size_t len,
    const char *author, const char *note, int64_t now, uint32_t *rev,
    char *err)
{
    int               rc;
    omni_policy_op_t  ctx;

    *rev = 0;

    if (note == NULL) {
        note = "";
    }

    rc = omni_policy_check(json, len, author, note, now, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.json = json;
    ctx.len = len;
    ctx.author = author;
    ctx.note = note;
    ctx.now = now;
    ctx.seed = 0;
    ctx.rev = 0;

    rc = omni_store_write(st, omni_policy_write_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *rev = ctx.rev;
    }

    return rc;
}


int
omni_store_policy_seed(omni_store_t *st, const char *json, size_t len,
    const char *author, int64_t now, uint32_t *rev, char *err)
{
    int               rc;
    omni_policy_op_t  ctx;

    *rev = 0;

    rc = omni_policy_check(json, len, author, OMNI_POLICY_SEED_NOTE, now,
                           err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx.json = json;
    ctx.len = len;
    ctx.author = author;
    ctx.note = OMNI_POLICY_SEED_NOTE;
    ctx.now = now;
    ctx.seed = 1;
    ctx.rev = 0;

    rc = omni_store_write(st, omni_policy_write_op, &ctx, err);

    if (rc == OMNI_STORE_OK) {
        *rev = ctx.rev;
    }

    return rc;
}


int
omni_store_policy_list(omni_store_t *st, uint32_t before,
    omni_store_policy_info_t *out, size_t max, size_t *n, char *err)
{
    int           rc, own;
    MDB_txn      *txn;
    omni_skey_t   prefix, start;

    *n = 0;

    if (max == 0) {
        return OMNI_STORE_OK;
    }

    /* the first key past the ones wanted: revision before, or the end */
    omni_skey_init(&start);

    if (before != 0) {
        omni_key_policy(&start.b, before);

    } else {
        omni_sbuf_str(&start.b, OMNI_POLICY_REV);
        omni_sbuf_be(&start.b, UINT64_MAX, 5);
    }

    rc = omni_store_rbegin(st, &txn, &own, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    omni_sbuf_str(omni_skey_init(&prefix), OMNI_POLICY_REV);

    rc = omni_store_walk(st, txn, OMNI_STORE_DB_META, &prefix.b, &start.b, 1,
                         MDB_PREV, max, omni_policy_info_item, out, n, err);

    omni_store_rend(st, own);

    return rc;
}


static int
omni_policy_check(const char *json, size_t len, const char *author,
    const char *note, int64_t now, char *err)
{
    int             rc;
    size_t          i;
    unsigned char   c;

    if (json == NULL || len == 0) {
        omni_store_err(err, "the policy is empty");
        return OMNI_STORE_INVALID;
    }

    if (len > OMNI_STORE_POLICY_MAX) {
        omni_store_err(err, "the policy is %zu bytes, more than the %d "
                       "allowed", len, OMNI_STORE_POLICY_MAX);
        return OMNI_STORE_INVALID;
    }

    rc = omni_store_check_text("author", author, OMNI_STORE_VALUE_MAX, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    /* a note is a phrase: spaces pass, control characters do not */
    for (i = 0; i <= OMNI_STORE_VALUE_MAX && note[i] != '\0'; i++) {
        c = (unsigned char) note[i];

        if (c < ' ' || c == 0x7f) {
            break;
        }
    }

    if (i > OMNI_STORE_VALUE_MAX || note[i] != '\0') {
        omni_store_err(err, "note must be at most %d bytes without control "
                       "characters", OMNI_STORE_VALUE_MAX);
        return OMNI_STORE_INVALID;
    }

    return omni_store_check_time("time", now, err);
}


static void
omni_key_policy(omni_sbuf_t *k, uint32_t rev)
{
    omni_sbuf_str(k, OMNI_POLICY_REV);
    omni_sbuf_be(k, rev, 4);
}


/* the current revision, 0 when there is none */
static int
omni_policy_current_get(omni_store_t *st, MDB_txn *txn, uint32_t *rev,
    char *err)
{
    int          rc;
    MDB_val      val;
    omni_skey_t  key;

    *rev = 0;

    omni_sbuf_str(omni_skey_init(&key), OMNI_POLICY_CURRENT);

    rc = omni_store_get(st, txn, OMNI_STORE_DB_META, &key.b, &val, err);

    if (rc == OMNI_STORE_NOT_FOUND) {
        return OMNI_STORE_OK;
    }

    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (val.mv_size != 4) {
        omni_store_err(err, "the current policy revision in store %s has a "
                       "record this build cannot read", st->dir);
        return OMNI_STORE_ERROR;
    }

    *rev = (uint32_t) omni_be_get(val.mv_data, 4);

    return OMNI_STORE_OK;
}


/* the highest revision written, 0 when there is none */
static int
omni_policy_last(omni_store_t *st, MDB_txn *txn, uint32_t *rev, char *err)
{
    int            mrc;
    MDB_val        k, v;
    MDB_cursor    *cur;
    omni_skey_t    end;
    unsigned char *p;

    *rev = 0;

    omni_sbuf_str(omni_skey_init(&end), OMNI_POLICY_REV);
    omni_sbuf_be(&end.b, UINT64_MAX, 5);

    mrc = mdb_cursor_open(txn, st->dbi[OMNI_STORE_DB_META], &cur);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    k.mv_data = end.b.p;
    k.mv_size = end.b.len;

    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

    if (mrc == 0) {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_PREV);

    } else if (mrc == MDB_NOTFOUND) {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    }

    if (mrc == 0 && k.mv_size == OMNI_POLICY_REV_LEN + 4
        && memcmp(k.mv_data, OMNI_POLICY_REV, OMNI_POLICY_REV_LEN) == 0)
    {
        p = k.mv_data;
        *rev = (uint32_t) omni_be_get(p + OMNI_POLICY_REV_LEN, 4);
    }

    mdb_cursor_close(cur);

    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
    }

    return OMNI_STORE_OK;
}


/*
 * Writes the revision after the highest one (the current one, or one
 * written past it by an import) and makes it current; a seed writes
 * nothing when a revision is current already.  The value is reserved and
 * filled in place: a policy is not copied once more.
 */
static int
omni_policy_write_op(omni_store_t *st, MDB_txn *txn, void *data, char *err)
{
    int                mrc, rc;
    uint32_t           cur, last, next;
    MDB_val            k, v;
    omni_sbuf_t        hdr;
    omni_skey_t        key;
    unsigned char      head[1 + 8 + 2 * (1 + OMNI_STORE_VALUE_MAX)];
    unsigned char      rec[4];
    omni_policy_op_t  *ctx;

    ctx = data;
    ctx->rev = 0;

    rc = omni_policy_current_get(st, txn, &cur, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (ctx->seed && cur != 0) {
        return OMNI_STORE_OK;
    }

    rc = omni_policy_last(st, txn, &last, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    if (last < cur) {
        last = cur;
    }

    if (last == UINT32_MAX) {
        omni_store_err(err, "store %s has no policy revision number left",
                       st->dir);
        return OMNI_STORE_INVALID;
    }

    next = last + 1;

    omni_sbuf_init(&hdr, head, sizeof(head));
    omni_sbuf_u8(&hdr, OMNI_STORE_REC_V1);
    omni_sbuf_be(&hdr, (uint64_t) ctx->now, 8);
    omni_sbuf_lstr(&hdr, ctx->author);
    omni_sbuf_lstr(&hdr, ctx->note);

    omni_key_policy(omni_skey_init(&key), next);

    k.mv_data = key.b.p;
    k.mv_size = key.b.len;
    v.mv_data = NULL;
    v.mv_size = hdr.len + ctx->len;

    mrc = mdb_put(txn, st->dbi[OMNI_STORE_DB_META], &k, &v,
                  MDB_RESERVE | MDB_NOOVERWRITE);

    if (mrc == MDB_KEYEXIST) {
        omni_store_err(err, "policy revision %" PRIu32 " exists already in "
                       "store %s", next, st->dir);
        return OMNI_STORE_ERROR;
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_put", err);
    }

    memcpy(v.mv_data, hdr.p, hdr.len);
    memcpy((unsigned char *) v.mv_data + hdr.len, ctx->json, ctx->len);

    omni_sbuf_init(&hdr, rec, sizeof(rec));
    omni_sbuf_be(&hdr, next, 4);
    omni_sbuf_str(omni_skey_init(&key), OMNI_POLICY_CURRENT);

    rc = omni_store_put(st, txn, OMNI_STORE_DB_META, &key.b, hdr.p, hdr.len,
                        0, err);
    if (rc != OMNI_STORE_OK) {
        return rc;
    }

    ctx->rev = next;

    return OMNI_STORE_OK;
}


/* the info of a revision's record and where its policy starts */
static int
omni_policy_decode(uint32_t rev, const MDB_val *v,
    omni_store_policy_info_t *info, size_t *offset)
{
    omni_srd_t  r;

    memset(info, 0, sizeof(omni_store_policy_info_t));
    info->rev = rev;

    omni_srd_init(&r, v);

    if (omni_srd_u8(&r) != OMNI_STORE_REC_V1) {
        return -1;
    }

    info->time = (int64_t) omni_srd_be(&r, 8);
    omni_srd_lstr(&r, info->author, OMNI_STORE_VALUE_MAX);
    omni_srd_lstr(&r, info->note, OMNI_STORE_VALUE_MAX);

    if (r.bad || info->time < 0 || info->author[0] == '\0') {
        return -1;
    }

    *offset = r.pos;
    info->len = r.len - r.pos;

    return 0;
}


/* rest: be32 revision; out: the infos */
static int
omni_policy_info_item(void *out, size_t i, const unsigned char *p,
    size_t len, const MDB_val *v)
{
    size_t  offset;

    if (len != 4) {
        return -1;
    }

    return omni_policy_decode((uint32_t) omni_be_get(p, 4), v,
                              (omni_store_policy_info_t *) out + i, &offset);
}


/* low level */

/* The MDB_val of a built key, refused when the key did not fit. */

static int
omni_store_mdb_key(const omni_sbuf_t *key, int db, MDB_val *k, char *err)
{
    if (key->overflow) {
        omni_store_err(err, "key too long for %s", omni_store_db_names[db]);
        return OMNI_STORE_INVALID;
    }

    k->mv_data = key->p;
    k->mv_size = key->len;

    return OMNI_STORE_OK;
}


static int
omni_store_get(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *key, MDB_val *val, char *err)
{
    int      mrc;
    MDB_val  k;

    if (omni_store_mdb_key(key, db, &k, err) != OMNI_STORE_OK) {
        return OMNI_STORE_INVALID;
    }

    mrc = mdb_get(txn, st->dbi[db], &k, val);

    if (mrc == MDB_NOTFOUND) {
        omni_store_err(err, "not found");
        return OMNI_STORE_NOT_FOUND;
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_get", err);
    }

    return OMNI_STORE_OK;
}


static int
omni_store_put(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *key, const void *data, size_t len, unsigned flags,
    char *err)
{
    int      mrc;
    MDB_val  k, v;

    if (omni_store_mdb_key(key, db, &k, err) != OMNI_STORE_OK) {
        return OMNI_STORE_INVALID;
    }
    v.mv_data = (void *) data;
    v.mv_size = len;

    mrc = mdb_put(txn, st->dbi[db], &k, &v, flags);

    if (mrc == MDB_KEYEXIST) {
        omni_store_err(err, "key exists in %s", omni_store_db_names[db]);
        return OMNI_STORE_INVALID;
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_put", err);
    }

    return OMNI_STORE_OK;
}


static int
omni_store_del(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *key, char *err)
{
    int      mrc;
    MDB_val  k;

    if (omni_store_mdb_key(key, db, &k, err) != OMNI_STORE_OK) {
        return OMNI_STORE_INVALID;
    }

    mrc = mdb_del(txn, st->dbi[db], &k, NULL);

    if (mrc == MDB_NOTFOUND) {
        omni_store_err(err, "not found");
        return OMNI_STORE_NOT_FOUND;
    }

    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_del", err);
    }

    return OMNI_STORE_OK;
}


/*
 * Calls item for up to max keys that start with prefix, in key order,
 * from the first key after prefix + after (or from prefix); *n counts them.
 */
static int
omni_store_scan(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *prefix, const void *after, size_t alen, size_t max,
    omni_store_item_pt item, void *out, size_t *n, char *err)
{
    omni_skey_t  start;

    omni_sbuf_init(&start.b, start.data, sizeof(start.data));
    omni_sbuf_add(&start.b, prefix->p, prefix->len);

    if (after != NULL) {
        omni_sbuf_add(&start.b, after, alen);
    }

    return omni_store_walk(st, txn, db, prefix, &start.b, after != NULL,
                           MDB_NEXT, max, item, out, n, err);
}


/*
 * Calls item for up to max keys that start with prefix, from start on in
 * direction op: MDB_NEXT from the first key at or past start (past it
 * when exclusive), MDB_PREV from the last key before start.
 */
static int
omni_store_walk(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *prefix, const omni_sbuf_t *start, int exclusive,
    MDB_cursor_op op, size_t max, omni_store_item_pt item, void *out,
    size_t *n, char *err)
{
    int          mrc;
    MDB_val      k, v;
    MDB_cursor  *cur;

    if (prefix->overflow || start->overflow) {
        omni_store_err(err, "key too long for %s", omni_store_db_names[db]);
        return OMNI_STORE_INVALID;
    }

    if (max == 0) {
        return OMNI_STORE_OK;
    }

    mrc = mdb_cursor_open(txn, st->dbi[db], &cur);
    if (mrc != 0) {
        return omni_store_mdb(st, mrc, "mdb_cursor_open", err);
    }

    k.mv_data = start->p;
    k.mv_size = start->len;

    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

    if (op == MDB_PREV) {
        if (mrc == 0) {
            mrc = mdb_cursor_get(cur, &k, &v, MDB_PREV);

        } else if (mrc == MDB_NOTFOUND) {
            mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        }

    } else if (mrc == 0 && exclusive && k.mv_size == start->len
               && memcmp(k.mv_data, start->p, start->len) == 0)
    {
        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }

    while (mrc == 0 && *n < max) {
        if (k.mv_size < prefix->len
            || memcmp(k.mv_data, prefix->p, prefix->len) != 0)
        {
            break;
        }

        if (item(out, *n, (unsigned char *) k.mv_data + prefix->len,
                 k.mv_size - prefix->len, &v)
            != 0)
        {
            mdb_cursor_close(cur);
            omni_store_err(err, "%s in %s holds a record this build cannot "
                           "read", omni_store_db_names[db], st->dir);
            return OMNI_STORE_ERROR;
        }

        (*n)++;

        mrc = mdb_cursor_get(cur, &k, &v, op);
    }

    mdb_cursor_close(cur);

    if (mrc != 0 && mrc != MDB_NOTFOUND) {
        return omni_store_mdb(st, mrc, "mdb_cursor_get", err);
    }

    return OMNI_STORE_OK;
}


static int
omni_store_count_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val)
{
    (void) out;
    (void) i;
    (void) rest;
    (void) len;
    (void) val;

    return 0;
}


static int
omni_store_collect_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val)
{
    omni_item_t  *items;

    (void) val;

    if (len > OMNI_STORE_IKEY_MAX) {
        return -1;
    }

    items = out;
    items[i].len = len;
    memcpy(items[i].data, rest, len);

    return 0;
}


static void
omni_store_err(char *err, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(err, OMNI_STORE_ERRLEN, fmt, args);
    va_end(args);
}


static int
omni_store_mdb(omni_store_t *st, int mrc, const char *what, char *err)
{
    if (mrc == MDB_MAP_FULL) {
        st->map_full = 1;
        omni_store_err(err, "store %s is full", st->dir);
        return OMNI_STORE_FULL;
    }

    omni_store_err(err, "%s in store %s: %s", what, st->dir,
                   mdb_strerror(mrc));

    return OMNI_STORE_ERROR;
}


static int
omni_store_check_id(const char *what, const char *s, size_t max, char *err)
{
    size_t  i;

    for (i = 0; s != NULL && i <= max && s[i] != '\0'; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
        {
            break;
        }
    }

    if (s == NULL || i == 0 || i > max || s[i] != '\0') {
        omni_store_err(err, "%s is not [A-Za-z0-9_-]{1,%zu}", what, max);
        return OMNI_STORE_INVALID;
    }

    return OMNI_STORE_OK;
}


static int
omni_store_check_text(const char *what, const char *s, size_t max,
    char *err)
{
    size_t          i;
    unsigned char   c;

    for (i = 0; s != NULL && i <= max && s[i] != '\0'; i++) {
        c = (unsigned char) s[i];

        if (c <= ' ' || c == 0x7f) {
            break;
        }
    }

    if (s == NULL || i == 0 || i > max || s[i] != '\0') {
        omni_store_err(err, "%s must be 1 to %zu bytes without spaces or "
                       "control characters", what, max);
        return OMNI_STORE_INVALID;
    }

    return OMNI_STORE_OK;
}


static int
omni_store_check_time(const char *what, int64_t t, char *err)
{
    if (t < 0) {
        omni_store_err(err, "%s is negative", what);
        return OMNI_STORE_INVALID;
    }

    return OMNI_STORE_OK;
}


static void
omni_sbuf_init(omni_sbuf_t *b, unsigned char *p, size_t cap)
{
    b->p = p;
    b->len = 0;
    b->cap = cap;
    b->overflow = 0;
}


static omni_sbuf_t *
omni_skey_init(omni_skey_t *k)
{
    omni_sbuf_init(&k->b, k->data, sizeof(k->data));

    return &k->b;
}


static void
omni_sbuf_add(omni_sbuf_t *b, const void *data, size_t len)
{
    if (b->overflow || len > b->cap - b->len) {
        b->overflow = 1;
        return;
    }

    if (len > 0) {
        memcpy(b->p + b->len, data, len);
        b->len += len;
    }
}


static void
omni_sbuf_str(omni_sbuf_t *b, const char *s)
{
    omni_sbuf_add(b, s, strlen(s));
}


static void
omni_sbuf_u8(omni_sbuf_t *b, unsigned v)
{
    unsigned char  c;

    c = (unsigned char) v;
    omni_sbuf_add(b, &c, 1);
}


static void
omni_sbuf_be(omni_sbuf_t *b, uint64_t v, size_t n)
{
    size_t         i;
    unsigned char  out[8];

    for (i = 0; i < n && i < 8; i++) {
        out[n - 1 - i] = (unsigned char) (v >> (8 * i));
    }

    omni_sbuf_add(b, out, n);
}


static void
omni_sbuf_lstr(omni_sbuf_t *b, const char *s)
{
    size_t  len;

    len = strlen(s);

    if (len > 255) {
        b->overflow = 1;
        return;
    }

    omni_sbuf_u8(b, (unsigned) len);
    omni_sbuf_add(b, s, len);
}


static void
omni_srd_init(omni_srd_t *r, const MDB_val *v)
{
    r->p = v->mv_data;
    r->len = v->mv_size;
    r->pos = 0;
    r->bad = 0;
}


static unsigned
omni_srd_u8(omni_srd_t *r)
{
    if (r->bad || r->pos >= r->len) {
        r->bad = 1;
        return 0;
    }

    return r->p[r->pos++];
}


static uint64_t
omni_srd_be(omni_srd_t *r, size_t n)
{
    uint64_t  v;

    if (r->bad || n > 8 || r->len - r->pos < n) {
        r->bad = 1;
        return 0;
    }

    v = omni_be_get(r->p + r->pos, n);
    r->pos += n;

    return v;
}


static void
omni_srd_bytes(omni_srd_t *r, size_t n, char *out, size_t max)
{
    if (r->bad || n > max || r->len - r->pos < n) {
        r->bad = 1;
        out[0] = '\0';
        return;
    }

    memcpy(out, r->p + r->pos, n);
    out[n] = '\0';
    r->pos += n;
}


static void
omni_srd_lstr(omni_srd_t *r, char *out, size_t max)
{
    size_t  n;

    n = omni_srd_u8(r);
    omni_srd_bytes(r, n, out, max);
}


static uint64_t
omni_be_get(const unsigned char *p, size_t n)
{
    size_t    i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}


static void
omni_key_customer(omni_sbuf_t *k, const char *customer, int tag)
{
    omni_sbuf_str(k, customer);
    omni_sbuf_u8(k, '\0');
    omni_sbuf_u8(k, (unsigned) tag);
}


static void
omni_key_expiry(omni_sbuf_t *k, int tag, int64_t t, const char *rest)
{
    omni_sbuf_u8(k, (unsigned) tag);
    omni_sbuf_be(k, (uint64_t) t, 8);
    omni_sbuf_str(k, rest);
}


static void
omni_key_journey(omni_sbuf_t *k, const char *customer, int64_t t,
    uint32_t seq)
{
    omni_sbuf_str(k, customer);
    omni_sbuf_u8(k, '\0');
    omni_sbuf_be(k, (uint64_t) t, 8);
    omni_sbuf_u8(k, '\0');
    omni_sbuf_be(k, seq, 4);
}
