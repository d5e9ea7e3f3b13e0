/*
 * Copyright (C) The omni gateway authors
 *
 * omni-loadgen: an open-loop, constant-rate HTTP/1.1 load generator for
 * loopback benchmarks (make bench's "p99 at 80 % of the max rate").
 *
 *     omni-loadgen -r RATE [options] http://127.0.0.1:PORT/PATH
 *
 * One thread, one epoll set, N keep-alive connections.  Requests are due
 * at times fixed in advance (1/RATE apart, or Poisson arrivals); each due
 * request goes out on an idle connection, or on the next one to become
 * idle, and its latency runs from the time it was due, not from when it
 * could be sent: a server that stalls is charged for every request the
 * stall delayed (no "coordinated omission").
 *
 * The wait for the next due time is epoll_pwait2() with a nanosecond
 * timeout that ends --spin microseconds early, then polling for the rest:
 * a sleeping thread wakes some microseconds late, a polling one does not.
 *
 * Exit status: 0 every answer had the expected status, 1 an unexpected
 * status, a socket error or a runtime failure, 2 usage error.
 */


#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>


#define OMNI_LG_EXIT_FAIL     1
#define OMNI_LG_EXIT_USAGE    2

#define OMNI_LG_NS            UINT64_C(1000000000)

/* an answer's header must fit; nginx's are a few hundred bytes */
#define OMNI_LG_HEAD_MAX      8192

#define OMNI_LG_EVENTS        64
#define OMNI_LG_READ_BUF      65536

#define OMNI_LG_MAX_CONNS     10000
#define OMNI_LG_MAX_FILE      (256 * 1024 * 1024)

/*
 * The histogram is log-linear, over nanoseconds: exact below 1024 ns,
 * then 512 buckets per power of two, so a bucket is at most 1/512 of its
 * value wide (0.2 µs at 100 µs, 2 µs at 1 ms), up to 2^40 ns (18 min),
 * in 16,384 counters whatever the run's length.
 */
#define OMNI_LG_SUB_BITS      10
#define OMNI_LG_SUB           (1 << OMNI_LG_SUB_BITS)
#define OMNI_LG_HALF          (OMNI_LG_SUB / 2)
#define OMNI_LG_TOP_BITS      40
#define OMNI_LG_BUCKETS       ((OMNI_LG_TOP_BITS - OMNI_LG_SUB_BITS + 2)     \
                               * OMNI_LG_HALF)


typedef struct {
    uint64_t  count;
    uint64_t  sum;
    uint64_t  max;
    uint64_t  bucket[OMNI_LG_BUCKETS];
} omni_lg_hist_t;


typedef enum {
    OMNI_LG_CONNECTING,
    OMNI_LG_IDLE,
    OMNI_LG_BUSY,
    OMNI_LG_DEAD
} omni_lg_conn_state_e;


/* where the response parser is; the CHUNK_ states walk chunked framing */
typedef enum {
    OMNI_LG_HEAD,
    OMNI_LG_BODY,
    OMNI_LG_UNTIL_CLOSE,
    OMNI_LG_CHUNK_SIZE,
    OMNI_LG_CHUNK_EXT,
    OMNI_LG_CHUNK_DATA,
    OMNI_LG_CHUNK_CR,
    OMNI_LG_CHUNK_LF,
    OMNI_LG_TRAILER,
    OMNI_LG_TRAILER_LINE,
    OMNI_LG_LAST_LF,
    OMNI_LG_DONE
} omni_lg_parse_e;


typedef enum {
    OMNI_LG_ERR_CONNECT,
    OMNI_LG_ERR_READ,
    OMNI_LG_ERR_WRITE,
    OMNI_LG_ERR_TIMEOUT,
    OMNI_LG_ERR_MALFORMED,
    OMNI_LG_ERR_N
} omni_lg_err_e;


typedef struct omni_lg_conn_s  omni_lg_conn_t;

struct omni_lg_conn_s {
    int                    fd;
    omni_lg_conn_state_e   state;
    omni_lg_conn_t        *prev;          /* in the idle queue */
    omni_lg_conn_t        *next;
    int                    want_out;      /* EPOLLOUT is registered */
    const char            *out;           /* what is left to send */
    size_t                 out_len;
    uint64_t               due;           /* when the request was due, ns */
    int                    measured;      /* due after the warm-up */
    omni_lg_parse_e        parse;
    int                    status;
    int                    close;         /* the server closes after this */
    int                    digits;        /* of the chunk size line */
    uint64_t               left;          /* body or chunk bytes to come */
    size_t                 head_len;
    char                   head[OMNI_LG_HEAD_MAX];
};


typedef struct {
    /* what is sent */
    struct sockaddr_in     addr;
    char                  *reqs;          /* every request, back to back */
    size_t                *req_off;       /* npool + 1 offsets into reqs */
    size_t                 npool;
    int                    head_method;   /* answers to HEAD have no body */
    int                    expect;        /* 0: any 2xx */

    /* the schedule, in ns of CLOCK_MONOTONIC */
    double                 rate;
    int                    poisson;
    unsigned short         seed[3];
    uint64_t               start;
    uint64_t               warm_end;
    uint64_t               sched_end;
    uint64_t               want;          /* measured requests; 0: by time */
    uint64_t               next_due;
    uint64_t               issued;
    uint64_t               issued_measured;
    uint64_t               spin;
    uint64_t               timeout;

    /* the connections */
    int                    ep;
    omni_lg_conn_t        *conns;
    size_t                 nconns;
    omni_lg_conn_t        *idle_head;     /* idle, oldest first */
    omni_lg_conn_t        *idle_tail;
    size_t                 idle_count;
    size_t                 live;          /* not dead */
    size_t                 inflight;
    uint64_t               busy_end;      /* when all were last busy */
    uint64_t               last_progress;

    /* what came back */
    omni_lg_hist_t         latency;
    omni_lg_hist_t         lag;           /* send time - due time */
    omni_lg_hist_t         read_lag;      /* read time - arrival time */
    uint64_t               real_offset;   /* CLOCK_REALTIME - MONOTONIC */
    uint64_t               done;
    uint64_t               warm_done;
    uint64_t               queued;
    uint64_t               first_due;     /* of the first measured request */
    uint64_t               last_done;
    uint64_t               classes[6];
    uint64_t               unexpected;
    uint64_t               errors[OMNI_LG_ERR_N];
    uint64_t               reconnects;
    int                    connect_errno;

    char                   buf[OMNI_LG_READ_BUF];
} omni_lg_t;


