/*
 * Copyright (C) The omni gateway authors
 *
 * Metrics: counters, gauges and histograms kept in one block of memory
 * that every worker maps (nginx's shared zone), found by their family and
 * label set, written with atomic adds, and rendered as the Prometheus text
 * exposition format.
 *
 * The block is a fixed table of series, sized once; a series is never
 * evicted, so a slot once found stays that series' for the block's life.
 * A series that does not fit is counted as dropped.  Label values come
 * from the configuration or from bounded sets of the code (channel names,
 * error codes, policy rule ids), never from a request.
 *
 * Knows nothing of NGINX.
 */

#ifndef OMNI_METRICS_H_INCLUDED_
#define OMNI_METRICS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "omni_err.h"


#define OMNI_METRICS_BUCKETS_MAX  16      /* finite bounds of a histogram */
#define OMNI_METRICS_LABELS_MAX   160     /* a series' rendered label set */
#define OMNI_METRICS_NAME_MAX     63
#define OMNI_METRICS_PAIRS_MAX    4       /* labels of omni_metrics_series_of() */


typedef enum {
    OMNI_METRICS_COUNTER = 0,
    OMNI_METRICS_GAUGE,
    OMNI_METRICS_HISTOGRAM
} omni_metrics_type_t;


/* A family: what every series of one name shares. */
typedef struct {
    const char            *name;
    const char            *help;
    omni_metrics_type_t    type;
} omni_metrics_family_t;


typedef struct omni_metrics_s  omni_metrics_t;


/* a label: its name and its value, both NUL-terminated */
typedef struct {
    const char            *name;
    const char            *value;
} omni_metrics_pair_t;


/*
 * The size of a block for that many series, and the number of series a
 * block of size bytes holds (0: too small).
 */
size_t omni_metrics_size(size_t series);
size_t omni_metrics_capacity(size_t size);

/*
 * Lays the table out in mem (size bytes) for these families, histograms
 * with the bounds given (ascending, in seconds; at most
 * OMNI_METRICS_BUCKETS_MAX).  A block already laid out for the same
 * families and bounds is kept as it is, counts included (an nginx reload);
 * another layout is reset.  *kept says which.
 */
omni_metrics_t *omni_metrics_init(void *mem, size_t size,
    const omni_metrics_family_t *families, size_t nfamilies,
    const double *bounds, size_t nbounds, int *kept, char *err);
void omni_metrics_free(omni_metrics_t *m);

/* histogram bounds: 1 to OMNI_METRICS_BUCKETS_MAX, growing, (0, 3600] s */
int omni_metrics_check_bounds(const double *bounds, size_t n, char *err);

/*
 * The series of family with labels (rendered, escaped:
 * name="value",...; "" for none): its slot, made on first use; -1 when
 * the table is full or the labels too long, counted as dropped.
 */
int omni_metrics_series(omni_metrics_t *m, size_t family,
    const char *labels, size_t len);

/*
 * The same from the labels' names and raw values (n at most
 * OMNI_METRICS_PAIRS_MAX), rendered here.  With remember, the handle (one
 * per process, not shared) keeps the series by those raw values, so that
 * the same label set costs a hash and a compare the next time: a series
 * never moves, so what it keeps stays true.  Not thread-safe with
 * remember; without, as safe as omni_metrics_series().
 */
int omni_metrics_series_of(omni_metrics_t *m, size_t family,
    const omni_metrics_pair_t *labels, size_t n, int remember);

void omni_metrics_add(omni_metrics_t *m, int series, uint64_t n);
void omni_metrics_set(omni_metrics_t *m, int series, int64_t v);
/* a histogram's observation, in microseconds */
void omni_metrics_observe(omni_metrics_t *m, int series, uint64_t us);

/*
 * Appends name="value" to a label set being built in buf (cap bytes, *len
 * used), escaping the value as the exposition format wants; -1 when it
 * does not fit.
 */
int omni_metrics_label(char *buf, size_t cap, size_t *len, const char *name,
    const char *value, size_t value_len);

uint64_t omni_metrics_dropped(const omni_metrics_t *m);
size_t omni_metrics_used(const omni_metrics_t *m);

/*
 * The exposition of every series, family by family, through out (which
 * returns -1 to stop, for a failed allocation); -1 if it did.
 */
typedef int (*omni_metrics_out_pt)(void *data, const char *p, size_t len);

int omni_metrics_render(const omni_metrics_t *m, omni_metrics_out_pt out,
    void *data);


#endif /* OMNI_METRICS_H_INCLUDED_ */
