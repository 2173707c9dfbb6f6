/* One HTTP/2 stream as an exchange: the request's fields become the head an HTTP/1.1
 * request would give (built from views of the fields for the common request, else
 * written as HTTP/1.1 text and parsed; either way with the strict parser's checks), so
 * routing, slots and every check see the same; the body goes to the target as DATA
 * arrives with its window given back only once the target took the bytes, and the
 * target's response goes back as HEADERS and DATA read from the exchange's output queue.
 */
#include "h2/h2.h"

#include <string.h>

#include "h2/internal.h"
#include "proxy/internal.h"
#include "base/compat.h"

enum { P_METHOD = 0, P_PATH = 1, P_AUTHORITY = 2, P_SCHEME = 3 };

static const bg_str_t pseudo_names[4] = {
    BG_STR_LIT(":method"), BG_STR_LIT(":path"), BG_STR_LIT(":authority"), BG_STR_LIT(":scheme"),
};

/* Streams kept per connection once closed, and the largest buffer a kept one keeps: a
 * connection's streams come and go all the time, and their buffers are the same size
 * from one to the next (no malloc/free per stream). */
#define MAX_SPARE 32
#define SPARE_BUF_MAX (16 * 1024)

#define STREAM_BUFS(X) X(pseudo) X(hdrs) X(cookie) X(head) X(body_in) X(body_out) X(local)

/* A kept stream's buffer: emptied, or freed when a large body made it grow. */
static void spare_buf(bg_buf_t *b)
{
    if (b->cap > SPARE_BUF_MAX)
        bg_buf_fini(b);
    else
        bg_buf_reset(b);
}

bg_h2_stream_t *bg_h2_stream_new(bg_h2_conn_t *h, int32_t id)
{
    bg_h2_stream_t *st = h->spare;

    if (st) {
#define SAVE(b) bg_buf_t kept_##b = st->b;
        STREAM_BUFS(SAVE)
#undef SAVE
        h->spare = st->spare_next;
        h->n_spare--;
        memset(st, 0, offsetof(bg_h2_stream_t, f_off));
#define KEEP(b) st->b = kept_##b;
        STREAM_BUFS(KEEP)
#undef KEEP
    } else {
        st = BG_NEW(bg_h2_stream_t);
#define INIT(b) bg_buf_init(&st->b);
        STREAM_BUFS(INIT)
#undef INIT
    }
    st->id = id;
    st->conn = h;
    bg_list_init(&st->ready_link);
    bg_list_insert_tail(&h->streams, &st->link);
    h->n_streams++;
    return st;
}

/* Gives <n> received bytes back to the stream's and the connection's windows. */
static void give_back(bg_h2_stream_t *st, size_t n)
{
    nghttp2_session *s = st->conn->s;

    if (n == 0 || !s)
        return;
    if (nghttp2_session_consume(s, st->id, n) != 0)
        nghttp2_session_consume_connection(s, n);
}

void bg_h2_detach(bg_exchange_t *ex)
{
    bg_h2_stream_t *st = ex->h2;

    if (!st)
        return;
    ex->h2 = NULL;
    st->ex = NULL;
    bg_list_remove(&st->ready_link);
    st->out_i = 0;
    give_back(st, st->body_in.len + st->sending);
    st->sending = 0;
    bg_buf_reset(&st->body_in);
    bg_buf_reset(&st->body_out);
    /* An exchange that ends without an answer (it cannot, but a stream must never hang). */
    if (!st->responded && !st->ended && st->conn->s)
        nghttp2_submit_rst_stream(st->conn->s, NGHTTP2_FLAG_NONE, st->id,
                                  NGHTTP2_INTERNAL_ERROR);
}

