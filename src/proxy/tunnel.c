/* Upgrade tunnels (WebSocket and friends): after the target's 101 reaches the client,
 * bytes flow unchanged both ways. Each direction has one write in flight at most; while
 * it is pending the source is not read (backpressure). Either side closing ends both. */
#include <string.h>

#include "base/base.h"
#include "proxy/internal.h"
#include "base/compat.h"

static void tunnel_write_cb(uv_write_t *req, int status);

static void set_reading_client(bg_client_t *c, bool on);
static void set_reading_up(bg_upstream_t *up, bool on);

/* Writes [off, len) of the source buffer to the other side. Returns false when the
 * tunnel was torn down. */
static bool forward(bg_exchange_t *ex, bool from_client)
{
    bg_client_t *c = ex->c;
    bg_upstream_t *up = ex->up;
    bg_iobuf_t *b = from_client ? c->buf : up->buf;
    uint32_t *off = from_client ? &c->off : &up->off;
    uint32_t *len = from_client ? &c->len : &up->len;
    uv_stream_t *dst = (uv_stream_t *)&up->tcp; /* from the client; else c via transport.c */
    uv_write_t *req = from_client ? &ex->up_wreq : &ex->cl_wreq;
    uv_buf_t buf;
    int n;

    if (!b || *off == *len) {
        *off = *len = 0;
        return true;
    }
    buf = uv_buf_init(b->data + *off, *len - *off);
    n = from_client ? uv_try_write(dst, &buf, 1) : bg_cio_try_write(c, &buf, 1);
    if (n == (int)buf.len) {
        *off = *len = 0;
        return true;
    }
    if (n < 0 && n != UV_EAGAIN) {
        bg_client_close(c);
        return false;
    }
    if (n > 0) {
        buf.base += n;
        buf.len -= (size_t)n;
    }
    *off = *len; /* the rest is owned by the write until its callback */
    req->data = ex;
    ex->pending_writes++;
    if (from_client) {
        ex->up_writing = true;
        set_reading_client(c, false);
    } else {
        ex->cl_writing = true;
        set_reading_up(up, false);
    }
    if (from_client) {
        uv_write(req, dst, &buf, 1, tunnel_write_cb);
    } else if (bg_cio_write(req, c, &buf, 1, tunnel_write_cb) < 0) {
        ex->pending_writes--;
        ex->cl_writing = false;
        bg_client_close(c);
        return false;
    }
    return true;
}

static void tunnel_write_cb(uv_write_t *req, int status)
{
    bg_exchange_t *ex = req->data;
    bool to_up = req == &ex->up_wreq;

    ex->pending_writes--;
    if (to_up)
        ex->up_writing = false;
    else
        ex->cl_writing = false;
    if (ex->dead) {
        if (ex->pending_writes == 0)
            bg_exchange_release(ex);
        return;
    }
    if (status < 0) {
        bg_client_close(ex->c);
        return;
    }
    if (to_up) {
        ex->c->off = ex->c->len = 0;
        set_reading_client(ex->c, true);
    } else {
        ex->up->off = ex->up->len = 0;
        set_reading_up(ex->up, true);
    }
}

static void tunnel_alloc_up(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    bg_upstream_t *up = h->data;

    (void)suggested;
    if (!up->buf) {
        up->buf = bg_worker_buf_get(up->w);
        up->len = up->off = 0;
    }
    out->base = up->buf->data + up->len;
    out->len = up->w->buf_size - up->len;
}

static void tunnel_read_up(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread != 0)
        bg_tunnel_upstream_read(s->data, nread);
}

static void set_reading_up(bg_upstream_t *up, bool on)
{
    if (on && !up->reading)
        uv_read_start((uv_stream_t *)&up->tcp, tunnel_alloc_up, tunnel_read_up);
    else if (!on && up->reading)
        uv_read_stop((uv_stream_t *)&up->tcp);
    up->reading = on;
}

static void set_reading_client(bg_client_t *c, bool on)
{
    /* client.c's read callbacks route TUNNEL state here; only start/stop is needed */
    if (on && !c->reading) {
        c->state = BG_CLIENT_IDLE;
        bg_client_update_reading(c);
        c->state = BG_CLIENT_TUNNEL;
    } else if (!on && c->reading) {
        bg_cio_read_stop(c);
        c->reading = false;
    }
}

void bg_tunnel_start(bg_exchange_t *ex)
{
    bg_client_t *c = ex->c;
    bg_upstream_t *up = ex->up;

    c->state = BG_CLIENT_TUNNEL;
    up->state = BG_UP_TUNNEL;
    bg_client_timer_stop(c);
    bg_timer_stop(&up->tn);
    if (up->reading) {
        uv_read_stop((uv_stream_t *)&up->tcp);
        up->reading = false;
    }
    /* bytes that followed the 101 / the upgrade request belong to the new protocol */
    if (!forward(ex, false))
        return;
    if (!ex->cl_writing)
        set_reading_up(up, true);
    if (!forward(ex, true))
        return;
    if (!ex->up_writing)
        set_reading_client(c, true);
}

void bg_tunnel_client_read(bg_client_t *c, ssize_t nread)
{
    bg_exchange_t *ex = c->ex;

    if (nread < 0 || !ex || !ex->up) {
        bg_client_close(c);
        return;
    }
    c->len += (uint32_t)nread;
    forward(ex, true);
}

void bg_tunnel_upstream_read(bg_upstream_t *up, ssize_t nread)
{
    bg_exchange_t *ex = up->ex;

    if (!ex || !ex->c) {
        bg_upstream_close(up);
        return;
    }
    if (nread < 0) {
        bg_client_close(ex->c);
        return;
    }
    up->len += (uint32_t)nread;
    forward(ex, false);
}