typedef struct {
    const char            *url;
    const char            *path;
    char                   host[INET_ADDRSTRLEN + 8];   /* with :PORT */
    const char            *method;
    const char            *body_file;
    const char            *tokens_file;
    const char           **headers;
    size_t                 nheaders;
    double                 warmup;
    double                 duration;
    uint64_t               requests;
    size_t                 connections;
} omni_lg_opts_t;


static int omni_lg_main(omni_lg_t *lg, omni_lg_opts_t *o, int argc,
    char **argv);
static void omni_lg_free(omni_lg_t *lg, omni_lg_opts_t *o);
static int omni_lg_options(omni_lg_t *lg, omni_lg_opts_t *o, int argc,
    char **argv);
static double omni_lg_number(const char *opt, const char *s, double min,
    double max);
static void omni_lg_usage_error(const char *fmt, const char *arg);
static int omni_lg_url(omni_lg_t *lg, omni_lg_opts_t *o);
static char *omni_lg_slurp(const char *path, size_t *len);
static int omni_lg_build(omni_lg_t *lg, const omni_lg_opts_t *o);
static int omni_lg_connect_all(omni_lg_t *lg);
static void omni_lg_connect(omni_lg_t *lg, omni_lg_conn_t *c, uint64_t now);
static void omni_lg_connected(omni_lg_t *lg, omni_lg_conn_t *c,
    uint64_t now);
static void omni_lg_dead(omni_lg_t *lg, omni_lg_conn_t *c, int err);
static void omni_lg_watch(omni_lg_t *lg, omni_lg_conn_t *c, int op,
    int out);
static void omni_lg_run(omni_lg_t *lg);
static void omni_lg_event(omni_lg_t *lg, omni_lg_conn_t *c,
    uint32_t events);
static int omni_lg_sched_done(omni_lg_t *lg);
static uint64_t omni_lg_send_due(omni_lg_t *lg);
static void omni_lg_write(omni_lg_t *lg, omni_lg_conn_t *c, uint64_t now);
static void omni_lg_read(omni_lg_t *lg, omni_lg_conn_t *c);
static uint64_t omni_lg_arrival(omni_lg_t *lg, struct msghdr *msg,
    uint64_t now);
static void omni_lg_answered(omni_lg_t *lg, omni_lg_conn_t *c, uint64_t at,
    uint64_t now);
static void omni_lg_fail(omni_lg_t *lg, omni_lg_conn_t *c, omni_lg_err_e err,
    uint64_t now);
static void omni_lg_to_idle(omni_lg_t *lg, omni_lg_conn_t *c,
    uint64_t now);
static void omni_lg_unlink(omni_lg_t *lg, omni_lg_conn_t *c);
static ssize_t omni_lg_parse(omni_lg_t *lg, omni_lg_conn_t *c,
    const char *p, size_t n);
static ssize_t omni_lg_head(omni_lg_t *lg, omni_lg_conn_t *c, const char *p,
    size_t n);
static int omni_lg_header(omni_lg_conn_t *c, const char *line, size_t len,
    uint64_t *length, int *chunked);
static int omni_lg_has_token(const char *v, size_t len, const char *token);
static int omni_lg_chunk_byte(omni_lg_conn_t *c, char ch);
static void omni_lg_hist_add(omni_lg_hist_t *h, uint64_t v);
static double omni_lg_hist_us(const omni_lg_hist_t *h, double q);
static void omni_lg_tails(const omni_lg_hist_t *h, double *us);
static int omni_lg_report(omni_lg_t *lg, const omni_lg_opts_t *o);
static uint64_t omni_lg_now(void);
static uint64_t omni_lg_real_offset(void);


static const char  omni_lg_usage_text[] =
"Usage: omni-loadgen -r RATE [options] http://IPV4:PORT/PATH\n"
"\n"
"Sends requests at RATE per second, open loop: each request is due at a\n"
"time fixed in advance and its latency runs from then, even when it had\n"
"to wait for a free connection.\n"
"\n"
"  -r, --rate R          requests per second (required)\n"
"      --poisson         Poisson arrivals (random gaps of mean 1/R)\n"
"                        instead of gaps of exactly 1/R\n"
"  -c, --connections N   keep-alive connections (default 32)\n"
"  -d, --duration S      seconds of measured requests (default 10)\n"
"  -n, --requests N      this many measured requests instead of -d\n"
"  -w, --warmup S        seconds of requests first, not in the statistics\n"
"                        (default 0); their statuses still count\n"
"  -m, --method M        the method (default GET, POST with --body)\n"
"  -H, --header 'N: V'   a request header (repeatable)\n"
"  -b, --body FILE       the request body, with its Content-Length\n"
"  -t, --tokens FILE     tokens, one a line: each request carries the next\n"
"                        as 'Authorization: Bearer TOKEN', cycling\n"
"  -e, --expect STATUS   the status every answer must have (default 2xx)\n"
"      --spin US         poll instead of sleeping for the last US\n"
"                        microseconds before a due time (default 100)\n"
"      --timeout S       give up when nothing answers for S seconds\n"
"                        (default 5); what was waiting counts as errors\n"
"  -h, --help            this text\n"
"\n"
"Prints a table, then one line for scripts:\n"
"  summary target=R rate=R requests=N warmup_requests=N errors=N\n"
"  unexpected=N queued=N mean_us= p50_us= p90_us= p99_us= p999_us=\n"
"  max_us= lag_p50_us= lag_p99_us= lag_p999_us= lag_max_us=\n"
"  read_lag_p50_us= read_lag_p99_us= read_lag_p999_us= read_lag_max_us=\n"
"rate is the measured answers per second; queued counts the measured\n"
"requests that found every connection busy; lag_* is how late the others\n"
"were sent (the pacing error); read_lag_* how long answers waited to be\n"
"read (latencies end when an answer reached the socket, not when read).\n"
"\n"
"Exit status: 0 success, 1 an unexpected status, a socket error or a\n"
"runtime failure, 2 usage error.\n";


int
main(int argc, char **argv)
{
    int              rc;
    omni_lg_t       *lg;
    omni_lg_opts_t   o;

    lg = calloc(1, sizeof(omni_lg_t));
    if (lg == NULL) {
        perror("omni-loadgen");
        return OMNI_LG_EXIT_FAIL;
    }

    rc = omni_lg_main(lg, &o, argc, argv);

    omni_lg_free(lg, &o);

    return rc;
}


