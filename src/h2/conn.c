/* The HTTP/2 session of one client connection: nghttp2 server session, reading and
 * writing the socket (the frames every stream produced in one loop turn go out in one
 * write from the flush handle, after the turn's I/O callbacks; one write in flight;
 * reading pauses while it is pending, so a peer that does not read cannot make us
 * queue), the flood defences, GOAWAY at stop, idle timeout and fatal errors. Never
 * blocks; never calls into an exchange from inside an nghttp2 callback of mem_send
 * (continuations run from the idle handle).
 */
#include "h2/h2.h"

#include <pthread.h>
#include <string.h>

#include "h2/internal.h"
#include "proxy/internal.h"
#include "base/compat.h"

/* Our SETTINGS and windows. The stream window bounds what one stream buffers before the
 * target took it; the connection window bounds the sum over streams. */
#define STREAM_WINDOW 65535
#define CONN_WINDOW (1024 * 1024)
/* Bytes of frames gathered before a write. */
#define OUT_MAX (64 * 1024)
/* CONTINUATION frames allowed after one HEADERS (CVE-2024-27316): a field list within
 * max_header_size fits in far fewer at the default 16 KiB frame size. */
#define MAX_CONTINUATIONS 16
/* SETTINGS_MAX_CONCURRENT_STREAMS travels under this private id through nghttp2, which
 * ignores unknown settings, and is renamed in our first frame (see patch_settings()). */
#define SETTINGS_OURS_MAX_STREAMS 0xb6c3

/* Flood budgets: burst, then refill per second (docs/http2.md, "Defences"). Well-behaved
 * clients send a PING or SETTINGS now and then and cancel a few streams; the floods of
 * CVE-2023-44487 and CVE-2019-9512/9515/9518 send thousands per second. */
static const struct {
    double burst, rate;
    const char *why;
} floods[BG_H2_FLOODS] = {
    [BG_H2_FLOOD_RST] = {200, 50, "rapid reset (RST_STREAM flood)"},
    [BG_H2_FLOOD_PING] = {50, 10, "PING flood"},
    [BG_H2_FLOOD_SETTINGS] = {50, 10, "SETTINGS flood"},
    [BG_H2_FLOOD_EMPTY] = {100, 20, "empty frame flood"},
};

static nghttp2_session_callbacks *callbacks;
static nghttp2_option *options;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void conn_teardown(bg_h2_conn_t *h);
static void conn_close_handles(bg_h2_conn_t *h);
static int write_out(bg_h2_conn_t *h);
static void defer_end(bg_h2_conn_t *h, int rv);
static void conn_fatal(bg_h2_conn_t *h, int rv);

int bg_h2_preface_match(const char *p, size_t n)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    size_t k = n < BG_H2_PREFACE_LEN ? n : BG_H2_PREFACE_LEN;

    if (memcmp(p, preface, k) != 0)
        return -1;
    return n >= BG_H2_PREFACE_LEN ? 1 : 0;
}

/* ---- defences ---- */

bool bg_h2_conn_budget(bg_h2_conn_t *h, bg_h2_flood_t kind)
{
    bg_h2_bucket_t *b = &h->flood[kind];
    uint64_t now = uv_now(&h->c->w->loop);

    if (b->at_ms == 0) {
        b->tokens = floods[kind].burst;
    } else {
        b->tokens += (double)(now - b->at_ms) * floods[kind].rate / 1000.0;
        if (b->tokens > floods[kind].burst)
            b->tokens = floods[kind].burst;
    }
    b->at_ms = now ? now : 1;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    h->calm_code = NGHTTP2_ENHANCE_YOUR_CALM;
    h->calm_why = floods[kind].why;
    return false;
}

/* ---- nghttp2 callbacks ---- */

static bg_h2_stream_t *stream_of(nghttp2_session *s, int32_t id)
{
    return nghttp2_session_get_stream_user_data(s, id);
}

