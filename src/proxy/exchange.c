/* One proxied request: routing (host + longest prefix), slot choice (test listener,
 * preview header, sticky cookie, weight), target choice (least outstanding among healthy),
 * upstream acquisition with retries (only before any byte reached a target), the
 * rewritten head, and the request body streamed with backpressure (at most one write in
 * flight per direction; the source is not parsed further until it completes). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "proxy/internal.h"
#include "base/compat.h"

#define MAX_FREE_EX 8

static const bg_http_body_cbs_t request_cbs;

/* ---- output queue ---- */

void bg_outq_reset(bg_outq_t *q)
{
    q->n = 0;
    q->bytes = 0;
    q->scratch_len = 0;
}

void bg_outq_add(bg_outq_t *q, const char *p, size_t n)
{
    BG_ASSERT(q->n < BG_OUTQ_IOV);
    if (n == 0)
        return;
    q->iov[q->n++] = uv_buf_init((char *)p, (unsigned)n);
    q->bytes += n;
}

void bg_outq_add_scratch(bg_outq_t *q, const char *p, size_t n)
{
    BG_ASSERT(q->scratch_len + n <= BG_OUTQ_SCRATCH);
    char *dst = q->scratch + q->scratch_len;
    memcpy(dst, p, n);
    q->scratch_len += (unsigned)n;
    /* merge with the previous scratch piece when adjacent ("\r\n" + next chunk size) */
    if (q->n > 0 && q->iov[q->n - 1].base + q->iov[q->n - 1].len == dst) {
        q->iov[q->n - 1].len += n;
        q->bytes += n;
        return;
    }
    bg_outq_add(q, dst, n);
}

void bg_outq_addf_chunk(bg_outq_t *q, uint64_t size)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRIx64 "\r\n", size);
    bg_outq_add_scratch(q, tmp, (size_t)n);
}

static bool outq_full(const bg_outq_t *q)
{
    return q->n + 4 >= BG_OUTQ_IOV || q->scratch_len + 64 >= BG_OUTQ_SCRATCH;
}

static void write_cb(uv_write_t *req, int status);

int bg_outq_flush(bg_exchange_t *ex, bool to_client)
{
    bg_outq_t *q = to_client ? &ex->to_client : &ex->to_up;
    uv_stream_t *s = to_client ? NULL : (uv_stream_t *)&ex->up->tcp;
    uv_write_t *req = to_client ? &ex->cl_wreq : &ex->up_wreq;
    unsigned i = 0;
    int n;

    if (to_client && ex->h2)
        return bg_h2_flush(ex);
    if (q->n == 0)
        return 1;
    n = to_client ? bg_cio_try_write(ex->c, q->iov, q->n) : uv_try_write(s, q->iov, q->n);
    if (n >= 0 && (size_t)n == q->bytes) {
        bg_outq_reset(q);
        return 1;
    }
    if (n < 0 && n != UV_EAGAIN) {
        if (to_client)
            bg_client_close(ex->c);
        else if (!ex->rsp_any)
            bg_exchange_upstream_lost(ex, n);
        else
            bg_exchange_fail(ex, 502, "target write failed");
        return -1;
    }
    if (n > 0) {
        size_t left = (size_t)n;
        while (left >= q->iov[i].len) {
            left -= q->iov[i].len;
            i++;
        }
        q->iov[i].base += left;
        q->iov[i].len -= left;
    }
    req->data = ex;
    ex->pending_writes++;
    if (to_client)
        ex->cl_writing = true;
    else
        ex->up_writing = true;
    if (to_client) {
        if (bg_cio_write(req, ex->c, q->iov + i, q->n - i, write_cb) < 0) {
            ex->pending_writes--;
            ex->cl_writing = false;
            bg_client_close(ex->c);
            return -1;
        }
        bg_client_write_pending(ex->c);
        return 0;
    }
    uv_write(req, s, q->iov + i, q->n - i, write_cb);
    return 0;
}