static int
omni_lg_main(omni_lg_t *lg, omni_lg_opts_t *o, int argc, char **argv)
{
    int  rc;

    rc = omni_lg_options(lg, o, argc, argv);
    if (rc >= 0) {
        return rc;
    }

    if (omni_lg_build(lg, o) != 0) {
        return OMNI_LG_EXIT_FAIL;
    }

    /*
     * The kernel lets a sleep end up to 50 µs late by default, to batch
     * wake-ups; a 1 ns slack keeps epoll_pwait2()'s timeouts exact.
     */
    (void) prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

    lg->ep = epoll_create1(EPOLL_CLOEXEC);
    if (lg->ep == -1) {
        perror("omni-loadgen: epoll_create1");
        return OMNI_LG_EXIT_FAIL;
    }

    if (omni_lg_connect_all(lg) != 0) {
        return OMNI_LG_EXIT_FAIL;
    }

    lg->real_offset = omni_lg_real_offset();

    lg->start = omni_lg_now();
    lg->warm_end = lg->start + (uint64_t) (o->warmup * 1e9);
    lg->sched_end = lg->warm_end + (uint64_t) (o->duration * 1e9);
    lg->next_due = lg->start;
    lg->last_progress = lg->start;

    omni_lg_run(lg);

    return omni_lg_report(lg, o);
}


/* what main() allocated, given back: a leak checker sees none */
static void
omni_lg_free(omni_lg_t *lg, omni_lg_opts_t *o)
{
    size_t  i;

    if (lg->conns != NULL) {
        for (i = 0; i < lg->nconns; i++) {
            if (lg->conns[i].fd > 0) {
                close(lg->conns[i].fd);
            }
        }
    }

    if (lg->ep > 0) {
        close(lg->ep);
    }

    free(lg->conns);
    free(lg->reqs);
    free(lg->req_off);
    free(o->headers);
    free(lg);
}


/* returns an exit status when done (help, usage error), -1 to go on */
static int
omni_lg_options(omni_lg_t *lg, omni_lg_opts_t *o, int argc, char **argv)
{
    int  ch;

    static const struct option  longs[] = {
        { "rate",        required_argument, NULL, 'r' },
        { "poisson",     no_argument,       NULL, 'P' },
        { "connections", required_argument, NULL, 'c' },
        { "duration",    required_argument, NULL, 'd' },
        { "requests",    required_argument, NULL, 'n' },
        { "warmup",      required_argument, NULL, 'w' },
        { "method",      required_argument, NULL, 'm' },
        { "header",      required_argument, NULL, 'H' },
        { "body",        required_argument, NULL, 'b' },
        { "tokens",      required_argument, NULL, 't' },
        { "expect",      required_argument, NULL, 'e' },
        { "spin",        required_argument, NULL, 'S' },
        { "timeout",     required_argument, NULL, 'T' },
        { "help",        no_argument,       NULL, 'h' },
        { NULL,          0,                 NULL, 0 }
    };

    memset(o, 0, sizeof(omni_lg_opts_t));
    o->duration = 10;
    o->connections = 32;
    o->headers = calloc((size_t) argc, sizeof(char *));
    if (o->headers == NULL) {
        perror("omni-loadgen");
        return OMNI_LG_EXIT_FAIL;
    }

    lg->spin = 100000;
    lg->timeout = 5 * OMNI_LG_NS;

    /* a fixed seed: two Poisson runs send the same schedule */
    lg->seed[0] = 0x330e;
    lg->seed[1] = 0xabcd;
    lg->seed[2] = 0x1234;

    while ((ch = getopt_long(argc, argv, "r:c:d:n:w:m:H:b:t:e:h", longs,
                             NULL))
           != -1)
    {
        switch (ch) {

        case 'r':
            lg->rate = omni_lg_number("--rate", optarg, 1e-3, 1e8);
            break;

        case 'P':
            lg->poisson = 1;
            break;

        case 'c':
            o->connections = (size_t) omni_lg_number("--connections", optarg,
                                                     1, OMNI_LG_MAX_CONNS);
            break;

        case 'd':
            o->duration = omni_lg_number("--duration", optarg, 1e-3, 1e6);
            break;

        case 'n':
            o->requests = (uint64_t) omni_lg_number("--requests", optarg, 1,
                                                    1e12);
            break;

        case 'w':
            o->warmup = omni_lg_number("--warmup", optarg, 0, 1e6);
            break;

        case 'm':
            o->method = optarg;
            break;

        case 'H':
            if (strchr(optarg, ':') == NULL) {
                omni_lg_usage_error("a header is 'Name: value', not \"%s\"",
                                    optarg);
            }
            o->headers[o->nheaders++] = optarg;
            break;

        case 'b':
            o->body_file = optarg;
            break;

        case 't':
            o->tokens_file = optarg;
            break;

        case 'e':
            lg->expect = (int) omni_lg_number("--expect", optarg, 100, 599);
            break;

        case 'S':
            lg->spin = (uint64_t) (omni_lg_number("--spin", optarg, 0, 1e6)
                                   * 1e3);
            break;

        case 'T':
            lg->timeout = (uint64_t) (omni_lg_number("--timeout", optarg,
                                                     1e-3, 1e6)
                                      * 1e9);
            break;

        case 'h':
            fputs(omni_lg_usage_text, stdout);
            return 0;

        default:
            /* getopt has said what was wrong */
            fputs("(omni-loadgen --help for the options)\n", stderr);
            return OMNI_LG_EXIT_USAGE;
        }
    }

    if (lg->rate == 0) {
        omni_lg_usage_error("%s", "--rate is required");
    }

    if (optind != argc - 1) {
        omni_lg_usage_error("%s", "one URL is required");
    }

    o->url = argv[optind];
    lg->want = o->requests;
    lg->nconns = o->connections;

    if (o->method == NULL) {
        o->method = o->body_file ? "POST" : "GET";
    }

    lg->head_method = strcmp(o->method, "HEAD") == 0;

    if (omni_lg_url(lg, o) != 0) {
        omni_lg_usage_error("the URL must be http://IPV4[:PORT][/PATH], "
                            "not \"%s\"", o->url);
    }

    return -1;
}


static double
omni_lg_number(const char *opt, const char *s, double min, double max)
{
    char    *end;
    double   v;

    errno = 0;
    v = strtod(s, &end);

    if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max)) {
        fprintf(stderr, "omni-loadgen: %s: \"%s\" is not a number from %g "
                "to %g\n", opt, s, min, max);
        exit(OMNI_LG_EXIT_USAGE);
    }

    return v;
}


static void
omni_lg_usage_error(const char *fmt, const char *arg)
{
    fputs("omni-loadgen: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(omni-loadgen --help for the options)\n", stderr);
    exit(OMNI_LG_EXIT_USAGE);
}


