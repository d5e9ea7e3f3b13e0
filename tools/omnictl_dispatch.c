/*
 * Copyright (C) The omni gateway authors
 *
 * omnictl's workflow commands, without a store: dispatch validate (every
 * error of a workflow file) and dispatch simulate (the decision for one
 * request, given the pools' requests in flight, an intent and the pool
 * that last served the caller; nothing is sent); and on the store's
 * workflow revisions, as the policy's (omnictl_policy.c): dispatch load,
 * show, revisions, rollback and diff; and dispatch capacity, the capacities set
 * live.
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omnictl.h"
#include "omni_contract.h"
#include "omni_dispatch.h"


#define OMNICTL_STATE_MAX  4096


static omni_dispatch_t *omnictl_dispatch_compile(const char *name);
static int omnictl_dispatch_set(json_t *obj, const char *name,
    const char *value);
static int omnictl_dispatch_state(const omni_dispatch_t *d, char *state,
    uint32_t *in_flight, uint32_t *channel_in_flight, omni_dispatch_req_t *q);


int
omnictl_cmd_dispatch_validate(omnictl_ctx_t *ctx)
{
    int               rc;
    omni_dispatch_t  *d;

    d = omnictl_dispatch_compile(ctx->argv[0]);
    if (d == NULL) {
        return OMNICTL_EXIT_FAIL;
    }

    rc = OMNICTL_EXIT_OK;

    if (printf("%s: ok (%zu rate limits, %zu pools, %zu rules)\n",
               ctx->argv[0], d->nlimits, d->npools,
               d->nrules ? d->nrules - 1 : 0)
        < 0)
    {
        fprintf(stderr, "omnictl: writing the output: %s\n",
                strerror(errno));
        rc = OMNICTL_EXIT_FAIL;
    }

    omni_dispatch_free(d);

    return rc;
}


int
omnictl_cmd_dispatch_simulate(omnictl_ctx_t *ctx)
{
    int                            rc, rule;
    size_t                         i;
    json_t                        *out, *over, *e;
    uint32_t                       in_flight[OMNI_DISPATCH_POOLS_MAX];
    uint32_t                       channel_in_flight[OMNI_DISPATCH_POOLS_MAX];
    omni_dispatch_t               *d;
    omni_dispatch_req_t            q;
    omni_dispatch_decision_t       dec;
    const omni_dispatch_limit_t   *limit;
    const omni_dispatch_rule_t    *r;
    char                           state[OMNICTL_STATE_MAX];

    if (ctx->channel == NULL) {
        return omnictl_usage_error("dispatch simulate needs --channel");
    }

    if (!omni_contract_is_name(ctx->channel, strlen(ctx->channel))
        || (ctx->action
            && !omni_contract_is_action(ctx->action, strlen(ctx->action))))
    {
        return omnictl_usage_error("--channel or --action is not a name the "
                                   "contract would carry");
    }

    d = omnictl_dispatch_compile(ctx->argv[0]);
    if (d == NULL) {
        return OMNICTL_EXIT_FAIL;
    }

    memset(&q, 0, sizeof(q));
    memset(in_flight, 0, sizeof(in_flight));
    memset(channel_in_flight, 0, sizeof(channel_in_flight));
    q.channel = ctx->channel;
    q.channel_in_flight = channel_in_flight;
    q.action = ctx->action;
    q.tier = ctx->tier;
    q.anonymous = (ctx->anonymous != NULL);
    q.open_case = (ctx->open_case != NULL);
    q.confidence = OMNI_DISPATCH_NO_CONFIDENCE;
    q.affinity = -1;

    state[0] = '\0';

    if (ctx->argc > 1) {
        if (strlen(ctx->argv[1]) >= sizeof(state)) {
            omni_dispatch_free(d);
            return omnictl_usage_error("STATE is longer than %d bytes",
                                       OMNICTL_STATE_MAX - 1);
        }

        strcpy(state, ctx->argv[1]);

        if (omnictl_dispatch_state(d, state, in_flight, channel_in_flight,
                                   &q)
            != 0)
        {
            omni_dispatch_free(d);
            return OMNICTL_EXIT_USAGE;
        }
    }

    out = json_object();
    limit = omni_dispatch_limit(d, q.channel, q.tier, q.anonymous);
    rc = omnictl_dispatch_set(out, "rate_limit", limit ? limit->id : NULL);

    if (d->npools == 0) {
        rc |= omnictl_dispatch_set(out, "dispatch", NULL);
        goto print;
    }

    rule = omni_dispatch_decide(d, &q, in_flight, &dec);
    r = &d->rules[rule];

    rc |= omnictl_dispatch_set(out, "rule", dec.rule);
    rc |= omnictl_dispatch_set(out, "pool",
                               dec.pool >= 0 ? d->pools[dec.pool].name
                                             : NULL);
    rc |= omnictl_dispatch_set(out, "upstream",
                               dec.pool >= 0 ? d->pools[dec.pool].upstream
                                             : NULL);
    rc |= json_object_set_new(out, "step", dec.step >= 0
                                           ? json_integer(dec.step)
                                           : json_null());
    rc |= omnictl_dispatch_set(out, "reason",
                               omni_dispatch_reason(dec.reason));

    over = json_array();
    rc |= json_object_set_new(out, "passed_over", over);

    for (i = 0; i < r->ntargets && over != NULL; i++) {
        if (dec.skipped[i] == NULL) {
            continue;
        }

        e = json_object();
        rc |= omnictl_dispatch_set(e, "pool",
                                   d->pools[r->targets[i].pool].name);
        rc |= json_object_set_new(e, "in_flight",
                                  json_integer(in_flight[r->targets[i].pool]));

        /* a pool with a capacity of its own on the request's channel */
        if (omni_dispatch_pool_channel(&d->pools[r->targets[i].pool],
                                       q.channel)
            >= 0)
        {
            rc |= json_object_set_new(e, "channel_in_flight",
                                      json_integer(channel_in_flight
                                                   [r->targets[i].pool]));
        }

        rc |= omnictl_dispatch_set(e, "why", dec.skipped[i]);
        rc |= json_array_append_new(over, e);
    }

