/* Client connections: accept, read into a buffer borrowed from the worker only while a
 * request is in progress, parse request heads, hand them to an exchange, keep-alive and
 * pipelining (requests answered strictly in order: the next head is not parsed until the
 * current response is done), header/idle timeouts, and the lingering close after an error
 * (FIN first, then drain what the client still sends, so the error is not lost to RST). */
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/base.h"
#include "net/net.h"
#include "proxy/internal.h"
#include "base/compat.h"

static void client_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void client_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *out);

/* ---- timers ---- */

void bg_client_timer_start(bg_client_t *c, bg_tkind_t kind)
{
    c->tkind = (uint8_t)kind;
    bg_timer_start(c->w, &c->tn, kind);
}

void bg_client_timer_stop(bg_client_t *c)
{
    bg_timer_stop(&c->tn);
}

static void header_timeout(bg_client_t *c);
static void write_timeout(bg_client_t *c);

void bg_client_on_timer(bg_client_t *c, bg_tkind_t kind)
{
    if (kind == BG_CT_HEADER)
        header_timeout(c);
    else if (kind == BG_CT_WRITE)
        write_timeout(c);
    else if (kind == BG_CT_IDLE && c->h2)
        bg_h2_shutdown(c); /* GOAWAY first; the linger timer bounds the rest */
    else
        bg_client_close(c); /* idle, linger */
}

/* ---- close ---- */

static void client_closed_cb(uv_handle_t *h)
{
    bg_client_t *c = h->data;
    bg_worker_t *w = c->w;

    bg_worker_buf_put(w, c->buf);
    c->buf = NULL;
    bg_cio_free(c, c->timed_out);
    free(c);
    atomic_fetch_sub_explicit(&w->proxy->n_clients, 1, memory_order_relaxed);
    bg_worker_accept_resume(w);
    bg_worker_maybe_finish_stop(w);
}

void bg_client_close(bg_client_t *c)
{
    bg_worker_t *w = c->w;

    if (c->state == BG_CLIENT_CLOSING)
        return;
    c->state = BG_CLIENT_CLOSING;
    if (c->ex) {
        bg_exchange_t *ex = c->ex;
        c->ex = NULL;
        ex->c = NULL;
        bg_exchange_abort(ex);
    }
    bg_h2_client_close(c);
    bg_list_remove(&c->link);
    bg_client_timer_stop(c);
    bg_cio_close(c);
    atomic_fetch_sub_explicit(&w->n_clients, 1, memory_order_relaxed);
    uv_close((uv_handle_t *)&c->tcp, client_closed_cb);
}

void bg_client_close_idle_in(bg_client_t *c)
{
    bg_worker_t *w = c->w;

    /* The idle list's duration was shortened by the stop: re-arming moves <c> to its tail
     * with the new deadline; one already due sooner stays where it is (the list stays
     * ordered by deadline). */
    if (c->tkind == BG_CT_IDLE && !bg_list_is_empty(&c->tn.link) &&
        c->tn.deadline_ms <= uv_now(&w->loop) + w->tq_ms[BG_CT_IDLE])
        return;
    bg_client_timer_start(c, BG_CT_IDLE);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    bg_client_t *c = req->data;

    free(req);
    if (status < 0 && c->state != BG_CLIENT_CLOSING)
        bg_client_close(c);
}

/* RFC 9112 §9.6: half-close, then read and discard until the client closes or the linger
 * time passes, so a response sent before unread request bytes is not destroyed by RST. */
void bg_client_linger(bg_client_t *c)
{
    uv_shutdown_t *req;

    if (c->state == BG_CLIENT_CLOSING)
        return;
    if (c->ex) {
        bg_exchange_t *ex = c->ex;
        c->ex = NULL;
        ex->c = NULL;
        bg_exchange_abort(ex);
    }
    c->state = BG_CLIENT_LINGER;
    req = bg_xmalloc(sizeof(*req));
    req->data = c;
    if (bg_cio_shutdown(req, c, shutdown_cb) < 0) {
        free(req);
        bg_client_close(c);
        return;
    }
    bg_client_timer_start(c, BG_CT_LINGER);
    c->len = c->off = 0;
    if (!c->reading) {
        bg_cio_read_start(c, client_alloc_cb, client_read_cb);
        c->reading = true;
    }
}

static void client_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *out);

void bg_client_read_enable(bg_client_t *c, bool on)
{
    if (on && !c->reading)
        bg_cio_read_start(c, client_alloc_cb, client_read_cb);
    else if (!on && c->reading)
        bg_cio_read_stop(c);
    c->reading = on;
}

