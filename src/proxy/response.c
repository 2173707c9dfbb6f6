/* The response side of an exchange: parse the target's head (llhttp, HTTP_RESPONSE),
 * relay interim 1xx responses, rewrite the final head (hop-by-hop stripped, framing ours),
 * stream the body to the client with backpressure (re-framed as chunked when the target
 * used chunked or close-delimited framing and the client speaks HTTP/1.1), then return the
 * upstream connection to its pool and the client to keep-alive. */
#include <string.h>

#include "base/base.h"
#include "proxy/internal.h"
#include "base/compat.h"

static bool outq_full(const bg_outq_t *q)
{
    return q->n + 4 >= BG_OUTQ_IOV || q->scratch_len + 64 >= BG_OUTQ_SCRATCH;
}

void bg_exchange_finish(bg_exchange_t *ex)
{
    bg_client_t *c = ex->c;
    bg_upstream_t *up = ex->up;
    bool sent = ex->phase == BG_EX_SENT;
    bool reuse_up = sent && ex->rsp.keep_alive && ex->rsp.framing != BG_BODY_EOF &&
                    !ex->up_writing && up && up->off == up->len;
    bool reuse_client = sent && !ex->close_client;

    if (up) {
        ex->up = NULL;
        up->ex = NULL;
        if (reuse_up)
            bg_pool_put(up);
        else
            bg_upstream_close(up);
    }
    if (ex->h2) {
        bg_h2_exchange_done(ex); /* END_STREAM; the connection goes on */
        bg_exchange_release(ex);
        return;
    }
    c->ex = NULL;
    bg_exchange_release(ex);
    bg_client_exchange_done(c, reuse_client);
}

static void compact_up(bg_upstream_t *up)
{
    if (up->off == 0)
        return;
    memmove(up->buf->data, up->buf->data + up->off, up->len - up->off);
    up->len -= up->off;
    up->off = 0;
}

/* Returns false when the exchange ended (101 without an Upgrade request). */
static bool final_head(bg_exchange_t *ex)
{
    bg_http_head_t *rsp = &ex->rsp;
    bg_http_rsp_opts_t o = {0};

    ex->rsp_head_done = true;
    ex->target_status = rsp->status;
    ex->status = rsp->status;
    bg_exchange_passive(ex, rsp->status >= 500);
    if (ex->h2) { /* HTTP/2 frames the body itself: no chunks, no Connection */
        ex->up_head_us = bg_now_us();
        bg_h2_response_head(ex, false);
        ex->rsp_started = true;
        return true;
    }
    if (ex->req_http10 || !ex->req_keep_alive || !rsp->keep_alive || ex->w->stopping)
        ex->close_client = ex->close_client || ex->req_http10 || !ex->req_keep_alive ||
                           ex->w->stopping;
    if (rsp->framing == BG_BODY_CHUNKED || rsp->framing == BG_BODY_EOF) {
        if (ex->req_http10)
            ex->close_client = true; /* HTTP/1.0: the body ends when we close */
        else
            ex->rsp_chunked = true;
        ex->rsp_eof_chunks = ex->rsp_chunked && rsp->framing == BG_BODY_EOF;
    }
    o.close = ex->close_client;
    o.chunked = ex->rsp_chunked;
    o.tunnel = ex->tunnel;
    o.set_cookie = bg_str(ex->set_cookie);
    o.request_id = (bg_str_t){ex->request_id, ex->request_id_len};
    ex->up_head_us = bg_now_us();
    bg_buf_reset(&ex->rsp_out);
    bg_http_write_response(&ex->rsp_out, rsp, &o);
    bg_outq_add(&ex->to_client, ex->rsp_out.data, ex->rsp_out.len);
    ex->bytes_out += ex->rsp_out.len;
    ex->rsp_started = true;
    return true;
}

typedef enum head_kind { HEAD_FINAL = 0, HEAD_INTERIM = 1, HEAD_TUNNEL = 2, HEAD_BAD = 3 } head_kind_t;

static head_kind_t on_head(bg_exchange_t *ex)
{
    bg_http_head_t *rsp = &ex->rsp;
    bg_http_rsp_opts_t o = {0};

    bg_timer_stop(&ex->up->tn);
    if (rsp->status == 101) {
        if (!ex->req_upgrade)
            return HEAD_BAD;
        ex->tunnel = true;
        final_head(ex);
        return HEAD_TUNNEL;
    }
    if (rsp->status < 200) {
        /* RFC 9110 §15.2: relay interim responses to HTTP/1.1 clients only. */
        if (ex->h2) {
            bg_h2_response_head(ex, true);
            ex->rsp_started = true;
        } else if (!ex->req_http10) {
            bg_buf_reset(&ex->rsp_out);
            bg_http_write_response(&ex->rsp_out, rsp, &o);
            bg_outq_add(&ex->to_client, ex->rsp_out.data, ex->rsp_out.len);
            ex->rsp_started = true; /* a later failure can only close the connection */
        }
        bg_upstream_start_response_timer(ex->up);
        return HEAD_INTERIM;
    }
    final_head(ex);
    return HEAD_FINAL;
}

