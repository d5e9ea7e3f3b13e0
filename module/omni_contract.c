/*
 * Copyright (C) The omni gateway authors
 *
 * The request contract (omni_contract.h): the checks of a plugin's fields
 * and of the gateway's own, and the one writer of the contract's JSON.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "omni_contract.h"


#define omni_lower(c)   ((c) >= 'a' && (c) <= 'z')
#define omni_upper(c)   ((c) >= 'A' && (c) <= 'Z')
#define omni_digit(c)   ((c) >= '0' && (c) <= '9')
#define omni_alpha(c)   (omni_lower(c) || omni_upper(c))

/* s is a string literal: "" s "" does not compile for anything else */
#define omni_literal(out, s)   omni_buf_add(out, "" s "", sizeof(s) - 1)

/* in the writers: out, err and rc are in scope */
#define omni_try(call)                                                        \
    if ((rc = (call)) != OMNI_CONTRACT_OK) {                                  \
        return rc;                                                            \
    }

#define omni_add(s)                                                           \
    if (omni_literal(out, s) != 0) {                                          \
        return OMNI_CONTRACT_NO_MEMORY;                                       \
    }


static omni_contract_rc_t omni_contract_string(omni_buf_t *out,
    const char *path, omni_str_t s, char *err);
static omni_contract_rc_t omni_contract_item(omni_buf_t *out,
    const char *list, size_t index, const char *member, omni_str_t s,
    char *err);
static omni_contract_rc_t omni_contract_text_rc(int rc, const char *path,
    char *err);
static omni_contract_rc_t omni_contract_string_or_null(omni_buf_t *out,
    const char *path, omni_str_t s, char *err);
static omni_contract_rc_t omni_contract_time(omni_buf_t *out, int64_t ms);
static omni_contract_rc_t omni_contract_user_agent(omni_buf_t *out,
    omni_str_t ua, char *err);
static omni_contract_rc_t omni_contract_customer(const omni_contract_t *c,
    omni_buf_t *out, char *err);
static omni_contract_rc_t omni_contract_principal(const omni_contract_t *c,
    omni_buf_t *out, char *err);
static omni_contract_rc_t omni_contract_session(
    const omni_contract_session_t *s, omni_buf_t *out, char *err);
static omni_contract_rc_t omni_contract_dispatch(
    const omni_contract_dispatch_t *d, omni_buf_t *out, char *err);
static omni_contract_rc_t omni_contract_intent(const omni_contract_t *c,
    omni_buf_t *out, char *err);
static omni_contract_rc_t omni_contract_check_dispatch(
    const omni_contract_dispatch_t *d, char *err);
static int omni_contract_thousandths(double v, char *buf);
static int omni_contract_is_pool(const char *s, size_t len);
static int omni_contract_word(const char *s, size_t len, size_t max);
static size_t omni_contract_utf8_cut(const char *s, size_t len, size_t max);
static size_t omni_contract_utf8_seq(const u_char *p, size_t left);


int
omni_contract_is_name(const char *s, size_t len)
{
    return omni_contract_word(s, len, OMNI_CONTRACT_NAME_MAX);
}


int
omni_contract_is_action(const char *s, size_t len)
{
    size_t  i, words;
    int     start;

    if (len == 0 || len > OMNI_CONTRACT_ACTION_MAX) {
        return 0;
    }

    words = 0;
    start = 1;

    for (i = 0; i < len; i++) {
        if (start) {
            if (!omni_lower(s[i])) {
                return 0;
            }

            start = 0;
            words++;
            continue;
        }

        if (s[i] == '.') {
            start = 1;
            continue;
        }

        if (!(omni_lower(s[i]) || omni_digit(s[i]) || s[i] == '_')) {
            return 0;
        }
    }

    return !start && words >= 2;
}


int
omni_contract_is_code(const char *s, size_t len)
{
    return omni_contract_word(s, len, OMNI_CONTRACT_CODE_MAX);
}


