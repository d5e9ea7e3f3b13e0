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

#include "loadgen.h"


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
