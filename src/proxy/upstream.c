/* Connections to targets: connect with a timeout, read into a worker buffer only while
 * serving an exchange (idle pooled connections read into a tiny sink just to notice a
 * close), the response timeout, and close. */
#include <string.h>

#include "base/base.h"
#include "proxy/internal.h"
#include "base/compat.h"

static void up_closed_cb(uv_handle_t *h)
{
    bg_upstream_t *up = h->data;

    bg_worker_buf_put(up->w, up->buf);
    atomic_fetch_sub_explicit(&up->w->proxy->n_upstreams, 1, memory_order_relaxed);
    free(up);
}

void bg_upstream_close(bg_upstream_t *up)
{
    if (up->state == BG_UP_CLOSING)
        return;
    up->state = BG_UP_CLOSING;
    up->ex = NULL;
    bg_pool_detach(up);
    bg_timer_stop(&up->tn);
    uv_close((uv_handle_t *)&up->tcp, up_closed_cb);
}

static void up_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    bg_upstream_t *up = h->data;
    bg_worker_t *w = up->w;

    (void)suggested;
    if (up->state == BG_UP_IDLE) {
        out->base = w->scratch;
        out->len = sizeof(w->scratch);
        return;
    }
    if (!up->buf) {
        up->buf = bg_worker_buf_get(w);
        up->len = up->off = 0;
    }
    out->base = up->buf->data + up->len;
    out->len = w->buf_size - up->len;
}

static void up_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    bg_upstream_t *up = s->data;
    bg_exchange_t *ex = up->ex;

    (void)buf;
    if (nread == 0)
        return;
    switch (up->state) {
    case BG_UP_IDLE:
        /* a pooled connection must stay silent: a close or stray bytes retire it */
        bg_upstream_close(up);
        return;
    case BG_UP_TUNNEL:
        bg_tunnel_upstream_read(up, nread);
        return;
    case BG_UP_ACTIVE:
        break;
    default:
        return;
    }
    if (!ex) {
        bg_upstream_close(up);
        return;
    }
    if (nread < 0) {
        uv_read_stop(s);
        up->reading = false;
        bg_response_eof(ex, (int)nread);
        return;
    }
    ex->rsp_any = true;
    up->len += (uint32_t)nread;
    bg_response_pump(ex);
    if (up->state == BG_UP_ACTIVE)
        bg_upstream_update_reading(up); /* never read into a full buffer */
}

void bg_upstream_update_reading(bg_upstream_t *up)
{
    bool want;

    if (up->state == BG_UP_CLOSING || up->state == BG_UP_CONNECTING || up->state == BG_UP_TUNNEL)
        return;
    want = up->state == BG_UP_IDLE || !up->buf || up->len < up->w->buf_size;
    if (want && !up->reading)
        uv_read_start((uv_stream_t *)&up->tcp, up_alloc_cb, up_read_cb);
    else if (!want && up->reading)
        uv_read_stop((uv_stream_t *)&up->tcp);
    up->reading = want;
}

void bg_upstream_start_response_timer(bg_upstream_t *up)
{
    bg_timer_start(up->w, &up->tn, BG_UT_RESPONSE);
}

void bg_upstream_on_timer(bg_upstream_t *up, bg_tkind_t kind)
{
    switch (kind) {
    case BG_UT_RESPONSE:
        if (up->ex)
            bg_response_timeout(up->ex);
        return;
    case BG_UT_CONNECT:
        if (!up->ex)
            bg_upstream_close(up);
        else
            bg_exchange_upstream_failed(up->ex, UV_ETIMEDOUT, true);
        return;
    default:
        bg_upstream_close(up); /* idle in its pool too long */
        return;
    }
}

static void connect_cb(uv_connect_t *req, int status)
{
    bg_upstream_t *up = req->data;
    bg_exchange_t *ex = up->ex;

    if (status == UV_ECANCELED || up->state == BG_UP_CLOSING)
        return;
    bg_timer_stop(&up->tn);
    if (status < 0) {
        if (ex)
            bg_exchange_upstream_failed(ex, status, true);
        else
            bg_upstream_close(up);
        return;
    }
    uv_tcp_nodelay(&up->tcp, 1);
    up->state = BG_UP_ACTIVE;
    if (!ex) {
        /* the client left while we connected: keep the connection for the next one */
        bg_pool_put(up);
        return;
    }
    bg_exchange_upstream_ready(ex, up);
}

bg_upstream_t *bg_upstream_connect(bg_worker_t *w, bg_pool_t *pool, bg_exchange_t *ex)
{
    bg_upstream_t *up;
    bg_target_t *t = pool->target;
    int rc;

    /* At the upstream fd budget, an idle pooled connection makes room first. */
    if (atomic_load_explicit(&w->proxy->n_upstreams, memory_order_relaxed) >=
        w->proxy->upstream_max)
        (void)bg_pool_shed_idle(w);
    atomic_fetch_add_explicit(&w->proxy->n_upstreams, 1, memory_order_relaxed);
    up = BG_NEW(bg_upstream_t);

    up->w = w;
    up->pool = pool;
    up->state = BG_UP_CONNECTING;
    bg_list_init(&up->idle_link);
    bg_list_insert_tail(&pool->conns, &up->link);
    pool->n_conns++;
    atomic_fetch_add_explicit(&t->conns, 1, memory_order_relaxed);
    uv_tcp_init(&w->loop, &up->tcp);
    up->tcp.data = up;
    bg_list_init(&up->tn.link);
    up->connect_req.data = up;
    up->ex = ex;
    ex->up = up;
    rc = uv_tcp_connect(&up->connect_req, &up->tcp, (const struct sockaddr *)&t->addr, connect_cb);
    if (rc < 0) {
        bg_exchange_upstream_failed(ex, rc, true);
        return NULL;
    }
    bg_timer_start(w, &up->tn, BG_UT_CONNECT);
    return up;
}