int
omni_contract_is_locale(const char *s, size_t len)
{
    size_t  i, run;

    if (len > OMNI_CONTRACT_LOCALE_MAX) {
        return 0;
    }

    for (i = 0; i < len && omni_alpha(s[i]); i++) {
        /* the language */
    }

    if (i < 2 || i > 8) {
        return 0;
    }

    while (i < len) {
        if (s[i] != '-') {
            return 0;
        }

        for (run = 0, i++;
             i < len && (omni_alpha(s[i]) || omni_digit(s[i]));
             i++, run++)
        {
            /* a subtag */
        }

        if (run == 0 || run > 8) {
            return 0;
        }
    }

    return 1;
}


int
omni_contract_is_id(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > OMNI_CONTRACT_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!(omni_alpha(s[i]) || omni_digit(s[i]) || s[i] == '_'
              || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


int
omni_contract_is_intent(const char *s, size_t len)
{
    return omni_contract_is_action(s, len) || omni_contract_is_name(s, len);
}


int
omni_contract_is_role(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > OMNI_CONTRACT_ROLE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((u_char) s[i] <= ' ' || s[i] == ',' || s[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


omni_contract_rc_t
omni_contract_add_identity(omni_contract_t *c, omni_str_t type,
    omni_str_t value, char *err)
{
    size_t        i;
    omni_pair_t  *id;

    for (i = 0; i < c->nidentities; i++) {
        id = &c->identities[i];

        if (id->name.len == type.len && id->value.len == value.len
            && memcmp(id->name.data, type.data, type.len) == 0
            && memcmp(id->value.data, value.data, value.len) == 0)
        {
            return OMNI_CONTRACT_OK;
        }
    }

    if (c->nidentities == OMNI_CONTRACT_IDENTITIES) {
        return omni_contract_invalid(err, "too many identities (more than %d)",
                                  OMNI_CONTRACT_IDENTITIES);
    }

    c->identities[c->nidentities].name = type;
    c->identities[c->nidentities].value = value;
    c->nidentities++;

    return OMNI_CONTRACT_OK;
}


omni_contract_rc_t
omni_contract_check_gateway(const omni_contract_t *c, char *err)
{
    char                            show[OMNI_CONTRACT_SHOW_LEN];
    size_t                          i, j;
    const omni_str_t               *ch;
    const omni_contract_session_t  *s;

    if (c->customer_id.data
        && !omni_contract_is_id(c->customer_id.data, c->customer_id.len))
    {
        return omni_contract_invalid(err, "customer.id must be null or match "
                                  "^[A-Za-z0-9_-]{1,64}$ (got %s)",
                                  omni_contract_show(show, c->customer_id.data,
                                                     c->customer_id.len));
    }

    if (c->cases) {
        if (c->customer_id.data == NULL) {
            return omni_contract_invalid(err, "customer.cases must be null "
                                         "when customer.id is null");
        }

        if (c->ncases > OMNI_CONTRACT_CASES) {
            return omni_contract_invalid(err, "customer.cases holds at most "
                                         "%d cases (got %zu)",
                                         OMNI_CONTRACT_CASES, c->ncases);
        }

        for (i = 0; i < c->ncases; i++) {
            if (!omni_contract_is_id(c->cases[i].id.data, c->cases[i].id.len)
                || !omni_contract_is_name(c->cases[i].status.data,
                                          c->cases[i].status.len)
                || !omni_contract_is_id(c->cases[i].category.data,
                                        c->cases[i].category.len)
                || c->cases[i].due < 0
                || c->cases[i].due >= OMNI_CONTRACT_MS_MAX)
            {
                return omni_contract_invalid(err, "customer.cases[%zu] is not "
                                             "a case the store holds",
                                             i + 1);
            }
        }
    }

    s = c->session;

    if (s) {
        if (!omni_contract_is_id(s->id.data, s->id.len)) {
            return omni_contract_invalid(err, "session.id must match "
                                      "^[A-Za-z0-9_-]{1,64}$ (got %s)",
                                      omni_contract_show(show, s->id.data,
                                                         s->id.len));
        }

        if (s->nchannels > OMNI_CONTRACT_CHANNELS) {
            return omni_contract_invalid(err, "session.channels has more than "
                                      "%d entries", OMNI_CONTRACT_CHANNELS);
        }

        if (s->nchannels == 0) {
            return omni_contract_invalid(err,
                                      "session.channels must not be empty");
        }

        for (i = 0; i < s->nchannels; i++) {
            ch = &s->channels[i];

            if (!omni_contract_is_name(ch->data, ch->len)) {
                return omni_contract_invalid(err, "session.channels[%zu] must "
                                          "match ^[a-z][a-z0-9_]{0,31}$ "
                                          "(got %s)", i + 1,
                                          omni_contract_show(show, ch->data,
                                                             ch->len));
            }

            for (j = 0; j < i; j++) {
                if (s->channels[j].len == ch->len
                    && memcmp(s->channels[j].data, ch->data, ch->len) == 0)
                {
                    return omni_contract_invalid(err, "session.channels[%zu] "
                                              "repeats %s", i + 1,
                                              omni_contract_show(show,
                                                                 ch->data,
                                                                 ch->len));
                }
            }
        }

        /* the writer's timestamps hold four-digit years only */
        if (s->created_at < 0 || s->created_at >= OMNI_CONTRACT_MS_MAX) {
            return omni_contract_invalid(err, "session.created_at must be "
                                         "milliseconds since the epoch, "
                                         "before the year 10000 (got %lld)",
                                         (long long) s->created_at);
        }

        if (s->last_seen_at < 0 || s->last_seen_at >= OMNI_CONTRACT_MS_MAX) {
            return omni_contract_invalid(err, "session.last_seen_at must be "
                                         "milliseconds since the epoch, "
                                         "before the year 10000 (got %lld)",
                                         (long long) s->last_seen_at);
        }

        if (s->context.len > OMNI_CONTRACT_CONTEXT_MAX) {
            return omni_contract_invalid(err, "session.context must be at most "
                                      "%d bytes as compact JSON (got %zu)",
                                      OMNI_CONTRACT_CONTEXT_MAX,
                                      s->context.len);
        }

        if (c->customer_id.data == NULL) {
            return omni_contract_invalid(err, "session must be null when "
                                      "customer.id is null");
        }
    }

    if (c->client_ip.len == 0 || c->client_ip.len > OMNI_CONTRACT_IP_MAX) {
        return omni_contract_invalid(err, "client.ip must be a string of 1 to "
                                  "%d bytes", OMNI_CONTRACT_IP_MAX);
    }

    if (c->dispatch) {
        return omni_contract_check_dispatch(c->dispatch, err);
    }

    return OMNI_CONTRACT_OK;
}


/* the workflow's names, as its compiler checked them: checked again */

static omni_contract_rc_t
omni_contract_check_dispatch(const omni_contract_dispatch_t *d, char *err)
{
    char  show[OMNI_CONTRACT_SHOW_LEN];

    if (!omni_contract_is_pool(d->pool.data, d->pool.len)) {
        return omni_contract_invalid(err, "dispatch.pool must match "
                                     "^[A-Za-z0-9_.-]{1,64}$ (got %s)",
                                     omni_contract_show(show, d->pool.data,
                                                        d->pool.len));
    }

    if (!omni_contract_is_pool(d->rule.data, d->rule.len)) {
        return omni_contract_invalid(err, "dispatch.rule must match "
                                     "^[A-Za-z0-9_.-]{1,64}$ (got %s)",
                                     omni_contract_show(show, d->rule.data,
                                                        d->rule.len));
    }

    if (d->step < 0 || d->step >= OMNI_CONTRACT_STEPS) {
        return omni_contract_invalid(err, "dispatch.step must be 0 to %d "
                                     "(got %d)", OMNI_CONTRACT_STEPS - 1,
                                     d->step);
    }

    if (!omni_contract_is_name(d->reason.data, d->reason.len)) {
        return omni_contract_invalid(err, "dispatch.reason must match "
                                     "^[a-z][a-z0-9_]{0,31}$ (got %s)",
                                     omni_contract_show(show, d->reason.data,
                                                        d->reason.len));
    }

    return OMNI_CONTRACT_OK;
}


/* in the order of sorted keys, as omni.json's encoder writes them */

omni_contract_rc_t
omni_contract_write(const omni_contract_t *c, omni_buf_t *out, char *err)
{
    omni_contract_rc_t  rc;

    omni_add("{\"action\":");
    omni_try(omni_contract_string(out, "action", c->action, err));

    omni_add(",\"channel\":{\"app_id\":");
    omni_try(omni_contract_string_or_null(out, "channel.app_id", c->app_id,
                                          err));
    omni_add(",\"client_version\":");
    omni_try(omni_contract_string_or_null(out, "channel.client_version",
                                          c->client_version, err));
    omni_add(",\"name\":");
    omni_try(omni_contract_string(out, "channel.name", c->channel, err));

    omni_add("},\"client\":{\"device_id\":");
    omni_try(omni_contract_string_or_null(out, "client.device_id",
                                          c->device_id, err));
    omni_add(",\"ip\":");
    omni_try(omni_contract_string(out, "client.ip", c->client_ip, err));
    omni_add(",\"user_agent\":");
    omni_try(omni_contract_user_agent(out, c->user_agent, err));

    omni_add("},\"customer\":");
    omni_try(omni_contract_customer(c, out, err));

    omni_add(",\"dispatch\":");

    if (c->dispatch) {
        omni_try(omni_contract_dispatch(c->dispatch, out, err));

    } else {
        omni_add("null");
    }

    omni_add(",\"intent\":");
    omni_try(omni_contract_intent(c, out, err));

    omni_add(",\"locale\":");
    omni_try(omni_contract_string_or_null(out, "locale", c->locale, err));

    omni_add(",\"params\":");

    if (c->params) {
        omni_try(c->params(c->params_data, "params", out, err));

    } else {
        omni_add("{}");
    }

    omni_add(",\"principal\":");
    omni_try(omni_contract_principal(c, out, err));

    omni_add(",\"received_at\":");
    omni_try(omni_contract_time(out, c->received_at));
    omni_add(",\"request_id\":");
    omni_try(omni_contract_string(out, "request_id", c->request_id, err));
    omni_add(",\"route\":null,\"session\":");

    if (c->session) {
        omni_try(omni_contract_session(c->session, out, err));

    } else {
        omni_add("null");
    }

    omni_add(",\"version\":\"" OMNI_CONTRACT_VERSION "\"}");

    return OMNI_CONTRACT_OK;
}


static omni_contract_rc_t
omni_contract_customer(const omni_contract_t *c, omni_buf_t *out, char *err)
{
    size_t              i;
    omni_contract_rc_t  rc;

    if (c->principal || c->customer_id.data) {
        omni_add("{\"anonymous\":false,\"cases\":");

    } else {
        omni_add("{\"anonymous\":true,\"cases\":");
    }

    if (c->cases == NULL) {
        omni_add("null");

    } else {
        omni_add("[");

        for (i = 0; i < c->ncases; i++) {
            if (i) {
                omni_add(",");
            }

            omni_add("{\"category\":");
            omni_try(omni_contract_item(out, "customer.cases", i + 1,
                                        "category", c->cases[i].category,
                                        err));
            omni_add(",\"due\":");

            if (c->cases[i].due > 0) {
                omni_try(omni_contract_time(out, c->cases[i].due));

            } else {
                omni_add("null");
            }

            omni_add(",\"id\":");
            omni_try(omni_contract_item(out, "customer.cases", i + 1, "id",
                                        c->cases[i].id, err));
            omni_add(",\"status\":");
            omni_try(omni_contract_item(out, "customer.cases", i + 1,
                                        "status", c->cases[i].status, err));
            omni_add("}");
        }

        omni_add("]");
    }

    omni_add(",\"id\":");

    omni_try(omni_contract_string_or_null(out, "customer.id", c->customer_id,
                                          err));

    omni_add(",\"identities\":[");

    for (i = 0; i < c->nidentities; i++) {
        if (i) {
            omni_add(",");
        }

        omni_add("{\"type\":");

        omni_try(omni_contract_item(out, "customer.identities", i + 1, "type",
                                    c->identities[i].name, err));

        omni_add(",\"value\":");

        omni_try(omni_contract_item(out, "customer.identities", i + 1,
                                    "value", c->identities[i].value, err));

        omni_add("}");
    }

    omni_add("],\"tier\":");
    omni_try(omni_contract_string_or_null(out, "customer.tier", c->tier,
                                          err));
    omni_add("}");

    return OMNI_CONTRACT_OK;
}


/* roles as the JWT module guarantees them, the first 64 at most */

static omni_contract_rc_t
omni_contract_principal(const omni_contract_t *c, omni_buf_t *out, char *err)
{
    size_t              i, n;
    omni_contract_rc_t  rc;

    if (!c->principal) {
        omni_add("null");
        return OMNI_CONTRACT_OK;
    }

    omni_add("{\"issuer\":");
    omni_try(omni_contract_string_or_null(out, "principal.issuer", c->issuer,
                                          err));
    omni_add(",\"roles\":[");

    n = 0;

    for (i = 0; i < c->nroles && i < OMNI_CONTRACT_ROLES; i++) {
        if (!omni_contract_is_role(c->roles[i].data, c->roles[i].len)) {
            continue;
        }

        if (n++) {
            omni_add(",");
        }

        omni_try(omni_contract_item(out, "principal.roles", n, NULL,
                                    c->roles[i], err));
    }

    omni_add("],\"subject\":");
    omni_try(omni_contract_string_or_null(out, "principal.subject",
                                          c->subject, err));
    omni_add("}");

    return OMNI_CONTRACT_OK;
}


static omni_contract_rc_t
omni_contract_dispatch(const omni_contract_dispatch_t *d, omni_buf_t *out,
    char *err)
{
    u_char              *p;
    omni_contract_rc_t   rc;

    omni_add("{\"pool\":");
    omni_try(omni_contract_string(out, "dispatch.pool", d->pool, err));
    omni_add(",\"reason\":");
    omni_try(omni_contract_string(out, "dispatch.reason", d->reason, err));
    omni_add(",\"rule\":");
    omni_try(omni_contract_string(out, "dispatch.rule", d->rule, err));
    omni_add(",\"step\":");

    /* checked: one digit */
    p = omni_buf_reserve(out, 1);
    if (p == NULL) {
        return OMNI_CONTRACT_NO_MEMORY;
    }

    p[0] = (u_char) ('0' + d->step);
    out->len++;

    omni_add("}");

    return OMNI_CONTRACT_OK;
}


/*
 * The intent as the plugin reported it, its confidence null when it gave
 * none (the dispatch counts that as 1).  A confidence is written as
 * omni.json writes a number: an integer bare, else the fewest of 14, 16
 * or 17 significant digits that read back as the same double (the usual
 * few decimals without snprintf and strtod).
 */

static omni_contract_rc_t
omni_contract_intent(const omni_contract_t *c, omni_buf_t *out, char *err)
{
    int                  n, precision;
    char                 num[32];
    omni_contract_rc_t   rc;

    if (c->intent.data == NULL) {
        omni_add("null");
        return OMNI_CONTRACT_OK;
    }

    omni_add("{\"confidence\":");

    if (c->confidence < 0) {
        omni_add("null");

    } else if (!(c->confidence <= 1)) {
        return omni_contract_invalid(err, "intent.confidence must be a "
                                     "number from 0 to 1");

    } else if (c->confidence == 0 || c->confidence == 1) {
        if (omni_buf_add(out, c->confidence == 0 ? "0" : "1", 1) != 0) {
            return OMNI_CONTRACT_NO_MEMORY;
        }

    } else if ((n = omni_contract_thousandths(c->confidence, num)) != 0) {
        if (omni_buf_add(out, num, (size_t) n) != 0) {
            return OMNI_CONTRACT_NO_MEMORY;
        }

    } else {
        for (precision = 14; precision <= 17; precision++) {
            if (precision == 15) {
                continue;
            }

            n = snprintf(num, sizeof(num), "%.*g", precision, c->confidence);

            if (strtod(num, NULL) == c->confidence) {
                break;
            }
        }

        if (omni_buf_add(out, num, (size_t) n) != 0) {
            return OMNI_CONTRACT_NO_MEMORY;
        }
    }

    omni_add(",\"name\":");
    omni_try(omni_contract_string(out, "intent.name", c->intent, err));
    omni_add("}");

    return OMNI_CONTRACT_OK;
}


/*
 * A context the store kept is an object it wrote itself; one that does not
 * parse as an object is carried as {} rather than fail the request.
 */

static omni_contract_rc_t
omni_contract_session(const omni_contract_session_t *s, omni_buf_t *out,
    char *err)
{
    size_t              i;
    json_t             *context;
    omni_contract_rc_t  rc;

    omni_add("{\"channels\":[");

    for (i = 0; i < s->nchannels; i++) {
        if (i) {
            omni_add(",");
        }

        omni_try(omni_contract_item(out, "session.channels", i + 1, NULL,
                                    s->channels[i], err));
    }

    omni_add("],\"context\":");

    context = NULL;

    if (s->context.len) {
        context = json_loadb(s->context.data, s->context.len,
                             JSON_REJECT_DUPLICATES, NULL);
    }

    if (json_is_object(context)) {
        if (omni_buf_add(out, s->context.data, s->context.len) != 0) {
            json_decref(context);
            return OMNI_CONTRACT_NO_MEMORY;
        }

    } else if (omni_literal(out, "{}") != 0) {
        json_decref(context);
        return OMNI_CONTRACT_NO_MEMORY;
    }

    json_decref(context);

    omni_add(",\"created_at\":");
    omni_try(omni_contract_time(out, s->created_at));
    omni_add(",\"id\":");
    omni_try(omni_contract_string(out, "session.id", s->id, err));
    omni_add(",\"last_seen_at\":");
    omni_try(omni_contract_time(out, s->last_seen_at));
    if (s->new) {
        omni_add(",\"new\":true}");

    } else {
        omni_add(",\"new\":false}");
    }

    return OMNI_CONTRACT_OK;
}


/*
 * The client's user agent, repaired (each byte outside a well-formed
 * UTF-8 sequence, and NUL, becomes U+FFFD) and cut to 512 bytes on a
 * character boundary: never refused.
 */

static omni_contract_rc_t
omni_contract_user_agent(omni_buf_t *out, omni_str_t ua, char *err)
{
    u_char         buf[OMNI_CONTRACT_USER_AGENT_MAX];
    size_t         i, n, seq;
    const u_char  *p;

    if (ua.data == NULL) {
        return omni_literal(out, "null") ? OMNI_CONTRACT_NO_MEMORY
                                         : OMNI_CONTRACT_OK;
    }

    p = (const u_char *) ua.data;
    n = 0;

    for (i = 0; i < ua.len; i += seq) {
        seq = omni_contract_utf8_seq(p + i, ua.len - i);

        if (seq) {
            if (n + seq > sizeof(buf)) {
                break;
            }

            memcpy(buf + n, p + i, seq);
            n += seq;
            continue;
        }

        if (n + 3 > sizeof(buf)) {
            break;
        }

        memcpy(buf + n, "\xEF\xBF\xBD", 3);
        n += 3;
        seq = 1;
    }

    return omni_contract_string(out, "client.user_agent",
                                (omni_str_t) { (const char *) buf, n }, err);
}


static omni_contract_rc_t
omni_contract_string(omni_buf_t *out, const char *path, omni_str_t s,
    char *err)
{
    return omni_contract_text_rc(omni_json_add_string(out,
                                     (const u_char *) s.data, s.len),
                                 path, err);
}


/*
 * A string of a list, at index (from 1), or its member: the path is
 * written for the message only, as nearly every item passes.
 */
static omni_contract_rc_t
omni_contract_item(omni_buf_t *out, const char *list, size_t index,
    const char *member, omni_str_t s, char *err)
{
    int   rc;
    char  path[64];

    rc = omni_json_add_string(out, (const u_char *) s.data, s.len);

    if (rc == OMNI_JSON_TEXT_OK) {
        return OMNI_CONTRACT_OK;
    }

    if (member) {
        snprintf(path, sizeof(path), "%s[%zu].%s", list, index, member);

    } else {
        snprintf(path, sizeof(path), "%s[%zu]", list, index);
    }

    return omni_contract_text_rc(rc, path, err);
}


static omni_contract_rc_t
omni_contract_text_rc(int rc, const char *path, char *err)
{
    switch (rc) {

    case OMNI_JSON_TEXT_OK:
        return OMNI_CONTRACT_OK;

    case OMNI_JSON_TEXT_NOT_UTF8:
        return omni_contract_invalid(err, "%s is not valid UTF-8", path);

    case OMNI_JSON_TEXT_NUL:
        return omni_contract_invalid(err, "%s holds a NUL character "
                                     "(U+0000)", path);

    default:
        return OMNI_CONTRACT_NO_MEMORY;
    }
}


static omni_contract_rc_t
omni_contract_string_or_null(omni_buf_t *out, const char *path, omni_str_t s,
    char *err)
{
    if (s.data == NULL) {
        return omni_literal(out, "null") ? OMNI_CONTRACT_NO_MEMORY
                                         : OMNI_CONTRACT_OK;
    }

    return omni_contract_string(out, path, s, err);
}


static omni_contract_rc_t
omni_contract_time(omni_buf_t *out, int64_t ms)
{
    u_char  *p;

    p = omni_buf_reserve(out, 26);
    if (p == NULL) {
        return OMNI_CONTRACT_NO_MEMORY;
    }

    p[0] = '"';
    omni_contract_timestamp(ms, (char *) p + 1);
    p[25] = '"';
    out->len += 26;

    return OMNI_CONTRACT_OK;
}


/* days since 1970-01-01 to a civil date (proleptic Gregorian) */

size_t
omni_contract_timestamp(int64_t ms, char *buf)
{
    int64_t   sec, days, rem, era, doe, yoe, doy, mp, y, m, d;
    unsigned  h, mi, s, milli;

    sec = ms / 1000;
    milli = (unsigned) (ms - sec * 1000);
    days = sec / 86400;
    rem = sec - days * 86400;

    h = (unsigned) (rem / 3600);
    mi = (unsigned) (rem / 60 % 60);
    s = (unsigned) (rem % 60);

    days += 719468;
    era = days / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = yoe + era * 400 + (m <= 2);

    buf[0] = (char) ('0' + y / 1000);
    buf[1] = (char) ('0' + y / 100 % 10);
    buf[2] = (char) ('0' + y / 10 % 10);
    buf[3] = (char) ('0' + y % 10);
    buf[4] = '-';
    buf[5] = (char) ('0' + m / 10);
    buf[6] = (char) ('0' + m % 10);
    buf[7] = '-';
    buf[8] = (char) ('0' + d / 10);
    buf[9] = (char) ('0' + d % 10);
    buf[10] = 'T';
    buf[11] = (char) ('0' + h / 10);
    buf[12] = (char) ('0' + h % 10);
    buf[13] = ':';
    buf[14] = (char) ('0' + mi / 10);
    buf[15] = (char) ('0' + mi % 10);
    buf[16] = ':';
    buf[17] = (char) ('0' + s / 10);
    buf[18] = (char) ('0' + s % 10);
    buf[19] = '.';
    buf[20] = (char) ('0' + milli / 100);
    buf[21] = (char) ('0' + milli / 10 % 10);
    buf[22] = (char) ('0' + milli % 10);
    buf[23] = 'Z';

    return 24;
}


const char *
omni_contract_show(char *buf, const char *s, size_t len)
{
    size_t  n;

    n = omni_contract_utf8_cut(s, len, 40);

    snprintf(buf, OMNI_CONTRACT_SHOW_LEN, "'%.*s%s'", (int) n, s,
             n < len ? "..." : "");

    return buf;
}


omni_contract_rc_t
omni_contract_invalid(char *err, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    omni_verr(err, fmt, args);
    va_end(args);

    return OMNI_CONTRACT_INVALID;
}


/*
 * A confidence of at most 3 decimals (0.9, 0.75, 0.125), as %.14g writes
 * it, without the C library: the double nearest a decimal of 3 digits
 * prints as that decimal.  0 for any other value.  0 < v < 1.
 */

static int
omni_contract_thousandths(double v, char *buf)
{
    int  m, n;

    m = (int) (v * 1000 + 0.5);

    if (m <= 0 || m >= 1000 || (double) m / 1000 != v) {
        return 0;
    }

    buf[0] = '0';
    buf[1] = '.';
    buf[2] = (char) ('0' + m / 100);
    buf[3] = (char) ('0' + m / 10 % 10);
    buf[4] = (char) ('0' + m % 10);

    for (n = 5; buf[n - 1] == '0'; n--) {
        /* trailing zeros, as %g drops them */
    }

    return n;
}


/* ^[A-Za-z0-9_.-]{1,64}$: the workflow's pool names and rule ids */

static int
omni_contract_is_pool(const char *s, size_t len)
{
    size_t  i;

    if (s == NULL || len == 0 || len > OMNI_CONTRACT_POOL_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!(omni_alpha(s[i]) || omni_digit(s[i]) || s[i] == '_'
              || s[i] == '.' || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* ^[a-z][a-z0-9_]*$, at most max bytes */

static int
omni_contract_word(const char *s, size_t len, size_t max)
{
    size_t  i;

    if (len == 0 || len > max || !omni_lower(s[0])) {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if (!(omni_lower(s[i]) || omni_digit(s[i]) || s[i] == '_')) {
            return 0;
        }
    }

    return 1;
}


/*
 * At most max bytes of s, backing off over up to 3 continuation bytes so
 * that a character is not split (as omni.utf8.truncate does).
 */

static size_t
omni_contract_utf8_cut(const char *s, size_t len, size_t max)
{
    int     i;
    size_t  cut;

    if (len <= max) {
        return len;
    }

    cut = max;

    for (i = 0; i < 3 && ((u_char) s[cut] & 0xC0) == 0x80; i++) {
        cut--;
    }

    return cut;
}


/* the length of the well-formed UTF-8 sequence at p, or 0 (and for NUL) */

static size_t
omni_contract_utf8_seq(const u_char *p, size_t left)
{
    size_t  n;

    if (p[0] < 0x80) {
        return p[0] != '\0';
    }

    n = (p[0] >= 0xC2 && p[0] <= 0xDF) ? 2
        : (p[0] >= 0xE0 && p[0] <= 0xEF) ? 3
        : (p[0] >= 0xF0 && p[0] <= 0xF4) ? 4 : 0;

    if (n == 0 || n > left || !omni_json_utf8_valid(p, n)) {
        return 0;
    }

    return n;
}