void bg_h2_stream_free(bg_h2_stream_t *st)
{
    bg_h2_conn_t *h = st->conn;

    st->ended = true; /* closing: no RST from bg_h2_detach() */
    if (h->receiving == st)
        h->receiving = NULL;
    if (st->ex)
        bg_exchange_abort(st->ex); /* its release detaches it */
    bg_list_remove(&st->ready_link);
    bg_list_remove(&st->link);
    h->n_streams--;
    if (h->closed || h->n_spare >= MAX_SPARE) {
#define FINI(b) bg_buf_fini(&st->b);
        STREAM_BUFS(FINI)
#undef FINI
        free(st);
    } else {
#define RESET(b) spare_buf(&st->b);
        STREAM_BUFS(RESET)
#undef RESET
        st->spare_next = h->spare;
        h->spare = st;
        h->n_spare++;
    }
    if (!h->closed)
        bg_h2_conn_update_timer(h);
}

void bg_h2_stream_free_spares(bg_h2_conn_t *h)
{
    while (h->spare) {
        bg_h2_stream_t *st = h->spare;
        h->spare = st->spare_next;
#define FINI(b) bg_buf_fini(&st->b);
        STREAM_BUFS(FINI)
#undef FINI
        free(st);
    }
    h->n_spare = 0;
}

/* ---- request head ---- */

/* Which pseudo-header <name> is (P_*), or -1. */
static int pseudo_index(const uint8_t *name, size_t nlen)
{
    int i = nlen == 5 ? P_PATH : nlen == 10 ? P_AUTHORITY
          : nlen == 7 ? (name[1] == 'm' ? P_METHOD : P_SCHEME) : -1;

    return i >= 0 && memcmp(pseudo_names[i].ptr, name, nlen) == 0 ? i : -1;
}

/* <status> as three digits (RFC 9113 §8.3.2) into <out>. */
static void status_digits(char out[4], int status)
{
    unsigned v = (unsigned)((status % 1000 + 1000) % 1000);

    out[0] = (char)('0' + v / 100);
    out[1] = (char)('0' + v / 10 % 10);
    out[2] = (char)('0' + v % 10);
    out[3] = '\0';
}

bool bg_h2_stream_header(bg_h2_stream_t *st, const uint8_t *name, size_t nlen,
                         const uint8_t *value, size_t vlen)
{
    uint32_t limit = st->conn->c->w->cfg->max_header_bytes;
    uint64_t size = (uint64_t)st->hdr_bytes + nlen + vlen + 32; /* RFC 9113 §6.5.2 */
    bg_buf_t *b = &st->hdrs;
    char *p;

    st->hdr_bytes = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
    if (st->hdr_bytes > limit) {
        /* 431 at END_HEADERS; far past the limit the client is not mistaken but hostile */
        st->too_large = true;
        return (uint64_t)st->hdr_bytes <= 4ull * limit;
    }
    if (nlen > 0 && name[0] == ':') {
        int i = pseudo_index(name, nlen);
        if (i >= 0) {
            st->p_off[i] = (uint32_t)st->pseudo.len;
            st->p_len[i] = (uint32_t)vlen;
            st->p_set[i] = true;
            bg_buf_reserve(&st->pseudo, vlen);
            if (vlen)
                memcpy(st->pseudo.data + st->pseudo.len, value, vlen);
            st->pseudo.len += vlen;
            st->pseudo.data[st->pseudo.len] = '\0';
        }
        return true;
    }
    if (nlen == 4 && memcmp(name, "host", 4) == 0 && st->p_set[P_AUTHORITY])
        return true; /* RFC 9113 §8.3.1: :authority wins */
    if (nlen == 6 && memcmp(name, "cookie", 6) == 0) {
        if (st->cookie.len)
            bg_buf_append(&st->cookie, "; ", 2);
        bg_buf_append(&st->cookie, value, vlen);
        return true;
    }
    /* "name: value\r\n", and where it starts for the fields view (stream_request) */
    if (st->n_fields < BG_HTTP_MAX_HEADERS) {
        st->f_off[st->n_fields] = (uint32_t)b->len;
        st->f_nlen[st->n_fields] = (uint32_t)nlen;
    }
    st->n_fields++;
    bg_buf_reserve(b, nlen + vlen + 4);
    p = b->data + b->len;
    memcpy(p, name, nlen);
    p[nlen] = ':';
    p[nlen + 1] = ' ';
    if (vlen)
        memcpy(p + nlen + 2, value, vlen);
    p[nlen + 2 + vlen] = '\r';
    p[nlen + 3 + vlen] = '\n';
    b->len += nlen + vlen + 4;
    b->data[b->len] = '\0';
    return true;
}