static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *user)
{
    bg_h2_conn_t *h = user;

    (void)s;
    switch (hd->type) {
    case NGHTTP2_HEADERS:
        h->continuations = 0;
        h->cont_stream = hd->stream_id;
        if (hd->stream_id > h->last_client_id && (hd->stream_id & 1)) {
            h->last_client_id = hd->stream_id;
            if (h->n_streams >= h->max_streams)
                h->refuse_id = hd->stream_id;
        }
        return 0;
    case NGHTTP2_CONTINUATION:
        if (++h->continuations > MAX_CONTINUATIONS) {
            h->calm_code = NGHTTP2_ENHANCE_YOUR_CALM;
            h->calm_why = "CONTINUATION flood";
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
    case NGHTTP2_PING:
        if (!(hd->flags & NGHTTP2_FLAG_ACK) && !bg_h2_conn_budget(h, BG_H2_FLOOD_PING))
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        return 0;
    case NGHTTP2_SETTINGS:
        if (!(hd->flags & NGHTTP2_FLAG_ACK) && !bg_h2_conn_budget(h, BG_H2_FLOOD_SETTINGS))
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        return 0;
    case NGHTTP2_RST_STREAM:
        return bg_h2_conn_budget(h, BG_H2_FLOOD_RST) ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
    case NGHTTP2_DATA:
        if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM) &&
            !bg_h2_conn_budget(h, BG_H2_FLOOD_EMPTY))
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        return 0;
    default:
        return 0;
    }
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    bg_h2_conn_t *h = user;
    bg_h2_stream_t *st;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (frame->hd.stream_id == h->refuse_id) {
        /* RFC 9113 §5.1.2: over the limit we advertised, a stream error REFUSED_STREAM
         * (the client may retry it); other streams and the connection go on. */
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_REFUSED_STREAM);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    st = bg_h2_stream_new(h, frame->hd.stream_id);
    h->receiving = st;
    atomic_fetch_add_explicit(&h->c->w->h2.streams, 1, memory_order_relaxed);
    nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, st);
    bg_h2_conn_update_timer(h);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
    bg_h2_conn_t *h = user;
    bg_h2_stream_t *st;

    (void)flags;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers: dropped, as the HTTP/1.1 side drops them */
    st = h->receiving && h->receiving->id == frame->hd.stream_id
             ? h->receiving : stream_of(s, frame->hd.stream_id);
    if (!st)
        return 0;
    if (!bg_h2_stream_header(st, name, nlen, value, vlen)) {
        h->calm_code = NGHTTP2_ENHANCE_YOUR_CALM;
        h->calm_why = "header list far over max_header_size";
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    bg_h2_conn_t *h = user;
    bg_h2_stream_t *st = frame->hd.stream_id ? stream_of(s, frame->hd.stream_id) : NULL;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;

    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        if (!st)
            return 0;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
            bg_h2_stream_request(st, end);
        else if (end)
            bg_h2_stream_end(st); /* trailers end the body */
        return 0;
    case NGHTTP2_DATA:
        if (st)
            bg_h2_stream_body(st, end);
        return 0;
    case NGHTTP2_PING:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) && h->shutting_down && !h->final_goaway) {
            /* RFC 9113 §6.8: the notice went out one round trip ago; streams the client
             * opened before seeing it are in; now the real last stream id. */
            h->final_goaway = true;
            nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(s),
                                  NGHTTP2_NO_ERROR, NULL, 0);
        }
        return 0;
    default:
        return 0;
    }
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    bg_h2_stream_t *st = stream_of(s, id);

    (void)flags;
    (void)user;
    if (!st || !st->ex) {
        nghttp2_session_consume(s, id, len); /* no one wants it: give the window back */
        return 0;
    }
    bg_h2_stream_data(st, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
    bg_h2_stream_t *st = stream_of(s, id);

    (void)user;
    (void)code;
    if (st) {
        nghttp2_session_set_stream_user_data(s, id, NULL);
        bg_h2_stream_free(st);
    }
    return 0;
}

/* RFC 9113 §8.1: a server that answered before the request ended may reset the stream
 * with NO_ERROR so the client stops sending. */
