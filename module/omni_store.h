/*
 * Copyright (C) The omni gateway authors
 *
 * The customer store: sessions, the identity map, revocations and customer
 * journeys in one LMDB environment shared by every nginx worker and by the
 * command line tool.  Knows nothing of NGINX.
 *
 * Processes: open the store in each process that uses it, after fork();
 * a store object must never be used across fork() (omni_store_close() in
 * a child that inherited one only frees memory).  Threads: a store object
 * belongs to one thread at a time.
 *
 * Every function returns an OMNI_STORE_* status and, except for
 * OMNI_STORE_OK, leaves a message in err (OMNI_ERRLEN bytes).
 * Nothing aborts; every loop is bounded.
 *
 * Names:
 *   session and customer ids   [A-Za-z0-9_-]{1,64}
 *   channel and identity type  [A-Za-z0-9_-]{1,32}
 *   identity value, jti, sub   1 to 255 bytes, none of them a space or a
 *                              control character (UTF-8 passes as is)
 *   journey action and outcome 1 to 64 such bytes; its dispatch pool
 *   and rule too, its intent 1 to 128
 * Times are seconds since the epoch, journey times milliseconds; both >= 0.
 */

#ifndef OMNI_STORE_H_INCLUDED_
#define OMNI_STORE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "omni_err.h"
#include "omni_keyring.h"


#define OMNI_STORE_FORMAT         1          /* the "format" record in meta */
#define OMNI_STORE_FORMAT_SEALED  2          /* ... of a store sealed with a
                                                keyring */

#define OMNI_STORE_ID_MAX         64
#define OMNI_STORE_CHANNEL_MAX    32
#define OMNI_STORE_CHANNELS       16         /* channels one session saw */
#define OMNI_STORE_CONTEXT_MAX    4096       /* bytes of session context */
#define OMNI_STORE_TYPE_MAX       32
#define OMNI_STORE_VALUE_MAX      255
#define OMNI_STORE_NAME_MAX       64
#define OMNI_STORE_INTENT_MAX     128

#define OMNI_STORE_MAP_INITIAL    (64 * 1024 * 1024)
#define OMNI_STORE_MAP_MIN        (256 * 1024)
#define OMNI_STORE_CHAIN_MAX      8          /* "merged into" hops followed */
#define OMNI_STORE_IDENTITIES_MAX 128        /* identities of one customer */
#define OMNI_STORE_MERGED_MAX     256        /* customers merged into one */
#define OMNI_STORE_TRIM_BATCH     16         /* journey deletes per append */
#define OMNI_STORE_CLAIM_MAX      64         /* identities of one claim */


enum {
    OMNI_STORE_OK = 0,
    OMNI_STORE_NOT_FOUND,
    OMNI_STORE_FULL,           /* the map reached map_max: nothing written */
    OMNI_STORE_INVALID,        /* bad argument or refused operation */
    OMNI_STORE_ERROR,          /* I/O, LMDB, memory or corrupt record */
    OMNI_STORE_AGAIN,          /* a detached write found the map to resize:
                                * retry from the thread that opened it */
    OMNI_STORE_CONFLICT        /* refused by a record's state: a case's
                                * transition, a change to a closed case */
};


/*
 * What a commit waits for.  Whatever the mode a process crash (SIGKILL
 * included) loses nothing that was acknowledged and never corrupts the
 * store: LMDB writes pages copy-on-write and switches meta pages last.
 *
 * FULL  fsync of data and meta pages on each commit: an acknowledged write
 *       survives an OS crash or power loss.  The slowest (two syncs).
 * META  MDB_NOMETASYNC: the data is synced, the meta page is not; an OS
 *       crash may roll back the last commits but the store stays intact.
 * NONE  MDB_NOSYNC: the kernel writes back when it likes; an OS crash may
 *       lose recent commits and, on file systems that reorder writes,
 *       leave the store corrupt.  Survives process crashes only.
 */
enum {
    OMNI_STORE_SYNC_FULL = 0,
    OMNI_STORE_SYNC_META,
    OMNI_STORE_SYNC_NONE
};


/* sub-databases, for omni_store_stats() */
enum {
    OMNI_STORE_DB_META = 0,
    OMNI_STORE_DB_SESSIONS,
    OMNI_STORE_DB_IDENTITIES,
    OMNI_STORE_DB_CUSTOMERS,
    OMNI_STORE_DB_REVOCATIONS,
    OMNI_STORE_DB_JOURNEYS,
    OMNI_STORE_DB_EXPIRY,
    OMNI_STORE_DB_CHANGES,             /* the change log (omni-sync) */
    OMNI_STORE_DB_CASES,
    OMNI_STORE_DB_COUNT
};


/* which revocation rule matched, or the kind of a revocation record */
enum {
    OMNI_STORE_REVOKED_NONE = 0,
    OMNI_STORE_REVOKED_JTI,
    OMNI_STORE_REVOKED_SESSION,
    OMNI_STORE_REVOKED_SUBJECT
};


typedef struct omni_store_s  omni_store_t;


typedef struct {
    char       id[OMNI_STORE_ID_MAX + 1];
    char       customer[OMNI_STORE_ID_MAX + 1];   /* "" while anonymous */
    int64_t    created;
    int64_t    last_seen;
    unsigned   nchannels;
    char       channels[OMNI_STORE_CHANNELS][OMNI_STORE_CHANNEL_MAX + 1];
    size_t     context_len;                      /* 0: no context */
    char       context[OMNI_STORE_CONTEXT_MAX + 1];  /* a JSON object */
} omni_store_session_t;


typedef struct {
    char       id[OMNI_STORE_ID_MAX + 1];
} omni_store_id_t;


typedef struct {
    char       type[OMNI_STORE_TYPE_MAX + 1];
    char       value[OMNI_STORE_VALUE_MAX + 1];
} omni_store_identity_t;


typedef struct {
    int        kind;                 /* OMNI_STORE_REVOKED_* */
    char       value[OMNI_STORE_VALUE_MAX + 1];
    int64_t    time;                 /* expires_at, revoked_at or before */
} omni_store_revocation_t;


typedef struct {
    int64_t    time_ms;
    uint32_t   seq;                  /* orders events of the same ms */
    char       channel[OMNI_STORE_CHANNEL_MAX + 1];
    char       action[OMNI_STORE_NAME_MAX + 1];
    char       outcome[OMNI_STORE_NAME_MAX + 1];
    char       session[OMNI_STORE_ID_MAX + 1];   /* "" when none */
    /* the dispatch's decision: "" when the request was not dispatched */
    char       pool[OMNI_STORE_NAME_MAX + 1];
    char       rule[OMNI_STORE_NAME_MAX + 1];
    char       intent[OMNI_STORE_INTENT_MAX + 1];  /* "" when none */
} omni_store_journey_t;


/* where the next page of a journey starts: the last event returned */
typedef struct {
    int64_t    time_ms;
    uint32_t   seq;
} omni_store_cursor_t;


typedef struct {
    size_t     entries[OMNI_STORE_DB_COUNT];
    size_t     txn_id;               /* of the last commit: counts writes */
    size_t     map_used;             /* bytes of the map holding pages */
    size_t     map_size;             /* the map now */
    size_t     map_max;              /* what it may grow to */
} omni_store_stats_t;


/*
 * Opens or creates the store in the existing directory dir (data.mdb and
 * lock.mdb, mode 0660 less the umask).  The map starts at
 * min(OMNI_STORE_MAP_INITIAL, map_max) and doubles, up to map_max, when a
 * write needs room; past that writes return OMNI_STORE_FULL and what was
 * written stays readable.  map_max is at least OMNI_STORE_MAP_MIN.  Reader
 * slots of dead processes are freed.  Only the first open of a new store
 * takes the write lock.  Returns NULL with a message naming dir on failure.
 */
