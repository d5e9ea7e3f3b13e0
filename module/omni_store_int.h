/*
 * Copyright (C) The omni gateway authors
 *
 * The store's private header: included only by module/omni_store*.c, the
 * engine (omni_store.c) and its record families (omni_store_session.c,
 * omni_store_customer.c, omni_store_revocation.c, omni_store_journey.c,
 * omni_store_policy.c, omni_store_workflow.c over omni_store_revision.c,
 * omni_store_case.c and omni_store_case_read.c),
 * and encryption at rest (omni_store_keyring.c, omni_store_seal.c,
 * omni_store_dkeys.c).  Everything else uses omni_store.h.  It holds the store object, the key tags, the key and
 * record buffers with their encoders and decoders (static inline) and the
 * key builders, and the prototypes of the functions the files share, all
 * named omni_store_*.
 *
 * Records.  Integers are big-endian, strings carry no NUL, "len" is one
 * byte, every value starts with the record version (OMNI_STORE_REC_V1) so
 * a later build detects a record it does not know.
 *
 * meta         "format"                      "1", or "2" for a sealed
 *                                            store (text, no version
 *                                            byte)
 *              "keyring"                     the id of the keyring the
 *                                            store is used with, 16 raw
 *                                            bytes (no version byte)
 *              "index"                       sealed: be32 version of the
 *                                            index key the identity map
 *                                            is keyed by (no version byte)
 *              "rewrap"                      sealed: a rewrap under way,
 *                                            the last data key's key done
 *              "reindex"                     sealed: an index rebuild
 *                                            under way, be32 the version
 *                                            it moves to, then the last
 *                                            customers key done
 *              "erased:"<customer>           1, be64 erased_at
 *              "policy:current"              be32 revision (no version
 *                                            byte)
 *              "policy:rev:"<be32 revision>  1, be64 time, len author,
 *                                            len note, the policy bytes
 *              "workflow:current"            be32 revision (no version
 *                                            byte)
 *              "workflow:rev:"<be32 rev>     as a policy's revision, the
 *                                            workflow bytes
 *              "capacity:current",           the same for the capacities
 *              "capacity:rev:"<be32 rev>     set live (a JSON record)
 * sessions     <id>                          1, nchannels, be16 context
 *                                            length, be64 created, be64
 *                                            last_seen, len customer,
 *                                            nchannels x (len channel),
 *                                            context
 *                                            sealed: 2 and the same, the
 *                                            context sealed (record
 *                                            "session", field the id)
 * identities   <type>:<value>                1, customer
 *              <type>:<index>                sealed: the same, keyed by
 *                                            the blind index (32 bytes)
 * customers    <customer>\0S<session>        empty: session index
 *              <customer>\0I<type>:<value>   empty: identity index
 *              <customer>\0I<type>:<index>   sealed: 2, the value sealed
 *                                            (record "identity", field
 *                                            the key after \0I)
 *              <customer>\0K                 sealed: the customer's data
 *                                            key, wrapped (omni_seal.h);
 *                                            "\0K" for sessions without
 *                                            a customer
 *              <customer>\0M                 1, be64 merged_at, survivor
 *              <customer>\0F<from>           empty: from was merged here
 *              <customer>\0J                 1, be32 journey events
 *              <customer>\0C<0|1><be64 created><case id>
 *                                            empty: case index, 0 while
 *                                            open (new to on_hold), 1
 *                                            resolved or closed
 * revocations  j:<jti>                       1, be64 expires_at (0: never)
 *              s:<session>                   1, be64 revoked_at
 *              u:<sub>                       1, be64 before
 * journeys     <customer>\0<be64 time_ms>\0<be32 seq>
 *                                            1, len channel, len action,
 *                                            len outcome, len session,
 *                                            and for a dispatched
 *                                            request len pool, len rule,
 *                                            len intent (0: none)
 * cases        c<case id>                    1, len customer, status,
 *                                            priority, be64 created,
 *                                            updated, first_response_due,
 *                                            resolution_due,
 *                                            first_response_at,
 *                                            resolved_at, closed_at, be32
 *                                            nevents, be32 touches_total,
 *                                            ntouches, len category, len
 *                                            channel, len assignee, len
 *                                            pool, len follow_up_of, be16
 *                                            subject length, subject,
 *                                            ntouches x (be64 time, len
 *                                            channel, len identity type,
 *                                            len session)
 *                                            sealed: 2 and the same, the
 *                                            subject sealed (record
 *                                            "case", field the id)
 *              e<case id><be32 seq>          1, len customer, be64 time,
 *                                            kind, from, to, len author,
 *                                            len channel, be16 text
 *                                            length, text
 *                                            sealed: 2, the text sealed
 *                                            (record "case_event", field
 *                                            the id and be32 seq)
 *              s<status><be64 created><case id>
 *                                            1, len customer: status index
 *              (every value names the customer first, for imports)
 * expiry       a<be64 last_seen><session>    empty: idle order
 *              c<be64 created><session>      empty: age order
 *              j<be64 expires_at><jti>       empty: jti purge order
 * changes      "c"<be64 seq>                 a local change, as on the
 *                                            wire (omni_store.h)
 *              "s"                           the log's state and cursors
 *                                            (omni_store_changes.c)
 *              "j"<be64 seq>                 a local journey event, as on
 *                                            the wire (its own log:
 *                                            omni_store_changes_journey.c)
 *              "n:journeys"                  1, be64 last, be64 first,
 *                                            be64 published, be64
 *                                            applied: the journey log's
 *                                            state and cursors
 *              "n:case_digit"                the first digit of this
 *                                            node's case ids
 *              "v"<family><id>               1, be64 time_ms, len origin:
 *                                            the version of a record's
 *                                            shared part (a session's
 *                                            context, a case's record;
 *                                            origin "" this node), for
 *                                            merges
 *                                            (omni_store_changes_session.c)
 *
 * Ids never hold a NUL, so "<customer>\0" is a prefix no other customer
 * shares and cursor ranges over it are exact.
 */