static bg_str_t pseudo(const bg_h2_stream_t *st, int i)
{
    return (bg_str_t){st->pseudo.data + st->p_off[i], st->p_len[i]};
}

static bool has_content_length(const bg_h2_stream_t *st)
{
    const char *p = st->hdrs.data;
    size_t n = st->hdrs.len;

    for (size_t i = 0; i + 15 <= n; i++)
        if ((i == 0 || p[i - 1] == '\n') && memcmp(p + i, "content-length:", 15) == 0)
            return true;
    return false;
}

/* The request as HTTP/1.1: request line from :method and :path (:authority for
 * CONNECT, which the parser answers 405), Host from :authority, the fields, one Cookie,
 * and the body framing the target will see (RFC 9113 §8.2.2: HTTP/2 has none). */
static void compose_head(bg_h2_stream_t *st, bool end_stream)
{
    bg_buf_t *b = &st->head;
    bg_str_t m = pseudo(st, P_METHOD);
    bool connect = bg_str_eq(m, BG_STR_LIT("CONNECT"));
    bg_str_t target = pseudo(st, connect ? P_AUTHORITY : P_PATH);

    bg_buf_reset(b);
    bg_buf_append(b, m.ptr, m.len);
    bg_buf_append(b, " ", 1);
    bg_buf_append(b, target.ptr, target.len);
    bg_buf_append(b, " HTTP/1.1\r\n", 11);
    if (st->p_set[P_AUTHORITY]) {
        bg_buf_append(b, "host: ", 6);
        bg_buf_append(b, st->pseudo.data + st->p_off[P_AUTHORITY], st->p_len[P_AUTHORITY]);
        bg_buf_append(b, "\r\n", 2);
    }
    if (st->hdrs.len)
        bg_buf_append(b, st->hdrs.data, st->hdrs.len);
    if (st->cookie.len) {
        bg_buf_append(b, "cookie: ", 8);
        bg_buf_append(b, st->cookie.data, st->cookie.len);
        bg_buf_append(b, "\r\n", 2);
    }
    st->chunked = !end_stream && !has_content_length(st);
    if (st->chunked)
        bg_buf_append(b, "transfer-encoding: chunked\r\n", 28);
    bg_buf_append(b, "\r\n", 2);
}

static void answer_error(bg_exchange_t *ex, int status, const char *reason)
{
    char body[160];
    int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}",
                     reason && !strchr(reason, '"') ? reason : "bad request");

    bg_h2_local_response(ex, status, body, (size_t)n);
}

/* The common request (no body, usual method, origin-form path, plain fields) goes to
 * the exchange as a head built from views of the fields, checked by
 * bg_http_request_from_fields() as the parser would check its HTTP/1.1 text; any other
 * request, and any that fails a check there, is written as text and parsed (false). */
static bool fields_head(bg_h2_stream_t *st, bg_exchange_t *ex)
{
    bg_http_head_t *h = &ex->req;
    bg_str_t m = pseudo(st, P_METHOD), path = pseudo(st, P_PATH);
    size_t n = 0, bytes = m.len + 1 + path.len + 11 + st->hdrs.len + 2;
    const char *d = st->hdrs.data;

    if (!st->req_end || !st->p_set[P_PATH] || st->n_fields + 2 > BG_HTTP_MAX_HEADERS)
        return false;
    if (st->p_set[P_AUTHORITY]) {
        h->headers[n++] = (bg_http_header_t){BG_STR_LIT("host"), pseudo(st, P_AUTHORITY), 0,
                                             false};
        bytes += 8 + st->p_len[P_AUTHORITY];
    }
    for (uint32_t i = 0; i < st->n_fields; i++) {
        uint32_t off = st->f_off[i], nlen = st->f_nlen[i];
        uint32_t end = i + 1 < st->n_fields ? st->f_off[i + 1] : (uint32_t)st->hdrs.len;
        h->headers[n++] = (bg_http_header_t){{d + off, nlen}, {d + off + nlen + 2,
                                             end - off - nlen - 4}, 0, false};
    }
    if (st->cookie.len) {
        h->headers[n++] = (bg_http_header_t){BG_STR_LIT("cookie"),
                                             {st->cookie.data, st->cookie.len}, 0, false};
        bytes += 10 + st->cookie.len;
    }
    st->chunked = false;
    return bg_http_request_from_fields(&ex->rp, m, path, n, bytes);
}

