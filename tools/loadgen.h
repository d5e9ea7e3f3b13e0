/*
 * Copyright (C) The omni gateway authors
 *
 * omni-loadgen (tools/loadgen.c): what its files share.  loadgen.c runs
 * the schedule and the connections, loadgen_http.c reads answers,
 * loadgen_report.c keeps the histograms and prints the figures.
 */

#ifndef OMNI_LOADGEN_H_INCLUDED_
#define OMNI_LOADGEN_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <netinet/in.h>


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


ssize_t omni_lg_parse(omni_lg_t *lg, omni_lg_conn_t *c,
    const char *p, size_t n);
void omni_lg_hist_add(omni_lg_hist_t *h, uint64_t v);
int omni_lg_report(omni_lg_t *lg, const omni_lg_opts_t *o);
uint64_t omni_lg_now(void);
uint64_t omni_lg_real_offset(void);


#endif /* OMNI_LOADGEN_H_INCLUDED_ */