#ifndef OMNI_STORE_INT_H_INCLUDED_
#define OMNI_STORE_INT_H_INCLUDED_


#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <lmdb.h>

#include "omni_store.h"
#include "omni_blind.h"
#include "omni_dk_cache.h"
#include "omni_seal.h"


#define OMNI_STORE_REC_V1      1
#define OMNI_STORE_REC_SEALED  2        /* a record holding sealed bytes */
#define OMNI_STORE_DK_CACHE    4096     /* unwrapped data keys per store */
#define OMNI_STORE_KEY_MAX     511      /* LMDB's default key size limit */
#define OMNI_STORE_IKEY_MAX    (OMNI_STORE_TYPE_MAX + 1 + OMNI_STORE_VALUE_MAX)
#define OMNI_STORE_CHUNK       32       /* keys collected per purge pass */

/* the tags and names of the keys above */
#define OMNI_TAG_SESSION       'S'
#define OMNI_TAG_IDENTITY      'I'
#define OMNI_TAG_MERGED        'M'
#define OMNI_TAG_FROM          'F'
#define OMNI_TAG_JOURNEY       'J'
#define OMNI_TAG_KEY           'K'
#define OMNI_TAG_CASE          'C'

#define OMNI_STORE_KEYRING           "keyring"
#define OMNI_STORE_INDEX             "index"
#define OMNI_STORE_REWRAP            "rewrap"
#define OMNI_STORE_REINDEX           "reindex"
#define OMNI_STORE_ERASED            "erased:"
#define OMNI_STORE_ERASED_LEN        (sizeof(OMNI_STORE_ERASED) - 1)
#define OMNI_STORE_POLICY_CURRENT    "policy:current"
#define OMNI_STORE_POLICY_REV        "policy:rev:"
#define OMNI_STORE_POLICY_REV_LEN    (sizeof(OMNI_STORE_POLICY_REV) - 1)
#define OMNI_STORE_WORKFLOW_CURRENT  "workflow:current"
#define OMNI_STORE_WORKFLOW_REV      "workflow:rev:"
#define OMNI_STORE_WORKFLOW_REV_LEN  (sizeof(OMNI_STORE_WORKFLOW_REV) - 1)
#define OMNI_STORE_CAPACITY_CURRENT  "capacity:current"
#define OMNI_STORE_CAPACITY_REV      "capacity:rev:"
#define OMNI_STORE_CAPACITY_REV_LEN  (sizeof(OMNI_STORE_CAPACITY_REV) - 1)

