/*
 * Copyright (C) The omni gateway authors
 *
 * Export and import: the store's raw records as lines, checked whole
 * before anything is written (docs/omnictl.md).
 */


#include "omnictl.h"


typedef struct {
    FILE          *out;
    char          *line;               /* OMNICTL_LINE_MAX + 1 bytes */
    size_t         n;
    int            error;              /* errno of a failed write */
    int            too_long;           /* a record passes the line bound */
} omnictl_export_t;


typedef struct {
    const char           *name;        /* of the input, for messages */
    omni_store_t         *st;          /* NULL: only check */
    char                 *line;        /* OMNICTL_LINE_MAX + 2 bytes */
    size_t                lineno;
    size_t                n;           /* records read */
    size_t                first;       /* line of recs[0] */
    size_t                nrecs;
    size_t                bytes;
    size_t                skipped;     /* records of erased customers */
    omni_store_record_t   recs[OMNICTL_BATCH];
} omnictl_import_t;


static int omnictl_export_record(void *data, const omni_store_record_t *rec);
static int omnictl_export_to(omnictl_ctx_t *ctx, FILE *out, size_t *n);
static int omnictl_import_pass(omnictl_import_t *im, FILE *in);
static int omnictl_import_line(omnictl_import_t *im, size_t len);
static int omnictl_import_header(omnictl_import_t *im, size_t len);
static int omnictl_import_flush(omnictl_import_t *im);
static void omnictl_import_clear(omnictl_import_t *im);
static int omnictl_getline(FILE *in, char *buf, size_t max, size_t *len,
    int *newline);


/* export: a header line, then one line per record, meta first */

