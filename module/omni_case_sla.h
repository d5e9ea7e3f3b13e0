/*
 * Copyright (C) The omni gateway authors
 *
 * The SLA table of cases (docs/cases.md): how long a case of a category
 * and priority may wait for its first response and for its resolution.
 * A JSON file, read once when the configuration is loaded:
 *
 *   {
 *     "default": {"first_response": "4h", "resolution": "3d"},
 *     "rules": [
 *       {"category": "complaint", "priority": "urgent",
 *        "first_response": "30m", "resolution": "8h"},
 *       {"priority": "high", "first_response": "1h"}
 *     ]
 *   }
 *
 * The first rule whose category and priority (each may be left out:
 * any) match gives the times, else "default", else none.  A time is 1
 * to 6 digits and a unit, s, m, h or d, at most 366 days; a rule gives
 * one time at least; at most OMNI_CASE_SLA_RULES rules.  Anything else
 * (another key, a duplicate key, an unknown priority, a category the
 * store cannot hold) refuses the whole table.  Knows nothing of NGINX.
 */

#ifndef OMNI_CASE_SLA_H_INCLUDED_
#define OMNI_CASE_SLA_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "omni_err.h"


#define OMNI_CASE_SLA_RULES    64
#define OMNI_CASE_SLA_FILE_MAX 65536
#define OMNI_CASE_SLA_MAX      (366 * 86400)


typedef struct omni_case_sla_s  omni_case_sla_t;


/* NULL with a message naming the rule and what is wrong in err */
omni_case_sla_t *omni_case_sla_parse(const char *json, size_t len,
    char *err);

/* the same from a file (at most OMNI_CASE_SLA_FILE_MAX bytes) */
omni_case_sla_t *omni_case_sla_load(const char *path, char *err);

void omni_case_sla_free(omni_case_sla_t *sla);

/*
 * The due times of a case of category and priority opened at now: 0 for
 * none (sla may be NULL: no table, no due times).
 */
void omni_case_sla_due(const omni_case_sla_t *sla, const char *category,
    int priority, int64_t now, int64_t *first_response_due,
    int64_t *resolution_due);


#endif /* OMNI_CASE_SLA_H_INCLUDED_ */