#define OMNI_EXP_SEEN          'a'
#define OMNI_EXP_CREATED       'c'
#define OMNI_EXP_JTI           'j'


struct omni_store_s {
    MDB_env           *env;
    MDB_txn           *rtxn;        /* the reusable read transaction */
    MDB_dbi            dbi[OMNI_STORE_DB_COUNT];
    size_t             map_max;
    pid_t              pid;
    unsigned           reading:1;
    int                sealed;      /* format 2: meta says so; set at open,
                                     * apart from the bits above that
                                     * change while another thread may
                                     * write */
    int                map_full;    /* the last write ran out of map: set
                                     * and read under LMDB's writer lock
                                     * only, so either thread may write */
    pthread_rwlock_t   map_lock;    /* shared by write transactions,
                                     * exclusive to resize the map */
    char              *dir;

    /* encryption at rest (omni_store_seal.c): NULL without a keyring */
    const omni_keyring_t  *kr;
    omni_seal_t           *seal;
    omni_blind_t          *blind;
    omni_dk_cache_t       *dkc;
    uint32_t               index_version;   /* the map is keyed by */
    uint32_t               index_next;      /* a rebuild's, else 0 */
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


/* omni_store.c: transactions */

#define OMNI_STORE_RESIZE_ADOPT  1  /* another process grew the map */
#define OMNI_STORE_RESIZE_GROW   2  /* the map is full */

int omni_store_write(omni_store_t *st, omni_store_op_pt op, void *data,
    char *err);
/*
 * One attempt of omni_store_write() that never resizes the map, so that a
 * second thread may write while the thread that opened the store reads:
 * OMNI_STORE_AGAIN when the map must grow or adopt another process's size
 * first, which only the opening thread may do.  LMDB's writer lock
 * serialises it with that thread's writes.
 */
int omni_store_write_detached(omni_store_t *st, omni_store_op_pt op,
    void *data, char *err);
int omni_store_rbegin(omni_store_t *st, MDB_txn **txn, int *own, char *err);
void omni_store_rend(omni_store_t *st, int own);


/* the files LMDB keeps in a store's directory */
#define OMNI_STORE_DATA_FILE  "/data.mdb"
#define OMNI_STORE_LOCK_FILE  "/lock.mdb"


/* omni_store.c: low level */

int omni_store_mdb(omni_store_t *st, int mrc, const char *what, char *err);
int omni_store_check_id(const char *what, const char *s, size_t max,
    char *err);
int omni_store_check_text(const char *what, const char *s, size_t max,
    char *err);
int omni_store_check_time(const char *what, int64_t t, char *err);
int omni_store_get(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *key, MDB_val *val, char *err);
int omni_store_put(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *key, const void *data, size_t len, unsigned flags,
    char *err);
int omni_store_del(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *key, char *err);
int omni_store_before(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *bound, MDB_val *key, int *at, char *err);


/* omni_store_keyring.c: the keyring record, for import and sealing */

int omni_store_keyring_op(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);

int omni_store_keyring_get(MDB_txn *txn, MDB_dbi meta, const char *dir,
    const unsigned char **rec, char *err);
int omni_store_keyring_fits(const char *dir, const unsigned char *rec,
    const unsigned char *id, char *err);
void omni_store_keyring_hex(const unsigned char *id, char *out);
int omni_store_scan(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *prefix, const void *after, size_t alen, size_t max,
    omni_store_item_pt item, void *out, size_t *n, char *err);
int omni_store_walk(omni_store_t *st, MDB_txn *txn, int db,
    const omni_sbuf_t *prefix, const omni_sbuf_t *start, int exclusive,
    MDB_cursor_op op, size_t max, omni_store_item_pt item, void *out,
    size_t *n, char *err);
int omni_store_count_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val);
int omni_store_collect_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val);


