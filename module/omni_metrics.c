/*
 * Copyright (C) The omni gateway authors
 *
 * Metrics (omni_metrics.h): a table of series in shared memory, open
 * addressing on a hash of family and labels.  A slot goes free → being
 * made → ready once, by compare-and-swap; processes probing the same
 * chain wait for a slot being made, so two workers asking for one new
 * series make it once.  Values are added with relaxed atomics: a scrape
 * may see one series a little ahead of another, never a torn value.
 */


#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omni_metrics.h"
#include "omni_str.h"


#define OMNI_METRICS_MAGIC    0x6f6d6e694d657431ULL   /* "omniMet1" */
#define OMNI_METRICS_VALUES   (OMNI_METRICS_BUCKETS_MAX + 2)
#define OMNI_METRICS_FILL     90      /* % of slots, past which none is made */
#define OMNI_METRICS_SPIN     100000  /* waits for a slot being made */
#define OMNI_METRICS_MEMO     256     /* label sets a process remembers */
#define OMNI_METRICS_MEMO_KEY 120     /* their raw names and values, bytes */

#define OMNI_SLOT_FREE        0
#define OMNI_SLOT_MAKING      1
#define OMNI_SLOT_READY       2


typedef struct {
    uint64_t    magic;
    uint64_t    layout;         /* hash of the families and bounds */
    uint64_t    nslots;
    uint64_t    used;
    uint64_t    dropped;
} omni_metrics_hdr_t;


/*
 * v: a counter's or gauge's value in v[0]; a histogram's observations per
 * bucket (not cumulative; the last is +Inf) then, in the last value, the
 * sum in microseconds.
 */
typedef struct {
    uint32_t    state;
    uint32_t    family;
    uint32_t    hash;
    uint32_t    len;
    char        labels[OMNI_METRICS_LABELS_MAX];
    uint64_t    v[OMNI_METRICS_VALUES];
} omni_metrics_slot_t;


/* a label set seen before: names and values, each ending in a NUL */
typedef struct {
    uint64_t    hash;           /* 0: empty */
    uint32_t    family;
    uint32_t    len;
    int         series;
    char        key[OMNI_METRICS_MEMO_KEY];
} omni_metrics_memo_t;


struct omni_metrics_s {
    omni_metrics_hdr_t           *hdr;
    omni_metrics_slot_t          *slots;
    const omni_metrics_family_t  *families;
    size_t                        nfamilies;
    size_t                        nbounds;
    double                        bounds[OMNI_METRICS_BUCKETS_MAX];
    uint64_t                      bounds_us[OMNI_METRICS_BUCKETS_MAX];
    omni_metrics_memo_t           memo[OMNI_METRICS_MEMO];
};


