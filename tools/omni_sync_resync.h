/*
 * Copyright (C) The omni gateway authors
 *
 * omni-sync's publishing side beyond the log (tools/omni_sync_resync.c):
 * a change on the wire (a policy with its policy, a session or a case as
 * the store holds it), and the full resync a
 * node publishes when its log was trimmed past what it published
 * (docs/cluster.md, "Full resync").
 */


#ifndef OMNI_SYNC_RESYNC_H_INCLUDED_
#define OMNI_SYNC_RESYNC_H_INCLUDED_


#include <stdint.h>

#include <nats/nats.h>

#include "omni_store.h"


#define OMNI_SYNC_BATCH       256       /* changes published, messages
                                           fetched per round */

#define OMNI_SYNC_OK          0
#define OMNI_SYNC_STORE      -1         /* the store failed (logged) */
#define OMNI_SYNC_ENGINE     -2         /* a publish failed: ns, jerr */


/* what the publishing side uses of omni-sync's state */
typedef struct {
    omni_store_t        *st;
    jsCtx               *js;
    natsConnection      *nc;
    const char          *node;
    const char          *subject;       /* omni.changes.<node> */
    void               (*log)(void *data, const char *text);
    void                *data;
    natsStatus           ns;            /* OMNI_SYNC_ENGINE: why */
    jsErrCode            jerr;
} omni_sync_out_t;


/*
 * A policy change on the wire: the revision the log names, read from the
 * store, after the record (malloc()ed in *out).  OMNI_STORE_INVALID for
 * one that cannot go (gone, larger than the server takes): passed over.
 */
int omni_sync_policy(omni_sync_out_t *o, omni_store_change_t *c,
    unsigned char **out, size_t *len, char *err);

/*
 * A change on the wire in *out (len bytes): a session or a case as the
 * store holds it now (OMNI_STORE_NOT_FOUND: gone since, nothing to
 * send), a policy with its text (in *big, malloc()ed, to free), anything
 * else as logged.  *out is valid until the next call.
 */
#define OMNI_SYNC_RECORD_MAX  (OMNI_STORE_CASE_MSG_MAX                     \
                               > OMNI_STORE_SESSION_MSG_MAX                \
                               ? OMNI_STORE_CASE_MSG_MAX                   \
                               : OMNI_STORE_SESSION_MSG_MAX)

int omni_sync_encode(omni_sync_out_t *o, omni_store_change_t *c,
    unsigned char **out, size_t *len, unsigned char **big, char *err);

/*
 * The full resync, numbered upto (the last change the log trimmed), then
 * the published cursor moved to upto: OMNI_SYNC_OK, OMNI_SYNC_STORE or
 * OMNI_SYNC_ENGINE.
 */
int omni_sync_resync(omni_sync_out_t *o, uint64_t upto);


#endif /* OMNI_SYNC_RESYNC_H_INCLUDED_ */