static void write_cb(uv_write_t *req, int status)
{
    bg_exchange_t *ex = req->data;
    bool to_client = req == &ex->cl_wreq;

    ex->pending_writes--;
    if (to_client)
        ex->cl_writing = false;
    else
        ex->up_writing = false;
    if (ex->dead) {
        if (ex->pending_writes == 0)
            bg_exchange_release(ex);
        return;
    }
    if (to_client) {
        bg_outq_reset(&ex->to_client);
        if (status < 0) {
            bg_client_close(ex->c);
            return;
        }
        bg_client_write_done(ex->c);
        if (ex->tunnel)
            bg_tunnel_start(ex);
        else if (ex->rsp_done)
            bg_exchange_finish(ex);
        else
            bg_response_pump(ex);
        return;
    }
    bg_outq_reset(&ex->to_up);
    if (status < 0) {
        if (!ex->rsp_any)
            bg_exchange_upstream_lost(ex, status);
        else
            bg_exchange_fail(ex, 502, "target write failed");
        return;
    }
    if (ex->phase == BG_EX_BODY || (ex->h2 && ex->phase == BG_EX_SENT))
        bg_exchange_pump_request(ex); /* HTTP/2: the window opens for what was written */
    else if (ex->phase == BG_EX_SENT && ex->c)
        bg_client_update_reading(ex->c);
}

/* ---- lifecycle ---- */

bg_exchange_t *bg_exchange_new(bg_client_t *c)
{
    bg_worker_t *w = c->w;
    bg_exchange_t *ex = w->free_ex;

    if (++w->n_ex_out > w->peak_ex_out)
        w->peak_ex_out = w->n_ex_out;
    if (ex) {
        w->free_ex = ex->next_free;
        w->n_free_ex--;
    } else {
        ex = bg_worker_big_alloc(sizeof(*ex));
        bg_buf_init(&ex->head_out);
        bg_buf_init(&ex->rsp_out);
        bg_buf_init(&ex->alog_req);
    }
    ex->next_free = NULL;
    ex->w = w;
    ex->c = c;
    ex->up = NULL;
    ex->h2 = NULL;
    memset(&ex->req, 0, offsetof(bg_http_head_t, headers));
    memset(&ex->rsp, 0, offsetof(bg_http_head_t, headers));
    bg_buf_reset(&ex->head_out);
    bg_buf_reset(&ex->rsp_out);
    bg_outq_reset(&ex->to_up);
    bg_outq_reset(&ex->to_client);
    ex->pending_writes = 0;
    ex->dead = false;
    memset(&ex->phase, 0, sizeof(*ex) - offsetof(bg_exchange_t, phase));
    ex->slot = -1;
    ex->rp.max_header_bytes = w->cfg->max_header_bytes;
    ex->rp.max_body_bytes = w->cfg->max_body_bytes;
    bg_http_parser_init(&ex->rp, false, &ex->req, &request_cbs, ex);
    return ex;
}

static void account(bg_exchange_t *ex)
{
    uint64_t lat = bg_now_us() - ex->start_us;
    bg_traffic_stats_t *ss = &ex->svc->stats->slot[ex->slot];

    if (ex->target) {
        bg_traffic_stats_t *ts = &ex->target->stats;
        bg_traffic_record(ts, ex->target_status, lat);
        atomic_fetch_sub_explicit(&ts->active, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&ts->bytes_in, ex->bytes_in, memory_order_relaxed);
        atomic_fetch_add_explicit(&ts->bytes_out, ex->bytes_out, memory_order_relaxed);
    }
    bg_traffic_record(ss, ex->target_status, lat);
    atomic_fetch_sub_explicit(&ss->active, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&ss->bytes_in, ex->bytes_in, memory_order_relaxed);
    atomic_fetch_add_explicit(&ss->bytes_out, ex->bytes_out, memory_order_relaxed);
    ex->counted = false;
}