/*
 * omni_store_seal.c: sealing (erasure and rotation: omni_store_dkeys.c,
 * through omni_store.h alone).  omni_store_ident_key() builds the key of
 * an identity in the map (<type>:<value>, or <type>:<index> in a sealed
 * store) and gives the value to keep (normalised when sealed; norm holds
 * OMNI_STORE_VALUE_MAX + 1 bytes).  omni_store_dk() gives the data key of
 * customer ("" for sessions without one), made and recorded first when
 * create is set (a write transaction).
 */

int omni_store_ident_key(omni_store_t *st, const char *type,
    const char *value, omni_sbuf_t *key, char *norm, char *err);
int omni_store_ident_key_v(omni_store_t *st, uint32_t version,
    const char *type, const char *value, omni_sbuf_t *key, char *norm,
    char *err);
int omni_store_ident_find(omni_store_t *st, MDB_txn *txn, const char *type,
    const char *value, omni_sbuf_t *key, char *norm, MDB_val *val,
    char *err);
int omni_store_index_state(omni_store_t *st, MDB_txn *txn, char *err);
int omni_store_index_record(omni_store_t *st, MDB_txn *txn,
    uint32_t version, char *err);
int omni_store_plain_check(omni_store_t *st, MDB_txn *txn, char *err);
int omni_store_ident_open(omni_store_t *st, MDB_txn *txn,
    const char *customer, const unsigned char *rest, size_t len,
    const MDB_val *val, omni_store_identity_t *id, char *err);
int omni_store_ident_seal(omni_store_t *st, MDB_txn *txn,
    const char *customer, const unsigned char *ikey, size_t ikey_len,
    const char *value, unsigned char *rec, size_t *len, char *err);

/* a sealed identity index entry: 2, then the value sealed */
#define OMNI_STORE_IDENT_REC_MAX  (1 + OMNI_STORE_VALUE_MAX                  \
                                   + OMNI_SEAL_OVERHEAD)
int omni_store_dk(omni_store_t *st, MDB_txn *txn, const char *customer,
    int create, unsigned char *dk, char *err);
int omni_store_seal_rec(omni_store_t *st, MDB_txn *txn,
    const char *customer, const char *record, const void *field,
    size_t field_len, const void *plain, size_t len, unsigned char *out,
    char *err);
int omni_store_open_rec(omni_store_t *st, MDB_txn *txn,
    const char *customer, const char *record, const void *field,
    size_t field_len, const unsigned char *in, size_t len,
    unsigned char *out, size_t *out_len, char *err);
int omni_store_erased(omni_store_t *st, MDB_txn *txn, const char *customer,
    int *erased, char *err);
int omni_store_import_check(omni_store_t *st,
    const omni_store_record_t *recs, size_t n, char *err);
int omni_store_import_skip(omni_store_t *st, MDB_txn *txn,
    const omni_store_record_t *rec, int *skip, char *err);
void omni_store_seal_free(omni_store_t *st);


/*
 * omni_store_changes.c: appends a local change to the change log in the
 * caller's write transaction.  omni_store_revocation.c and
 * omni_store_policy.c: apply a change from the stream, without logging
 * it (revocations a union; a policy the current one).
 */

int omni_store_change_log(omni_store_t *st, MDB_txn *txn, int family,
    int op, const void *key, size_t key_len, const void *val,
    size_t val_len, char *err);
/* a stream's batch checked (sequences growing from 1), item results reset */
int omni_store_change_items_check(omni_store_change_item_t *items,
    size_t n, char *err);
int omni_store_revoke_apply(omni_store_t *st, MDB_txn *txn, int op,
    const unsigned char *key, size_t key_len, const unsigned char *val,
    size_t val_len, char *err);
int omni_store_policy_apply(omni_store_t *st, MDB_txn *txn,
    const char *origin, const unsigned char *json, size_t len, int64_t now,
    int *wrote, char *err);


/*
 * omni_store_changes_customer.c: identity links, merges and erasures in
 * the change log.  omni_store_customer.c logs a local link or unlink
 * (value: the identity's value as the store keeps it, normalised) and a
 * merge, omni_store_dkeys.c an erasure, after which the log keeps no
 * link of the customers erased (customer and the n merged into it);
 * omni_store_changes.c checks one from the wire and applies it.  own is
 * set for a change this node logged itself, coming back.
 */