omni_store_t *omni_store_open(const char *dir, size_t map_max, int sync_mode,
    char *err);
void omni_store_close(omni_store_t *st);

const char *omni_store_rc_name(int rc);
const char *omni_store_db_name(int db);

/*
 * One read transaction per store object, reset and renewed rather than
 * allocated: every getter between begin and end reads the same snapshot.
 * Getters called outside begin/end take the transaction for themselves.
 * Nesting is refused.  Writes may run while it is open but the map is not
 * remapped under it: a write that needs a bigger map returns
 * OMNI_STORE_FULL, one that finds the map grown by another process
 * OMNI_STORE_ERROR.  Keep it short; it also pins pages the writers would
 * reuse.
 */
int omni_store_read_begin(omni_store_t *st, char *err);
void omni_store_read_end(omni_store_t *st);

int omni_store_stats(omni_store_t *st, omni_store_stats_t *stats, char *err);

/*
 * The id of the store's last commit, by any process (LMDB's last
 * transaction id, read from the map without a transaction): what a reader
 * read at a snapshot of this id has not changed since.  0 if unknown.
 */
uint64_t omni_store_last_commit(omni_store_t *st);

/*
 * The names of the comment at the top, for callers that check a name
 * before they hand it to the store (the admin API, the JWT glue's
 * revocation check) rather than keep a copy of the rules: 1 when
 * s[0..len-1] is 1 to max bytes of [A-Za-z0-9_-] (an id: max is
 * OMNI_STORE_ID_MAX; a channel or identity type: OMNI_STORE_CHANNEL_MAX,
 * OMNI_STORE_TYPE_MAX), or 1 to max bytes none of which is a space or a
 * control character (a text: OMNI_STORE_VALUE_MAX for an identity value,
 * jti or sub, OMNI_STORE_NAME_MAX for a journey action or outcome); else
 * 0.  A NUL fails both.  For a C string pass strnlen(s, max + 1).  The
 * store checks every argument with them.
 */
int omni_store_id_valid(const char *s, size_t len, size_t max);
int omni_store_text_valid(const char *s, size_t len, size_t max);

/*
 * Whether the user uid, member of groups[0..ngroups-1], may open the
 * store in dir: rwx on dir, rw on those of LMDB's files in it that exist
 * (the first open creates the others), judged by the owner, group and
 * other bits as the kernel would (ACLs and capabilities aside).  Returns
 * OMNI_STORE_OK, or OMNI_STORE_INVALID with this in err (user is only
 * named there):
 *   "<path>" is not readable and writable by the worker user "<user>";
 *   chown it to that user
 * (the message names the whole path when it fits OMNI_ERRLEN).  A
 * path that cannot be stat()ed or is longer than PATH_MAX is not judged:
 * the open will say what is wrong.  For the module's configuration check
 * (ngx_http_omni_module.c): the master, running as root, checks for the
 * user its workers will run as, so that the glue need not know LMDB's
 * file names.
 */
int omni_store_access(const char *dir, uid_t uid, const gid_t *groups,
    int ngroups, const char *user, char *err);


/*
 * Encryption at rest (docs/store.md): the store records the id of the
 * keyring it is used with, OMNI_STORE_KEYRING_ID_LEN raw bytes, and knows
 * nothing else of the keyring.  Once recorded, the store is neither
 * opened with another keyring nor without one.  id NULL means "opened
 * without a keyring".
 *
 * omni_store_keyring_check(), for every process that opens the store for
 * the gateway, right after omni_store_open(): records id when the store
 * records none (a store without a keyring takes one), OMNI_STORE_OK when
 * the store records the same id or id is NULL and it records none, and
 * OMNI_STORE_INVALID otherwise, with one of
 *   keyring <hex> does not fit the store at <dir> (made with keyring <hex>)
 *   the store at <dir> was made with keyring <hex>
 * in err.
 *
 * omni_store_keyring_probe(), for a configuration check (a master that
 * runs as another user than its workers) and a status: the same judgement
 * of the store in dir as it is, reading only and creating no file; a
 * directory without a store yet fits.  *recorded (may be NULL) is 1 when
 * the store records id, 0 when it records no keyring yet.  Any failure
 * but a misfit is OMNI_STORE_ERROR.  Not in a process that has the store
 * in dir open: LMDB's locks are per process.
 */
#define OMNI_STORE_KEYRING_ID_LEN  16

int omni_store_keyring_check(omni_store_t *st, const unsigned char *id,
    char *err);
int omni_store_keyring_probe(const char *dir, const unsigned char *id,
    int *recorded, char *err);

/*
 * omni_store_use_keyring(), instead of omni_store_keyring_check() for a
 * process that has the keyring itself: the same check, then the store
 * seals with kr (which must outlive the store object) from now on.  A
 * store written without a keyring is converted first, in one write
 * transaction (all of it or nothing, so a crash leaves it as it was and
 * the next open does it again): the keyring is recorded, every identity
 * goes to its blind index and has its value sealed, every session its
 * context, and the format record becomes OMNI_STORE_FORMAT_SEALED.  An identity whose value its
 * type's rule cannot normalise (omni_blind.h) stops the conversion
 * (OMNI_STORE_INVALID, naming the customer and the type): unlink it
 * first.  Call it in the process that uses the store (after fork()).
 *
 * In a sealed store an identity is found by the HMAC of its normalised
 * value: a value its rule refuses is OMNI_STORE_INVALID where an admin
 * names it, and skipped in a claim.  Values are kept normalised.
 */
int omni_store_use_keyring(omni_store_t *st, const omni_keyring_t *kr,
    char *err);

/* whether the store is sealed (1) or keeps plain text (0) */
int omni_store_is_sealed(omni_store_t *st);

/*
 * Crypto-erasure of customer (and of every customer merged into it): in
 * one write transaction its data key, identities, sessions, journey and
 * every other record of it go, and meta records that it was erased at
 * now, so that an import brings none of its records back.  Refused
 * (OMNI_STORE_INVALID) for a customer merged into another: erase the
 * survivor.  *records (may be NULL) counts the records deleted.
 */
int omni_store_customer_erase(omni_store_t *st, const char *customer,
    int64_t now, size_t *records, char *err);

/*
 * Rotation: re-wraps up to max data keys not wrapped by the keyring's
 * newest KEK, in one write transaction, from where the last call stopped
 * (a cursor in meta, so a crash or a stop loses nothing).  *done counts
 * those re-wrapped, *finished is set when no key is left.  Call it in a
 * loop; every process that opens the store must have the new KEK first
 * (reload nginx after omnictl keys rotate).
 */
int omni_store_rewrap(omni_store_t *st, size_t max, size_t *done,
    int *finished, char *err);

/*
 * Index-key rotation: moves up to max identities to the blind index of
 * the keyring's newest index key, in one write transaction, from where
 * the last call stopped (meta keeps the target version and a cursor).
 * Until the rebuild is finished every lookup tries the new index, then
 * the old one, and new links take the new one; then the store is keyed
 * by the new version alone.  *finished is set when nothing is left.
 * Every process that opens the store must have the new index key first.
 * *from and *to (may be NULL) receive the versions.
 */
int omni_store_reindex(omni_store_t *st, size_t max, size_t *done,
    int *finished, uint32_t *from, uint32_t *to, char *err);

