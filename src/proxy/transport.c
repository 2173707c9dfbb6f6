/* The client's byte stream: plain TCP, or TLS (src/tls/) on the same uv_tcp_t, behind
 * calls shaped like libuv's (read start/stop with alloc and read callbacks, try_write,
 * write with a callback, shutdown), so client.c, exchange.c, response.c and tunnel.c do
 * not know which one they talk to. A plain client costs one branch per call.
 *
 * TLS: ciphertext read from the socket lands in a per-worker scratch buffer and goes into
 * the engine; plaintext comes out into the buffer the caller's alloc callback gives, as
 * libuv would read it. Backpressure is kept: while the caller does not read, the socket is
 * not read (at most one scratch buffer of ciphertext waits in the engine); ciphertext to
 * send is tried on the socket at once and only what the kernel refused is copied into a
 * write request, and while one is pending try_write refuses (UV_EAGAIN) so the caller
 * waits for its write callback. Plaintext the engine still holds when the caller starts
 * reading again is delivered from a per-worker idle handle, never re-entrantly.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "proxy/internal.h"
#include "base/compat.h"

/* 16 KiB records + header and tag; two of them per socket read. */
#define TLS_IN_BYTES (2 * (16384 + 512))

/* Ciphertext the socket did not take at once, with its write request. */
typedef struct tls_chunk {
    uv_write_t req;
    bg_client_t *c;
    size_t len;
    char data[];
} tls_chunk_t;

struct bg_client_tls {
    bg_client_t *c;             /* owner */
    bg_tls_conn_t conn;
    uv_alloc_cb alloc_cb;
    uv_read_cb read_cb;
    bool want_read;             /* the caller reads */
    bool sock_reading;
    bool closed;                /* bg_cio_close() ran: no more callbacks to the caller */
    bool eof;                   /* the socket reported EOF or an error (eof_err) */
    int eof_err;
    unsigned inflight;          /* tls_chunk_t writes pending */
    uv_write_t *user_req;       /* a bg_cio_write() waiting for every chunk to be written */
    uv_write_cb user_cb;
    int write_err;
    bg_list_t ready_link;       /* in w->tls_ready while input waits for delivery */
};

static void deliver(bg_client_t *c);

/* ---- worker ---- */

static void idle_cb(uv_idle_t *h)
{
    bg_worker_t *w = h->data;

    while (!bg_list_is_empty(&w->tls_ready)) {
        bg_client_tls_t *t = BG_CONTAINER_OF(w->tls_ready.next, bg_client_tls_t, ready_link);

        bg_list_remove(&t->ready_link);
        bg_list_init(&t->ready_link);
        deliver(t->c);
    }
    uv_idle_stop(h);
}

void bg_transport_worker_init(bg_worker_t *w)
{
    bg_list_init(&w->tls_ready);
    uv_idle_init(&w->loop, &w->tls_idle);
    w->tls_idle.data = w;
    bg_buf_init(&w->tls_out);
    w->tls_in = NULL;
}

void bg_transport_worker_close(bg_worker_t *w)
{
    if (!uv_is_closing((uv_handle_t *)&w->tls_idle))
        uv_close((uv_handle_t *)&w->tls_idle, NULL);
}

void bg_transport_worker_fini(bg_worker_t *w)
{
    bg_buf_fini(&w->tls_out);
    free(w->tls_in);
    w->tls_in = NULL;
}

static void kick(bg_client_t *c)
{
    bg_client_tls_t *t = c->tls;
    bg_worker_t *w = c->w;

    if (!bg_list_is_empty(&t->ready_link))
        return;
    bg_list_insert_tail(&w->tls_ready, &t->ready_link);
    uv_idle_start(&w->tls_idle, idle_cb);
}

/* ---- writing ciphertext ---- */

static void chunk_done(uv_write_t *req, int status)
{
    tls_chunk_t *ch = req->data;
    bg_client_t *c = ch->c;
    bg_client_tls_t *t = c->tls;
    uv_write_t *u = NULL;

    free(ch);
    t->inflight--;
    if (status < 0 && t->write_err == 0)
        t->write_err = status;
    if (t->inflight == 0 && t->user_req != NULL) {
        u = t->user_req;
        t->user_req = NULL;
        t->user_cb(u, t->write_err);
    }
}