void bg_h2_stream_request(bg_h2_stream_t *st, bool end_stream)
{
    bg_h2_conn_t *h = st->conn;
    bg_client_t *c = h->c;
    bg_exchange_t *ex = bg_exchange_new(c);
    size_t used = 0;
    bg_http_result_t r;

    ex->h2 = st;
    ex->is_h2 = true;
    st->ex = ex;
    st->req_end = end_stream;
    if (st->too_large) {
        answer_error(ex, 431, "request header too large");
        return;
    }
    if (!st->p_set[P_METHOD]) {
        answer_error(ex, 400, "no :method");
        return;
    }
    if (fields_head(st, ex)) {
        bg_exchange_dispatch(ex);
        return;
    }
    compose_head(st, end_stream);
    r = bg_http_parser_execute(&ex->rp, st->head.data, st->head.len, &used);
    if (r != BG_HTTP_HEAD_DONE) {
        int status = r == BG_HTTP_ERROR && ex->rp.status ? ex->rp.status : 400;
        bg_log(BG_LOG_DEBUG, "h2", "bad request status=%d reason=\"%s\" client=%.*s stream=%d",
               status, ex->rp.reason ? ex->rp.reason : "", c->ip_len, c->ip, st->id);
        answer_error(ex, status, ex->rp.reason);
        return;
    }
    bg_exchange_dispatch(ex);
}

/* ---- request body ---- */

void bg_h2_stream_data(bg_h2_stream_t *st, const uint8_t *data, size_t len)
{
    bg_exchange_t *ex = st->ex;
    uint64_t max = st->conn->c->w->cfg->max_body_bytes;

    st->body_total += len;
    if (max && st->body_total > max) {
        give_back(st, len);
        if (!ex->rsp_started)
            bg_exchange_fail(ex, 413, "body too large");
        else
            bg_h2_reset(ex), bg_exchange_release(ex);
        return;
    }
    bg_buf_append(&st->body_in, data, len);
}

void bg_h2_stream_body(bg_h2_stream_t *st, bool end)
{
    bg_exchange_t *ex = st->ex;

    if (end)
        st->req_end = true;
    if (ex && ex->phase == BG_EX_BODY && !ex->up_writing)
        bg_exchange_pump_request(ex);
}

void bg_h2_stream_end(bg_h2_stream_t *st)
{
    bg_h2_stream_body(st, true);
}

/* The bytes of body_out were written to the target: their window opens. */
static void written(bg_h2_stream_t *st)
{
    give_back(st, st->sending);
    st->sending = 0;
    bg_buf_reset(&st->body_out);
}

void bg_h2_pump_request(bg_exchange_t *ex)
{
    bg_h2_stream_t *st = ex->h2;
    bg_outq_t *q = &ex->to_up;

    if (ex->phase == BG_EX_BODY && ex->req_done)
        ex->phase = BG_EX_SENT; /* a resend of a whole request */
    while (ex->phase == BG_EX_BODY && !ex->up_writing) {
        bg_buf_t tmp;
        size_t n;
        int rc;

        written(st);
        if (st->body_in.len == 0 && !st->req_end)
            break;
        tmp = st->body_out, st->body_out = st->body_in, st->body_in = tmp;
        n = st->body_out.len;
        if (n) {
            if (st->chunked) {
                char hdr[24];
                int k = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
                bg_exchange_keep(ex, hdr, (size_t)k);
                bg_outq_add_scratch(q, hdr, (size_t)k);
            }
            bg_exchange_keep(ex, st->body_out.data, n);
            bg_outq_add(q, st->body_out.data, n);
            ex->bytes_in += n;
            if (st->chunked) {
                bg_exchange_keep(ex, "\r\n", 2);
                bg_outq_add_scratch(q, "\r\n", 2);
            }
        }
        if (st->req_end && st->body_in.len == 0) {
            if (st->chunked) {
                bg_exchange_keep(ex, "0\r\n\r\n", 5);
                bg_outq_add_scratch(q, "0\r\n\r\n", 5);
            }
            ex->phase = BG_EX_SENT;
            ex->req_done = true;
        }
        st->sending = n;
        rc = bg_outq_flush(ex, false);
        if (rc < 0)
            return; /* <ex> may be gone */
        if (rc == 0)
            break;
    }
    if (ex->phase == BG_EX_SENT && !ex->up_writing)
        written(st);
    bg_h2_conn_send(st->conn);
}