/* http://A.B.C.D[:PORT][/PATH]: the address, the Host header, the path */
static int
omni_lg_url(omni_lg_t *lg, omni_lg_opts_t *o)
{
    char           *end, addr[sizeof(o->host)];
    size_t          len;
    const char     *p, *slash;
    unsigned long   port;

    if (strncmp(o->url, "http://", 7) != 0) {
        return -1;
    }

    p = o->url + 7;
    slash = strchr(p, '/');
    len = slash ? (size_t) (slash - p) : strlen(p);

    if (len == 0 || len >= sizeof(addr)) {
        return -1;
    }

    /* the Host header names the port too, as curl and wrk send it */
    memcpy(o->host, p, len);
    o->host[len] = '\0';
    memcpy(addr, o->host, len + 1);

    port = 80;
    end = strchr(addr, ':');

    if (end != NULL) {
        *end = '\0';
        errno = 0;
        port = strtoul(end + 1, &end, 10);
        if (errno != 0 || *end != '\0' || port == 0 || port > 65535) {
            return -1;
        }
    }

    lg->addr.sin_family = AF_INET;
    lg->addr.sin_port = htons((uint16_t) port);
    o->path = slash ? slash : "/";

    return inet_pton(AF_INET, addr, &lg->addr.sin_addr) == 1 ? 0 : -1;
}


static char *
omni_lg_slurp(const char *path, size_t *len)
{
    FILE         *f;
    char         *buf;
    size_t        n;
    struct stat   st;

    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return NULL;
    }

    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)
        || st.st_size > OMNI_LG_MAX_FILE)
    {
        fprintf(stderr, "omni-loadgen: %s: not a file of 256 MB or less\n",
                path);
        fclose(f);
        return NULL;
    }

    n = (size_t) st.st_size;
    buf = malloc(n + 1);

    if (buf == NULL || fread(buf, 1, n, f) != n) {
        fprintf(stderr, "omni-loadgen: %s: %s\n", path,
                buf == NULL ? "out of memory" : "cannot read");
        free(buf);
        fclose(f);
        return NULL;
    }

    fclose(f);
    buf[n] = '\0';
    *len = n;

    return buf;
}


/*
 * Every request is built before the run, back to back in one buffer (one
 * per token with --tokens): sending one is a single send() of bytes
 * ready in memory, and the tokens cost the run nothing.
 */
static int
omni_lg_build(omni_lg_t *lg, const omni_lg_opts_t *o)
{
    int      host;
    char    *head, *tail, *body, *tokens, *p, *nl, *q;
    FILE    *f;
    size_t   i, head_len, tail_len, body_len, tokens_len, ntokens, len;

    static const char  bearer[] = "Authorization: Bearer ";

    body = NULL;
    body_len = 0;

    if (o->body_file != NULL) {
        body = omni_lg_slurp(o->body_file, &body_len);
        if (body == NULL) {
            return -1;
        }
    }

    tokens = NULL;
    tokens_len = 0;
    ntokens = 0;

    if (o->tokens_file != NULL) {
        tokens = omni_lg_slurp(o->tokens_file, &tokens_len);
        if (tokens == NULL) {
            return -1;
        }

        /* lines become strings; blank ones are left out */
        for (p = tokens; p < tokens + tokens_len; p = nl + 1) {
            nl = memchr(p, '\n', (size_t) (tokens + tokens_len - p));
            nl = nl ? nl : tokens + tokens_len;
            *nl = '\0';

            if (nl > p && nl[-1] == '\r') {
                nl[-1] = '\0';
            }

            ntokens += (*p != '\0');
        }

        if (ntokens == 0) {
            fprintf(stderr, "omni-loadgen: %s: no token\n", o->tokens_file);
            return -1;
        }
    }

    host = 0;
    for (i = 0; i < o->nheaders; i++) {
        host |= strncasecmp(o->headers[i], "Host:", 5) == 0;
    }

    f = open_memstream(&head, &head_len);
    if (f == NULL) {
        perror("omni-loadgen");
        return -1;
    }

    fprintf(f, "%s %s HTTP/1.1\r\n", o->method, o->path);

    if (!host) {
        fprintf(f, "Host: %s\r\n", o->host);
    }

    for (i = 0; i < o->nheaders; i++) {
        /* with --tokens, the Authorization is the token's */
        if (tokens == NULL
            || strncasecmp(o->headers[i], "Authorization:", 14) != 0)
        {
            fprintf(f, "%s\r\n", o->headers[i]);
        }
    }

    fclose(f);

    f = open_memstream(&tail, &tail_len);
    if (f == NULL) {
        perror("omni-loadgen");
        return -1;
    }

    if (body != NULL) {
        fprintf(f, "Content-Length: %zu\r\n\r\n", body_len);
        fwrite(body, 1, body_len, f);

    } else {
        fputs("\r\n", f);
    }

    fclose(f);

    if (head == NULL || tail == NULL) {
        fputs("omni-loadgen: out of memory\n", stderr);
        return -1;
    }

    lg->npool = ntokens ? ntokens : 1;
    len = lg->npool * (head_len + tail_len)
          + ntokens * (sizeof(bearer) - 1 + 2) + tokens_len;

    lg->reqs = malloc(len);
    lg->req_off = malloc((lg->npool + 1) * sizeof(size_t));

    if (lg->reqs == NULL || lg->req_off == NULL) {
        fputs("omni-loadgen: out of memory\n", stderr);
        return -1;
    }

    q = lg->reqs;
    p = tokens;

    for (i = 0; i < lg->npool; i++) {
        lg->req_off[i] = (size_t) (q - lg->reqs);
        q = mempcpy(q, head, head_len);

        if (tokens != NULL) {
            while (*p == '\0') {
                p++;
            }

            len = strlen(p);
            q = mempcpy(q, bearer, sizeof(bearer) - 1);
            q = mempcpy(q, p, len);
            q = mempcpy(q, "\r\n", 2);
            p += len;
        }

        q = mempcpy(q, tail, tail_len);
    }

    lg->req_off[lg->npool] = (size_t) (q - lg->reqs);

    free(head);
    free(tail);
    free(body);
    free(tokens);

    return 0;
}


/* every connection is up before the first request is due */
static int
omni_lg_connect_all(omni_lg_t *lg)
{
    int                  i, n;
    size_t               k;
    struct epoll_event   evs[OMNI_LG_EVENTS];

    lg->conns = calloc(lg->nconns, sizeof(omni_lg_conn_t));
    if (lg->conns == NULL) {
        perror("omni-loadgen");
        return -1;
    }

    lg->live = lg->nconns;

    for (k = 0; k < lg->nconns; k++) {
        lg->conns[k].fd = -1;
        omni_lg_connect(lg, &lg->conns[k], omni_lg_now());
    }

    while (lg->idle_count < lg->live) {
        n = epoll_wait(lg->ep, evs, OMNI_LG_EVENTS,
                       (int) (lg->timeout / 1000000));

        if (n == 0 || (n == -1 && errno != EINTR)) {
            fprintf(stderr, "omni-loadgen: %zu of %zu connections not up "
                    "in time\n", lg->live - lg->idle_count, lg->nconns);
            return -1;
        }

        for (i = 0; i < n; i++) {
            omni_lg_event(lg, evs[i].data.ptr, evs[i].events);
        }
    }

    if (lg->errors[OMNI_LG_ERR_CONNECT] > 0) {
        fprintf(stderr, "omni-loadgen: cannot connect: %s\n",
                strerror(lg->connect_errno));
        return -1;
    }

    return 0;
}