static bool is_lingering(const bg_client_t *c)
{
    return c->state == BG_CLIENT_LINGER;
}

static void client_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    bg_client_t *c = h->data;
    bg_worker_t *w = c->w;

    (void)suggested;
    if (!c->buf) {
        c->buf = bg_worker_buf_get(w);
        c->len = c->off = 0;
    }
    if (is_lingering(c))
        c->len = c->off = 0;
    out->base = c->buf->data + c->len;
    out->len = w->buf_size - c->len;
}

void bg_client_update_reading(bg_client_t *c)
{
    bool want = c->state != BG_CLIENT_CLOSING && (!c->buf || c->len < c->w->buf_size);

    if (c->state == BG_CLIENT_TUNNEL || c->state == BG_CLIENT_H2)
        return; /* tunnel.c, src/h2/ drive reading */
    if (want && !c->reading)
        bg_cio_read_start(c, client_alloc_cb, client_read_cb);
    else if (!want && c->reading)
        bg_cio_read_stop(c);
    c->reading = want;
}

static void release_buf_if_idle(bg_client_t *c)
{
    if (c->buf && c->state == BG_CLIENT_IDLE && c->off == c->len && !c->ex) {
        bg_worker_buf_put(c->w, c->buf);
        c->buf = NULL;
        c->len = c->off = 0;
    }
}

static void header_timeout(bg_client_t *c)
{
    /* RFC 9110 §15.5.9: 408 when a request was started; a silent client is just closed. */
    if (c->state == BG_CLIENT_HEAD && (c->len > c->off || (c->ex && c->ex->rp.consumed > 0)))
        bg_client_local_response(c, 408, "{\"error\":\"request header timeout\"}", 34, true);
    else {
        c->timed_out = true;
        bg_client_close(c);
    }
}

/* Bytes still on their way to the client: queued in libuv plus not yet acknowledged in
 * the kernel's send queue (which shrinks as the client reads, while libuv's queue may
 * stand still until the socket buffer drains by a third). */
static size_t unsent(bg_client_t *c)
{
    size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    uv_os_fd_t fd;
    int outq = 0;

    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 && ioctl(fd, SIOCOUTQ, &outq) == 0 &&
        outq > 0)
        q += (size_t)outq;
    return q;
}

static void write_timeout(bg_client_t *c)
{
    size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);

    if (q == 0)
        return;
    q = unsent(c);
    if (q < c->wq_last) {
        c->wq_last = (uint32_t)(q > UINT32_MAX ? UINT32_MAX : q); /* it reads, slowly */
        bg_client_timer_start(c, BG_CT_WRITE);
        return;
    }
    bg_log(BG_LOG_DEBUG, "proxy", "write timeout: client took nothing for %ums client=%.*s "
           "pending=%zu", c->w->cfg->write_timeout_ms, c->ip_len, c->ip, q);
    bg_client_close(c);
}

/* The client timer is free while an exchange runs (header and idle timers are stopped),
 * so it measures the write: every write_timeout the pending bytes must have shrunk. */
void bg_client_write_pending(bg_client_t *c)
{
    size_t q = unsent(c);

    c->wq_last = (uint32_t)(q > UINT32_MAX ? UINT32_MAX : q);
    bg_client_timer_start(c, BG_CT_WRITE);
}

void bg_client_write_done(bg_client_t *c)
{
    if (c->tkind == BG_CT_WRITE)
        bg_client_timer_stop(c);
}

static void local_written(bg_client_t *c)
{
    bg_exchange_t *ex = c->ex;
    bool close = ex->close_client;

    c->writing_local = false;
    c->ex = NULL;
    ex->c = NULL;
    bg_exchange_release(ex);
    if (close)
        bg_client_linger(c);
    else
        bg_client_exchange_done(c, true);
}

static void local_write_cb(uv_write_t *req, int status)
{
    bg_exchange_t *ex = req->data;

    ex->pending_writes--;
    if (ex->dead) {
        if (ex->pending_writes == 0)
            bg_exchange_release(ex);
        return;
    }
    if (status < 0) {
        bg_client_close(ex->c);
        return;
    }
    local_written(ex->c);
}

static void local_send(bg_client_t *c, int status, const char *body, size_t len, bool close,
                       bg_str_t location, const char *content_type);

void bg_client_local_response(bg_client_t *c, int status, const char *body, size_t len,
                              bool close)
{
    local_send(c, status, body, len, close, (bg_str_t){NULL, 0}, "application/json");
}

