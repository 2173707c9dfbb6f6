/* Access log on the workers: at dispatch the request's strings are copied (the head's
 * views do not outlive the read buffer), at release one line is formatted into the
 * worker's buffer, which goes to the writer thread once it passes BG_ALOG_CHUNK_BYTES
 * and at every housekeeping tick (250 ms) and at stop. No file I/O, no lock here.
 */
#include "proxy/internal.h"

#include <stdlib.h>
#include <strings.h>

#include "base/compat.h"

#define MAX_TARGET 2048
#define MAX_SHORT 512

static const bg_http_header_t *named(const bg_http_head_t *h, const char *name, size_t len)
{
    for (size_t i = 0; i < h->n_headers; i++)
        if (h->headers[i].name.len == len && strncasecmp(h->headers[i].name.ptr, name, len) == 0)
            return &h->headers[i];
    return NULL;
}

static void keep(bg_exchange_t *ex, int i, bg_str_t s, size_t max)
{
    size_t n = s.len < max ? s.len : max;

    bg_buf_append(&ex->alog_req, s.ptr, n);
    ex->alog_len[i] = (uint16_t)n;
}

void bg_access_capture(bg_exchange_t *ex)
{
    const bg_http_head_t *req = &ex->req;

    bg_buf_reset(&ex->alog_req);
    keep(ex, 0, req->method, 32);
    keep(ex, 1, req->target, MAX_TARGET);
    keep(ex, 2, req->host, MAX_SHORT);
    if (bg_alog_format(ex->w->proxy->opts.alog) == BG_ALOG_COMBINED) {
        const bg_http_header_t *ua = named(req, "user-agent", 10);
        const bg_http_header_t *ref = named(req, "referer", 7);
        keep(ex, 3, ua ? ua->value : (bg_str_t){"", 0}, MAX_SHORT);
        keep(ex, 4, ref ? ref->value : (bg_str_t){"", 0}, MAX_SHORT);
    }
    /* JSON lines have no user agent or referer: alog_len[3..4] stay 0. */
}

void bg_access_line(bg_exchange_t *ex)
{
    bg_worker_t *w = ex->w;
    const char *p = ex->alog_req.data != NULL ? ex->alog_req.data : "";
    bg_alog_record_t r = {
        .wall_ms = bg_wall_ms(),
        .request_id = ex->request_id,
        .request_id_len = ex->request_id_len,
        .client = ex->c != NULL ? ex->c->ip : NULL,
        .client_len = ex->c != NULL ? ex->c->ip_len : 0,
        .minor = ex->req_http10 ? 0 : 1,
        .h2 = ex->is_h2,
        .status = ex->status,
        .bytes_in = ex->bytes_in,
        .bytes_out = ex->bytes_out,
        .service = ex->svc != NULL ? ex->svc->name : NULL,
        .slot = ex->svc != NULL && ex->slot >= 0 ? bg_slot_str((bg_slot_t)ex->slot) : NULL,
        .version = ex->target != NULL ? ex->target->version : NULL,
        .upstream = ex->target != NULL ? ex->target->addr_str : NULL,
        .upstream_us = ex->up_head_us >= ex->up_start_us && ex->up_start_us != 0
                           ? (int64_t)(ex->up_head_us - ex->up_start_us)
                           : -1,
        .total_us = bg_now_us() - ex->start_us,
        .retries = ex->attempts + ex->resends,
    };
    size_t off = 0;

    r.method = p + off, r.method_len = ex->alog_len[0], off += ex->alog_len[0];
    r.target = p + off, r.target_len = ex->alog_len[1], off += ex->alog_len[1];
    r.host = p + off, r.host_len = ex->alog_len[2], off += ex->alog_len[2];
    r.user_agent = p + off, r.user_agent_len = ex->alog_len[3], off += ex->alog_len[3];
    r.referer = p + off, r.referer_len = ex->alog_len[4];
    bg_alog_format_line(&w->alog_buf, bg_alog_format(w->proxy->opts.alog), &r);
    if (w->alog_buf.len >= BG_ALOG_CHUNK_BYTES)
        bg_access_flush(w);
}

void bg_access_flush(bg_worker_t *w)
{
    size_t len = w->alog_buf.len;

    if (w->proxy->opts.alog == NULL || len == 0)
        return;
    bg_alog_submit(w->proxy->opts.alog, bg_buf_steal(&w->alog_buf), len);
}