print:

    omni_dispatch_free(d);

    if (rc != 0) {
        json_decref(out);
        out = NULL;
    }

    return omnictl_answer(out);
}


static omni_dispatch_t *
omnictl_dispatch_compile(const char *name)
{
    char             *json, *errors;
    size_t            len;
    omni_dispatch_t  *d;

    if (omnictl_policy_read(name, &json, &len) != OMNICTL_EXIT_OK) {
        return NULL;
    }

    d = omni_dispatch_compile(json, len, &errors);
    free(json);

    if (d == NULL) {
        fprintf(stderr, "omnictl: invalid workflow file \"%s\":\n%s\n", name,
                errors ? errors : "out of memory");
        free(errors);
    }

    return d;
}


/* a name of the workflow (checked text), or null */
static int
omnictl_dispatch_set(json_t *obj, const char *name, const char *value)
{
    return json_object_set_new(obj, name, value ? json_string(value)
                                                : json_null());
}


/*
 * POOL=N, POOL/CHANNEL=N (a pool's requests in flight on a channel it has
 * a capacity of its own on; only the request's channel bears on the
 * decision), intent=I@CONFIDENCE and affinity=POOL, separated by commas
 */
static int
omnictl_dispatch_state(const omni_dispatch_t *d, char *state,
    uint32_t *in_flight, uint32_t *channel_in_flight, omni_dispatch_req_t *q)
{
    int    pool;
    char  *item, *save, *value, *end, *at, *channel;
    long   n;

    for (item = strtok_r(state, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save))
    {
        value = strchr(item, '=');

        if (value == NULL) {
            return omnictl_usage_error("\"%s\" in STATE is not NAME=VALUE",
                                       item);
        }

        *value++ = '\0';

        if (strcmp(item, "intent") == 0) {
            at = strchr(value, '@');

            if (at != NULL) {
                *at++ = '\0';
                errno = 0;
                q->confidence = strtod(at, &end);

                if (errno || *end != '\0' || q->confidence < 0
                    || q->confidence > 1)
                {
                    return omnictl_usage_error("the confidence \"%s\" is "
                                               "not a number from 0 to 1",
                                               at);
                }
            }

            q->intent = value;
            continue;
        }

        pool = omni_dispatch_pool(d, value, strlen(value));

        if (strcmp(item, "affinity") == 0) {
            if (pool < 0) {
                return omnictl_usage_error("affinity: no pool \"%s\"",
                                           value);
            }

            q->affinity = pool;
            continue;
        }

        channel = strchr(item, '/');

        pool = omni_dispatch_pool(d, item, channel ? (size_t) (channel - item)
                                                   : strlen(item));

        if (pool < 0) {
            return omnictl_usage_error("no pool \"%.*s\" in the workflow",
                                       (int) (channel ? channel - item
                                                      : (int) strlen(item)),
                                       item);
        }

        if (channel != NULL
            && omni_dispatch_pool_channel(&d->pools[pool], channel + 1) < 0)
        {
            return omnictl_usage_error("%s: pool \"%s\" has no capacity of "
                                       "its own on channel \"%s\"", item,
                                       d->pools[pool].name, channel + 1);
        }

        errno = 0;
        n = strtol(value, &end, 10);

        if (errno || *end != '\0' || end == value || n < 0
            || n > OMNI_DISPATCH_CAPACITY_MAX)
        {
            return omnictl_usage_error("%s=%s: in flight must be a number "
                                       "from 0 to %d", item, value,
                                       OMNI_DISPATCH_CAPACITY_MAX);
        }

        if (channel == NULL) {
            in_flight[pool] = (uint32_t) n;

        } else if (strcmp(channel + 1, q->channel) == 0) {
            channel_in_flight[pool] = (uint32_t) n;
        }
    }

    return 0;
}


