/*
 * Copyright (C) The omni gateway authors
 *
 * What the files of the workflow compiler share (omni_dispatch.c: the
 * document, the rate limits, the conditions and the helpers;
 * omni_dispatch_rules.c: the pools, the rules and decisions), and no one
 * else.
 */

#ifndef OMNI_DISPATCH_INT_H_INCLUDED_
#define OMNI_DISPATCH_INT_H_INCLUDED_


#include <jansson.h>

#include "omni_dispatch.h"


#define OMNI_DISPATCH_PATH_MAX  128
#define OMNI_DISPATCH_SHOW      40          /* bytes of a value quoted */
#define OMNI_DISPATCH_QUOTE     (OMNI_DISPATCH_SHOW + 8)
#define OMNI_DISPATCH_ID_CHARS  "1 to 64 of A-Z a-z 0-9 _ . -"


typedef struct {
    omni_dispatch_t    *d;
    char               *errs[OMNI_DISPATCH_ERRORS_MAX];
    size_t              nerrs;
    size_t              more;
    int                 nomem;
} omni_dbuild_t;


void omni_dispatch_error(omni_dbuild_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int omni_dispatch_keys(omni_dbuild_t *b, json_t *obj, const char *path,
    const char *const *allowed);
int omni_dispatch_count(omni_dbuild_t *b, const char *path, json_t *v,
    uint32_t max, uint32_t *out);
void omni_dispatch_id(omni_dbuild_t *b, const char *path, json_t *v,
    char *out);
void omni_dispatch_conditions(omni_dbuild_t *b, const char *path,
    json_t *obj, omni_dispatch_match_t *m);
int omni_dispatch_matches(const omni_dispatch_match_t *m,
    const omni_dispatch_req_t *req);
const char *omni_dispatch_quote(char *buf, size_t size, const char *s,
    size_t len);
int omni_dispatch_is_id(const char *s, size_t len);

/* omni_dispatch_rules.c */
void omni_dispatch_pools(omni_dbuild_t *b, json_t *v);
void omni_dispatch_rules(omni_dbuild_t *b, json_t *rules, json_t *def);


#endif /* OMNI_DISPATCH_INT_H_INCLUDED_ */
