/*
 * Copyright (C) The omni gateway authors
 *
 * omni-policy-bench: the policy engine alone, for make bench.  Generates
 * a policy (by default 1,000 roles x 20 rules), compiles it, then times
 * decisions for callers holding 1 to 3 random roles.
 *
 *     omni-policy-bench [roles [rules_per_role [decisions]]]
 *
 * The shape, from a fixed seed so runs compare: roles in four levels of
 * equal size; a role of levels 1-3 inherits 1 to 3 roles of the level
 * below (no cycles, closures of up to 40 roles, like a real hierarchy:
 * customer < agent < desk < supervisor); rules over 50 services x 20
 * verbs: 70% exact actions, 20% "service.*", 10% "service.verb.*", one
 * in 500 "*"; 10% denies, 30% limited to channels, 10% to a tier.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "omni_policy.h"


#define BENCH_ROLES       1000
#define BENCH_RULES       20
#define BENCH_DECISIONS   1000000
#define BENCH_LEVELS      4
#define BENCH_SERVICES    50
#define BENCH_VERBS       20
#define BENCH_REQUESTS    4096        /* distinct requests, cycled */
#define BENCH_NAME        16


typedef struct {
    char    *p;
    size_t   len;
    size_t   cap;
} bench_buf_t;


typedef struct {
    const char              *roles[3];
    char                     action[48];
    omni_policy_request_t    req;
} bench_req_t;


static uint64_t  bench_state = UINT64_C(0x9e3779b97f4a7c15);