void bg_response_pump(bg_exchange_t *ex)
{
    bg_upstream_t *up = ex->up;
    size_t used;
    int rc;

    while (!ex->cl_writing && up) {
        bg_http_result_t r =
            bg_http_parser_execute(&ex->sp, up->buf->data + up->off, up->len - up->off, &used);
        up->off += (uint32_t)used;
        switch (r) {
        case BG_HTTP_HEAD_DONE:
            switch (on_head(ex)) {
            case HEAD_BAD:
                bg_exchange_passive(ex, true);
                bg_exchange_fail(ex, 502, "unexpected 101 from target");
                return;
            case HEAD_TUNNEL:
                if (bg_outq_flush(ex, true) == 1)
                    bg_tunnel_start(ex);
                return;
            case HEAD_INTERIM:
                bg_http_parser_next(&ex->sp);
                if (bg_outq_flush(ex, true) != 1)
                    return;
                continue;
            case HEAD_FINAL:
                if (ex->rsp.framing != BG_BODY_NONE)
                    continue;
                ex->rsp_done = true; /* bodiless (204, 304, HEAD, Content-Length: 0) */
                if (bg_outq_flush(ex, true) != 1)
                    return;
                bg_exchange_finish(ex);
                return;
            }
            break;
        case BG_HTTP_PAUSED:
            if (bg_outq_flush(ex, true) != 1)
                return;
            continue;
        case BG_HTTP_DONE:
            ex->rsp_done = true;
            if (bg_outq_flush(ex, true) != 1)
                return;
            bg_exchange_finish(ex);
            return;
        case BG_HTTP_NEED_MORE:
            rc = bg_outq_flush(ex, true);
            if (rc < 0)
                return;
            if (rc == 1)
                compact_up(up);
            if (up->len == ex->w->buf_size && !ex->rsp_head_done) {
                bg_exchange_fail(ex, 502, "response head too large");
                return;
            }
            bg_upstream_update_reading(up);
            return;
        case BG_HTTP_ERROR:
            bg_log(BG_LOG_WARN, "proxy", "bad response target=%s reason=\"%s\"",
                   ex->target ? ex->target->addr_str : "?", ex->sp.reason ? ex->sp.reason : "");
            bg_exchange_passive(ex, true);
            bg_exchange_fail(ex, 502, "bad response from target");
            return;
        }
    }
}

void bg_response_eof(bg_exchange_t *ex, int err)
{
    if (ex->rsp_head_done && ex->rsp.framing == BG_BODY_EOF && !ex->rsp_done) {
        if (bg_http_parser_finish(&ex->sp) == BG_HTTP_DONE) {
            ex->rsp_done = true;
            if (ex->rsp_chunked)
                bg_outq_add_scratch(&ex->to_client, "0\r\n\r\n", 5);
            if (!ex->cl_writing && bg_outq_flush(ex, true) == 1)
                bg_exchange_finish(ex);
            return;
        }
    }
    if (!ex->rsp_any) {
        bg_exchange_upstream_lost(ex, err); /* closed before answering: maybe resend */
        return;
    }
    if (!ex->rsp_started)
        bg_exchange_passive(ex, true);
    bg_exchange_fail(ex, 502, "target closed the connection");
}

void bg_response_timeout(bg_exchange_t *ex)
{
    if (ex->rsp_head_done)
        return;
    bg_log(BG_LOG_WARN, "proxy", "response timeout service=%s target=%s", ex->svc->name,
           ex->target ? ex->target->addr_str : "?");
    bg_exchange_passive(ex, true);
    bg_exchange_fail(ex, 504, "target response timeout");
}

static int rsp_on_body(void *arg, const char *p, size_t n)
{
    bg_exchange_t *ex = arg;

    if (ex->rsp_eof_chunks)
        bg_outq_addf_chunk(&ex->to_client, n);
    bg_outq_add(&ex->to_client, p, n);
    if (ex->rsp_eof_chunks)
        bg_outq_add_scratch(&ex->to_client, "\r\n", 2);
    ex->bytes_out += n;
    return outq_full(&ex->to_client);
}

static int rsp_on_chunk_header(void *arg, uint64_t size)
{
    bg_exchange_t *ex = arg;

    if (ex->rsp_chunked)
        bg_outq_addf_chunk(&ex->to_client, size);
    return outq_full(&ex->to_client);
}

static int rsp_on_chunk_complete(void *arg)
{
    bg_exchange_t *ex = arg;

    if (ex->rsp_chunked)
        bg_outq_add_scratch(&ex->to_client, "\r\n", 2);
    return outq_full(&ex->to_client);
}

static int rsp_on_message_complete(void *arg)
{
    bg_exchange_t *ex = arg;

    if (ex->rsp_head_done && ex->rsp_chunked && ex->rsp.framing == BG_BODY_CHUNKED)
        bg_outq_add_scratch(&ex->to_client, "0\r\n\r\n", 5);
    return 0;
}

const bg_http_body_cbs_t bg_response_cbs = {
    .on_body = rsp_on_body,
    .on_chunk_header = rsp_on_chunk_header,
    .on_chunk_complete = rsp_on_chunk_complete,
    .on_message_complete = rsp_on_message_complete,
};