static inline int
omni_store_customer_family(int family)
{
    return family == OMNI_STORE_FAMILY_IDENTITY
           || family == OMNI_STORE_FAMILY_MERGE
           || family == OMNI_STORE_FAMILY_ERASURE;
}

int omni_store_identity_logged(omni_store_t *st, MDB_txn *txn, int op,
    const char *customer, const unsigned char *ikey, size_t ikey_len,
    const char *value, char *err);
int omni_store_merge_logged(omni_store_t *st, MDB_txn *txn,
    const char *from, const char *to, char *err);
int omni_store_erasure_logged(omni_store_t *st, MDB_txn *txn,
    const char *customer, char *err);
int omni_store_customer_change_check(const omni_store_change_t *c,
    char *err);
int omni_store_customer_change_apply(omni_store_t *st, MDB_txn *txn,
    const omni_store_change_t *c, int own, int *applied, size_t *records,
    char *err);
int omni_store_identity_scrub(omni_store_t *st, MDB_txn *txn,
    const char *customer, const omni_item_t *merged, size_t n, char *err);

/*
 * omni_store_changes.c: calls fn for every change of the log after seq,
 * in order, until it returns OMNI_CHANGES_STOP; OMNI_CHANGES_DROP deletes
 * that change from the log (a hole the publisher passes over).
 */
#define OMNI_CHANGES_NEXT  0
#define OMNI_CHANGES_STOP  1
#define OMNI_CHANGES_DROP  2

typedef int (*omni_store_change_pt)(const omni_store_change_t *c,
    void *data);

int omni_store_changes_walk(omni_store_t *st, MDB_txn *txn, uint64_t seq,
    omni_store_change_pt fn, void *data, char *err);

/*
 * The same from key start on, through the records of its first byte's
 * tag: the log ("c") or the unlink tombstones ("u",
 * omni_store_changes_unlink.c)
 */
int omni_store_changes_walk_from(omni_store_t *st, MDB_txn *txn,
    const omni_sbuf_t *start, omni_store_change_pt fn, void *data,
    char *err);

/* omni_store_changes_unlink.c: unlink tombstones (docs/cluster.md) */
#define OMNI_STORE_TOMB_REC  'u'

int omni_store_unlink_keep(omni_store_t *st, MDB_txn *txn,
    const omni_sbuf_t *k, char *err);
int omni_store_unlink_forget(omni_store_t *st, MDB_txn *txn, uint64_t seq,
    char *err);
int omni_store_unlink_walk(omni_store_t *st, MDB_txn *txn,
    omni_store_change_pt fn, void *data, char *err);


/*
 * omni_store_revision.c: a document kept as numbered revisions (the
 * policy, the workflow), told apart by its keys.
 */

typedef struct {
    const char    *name;            /* "policy": in messages */
    const char    *current;         /* key of the current revision */
    const char    *prefix;          /* key prefix of the revisions */
    size_t         prefix_len;
    size_t         max;             /* bytes of a document */
    int            logged;          /* puts go to the change log */
} omni_store_doc_t;

typedef struct {
    const omni_store_doc_t  *doc;
    const char              *json;
    size_t                   len;
    const char              *author;
    const char              *note;
    int64_t                  now;
    int                      seed;      /* only when there is no current */
    int                      remote;    /* from another node: not logged */
    int                      on_base;   /* only while base is current, */
    uint32_t                 base;      /* else OMNI_STORE_CONFLICT */
    uint32_t                 rev;       /* written; 0: none */
} omni_store_doc_op_t;

extern const omni_store_doc_t  omni_store_doc_policy;
extern const omni_store_doc_t  omni_store_doc_workflow;
extern const omni_store_doc_t  omni_store_doc_capacity;

int omni_store_doc_current(omni_store_t *st, const omni_store_doc_t *doc,
    uint32_t *rev, uint64_t *snapshot, char *err);
int omni_store_doc_get(omni_store_t *st, const omni_store_doc_t *doc,
    uint32_t rev, char **json, size_t *len, omni_store_revision_info_t *info,
    char *err);