void bg_exchange_release(bg_exchange_t *ex)
{
    bg_worker_t *w = ex->w;

    if (ex->h2)
        bg_h2_detach(ex);
    if (ex->start_us != 0 && w->proxy->opts.alog != NULL)
        bg_access_line(ex);
    if (ex->counted)
        account(ex);
    if (ex->sref) {
        bg_worker_snap_release(w, ex->sref);
        ex->sref = NULL;
    }
    if (ex->up) {
        bg_upstream_t *up = ex->up;
        ex->up = NULL;
        up->ex = NULL;
        bg_upstream_close(up);
    }
    ex->c = NULL;
    if (ex->pending_writes > 0) {
        ex->dead = true;
        return;
    }
    w->n_ex_out--;
    if (w->n_free_ex >= MAX_FREE_EX + w->peak_ex_out || w->stopping) {
        bg_exchange_free(ex);
        return;
    }
    ex->dead = false;
    ex->next_free = w->free_ex;
    w->free_ex = ex;
    w->n_free_ex++;
}

void bg_exchange_free(bg_exchange_t *ex)
{
    bg_buf_fini(&ex->head_out);
    bg_buf_fini(&ex->rsp_out);
    bg_buf_fini(&ex->alog_req);
    bg_worker_big_free(ex, sizeof(*ex));
}

void bg_exchange_abort(bg_exchange_t *ex)
{
    bg_exchange_release(ex);
}

void bg_exchange_fail(bg_exchange_t *ex, int status, const char *error)
{
    bg_client_t *c = ex->c;
    char body[128];
    int n;

    if (ex->up) {
        bg_upstream_t *up = ex->up;
        ex->up = NULL;
        up->ex = NULL;
        bg_upstream_close(up);
    }
    if (!c) {
        bg_exchange_release(ex);
        return;
    }
    if (ex->rsp_started) {
        if (ex->h2) { /* HTTP/2: only this stream is cut (RST_STREAM) */
            bg_h2_reset(ex);
            bg_exchange_release(ex);
            return;
        }
        bg_client_close(c); /* mid-response: the client sees a truncated message */
        return;
    }
    n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", error);
    bg_exchange_local_response(ex, status, body, (size_t)n,
                               ex->phase != BG_EX_SENT || !ex->req_keep_alive);
}

void bg_exchange_local_response(bg_exchange_t *ex, int status, const char *body, size_t len,
                                bool close)
{
    if (ex->h2)
        bg_h2_local_response(ex, status, body, len);
    else
        bg_client_local_response(ex->c, status, body, len, close);
}

/* Passive outlier detection (docs/design.md §4): consecutive connect failures or 5xx eject. */
void bg_exchange_passive(bg_exchange_t *ex, bool failure)
{
    bg_target_t *t = ex->target;
    uint32_t thr = ex->svc->passive_failures;

    if (!t)
        return;
    if (!failure) {
        if (atomic_load_explicit(&t->passive_failures, memory_order_relaxed) != 0)
            atomic_store_explicit(&t->passive_failures, 0, memory_order_relaxed);
        return;
    }
    uint32_t n = atomic_fetch_add_explicit(&t->passive_failures, 1, memory_order_relaxed) + 1;
    if (thr == 0 || n < thr)
        return;
    if (atomic_exchange(&t->healthy, 0) == 1) {
        atomic_store(&t->passive_ejected, 1);
        bg_log(BG_LOG_WARN, "proxy", "passive ejection service=%s target=%s failures=%u",
               t->service, t->addr_str, n);
        if (ex->w->proxy->opts.passive_notify)
            uv_async_send(ex->w->proxy->opts.passive_notify);
    }
}

/* ---- dispatch ---- */

static bg_str_t path_only(bg_str_t p)
{
    const char *q = memchr(p.ptr, '?', p.len);

    if (p.len == 1 && p.ptr[0] == '*')
        return BG_STR_LIT("/");
    return q ? (bg_str_t){p.ptr, (size_t)(q - p.ptr)} : p;
}

static void answer_no_route(bg_exchange_t *ex, bg_str_t host, bg_str_t path)
{
    char body[512];
    int n = snprintf(body, sizeof(body), "{\"error\":\"no route\",\"host\":\"%.*s\",\"path\":\"%.*s\"}",
                     (int)(host.len > 200 ? 200 : host.len), host.ptr,
                     (int)(path.len > 200 ? 200 : path.len), path.ptr);

    bg_exchange_local_response(ex, 404, body, (size_t)n, false);
}