/* opens c, or opens it again after the server closed it or an error */
static void
omni_lg_connect(omni_lg_t *lg, omni_lg_conn_t *c, uint64_t now)
{
    int  one;

    if (c->state == OMNI_LG_IDLE) {
        omni_lg_unlink(lg, c);
    }

    if (c->fd != -1) {
        close(c->fd);  /* which takes it out of the epoll set */
        lg->reconnects++;
    }

    c->state = OMNI_LG_CONNECTING;
    c->out_len = 0;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd == -1) {
        omni_lg_dead(lg, c, errno);
        return;
    }

    /* a request is one send(): holding it back gains nothing */
    one = 1;
    (void) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    /* when each answer reached the socket (omni_lg_arrival()) */
    (void) setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));

    if (connect(c->fd, (struct sockaddr *) &lg->addr, sizeof(lg->addr)) == 0)
    {
        omni_lg_watch(lg, c, EPOLL_CTL_ADD, 0);
        omni_lg_to_idle(lg, c, now);
        return;
    }

    if (errno != EINPROGRESS) {
        omni_lg_dead(lg, c, errno);
        return;
    }

    omni_lg_watch(lg, c, EPOLL_CTL_ADD, 1);
}


static void
omni_lg_connected(omni_lg_t *lg, omni_lg_conn_t *c, uint64_t now)
{
    int        err;
    socklen_t  len;

    len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        err = errno;
    }

    if (err != 0) {
        omni_lg_dead(lg, c, err);
        return;
    }

    omni_lg_watch(lg, c, EPOLL_CTL_MOD, 0);
    omni_lg_to_idle(lg, c, now);
    lg->last_progress = now;
}


/* a connection that failed to open is not opened again: the run fails */
static void
omni_lg_dead(omni_lg_t *lg, omni_lg_conn_t *c, int err)
{
    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
    }

    c->state = OMNI_LG_DEAD;
    lg->live--;
    lg->connect_errno = err;
    lg->errors[OMNI_LG_ERR_CONNECT]++;
}


static void
omni_lg_watch(omni_lg_t *lg, omni_lg_conn_t *c, int op, int out)
{
    struct epoll_event  ev;

    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    c->want_out = out;

    if (epoll_ctl(lg->ep, op, c->fd, &ev) == -1) {
        perror("omni-loadgen: epoll_ctl");
        exit(OMNI_LG_EXIT_FAIL);
    }
}


static void
omni_lg_run(omni_lg_t *lg)
{
    int                  i, n, pending;
    uint64_t             now, deadline, wait;
    struct timespec      ts;
    struct epoll_event   evs[OMNI_LG_EVENTS];

    for ( ;; ) {
        now = omni_lg_send_due(lg);
        pending = !omni_lg_sched_done(lg);

        if ((!pending && lg->inflight == 0) || lg->live == 0) {
            return;
        }

        if (pending && lg->idle_count > 0) {
            /* sleep until shortly before the next request, then poll */
            deadline = lg->next_due > lg->spin ? lg->next_due - lg->spin : 0;

        } else {
            /* waiting for answers, or for a connection: not forever */
            deadline = lg->last_progress + lg->timeout;

            if (now >= deadline) {
                /* the requests, and the connects, that got no answer */
                lg->errors[OMNI_LG_ERR_TIMEOUT] += lg->live - lg->idle_count;
                return;
            }
        }

        wait = deadline > now ? deadline - now : 0;
        ts.tv_sec = (time_t) (wait / OMNI_LG_NS);
        ts.tv_nsec = (long) (wait % OMNI_LG_NS);

        n = epoll_pwait2(lg->ep, evs, OMNI_LG_EVENTS, &ts, NULL);

        if (n == -1 && errno != EINTR) {
            perror("omni-loadgen: epoll_pwait2");
            exit(OMNI_LG_EXIT_FAIL);
        }

        for (i = 0; i < n; i++) {
            omni_lg_event(lg, evs[i].data.ptr, evs[i].events);
        }
    }
}


static void
omni_lg_event(omni_lg_t *lg, omni_lg_conn_t *c, uint32_t events)
{
    if (c->state == OMNI_LG_CONNECTING) {
        omni_lg_connected(lg, c, omni_lg_now());
        return;
    }

    if ((events & EPOLLOUT) && c->out_len > 0) {
        omni_lg_write(lg, c, omni_lg_now());
    }

    /* a failed write has closed the socket the event was about */
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        && c->state != OMNI_LG_CONNECTING && c->state != OMNI_LG_DEAD)
    {
        omni_lg_read(lg, c);
    }
}


static int
omni_lg_sched_done(omni_lg_t *lg)
{
    if (lg->want) {
        return lg->issued_measured >= lg->want;
    }

    return lg->next_due >= lg->sched_end;
}


/*
 * Sends every request that is due, while a connection is idle; returns
 * the time.  A request that found every connection busy (due before the
 * last moment none was idle) is "queued": its latency includes that wait,
 * and how late it left says nothing about the pacing.
 */
static uint64_t
omni_lg_send_due(omni_lg_t *lg)
{
    size_t           i;
    uint64_t         now;
    omni_lg_conn_t  *c;

    now = omni_lg_now();

    while (lg->idle_count > 0 && lg->next_due <= now
           && !omni_lg_sched_done(lg))
    {
        c = lg->idle_head;
        omni_lg_unlink(lg, c);

        c->state = OMNI_LG_BUSY;
        c->due = lg->next_due;
        c->measured = c->due >= lg->warm_end;
        c->parse = OMNI_LG_HEAD;
        c->head_len = 0;
        c->status = 0;
        c->close = 0;

        if (c->measured) {
            if (lg->issued_measured++ == 0) {
                lg->first_due = c->due;
            }

            if (c->due < lg->busy_end) {
                lg->queued++;

            } else {
                omni_lg_hist_add(&lg->lag, now - c->due);
            }
        }

        i = lg->issued++ % lg->npool;
        c->out = lg->reqs + lg->req_off[i];
        c->out_len = lg->req_off[i + 1] - lg->req_off[i];
        lg->inflight++;
        lg->last_progress = now;

        /* the gaps of a Poisson process are exponential, of mean 1/R */
        if (lg->poisson) {
            lg->next_due += (uint64_t) (-log(1.0 - erand48(lg->seed))
                                        * 1e9 / lg->rate);

        } else {
            lg->next_due = lg->start
                           + (uint64_t) ((double) lg->issued * 1e9
                                         / lg->rate);
        }

        omni_lg_write(lg, c, now);
        now = omni_lg_now();
    }

    return now;
}