/* Sends the engine's waiting output: tried on the socket first unless writes are already
 * queued (order), the rest in one write request. <force_queue>: never try (a caller's
 * bg_cio_write wants its callback from libuv). Returns 0 or a negative code. */
static int flush(bg_client_t *c, bool force_queue)
{
    bg_client_tls_t *t = c->tls;
    bg_buf_t *out = &c->w->tls_out;
    size_t off = 0;
    tls_chunk_t *ch;
    uv_buf_t b;
    int n;

    if (bg_tls_conn_output_len(&t->conn) == 0)
        return t->write_err;
    bg_buf_reset(out);
    bg_tls_conn_take_output(&t->conn, out);
    if (t->write_err != 0 || t->closed)
        return t->write_err ? t->write_err : UV_ECANCELED;
    if (t->inflight == 0 && !force_queue) {
        b = uv_buf_init(out->data, (unsigned)out->len);
        n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n < 0 && n != UV_EAGAIN)
            return t->write_err = n;
        off = n > 0 ? (size_t)n : 0;
        if (off == out->len)
            return 0;
    }
    ch = bg_xmalloc(sizeof(*ch) + out->len - off);
    ch->c = c;
    ch->len = out->len - off;
    memcpy(ch->data, out->data + off, ch->len);
    ch->req.data = ch;
    b = uv_buf_init(ch->data, (unsigned)ch->len);
    n = uv_write(&ch->req, (uv_stream_t *)&c->tcp, &b, 1, chunk_done);
    if (n < 0) {
        free(ch);
        return t->write_err = n;
    }
    t->inflight++;
    return 0;
}

/* ---- reading ---- */

static void tls_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    bg_client_t *c = h->data;
    bg_worker_t *w = c->w;

    (void)suggested;
    if (w->tls_in == NULL)
        w->tls_in = bg_xmalloc(TLS_IN_BYTES);
    out->base = w->tls_in;
    out->len = TLS_IN_BYTES;
}

static void tls_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void sock_read(bg_client_t *c, bool on)
{
    bg_client_tls_t *t = c->tls;

    if (on && !t->sock_reading && !t->eof)
        t->sock_reading = uv_read_start((uv_stream_t *)&c->tcp, tls_alloc, tls_on_read) == 0;
    else if (!on && t->sock_reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        t->sock_reading = false;
    }
}

/* Hands plaintext to the caller while it reads; runs the handshake on the way. */
static void deliver(bg_client_t *c)
{
    bg_client_tls_t *t = c->tls;
    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    uv_buf_t buf;
    ssize_t n;

    while (!t->closed && t->want_read) {
        buf = uv_buf_init(NULL, 0);
        t->alloc_cb((uv_handle_t *)s, 65536, &buf);
        if (buf.base == NULL || buf.len == 0) {
            t->read_cb(s, UV_ENOBUFS, &buf);
            return;
        }
        n = bg_tls_conn_read(&t->conn, buf.base, buf.len);
        if (flush(c, false) < 0 && n >= 0)
            n = UV_EPIPE;
        if (n == 0 && t->eof)
            n = t->eof_err;
        if (n == BG_TLS_EOF)
            n = UV_EOF;
        t->read_cb(s, n, &buf);
        /* nothing more to decrypt: the next socket read continues (saves a futile
         * SSL_read per request) */
        if (n <= 0 || (!t->eof && !bg_tls_conn_has_input(&t->conn)))
            return;
    }
}

static void tls_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    bg_client_t *c = s->data;
    bg_client_tls_t *t = c->tls;

    if (nread > 0)
        bg_tls_conn_feed(&t->conn, buf->base, (size_t)nread);
    else if (nread < 0) {
        t->eof = true;
        t->eof_err = (int)nread;
        sock_read(c, false);
    } else {
        return;
    }
    deliver(c);
}

/* ---- the calls ---- */

void bg_cio_accept(bg_client_t *c, bg_tls_t *tls)
{
    bg_client_tls_t *t;

    if (tls == NULL)
        return;
    t = bg_xcalloc(1, sizeof(*t));
    t->c = c;
    bg_tls_conn_init(&t->conn, tls);
    bg_list_init(&t->ready_link);
    c->tls = t;
}