static void answer_unavailable(bg_exchange_t *ex, const char *why)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"service\":\"%s\",\"slot\":\"%s\"}",
                     why, ex->svc->name, ex->slot >= 0 ? bg_slot_str((bg_slot_t)ex->slot) : "none");

    bg_exchange_local_response(ex, 503, body, (size_t)n, false);
}

static int choose_slot(bg_exchange_t *ex)
{
    const bg_route_service_t *svc = ex->svc;
    const bg_http_header_t *h;
    bg_str_t v;
    int slot;

    if (ex->c->listener == 1)
        return svc->preview_slot;
    h = bg_http_head_find(&ex->req, BG_HDR_BG_SLOT);
    if (h && bg_str_case_eq(h->value, BG_STR_LIT("preview")))
        return svc->preview_slot;
    if (svc->sticky && svc->slot[0].weight > 0 && svc->slot[1].weight > 0) {
        if (bg_http_cookie_get(&ex->req, BG_STR_LIT("bg_slot"), &v)) {
            if (bg_str_eq(v, BG_STR_LIT("blue")))
                return BG_SLOT_BLUE;
            if (bg_str_eq(v, BG_STR_LIT("green")))
                return BG_SLOT_GREEN;
        }
        slot = bg_route_pick_slot(svc, bg_worker_rand(ex->w));
        if (slot >= 0)
            snprintf(ex->set_cookie, sizeof(ex->set_cookie), "bg_slot=%s; Path=/; HttpOnly",
                     bg_slot_str((bg_slot_t)slot));
        return slot;
    }
    return bg_route_pick_slot(svc, bg_worker_rand(ex->w));
}

static void make_request_id(bg_exchange_t *ex)
{
    const bg_http_header_t *h = bg_http_head_find(&ex->req, BG_HDR_REQUEST_ID);
    static const char hex[] = "0123456789abcdef";

    if (h && bg_http_request_id_is_valid(h->value)) {
        memcpy(ex->request_id, h->value.ptr, h->value.len > 39 ? 39 : h->value.len);
        ex->request_id_len = (uint8_t)(h->value.len > 39 ? 39 : h->value.len);
        if (h->value.len <= 39)
            return;
    }
    for (int k = 0; k < 4; k++) {
        uint32_t r = bg_worker_rand(ex->w);
        for (int i = 0; i < 8; i++)
            ex->request_id[k * 8 + i] = hex[(r >> (i * 4)) & 15];
    }
    ex->request_id_len = 32;
}

static void try_target(bg_exchange_t *ex)
{
    bg_worker_t *w = ex->w;
    bg_target_t *t;
    bg_pool_t *pool;
    bg_upstream_t *up;

    t = bg_route_pick_target(ex->svc, ex->slot, bg_worker_rand(w), ex->tried, ex->n_tried);
    if (ex->target) {
        atomic_fetch_sub_explicit(&ex->target->stats.active, 1, memory_order_relaxed);
        bg_traffic_record(&ex->target->stats, 0, bg_now_us() - ex->start_us);
        ex->target = NULL;
    }
    if (!t) {
        if (ex->attempts == 0)
            atomic_fetch_add_explicit(&ex->svc->stats->no_target, 1, memory_order_relaxed);
        answer_unavailable(ex, ex->attempts == 0 ? "no healthy target" : "targets unreachable");
        return;
    }
    ex->target = t;
    ex->up_start_us = bg_now_us();
    atomic_fetch_add_explicit(&t->stats.active, 1, memory_order_relaxed);
    pool = bg_pool_get(w, t);
    up = bg_pool_take(pool);
    if (up) {
        bg_exchange_upstream_ready(ex, up);
        return;
    }
    ex->phase = BG_EX_CONNECT;
    bg_upstream_connect(w, pool, ex);
}