void bg_client_local_text(bg_client_t *c, int status, const char *body, size_t len)
{
    local_send(c, status, body, len, false, (bg_str_t){NULL, 0}, "text/plain");
}

void bg_client_redirect(bg_client_t *c, int status, bg_str_t location)
{
    static const char body[] = "{\"error\":\"use https\"}";

    local_send(c, status, body, sizeof(body) - 1, false, location, "application/json");
}

static void local_send(bg_client_t *c, int status, const char *body, size_t len, bool close,
                       bg_str_t location, const char *content_type)
{
    bg_exchange_t *ex;
    uv_buf_t b;
    int n;

    if (c->state == BG_CLIENT_CLOSING || is_lingering(c))
        return;
    if (!c->ex)
        c->ex = bg_exchange_new(c);
    ex = c->ex;
    if (ex->cl_writing) {
        bg_client_close(c); /* a relayed response is being written: cannot answer now */
        return;
    }
    bg_client_timer_stop(c);
    /* Reuse only when the whole request was consumed and its sender allows it. */
    if (ex->phase != BG_EX_SENT) {
        if (ex->req.head_bytes == 0 || ex->req.framing != BG_BODY_NONE || !ex->req.keep_alive)
            close = true;
    } else if (!ex->req_keep_alive) {
        close = true;
    }
    ex->close_client = close;
    ex->status = status;
    bg_buf_reset(&ex->rsp_out);
    bg_http_write_local_ct(&ex->rsp_out, status, content_type, body, len, close,
                           (bg_str_t){ex->request_id, ex->request_id_len}, location);
    c->writing_local = true;
    c->state = BG_CLIENT_BUSY;
    b = uv_buf_init(ex->rsp_out.data, (unsigned)ex->rsp_out.len);
    n = bg_cio_try_write(c, &b, 1);
    if (n == (int)b.len) {
        local_written(c);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        bg_client_close(c);
        return;
    }
    if (n > 0) {
        b.base += n;
        b.len -= (size_t)n;
    }
    ex->cl_wreq.data = ex;
    ex->pending_writes++;
    if (bg_cio_write(&ex->cl_wreq, c, &b, 1, local_write_cb) < 0) {
        ex->pending_writes--;
        bg_client_close(c);
        return;
    }
    bg_client_write_pending(c);
}

void bg_client_exchange_done(bg_client_t *c, bool reuse)
{
    bg_worker_t *w = c->w;

    c->ex = NULL;
    if (!reuse || w->stopping) {
        bg_client_linger(c);
        return;
    }
    c->state = BG_CLIENT_IDLE;
    if (c->off < c->len) {
        c->state = BG_CLIENT_HEAD;
        bg_client_timer_start(c, BG_CT_HEADER);
        bg_client_process(c);
        return;
    }
    release_buf_if_idle(c);
    bg_client_timer_start(c, BG_CT_IDLE);
    bg_client_update_reading(c);
}

static void compact(bg_client_t *c)
{
    if (c->off == 0)
        return;
    memmove(c->buf->data, c->buf->data + c->off, c->len - c->off);
    c->len -= c->off;
    c->off = 0;
}

static void parse_head(bg_client_t *c, bg_exchange_t *ex)
{
    size_t used;
    bg_http_result_t r;

    if (ex->rp.consumed == 0 && ex->req.method.ptr == NULL)
        compact(c); /* a head starts at the buffer's beginning, so it can use it all */
    r = bg_http_parser_execute(&ex->rp, c->buf->data + c->off, c->len - c->off, &used);
    c->off += (uint32_t)used;
    switch (r) {
    case BG_HTTP_NEED_MORE:
        if (c->len == c->w->buf_size) {
            bg_client_local_response(c, 431, "{\"error\":\"request header too large\"}", 36,
                                     true);
            return;
        }
        bg_client_update_reading(c);
        return;
    case BG_HTTP_HEAD_DONE:
        bg_client_timer_stop(c);
        c->state = BG_CLIENT_BUSY;
        bg_exchange_dispatch(ex);
        return;
    default: {
        char body[160];
        int st = ex->rp.status ? ex->rp.status : 400;
        int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}",
                         ex->rp.reason && !strchr(ex->rp.reason, '"') ? ex->rp.reason
                                                                     : "bad request");
        bg_log(BG_LOG_DEBUG, "proxy", "bad request status=%d reason=\"%s\" client=%.*s", st,
               ex->rp.reason ? ex->rp.reason : "", c->ip_len, c->ip);
        c->off = c->len; /* nothing of it is forwarded or parsed again */
        bg_client_local_response(c, st, body, (size_t)n, true);
        return;
    }
    }
}