static void
omni_lg_write(omni_lg_t *lg, omni_lg_conn_t *c, uint64_t now)
{
    ssize_t  n;

    n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);

    if (n == -1) {
        if (errno != EAGAIN && errno != EINTR) {
            omni_lg_fail(lg, c, OMNI_LG_ERR_WRITE, now);
            return;
        }

        n = 0;
    }

    c->out += n;
    c->out_len -= (size_t) n;

    if ((c->out_len > 0) != c->want_out) {
        omni_lg_watch(lg, c, EPOLL_CTL_MOD, c->out_len > 0);
    }
}


static void
omni_lg_read(omni_lg_t *lg, omni_lg_conn_t *c)
{
    ssize_t          n, used;
    uint64_t         now, at;
    struct iovec     iov;
    struct msghdr    msg;

    union {
        char             buf[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr   align;
    } control;

    iov.iov_base = lg->buf;
    iov.iov_len = sizeof(lg->buf);

    memset(&msg, 0, sizeof(struct msghdr));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);

    n = recvmsg(c->fd, &msg, 0);
    now = omni_lg_now();

    if (n == -1) {
        if (errno != EAGAIN && errno != EINTR) {
            omni_lg_fail(lg, c, OMNI_LG_ERR_READ, now);
        }

        return;
    }

    if (n == 0) {
        if (c->state == OMNI_LG_BUSY && c->parse == OMNI_LG_UNTIL_CLOSE) {
            omni_lg_answered(lg, c, now, now);
            omni_lg_connect(lg, c, now);

        } else if (c->state == OMNI_LG_BUSY) {
            omni_lg_fail(lg, c, OMNI_LG_ERR_READ, now);

        } else {
            /* the server closed an idle connection: not an error */
            omni_lg_connect(lg, c, now);
        }

        return;
    }

    /* bytes nobody asked for, or more than one answer, are not HTTP */
    used = c->state == OMNI_LG_BUSY ? omni_lg_parse(lg, c, lg->buf,
                                                    (size_t) n)
                                    : -1;

    if (used == -1 || (c->parse == OMNI_LG_DONE && used < n)) {
        omni_lg_fail(lg, c, OMNI_LG_ERR_MALFORMED, now);
        return;
    }

    if (c->parse != OMNI_LG_DONE) {
        return;
    }

    at = omni_lg_arrival(lg, &msg, now);
    omni_lg_answered(lg, c, at, now);

    /* an answer before the whole request was sent ends the connection */
    if (c->close || c->out_len > 0) {
        omni_lg_connect(lg, c, now);

    } else {
        omni_lg_to_idle(lg, c, now);
    }
}


/*
 * When the bytes just read reached the socket: the kernel's receive
 * timestamp of the last of them (SO_TIMESTAMPNS, on CLOCK_REALTIME),
 * moved to CLOCK_MONOTONIC; now without one.  A client that was off its
 * CPU when the answer came (another process had it) would otherwise add
 * its own delay to the server's latency.
 */
static uint64_t
omni_lg_arrival(omni_lg_t *lg, struct msghdr *msg, uint64_t now)
{
    uint64_t          at;
    struct cmsghdr   *cm;
    struct timespec   ts;

    for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS)
        {
            continue;
        }

        memcpy(&ts, CMSG_DATA(cm), sizeof(struct timespec));
        at = (uint64_t) ts.tv_sec * OMNI_LG_NS + (uint64_t) ts.tv_nsec
             - lg->real_offset;

        /* later than now: the wall clock was set during the run */
        return at < now ? at : now;
    }

    return now;
}


static void
omni_lg_answered(omni_lg_t *lg, omni_lg_conn_t *c, uint64_t at,
    uint64_t now)
{
    lg->inflight--;
    lg->last_progress = now;
    lg->classes[c->status / 100]++;

    if (lg->expect ? c->status != lg->expect : c->status / 100 != 2) {
        lg->unexpected++;
    }

    if (!c->measured) {
        lg->warm_done++;
        return;
    }

    omni_lg_hist_add(&lg->latency, at > c->due ? at - c->due : 0);
    omni_lg_hist_add(&lg->read_lag, now - at);
    lg->done++;
    lg->last_done = at;
}


static void
omni_lg_fail(omni_lg_t *lg, omni_lg_conn_t *c, omni_lg_err_e err,
    uint64_t now)
{
    lg->errors[err]++;

    if (c->state == OMNI_LG_BUSY) {
        /* the request is lost: the error stands for it */
        lg->inflight--;
    }

    omni_lg_connect(lg, c, now);
}


static void
omni_lg_to_idle(omni_lg_t *lg, omni_lg_conn_t *c, uint64_t now)
{
    if (lg->idle_count == 0) {
        lg->busy_end = now;
    }

    c->state = OMNI_LG_IDLE;
    c->next = NULL;
    c->prev = lg->idle_tail;

    if (lg->idle_tail != NULL) {
        lg->idle_tail->next = c;

    } else {
        lg->idle_head = c;
    }

    lg->idle_tail = c;
    lg->idle_count++;
}


static void
omni_lg_unlink(omni_lg_t *lg, omni_lg_conn_t *c)
{
    if (c->prev != NULL) {
        c->prev->next = c->next;

    } else {
        lg->idle_head = c->next;
    }

    if (c->next != NULL) {
        c->next->prev = c->prev;

    } else {
        lg->idle_tail = c->prev;
    }

    lg->idle_count--;
}


/* takes n bytes of an answer; returns how many belonged to it, or -1 */
static ssize_t
omni_lg_parse(omni_lg_t *lg, omni_lg_conn_t *c, const char *p, size_t n)
{
    size_t   i, take;
    ssize_t  used;

    i = 0;

    if (c->parse == OMNI_LG_HEAD) {
        used = omni_lg_head(lg, c, p, n);
        if (used == -1) {
            return -1;
        }

        i = (size_t) used;
    }

    while (i < n && c->parse != OMNI_LG_DONE) {

        switch (c->parse) {

        case OMNI_LG_BODY:
        case OMNI_LG_CHUNK_DATA:
            take = n - i < c->left ? n - i : c->left;
            i += take;
            c->left -= take;

            if (c->left == 0) {
                c->parse = c->parse == OMNI_LG_BODY ? OMNI_LG_DONE
                                                    : OMNI_LG_CHUNK_CR;
            }

            break;

        case OMNI_LG_UNTIL_CLOSE:
            i = n;
            break;

        default:
            if (omni_lg_chunk_byte(c, p[i++]) != 0) {
                return -1;
            }
        }
    }

    return (ssize_t) i;
}


