/*
 * Copyright (C) The omni gateway authors
 *
 * Workflow revisions (omni_store.h, "workflow revisions"): the dispatch
 * workflow, and the capacities set live, as two of the store's
 * revisioned documents (omni_store_revision.c).  The store does not look
 * inside them: the dispatch engine (omni_dispatch.c,
 * omni_dispatch_live.c) reads them.  They are this node's own: they are
 * not in the change log.
 */


#include <stdint.h>
#include <stdlib.h>

#include <lmdb.h>

#include "omni_store_int.h"


int
omni_store_workflow_current(omni_store_t *st, uint32_t *rev, char *err)
{
    return omni_store_doc_current(st, &omni_store_doc_workflow, rev, NULL,
                                  err);
}


int
omni_store_workflow_get(omni_store_t *st, uint32_t rev, char **json,
    size_t *len, omni_store_revision_info_t *info, char *err)
{
    return omni_store_doc_get(st, &omni_store_doc_workflow, rev, json, len,
                              info, err);
}


int
omni_store_workflow_put(omni_store_t *st, const char *json, size_t len,
    const char *author, const char *note, int64_t now, uint32_t *rev,
    char *err)
{
    return omni_store_doc_put(st, &omni_store_doc_workflow, json, len, author,
                              note, now, 0, rev, err);
}


int
omni_store_workflow_seed(omni_store_t *st, const char *json, size_t len,
    const char *author, int64_t now, uint32_t *rev, char *err)
{
    return omni_store_doc_put(st, &omni_store_doc_workflow, json, len, author,
                              NULL, now, 1, rev, err);
}


int
omni_store_workflow_list(omni_store_t *st, uint32_t before,
    omni_store_revision_info_t *out, size_t max, size_t *n, char *err)
{
    return omni_store_doc_list(st, &omni_store_doc_workflow, before, out, max,
                               n, err);
}


int
omni_store_capacity_current(omni_store_t *st, uint32_t *rev, char *err)
{
    return omni_store_doc_current(st, &omni_store_doc_capacity, rev, NULL,
                                  err);
}


int
omni_store_capacity_get(omni_store_t *st, uint32_t rev, char **json,
    size_t *len, omni_store_revision_info_t *info, char *err)
{
    return omni_store_doc_get(st, &omni_store_doc_capacity, rev, json, len,
                              info, err);
}


int
omni_store_capacity_put(omni_store_t *st, const char *json, size_t len,
    const char *author, const char *note, int64_t now, uint32_t *rev,
    char *err)
{
    return omni_store_doc_put(st, &omni_store_doc_capacity, json, len, author,
                              note, now, 0, rev, err);
}


int
omni_store_capacity_replace(omni_store_t *st, uint32_t base,
    const char *json, size_t len, const char *author, const char *note,
    int64_t now, uint32_t *rev, char *err)
{
    return omni_store_doc_replace(st, &omni_store_doc_capacity, base, json,
                                  len, author, note, now, rev, err);
}


int
omni_store_capacity_list(omni_store_t *st, uint32_t before,
    omni_store_revision_info_t *out, size_t max, size_t *n, char *err)
{
    return omni_store_doc_list(st, &omni_store_doc_capacity, before, out, max,
                               n, err);
}