int
omnictl_cmd_dispatch_load(omnictl_ctx_t *ctx)
{
    return omnictl_revisions_load(ctx, "workflow");
}


int
omnictl_cmd_dispatch_show(omnictl_ctx_t *ctx)
{
    return omnictl_revisions_show(ctx, "workflow");
}


int
omnictl_cmd_dispatch_revisions(omnictl_ctx_t *ctx)
{
    return omnictl_revisions_list(ctx, "workflow");
}


int
omnictl_cmd_dispatch_rollback(omnictl_ctx_t *ctx)
{
    return omnictl_revisions_rollback(ctx, "workflow");
}


int
omnictl_cmd_dispatch_diff(omnictl_ctx_t *ctx)
{
    return omnictl_revisions_diff(ctx, "workflow");
}


/*
 * dispatch capacity: GET /capacity; dispatch capacity POOL N|workflow
 * [--channel C]: POST /capacity, N a number or the workflow's again.
 */
int
omnictl_cmd_dispatch_capacity(omnictl_ctx_t *ctx)
{
    json_t         *body;
    omnictl_str_t   path = { NULL, 0, 0, 0 };

    omnictl_path(&path, "capacity", NULL);

    if (ctx->argc == 0) {
        if (ctx->channel != NULL) {
            return omnictl_usage_error("dispatch capacity --channel needs "
                                       "POOL and a capacity");
        }

        return omnictl_call(ctx, "GET", &path, NULL, NULL);
    }

    if (ctx->argc != 2) {
        return omnictl_usage_error("dispatch capacity needs POOL and a "
                                   "capacity, or nothing");
    }

    if (strcmp(ctx->argv[1], "workflow") == 0) {
        body = json_pack("{s:s, s:s}", "pool", ctx->argv[0], "capacity",
                         "workflow");

    } else if (omnictl_number("capacity", ctx->argv[1]) != 0) {
        return OMNICTL_EXIT_USAGE;

    } else {
        body = json_pack("{s:s, s:I}", "pool", ctx->argv[0], "capacity",
                         (json_int_t) strtoll(ctx->argv[1], NULL, 10));
    }

    if (body == NULL
        || (ctx->channel != NULL
            && json_object_set_new(body, "channel",
                                   json_string(ctx->channel)) != 0))
    {
        json_decref(body);
        fprintf(stderr, "omnictl: out of memory\n");
        return OMNICTL_EXIT_FAIL;
    }

    return omnictl_call(ctx, "POST", &path, NULL, body);
}