/* the index version the map is keyed by, and a rebuild's target or 0 */
int omni_store_index_versions(omni_store_t *st, uint32_t *current,
    uint32_t *next, char *err);

/* how many data keys each KEK version wraps, versions in growing order */
typedef struct {
    uint32_t   version;
    size_t     keys;
} omni_store_kek_use_t;

int omni_store_kek_usage(omni_store_t *st, omni_store_kek_use_t *out,
    size_t max, size_t *n, char *err);


/* sessions */

int omni_store_session_get(omni_store_t *st, const char *id,
    omni_store_session_t *s, char *err);

/* Creates or replaces s->id; context must be "" or a JSON object. */
int omni_store_session_put(omni_store_t *st, const omni_store_session_t *s,
    char *err);

/*
 * Records that session id was seen on channel at now.  Writes only when
 * the channel is new to the session or last_seen is min_interval seconds
 * or more behind now, so most requests take no write lock; *wrote (may be
 * NULL) says which.  s (may be NULL) receives the session as it now is.
 */
int omni_store_session_touch(omni_store_t *st, const char *id,
    const char *channel, int64_t now, int64_t min_interval, int *wrote,
    omni_store_session_t *s, char *err);

int omni_store_session_delete(omni_store_t *st, const char *id, char *err);

/*
 * Up to max session ids of customer in id order, starting after the id
 * "after" (NULL: from the first).
 */
int omni_store_sessions_by_customer(omni_store_t *st, const char *customer,
    const char *after, omni_store_id_t *ids, size_t max, size_t *n,
    char *err);

/* up to max session ids of the store in id order, after the id after */
int omni_store_sessions_list(omni_store_t *st, const char *after,
    omni_store_id_t *ids, size_t max, size_t *n, char *err);

/*
 * Deletes up to max_batch sessions idle for idle_timeout seconds or more,
 * or created absolute_timeout seconds or more before now (a timeout of 0
 * is off), oldest first; *purged says how many.  Call again while
 * *purged == max_batch.
 */
int omni_store_session_purge(omni_store_t *st, int64_t now,
    int64_t idle_timeout, int64_t absolute_timeout, size_t max_batch,
    size_t *purged, char *err);


/*
 * The live session of customer on channel at now, for the request
 * pipeline.  A session is live while its last_seen is less than idle
 * seconds and its creation less than absolute seconds (0: no bound)
 * behind now; of several, the most recently seen wins.  A live session
 * is touched as omni_store_session_touch() does (touch_interval); with
 * none, a session new_id is created for customer.  *created says which.
 * The choice is made again inside the write transaction, so two workers
 * racing for the same customer end in one session.  s receives it.
 */
int omni_store_session_resume(omni_store_t *st, const char *customer,
    const char *channel, int64_t now, int64_t idle, int64_t absolute,
    int64_t touch_interval, const char *new_id, omni_store_session_t *s,
    int *created, char *err);

/*
 * Rewrites the context of session id in one write transaction: update
 * receives the current context (a JSON object, or "" with len 0) and
 * writes the new one (at most OMNI_STORE_CONTEXT_MAX bytes) into out,
 * returning OMNI_STORE_OK, or another status with a message in err to
 * leave the session as it is.  s (may be NULL) receives the session.
 */
typedef int (*omni_store_update_pt)(void *data, const char *context,
    size_t len, char *out, size_t *out_len, char *err);

int omni_store_session_update(omni_store_t *st, const char *id,
    omni_store_update_pt update, void *data, omni_store_session_t *s,
    char *err);


/* identities and customers */

/*
 * The customer an identity ("phone", "+8613800000000") belongs to, after
 * following "merged into" records to the surviving customer.
 */
int omni_store_identity_resolve(omni_store_t *st, const char *type,
    const char *value, char *customer, char *err);

/*
 * Links the identity to customer (to its survivor when it was merged),
 * moving it when it belonged to another customer.  A customer holds at
 * most OMNI_STORE_IDENTITIES_MAX identities.
 */
int omni_store_identity_link(omni_store_t *st, const char *type,
    const char *value, const char *customer, char *err);
int omni_store_identity_unlink(omni_store_t *st, const char *type,
    const char *value, char *err);

/*
 * Whether the store can hold the identity: its type and value names, and
 * in a sealed store a value its type's rule normalises (omni_blind.h).
 * OMNI_STORE_INVALID says why in err, without the value.
 */
int omni_store_identity_check(omni_store_t *st, const char *type,
    const char *value, char *err);

int omni_store_identities_by_customer(omni_store_t *st, const char *customer,
    const omni_store_identity_t *after, omni_store_identity_t *ids,
    size_t max, size_t *n, char *err);

/*
 * The customer of a request that showed identities ids[0..n-1] (at most
 * OMNI_STORE_CLAIM_MAX): the survivor of the first identity, in order,
 * that resolves.  Reads only, unless create is set and an identity is
 * unknown: then, in one write transaction that resolves again, the
 * unknown identities are linked to that customer, or all of them to a
 * new customer new_id when none resolved (*created is set).  Identities
 * of other customers are left where they are (merging is the admin's
 * decision), as are identities past OMNI_STORE_IDENTITIES_MAX and those
 * the map cannot hold (a space in the value, too long).  Without create
 * and with no match, OMNI_STORE_NOT_FOUND.
 */
int omni_store_customer_claim(omni_store_t *st,
    const omni_store_identity_t *ids, size_t n, int create,
    const char *new_id, char *customer, int *created, char *err);

/*
 * The surviving customer of id: id itself unless it was merged.  Sessions
 * and journeys keep the customer id they were written with; resolve it.
 */
int omni_store_customer_resolve(omni_store_t *st, const char *id,
    char *survivor, char *err);

/*
 * Merges customer from into to (into the survivor of to): every identity
 * of from moves, and from and every customer merged into it resolve to
 * the survivor from now on.  OMNI_STORE_NOT_FOUND when from or the
 * survivor of to has no record at all (a customer exists only through
 * its records: identities, sessions, journey, merges).  Refused
 * (OMNI_STORE_INVALID) when from was merged already, when the survivor
 * of to is from (a loop), or when the survivor would pass
 * OMNI_STORE_IDENTITIES_MAX identities or OMNI_STORE_MERGED_MAX merged
 * customers.  Chains never grow past one hop.  Nothing changes unless
 * the merge succeeds.
 */
int omni_store_customer_merge(omni_store_t *st, const char *from,
    const char *to, int64_t now, char *err);


/* revocations */

/* expires_at of 0: kept until removed, else purged once passed */
int omni_store_revoke_jti(omni_store_t *st, const char *jti,
    int64_t expires_at, char *err);
/* also deletes the session: no channel resumes it */
int omni_store_revoke_session(omni_store_t *st, const char *id, int64_t now,
    char *err);
/* tokens of sub issued before "before" (iat < before, or no iat) */
int omni_store_revoke_subject_before(omni_store_t *st, const char *sub,
    int64_t before, char *err);

/*
 * Checks the rules in order jti, session, subject; NULL skips one.  iat < 0
 * means the token has none.  *rule is OMNI_STORE_REVOKED_NONE or the rule
 * that matched.
 */
int omni_store_is_revoked(omni_store_t *st, const char *jti,
    const char *session, const char *sub, int64_t iat, int *rule, char *err);

/* records of one kind in value order, starting after "after" (or NULL) */
int omni_store_revocations_list(omni_store_t *st, int kind, const char *after,
    omni_store_revocation_t *out, size_t max, size_t *n, char *err);