static uint32_t bench_rand(uint32_t n);
static double bench_now(void);
static void bench_add(bench_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *bench_policy(size_t nroles, size_t nrules, size_t *len,
    uint32_t **inherits, uint32_t *ninherits);
static double bench_closure(size_t nroles, const uint32_t *inherits,
    const uint32_t *ninherits);
static void bench_fail(const char *what);


int
main(int argc, char **argv)
{
    char                    *json, *errors, (*names)[BENCH_NAME];
    size_t                   i, j, len, nroles, nrules, ndecisions, allowed;
    double                   t0, compile_ms, decide_ns, explain_ns;
    uint32_t                *inherits, ninherits[BENCH_ROLES * 10];
    bench_req_t             *reqs;
    omni_policy_t           *p;
    omni_policy_decision_t   d;
    char                     path[OMNI_POLICY_PATH_MAX];

    static const char  *channels[] = { "web", "app", "ivr", "miniprogram" };
    static const char  *tiers[] = { "gold", "silver", NULL };

    nroles = (argc > 1) ? strtoul(argv[1], NULL, 10) : BENCH_ROLES;
    nrules = (argc > 2) ? strtoul(argv[2], NULL, 10) : BENCH_RULES;
    ndecisions = (argc > 3) ? strtoul(argv[3], NULL, 10) : BENCH_DECISIONS;

    if (nroles < BENCH_LEVELS || nroles > BENCH_ROLES * 10
        || nroles * nrules > OMNI_POLICY_RULES_MAX || ndecisions == 0)
    {
        fprintf(stderr, "usage: omni-policy-bench [roles (%d-%d) "
                "[rules_per_role [decisions]]]\n", BENCH_LEVELS,
                BENCH_ROLES * 10);
        return 2;
    }

    json = bench_policy(nroles, nrules, &len, &inherits, ninherits);

    t0 = bench_now();
    p = omni_policy_compile(json, len, &errors);
    compile_ms = (bench_now() - t0) * 1e3;

    if (p == NULL) {
        fprintf(stderr, "omni-policy-bench: the generated policy is invalid:"
                "\n%s\n", errors ? errors : "out of memory");
        return 1;
    }

    names = malloc(nroles * sizeof(*names));
    reqs = calloc(BENCH_REQUESTS, sizeof(bench_req_t));

    if (names == NULL || reqs == NULL) {
        bench_fail("out of memory");
    }

    for (i = 0; i < nroles; i++) {
        snprintf(names[i], BENCH_NAME, "r%zu", i);
    }

    for (i = 0; i < BENCH_REQUESTS; i++) {
        reqs[i].req.roles = reqs[i].roles;
        reqs[i].req.nroles = 1 + bench_rand(3);

        for (j = 0; j < reqs[i].req.nroles; j++) {
            reqs[i].roles[j] = names[bench_rand((uint32_t) nroles)];
        }

        snprintf(reqs[i].action, sizeof(reqs[i].action), "s%u.v%u%s",
                 bench_rand(BENCH_SERVICES), bench_rand(BENCH_VERBS),
                 bench_rand(4) == 0 ? ".detail" : "");

        reqs[i].req.action = reqs[i].action;
        reqs[i].req.channel = channels[bench_rand(4)];
        reqs[i].req.tier = tiers[bench_rand(3)];
        reqs[i].req.has_session = 1;
        reqs[i].req.session_age = bench_rand(7200);
    }

    allowed = 0;
    t0 = bench_now();

    for (i = 0; i < ndecisions; i++) {
        omni_policy_decide(p, &reqs[i % BENCH_REQUESTS].req, &d);
        allowed += d.allow;
    }

    decide_ns = (bench_now() - t0) * 1e9 / ndecisions;

    t0 = bench_now();

    for (i = 0; i < BENCH_REQUESTS * 4; i++) {
        omni_policy_explain(p, &reqs[i % BENCH_REQUESTS].req, &d, path,
                            sizeof(path));
    }

    explain_ns = (bench_now() - t0) * 1e9 / (BENCH_REQUESTS * 4);

    printf("policy: %zu roles, %zu rules, compiled in %.1f ms; decide: %.0f "
           "ns per decision\n", omni_policy_roles(p), omni_policy_rules(p),
           compile_ms, decide_ns);
    printf("  %zu bytes of JSON, %.1f roles per closure on average; "
           "%zu decisions, %.1f%% allowed; explain: %.0f ns\n", len,
           bench_closure(nroles, inherits, ninherits), ndecisions,
           100.0 * allowed / ndecisions, explain_ns);

    omni_policy_free(p);
    free(json);
    free(inherits);
    free(names);
    free(reqs);

    return 0;
}


/* xorshift64*: the same policy and requests on every run */
static uint32_t
bench_rand(uint32_t n)
{
    bench_state ^= bench_state >> 12;
    bench_state ^= bench_state << 25;
    bench_state ^= bench_state >> 27;

    return (uint32_t) ((bench_state * UINT64_C(0x2545f4914f6cdd1d)) >> 32)
           % n;
}


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
bench_add(bench_buf_t *b, const char *fmt, ...)
{
    int      n;
    char    *grown;
    va_list  args;

    for ( ;; ) {
        va_start(args, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, args);
        va_end(args);

        if (n < 0) {
            bench_fail("vsnprintf");
        }

        if (b->len + n < b->cap) {
            b->len += n;
            return;
        }

        b->cap = b->cap ? b->cap * 2 : 65536;
        grown = realloc(b->p, b->cap);
        if (grown == NULL) {
            bench_fail("out of memory");
        }

        b->p = grown;
    }
}


/* the policy text; inherits[i * 3 + k] for the closure statistics */
static char *
bench_policy(size_t nroles, size_t nrules, size_t *len, uint32_t **inherits,
    uint32_t *ninherits)
{
    size_t        i, j, k, n, level, per, first;
    uint32_t      pick, r, svc;
    bench_buf_t   b;
    char          pat[2][32];

    static const char  *channel_sets[] = {
        "[\"web\"]", "[\"web\", \"app\"]", "[\"ivr\"]"
    };

    memset(&b, 0, sizeof(b));

    *inherits = calloc(nroles * 3, sizeof(uint32_t));
    if (*inherits == NULL) {
        bench_fail("out of memory");
    }

    per = nroles / BENCH_LEVELS;

    bench_add(&b, "{\"version\": 1, \"roles\": {");

    for (i = 0; i < nroles; i++) {
        level = i / per < BENCH_LEVELS ? i / per : BENCH_LEVELS - 1;
        bench_add(&b, "%s\"r%zu\": {", i ? ",\n" : "", i);

        ninherits[i] = 0;

        if (level > 0) {
            n = 1 + bench_rand(3);
            first = (level - 1) * per;
            bench_add(&b, "\"inherits\": [");

            for (k = 0; k < n; k++) {
                pick = (uint32_t) (first + bench_rand((uint32_t) per));

                for (j = 0; j < ninherits[i]; j++) {
                    if ((*inherits)[i * 3 + j] == pick) {
                        break;
                    }
                }

                if (j < ninherits[i]) {
                    continue;
                }

                (*inherits)[i * 3 + ninherits[i]++] = pick;
                bench_add(&b, "%s\"r%u\"", ninherits[i] > 1 ? ", " : "",
                          pick);
            }

            bench_add(&b, "], ");
        }

        bench_add(&b, "\"rules\": [");

        for (j = 0; j < nrules; j++) {
            bench_add(&b, "%s{\"id\": \"r%zu-%zu\", \"effect\": \"%s\", "
                      "\"actions\": [", j ? ", " : "", i, j,
                      bench_rand(10) == 0 ? "deny" : "allow");

            n = 1 + bench_rand(2);

            for (k = 0; k < n; k++) {
                r = bench_rand(1000);
                svc = bench_rand(BENCH_SERVICES);

                if (r < 2) {
                    snprintf(pat[k], sizeof(pat[k]), "*");

                } else if (r < 700) {
                    snprintf(pat[k], sizeof(pat[k]), "s%u.v%u", svc,
                             bench_rand(BENCH_VERBS));

                } else if (r < 900) {
                    snprintf(pat[k], sizeof(pat[k]), "s%u.*", svc);

                } else {
                    snprintf(pat[k], sizeof(pat[k]), "s%u.v%u.*", svc,
                             bench_rand(BENCH_VERBS));
                }

                /* a pattern twice in a rule is refused: drop the clash */
                if (k == 1 && strcmp(pat[0], pat[1]) == 0) {
                    continue;
                }

                bench_add(&b, "%s\"%s\"", k ? ", " : "", pat[k]);
            }

            bench_add(&b, "]");

            if (bench_rand(10) < 3) {
                bench_add(&b, ", \"channels\": %s",
                          channel_sets[bench_rand(3)]);
            }

            if (bench_rand(10) == 0) {
                bench_add(&b, ", \"when\": {\"tier\": [\"gold\"]}");
            }

            bench_add(&b, "}");
        }

        bench_add(&b, "]}");
    }

    bench_add(&b, "}}");

    *len = b.len;

    return b.p;
}


/* the mean closure size: each role and everything it inherits */
static double
bench_closure(size_t nroles, const uint32_t *inherits,
    const uint32_t *ninherits)
{
    size_t     i, head, tail, total, k;
    uint32_t  *queue, *seen, r;

    queue = malloc(nroles * sizeof(uint32_t));
    seen = calloc(nroles, sizeof(uint32_t));

    if (queue == NULL || seen == NULL) {
        bench_fail("out of memory");
    }

    total = 0;

    for (i = 0; i < nroles; i++) {
        head = 0;
        tail = 0;
        queue[tail++] = (uint32_t) i;
        seen[i] = (uint32_t) i + 1;

        while (head < tail) {
            r = queue[head++];

            for (k = 0; k < ninherits[r]; k++) {
                if (seen[inherits[r * 3 + k]] != i + 1) {
                    seen[inherits[r * 3 + k]] = (uint32_t) i + 1;
                    queue[tail++] = inherits[r * 3 + k];
                }
            }
        }

        total += tail;
    }

    free(queue);
    free(seen);

    return (double) total / nroles;
}


static void
bench_fail(const char *what)
{
    fprintf(stderr, "omni-policy-bench: %s\n", what);
    exit(1);
}