static int on_frame_send(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    bg_h2_conn_t *h = user;
    bg_h2_stream_t *st;

    if (frame->hd.type == NGHTTP2_RST_STREAM && frame->rst_stream.error_code != NGHTTP2_NO_ERROR)
        atomic_fetch_add_explicit(&h->c->w->h2.stream_resets, 1, memory_order_relaxed);
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
        atomic_fetch_add_explicit(&h->c->w->h2.conn_errors, 1, memory_order_relaxed);
        bg_log(BG_LOG_INFO, "h2", "connection error client=%.*s code=%u last_stream=%d",
               h->c->ip_len, h->c->ip, frame->goaway.error_code, frame->goaway.last_stream_id);
    }
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
        (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS))
        return 0;
    st = stream_of(s, frame->hd.stream_id);
    if (st) {
        st->ended = true;
        if (!st->req_end)
            nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static void make_globals(void)
{
    nghttp2_session_callbacks *cb;

    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    callbacks = cb;
    nghttp2_option_new(&options);
    /* Windows open only as the target takes the bytes (nghttp2_session_consume). */
    nghttp2_option_set_no_auto_window_update(options, 1);
    /* Closed streams kept for RFC 7540 priorities cost memory an attacker controls. */
    nghttp2_option_set_no_closed_streams(options, 1);
    /* nghttp2's own limits stay as a backstop above ours (ours answer ENHANCE_YOUR_CALM
     * where nghttp2 would answer INTERNAL_ERROR or just drop the connection). */
    nghttp2_option_set_max_continuations(options, MAX_CONTINUATIONS * 4);
    nghttp2_option_set_stream_reset_rate_limit(options, 10000, 1000);
}

/* ---- I/O ---- */

static void update_reading(bg_h2_conn_t *h)
{
    if (!h->closed)
        bg_client_read_enable(h->c, !h->writing);
}

void bg_h2_conn_update_timer(bg_h2_conn_t *h)
{
    bg_client_t *c = h->c;

    if (h->closed || h->writing)
        return; /* the write timer runs */
    if (h->n_streams == 0) {
        /* after our GOAWAY, a client that never answers the PING is closed after linger */
        bg_tkind_t kind = h->shutting_down ? BG_CT_LINGER : BG_CT_IDLE;
        if (c->tkind != kind || bg_list_is_empty(&c->tn.link))
            bg_client_timer_start(c, kind);
    } else {
        bg_client_timer_stop(c);
    }
}

/* Ends the connection after what was written: the session goes, the socket lingers
 * (FIN, then drain) so the client reads our last frames instead of a reset. */
static void conn_end(bg_h2_conn_t *h)
{
    bg_client_t *c = h->c;

    conn_teardown(h);
    bg_client_linger(c);
}

typedef struct goaway_req {
    uv_write_t req;
    uint8_t b[17];
} goaway_req_t;

static void goaway_written(uv_write_t *req, int status)
{
    (void)status;
    free(BG_CONTAINER_OF(req, goaway_req_t, req));
}

/* A connection error nghttp2 cannot answer itself (our defences return a callback
 * failure; its fatal errors leave the session unusable): the GOAWAY frame is written by
 * hand (RFC 9113 §6.8: type 7, stream 0, last stream id, error code). */
static void conn_fatal(bg_h2_conn_t *h, int rv)
{
    bg_client_t *c = h->c;
    goaway_req_t *g = BG_NEW(goaway_req_t);
    uint32_t code = h->calm_code;
    int32_t last = nghttp2_session_get_last_proc_stream_id(h->s);
    uv_buf_t b = uv_buf_init((char *)g->b, sizeof(g->b));

    if (!code)
        code = rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
                   ? NGHTTP2_ENHANCE_YOUR_CALM
               : rv == NGHTTP2_ERR_CALLBACK_FAILURE ? NGHTTP2_INTERNAL_ERROR
                                                    : NGHTTP2_PROTOCOL_ERROR;
    atomic_fetch_add_explicit(&c->w->h2.conn_errors, 1, memory_order_relaxed);
    bg_log(BG_LOG_WARN, "h2", "connection error client=%.*s code=%u why=\"%s\" last_stream=%d",
           c->ip_len, c->ip, code, h->calm_why ? h->calm_why : nghttp2_strerror(rv), last);
    if (!h->writing && h->out.len)
        write_out(h); /* frames gathered this turn go before the GOAWAY */
    g->b[2] = 8;            /* length */
    g->b[3] = NGHTTP2_GOAWAY;
    for (int i = 0; i < 4; i++) {
        g->b[9 + i] = (uint8_t)((uint32_t)last >> (24 - 8 * i));
        g->b[13 + i] = (uint8_t)(code >> (24 - 8 * i));
    }
    if (bg_cio_write(&g->req, c, &b, 1, goaway_written) < 0)
        free(g);
    conn_end(h);
}

static void write_done(uv_write_t *req, int status)
{
    bg_h2_conn_t *h = req->data;

    h->writing = false;
    bg_buf_reset(&h->out);
    if (h->closed) {
        conn_close_handles(h); /* deferred by conn_teardown() */
        return;
    }
    bg_client_write_done(h->c);
    if (status < 0) {
        bg_client_close(h->c);
        return;
    }
    update_reading(h);
    bg_h2_conn_send(h);
    bg_h2_conn_update_timer(h);
}

/* Writes h->out: 1 all of it, 0 pending, -1 failed (connection closed). */
static int write_out(bg_h2_conn_t *h)
{
    bg_client_t *c = h->c;
    uv_buf_t b = uv_buf_init(h->out.data, (unsigned)h->out.len);
    int n = bg_cio_try_write(c, &b, 1);

    if (n == (int)b.len) {
        bg_buf_reset(&h->out);
        return 1;
    }
    if (n < 0 && n != UV_EAGAIN) {
        defer_end(h, 0); /* an exchange may be on the stack: close from the idle handle */
        return -1;
    }
    if (n > 0) {
        b.base += n;
        b.len -= (size_t)n;
    }
    h->wreq.data = h;
    h->writing = true;
    if (bg_cio_write(&h->wreq, c, &b, 1, write_done) < 0) {
        h->writing = false;
        defer_end(h, 0);
        return -1;
    }
    bg_client_write_pending(c);
    update_reading(h);
    return 0;
}

/* nghttp2 1.52 answers a stream over its own SETTINGS_MAX_CONCURRENT_STREAMS with a
 * connection error (GOAWAY PROTOCOL_ERROR), which would end every other stream of the
 * client; RFC 9113 §5.1.2 wants a stream error. So nghttp2 is given no limit (our value
 * goes under a private id it ignores), on_begin_frame() enforces it with REFUSED_STREAM,
 * and here, in the first bytes the session writes (our SETTINGS frame, submitted before
 * anything else), the private id is renamed MAX_CONCURRENT_STREAMS (3) for the client. */
static void patch_settings(bg_h2_conn_t *h)
{
    uint8_t *p = (uint8_t *)h->out.data;
    size_t len;

    h->settings_patched = true;
    if (h->out.len < 9 || p[3] != NGHTTP2_SETTINGS || p[4] != 0)
        return;
    len = (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2];
    for (size_t i = 9; i + 6 <= 9 + len && i + 6 <= h->out.len; i += 6) {
        if ((p[i] << 8 | p[i + 1]) == SETTINGS_OURS_MAX_STREAMS) {
            p[i] = 0;
            p[i + 1] = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
        }
    }
}

static void idle_on(bg_h2_conn_t *h);

static void flush_cb(uv_check_t *ck);

/* Writes h->out at the end of this loop turn. The idle handle keeps the loop from
 * waiting in poll before its check phase when this is called outside the I/O callbacks
 * (timers, idle). */
static void flush_later(bg_h2_conn_t *h)
{
    if (!h->flush_on) {
        uv_check_start(&h->flush, flush_cb);
        h->flush_on = true;
    }
    idle_on(h);
}

/* Takes frames from nghttp2 into h->out and writes them: at once when <now> or when
 * OUT_MAX are gathered, else from the flush handle. */
static void conn_pull(bg_h2_conn_t *h, bool now)
{
    if (h->closed || h->broken || h->in_recv || h->in_send || h->writing)
        return;
    for (;;) {
        const uint8_t *data;
        ssize_t n;

        h->in_send = true;
        while ((n = nghttp2_session_mem_send(h->s, &data)) > 0) {
            bg_buf_append(&h->out, data, (size_t)n);
            if (!h->settings_patched)
                patch_settings(h);
            if (h->out.len >= OUT_MAX)
                break;
        }
        h->in_send = false;
        if (n < 0) {
            defer_end(h, (int)n);
            return;
        }
        if (h->out.len == 0)
            break;
        if (!now && h->out.len < OUT_MAX) {
            flush_later(h);
            return;
        }
        if (write_out(h) != 1)
            return;
    }
    if (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s))
        conn_end(h); /* GOAWAY sent and no stream left */
}

