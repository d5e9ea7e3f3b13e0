/*
 * Copyright (C) The omni gateway authors
 *
 * The SLA table of cases (omni_case_sla.h): parsed and checked whole when
 * the configuration is loaded, then looked up per case.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "omni_case_sla.h"
#include "omni_store.h"


typedef struct {
    char       category[OMNI_STORE_CASE_NAME_MAX + 1];   /* "": any */
    int        priority;                                  /* -1: any */
    int64_t    first_response;                            /* 0: none */
    int64_t    resolution;
} omni_case_sla_rule_t;


struct omni_case_sla_s {
    size_t                 nrules;
    omni_case_sla_rule_t   rules[OMNI_CASE_SLA_RULES];
    int                    has_default;
    omni_case_sla_rule_t   dflt;
};


static int omni_case_sla_time(json_t *v, const char *where, const char *name,
    int64_t *out, char *err);
static int omni_case_sla_rule(json_t *obj, const char *where, int is_default,
    omni_case_sla_rule_t *rule, char *err);


omni_case_sla_t *
omni_case_sla_parse(const char *json, size_t len, char *err)
{
    char              where[32];
    size_t            i;
    json_t           *root, *dflt, *rules;
    const char       *key;
    json_t           *v;
    json_error_t      jerr;
    omni_case_sla_t  *sla;

    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        omni_err(err, "not JSON: %s at line %d column %d", jerr.text,
                 jerr.line, jerr.column);
        return NULL;
    }

    if (!json_is_object(root)) {
        omni_err(err, "not a JSON object");
        json_decref(root);
        return NULL;
    }

    json_object_foreach(root, key, v) {
        if (strcmp(key, "default") != 0 && strcmp(key, "rules") != 0) {
            omni_err(err, "unknown key \"%.32s\" (\"default\", \"rules\")",
                     key);
            json_decref(root);
            return NULL;
        }
    }

    sla = calloc(1, sizeof(omni_case_sla_t));
    if (sla == NULL) {
        omni_err(err, "out of memory");
        json_decref(root);
        return NULL;
    }

    dflt = json_object_get(root, "default");
    rules = json_object_get(root, "rules");

    if (dflt != NULL) {
        if (omni_case_sla_rule(dflt, "default", 1, &sla->dflt, err) != 0) {
            goto failed;
        }

        sla->has_default = 1;
    }

    if (rules != NULL) {
        if (!json_is_array(rules)) {
            omni_err(err, "\"rules\" is not an array");
            goto failed;
        }

        if (json_array_size(rules) > OMNI_CASE_SLA_RULES) {
            omni_err(err, "more than %d rules", OMNI_CASE_SLA_RULES);
            goto failed;
        }

        for (i = 0; i < json_array_size(rules); i++) {
            (void) snprintf(where, sizeof(where), "rule %zu", i + 1);

            if (omni_case_sla_rule(json_array_get(rules, i), where, 0,
                                   &sla->rules[i], err)
                != 0)
            {
                goto failed;
            }
        }

        sla->nrules = json_array_size(rules);
    }

    json_decref(root);

    return sla;

failed:

    json_decref(root);
    free(sla);

    return NULL;
}


static int
omni_case_sla_rule(json_t *obj, const char *where, int is_default,
    omni_case_sla_rule_t *rule, char *err)
{
    size_t       len;
    json_t      *v;
    const char  *key, *s;

    memset(rule, 0, sizeof(omni_case_sla_rule_t));
    rule->priority = -1;

    if (!json_is_object(obj)) {
        omni_err(err, "%s is not an object", where);
        return -1;
    }

    json_object_foreach(obj, key, v) {
        if (strcmp(key, "first_response") == 0) {
            if (omni_case_sla_time(v, where, key, &rule->first_response, err)
                != 0)
            {
                return -1;
            }

        } else if (strcmp(key, "resolution") == 0) {
            if (omni_case_sla_time(v, where, key, &rule->resolution, err)
                != 0)
            {
                return -1;
            }

        } else if (!is_default && strcmp(key, "category") == 0) {
            s = json_string_value(v);
            len = json_is_string(v) ? json_string_length(v) : 0;

            if (s == NULL
                || !omni_store_id_valid(s, len, OMNI_STORE_CASE_NAME_MAX))
            {
                omni_err(err, "%s: \"category\" is not [A-Za-z0-9_-]{1,%d}",
                         where, OMNI_STORE_CASE_NAME_MAX);
                return -1;
            }

            memcpy(rule->category, s, len + 1);

        } else if (!is_default && strcmp(key, "priority") == 0) {
            s = json_string_value(v);
            len = json_is_string(v) ? json_string_length(v) : 0;

            rule->priority = omni_store_case_priority_parse(s, len);

            if (rule->priority < 0) {
                omni_err(err, "%s: \"priority\" is not one of low, normal, "
                         "high, urgent", where);
                return -1;
            }

        } else {
            omni_err(err, "%s: unknown key \"%.32s\"", where, key);
            return -1;
        }
    }

    if (rule->first_response == 0 && rule->resolution == 0) {
        omni_err(err, "%s gives neither \"first_response\" nor "
                 "\"resolution\"", where);
        return -1;
    }

    return 0;
}


