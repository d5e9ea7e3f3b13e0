/*
 * Copyright (C) The omni gateway authors
 *
 * RFC 7396 merge patch over jansson.  Both documents are parsed whole
 * (they are small: a context is at most a few kilobytes), the patch is
 * merged into the target tree and the result is written compact.
 *
 * Output: JSON_COMPACT | JSON_PRESERVE_ORDER.  Keys keep the order of the
 * target, new keys follow in the order of the patch, so a context reads
 * back the way it was written (jansson 2.8 and later keep insertion order
 * whatever the flag; it says what we rely on).  Real numbers are written
 * with jansson's 17 significant digits: 1.1 comes back as
 * 1.1000000000000001, the same double, unchanged by later merges.
 *
 * Strings with \u0000 are refused (jansson's default without
 * JSON_ALLOW_NUL), as are duplicate keys: either would mean a different
 * thing to every reader of the context.  Error messages never quote the
 * documents.
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "omni_json_patch.h"


#define OMNI_JSON_PATCH_LOAD  (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)
#define OMNI_JSON_PATCH_DUMP  (JSON_COMPACT | JSON_PRESERVE_ORDER)


static json_t *omni_json_patch_load(const char *what, const char *text,
    size_t len, char *err);
static const char *omni_json_patch_why(const json_error_t *jerr);
static int omni_json_patch_deeper(json_t *json, int level, int max);
static int omni_json_patch_merge(json_t *target, json_t *patch);


int
omni_json_merge_patch(const char *target, size_t target_len,
    const char *patch, size_t patch_len, char *out, size_t max,
    size_t *out_len, char *err)
{
    int      rc;
    size_t   n;
    json_t  *t, *p;

    *out_len = 0;

    p = omni_json_patch_load("patch", patch, patch_len, err);
    if (p == NULL) {
        return -1;
    }

    if (target_len == 0) {
        t = json_object();
        if (t == NULL) {
            json_decref(p);
            omni_err(err, "out of memory");
            return -1;
        }

    } else {
        t = omni_json_patch_load("target", target, target_len, err);
        if (t == NULL) {
            json_decref(p);
            return -1;
        }
    }

    rc = omni_json_patch_merge(t, p);

    json_decref(p);

    if (rc != 0) {
        json_decref(t);
        omni_err(err, "out of memory");
        return -1;
    }

    /*
     * Measured first, so out is left alone when the result does not fit.
     * The tree is valid: json_dumpb() fails only for want of memory.
     */
    n = json_dumpb(t, NULL, 0, OMNI_JSON_PATCH_DUMP);
    if (n == 0) {
        json_decref(t);
        omni_err(err, "out of memory");
        return -1;
    }

    if (n > max) {
        json_decref(t);
        omni_err(err, "the context would be %zu bytes, more than "
                            "the %zu allowed", n, max);
        return -1;
    }

    if (json_dumpb(t, out, max, OMNI_JSON_PATCH_DUMP) != n) {
        json_decref(t);
        omni_err(err, "out of memory");
        return -1;
    }

    json_decref(t);

    if (n < max) {
        out[n] = '\0';
    }

    *out_len = n;

    return 0;
}


/*
 * Parses one document and checks that it is an object no deeper than
 * OMNI_JSON_PATCH_DEPTH, so the merge below recurses a bounded number of
 * times.  what is "patch" or "target".
 */
static json_t *
omni_json_patch_load(const char *what, const char *text, size_t len,
    char *err)
{
    json_t        *json;
    json_error_t   jerr;

    /* jansson may fail for want of memory before it writes any text */
    memset(&jerr, 0, sizeof(json_error_t));

    json = json_loadb(text, len, OMNI_JSON_PATCH_LOAD, &jerr);

    if (json == NULL
        && (jerr.text[0] == '\0'
            || json_error_code(&jerr) == json_error_out_of_memory))
    {
        omni_err(err, "out of memory");
        return NULL;
    }

    if (json == NULL) {
        omni_err(err, "the %s is not valid JSON: %s at line %d "
                            "column %d", what, omni_json_patch_why(&jerr),
                            jerr.line, jerr.column);
        return NULL;
    }

    if (!json_is_object(json)) {
        json_decref(json);
        omni_err(err, "the %s is not a JSON object", what);
        return NULL;
    }

    if (omni_json_patch_deeper(json, 1, OMNI_JSON_PATCH_DEPTH)) {
        json_decref(json);
        omni_err(err, "the %s nests deeper than %d levels", what,
                            OMNI_JSON_PATCH_DEPTH);
        return NULL;
    }

    return json;
}


/*
 * What is wrong, without jansson's text: that quotes the document ("near
 * 'x'"), and the caller logs the message, while a context holds what
 * services keep of a customer.
 */
static const char *
omni_json_patch_why(const json_error_t *jerr)
{
    switch (json_error_code(jerr)) {
    case json_error_invalid_utf8:
        return "invalid UTF-8";
    case json_error_premature_end_of_input:
        return "it ends too early";
    case json_error_end_of_input_expected:
        return "text after the document";
    case json_error_null_character:
        return "\\u0000 (NUL) in a string";
    case json_error_duplicate_key:
        return "a duplicate key";
    case json_error_stack_overflow:
        return "nested too deeply";
    case json_error_numeric_overflow:
        return "a number out of range";
    default:
        return "invalid syntax";
    }
}


/*
 * Whether json, an object or array at nesting level "level" (the
 * document itself is level 1), holds containers past level max.  Stops
 * one level past max, so the recursion is bounded by max + 1 whatever
 * jansson accepted.
 */
static int
omni_json_patch_deeper(json_t *json, int level, int max)
{
    size_t       i;
    json_t      *v;
    const char  *key;

    if (level > max) {
        return 1;
    }

    if (json_is_object(json)) {
        json_object_foreach(json, key, v) {
            if ((json_is_object(v) || json_is_array(v))
                && omni_json_patch_deeper(v, level + 1, max))
            {
                return 1;
            }
        }

    } else if (json_is_array(json)) {
        json_array_foreach(json, i, v) {
            if ((json_is_object(v) || json_is_array(v))
                && omni_json_patch_deeper(v, level + 1, max))
            {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * RFC 7396 section 2 for an object patch: null deletes, an object merges
 * into the member (into {} when the member is not an object, which also
 * drops the nulls inside it), anything else replaces.  The result nests
 * no deeper than the deeper of target and patch, both checked.  Returns
 * -1 only when memory runs out.
 */
static int
omni_json_patch_merge(json_t *target, json_t *patch)
{
    json_t      *v, *t;
    const char  *key;

    json_object_foreach(patch, key, v) {

        if (json_is_null(v)) {
            (void) json_object_del(target, key);
            continue;
        }

        if (!json_is_object(v)) {
            /* shared with the patch: the reference count keeps it alive */
            if (json_object_set(target, key, v) != 0) {
                return -1;
            }

            continue;
        }

        t = json_object_get(target, key);

        if (!json_is_object(t)) {
            t = json_object();
            if (json_object_set_new(target, key, t) != 0) {
                return -1;
            }
        }

        if (omni_json_patch_merge(t, v) != 0) {
            return -1;
        }
    }

    return 0;
}