int omni_store_revocation_remove(omni_store_t *st, int kind,
    const char *value, char *err);

/* removes up to max_batch jti revocations with expires_at <= now */
int omni_store_revocations_purge(omni_store_t *st, int64_t now,
    size_t max_batch, size_t *purged, char *err);


/* journeys */

/*
 * Appends ev (ev->seq is set) to the journey of customer, then deletes at
 * most OMNI_STORE_TRIM_BATCH of its oldest events while it holds more than
 * max_count events or they are max_age_ms or more older than ev (0: no
 * bound).
 */
int omni_store_journey_append(omni_store_t *st, const char *customer,
    omni_store_journey_t *ev, size_t max_count, int64_t max_age_ms,
    char *err);

/*
 * Up to max events of customer, newest first, starting before the event
 * "before" (NULL: the newest).
 */
int omni_store_journey_read(omni_store_t *st, const char *customer,
    const omni_store_cursor_t *before, omni_store_journey_t *out, size_t max,
    size_t *n, char *err);


/*
 * Policy revisions (module/omni_policy.h), numbered from 1, kept in the
 * meta database.  The store does not look inside a policy: callers
 * validate it before a put.  At most OMNI_STORE_POLICY_MAX bytes.
 */

#define OMNI_STORE_POLICY_MAX     (4 * 1024 * 1024)

/* a revision of a policy or a workflow */
typedef struct {
    uint32_t   rev;
    int64_t    time;                 /* when it was written */
    char       author[OMNI_STORE_VALUE_MAX + 1];  /* who: a subject */
    char       note[OMNI_STORE_VALUE_MAX + 1];    /* "rollback to 3" */
    size_t     len;                  /* bytes of the document */
} omni_store_revision_info_t;

typedef omni_store_revision_info_t  omni_store_policy_info_t;

/*
 * The current revision, 0 when the store has none; a read.  snapshot (may
 * be NULL) receives the commit it was read at, for
 * omni_store_last_commit().
 */
int omni_store_policy_current(omni_store_t *st, uint32_t *rev,
    uint64_t *snapshot, char *err);

/*
 * The policy of revision rev (0: the current one) in *json (malloc()ed,
 * NUL-terminated, *len bytes) and its info (may be NULL).
 */
int omni_store_policy_get(omni_store_t *st, uint32_t rev, char **json,
    size_t *len, omni_store_policy_info_t *info, char *err);

/* writes the next revision and makes it current; *rev receives it */
int omni_store_policy_put(omni_store_t *st, const char *json, size_t len,
    const char *author, const char *note, int64_t now, uint32_t *rev,
    char *err);

/*
 * Writes revision 1 only when the store has no policy yet (the file
 * named in the configuration seeds it); *rev is 1, or 0 when a policy
 * was there and nothing was written.
 */
int omni_store_policy_seed(omni_store_t *st, const char *json, size_t len,
    const char *author, int64_t now, uint32_t *rev, char *err);

/* up to max revisions, newest first, starting below before (0: newest) */
int omni_store_policy_list(omni_store_t *st, uint32_t before,
    omni_store_policy_info_t *out, size_t max, size_t *n, char *err);


/*
 * Workflow revisions (module/omni_dispatch.h), the same way as the
 * policy's, under keys of their own: the current one is the workflow
 * every worker dispatches with; the file named in the configuration
 * seeds revision 1.  Callers compile a workflow before a put.  At most
 * OMNI_STORE_WORKFLOW_MAX bytes.  Not in the change log: each node's
 * own.
 */

#define OMNI_STORE_WORKFLOW_MAX   (1024 * 1024)

int omni_store_workflow_current(omni_store_t *st, uint32_t *rev, char *err);
int omni_store_workflow_get(omni_store_t *st, uint32_t rev, char **json,
    size_t *len, omni_store_revision_info_t *info, char *err);
int omni_store_workflow_put(omni_store_t *st, const char *json, size_t len,
    const char *author, const char *note, int64_t now, uint32_t *rev,
    char *err);
int omni_store_workflow_seed(omni_store_t *st, const char *json, size_t len,
    const char *author, int64_t now, uint32_t *rev, char *err);
int omni_store_workflow_list(omni_store_t *st, uint32_t before,
    omni_store_revision_info_t *out, size_t max, size_t *n, char *err);

/*
 * The capacities set live (module/omni_dispatch_live.h), a small record
 * kept as revisions the same way: every worker applies the current one.
 */

#define OMNI_STORE_CAPACITY_MAX   65536

int omni_store_capacity_current(omni_store_t *st, uint32_t *rev, char *err);
int omni_store_capacity_get(omni_store_t *st, uint32_t rev, char **json,
    size_t *len, omni_store_revision_info_t *info, char *err);
int omni_store_capacity_put(omni_store_t *st, const char *json, size_t len,
    const char *author, const char *note, int64_t now, uint32_t *rev,
    char *err);
/*
 * The put of a record made from revision base (0: there was none):
 * OMNI_STORE_CONFLICT, nothing written, when another revision became
 * current since; read again and retry.
 */
int omni_store_capacity_replace(omni_store_t *st, uint32_t base,
    const char *json, size_t len, const char *author, const char *note,
    int64_t now, uint32_t *rev, char *err);
int omni_store_capacity_list(omni_store_t *st, uint32_t before,
    omni_store_revision_info_t *out, size_t max, size_t *n, char *err);

/* one event for omni_store_journey_append_many() */
typedef struct {
    const char            *customer;
    omni_store_journey_t  *ev;
} omni_store_journey_item_t;

/*
 * Appends n events, possibly of different customers, in one write
 * transaction (workers batch their events: one commit per batch instead
 * of one per request).  Bounds as omni_store_journey_append().  An event
 * with invalid fields is skipped and counted in *skipped (may be NULL).
 */
int omni_store_journey_append_many(omni_store_t *st,
    omni_store_journey_item_t *items, size_t n, size_t max_count,
    int64_t max_age_ms, size_t *skipped, char *err);

/*
 * The same from a second thread while the one that opened the store goes
 * on reading (nginx's thread pool, so that the commit's fsync is not on
 * the event loop): nothing else of the store may be used from that
 * thread.  OMNI_STORE_AGAIN, nothing written, when the map must be resized
 * first: the opening thread then calls omni_store_journey_append_many().
 */
int omni_store_journey_append_detached(omni_store_t *st,
    omni_store_journey_item_t *items, size_t n, size_t max_count,
    int64_t max_age_ms, size_t *skipped, char *err);


/*
 * Cases (docs/cases.md): a customer's complaint or request, followed from
 * any channel.  A case id is OMNI_STORE_CASE_ID_LEN digits, the last a
 * Luhn check digit, so that a caller can key it in on a phone and a
 * mistyped digit is refused before any lookup; every function that takes
 * a case id checks it (OMNI_STORE_INVALID, "not a case id").
 *
 * Status lifecycle (omni_store_case_transition_valid()):
 *   new      -> open, pending, on_hold, resolved
 *   open     -> pending, on_hold, resolved
 *   pending  -> open, on_hold, resolved       (waiting on the customer)
 *   on_hold  -> open, pending, resolved       (waiting inside)
 *   resolved -> open, closed
 *   closed   -> nothing: a closed case is never changed again; a reply of
 *               the customer to it opens a follow-up case that names it.
 * A refused change is OMNI_STORE_CONFLICT and writes nothing.
 *
 * Every change appends an event to the case (at most
 * OMNI_STORE_CASE_EVENTS events) and one to the customer's journey
 * (action "case.<what>:<id>", outcome the status), in the same write
 * transaction.  In a sealed store the subject and the text of notes are
 * sealed with the customer's data key; the rest (ids, status, times,
 * channel and identity type names, author subjects) is not.
 *
 * Texts: subject 1 to OMNI_STORE_CASE_SUBJECT_MAX bytes of UTF-8 without
 * control characters; a note 1 to OMNI_STORE_CASE_TEXT_MAX bytes of
 * UTF-8, tabs and newlines allowed, no other control character; category
 * and pool names as channels ([A-Za-z0-9_-], 1 to 32); assignee and
 * author as an identity value or a JWT subject (1 to 64 bytes, no space
 * or control character).
 */