int
omnictl_cmd_export(omnictl_ctx_t *ctx)
{
    int          rc, fd;
    FILE        *out;
    char        *tmp;
    size_t       n, len;
    const char  *file;

    rc = omnictl_open(ctx);
    if (rc != OMNICTL_EXIT_OK) {
        return rc;
    }

    file = (ctx->argc == 1 && strcmp(ctx->argv[0], "-") != 0)
           ? ctx->argv[0] : NULL;

    if (file == NULL) {
        return omnictl_export_to(ctx, stdout, &n);
    }

    /* a complete file or none: written aside, then renamed over FILE */

    len = strlen(file);

    tmp = malloc(len + sizeof(".XXXXXX"));
    if (tmp == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    memcpy(tmp, file, len);
    memcpy(tmp + len, ".XXXXXX", sizeof(".XXXXXX"));

    fd = mkstemp(tmp);
    if (fd == -1) {
        fprintf(stderr, "omnictl: creating \"%s\": %s\n", tmp,
                strerror(errno));
        free(tmp);
        return OMNICTL_EXIT_FAIL;
    }

    out = fdopen(fd, "w");
    if (out == NULL) {
        fprintf(stderr, "omnictl: \"%s\": %s\n", tmp, strerror(errno));
        close(fd);
        rc = OMNICTL_EXIT_FAIL;
        goto failed;
    }

    rc = omnictl_export_to(ctx, out, &n);

    if (rc == OMNICTL_EXIT_OK
        && (fflush(out) != 0 || fsync(fileno(out)) != 0))
    {
        fprintf(stderr, "omnictl: writing \"%s\": %s\n", tmp,
                strerror(errno));
        rc = OMNICTL_EXIT_FAIL;
    }

    if (fclose(out) != 0 && rc == OMNICTL_EXIT_OK) {
        fprintf(stderr, "omnictl: writing \"%s\": %s\n", tmp,
                strerror(errno));
        rc = OMNICTL_EXIT_FAIL;
    }

    if (rc == OMNICTL_EXIT_OK && rename(tmp, file) != 0) {
        fprintf(stderr, "omnictl: renaming \"%s\" to \"%s\": %s\n", tmp,
                file, strerror(errno));
        rc = OMNICTL_EXIT_FAIL;
    }

failed:

    if (rc != OMNICTL_EXIT_OK) {
        (void) unlink(tmp);
        free(tmp);
        return rc;
    }

    free(tmp);

    return omnictl_answer(json_pack("{s:I}", "exported", (json_int_t) n));
}


static int
omnictl_export_to(omnictl_ctx_t *ctx, FILE *out, size_t *n)
{
    int               rc;
    char              err[OMNI_ERRLEN], when[32];
    time_t            now;
    struct tm         tm;
    omnictl_export_t  ex;

    now = (time_t) ctx->now;

    if (gmtime_r(&now, &tm) == NULL
        || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    {
        fprintf(stderr, "omnictl: the time %lld has no date\n",
                (long long) ctx->now);
        return OMNICTL_EXIT_FAIL;
    }

    if (fprintf(out, "{\"omni_store_export\":%d,\"format\":%d,"
                "\"exported_at\":\"%s\"}\n", OMNI_EXPORT_VERSION,
                omni_store_is_sealed(ctx->st) ? OMNI_STORE_FORMAT_SEALED
                                              : OMNI_STORE_FORMAT, when) < 0)
    {
        fprintf(stderr, "omnictl: writing the export: %s\n",
                strerror(errno));
        return OMNICTL_EXIT_FAIL;
    }

    memset(&ex, 0, sizeof(ex));
    ex.out = out;

    ex.line = malloc(OMNICTL_LINE_MAX + 1);
    if (ex.line == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    rc = omni_store_export(ctx->st, omnictl_export_record, &ex, err);

    free(ex.line);

    if (rc == OMNI_STORE_OK && fflush(out) != 0) {
        ex.error = errno;
        rc = OMNI_STORE_ERROR;
    }

    if (rc != OMNI_STORE_OK) {
        if (ex.error) {
            fprintf(stderr, "omnictl: writing the export: %s\n",
                    strerror(ex.error));

        } else if (ex.too_long) {
            fprintf(stderr, "omnictl: record %zu of the export (in %s) "
                    "passes %d bytes as a line\n", ex.n + 1,
                    omni_store_db_name(ex.too_long - 1), OMNICTL_LINE_MAX);

        } else {
            fprintf(stderr, "omnictl: %s\n", err);
        }

        return OMNICTL_EXIT_FAIL;
    }

    *n = ex.n;

    return OMNICTL_EXIT_OK;
}


static int
omnictl_export_record(void *data, const omni_store_record_t *rec)
{
    char              *p;
    size_t             len;
    const char        *db;
    omnictl_export_t  *ex;

    ex = data;
    db = omni_store_db_name(rec->db);

    len = sizeof("{\"db\":\"\",\"key\":\"\",\"value\":\"\"}\n") - 1
          + strlen(db)
          + omni_base64_encoded_len(rec->key_len)
          + omni_base64_encoded_len(rec->val_len);

    if (len > OMNICTL_LINE_MAX) {
        ex->too_long = rec->db + 1;
        return 1;
    }

    p = ex->line;
    p += sprintf(p, "{\"db\":\"%s\",\"key\":\"", db);
    p += omni_base64_encode(p, rec->key, rec->key_len);
    p += sprintf(p, "\",\"value\":\"");
    p += omni_base64_encode(p, rec->val, rec->val_len);
    p += sprintf(p, "\"}\n");

    if (fwrite(ex->line, 1, (size_t) (p - ex->line), ex->out)
        != (size_t) (p - ex->line))
    {
        ex->error = errno ? errno : EIO;
        return 1;
    }

    ex->n++;

    return 0;
}


/*
 * import: every line is checked first, then written in batches, so a
 * malformed file writes nothing.  A pipe is copied to a temporary file
 * to be read twice.
 */

int
omnictl_cmd_import(omnictl_ctx_t *ctx)
{
    int                rc;
    FILE              *in, *spool;
    char               err[OMNI_ERRLEN], buf[65536];
    off_t              start;
    size_t             i, n, records;
    omnictl_import_t  *im;
    omni_store_stats_t stats;

    in = NULL;
    spool = NULL;
    im = NULL;
    rc = OMNICTL_EXIT_FAIL;

    if (strcmp(ctx->argv[0], "-") == 0) {
        in = stdin;

    } else {
        in = fopen(ctx->argv[0], "r");
        if (in == NULL) {
            fprintf(stderr, "omnictl: \"%s\": %s\n", ctx->argv[0],
                    strerror(errno));
            return OMNICTL_EXIT_FAIL;
        }
    }

    start = ftello(in);

    if (start == -1) {
        spool = tmpfile();
        if (spool == NULL) {
            fprintf(stderr, "omnictl: a temporary file for stdin: %s\n",
                    strerror(errno));
            goto done;
        }

        while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
            if (fwrite(buf, 1, n, spool) != n) {
                fprintf(stderr, "omnictl: copying stdin: %s\n",
                        strerror(errno));
                goto done;
            }
        }

        if (ferror(in) || fflush(spool) != 0) {
            fprintf(stderr, "omnictl: reading stdin: %s\n", strerror(errno));
            goto done;
        }

        start = 0;
    }

    im = calloc(1, sizeof(omnictl_import_t));
    if (im != NULL) {
        im->line = malloc(OMNICTL_LINE_MAX + 2);
    }

    if (im == NULL || im->line == NULL) {
        fprintf(stderr, "omnictl: out of memory\n");
        goto done;
    }

    im->name = (in == stdin) ? "stdin" : ctx->argv[0];

    /* the check */

    if (fseeko(spool ? spool : in, start, SEEK_SET) != 0) {
        fprintf(stderr, "omnictl: \"%s\": %s\n", im->name, strerror(errno));
        goto done;
    }

    rc = omnictl_import_pass(im, spool ? spool : in);
    if (rc != OMNICTL_EXIT_OK) {
        goto done;
    }

    records = im->n;

    /* the writes */

    rc = omnictl_open(ctx);
    if (rc != OMNICTL_EXIT_OK) {
        goto done;
    }

    rc = OMNICTL_EXIT_FAIL;

    if (omni_store_stats(ctx->st, &stats, err) != OMNI_STORE_OK) {
        fprintf(stderr, "omnictl: %s\n", err);
        goto done;
    }

    for (i = 0; i < OMNI_STORE_DB_COUNT; i++) {
        if (i != OMNI_STORE_DB_META && stats.entries[i] != 0) {
            fprintf(stderr, "omnictl: warning: the store in %s is not "
                    "empty; imported records replace those with the same "
                    "keys, the others stay\n", ctx->dir);
            break;
        }
    }

    if (fseeko(spool ? spool : in, start, SEEK_SET) != 0) {
        fprintf(stderr, "omnictl: \"%s\": %s\n", im->name, strerror(errno));
        goto done;
    }

    im->st = ctx->st;
    im->lineno = 0;
    im->n = 0;

    rc = omnictl_import_pass(im, spool ? spool : in);
    if (rc != OMNICTL_EXIT_OK) {
        goto done;
    }

    if (im->n != records) {
        fprintf(stderr, "omnictl: \"%s\" changed while importing it\n",
                im->name);
        rc = OMNICTL_EXIT_FAIL;
        goto done;
    }

    /* the records of customers erased here are not brought back */
    if (im->skipped > 0) {
        fprintf(stderr, "omnictl: %zu records of erased customers were "
                "skipped\n", im->skipped);
    }

    rc = omnictl_answer(json_pack("{s:I, s:I}", "imported",
                                  (json_int_t) (im->n - im->skipped),
                                  "skipped", (json_int_t) im->skipped));

done:

    if (im != NULL) {
        omnictl_import_clear(im);
        free(im->line);
        free(im);
    }

    if (spool != NULL) {
        fclose(spool);
    }

    if (in != NULL && in != stdin) {
        fclose(in);
    }

    return rc;
}


/* reads every line: checks them, and writes them when im->st is set */

static int
omnictl_import_pass(omnictl_import_t *im, FILE *in)
{
    int     rc, newline;
    size_t  len;

    for ( ;; ) {
        rc = omnictl_getline(in, im->line, OMNICTL_LINE_MAX, &len, &newline);

        if (rc == 0) {
            break;
        }

        im->lineno++;

        if (rc == -1) {
            fprintf(stderr, "omnictl: %s line %zu: longer than %d bytes\n",
                    im->name, im->lineno, OMNICTL_LINE_MAX);
            return OMNICTL_EXIT_FAIL;
        }

        if (rc == -2) {
            fprintf(stderr, "omnictl: reading %s: %s\n", im->name,
                    strerror(errno));
            return OMNICTL_EXIT_FAIL;
        }

        if (!newline) {
            fprintf(stderr, "omnictl: %s line %zu: no newline at its end, "
                    "the file is cut short\n", im->name, im->lineno);
            return OMNICTL_EXIT_FAIL;
        }

        if (len == 0) {
            fprintf(stderr, "omnictl: %s line %zu: empty\n", im->name,
                    im->lineno);
            return OMNICTL_EXIT_FAIL;
        }

        rc = (im->lineno == 1) ? omnictl_import_header(im, len)
                               : omnictl_import_line(im, len);
        if (rc != OMNICTL_EXIT_OK) {
            return rc;
        }
    }

    if (im->lineno == 0) {
        fprintf(stderr, "omnictl: %s is empty, not an export\n", im->name);
        return OMNICTL_EXIT_FAIL;
    }

    return omnictl_import_flush(im);
}


static int
omnictl_import_header(omnictl_import_t *im, size_t len)
{
    char  err[OMNI_ERRLEN];

    if (omni_export_header(im->line, len, err) != 0) {
        fprintf(stderr, "omnictl: %s line 1: %s\n", im->name, err);
        return OMNICTL_EXIT_FAIL;
    }

    return OMNICTL_EXIT_OK;
}


static int
omnictl_import_line(omnictl_import_t *im, size_t len)
{
    char                  err[OMNI_ERRLEN];
    omni_store_record_t   rec;

    if (omni_export_record(im->line, len, &rec, err) != 0) {
        fprintf(stderr, "omnictl: %s line %zu: %s\n", im->name, im->lineno,
                err);
        return OMNICTL_EXIT_FAIL;
    }

    im->n++;

    if (im->st == NULL) {
        free((void *) rec.key);
        return OMNICTL_EXIT_OK;
    }

    if (im->nrecs == 0) {
        im->first = im->lineno;
    }

    im->recs[im->nrecs++] = rec;
    im->bytes += rec.key_len + rec.val_len;

    if (im->nrecs == OMNICTL_BATCH || im->bytes >= OMNICTL_BATCH_BYTES) {
        return omnictl_import_flush(im);
    }

    return OMNICTL_EXIT_OK;
}


static int
omnictl_import_flush(omnictl_import_t *im)
{
    int     rc;
    char    err[OMNI_ERRLEN];
    size_t  skipped;

    if (im->st == NULL || im->nrecs == 0) {
        return OMNICTL_EXIT_OK;
    }

    rc = omni_store_import(im->st, im->recs, im->nrecs, &skipped, err);

    if (rc == OMNI_STORE_OK) {
        im->skipped += skipped;

    } else {
        fprintf(stderr, "omnictl: %s lines %zu to %zu: %s; the lines before "
                "%zu are imported\n", im->name, im->first,
                im->first + im->nrecs - 1, err, im->first);
    }

    omnictl_import_clear(im);

    return (rc == OMNI_STORE_OK) ? OMNICTL_EXIT_OK : OMNICTL_EXIT_FAIL;
}


static void
omnictl_import_clear(omnictl_import_t *im)
{
    size_t  i;

    for (i = 0; i < im->nrecs; i++) {
        free((void *) im->recs[i].key);
    }

    im->nrecs = 0;
    im->bytes = 0;
}


/*
 * One line into buf (at most max bytes, without the newline).  Returns 1,
 * 0 at the end of the input, -1 for a longer line, -2 on a read error.
 */

static int
omnictl_getline(FILE *in, char *buf, size_t max, size_t *len, int *newline)
{
    int     c;
    size_t  n;

    n = 0;
    *newline = 0;

    while ((c = getc_unlocked(in)) != EOF) {
        if (c == '\n') {
            *newline = 1;
            break;
        }

        if (n == max) {
            return -1;
        }

        buf[n++] = (char) c;
    }

    if (c == EOF && ferror(in)) {
        return -2;
    }

    if (c == EOF && n == 0) {
        return 0;
    }

    buf[n] = '\0';
    *len = n;

    return 1;
}