int omni_store_doc_put(omni_store_t *st, const omni_store_doc_t *doc,
    const char *json, size_t len, const char *author, const char *note,
    int64_t now, int seed, uint32_t *rev, char *err);
int omni_store_doc_replace(omni_store_t *st, const omni_store_doc_t *doc,
    uint32_t base, const char *json, size_t len, const char *author,
    const char *note, int64_t now, uint32_t *rev, char *err);
int omni_store_doc_list(omni_store_t *st, const omni_store_doc_t *doc,
    uint32_t before, omni_store_revision_info_t *out, size_t max, size_t *n,
    char *err);
int omni_store_doc_check(const omni_store_doc_t *doc, const char *json,
    size_t len, const char *author, const char *note, int64_t now,
    char *err);
int omni_store_doc_current_get(omni_store_t *st, MDB_txn *txn,
    const omni_store_doc_t *doc, uint32_t *rev, char *err);
int omni_store_doc_record(omni_store_t *st, MDB_txn *txn,
    const omni_store_doc_t *doc, uint32_t rev, MDB_val *val,
    omni_store_revision_info_t *info, size_t *offset, char *err);
int omni_store_doc_write(omni_store_t *st, MDB_txn *txn, void *data,
    char *err);
int omni_store_doc_decode(uint32_t rev, const MDB_val *v,
    omni_store_revision_info_t *info, size_t *offset);


/*
 * omni_store_session.c: deletes a session and its index records (without
 * opening its context); seals the context of every session of a plain
 * store (its conversion).
 */

int omni_store_session_remove(omni_store_t *st, MDB_txn *txn, const char *id,
    char *err);
int omni_store_session_reseal(omni_store_t *st, MDB_txn *txn, char *err);

/*
 * omni_store_session.c for the cluster: a session read (its context
 * opened), checked as a put checks it, and written over the one of its id
 * with its indexes, without logging.
 */
int omni_store_session_load(omni_store_t *st, MDB_txn *txn, const char *id,
    omni_store_session_t *s, char *err);
int omni_store_session_check(const omni_store_session_t *s, char *err);
int omni_store_session_set(omni_store_t *st, MDB_txn *txn,
    const omni_store_session_t *s, char *err);


/*
 * omni_store_changes_session.c: sessions shared (docs/cluster.md).  A
 * local session write logs a change in its transaction, and when it set
 * the context, the context's version (the time, this node); a removed
 * session's version goes with it.  omni_store_session_apply() merges a
 * session from the stream; omni_store_change_session_check() is the
 * wire decoder's check of a session change.
 */
int omni_store_session_logged(omni_store_t *st, MDB_txn *txn,
    const char *id, int context, char *err);
int omni_store_session_apply(omni_store_t *st, MDB_txn *txn,
    const omni_store_change_t *c, const char *node, int *applied, char *err);
int omni_store_change_session_check(const omni_store_change_t *c,
    char *err);


/*
 * omni_store_customer.c: the survivor of id inside a transaction, and a
 * link, an unlink or a merge inside one without logging it (a change from
 * another node); omni_store_journey.c: one journey event inside a
 * transaction, not trimmed (a case change); omni_store_case.c: every case
 * record of who, for its erasure; omni_store_dkeys.c: an erasure inside
 * a transaction, not logged.
 */

int omni_store_survivor(omni_store_t *st, MDB_txn *txn, const char *id,
    char *survivor, char *err);
int omni_store_link_txn(omni_store_t *st, MDB_txn *txn, const char *type,
    const char *value, const char *customer, char *err);
int omni_store_unlink_txn(omni_store_t *st, MDB_txn *txn, const char *type,
    const char *value, char *err);
int omni_store_merge_txn(omni_store_t *st, MDB_txn *txn, const char *from,
    const char *to, int64_t now, char *err);
int omni_store_journey_add(omni_store_t *st, MDB_txn *txn,
    const char *customer, omni_store_journey_t *ev, char *err);

/*
 * omni_store_journey.c for the cluster: an event's fields checked as an
 * append checks them; an event from another node appended without
 * logging or trimming.  omni_store_changes_journey.c: a local event
 * logged in the journey log (in the appending transaction); the wire
 * decoder's check of a journey change.
 */