/*
 * Buffers the header until its empty line, then reads the status and
 * what says where the body ends: Content-Length, chunked, or the close.
 */
static ssize_t
omni_lg_head(omni_lg_t *lg, omni_lg_conn_t *c, const char *p, size_t n)
{
    int        chunked;
    char      *h, *end, *line, *eol;
    size_t     take, from, used;
    uint64_t   length;

    h = c->head;
    take = sizeof(c->head) - c->head_len;
    take = n < take ? n : take;
    from = c->head_len > 3 ? c->head_len - 3 : 0;

    memcpy(h + c->head_len, p, take);
    c->head_len += take;

    end = memmem(h + from, c->head_len - from, "\r\n\r\n", 4);
    if (end == NULL) {
        return c->head_len == sizeof(c->head) ? -1 : (ssize_t) take;
    }

    used = take - (c->head_len - (size_t) (end + 4 - h));

    /* HTTP/1.x SSS */
    eol = memmem(h, (size_t) (end + 2 - h), "\r\n", 2);
    if (eol - h < 12 || memcmp(h, "HTTP/1.", 7) != 0 || h[8] != ' '
        || (h[12] != ' ' && h[12] != '\r')
        || h[9] < '1' || h[9] > '5' || h[10] < '0' || h[10] > '9'
        || h[11] < '0' || h[11] > '9')
    {
        return -1;
    }

    c->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');

    length = UINT64_MAX;
    chunked = 0;

    for (line = eol + 2; line < end + 2; line = eol + 2) {
        eol = memmem(line, (size_t) (end + 2 - line), "\r\n", 2);

        if (omni_lg_header(c, line, (size_t) (eol - line), &length, &chunked)
            != 0)
        {
            return -1;
        }
    }

    if (lg->head_method || c->status < 200 || c->status == 204
        || c->status == 304)
    {
        c->parse = OMNI_LG_DONE;

    } else if (chunked) {
        c->parse = OMNI_LG_CHUNK_SIZE;
        c->left = 0;
        c->digits = 0;

    } else if (length != UINT64_MAX) {
        c->parse = length ? OMNI_LG_BODY : OMNI_LG_DONE;
        c->left = length;

    } else {
        c->parse = OMNI_LG_UNTIL_CLOSE;
        c->close = 1;
    }

    return (ssize_t) used;
}


static int
omni_lg_header(omni_lg_conn_t *c, const char *line, size_t len,
    uint64_t *length, int *chunked)
{
    char        *e;
    size_t       name;
    const char  *colon, *v, *end;

    end = line + len;
    colon = memchr(line, ':', len);
    if (colon == NULL) {
        return -1;
    }

    name = (size_t) (colon - line);

    for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++) {
        /* void */
    }

    if (name == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
        if (v == end || *v < '0' || *v > '9') {
            return -1;
        }

        /* the header ends in CR, where strtoull stops */
        errno = 0;
        *length = strtoull(v, &e, 10);

        while (e < end && (*e == ' ' || *e == '\t')) {
            e++;
        }

        return (errno != 0 || e != end) ? -1 : 0;
    }

    if (name == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
        *chunked = omni_lg_has_token(v, (size_t) (end - v), "chunked");

    } else if (name == 10 && strncasecmp(line, "Connection", 10) == 0) {
        c->close |= omni_lg_has_token(v, (size_t) (end - v), "close");
    }

    return 0;
}