/* ---- response ---- */

static bool is_hop(const bg_http_header_t *hd, const bg_http_head_t *rsp)
{
    switch (hd->kind) {
    case BG_HDR_CONNECTION:
    case BG_HDR_KEEP_ALIVE:
    case BG_HDR_PROXY_CONNECTION:
    case BG_HDR_TE:
    case BG_HDR_TRAILER:
    case BG_HDR_TRANSFER_ENCODING:
    case BG_HDR_UPGRADE:
        return true; /* RFC 9113 §8.2.2: connection-specific fields are malformed */
    default:
        break;
    }
    for (size_t i = 0; i < rsp->n_conn_tokens; i++)
        if (bg_str_case_eq(rsp->conn_tokens[i], hd->name))
            return true;
    return false;
}

#define NV(n, v, nl, vl)                                                                        \
    ((nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), (nl), (vl), NGHTTP2_NV_FLAG_NONE})
#define NV_NO_INDEX(n, v, nl, vl)                                                               \
    ((nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), (nl), (vl), NGHTTP2_NV_FLAG_NO_INDEX})

static const nghttp2_data_provider provider = {.read_callback = bg_h2_stream_read};

void bg_h2_response_head(bg_exchange_t *ex, bool interim)
{
    bg_h2_stream_t *st = ex->h2;
    const bg_http_head_t *rsp = &ex->rsp;
    nghttp2_nv nva[BG_HTTP_MAX_HEADERS + 5];
    size_t n = 0, names = 0;
    char status[8];
    bg_buf_t *lower = &st->conn->names;
    nghttp2_data_provider prov = provider;

    status_digits(status, rsp->status);
    nva[n++] = NV(":status", status, 7, 3);
    for (size_t i = 0; i < rsp->n_headers; i++)
        names += rsp->headers[i].name.len;
    bg_buf_reset(lower); /* nghttp2 copies the fields: the scratch is free again */
    bg_buf_reserve(lower, names + 1); /* no reallocation below: nva points into it */
    for (size_t i = 0; i < rsp->n_headers; i++) {
        const bg_http_header_t *hd = &rsp->headers[i];
        char *p = lower->data + lower->len;
        if (is_hop(hd, rsp) || (hd->kind == BG_HDR_REQUEST_ID && ex->request_id_len) ||
            (hd->kind == BG_HDR_CONTENT_LENGTH && (rsp->status < 200 || rsp->status == 204)))
            continue;
        for (size_t k = 0; k < hd->name.len; k++) {
            char ch = hd->name.ptr[k];
            p[k] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
        }
        lower->len += hd->name.len;
        nva[n++] = NV(p, hd->value.ptr, hd->name.len, hd->value.len);
    }
    if (!interim) {
        /* A new value per response: indexed, it would fill the HPACK table with entries
         * never used again, evict the useful ones, and make every lookup of the name walk
         * them all (RFC 7541 §6.2.3: never indexed). */
        if (ex->request_id_len)
            nva[n++] = NV_NO_INDEX("x-request-id", ex->request_id, 12, ex->request_id_len);
        if (ex->set_cookie[0])
            nva[n++] = NV("set-cookie", ex->set_cookie, 10, strlen(ex->set_cookie));
    }
    nva[n++] = NV("via", "1.1 bluegreen", 3, 13);
    prov.source.ptr = st;
    if (interim) {
        nghttp2_submit_headers(st->conn->s, NGHTTP2_FLAG_NONE, st->id, NULL, nva, n, NULL);
    } else {
        st->responded = true;
        nghttp2_submit_response(st->conn->s, st->id, nva, n,
                                rsp->framing != BG_BODY_NONE ? &prov : NULL);
    }
}

