/*
 * Copyright (C) The omni gateway authors
 *
 * JSON merge patch (RFC 7396) of a session's context: services send a
 * patch in a response header, the gateway applies it to the stored
 * context.  Knows nothing of NGINX.
 */

#ifndef OMNI_JSON_PATCH_H_INCLUDED_
#define OMNI_JSON_PATCH_H_INCLUDED_


#include <stddef.h>

#include "omni_err.h"


#define OMNI_JSON_PATCH_DEPTH   32       /* nesting of target and patch */


/*
 * Applies patch (a JSON object) to target (a JSON object, or "" /
 * target_len 0 for {}) and writes the result, compact, into out (at most
 * max bytes, no terminating NUL counted in *out_len but one written when
 * it fits).  A result that is {} is written as "{}".  Returns 0, or -1
 * with a message in err: the patch is not valid JSON or not an object,
 * nests deeper than OMNI_JSON_PATCH_DEPTH, the target is not an object,
 * or the result would pass max bytes.
 */
int omni_json_merge_patch(const char *target, size_t target_len,
    const char *patch, size_t patch_len, char *out, size_t max,
    size_t *out_len, char *err);


#endif /* OMNI_JSON_PATCH_H_INCLUDED_ */