static int
omni_lg_has_token(const char *v, size_t len, const char *token)
{
    size_t  i, n;

    n = strlen(token);

    for (i = 0; i + n <= len; i++) {
        if (strncasecmp(v + i, token, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/* chunked framing, a byte at a time (the data is skipped in bulk) */
static int
omni_lg_chunk_byte(omni_lg_conn_t *c, char ch)
{
    int  d, l;

    switch (c->parse) {

    case OMNI_LG_CHUNK_SIZE:
        l = ch | 0x20;
        d = (ch >= '0' && ch <= '9') ? ch - '0'
            : (l >= 'a' && l <= 'f') ? l - 'a' + 10 : -1;

        if (d >= 0) {
            /* no chunk is 2^60 bytes long */
            if (c->left >> 59) {
                return -1;
            }

            c->left = c->left * 16 + (uint64_t) d;
            c->digits++;
            return 0;
        }

        if (c->digits == 0) {
            return -1;
        }

        /* what follows the size: ";extension", then the line's end */
        c->parse = OMNI_LG_CHUNK_EXT;

        /* fall through */

    case OMNI_LG_CHUNK_EXT:
        if (ch == '\n') {
            c->parse = c->left ? OMNI_LG_CHUNK_DATA : OMNI_LG_TRAILER;
        }

        return 0;

    case OMNI_LG_CHUNK_CR:
        c->parse = OMNI_LG_CHUNK_LF;
        return ch == '\r' ? 0 : -1;

    case OMNI_LG_CHUNK_LF:
        c->parse = OMNI_LG_CHUNK_SIZE;
        c->digits = 0;
        return ch == '\n' ? 0 : -1;

    case OMNI_LG_TRAILER:
        c->parse = ch == '\r' ? OMNI_LG_LAST_LF
                   : ch == '\n' ? OMNI_LG_DONE : OMNI_LG_TRAILER_LINE;
        return 0;

    case OMNI_LG_TRAILER_LINE:
        if (ch == '\n') {
            c->parse = OMNI_LG_TRAILER;
        }

        return 0;

    case OMNI_LG_LAST_LF:
        c->parse = OMNI_LG_DONE;
        return ch == '\n' ? 0 : -1;

    default:
        return -1;
    }
}


static void
omni_lg_hist_add(omni_lg_hist_t *h, uint64_t v)
{
    int     e;
    size_t  i;

    if (v >> OMNI_LG_TOP_BITS) {
        v = (UINT64_C(1) << OMNI_LG_TOP_BITS) - 1;
    }

    if (v < OMNI_LG_SUB) {
        i = (size_t) v;

    } else {
        /* the top OMNI_LG_SUB_BITS bits of v, in its power of two's row */
        e = 63 - __builtin_clzll(v) - OMNI_LG_SUB_BITS + 1;
        i = (size_t) e * OMNI_LG_HALF + (size_t) (v >> e);
    }

    h->bucket[i]++;
    h->count++;
    h->sum += v;

    if (v > h->max) {
        h->max = v;
    }
}


/* the q-quantile, in µs: the middle of the bucket that holds it */
static double
omni_lg_hist_us(const omni_lg_hist_t *h, double q)
{
    size_t    i;
    uint64_t  rank, seen, v, e;

    if (h->count == 0) {
        return 0;
    }

    rank = (uint64_t) ceil(q * (double) h->count);
    rank = rank ? rank : 1;
    seen = 0;

    for (i = 0; i < OMNI_LG_BUCKETS - 1; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            break;
        }
    }

    if (i < OMNI_LG_SUB) {
        v = i;

    } else {
        e = i / OMNI_LG_HALF - 1;
        v = ((i % OMNI_LG_HALF + OMNI_LG_HALF) << e) + (UINT64_C(1) << e) / 2;
    }

    return (double) (v < h->max ? v : h->max) / 1e3;
}


/* p50, p99, p99.9 and max, in µs */
static void
omni_lg_tails(const omni_lg_hist_t *h, double *us)
{
    us[0] = omni_lg_hist_us(h, 0.5);
    us[1] = omni_lg_hist_us(h, 0.99);
    us[2] = omni_lg_hist_us(h, 0.999);
    us[3] = omni_lg_hist_us(h, 1);
}


static int
omni_lg_report(omni_lg_t *lg, const omni_lg_opts_t *o)
{
    int       i;
    double    rate, lat[6], lag[4], rlag[4];
    uint64_t  errors;

    static const double  qs[] = { 0.5, 0.9, 0.99, 0.999, 1 };

    errors = 0;
    for (i = 0; i < OMNI_LG_ERR_N; i++) {
        errors += lg->errors[i];
    }

    /*
     * Answers per second, from when the first measured request was due to
     * the last measured answer: a server that keeps up shows the target
     * (less a latency in a whole run), one that does not its own pace,
     * and a stall of the client in the middle changes neither.
     */
    rate = 0;
    if (lg->done > 1 && lg->last_done > lg->first_due) {
        rate = (double) (lg->done - 1) * 1e9
               / (double) (lg->last_done - lg->first_due);
    }

    lat[0] = lg->latency.count ? (double) lg->latency.sum
                                 / (double) lg->latency.count / 1e3
                               : 0;
    for (i = 0; i < 5; i++) {
        lat[i + 1] = omni_lg_hist_us(&lg->latency, qs[i]);
    }

    omni_lg_tails(&lg->lag, lag);
    omni_lg_tails(&lg->read_lag, rlag);

    printf("omni-loadgen: %s http://%s%s, %zu connections, %s schedule "
           "at %g requests/s\n", o->method, o->host, o->path, lg->nconns,
           lg->poisson ? "Poisson" : "uniform", lg->rate);
    printf("answers: %" PRIu64 " measured, at %.1f/s; %" PRIu64
           " in the %g s warm-up\n", lg->done, rate, lg->warm_done,
           o->warmup);

    printf("\nlatency from the time each request was due, µs:\n");
    printf("%10s %10s %10s %10s %10s %10s\n", "mean", "p50", "p90", "p99",
           "p99.9", "max");
    printf("%10.1f %10.1f %10.1f %10.1f %10.1f %10.1f\n", lat[0], lat[1],
           lat[2], lat[3], lat[4], lat[5]);

    printf("\npacing, how late the requests left, µs (%" PRIu64 " requests;"
           " %" PRIu64 " more found every connection busy):\n",
           lg->lag.count, lg->queued);
    printf("%10s %10s %10s %10s\n", "p50", "p99", "p99.9", "max");
    printf("%10.1f %10.1f %10.1f %10.1f\n", lag[0], lag[1], lag[2], lag[3]);

    printf("\nhow long the answers waited to be read, µs (not in the "
           "latency):\n");
    printf("%10s %10s %10s %10s\n", "p50", "p99", "p99.9", "max");
    printf("%10.1f %10.1f %10.1f %10.1f\n", rlag[0], rlag[1], rlag[2],
           rlag[3]);

    printf("\nstatuses:");
    for (i = 1; i < 6; i++) {
        if (lg->classes[i]) {
            printf(" %dxx %" PRIu64 ",", i, lg->classes[i]);
        }
    }

    if (lg->expect) {
        printf(" not %d: %" PRIu64 "\n", lg->expect, lg->unexpected);

    } else {
        printf(" not 2xx: %" PRIu64 "\n", lg->unexpected);
    }

    printf("socket errors: connect %" PRIu64 ", read %" PRIu64 ", write %"
           PRIu64 ", timeout %" PRIu64 ", malformed answer %" PRIu64
           "; reconnects %" PRIu64 "\n", lg->errors[OMNI_LG_ERR_CONNECT],
           lg->errors[OMNI_LG_ERR_READ], lg->errors[OMNI_LG_ERR_WRITE],
           lg->errors[OMNI_LG_ERR_TIMEOUT],
           lg->errors[OMNI_LG_ERR_MALFORMED], lg->reconnects);

    if (lg->live == 0) {
        printf("every connection failed: %s\n", strerror(lg->connect_errno));
    }

    printf("summary target=%g rate=%.1f requests=%" PRIu64 " warmup_requests=%"
           PRIu64 " errors=%" PRIu64 " unexpected=%" PRIu64 " queued=%"
           PRIu64 " mean_us=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
           "p999_us=%.1f max_us=%.1f lag_p50_us=%.1f lag_p99_us=%.1f "
           "lag_p999_us=%.1f lag_max_us=%.1f read_lag_p50_us=%.1f "
           "read_lag_p99_us=%.1f read_lag_p999_us=%.1f "
           "read_lag_max_us=%.1f\n",
           lg->rate, rate, lg->done, lg->warm_done, errors, lg->unexpected,
           lg->queued, lat[0], lat[1], lat[2], lat[3], lat[4], lat[5],
           lag[0], lag[1], lag[2], lag[3], rlag[0], rlag[1], rlag[2],
           rlag[3]);

    return (errors || lg->unexpected) ? OMNI_LG_EXIT_FAIL : 0;
}


static uint64_t
omni_lg_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * OMNI_LG_NS + (uint64_t) ts.tv_nsec;
}


/* CLOCK_REALTIME - CLOCK_MONOTONIC, read between two monotonic readings */
static uint64_t
omni_lg_real_offset(void)
{
    uint64_t         before, after;
    struct timespec  real;

    before = omni_lg_now();
    clock_gettime(CLOCK_REALTIME, &real);
    after = omni_lg_now();

    return (uint64_t) real.tv_sec * OMNI_LG_NS + (uint64_t) real.tv_nsec
           - before / 2 - after / 2;
}