/* RFC 9110 §9.2.2: the methods whose intended effect of several identical requests is
 * that of one. (Unknown tokens reach here as their own name: not idempotent.) */
static bool method_is_idempotent(bg_str_t m)
{
    static const char *const idem[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};

    for (size_t i = 0; i < sizeof(idem) / sizeof(idem[0]); i++)
        if (bg_str_eq(m, bg_str(idem[i])))
            return true;
    return false;
}

/* ACME HTTP-01 (RFC 8555 §8.3) on a plain listener: GET
 * /.well-known/acme-challenge/<token> of a pending challenge answers its key authorization
 * as text/plain, before the redirect and the routes. An unknown token goes on as any
 * request (the routes behind may have their own ACME client). HTTP/1.x only: CAs validate
 * over HTTP/1.1, and the answer is written as an HTTP/1.1 response. */
static bool acme_challenge(bg_exchange_t *ex)
{
    static const char acme[] = "/.well-known/acme-challenge/";
    bg_tls_challenges_t *tab = ex->w->proxy->opts.challenges;
    bg_http_head_t *req = &ex->req;
    bg_str_t path = path_only(req->path);
    char keyauth[512];
    size_t n;

    if (tab == NULL || ex->c->tls != NULL || ex->is_h2 || path.len <= sizeof(acme) - 1 ||
        memcmp(path.ptr, acme, sizeof(acme) - 1) != 0 ||
        !bg_str_eq(req->method, bg_str("GET")))
        return false;
    n = bg_tls_challenges_get(tab, path.ptr + sizeof(acme) - 1, path.len - (sizeof(acme) - 1),
                              keyauth, sizeof(keyauth));
    if (n == 0)
        return false;
    bg_client_local_text(ex->c, 200, keyauth, n);
    return true;
}

/* redirect_https (an ALB redirect action): Location https://HOST[:PORT]<target>, the
 * ACME HTTP-01 path (RFC 8555 §8.3) exempt so certificates can still be validated. */
static bool redirect_https(bg_exchange_t *ex)
{
    static const char acme[] = "/.well-known/acme-challenge/";
    const bg_proxy_options_t *o = &ex->w->proxy->opts;
    const bg_redirect_config_t *r = ex->c->listener == 0 ? &o->redirect : &o->test_redirect;
    bg_http_head_t *req = &ex->req;
    bg_str_t host = req->host;
    char loc[1024];
    int n;

    if (r->status == 0 || ex->c->tls != NULL ||
        (req->path.len >= sizeof(acme) - 1 && memcmp(req->path.ptr, acme, sizeof(acme) - 1) == 0))
        return false;
    if (host.len > 0 && host.ptr[0] == '[') { /* [v6]:port */
        const char *e = memchr(host.ptr, ']', host.len);
        host.len = e ? (size_t)(e - host.ptr) + 1 : host.len;
    } else {
        const char *e = memchr(host.ptr, ':', host.len);
        host.len = e ? (size_t)(e - host.ptr) : host.len;
    }
    if (host.len == 0) {
        static const char b[] = "{\"error\":\"no host to redirect to\"}";
        bg_client_local_response(ex->c, 400, b, sizeof(b) - 1, true);
        return true;
    }
    n = r->port == 443 || r->port == 0
            ? snprintf(loc, sizeof(loc), "https://%.*s%.*s", (int)host.len, host.ptr,
                       (int)req->path.len, req->path.ptr)
            : snprintf(loc, sizeof(loc), "https://%.*s:%u%.*s", (int)host.len, host.ptr,
                       (unsigned)r->port, (int)req->path.len, req->path.ptr);
    if (n < 0 || (size_t)n >= sizeof(loc)) {
        static const char b[] = "{\"error\":\"target too long to redirect\"}";
        bg_client_local_response(ex->c, 414, b, sizeof(b) - 1, true);
        return true;
    }
    bg_client_redirect(ex->c, r->status, (bg_str_t){loc, (size_t)n});
    return true;
}

