/*
 * Copyright (C) The omni gateway authors
 *
 * Comparing two JSON objects member by member (jansson), for the
 * summaries of what changed between two revisions of a document: the
 * policy's (omni_policy_diff.c) and the workflow's (omni_dispatch_diff.c).
 * Knows nothing of NGINX.
 */

#ifndef OMNI_JSON_DIFF_H_INCLUDED_
#define OMNI_JSON_DIFF_H_INCLUDED_


#include <jansson.h>


/*
 * Sets "added", "removed" and "changed" in out: the names of to not in
 * from, of from not in to, and in both with values not equal (key order
 * aside); added and changed in the order of to, removed in the order of
 * from.  from and to may be NULL (no members).  Returns 1 out of memory.
 */
int omni_json_diff_names(json_t *from, json_t *to, json_t *out);


#endif /* OMNI_JSON_DIFF_H_INCLUDED_ */