void bg_client_process(bg_client_t *c)
{
    bg_exchange_t *ex;

    if (c->state == BG_CLIENT_CLOSING || is_lingering(c) || c->writing_local)
        return;
    if (!c->ex) {
        if (c->off == c->len) {
            bg_client_update_reading(c);
            return;
        }
        if (c->h2c_check) {
            /* TLS: the client chose "h2" by ALPN (RFC 9113 §3.2); plain: h2c with prior
             * knowledge (§3.3), the preface starts the connection */
            const char *alpn = bg_cio_alpn(c);
            int m = c->tls ? (alpn && strcmp(alpn, "h2") == 0 ? 1 : -1)
                           : bg_h2_preface_match(c->buf->data + c->off, c->len - c->off);
            if (m == 0) {
                bg_client_update_reading(c);
                return;
            }
            c->h2c_check = false;
            if (m == 1) {
                bg_h2_start(c);
                return;
            }
        }
        c->ex = bg_exchange_new(c);
        c->state = BG_CLIENT_HEAD;
    }
    ex = c->ex;
    switch (ex->phase) {
    case BG_EX_HEAD:
        parse_head(c, ex);
        return;
    case BG_EX_BODY:
        bg_exchange_pump_request(ex);
        return;
    default:
        bg_client_update_reading(c);
        return;
    }
}

static void client_eof(bg_client_t *c)
{
    bg_exchange_t *ex = c->ex;

    /* A client that half-closes after a complete request still gets its response. */
    if (ex && ex->phase == BG_EX_SENT && !ex->rsp_done) {
        ex->close_client = true;
        bg_cio_read_stop(c);
        c->reading = false;
        c->len = c->w->buf_size; /* keeps update_reading from restarting */
        c->off = c->len;
        return;
    }
    bg_client_close(c);
}

static void client_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    bg_client_t *c = s->data;

    (void)buf;
    if (is_lingering(c)) {
        c->len = c->off = 0;
        if (nread < 0)
            bg_client_close(c);
        return;
    }
    if (nread == 0) {
        release_buf_if_idle(c);
        return;
    }
    if (nread < 0) {
        if (nread != UV_EOF)
            bg_log(BG_LOG_DEBUG, "proxy", "client read error err=%s len=%u off=%u state=%d",
                   uv_err_name((int)nread), c->len, c->off, c->state);
        if (c->state == BG_CLIENT_TUNNEL)
            bg_tunnel_client_read(c, nread);
        else if (c->state == BG_CLIENT_H2)
            bg_h2_client_read(c, nread);
        else
            client_eof(c);
        return;
    }
    if (c->state == BG_CLIENT_TUNNEL) {
        bg_tunnel_client_read(c, nread);
        return;
    }
    c->len += (uint32_t)nread;
    if (c->state == BG_CLIENT_H2) {
        bg_h2_client_read(c, nread);
        return;
    }
    if (c->state == BG_CLIENT_IDLE) {
        c->state = BG_CLIENT_HEAD;
        bg_client_timer_start(c, BG_CT_HEADER);
    }
    bg_client_process(c);
    /* whatever path ran, never keep reading into a full buffer (libuv would ENOBUFS) */
    bg_client_update_reading(c);
}

void bg_client_accept(bg_worker_t *w, int fd, const struct sockaddr *peer, uint8_t listener)
{
    bg_client_t *c = BG_NEW(bg_client_t);

    c->w = w;
    c->listener = listener;
    uv_tcp_init(&w->loop, &c->tcp);
    c->tcp.data = c;
    bg_list_init(&c->tn.link);
    bg_list_insert_tail(&w->clients, &c->link);
    atomic_fetch_add_explicit(&w->n_clients, 1, memory_order_relaxed);
    if (uv_tcp_open(&c->tcp, fd) < 0) {
        close(fd);
        bg_client_close(c);
        return;
    }
    if (w->stopping) {
        bg_client_close(c);
        return;
    }
    bg_net_nodelay(fd);
    bg_cio_accept(c, listener == 0 ? w->proxy->opts.tls : w->proxy->opts.test_tls);
    c->ip_len = (uint8_t)bg_net_ip_format(peer, c->ip, sizeof(c->ip));
    c->state = BG_CLIENT_IDLE;
    c->h2c_check = c->tls ? w->cfg->h2_alpn : w->cfg->h2c;
    bg_client_timer_start(c, BG_CT_HEADER);
    bg_client_update_reading(c);
}