void bg_h2_local_response(bg_exchange_t *ex, int status, const char *body, size_t len)
{
    bg_h2_stream_t *st = ex->h2;
    bg_h2_conn_t *h = st->conn;
    nghttp2_nv nva[5];
    size_t n = 0;
    char st_txt[8], cl[24];
    nghttp2_data_provider prov = provider;

    ex->status = status;
    status_digits(st_txt, status);
    snprintf(cl, sizeof(cl), "%zu", len);
    nva[n++] = NV(":status", st_txt, 7, 3);
    nva[n++] = NV("content-type", "application/json", 12, 16);
    nva[n++] = NV("content-length", cl, 14, strlen(cl));
    if (ex->request_id_len)
        nva[n++] = NV_NO_INDEX("x-request-id", ex->request_id, 12, ex->request_id_len);
    bg_buf_reset(&st->local);
    bg_buf_append(&st->local, body, len);
    st->local_off = 0;
    st->local_body = true;
    st->responded = true;
    st->eof = true;
    prov.source.ptr = st;
    nghttp2_submit_response(h->s, st->id, nva, n, len ? &prov : NULL);
    bg_h2_detach(ex);
    bg_exchange_release(ex);
    bg_h2_conn_send(h);
}

void bg_h2_exchange_done(bg_exchange_t *ex)
{
    bg_h2_stream_t *st = ex->h2;
    bg_h2_conn_t *h = st->conn;

    st->eof = true;
    bg_h2_detach(ex);
    nghttp2_session_resume_data(h->s, st->id);
    bg_h2_conn_send(h);
}

void bg_h2_reset(bg_exchange_t *ex)
{
    bg_h2_stream_t *st = ex->h2;
    bg_h2_conn_t *h = st->conn;

    st->ended = true;
    nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    bg_h2_detach(ex);
    bg_h2_conn_send(h);
}

int bg_h2_flush(bg_exchange_t *ex)
{
    bg_h2_stream_t *st = ex->h2;
    bg_h2_conn_t *h = st->conn;
    bg_outq_t *q = &ex->to_client;

    if (q->n == 0) {
        bg_h2_conn_send(h);
        return 1;
    }
    ex->cl_writing = true;
    nghttp2_session_resume_data(h->s, st->id);
    h->flushing = st;
    bg_h2_conn_take(h);
    h->flushing = NULL;
    if (q->n == 0) {
        ex->cl_writing = false;
        return 1;
    }
    return 0;
}

ssize_t bg_h2_stream_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                          uint32_t *flags, nghttp2_data_source *src, void *user)
{
    bg_h2_stream_t *st = src->ptr;
    size_t n = 0;

    (void)s;
    (void)id;
    (void)user;
    if (st->local_body) {
        n = st->local.len - st->local_off;
        if (n > length)
            n = length;
        memcpy(buf, st->local.data + st->local_off, n);
        st->local_off += n;
        if (st->local_off == st->local.len)
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    if (st->ex) {
        bg_outq_t *q = &st->ex->to_client;
        while (n < length && st->out_i < q->n) {
            uv_buf_t *b = &q->iov[st->out_i];
            size_t k = b->len < length - n ? b->len : length - n;
            memcpy(buf + n, b->base, k);
            b->base += k;
            b->len -= k;
            n += k;
            if (b->len == 0)
                st->out_i++;
        }
        if (q->n && st->out_i == q->n) {
            bg_outq_reset(q);
            st->out_i = 0;
            if (st->conn->flushing != st && st->ex->cl_writing)
                bg_h2_conn_ready(st->conn, st);
        }
    }
    if (st->eof && !st->ex) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    return n ? (ssize_t)n : NGHTTP2_ERR_DEFERRED;
}