void bg_exchange_dispatch(bg_exchange_t *ex)
{
    bg_worker_t *w = ex->w;
    bg_http_head_t *req = &ex->req;
    bg_http_fwd_t fwd;
    bg_str_t path = path_only(req->path);

    ex->start_us = bg_now_us();
    make_request_id(ex); /* before routing: a 404 or 503 line carries one too */
    if (w->proxy->opts.alog != NULL)
        bg_access_capture(ex);
    ex->req_keep_alive = req->keep_alive;
    ex->req_is_head = req->is_head;
    ex->req_http10 = req->minor == 0;
    ex->req_expect = req->expect_continue;
    ex->req_upgrade = req->upgrade;
    if (acme_challenge(ex) || redirect_https(ex))
        return;
    if (!w->cur || !(ex->svc = bg_route_match(w->cur->snap, req->host, path))) {
        answer_no_route(ex, req->host, path);
        return;
    }
    ex->sref = w->cur;
    ex->sref->inflight++;
    ex->slot = choose_slot(ex);
    if (ex->slot < 0) {
        ex->svc = ex->svc; /* no slot: unavailable, not counted per slot */
        answer_unavailable(ex, ex->c->listener == 1 || bg_http_head_find(req, BG_HDR_BG_SLOT)
                                   ? "no preview slot" : "no slot has weight");
        return;
    }
    fwd.client_ip = (bg_str_t){ex->c->ip, ex->c->ip_len};
    fwd.proto = ex->c->tls ? BG_STR_LIT("https") : BG_STR_LIT("http");
    fwd.request_id = (bg_str_t){ex->request_id, ex->request_id_len};
    fwd.tunnel = req->upgrade;
    fwd.h2 = ex->is_h2;
    bg_http_write_request(&ex->head_out, req, &fwd);
    ex->head_len = (uint32_t)ex->head_out.len;
    ex->replay_ok = true;
    ex->req_idempotent = method_is_idempotent(req->method);
    ex->counted = true;
    atomic_fetch_add_explicit(&ex->svc->stats->slot[ex->slot].active, 1, memory_order_relaxed);
    try_target(ex);
}

void bg_exchange_upstream_failed(bg_exchange_t *ex, int status, bool connect_failure)
{
    if (ex->up) {
        bg_upstream_t *up = ex->up;
        ex->up = NULL;
        up->ex = NULL;
        bg_upstream_close(up);
    }
    if (connect_failure && (status == UV_EMFILE || status == UV_ENFILE)) {
        /* our own fd shortage says nothing about the target: no passive failure */
        bg_log(BG_LOG_WARN, "proxy", "connect failed for lack of fds service=%s target=%s "
               "err=%s", ex->svc->name, ex->target->addr_str, bg_strerror(status));
    } else if (connect_failure) {
        bg_exchange_passive(ex, true);
        bg_log(BG_LOG_WARN, "proxy", "connect failed service=%s target=%s err=%s",
               ex->svc->name, ex->target->addr_str, bg_strerror(status));
    }
    if (ex->target && ex->n_tried < BG_MAX_TRIED)
        ex->tried[ex->n_tried++] = ex->target;
    ex->attempts++;
    ex->phase = BG_EX_CONNECT;
    if (ex->attempts > ex->svc->retries) {
        if (ex->target) {
            atomic_fetch_sub_explicit(&ex->target->stats.active, 1, memory_order_relaxed);
            bg_traffic_record(&ex->target->stats, 0, bg_now_us() - ex->start_us);
            ex->target = NULL;
        }
        answer_unavailable(ex, "targets unreachable");
        return;
    }
    try_target(ex);
}