void bg_h2_conn_send(bg_h2_conn_t *h)
{
    if (!h->closed && !h->broken)
        flush_later(h);
}

void bg_h2_conn_take(bg_h2_conn_t *h)
{
    conn_pull(h, false);
}

static void flush_cb(uv_check_t *ck)
{
    bg_h2_conn_t *h = ck->data;

    uv_check_stop(ck);
    h->flush_on = false;
    if (h->idle_on && bg_list_is_empty(&h->ready) && !h->broken) {
        uv_idle_stop(&h->idle);
        h->idle_on = false;
    }
    conn_pull(h, true);
}

static void ready_cb(uv_idle_t *idle)
{
    bg_h2_conn_t *h = idle->data;

    if (h->broken) {
        uv_idle_stop(idle);
        h->idle_on = false;
        if (h->broken_rv)
            conn_fatal(h, h->broken_rv);
        else
            bg_client_close(h->c);
        return;
    }
    while (!h->closed && !bg_list_is_empty(&h->ready)) {
        bg_h2_stream_t *st = BG_CONTAINER_OF(h->ready.next, bg_h2_stream_t, ready_link);
        bg_exchange_t *ex = st->ex;

        bg_list_remove(&st->ready_link);
        if (!ex || !ex->cl_writing || ex->to_client.n != 0)
            continue;
        ex->cl_writing = false;
        if (ex->rsp_done)
            bg_exchange_finish(ex);
        else
            bg_response_pump(ex);
    }
    if (!h->closed)
        bg_h2_conn_send(h);
    if (h->closed || (bg_list_is_empty(&h->ready) && !h->broken && !h->flush_on)) {
        uv_idle_stop(idle);
        h->idle_on = false;
    }
}