int omni_store_journey_check(const char *customer,
    const omni_store_journey_t *ev, char *err);
int omni_store_journey_put(omni_store_t *st, MDB_txn *txn,
    const char *customer, omni_store_journey_t *ev, char *err);
int omni_store_journey_logged(omni_store_t *st, MDB_txn *txn,
    const char *customer, const omni_store_journey_t *ev, char *err);
int omni_store_change_journey_check(const omni_store_change_t *c,
    char *err);
int omni_store_case_erase(omni_store_t *st, MDB_txn *txn, const char *who,
    size_t *records, char *err);
int omni_store_erase_txn(omni_store_t *st, MDB_txn *txn,
    const char *customer, int64_t now, size_t *records, char *err);

/*
 * omni_store_case.c and omni_store_case_read.c: a case id checked (its
 * check digit), a case record read (a sealed subject opened when
 * subject is set, else left ""), the case id at
 * the end of an index key (an omni_store_item_pt into omni_store_id_t).
 */
int omni_store_case_check(const char *id, char *err);
int omni_store_case_load(omni_store_t *st, MDB_txn *txn, const char *id,
    int subject, omni_store_case_t *c, char *err);

/*
 * omni_store_case.c for the cluster: a case's fields checked as a create
 * checks them, its record written, its index entries added or deleted
 * (they name its status), and an event appended as the n-th of c
 * (c->nevents grows; OMNI_STORE_CASE_CONFLICT past the events a case
 * keeps).
 */
int omni_store_case_check_fields(const omni_store_case_t *c, char *err);
int omni_store_case_write(omni_store_t *st, MDB_txn *txn,
    const omni_store_case_t *c, char *err);
int omni_store_case_index(omni_store_t *st, MDB_txn *txn,
    const omni_store_case_t *c, int add, char *err);
int omni_store_case_event_add(omni_store_t *st, MDB_txn *txn,
    omni_store_case_t *c, const omni_store_case_by_t *by, int kind,
    int from, int to, const char *text, size_t len, char *err);

/*
 * omni_store_changes_case.c: cases shared (docs/cluster.md).  A local
 * case write logs a change naming the case and the events it appended
 * (from first, count of them); the first digit a node gives its case
 * ids (-1: any); a case from the stream merged in; the wire decoder's
 * check of a case change.
 */
int omni_store_case_logged(omni_store_t *st, MDB_txn *txn, const char *id,
    uint32_t first, uint32_t count, char *err);
int omni_store_case_digit_get(omni_store_t *st, MDB_txn *txn, int *digit,
    char *err);
int omni_store_case_apply(omni_store_t *st, MDB_txn *txn,
    const omni_store_change_t *c, const char *node, int *applied, char *err);
int omni_store_change_case_check(const omni_store_change_t *c, char *err);

/*
 * omni_store_changes_session.c: the origin node of a record's version in
 * the changes sub-database (family, id): a session's context, a case's
 * record last written by another node; "" (or none) is this node.
 */
typedef struct {
    int64_t   ms;                               /* 0: never written */
    char      origin[OMNI_STORE_ID_MAX + 1];    /* "": this node */
} omni_store_version_t;

int omni_store_version_get(omni_store_t *st, MDB_txn *txn, int family,
    const char *id, omni_store_version_t *v, char *err);
int omni_store_version_put(omni_store_t *st, MDB_txn *txn, int family,
    const char *id, const omni_store_version_t *v, char *err);
int omni_store_version_del(omni_store_t *st, MDB_txn *txn, int family,
    const char *id, char *err);
int omni_store_case_id_item(void *out, size_t i, const unsigned char *rest,
    size_t len, const MDB_val *val);


/*
 * Keys and values: built into an omni_sbuf_t (a key into an omni_skey_t),
 * which notes an overflow rather than writing past its end; read with an
 * omni_srd_t, which notes a short or bad record in r->bad.
 */

static inline void
omni_sbuf_init(omni_sbuf_t *b, unsigned char *p, size_t cap)
{
    b->p = p;
    b->len = 0;
    b->cap = cap;
    b->overflow = 0;
}