/* Retries after request bytes were written (issue 9; docs/design.md §7 forbids resending a
 * non-idempotent request that a target may have processed):
 *
 * 1. The connection was REUSED from the pool and closed (EOF, ECONNRESET, EPIPE) before
 *    any response byte: the request is sent again on a fresh connection to the same
 *    target, whatever its method. This is the keep-alive race of RFC 9112 §9.3.1 and
 *    §9.6: a server closes an idle persistent connection (idle timeout, request limit)
 *    at the moment we send on it; the close was decided before our request arrived, so
 *    the request was never processed. Browsers resend any method in exactly this case
 *    (Chromium: a reused socket that fails with reset/closed/empty response), and a
 *    keep-alive pool in front of a server with a request limit relies on it. The residual
 *    risk is a server that reads a request on a reused connection, applies it and dies
 *    without a byte of response: that is indistinguishable on the wire, and is the
 *    accepted cost of persistent connections.
 * 2. Otherwise (a fresh connection, or the resend of 1 failed the same way) only an
 *    idempotent request (RFC 9110 §9.2.2) is sent again, once, to another target of the
 *    same slot; a non-idempotent one is answered 502 and never sent anywhere again.
 * A resend writes head_out again, which holds the head and every body byte forwarded so
 * far while the body stayed within BG_REPLAY_MAX; a longer body (or a write still pending
 * on the failed connection) makes the failure final (502). Response timeouts and failures
 * after a response byte are never retried. */
void bg_exchange_upstream_lost(bg_exchange_t *ex, int err)
{
    bg_worker_t *w = ex->w;
    bg_upstream_t *up = ex->up;
    bool reused = up && up->reused;
    bool can_resend = ex->c && !ex->rsp_any && !ex->rsp_started && ex->replay_ok &&
                      !ex->up_writing && ex->resends < BG_MAX_RESENDS;
    bg_target_t *t;

    if (up) {
        ex->up = NULL;
        up->ex = NULL;
        bg_upstream_close(up);
    }
    if (!ex->c) {
        bg_exchange_release(ex);
        return;
    }
    if (!reused)
        bg_exchange_passive(ex, true);
    if (can_resend && reused) {
        ex->resends++;
        bg_log(BG_LOG_DEBUG, "proxy", "pooled connection lost before a response, resending "
               "on a fresh one target=%s err=%s", ex->target->addr_str, bg_strerror(err));
        ex->phase = BG_EX_CONNECT;
        bg_upstream_connect(w, bg_pool_get(w, ex->target), ex);
        return;
    }
    if (!can_resend || !ex->req_idempotent || ex->other_target_tried) {
        bg_log(BG_LOG_WARN, "proxy", "target failed before a response service=%s target=%s "
               "err=%s resent=%s", ex->svc->name, ex->target ? ex->target->addr_str : "?",
               bg_strerror(err), !ex->req_idempotent ? "no (not idempotent)"
                                 : !ex->replay_ok ? "no (body not kept)" : "no");
        bg_exchange_fail(ex, 502, "target closed the connection");
        return;
    }
    ex->other_target_tried = true;
    if (ex->target && ex->n_tried < BG_MAX_TRIED)
        ex->tried[ex->n_tried++] = ex->target;
    t = bg_route_pick_target(ex->svc, ex->slot, bg_worker_rand(w), ex->tried, ex->n_tried);
    if (!t) {
        bg_exchange_fail(ex, 502, "target closed the connection");
        return;
    }
    ex->resends++;
    bg_log(BG_LOG_INFO, "proxy", "target failed before a response, resending idempotent "
           "request service=%s target=%s to=%s err=%s", ex->svc->name,
           ex->target ? ex->target->addr_str : "?", t->addr_str, bg_strerror(err));
    try_target(ex);
}

void bg_exchange_upstream_ready(bg_exchange_t *ex, bg_upstream_t *up)
{
    bg_outq_t *q = &ex->to_up;
    int rc;

    ex->up = up;
    up->ex = ex;
    ex->phase = BG_EX_BODY;
    ex->rsp_any = false;
    ex->sp.max_header_bytes = (uint32_t)ex->w->buf_size;
    ex->sp.max_body_bytes = 0;
    ex->sp.req_is_head = ex->req_is_head;
    bg_http_parser_init(&ex->sp, true, &ex->rsp, &bg_response_cbs, ex);
    bg_outq_reset(q);
    /* First send: the head alone (if a pooled connection turns out dead, nothing of the
     * body has been consumed). A resend: the head and the body bytes kept so far. */
    bg_outq_add(q, ex->head_out.data, ex->head_out.len);
    if (!ex->byte_sent)
        ex->bytes_in += ex->head_len;
    rc = bg_outq_flush(ex, false);
    if (rc < 0)
        return;
    ex->byte_sent = true;
    bg_upstream_update_reading(up);
    bg_upstream_start_response_timer(up);
    if (rc == 1)
        bg_exchange_pump_request(ex);
}