#define OMNI_STORE_CASE_ID_LEN       10     /* 9 digits and a check digit */
#define OMNI_STORE_CASE_SUBJECT_MAX  200
#define OMNI_STORE_CASE_TEXT_MAX     2000
#define OMNI_STORE_CASE_NAME_MAX     32     /* category, pool */
#define OMNI_STORE_CASE_AUTHOR_MAX   64     /* author, assignee */
#define OMNI_STORE_CASE_TOUCHES      16     /* the newest touches kept */
#define OMNI_STORE_CASE_EVENTS       256    /* events of one case */
#define OMNI_STORE_CASE_EVENTS_KEPT  16     /* of them, for status changes
                                               only: a full case closes */
#define OMNI_STORE_CASES_OPEN        64     /* cases not closed, per
                                               customer */


enum {
    OMNI_STORE_CASE_NEW = 0,
    OMNI_STORE_CASE_OPEN,
    OMNI_STORE_CASE_PENDING,
    OMNI_STORE_CASE_ON_HOLD,
    OMNI_STORE_CASE_RESOLVED,
    OMNI_STORE_CASE_CLOSED,
    OMNI_STORE_CASE_STATUSES
};

enum {
    OMNI_STORE_CASE_LOW = 0,
    OMNI_STORE_CASE_NORMAL,
    OMNI_STORE_CASE_HIGH,
    OMNI_STORE_CASE_URGENT,
    OMNI_STORE_CASE_PRIORITIES
};

/* event kinds */
enum {
    OMNI_STORE_CASE_EV_CREATED = 0,
    OMNI_STORE_CASE_EV_NOTE,        /* public: the customer sees it */
    OMNI_STORE_CASE_EV_INTERNAL,    /* an internal note */
    OMNI_STORE_CASE_EV_REPLY,       /* the customer's own words */
    OMNI_STORE_CASE_EV_STATUS,
    OMNI_STORE_CASE_EV_ASSIGN,
    OMNI_STORE_CASE_EV_KINDS
};

typedef struct {
    int64_t    time;
    char       channel[OMNI_STORE_CHANNEL_MAX + 1];
    char       identity_type[OMNI_STORE_TYPE_MAX + 1];   /* "" if none */
    char       session[OMNI_STORE_ID_MAX + 1];           /* "" if none */
} omni_store_case_touch_t;

typedef struct {
    char       id[OMNI_STORE_CASE_ID_LEN + 1];
    char       customer[OMNI_STORE_ID_MAX + 1];
    char       subject[OMNI_STORE_CASE_SUBJECT_MAX + 1];
    char       category[OMNI_STORE_CASE_NAME_MAX + 1];
    char       channel[OMNI_STORE_CHANNEL_MAX + 1];      /* where it began */
    char       assignee[OMNI_STORE_CASE_AUTHOR_MAX + 1]; /* "" if none */
    char       pool[OMNI_STORE_CASE_NAME_MAX + 1];       /* "" if none */
    char       follow_up_of[OMNI_STORE_CASE_ID_LEN + 1]; /* "" if none */
    int        status;
    int        priority;
    int64_t    created;
    int64_t    updated;
    int64_t    first_response_due;   /* 0: none */
    int64_t    resolution_due;       /* 0: none */
    int64_t    first_response_at;    /* the first public note; 0: none */
    int64_t    resolved_at;          /* 0 unless resolved or closed */
    int64_t    closed_at;
    uint32_t   nevents;
    uint32_t   touches_total;        /* every touch, kept or not */
    unsigned   ntouches;             /* the newest, oldest first */
    omni_store_case_touch_t  touches[OMNI_STORE_CASE_TOUCHES];
} omni_store_case_t;

typedef struct {
    uint32_t   seq;                  /* from 0, in order */
    int64_t    time;
    int        kind;                 /* OMNI_STORE_CASE_EV_* */
    int        from, to;             /* a status change's statuses */
    char       author[OMNI_STORE_CASE_AUTHOR_MAX + 1];
    char       channel[OMNI_STORE_CHANNEL_MAX + 1];
    size_t     text_len;             /* a note's text, an assignee */
    char       text[OMNI_STORE_CASE_TEXT_MAX + 1];
} omni_store_case_event_t;

/* who changes a case, from where and when: every change takes one */
typedef struct {
    const char  *author;             /* a subject, "customer", a service */
    const char  *channel;            /* "admin" for the admin API */
    const char  *identity_type;      /* a touch's; NULL or "" if none */
    const char  *session;            /* NULL or "" if none */
    int64_t      now;
} omni_store_case_by_t;

/* names: "new", "open", ...; -1 for an unknown name */
const char *omni_store_case_status_name(int status);
int omni_store_case_status_parse(const char *s, size_t len);
const char *omni_store_case_priority_name(int priority);
int omni_store_case_priority_parse(const char *s, size_t len);
const char *omni_store_case_event_name(int kind);
int omni_store_case_transition_valid(int from, int to);

/* 1 when s[0..len-1] is a case id whose check digit holds */
int omni_store_case_id_valid(const char *s, size_t len);
/* the check digit of OMNI_STORE_CASE_ID_LEN - 1 digits */
char omni_store_case_check_digit(const char *digits);
/* the subject and note rules above: 1 when s[0..len-1] passes */
int omni_store_case_text_valid(const char *s, size_t len, size_t max,
    int multiline);

/*
 * Opens a case for c->customer (resolved to its survivor) with c's
 * subject, category, priority, channel, assignee, pool and due times
 * (an SLA: omni_case_sla.h); the id, status new, times and the first
 * touch (by) are set here, and c receives the case as stored.  At most
 * OMNI_STORE_CASES_OPEN cases of a customer may be open.  Refused for an
 * erased customer.
 */
int omni_store_case_create(omni_store_t *st, omni_store_case_t *c,
    const omni_store_case_by_t *by, char *err);

/* the case id (check digit checked), subject opened when sealed */
int omni_store_case_get(omni_store_t *st, const char *id,
    omni_store_case_t *c, char *err);

/* status change; c (may be NULL) receives the case as it now is */
int omni_store_case_set_status(omni_store_t *st, const char *id, int status,
    const omni_store_case_by_t *by, omni_store_case_t *c, char *err);

/*
 * A note: kind OMNI_STORE_CASE_EV_NOTE, _INTERNAL or _REPLY.  A reply to
 * a closed case opens a follow-up instead (same customer, category,
 * priority and subject, due times given in c_due, may be NULL: none), its
 * first event the reply; follow_up (may be NULL, OMNI_STORE_CASE_ID_LEN
 * + 1 bytes) receives its id, else "".  Any other note to a closed case
 * is OMNI_STORE_CONFLICT.  A public note by anyone but the customer sets
 * first_response_at once; a reply to a pending case makes it open.
 */
int omni_store_case_note(omni_store_t *st, const char *id, int kind,
    const char *text, size_t len, const omni_store_case_by_t *by,
    const omni_store_case_t *c_due, char *follow_up, char *err);