static uint64_t omni_metrics_hash(uint64_t h, const void *p, size_t len);
static uint64_t omni_metrics_memo_hash(const char *p, size_t len);
static int omni_metrics_print(omni_metrics_out_pt out, void *data,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int omni_metrics_render_series(const omni_metrics_t *m,
    const omni_metrics_family_t *f, const omni_metrics_slot_t *s,
    omni_metrics_out_pt out, void *data);


size_t
omni_metrics_size(size_t series)
{
    return sizeof(omni_metrics_hdr_t) + series * sizeof(omni_metrics_slot_t);
}


size_t
omni_metrics_capacity(size_t size)
{
    if (size < omni_metrics_size(1)) {
        return 0;
    }

    return (size - sizeof(omni_metrics_hdr_t)) / sizeof(omni_metrics_slot_t);
}


omni_metrics_t *
omni_metrics_init(void *mem, size_t size,
    const omni_metrics_family_t *families, size_t nfamilies,
    const double *bounds, size_t nbounds, int *kept, char *err)
{
    size_t           i, nslots;
    uint64_t         layout;
    omni_metrics_t  *m;

    nslots = omni_metrics_capacity(size);

    if (nslots < 16) {
        omni_err(err, "a metrics zone of %zu bytes holds fewer than 16 "
                       "series", size);
        return NULL;
    }

    if (omni_metrics_check_bounds(bounds, nbounds, err) != 0) {
        return NULL;
    }

    m = calloc(1, sizeof(omni_metrics_t));
    if (m == NULL) {
        omni_err(err, "out of memory");
        return NULL;
    }

    m->hdr = mem;
    m->slots = (omni_metrics_slot_t *) ((char *) mem
                                        + sizeof(omni_metrics_hdr_t));
    m->families = families;
    m->nfamilies = nfamilies;
    m->nbounds = nbounds;

    for (i = 0; i < nbounds; i++) {
        m->bounds[i] = bounds[i];
        m->bounds_us[i] = (uint64_t) (bounds[i] * 1e6 + 0.5);
    }

    layout = omni_metrics_hash(0, &nslots, sizeof(nslots));
    layout = omni_metrics_hash(layout, m->bounds_us,
                               nbounds * sizeof(uint64_t));

    for (i = 0; i < nfamilies; i++) {
        layout = omni_metrics_hash(layout, families[i].name,
                                   strlen(families[i].name) + 1);
        layout = omni_metrics_hash(layout, &families[i].type,
                                   sizeof(families[i].type));
    }

    *kept = (m->hdr->magic == OMNI_METRICS_MAGIC
             && m->hdr->layout == layout && m->hdr->nslots == nslots);

    if (!*kept) {
        memset(mem, 0, omni_metrics_size(nslots));
        m->hdr->layout = layout;
        m->hdr->nslots = nslots;
        m->hdr->magic = OMNI_METRICS_MAGIC;
    }

    return m;
}


int
omni_metrics_check_bounds(const double *bounds, size_t n, char *err)
{
    size_t  i;

    if (n == 0 || n > OMNI_METRICS_BUCKETS_MAX) {
        omni_err(err, "a histogram takes 1 to %d buckets, not %zu",
                       OMNI_METRICS_BUCKETS_MAX, n);
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (!(bounds[i] > 0 && bounds[i] <= 3600)
            || (i > 0 && bounds[i] <= bounds[i - 1]))
        {
            omni_err(err, "histogram buckets must grow, within (0, 3600] "
                           "seconds");
            return -1;
        }
    }

    return 0;
}


void
omni_metrics_free(omni_metrics_t *m)
{
    free(m);
}


int
omni_metrics_series(omni_metrics_t *m, size_t family, const char *labels,
    size_t len)
{
    size_t                i, n, spin;
    uint32_t              h, state;
    omni_metrics_slot_t  *s;

    if (family >= m->nfamilies || len >= OMNI_METRICS_LABELS_MAX) {
        __atomic_fetch_add(&m->hdr->dropped, 1, __ATOMIC_RELAXED);
        return -1;
    }

    h = (uint32_t) omni_metrics_hash(omni_metrics_hash(0, &family,
                                                       sizeof(family)),
                                     labels, len);
    n = m->hdr->nslots;

    for (i = 0; i < n; i++) {
        s = &m->slots[(h + i) % n];
        state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);

        if (state == OMNI_SLOT_FREE) {
            if (__atomic_load_n(&m->hdr->used, __ATOMIC_RELAXED) * 100
                >= n * OMNI_METRICS_FILL)
            {
                break;
            }

            if (__atomic_compare_exchange_n(&s->state, &state,
                                            OMNI_SLOT_MAKING, 0,
                                            __ATOMIC_ACQUIRE,
                                            __ATOMIC_ACQUIRE))
            {
                s->family = (uint32_t) family;
                s->hash = h;
                s->len = (uint32_t) len;
                memcpy(s->labels, labels, len);
                s->labels[len] = '\0';
                __atomic_fetch_add(&m->hdr->used, 1, __ATOMIC_RELAXED);
                __atomic_store_n(&s->state, OMNI_SLOT_READY,
                                 __ATOMIC_RELEASE);
                return (int) ((h + i) % n);
            }

            /* another process took it first: state says what it is */
        }

        /* a process killed while making one leaves it out of the chain */
        for (spin = 0; state == OMNI_SLOT_MAKING && spin < OMNI_METRICS_SPIN;
             spin++)
        {
            state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        }

        if (state == OMNI_SLOT_READY && s->hash == h
            && s->family == family && s->len == len
            && memcmp(s->labels, labels, len) == 0)
        {
            return (int) ((h + i) % n);
        }
    }

    __atomic_fetch_add(&m->hdr->dropped, 1, __ATOMIC_RELAXED);

    return -1;
}


void
omni_metrics_add(omni_metrics_t *m, int series, uint64_t n)
{
    if (series >= 0) {
        __atomic_fetch_add(&m->slots[series].v[0], n, __ATOMIC_RELAXED);
    }
}


void
omni_metrics_set(omni_metrics_t *m, int series, int64_t v)
{
    if (series >= 0) {
        __atomic_store_n(&m->slots[series].v[0], (uint64_t) v,
                         __ATOMIC_RELAXED);
    }
}