static void compact_client(bg_client_t *c)
{
    if (c->off == 0 || !c->buf)
        return;
    memmove(c->buf->data, c->buf->data + c->off, c->len - c->off);
    c->len -= c->off;
    c->off = 0;
}

void bg_exchange_pump_request(bg_exchange_t *ex)
{
    bg_client_t *c = ex->c;
    size_t used;

    if (ex->h2) {
        bg_h2_pump_request(ex);
        return;
    }
    if ((ex->req.framing == BG_BODY_NONE || ex->req_done) && ex->phase == BG_EX_BODY) {
        ex->phase = BG_EX_SENT; /* bodiless (or a resend of a whole request) */
        bg_client_update_reading(c);
        return;
    }
    while (ex->phase == BG_EX_BODY && !ex->up_writing) {
        bg_http_result_t r =
            bg_http_parser_execute(&ex->rp, c->buf->data + c->off, c->len - c->off, &used);
        c->off += (uint32_t)used;
        if (r == BG_HTTP_ERROR) {
            int st = ex->rp.status ? ex->rp.status : 400;
            ex->req_keep_alive = false;
            bg_exchange_fail(ex, st, st == 413 ? "body too large" : "bad request body");
            return;
        }
        if (r == BG_HTTP_DONE) {
            ex->phase = BG_EX_SENT;
            ex->req_done = true;
        }
        int rc = bg_outq_flush(ex, false);
        if (rc < 0)
            return;
        if (rc == 0)
            break;
        if (r == BG_HTTP_NEED_MORE) {
            compact_client(c);
            break;
        }
    }
    bg_client_update_reading(c);
}

void bg_exchange_keep(bg_exchange_t *ex, const char *p, size_t n)
{
    if (!ex->replay_ok)
        return;
    if (ex->head_out.len + n > ex->head_len + BG_REPLAY_MAX) {
        ex->replay_ok = false;
        return;
    }
    bg_buf_append(&ex->head_out, p, n);
}

static int req_on_body(void *arg, const char *p, size_t n)
{
    bg_exchange_t *ex = arg;

    bg_exchange_keep(ex, p, n);
    bg_outq_add(&ex->to_up, p, n);
    ex->bytes_in += n;
    return outq_full(&ex->to_up);
}

static int req_on_chunk_header(void *arg, uint64_t size)
{
    bg_exchange_t *ex = arg;
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRIx64 "\r\n", size);

    bg_exchange_keep(ex, tmp, (size_t)n);
    bg_outq_add_scratch(&ex->to_up, tmp, (size_t)n);
    return outq_full(&ex->to_up);
}

static int req_on_chunk_complete(void *arg)
{
    bg_exchange_t *ex = arg;

    bg_exchange_keep(ex, "\r\n", 2);
    bg_outq_add_scratch(&ex->to_up, "\r\n", 2);
    return outq_full(&ex->to_up);
}

static int req_on_message_complete(void *arg)
{
    bg_exchange_t *ex = arg;

    /* Trailers are dropped (RFC 9112 §7.1.2 allows it); the chunked framing is ours. */
    if (ex->req.framing == BG_BODY_CHUNKED) {
        bg_exchange_keep(ex, "0\r\n\r\n", 5);
        bg_outq_add_scratch(&ex->to_up, "0\r\n\r\n", 5);
    }
    return 0;
}

static const bg_http_body_cbs_t request_cbs = {
    .on_body = req_on_body,
    .on_chunk_header = req_on_chunk_header,
    .on_chunk_complete = req_on_chunk_complete,
    .on_message_complete = req_on_message_complete,
};