/* assignee and pool, each "" to clear; a closed case is refused */
int omni_store_case_assign(omni_store_t *st, const char *id,
    const char *assignee, const char *pool, const omni_store_case_by_t *by,
    char *err);

/*
 * A touch: the customer came back to the case from by's channel (the
 * newest OMNI_STORE_CASE_TOUCHES are kept).  Not an event; no journey
 * event either (the request that touched has its own).
 */
int omni_store_case_touch(omni_store_t *st, const char *id,
    const omni_store_case_by_t *by, char *err);

/* events of a case in order, from seq "from" on, public ones only if set */
int omni_store_case_events(omni_store_t *st, const char *id, uint32_t from,
    int public_only, omni_store_case_event_t *out, size_t max, size_t *n,
    char *err);

/*
 * Case ids of customer, those not closed first (oldest first), then the
 * closed ones (oldest first), starting after the case "after" (NULL:
 * from the first); open_only stops at the first closed one.
 */
int omni_store_cases_by_customer(omni_store_t *st, const char *customer,
    const char *after, int open_only, omni_store_id_t *ids, size_t max,
    size_t *n, char *err);

/*
 * The open cases of customer (new to on_hold), at most max (up to
 * OMNI_STORE_CASES_OPEN), oldest first, as the contract carries them:
 * due is the first response's due time while none was given, else the
 * resolution's (0: none).  No subject is opened.
 */
typedef struct {
    char       id[OMNI_STORE_CASE_ID_LEN + 1];
    char       category[OMNI_STORE_CASE_NAME_MAX + 1];
    int        status;
    int64_t    due;
} omni_store_case_brief_t;

int omni_store_cases_open_brief(omni_store_t *st, const char *customer,
    omni_store_case_brief_t *out, size_t max, size_t *n, char *err);

/*
 * The open cases (new to on_hold) past a due time at now: a first
 * response due and not given, a resolution due.  A scan of the status
 * index (there is no due-time index): at most max cases are read, and
 * truncated says the count stopped there.
 */
typedef struct {
    uint64_t   first_response;
    uint64_t   resolution;
    size_t     scanned;
    int        truncated;
} omni_store_cases_due_t;

int omni_store_cases_past_due(omni_store_t *st, int64_t now, size_t max,
    omni_store_cases_due_t *out, char *err);

/* case ids of one status, oldest first, after the case "after" */
int omni_store_cases_by_status(omni_store_t *st, int status,
    const char *after, omni_store_id_t *ids, size_t max, size_t *n,
    char *err);


/* backup: raw records, exported and imported as they are stored */

typedef struct {
    int            db;               /* OMNI_STORE_DB_* */
    const void    *key;
    size_t         key_len;          /* 1 to 511 */
    const void    *val;
    size_t         val_len;
} omni_store_record_t;

/* returns 0 to go on, anything else to stop the export with that value */
typedef int (*omni_store_record_pt)(void *data,
    const omni_store_record_t *rec);

/*
 * Calls record for every record of every sub-database, meta first (it
 * holds the format record), from one read snapshot.  A callback's
 * non-zero return stops the export: OMNI_STORE_ERROR, "stopped".
 */
int omni_store_export(omni_store_t *st, omni_store_record_pt record,
    void *data, char *err);

/*
 * Writes n records in one write transaction, replacing records with the
 * same keys.  A meta "format" record must be the store's (plain or
 * sealed), a meta "keyring" record the id the store records (made with
 * that keyring, an export goes only where the keyring is).  A record of a
 * customer the store erased (omni_store_customer_erase()) is not written
 * but counted in *skipped (may be NULL): an older export brings none of
 * it back.
 */
int omni_store_import(omni_store_t *st, const omni_store_record_t *recs,
    size_t n, size_t *skipped, char *err);


/*
 * The change log (docs/cluster.md), for omni-sync: every local revocation
 * put or removal, every policy revision but a seed, every identity link
 * or unlink, merge and erasure, and every session and case write (below)
 * appends a change in the same write transaction, numbered from 1 (seq).
 * The log keeps the newest max changes (set by
 * omni_store_changes_limit(), OMNI_STORE_CHANGES_KEEP by default); first
 * is the oldest kept, so a reader whose cursor is below first - 1 knows
 * it missed changes and must resync fully.  Changes applied from another
 * node (omni_store_changes_apply()) are not logged again.  The log and
 * the cursors live in the "changes" sub-database, which export leaves
 * out and import refuses: they are this node's, not data.
 *
 * A change on the wire (omni_store_change_encode()/_decode()) is the
 * record as stored: 1, be64 seq, family, op, be64 time_ms, len origin,
 * be16 key length, key, be16 value length, value, and for a policy be32
 * length and the policy (at most OMNI_STORE_POLICY_MAX bytes; none in
 * the log, which names the revision: a seed is not logged).  The decoder
 * takes untrusted bytes (a NATS message) and refuses anything ambiguous;
 * data then points into them.
 *
 * Policies: the stream's order decides.  A policy from another node
 * becomes the current one as a new local revision (author the origin
 * node), unless it is the current one already; a node's own policy
 * change coming back does the same unless the node changed its policy
 * again since (policy_local), so every node ends with the last policy of
 * the stream.  The store does not look inside: omni-sync compiles a
 * policy (omni_policy.h) before it hands it over.
 *
 * Identity links, merges and erasures (omni_store_changes_customer.c for
 * their encoding): links follow the stream's order, a node's own applied
 * again where the stream has it unless the node changed that identity
 * since; merges are idempotent and follow survivors, the lower id
 * surviving two concurrent merges of one customer; erasures win over
 * links and merges.  A sealed store's link carries the value sealed and
 * the customer's data key wrapped: a store whose keyring cannot unwrap
 * it fails the batch (OMNI_STORE_ERROR), so that the change waits.
 */

#define OMNI_STORE_CHANGES_KEEP    100000
#define OMNI_STORE_CHANGE_KEY_MAX  (OMNI_STORE_TYPE_MAX + 1                  \
                                    + OMNI_STORE_VALUE_MAX)
                                   /* "j:"<jti>, <type>:<value> */
#define OMNI_STORE_CHANGE_VAL_MAX  512  /* a link's customer, wrapped data
                                           key and sealed value */
#define OMNI_STORE_CHANGE_WIRE_MAX (1 + 8 + 2 + 8 + 1 + OMNI_STORE_ID_MAX    \
                                    + 2 + OMNI_STORE_CHANGE_KEY_MAX + 2       \
                                    + OMNI_STORE_CHANGE_VAL_MAX + 4)
                                    /* and a policy's data_len bytes */

/* families other work adds are numbered apart, so none takes another's */
enum {
    OMNI_STORE_FAMILY_REVOCATION = 1,
    OMNI_STORE_FAMILY_POLICY,          /* key "p:"<be32 revision> */

    /* numbered apart, so that other families may come in between */
    OMNI_STORE_FAMILY_IDENTITY = 8,    /* key <type>:<value or index> */
    OMNI_STORE_FAMILY_MERGE,           /* key the customer merged */
    OMNI_STORE_FAMILY_ERASURE,         /* key the customer erased */

    /* this slice's families (sessions, cases, journeys), apart again */
    OMNI_STORE_FAMILY_SESSION = 16,    /* key the session id */
    OMNI_STORE_FAMILY_CASE,            /* key the case id */
    OMNI_STORE_FAMILY_JOURNEY          /* key the customer id */
};

enum {
    OMNI_STORE_CHANGE_PUT = 1,
    OMNI_STORE_CHANGE_DELETE
};