static void idle_on(bg_h2_conn_t *h)
{
    if (!h->idle_on) {
        uv_idle_start(&h->idle, ready_cb);
        h->idle_on = true;
    }
}

void bg_h2_conn_ready(bg_h2_conn_t *h, bg_h2_stream_t *st)
{
    if (!bg_list_is_empty(&st->ready_link))
        return;
    bg_list_insert_tail(&h->ready, &st->ready_link);
    idle_on(h);
}

/* A write failed or nghttp2 failed while sending: an exchange may be on the stack, so the
 * connection ends from the idle handle (<rv> 0: just close; else GOAWAY first). */
static void defer_end(bg_h2_conn_t *h, int rv)
{
    h->broken = true;
    h->broken_rv = rv;
    idle_on(h);
}

/* ---- lifecycle ---- */

static void handle_closed(uv_handle_t *hd)
{
    bg_h2_conn_t *h = hd->data;

    if (--h->handles > 0)
        return;
    bg_buf_fini(&h->out);
    bg_buf_fini(&h->names);
    free(h);
}

/* The conn's memory goes when both its handles closed. */
static void conn_close_handles(bg_h2_conn_t *h)
{
    uv_close((uv_handle_t *)&h->idle, handle_closed);
    uv_close((uv_handle_t *)&h->flush, handle_closed);
}