int bg_cio_read_start(bg_client_t *c, uv_alloc_cb alloc_cb, uv_read_cb read_cb)
{
    bg_client_tls_t *t = c->tls;

    if (t == NULL)
        return uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    t->alloc_cb = alloc_cb;
    t->read_cb = read_cb;
    t->want_read = true;
    sock_read(c, true);
    if (bg_tls_conn_has_input(&t->conn) || t->eof)
        kick(c);
    return 0;
}

void bg_cio_read_stop(bg_client_t *c)
{
    bg_client_tls_t *t = c->tls;

    if (t == NULL) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        return;
    }
    t->want_read = false;
    sock_read(c, false);
}

static int encrypt(bg_client_t *c, const uv_buf_t *bufs, unsigned n, size_t *total)
{
    bg_client_tls_t *t = c->tls;

    *total = 0;
    if (!t->conn.handshake_done || t->write_err != 0)
        return t->write_err ? t->write_err : UV_ENOTCONN;
    for (unsigned i = 0; i < n; i++) {
        if (bg_tls_conn_write(&t->conn, bufs[i].base, bufs[i].len) != 0)
            return UV_EPROTO;
        *total += bufs[i].len;
    }
    return 0;
}

int bg_cio_try_write(bg_client_t *c, const uv_buf_t *bufs, unsigned n)
{
    bg_client_tls_t *t = c->tls;
    size_t total;
    int rc;

    if (t == NULL)
        return uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
    if (t->inflight > 0 || t->user_req != NULL)
        return UV_EAGAIN;
    if ((rc = encrypt(c, bufs, n, &total)) < 0 || (rc = flush(c, false)) < 0)
        return rc;
    return (int)total; /* all taken: what the socket refused is queued in order */
}

int bg_cio_write(uv_write_t *req, bg_client_t *c, const uv_buf_t *bufs, unsigned n,
                 uv_write_cb cb)
{
    bg_client_tls_t *t = c->tls;
    size_t total;
    int rc;

    if (t == NULL)
        return uv_write(req, (uv_stream_t *)&c->tcp, bufs, n, cb);
    BG_ASSERT(t->user_req == NULL);
    if ((rc = encrypt(c, bufs, n, &total)) < 0 || (rc = flush(c, true)) < 0)
        return rc;
    t->user_req = req;
    t->user_cb = cb;
    BG_ASSERT(t->inflight > 0 || total == 0);
    if (t->inflight == 0) { /* nothing to write: libuv would still call back later */
        tls_chunk_t *ch = bg_xmalloc(sizeof(*ch));
        uv_buf_t b = uv_buf_init(ch->data, 0);
        ch->c = c;
        ch->req.data = ch;
        t->inflight++;
        uv_write(&ch->req, (uv_stream_t *)&c->tcp, &b, 1, chunk_done);
    }
    return 0;
}

int bg_cio_shutdown(uv_shutdown_t *req, bg_client_t *c, uv_shutdown_cb cb)
{
    bg_client_tls_t *t = c->tls;

    if (t != NULL) {
        bg_tls_conn_shutdown(&t->conn); /* close_notify, queued before the FIN */
        (void)flush(c, false);
    }
    return uv_shutdown(req, (uv_stream_t *)&c->tcp, cb);
}

const char *bg_cio_alpn(const bg_client_t *c)
{
    return c->tls && c->tls->conn.alpn_len ? c->tls->conn.alpn : NULL;
}

void bg_cio_close(bg_client_t *c)
{
    bg_client_tls_t *t = c->tls;

    if (t == NULL)
        return;
    t->closed = true;
    t->want_read = false;
    if (!bg_list_is_empty(&t->ready_link)) {
        bg_list_remove(&t->ready_link);
        bg_list_init(&t->ready_link);
    }
}

void bg_cio_free(bg_client_t *c, bool timed_out)
{
    bg_client_tls_t *t = c->tls;

    if (t == NULL)
        return;
    bg_tls_conn_fini(&t->conn, timed_out ? BG_TLS_FAIL_TIMEOUT : BG_TLS_FAIL_CLOSED);
    free(t);
    c->tls = NULL;
}