typedef struct {
    uint64_t       seq;
    int            family;           /* OMNI_STORE_FAMILY_* */
    int            op;               /* OMNI_STORE_CHANGE_* */
    int64_t        time_ms;          /* when it was written */
    char           origin[OMNI_STORE_ID_MAX + 1];  /* node id, "" unset */
    size_t         key_len;          /* revocation: "j:"<jti>, "s:", "u:" */
    unsigned char  key[OMNI_STORE_CHANGE_KEY_MAX];
    size_t         val_len;          /* revocation put: the 9-byte record;
                                        identity, merge: see
                                        omni_store_changes_customer.c */
    unsigned char  val[OMNI_STORE_CHANGE_VAL_MAX];
    const unsigned char  *data;      /* policy: the policy's text, on the */
    size_t         data_len;         /* wire only (0 in the log) */
} omni_store_change_t;

typedef struct {
    uint64_t   last;                 /* the newest local change, 0: none */
    uint64_t   first;                /* the oldest kept (last + 1: none) */
    uint64_t   max;                  /* changes kept */
    uint64_t   published;            /* omni-sync's cursors */
    uint64_t   applied;              /* a stream sequence */
    uint64_t   policy_local;         /* the newest local policy change */
    int64_t    caught_up;            /* when omni-sync last found nothing
                                        left to apply (s), 0: never */
    char       node[OMNI_STORE_ID_MAX + 1];   /* "" until omni-sync runs */
    uint64_t   resync_request;       /* the last full resync asked */
    int64_t    resync_since;         /* ms: one wanted since, 0: none */
} omni_store_changes_state_t;

/* the state; a store without a change yet gives last 0, first 1 */
int omni_store_changes_state(omni_store_t *st,
    omni_store_changes_state_t *state, char *err);

/* up to max changes with seq > after, in order */
int omni_store_changes_read(omni_store_t *st, uint64_t after,
    omni_store_change_t *out, size_t max, size_t *n, char *err);

/* keeps the newest max changes (>= 1), trimming the older ones now */
int omni_store_changes_limit(omni_store_t *st, uint64_t max, char *err);

/*
 * Records the node id the store's changes come from: refused
 * (OMNI_STORE_INVALID) when it records another one.
 */
int omni_store_changes_node(omni_store_t *st, const char *node, char *err);

/* records that every local change up to seq reached the engine */
int omni_store_changes_published(omni_store_t *st, uint64_t seq, char *err);

/*
 * Records that omni-sync found nothing left to apply at now (seconds),
 * for the gateway's fail-closed check (omni_cluster fail_closed_lag=).
 */
int omni_store_changes_caught_up(omni_store_t *st, int64_t now, char *err);

/*
 * The stream the applied cursor counts in: its name and when the engine
 * made it (ns since the epoch).  Recorded the first time; a stream of
 * another name or made at another time (deleted and made again, its
 * messages numbered from 1 again) sets the cursor back to 0 in the same
 * transaction, and *made_again says so.
 */
int omni_store_changes_stream(omni_store_t *st, const char *name,
    int64_t created, int *made_again, char *err);

/* the stream recorded, OMNI_STORE_NOT_FOUND before the first */
int omni_store_changes_stream_get(omni_store_t *st,
    char name[OMNI_STORE_ID_MAX + 1], int64_t *created, char *err);

/*
 * A full resync on the consuming side (docs/cluster.md): records that
 * this node wants one (a restart asks again), since now_ms unless it
 * wanted one already, and gives the new request's number in *request
 * (growing, now_ms at least).  _done() clears the record when request
 * is still the last one asked.
 */
int omni_store_changes_resync(omni_store_t *st, int64_t now_ms,
    uint64_t *request, char *err);
int omni_store_changes_resync_done(omni_store_t *st, uint64_t request,
    char *err);

/*
 * Applies change c, the stream's message stream_seq, in one write
 * transaction with the applied cursor, without logging it: *applied (may
 * be NULL) is 0 when stream_seq is not past the cursor (a redelivery:
 * nothing changes) or c is a revocation from this node (the cursor moves
 * only).  Revocations are a union: a put keeps the stronger of the two
 * records (a jti's later expiry or none, a subject's later cut); a delete
 * removes the revocation.  c NULL only moves the cursor (a message that
 * could not be read).  A change the store refuses is passed over too
 * (the cursor moves, nothing else is written) and OMNI_STORE_INVALID
 * returned with the reason in err.  OMNI_STORE_ERROR writes nothing, the
 * cursor included: a sealed identity change this store's keyring cannot
 * open waits so.
 */
int omni_store_changes_apply(omni_store_t *st, const omni_store_change_t *c,
    uint64_t stream_seq, int *applied, char *err);

/*
 * The same for n messages in one write transaction (one commit for a
 * fetched batch), stream sequences growing.  A change the store refuses
 * (OMNI_STORE_INVALID in its rc, the first refusal's message in err) is
 * passed over and the others applied; any other failure writes nothing
 * and is returned.
 */
typedef struct {
    const omni_store_change_t  *change;
    uint64_t                    stream_seq;
    int                         applied;
    int                         rc;
    size_t                      records;   /* an erasure applied: the
                                              records it deleted here */
} omni_store_change_item_t;

int omni_store_changes_apply_batch(omni_store_t *st,
    omni_store_change_item_t *items, size_t n, char *err);

/*
 * The same for the changes of a full resync, from another stream: the
 * same rules, no stream sequence (ignored), no cursor moved.
 */
int omni_store_changes_apply_resync(omni_store_t *st,
    omni_store_change_item_t *items, size_t n, char *err);

/*
 * For a full resync (omni-sync): changes that describe the store's
 * erasures, merges, the unlinks trimmed from the log before they were
 * published, then its identity links, up to max from cursor on (zeroed
 * before the first call); fewer than max when done.  Their seq, time and
 * origin are the caller's to set.
 */
typedef struct {
    int            phase;
    size_t         len;
    unsigned char  key[1 + OMNI_STORE_CHANGE_KEY_MAX];
} omni_store_customer_cursor_t;

int omni_store_customer_changes(omni_store_t *st,
    omni_store_customer_cursor_t *cur, omni_store_change_t *out, size_t max,
    size_t *n, char *err);

/*
 * The change that sends the current policy again in a full resync, when
 * the newest local policy change was trimmed from the log unpublished
 * and no policy from the cluster replaced it since; its seq, time and
 * origin the caller's.  OMNI_STORE_NOT_FOUND when there is none to send.
 */
int omni_store_policy_resync(omni_store_t *st, omni_store_change_t *c,
    char *err);

int omni_store_change_encode(const omni_store_change_t *c, unsigned char *out,
    size_t cap, size_t *len, char *err);
int omni_store_change_decode(const unsigned char *p, size_t len,
    omni_store_change_t *c, char *err);

/*
 * Sessions (docs/cluster.md): every local session write (a start, a
 * touch the touch interval let through, a context change, a put) logs a
 * change naming the session; ends travel as session revocations, expiry
 * is each node's own.  On the wire the change carries the session as it
 * is when published (data: OMNI_STORE_SESSION_DATA_MAX bytes at most): 1,
 * be64 created, be64 last_seen, be64 context_ms, len context_origin, len
 * customer, nchannels, nchannels x (len channel), be16 context length,
 * context.
 * Applied, it is merged into the node's session of that id: created the
 * earlier, last_seen the later, the channels both lists (up to
 * OMNI_STORE_CHANNELS), the context the one of the later version (time,
 * then origin node); a revoked session, one of an erased customer or of
 * another customer here is not written.
 *
 * omni_store_change_session_encode() encodes change c of the log (a
 * session change) into out with the session as it is now, node naming
 * this node: OMNI_STORE_NOT_FOUND when the session is gone (ended or
 * expired since: nothing to publish).
 */