void
omni_metrics_observe(omni_metrics_t *m, int series, uint64_t us)
{
    size_t                i;
    omni_metrics_slot_t  *s;

    if (series < 0) {
        return;
    }

    s = &m->slots[series];

    for (i = 0; i < m->nbounds; i++) {
        if (us <= m->bounds_us[i]) {
            break;
        }
    }

    __atomic_fetch_add(&s->v[i], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->v[OMNI_METRICS_VALUES - 1], us, __ATOMIC_RELAXED);
}


int
omni_metrics_series_of(omni_metrics_t *m, size_t family,
    const omni_metrics_pair_t *labels, size_t n, int remember)
{
    int                   series;
    char                  buf[OMNI_METRICS_LABELS_MAX];
    char                  key[OMNI_METRICS_MEMO_KEY];
    size_t                i, len, klen, nlen, vlen;
    uint64_t              h;
    omni_metrics_memo_t  *e;

    e = NULL;
    h = 0;
    klen = 0;

    if (remember) {

        for (i = 0; i < n; i++) {
            nlen = strlen(labels[i].name) + 1;
            vlen = strlen(labels[i].value) + 1;

            if (klen + nlen + vlen > sizeof(key)) {
                break;
            }

            memcpy(key + klen, labels[i].name, nlen);
            klen += nlen;
            memcpy(key + klen, labels[i].value, vlen);
            klen += vlen;
        }

        /* a label set too long to remember is found every time */
        if (i == n) {
            h = omni_metrics_memo_hash(key, klen) ^ (family << 1);
            e = &m->memo[h % OMNI_METRICS_MEMO];

            if (e->hash == h && e->family == family && e->len == klen
                && memcmp(e->key, key, klen) == 0)
            {
                return e->series;
            }
        }
    }

    len = 0;
    buf[0] = '\0';

    for (i = 0; i < n && i < OMNI_METRICS_PAIRS_MAX; i++) {
        if (omni_metrics_label(buf, sizeof(buf), &len, labels[i].name,
                               labels[i].value, strlen(labels[i].value))
            != 0)
        {
            /* counted as dropped, as a series that does not fit */
            len = OMNI_METRICS_LABELS_MAX;
            break;
        }
    }

    if (n > OMNI_METRICS_PAIRS_MAX) {
        len = OMNI_METRICS_LABELS_MAX;
    }

    series = omni_metrics_series(m, family, buf, len);

    /* a dropped one is not remembered: the table may have room later */
    if (e && series >= 0) {
        e->hash = h;
        e->family = (uint32_t) family;
        e->len = (uint32_t) klen;
        e->series = series;
        memcpy(e->key, key, klen);
    }

    return series;
}


/* a label set's raw key, hashed; never 0 (an empty entry) */
static uint64_t
omni_metrics_memo_hash(const char *p, size_t len)
{
    uint64_t  h;

    h = omni_hash_bytes((uint64_t) len * UINT64_C(0xff51afd7ed558ccd), p,
                        len);
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 32;

    return h | 1;
}


int
omni_metrics_label(char *buf, size_t cap, size_t *len, const char *name,
    const char *value, size_t value_len)
{
    size_t         i, n, name_len;
    unsigned char  c;

    n = *len;
    name_len = strlen(name);

    if (n + name_len + 3 + (n ? 1 : 0) >= cap) {
        return -1;
    }

    if (n) {
        buf[n++] = ',';
    }

    memcpy(buf + n, name, name_len);
    n += name_len;
    buf[n++] = '=';
    buf[n++] = '"';

    for (i = 0; i < value_len; i++) {
        c = (unsigned char) value[i];

        if (n + 3 >= cap) {
            return -1;
        }

        if (c == '\\' || c == '"') {
            buf[n++] = '\\';
            buf[n++] = (char) c;

        } else if (c == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';

        } else {
            /* other control bytes have no escape: not worth a series */
            buf[n++] = (c < 0x20 || c == 0x7f) ? '_' : (char) c;
        }
    }

    buf[n++] = '"';
    buf[n] = '\0';
    *len = n;

    return 0;
}


uint64_t
omni_metrics_dropped(const omni_metrics_t *m)
{
    return __atomic_load_n(&m->hdr->dropped, __ATOMIC_RELAXED);
}


size_t
omni_metrics_used(const omni_metrics_t *m)
{
    return (size_t) __atomic_load_n(&m->hdr->used, __ATOMIC_RELAXED);
}