/* "30m": 1 to 6 digits and a unit */
static int
omni_case_sla_time(json_t *v, const char *where, const char *name,
    int64_t *out, char *err)
{
    size_t       i, len;
    int64_t      n, unit;
    const char  *s;

    s = json_string_value(v);
    len = json_is_string(v) ? json_string_length(v) : 0;

    if (s == NULL || len < 2 || len > 7) {
        goto bad;
    }

    n = 0;

    for (i = 0; i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            goto bad;
        }

        n = n * 10 + (s[i] - '0');
    }

    switch (s[len - 1]) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: goto bad;
    }

    n *= unit;

    if (n <= 0 || n > OMNI_CASE_SLA_MAX) {
        omni_err(err, "%s: \"%s\" must be more than 0 and at most 366d",
                 where, name);
        return -1;
    }

    *out = n;

    return 0;

bad:

    omni_err(err, "%s: \"%s\" is not a time such as \"30m\" (1 to 6 digits "
             "and s, m, h or d)", where, name);

    return -1;
}


omni_case_sla_t *
omni_case_sla_load(const char *path, char *err)
{
    int               fd;
    char             *buf;
    ssize_t           n;
    size_t            len;
    struct stat       sb;
    omni_case_sla_t  *sla;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1) {
        omni_err(err, "cannot open \"%s\": %s", path, strerror(errno));
        return NULL;
    }

    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)
        || sb.st_size > OMNI_CASE_SLA_FILE_MAX)
    {
        omni_err(err, "\"%s\" is not a regular file of at most %d bytes",
                 path, OMNI_CASE_SLA_FILE_MAX);
        close(fd);
        return NULL;
    }

    buf = malloc(OMNI_CASE_SLA_FILE_MAX + 1);
    if (buf == NULL) {
        omni_err(err, "out of memory");
        close(fd);
        return NULL;
    }

    len = 0;

    do {
        n = read(fd, buf + len, OMNI_CASE_SLA_FILE_MAX + 1 - len);
        if (n > 0) {
            len += (size_t) n;
        }
    } while ((n > 0 || (n == -1 && errno == EINTR))
             && len <= OMNI_CASE_SLA_FILE_MAX);

    close(fd);

    if (n == -1 || len > OMNI_CASE_SLA_FILE_MAX) {
        omni_err(err, "cannot read \"%s\"%s", path,
                 n == -1 ? "" : ": it grew past the limit");
        free(buf);
        return NULL;
    }

    sla = omni_case_sla_parse(buf, len, err);
    free(buf);

    return sla;
}


void
omni_case_sla_free(omni_case_sla_t *sla)
{
    free(sla);
}


void
omni_case_sla_due(const omni_case_sla_t *sla, const char *category,
    int priority, int64_t now, int64_t *first_response_due,
    int64_t *resolution_due)
{
    size_t                       i;
    const omni_case_sla_rule_t  *r;

    *first_response_due = 0;
    *resolution_due = 0;

    if (sla == NULL) {
        return;
    }

    r = sla->has_default ? &sla->dflt : NULL;

    for (i = 0; i < sla->nrules; i++) {
        if ((sla->rules[i].category[0] == '\0'
             || (category != NULL
                 && strcmp(sla->rules[i].category, category) == 0))
            && (sla->rules[i].priority < 0
                || sla->rules[i].priority == priority))
        {
            r = &sla->rules[i];
            break;
        }
    }

    if (r == NULL) {
        return;
    }

    if (r->first_response > 0) {
        *first_response_due = now + r->first_response;
    }

    if (r->resolution > 0) {
        *resolution_due = now + r->resolution;
    }
}
