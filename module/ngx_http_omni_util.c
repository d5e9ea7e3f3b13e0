/*
 * Copyright (C) The omni gateway authors
 *
 * What more than one glue file uses: ids (the request's, and new ones for
 * customers and sessions), the request body as one string, the plain-C
 * results allocated from the request's pool, a plugin's native answer
 * sent, and the {"error","message"} body of the gateway's own refusals.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_omni_module.h"


#define NGX_HTTP_OMNI_RANDOM_POOL  4096    /* bytes drawn at once */


static void *ngx_http_omni_palloc(void *pool, size_t size);


/*
 * Random bytes for ids, drawn from OpenSSL 4k at a time (each draw checks
 * for a fork with a getpid() system call).  Emptied at worker start, so
 * no two processes ever share what the master may have drawn.
 */
static u_char   ngx_http_omni_random[NGX_HTTP_OMNI_RANDOM_POOL];
static size_t   ngx_http_omni_random_used = NGX_HTTP_OMNI_RANDOM_POOL;


void
ngx_http_omni_random_reset(void)
{
    ngx_explicit_memzero(ngx_http_omni_random, NGX_HTTP_OMNI_RANDOM_POOL);
    ngx_http_omni_random_used = NGX_HTTP_OMNI_RANDOM_POOL;
}


/*
 * 128 random bits in hex, NUL-terminated: ids nobody can guess or count,
 * for customers, sessions and requests.
 */
ngx_int_t
ngx_http_omni_new_id(char *id)
{
    u_char  *raw;

    if (ngx_http_omni_random_used + NGX_HTTP_OMNI_ID_BYTES
        > NGX_HTTP_OMNI_RANDOM_POOL)
    {
        if (RAND_bytes(ngx_http_omni_random, NGX_HTTP_OMNI_RANDOM_POOL)
            != 1)
        {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "omni: RAND_bytes() failed");
            return NGX_ERROR;
        }

        ngx_http_omni_random_used = 0;
    }

    raw = ngx_http_omni_random + ngx_http_omni_random_used;
    ngx_http_omni_random_used += NGX_HTTP_OMNI_ID_BYTES;

    *ngx_hex_dump((u_char *) id, raw, NGX_HTTP_OMNI_ID_BYTES) = '\0';

    /* an id handed out is not kept */
    ngx_explicit_memzero(raw, NGX_HTTP_OMNI_ID_BYTES);

    return NGX_OK;
}


/*
 * NGINX's $request_id: 16 random bytes in hex, as its own code makes it,
 * but from the worker's pool of random bytes, not a RAND_bytes() call per
 * request, unless something computed it already.
 */

omni_str_t *
ngx_http_omni_request_id(ngx_http_request_t *r, ngx_http_omni_ctx_t *ctx)
{
    u_char                     *id;
    ngx_http_variable_value_t  *vv;
    ngx_http_omni_main_conf_t  *omcf;

    if (ctx->request_id.data == NULL) {
        omcf = ngx_http_get_module_main_conf(r, ngx_http_omni_module);

        vv = &r->variables[omcf->request_id_index];

        if (!vv->valid && !vv->not_found) {
            id = ngx_pnalloc(r->pool, NGX_HTTP_OMNI_ID_LEN + 1);

            if (id && ngx_http_omni_new_id((char *) id) == NGX_OK) {
                vv->data = id;
                vv->len = NGX_HTTP_OMNI_ID_LEN;
                vv->valid = 1;
                vv->no_cacheable = 0;
                vv->not_found = 0;
            }
        }

        vv = ngx_http_get_indexed_variable(r, omcf->request_id_index);

        if (vv && !vv->not_found) {
            ctx->request_id.data = (const char *) vv->data;
            ctx->request_id.len = vv->len;

        } else {
            ctx->request_id.data = "-";
            ctx->request_id.len = 1;
        }
    }

    return &ctx->request_id;
}


/*
 * The request body as one memory string, for plugins and the admin API.
 * NGX_DECLINED when (part of) it went to a temporary file.
 */

ngx_int_t
ngx_http_omni_request_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            return NGX_DECLINED;
        }

        len += cl->buf->last - cl->buf->pos;
    }

    if (len == 0) {
        return NGX_OK;
    }

    if (r->request_body->bufs->next == NULL) {
        body->data = r->request_body->bufs->buf->pos;
        body->len = len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {

        /* the last buffer of a chunked body is empty, its pos NULL */
        if (cl->buf->last != cl->buf->pos) {
            p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
        }
    }

    return NGX_OK;
}


/* A plugin call's result, whose strings live in the request's pool. */

void
ngx_http_omni_result_init(ngx_http_request_t *r, omni_lua_result_t *res)
{
    ngx_memzero(res, sizeof(omni_lua_result_t));

    res->alloc = ngx_http_omni_palloc;
    res->alloc_data = r->pool;
}


static void *
ngx_http_omni_palloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


/*
 * Sends a plugin's native answer: status, headers and body.  Header names
 * and values were checked by the host; CR, LF and NUL are refused here
 * once more because they would split the response.
 */