static inline omni_sbuf_t *
omni_skey_init(omni_skey_t *k)
{
    omni_sbuf_init(&k->b, k->data, sizeof(k->data));

    return &k->b;
}


static inline void
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


static inline void
omni_sbuf_str(omni_sbuf_t *b, const char *s)
{
    omni_sbuf_add(b, s, strlen(s));
}


static inline void
omni_sbuf_u8(omni_sbuf_t *b, unsigned v)
{
    unsigned char  c;

    c = (unsigned char) v;
    omni_sbuf_add(b, &c, 1);
}


static inline void
omni_sbuf_be(omni_sbuf_t *b, uint64_t v, size_t n)
{
    size_t         i;
    unsigned char  out[8];

    for (i = 0; i < n && i < 8; i++) {
        out[n - 1 - i] = (unsigned char) (v >> (8 * i));
    }

    omni_sbuf_add(b, out, n);
}


static inline void
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


static inline uint64_t
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


static inline void
omni_srd_init(omni_srd_t *r, const MDB_val *v)
{
    r->p = v->mv_data;
    r->len = v->mv_size;
    r->pos = 0;
    r->bad = 0;
}


static inline unsigned
omni_srd_u8(omni_srd_t *r)
{
    if (r->bad || r->pos >= r->len) {
        r->bad = 1;
        return 0;
    }

    return r->p[r->pos++];
}


static inline uint64_t
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


static inline void
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


static inline void
omni_srd_lstr(omni_srd_t *r, char *out, size_t max)
{
    size_t  n;

    n = omni_srd_u8(r);
    omni_srd_bytes(r, n, out, max);
}


/* the same from untrusted bytes: a NUL would make two names of one */
static inline void
omni_srd_name(omni_srd_t *r, char *out, size_t max)
{
    size_t  n;

    n = omni_srd_u8(r);
    omni_srd_bytes(r, n, out, max);

    if (!r->bad && strlen(out) != n) {
        r->bad = 1;
    }
}


static inline void
omni_key_customer(omni_sbuf_t *k, const char *customer, int tag)
{
    omni_sbuf_str(k, customer);
    omni_sbuf_u8(k, '\0');
    omni_sbuf_u8(k, (unsigned) tag);
}


static inline void
omni_key_expiry(omni_sbuf_t *k, int tag, int64_t t, const char *rest)
{
    omni_sbuf_u8(k, (unsigned) tag);
    omni_sbuf_be(k, (uint64_t) t, 8);
    omni_sbuf_str(k, rest);
}


static inline void
omni_key_journey(omni_sbuf_t *k, const char *customer, int64_t t,
    uint32_t seq)
{
    omni_sbuf_str(k, customer);
    omni_sbuf_u8(k, '\0');
    omni_sbuf_be(k, (uint64_t) t, 8);
    omni_sbuf_u8(k, '\0');
    omni_sbuf_be(k, seq, 4);
}


/* cases: c<id>, e<id>..., s<status>..., <customer>\0C<0|1>... */

static inline void
omni_key_case(omni_sbuf_t *k, int tag, const char *id)
{
    omni_sbuf_u8(k, (unsigned) tag);
    omni_sbuf_str(k, id);
}


static inline int
omni_store_case_is_open(int status)
{
    return status < OMNI_STORE_CASE_RESOLVED;
}


static inline void
omni_key_case_customer(omni_sbuf_t *k, const char *customer,
    const omni_store_case_t *c)
{
    omni_key_customer(k, customer, OMNI_TAG_CASE);
    omni_sbuf_u8(k, omni_store_case_is_open(c->status) ? '0' : '1');
    omni_sbuf_be(k, (uint64_t) c->created, 8);
    omni_sbuf_str(k, c->id);
}


static inline void
omni_key_case_status(omni_sbuf_t *k, int status, int64_t created,
    const char *id)
{
    omni_sbuf_u8(k, 's');
    omni_sbuf_u8(k, (unsigned) status);
    omni_sbuf_be(k, (uint64_t) created, 8);
    omni_sbuf_str(k, id);
}


#endif /* OMNI_STORE_INT_H_INCLUDED_ */