int
omni_metrics_render(const omni_metrics_t *m, omni_metrics_out_pt out,
    void *data)
{
    size_t                        f, i, n, seen;
    const omni_metrics_slot_t    *s;
    const omni_metrics_family_t  *fam;

    static const char  *types[] = { "counter", "gauge", "histogram" };

    n = m->hdr->nslots;

    for (f = 0; f < m->nfamilies; f++) {
        fam = &m->families[f];
        seen = 0;

        for (i = 0; i < n; i++) {
            s = &m->slots[i];

            if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE)
                != OMNI_SLOT_READY
                || s->family != f)
            {
                continue;
            }

            if (seen++ == 0
                && omni_metrics_print(out, data, "# HELP %s %s\n# TYPE %s %s\n",
                                      fam->name, fam->help, fam->name,
                                      types[fam->type])
                   != 0)
            {
                return -1;
            }

            if (omni_metrics_render_series(m, fam, s, out, data) != 0) {
                return -1;
            }
        }
    }

    return omni_metrics_print(out, data,
                              "# HELP omni_metrics_dropped_total "
                              "Observations whose series did not fit in the "
                              "metrics zone.\n"
                              "# TYPE omni_metrics_dropped_total counter\n"
                              "omni_metrics_dropped_total %" PRIu64 "\n"
                              "# HELP omni_metrics_series Series in the "
                              "metrics zone, and how many it holds.\n"
                              "# TYPE omni_metrics_series gauge\n"
                              "omni_metrics_series{of=\"used\"} %zu\n"
                              "omni_metrics_series{of=\"capacity\"} %zu\n",
                              omni_metrics_dropped(m), omni_metrics_used(m),
                              (size_t) ((n * OMNI_METRICS_FILL + 99) / 100));
}


static int
omni_metrics_render_series(const omni_metrics_t *m,
    const omni_metrics_family_t *f, const omni_metrics_slot_t *s,
    omni_metrics_out_pt out, void *data)
{
    size_t       i;
    uint64_t     v, total;
    const char  *sep;

    if (f->type == OMNI_METRICS_COUNTER) {
        return omni_metrics_print(out, data, "%s%s%s%s %" PRIu64 "\n",
                                  f->name, s->len ? "{" : "", s->labels,
                                  s->len ? "}" : "",
                                  __atomic_load_n(&s->v[0],
                                                  __ATOMIC_RELAXED));
    }

    if (f->type == OMNI_METRICS_GAUGE) {
        return omni_metrics_print(out, data, "%s%s%s%s %" PRId64 "\n",
                                  f->name, s->len ? "{" : "", s->labels,
                                  s->len ? "}" : "",
                                  (int64_t) __atomic_load_n(&s->v[0],
                                                      __ATOMIC_RELAXED));
    }

    sep = s->len ? "," : "";
    total = 0;

    for (i = 0; i <= m->nbounds; i++) {
        total += __atomic_load_n(&s->v[i], __ATOMIC_RELAXED);

        if (i < m->nbounds) {
            if (omni_metrics_print(out, data,
                                   "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n",
                                   f->name, s->labels, sep, m->bounds[i],
                                   total)
                != 0)
            {
                return -1;
            }

            continue;
        }

        if (omni_metrics_print(out, data,
                               "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n",
                               f->name, s->labels, sep, total)
            != 0)
        {
            return -1;
        }
    }

    v = __atomic_load_n(&s->v[OMNI_METRICS_VALUES - 1], __ATOMIC_RELAXED);

    return omni_metrics_print(out, data,
                              "%s_sum%s%s%s %" PRIu64 ".%06" PRIu64 "\n"
                              "%s_count%s%s%s %" PRIu64 "\n",
                              f->name, s->len ? "{" : "", s->labels,
                              s->len ? "}" : "", v / 1000000, v % 1000000,
                              f->name, s->len ? "{" : "", s->labels,
                              s->len ? "}" : "", total);
}


static int
omni_metrics_print(omni_metrics_out_pt out, void *data, const char *fmt, ...)
{
    int      n;
    char     line[OMNI_METRICS_LABELS_MAX * 2 + 512];
    va_list  args;

    va_start(args, fmt);
    n = vsnprintf(line, sizeof(line), fmt, args);
    va_end(args);

    if (n < 0 || (size_t) n >= sizeof(line)) {
        return -1;
    }

    return out(data, line, (size_t) n);
}


/* FNV-1a, 64 bits */
static uint64_t
omni_metrics_hash(uint64_t h, const void *p, size_t len)
{
    size_t                i;
    const unsigned char  *c;

    if (h == 0) {
        h = 0xcbf29ce484222325ULL;
    }

    c = p;

    for (i = 0; i < len; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }

    return h;
}