void bg_h2_start(bg_client_t *c)
{
    bg_h2_conn_t *h = BG_NEW(bg_h2_conn_t);
    const bg_proxy_config_t *cfg = c->w->cfg;
    nghttp2_settings_entry iv[] = {
        {SETTINGS_OURS_MAX_STREAMS, cfg->h2_max_streams ? cfg->h2_max_streams : 100},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg->max_header_bytes},
    };

    pthread_once(&once, make_globals);
    h->c = c;
    h->max_streams = cfg->h2_max_streams ? cfg->h2_max_streams : 100;
    bg_list_init(&h->streams);
    bg_list_init(&h->ready);
    bg_buf_init(&h->out);
    bg_buf_init(&h->names);
    uv_idle_init(&c->w->loop, &h->idle);
    h->idle.data = h;
    uv_check_init(&c->w->loop, &h->flush);
    h->flush.data = h;
    h->handles = 2;
    nghttp2_session_server_new2(&h->s, callbacks, h, options);
    nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, BG_ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    c->h2 = h;
    c->state = BG_CLIENT_H2;
    atomic_fetch_add_explicit(&c->w->h2.connections, 1, memory_order_relaxed);
    bg_client_timer_stop(c);
    if (c->buf && c->len > c->off)
        bg_h2_client_read(c, 0);
    else
        bg_h2_conn_send(h);
    if (!h->closed) {
        update_reading(h);
        bg_h2_conn_update_timer(h);
    }
}

void bg_h2_client_read(bg_client_t *c, ssize_t nread)
{
    bg_h2_conn_t *h = c->h2;
    ssize_t rv;

    if (nread < 0) {
        bg_client_close(c);
        return;
    }
    h->in_recv = true;
    rv = nghttp2_session_mem_recv(h->s, (const uint8_t *)c->buf->data + c->off,
                                  c->len - c->off);
    h->in_recv = false;
    if (h->closed)
        return;
    c->len = c->off = 0;
    if (rv < 0) {
        conn_fatal(h, (int)rv);
        return;
    }
    bg_h2_conn_send(h);
}

/* Aborts every stream and frees the session; the conn's memory goes when its idle and
 * flush handles closed (and its write, if one is pending, finished). Frames gathered
 * and not written yet are dropped (the callers end the connection). */
static void conn_teardown(bg_h2_conn_t *h)
{
    bg_client_t *c = h->c;

    if (h->closed)
        return;
    h->closed = true;
    while (!bg_list_is_empty(&h->streams)) {
        bg_h2_stream_t *st = BG_CONTAINER_OF(h->streams.next, bg_h2_stream_t, link);
        nghttp2_session_set_stream_user_data(h->s, st->id, NULL);
        bg_h2_stream_free(st);
    }
    bg_h2_stream_free_spares(h);
    nghttp2_session_del(h->s);
    h->s = NULL;
    c->h2 = NULL;
    h->c = NULL;
    if (h->idle_on) {
        uv_idle_stop(&h->idle);
        h->idle_on = false;
    }
    if (h->flush_on) {
        uv_check_stop(&h->flush);
        h->flush_on = false;
    }
    /* h->out may be under a pending write: write_done() closes the handles then */
    if (!h->writing)
        conn_close_handles(h);
}

void bg_h2_client_close(bg_client_t *c)
{
    if (c->h2)
        conn_teardown(c->h2);
}

void bg_h2_shutdown(bg_client_t *c)
{
    bg_h2_conn_t *h = c->h2;

    if (!h || h->shutting_down)
        return;
    h->shutting_down = true;
    nghttp2_submit_shutdown_notice(h->s);
    nghttp2_submit_ping(h->s, NGHTTP2_FLAG_NONE, NULL);
    bg_h2_conn_send(h);
    if (!h->closed)
        bg_h2_conn_update_timer(h);
}