ngx_int_t
ngx_http_omni_send_answer(ngx_http_request_t *r, omni_lua_result_t *res)
{
    size_t        i, j;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (res->status < 100 || res->status > 599) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < res->nheaders; i++) {
        for (j = 0; j < res->headers[i].value.len; j++) {
            if ((u_char) res->headers[i].value.data[j] < 0x20
                && res->headers[i].value.data[j] != '\t')
            {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "omni: a plugin header has control "
                              "characters");
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        if (ngx_http_omni_answer_header(r, &res->headers[i]) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    r->headers_out.status = res->status;
    r->headers_out.content_length_n = res->body.len;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "omni: plugin answer sent, status %ui, %uz bytes",
                   (ngx_uint_t) res->status, res->body.len);

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return NGX_DONE;
    }

    b->pos = (u_char *) res->body.data;
    b->last = b->pos + res->body.len;
    b->memory = res->body.len ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}


/* One header of a plugin's answer: its Content-Type, or one more. */

ngx_int_t
ngx_http_omni_answer_header(ngx_http_request_t *r, omni_pair_t *header)
{
    ngx_table_elt_t  *h;

    if (header->name.len == sizeof("Content-Type") - 1
        && ngx_strncasecmp((u_char *) header->name.data,
                           (u_char *) "Content-Type",
                           sizeof("Content-Type") - 1) == 0)
    {
        r->headers_out.content_type.data = (u_char *) header->value.data;
        r->headers_out.content_type.len = header->value.len;
        r->headers_out.content_type_len = header->value.len;
        r->headers_out.content_type_lowcase = NULL;
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) header->name.data;
    h->key.len = header->name.len;
    h->value.data = (u_char *) header->value.data;
    h->value.len = header->value.len;

    return NGX_OK;
}


/*
 * {"error":CODE,"message":MESSAGE}, the shape of the gateway's own
 * refusals and of the admin core's; both strings escaped for JSON, as a
 * message may come from a plugin.  The pipeline's end with a newline
 * (newline: 1), the admin API's do not.
 */

ngx_int_t
ngx_http_omni_error_body(ngx_pool_t *pool, const char *code,
    const char *message, ngx_uint_t newline, ngx_str_t *body)
{
    u_char  *p;
    size_t   len, code_len, message_len;

    code_len = ngx_strlen(code);
    message_len = ngx_strlen(message);

    len = sizeof("{\"error\":\"\",\"message\":\"\"}\n") - 1
          + code_len + message_len
          + ngx_escape_json(NULL, (u_char *) code, code_len)
          + ngx_escape_json(NULL, (u_char *) message, message_len);

    body->data = ngx_pnalloc(pool, len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(body->data, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, (u_char *) code, code_len);
    p = ngx_cpymem(p, "\",\"message\":\"", sizeof("\",\"message\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, (u_char *) message, message_len);
    p = ngx_cpymem(p, "\"}", sizeof("\"}") - 1);

    if (newline) {
        *p++ = '\n';
    }

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * Who a revision seeded from a configuration file is by: "file:PATH", or
 * "file" when the path does not fit the store's authors (no spaces, 255
 * bytes at most).
 */
void
ngx_http_omni_seed_author(ngx_str_t *file, char *buf, size_t size)
{
    ngx_snprintf((u_char *) buf, size, "file:%V%Z", file);

    if (ngx_strlen(buf) > OMNI_STORE_VALUE_MAX
        || ngx_strlchr(file->data, file->data + file->len, ' '))
    {
        ngx_cpystrn((u_char *) buf, (u_char *) "file", sizeof("file"));
    }
}


/*
 * A configuration file read whole (the policy, the workflow): its full
 * name in *name, its bytes in cf's temporary pool, at most max; what
 * names the file in the messages of nginx -t.
 */

ngx_int_t
ngx_http_omni_read_conf_file(ngx_conf_t *cf, ngx_str_t *name, size_t max,
    const char *what, ngx_str_t *text)
{
    size_t           size;
    u_char          *buf;
    ssize_t          n;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = *name;
    file.log = cf->log;

    file.fd = ngx_open_file(file.name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &file.name);
        return NGX_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > (off_t) max)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" is unreadable or larger than "
                           "%uz bytes", what, &file.name, max);
        ngx_close_file(file.fd);
        return NGX_ERROR;
    }

    size = (size_t) ngx_file_size(&fi);

    buf = ngx_pnalloc(cf->temp_pool, size + 1);
    if (buf == NULL) {
        ngx_close_file(file.fd);
        return NGX_ERROR;
    }

    n = ngx_read_file(&file, buf, size, 0);
    ngx_close_file(file.fd);

    if (n != (ssize_t) size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read %s file \"%V\"", what, &file.name);
        return NGX_ERROR;
    }

    text->data = buf;
    text->len = size;

    return NGX_OK;
}


/*
 * Hides every response header called name (a service's header to the
 * gateway: X-Omni-Context, X-Omni-Case) so that none reaches the client;
 * returns how many there were, *value the last one's value.
 */
ngx_uint_t
ngx_http_omni_take_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t **value)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    *value = NULL;
    n = 0;
    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0
            || h[i].key.len != name->len
            || ngx_strncasecmp(h[i].key.data, name->data, h[i].key.len) != 0)
        {
            continue;
        }

        h[i].hash = 0;
        *value = &h[i].value;
        n++;
    }

    return n;
}