#define OMNI_STORE_SESSION_DATA_MAX  (1 + 8 + 8 + 8 + 1 + OMNI_STORE_ID_MAX \
                                      + 1 + OMNI_STORE_ID_MAX + 1           \
                                      + OMNI_STORE_CHANNELS                 \
                                        * (1 + OMNI_STORE_CHANNEL_MAX)      \
                                      + 2 + OMNI_STORE_CONTEXT_MAX)
#define OMNI_STORE_SESSION_MSG_MAX   (OMNI_STORE_CHANGE_WIRE_MAX            \
                                      + OMNI_STORE_SESSION_DATA_MAX)

int omni_store_change_session_encode(omni_store_t *st,
    omni_store_change_t *c, const char *node, unsigned char *out,
    size_t cap, size_t *len, char *err);

/*
 * Cases between nodes (docs/cluster.md): every local case write (an
 * open, a follow-up, a status change, a note, a reply, an assignment, a
 * touch) logs a change naming the case and the events it appended (value
 * be32 the first event's number, the count, at most
 * OMNI_STORE_CASE_MSG_EVENTS).  On the wire the change carries the case
 * as it is when published and those events, texts and subject opened
 * (data: OMNI_STORE_CASE_DATA_MAX bytes at most): 1, len origin (the
 * node that wrote the record last), len customer, status, priority, be64
 * created, updated, first_response_due, resolution_due,
 * first_response_at, resolved_at, closed_at, be32 touches_total, len
 * category, len channel, len assignee, len pool, len follow_up_of, be16
 * subject length, subject, ntouches x (be64 time, len channel, len
 * identity type, len session), nevents x (be64 time, kind, from, to, len
 * author, len channel, be16 text length, text).
 *
 * Applied, the events are appended (a union) and the record is the one
 * of the later write (updated, then the origin node), but for a closed
 * case: a closed case keeps its record, one not closed takes a closing
 * record whenever it comes.  first_response_at is the earlier, the
 * touches those of both (the newest OMNI_STORE_CASE_TOUCHES).  A case of
 * an erased customer is not written; one whose id names another case
 * here (another customer or creation time) is refused.  No journey event
 * is written for a case change from another node (the one its node wrote
 * comes with the journeys).
 *
 * omni_store_case_digit() makes every case id this node gives begin with
 * digit (0 to 9; -1: any, the default), so that up to ten nodes never
 * give the same id; omni-sync --case-digit sets it.
 */
#define OMNI_STORE_CASE_MSG_EVENTS   2
#define OMNI_STORE_CASE_DATA_MAX                                             \
    (1 + 2 * (1 + OMNI_STORE_ID_MAX) + 2 + 7 * 8 + 4                         \
     + 2 * (1 + OMNI_STORE_CASE_NAME_MAX) + 1 + OMNI_STORE_CHANNEL_MAX        \
     + 1 + OMNI_STORE_CASE_AUTHOR_MAX + 1 + OMNI_STORE_CASE_ID_LEN           \
     + 2 + OMNI_STORE_CASE_SUBJECT_MAX + 1                                   \
     + OMNI_STORE_CASE_TOUCHES * (8 + 1 + OMNI_STORE_CHANNEL_MAX + 1         \
                                  + OMNI_STORE_TYPE_MAX + 1                  \
                                  + OMNI_STORE_ID_MAX)                       \
     + 1 + OMNI_STORE_CASE_MSG_EVENTS * (8 + 3 + 1                           \
                                         + OMNI_STORE_CASE_AUTHOR_MAX + 1    \
                                         + OMNI_STORE_CHANNEL_MAX + 2        \
                                         + OMNI_STORE_CASE_TEXT_MAX))
#define OMNI_STORE_CASE_MSG_MAX      (OMNI_STORE_CHANGE_WIRE_MAX             \
                                      + OMNI_STORE_CASE_DATA_MAX)

int omni_store_change_case_encode(omni_store_t *st, omni_store_change_t *c,
    const char *node, unsigned char *out, size_t cap, size_t *len,
    char *err);
int omni_store_case_digit(omni_store_t *st, int digit, char *err);

/*
 * Journeys between nodes (docs/cluster.md): every local journey event (a
 * request's, a case change's) is logged in a journey log of its own, in
 * the transaction that appends it (the workers' batch, in their thread
 * pool), so that a burst of requests never holds a revocation back.  The
 * log keeps the newest OMNI_STORE_JOURNEY_LOG_KEEP events, from the first
 * start of omni-sync on the store (omni_store_journeys_enable()) on.  omni-sync
 * publishes it on a stream of its own, one subject per customer, with
 * per-customer and age limits, and applies the other nodes' events with
 * a cursor of their own: a union, each event appended where it arrives,
 * not logged again, the count bound left to the node's next append of
 * that customer.
 *
 * On the wire a journey change is a put of family
 * OMNI_STORE_FAMILY_JOURNEY, key the customer, no value, and the event
 * as data: 1, be64 time_ms, len channel, len action, len outcome, len
 * session, and for a dispatched request len pool, len rule, len intent.
 */
#define OMNI_STORE_JOURNEY_LOG_KEEP  100000
#define OMNI_STORE_JOURNEY_DATA_MAX  (1 + 8 + 1 + OMNI_STORE_CHANNEL_MAX     \
                                      + 4 * (1 + OMNI_STORE_NAME_MAX)        \
                                      + 1 + OMNI_STORE_ID_MAX                \
                                      + 1 + OMNI_STORE_INTENT_MAX)
#define OMNI_STORE_JOURNEY_MSG_MAX   (OMNI_STORE_CHANGE_WIRE_MAX            \
                                      + OMNI_STORE_JOURNEY_DATA_MAX)

typedef struct {
    uint64_t   last;                 /* the newest logged event, 0: none */
    uint64_t   first;                /* the oldest kept (last + 1: none) */
    uint64_t   published;            /* omni-sync's cursors */
    uint64_t   applied;              /* a journey stream sequence */
} omni_store_journeys_state_t;

/* a logged event: c.data points into data */
typedef struct {
    omni_store_change_t  c;
    unsigned char        data[OMNI_STORE_JOURNEY_DATA_MAX];
} omni_store_journey_change_t;

/*
 * Starts the journey log (omni-sync does when it starts): a store that
 * never had a sync logs no journey event, its journeys stay its own.
 */
int omni_store_journeys_enable(omni_store_t *st, char *err);
int omni_store_journeys_state(omni_store_t *st,
    omni_store_journeys_state_t *state, char *err);
/* up to max logged events with seq > after, in order */
int omni_store_journeys_read(omni_store_t *st, uint64_t after,
    omni_store_journey_change_t *out, size_t max, size_t *n, char *err);
/* records that every logged event up to seq reached the engine */
int omni_store_journeys_published(omni_store_t *st, uint64_t seq,
    char *err);
/*
 * The journey stream's messages n at a time, in one write transaction
 * with the journey cursor, as omni_store_changes_apply_batch() does for
 * the change stream: redeliveries and this node's own events only move
 * the cursor; an event the store refuses is passed over.
 */
int omni_store_journeys_apply_batch(omni_store_t *st,
    omni_store_change_item_t *items, size_t n, char *err);

#endif /* OMNI_STORE_H_INCLUDED_ */
