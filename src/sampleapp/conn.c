/* sample-app connections: accept, read, frame with llhttp, write, close. A request is
 * answered before the next one on the same connection is parsed (the parser pauses in
 * on_message_complete), so pipelined requests get ordered responses and a slow response
 * (latency, dependency call, large body) stops reading instead of buffering input.
 */
#include "sampleapp/internal.h"

#include <strings.h>

#define READ_BUF_BYTES 65536
#define STREAM_QUEUE_BYTES (256 * 1024)
#define PATTERN_BYTES (26 * 2520) /* a multiple of 26 keeps the pattern continuous */

typedef struct wreq {
    uv_write_t req;
    sa_conn_t *c;
    bool stream; /* a /bytes chunk: the write callback queues the next one */
    char data[];
} wreq_t;

/* Header values a route needs; others are skipped without copying. */
enum capture {
    CAP_NONE = 0,
    CAP_ACCEPT = 1,
    CAP_WS_KEY = 2,
    CAP_UPGRADE = 3,
    CAP_EXPECT = 4,
};

static char read_buf[READ_BUF_BYTES]; /* one loop, one thread: reads are copied out at once */
static char pattern[PATTERN_BYTES];
static llhttp_settings_t settings;

static void pump(sa_conn_t *c);

static const char *reason(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 426:
        return "Upgrade Required";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

/* ---- llhttp callbacks ---- */

static int on_message_begin(llhttp_t *p)
{
    sa_conn_t *c = p->data;
    c->in_request = true;
    bg_buf_reset(&c->url);
    c->accept[0] = c->ws_key[0] = c->ws_upgrade[0] = '\0';
    c->received_bytes = 0;
    c->app_error = false;
    c->call_status = 0;
    c->call_failed_url = NULL;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    sa_conn_t *c = p->data;
    bg_buf_append(&c->url, at, len);
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    sa_conn_t *c = p->data;
    bg_buf_append(&c->hfield, at, len);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    sa_conn_t *c = p->data;
    if (c->hfield.len > 0) /* cleared by on_header_field_complete when not captured */
        bg_buf_append(&c->hvalue, at, len);
    return 0;
}

static int capture_of(const bg_buf_t *f)
{
    static const struct {
        const char *name;
        int cap;
    } names[] = {{"accept", CAP_ACCEPT},
                 {"sec-websocket-key", CAP_WS_KEY},
                 {"upgrade", CAP_UPGRADE},
                 {"expect", CAP_EXPECT}};
    for (size_t i = 0; i < BG_ARRAY_LEN(names); i++)
        if (f->len == strlen(names[i].name) && strncasecmp(f->data, names[i].name, f->len) == 0)
            return names[i].cap;
    return CAP_NONE;
}

static int on_header_field_complete(llhttp_t *p)
{
    sa_conn_t *c = p->data;
    if (capture_of(&c->hfield) == CAP_NONE)
        bg_buf_reset(&c->hfield);
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    sa_conn_t *c = p->data;
    const char *v = c->hvalue.len ? c->hvalue.data : "";
    switch (c->hfield.len ? capture_of(&c->hfield) : CAP_NONE) {
    case CAP_ACCEPT:
        snprintf(c->accept, sizeof(c->accept), "%s", v);
        break;
    case CAP_WS_KEY:
        snprintf(c->ws_key, sizeof(c->ws_key), "%s", v);
        break;
    case CAP_UPGRADE:
        snprintf(c->ws_upgrade, sizeof(c->ws_upgrade), "%s", v);
        break;
    case CAP_EXPECT:
        /* RFC 9110 §10.1.1: tell the client to send the body it is holding back. */
        if (strcasecmp(v, "100-continue") == 0)
            sa_conn_write_raw(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        break;
    default:
        break;
    }
    bg_buf_reset(&c->hfield);
    bg_buf_reset(&c->hvalue);
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    sa_conn_t *c = p->data;
    c->method = llhttp_get_method(p);
    c->keep_alive = llhttp_should_keep_alive(p);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    sa_conn_t *c = p->data;
    c->received_bytes += len; /* counted, never kept: bodies stream through */
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    /* Upgrades end with HPE_PAUSED_UPGRADE from llhttp itself. */
    return p->upgrade ? 0 : HPE_PAUSED;
}

static void settings_init(void)
{
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_header_field_complete = on_header_field_complete;
    settings.on_header_value_complete = on_header_value_complete;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = (char)('a' + i % 26);
}

/* ---- lifecycle ---- */

static void on_handle_closed(uv_handle_t *h)
{
    sa_conn_t *c = h->data;
    if (--c->handles_open > 0)
        return;
    bg_buf_fini(&c->in);
    bg_buf_fini(&c->url);
    bg_buf_fini(&c->hfield);
    bg_buf_fini(&c->hvalue);
    free(c);
}

void sa_conn_close(sa_conn_t *c)
{
    c->closing = true;
    /* Dependency calls point at this connection: the last one to end closes it. */
    if (c->handles_open == 0 || uv_is_closing((uv_handle_t *)&c->tcp) || c->calls_pending > 0)
        return;
    bg_list_remove(&c->node);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    sa_conn_close(req->data);
}

void sa_conn_close_after_writes(sa_conn_t *c)
{
    if (c->closing)
        return; /* a shutdown or close is already under way */
    c->closing = true;
    c->shutdown.data = c;
    if (uv_is_closing((uv_handle_t *)&c->tcp) ||
        uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        sa_conn_close(c);
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    sa_conn_t *c = w->c;
    bool stream = w->stream;
    free(w);
    if (status < 0) {
        sa_conn_close(c);
        return;
    }
    if (stream && !c->closing && c->bytes_left > 0)
        sa_conn_respond_bytes(c, 0);
}

/* Writes <len> bytes of <p>: as much as the socket takes now, the rest copied and queued. */
static void write_copy(sa_conn_t *c, const char *p, size_t len)
{
    if (c->closing || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0) {
        uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n == (int)len)
            return;
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n != UV_EAGAIN) {
            sa_conn_close(c);
            return;
        }
    }
    wreq_t *w = bg_xmalloc(sizeof(*w) + len);
    w->c = c;
    w->stream = false;
    memcpy(w->data, p, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        free(w);
        sa_conn_close(c);
    }
}

void sa_conn_write_raw(sa_conn_t *c, const char *p, size_t len)
{
    write_copy(c, p, len);
}

static bool closes_after(const sa_conn_t *c)
{
    return !c->keep_alive || c->app->stopping || c->peer_eof;
}

static void put_head(bg_buf_t *b, const sa_conn_t *c, int status, const char *ctype, uint64_t len)
{
    bg_buf_printf(b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %llu\r\n", status,
                  reason(status), ctype, (unsigned long long)len);
    if (closes_after(c))
        bg_buf_puts(b, "Connection: close\r\n");
    else if (c->parser.http_minor == 0)
        bg_buf_puts(b, "Connection: keep-alive\r\n");
    bg_buf_puts(b, "\r\n");
}

void sa_conn_respond(sa_conn_t *c, int status, const char *ctype, const char *body, size_t len)
{
    bg_buf_t b;
    bg_buf_init(&b);
    put_head(&b, c, status, ctype, len);
    if (c->method != HTTP_HEAD)
        bg_buf_append(&b, body, len);
    write_copy(c, b.data, b.len);
    bg_buf_fini(&b);
    sa_conn_request_done(c);
}

/* First call (len > 0) sends the head; later calls (len == 0, from on_write) queue pattern
 * chunks until the write queue holds STREAM_QUEUE_BYTES, so memory stays bounded whatever
 * N is. */
void sa_conn_respond_bytes(sa_conn_t *c, uint64_t len)
{
    if (len > 0) {
        bg_buf_t b;
        bg_buf_init(&b);
        put_head(&b, c, 200, "application/octet-stream", len);
        write_copy(c, b.data, b.len);
        bg_buf_fini(&b);
        c->bytes_left = c->method == HTTP_HEAD ? 0 : len;
    }
    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    while (c->bytes_left > 0 && !c->closing &&
           uv_stream_get_write_queue_size(s) < STREAM_QUEUE_BYTES) {
        size_t n = c->bytes_left < PATTERN_BYTES ? (size_t)c->bytes_left : PATTERN_BYTES;
        wreq_t *w = bg_xmalloc(sizeof(*w));
        w->c = c;
        w->stream = true;
        uv_buf_t b = uv_buf_init(pattern, (unsigned)n);
        c->bytes_left -= n;
        if (uv_write(&w->req, s, &b, 1, on_write) != 0) {
            free(w);
            sa_conn_close(c);
            return;
        }
    }
    if (c->bytes_left == 0 && !c->closing)
        sa_conn_request_done(c);
}

void sa_conn_request_done(sa_conn_t *c)
{
    c->busy = false;
    c->in_request = false;
    if (closes_after(c)) {
        sa_conn_close_after_writes(c);
        return;
    }
    /* Called from inside feed() the loop there goes on; from a timer, call or write
     * callback the held input is parsed now. */
    if (!c->feeding)
        pump(c);
}

/* ---- reading ---- */

static void bad_request(sa_conn_t *c, llhttp_errno_t err)
{
    char body[160];
    int n = snprintf(body, sizeof(body), "{\"error\":\"bad request\",\"reason\":\"%s\"}",
                     llhttp_errno_name(err));
    c->keep_alive = false;
    c->busy = true;
    sa_conn_respond(c, 400, "application/json", body, (size_t)n);
}

/* Parses <len> bytes at <data> until a request needs an answer that is not written yet.
 * Returns the bytes consumed; the caller keeps the rest. */
static size_t feed(sa_conn_t *c, const char *data, size_t len)
{
    size_t off = 0;
    c->feeding = true;
    while (off < len && !c->busy && !c->closing) {
        if (c->tunnel) {
            write_copy(c, data + off, len - off);
            off = len;
            break;
        }
        llhttp_errno_t err = llhttp_execute(&c->parser, data + off, len - off);
        if (err == HPE_OK) {
            off = len;
            break;
        }
        if (err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
            bad_request(c, err);
            off = len;
            break;
        }
        off = (size_t)(llhttp_get_error_pos(&c->parser) - data);
        c->busy = true;
        if (err == HPE_PAUSED) {
            llhttp_resume(&c->parser);
            sa_route(c);
        } else if (!sa_route_upgrade(c)) {
            c->keep_alive = false; /* what follows an unaccepted Upgrade is not HTTP */
            sa_route(c);
        }
    }
    c->feeding = false;
    return off;
}

static void update_reading(sa_conn_t *c);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    *buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    sa_conn_t *c = s->data;
    if (nread < 0) {
        c->peer_eof = true;
        /* A request already read still gets its answer; anything else ends here. */
        if (nread != UV_EOF || !c->busy || c->tunnel)
            sa_conn_close(c);
        else
            update_reading(c);
        return;
    }
    if (nread == 0)
        return;
    if (c->in.len == 0) {
        size_t used = feed(c, buf->base, (size_t)nread);
        if (used < (size_t)nread && !c->closing)
            bg_buf_append(&c->in, buf->base + used, (size_t)nread - used);
    } else {
        bg_buf_append(&c->in, buf->base, (size_t)nread);
        pump(c);
        return;
    }
    update_reading(c);
}

static void update_reading(sa_conn_t *c)
{
    bool want = !c->closing && !c->busy && !c->peer_eof;
    if (want == c->reading || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (want)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    else
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = want;
}

/* Parses input held while the connection was busy, then reads again if it may. */
static void pump(sa_conn_t *c)
{
    if (c->in.len > 0) {
        size_t used = feed(c, c->in.data, c->in.len);
        bg_buf_consume(&c->in, used);
    }
    update_reading(c);
}

void sa_conn_accept(sa_app_t *app, uv_stream_t *server)
{
    if (settings.on_message_begin == NULL)
        settings_init();
    sa_conn_t *c = BG_NEW(sa_conn_t);
    c->app = app;
    bg_list_init(&c->node);
    bg_buf_init(&c->in);
    bg_buf_init(&c->url);
    bg_buf_init(&c->hfield);
    bg_buf_init(&c->hvalue);
    uv_tcp_init(app->loop, &c->tcp);
    uv_timer_init(app->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles_open = 2;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        sa_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    llhttp_init(&c->parser, HTTP_REQUEST, &settings);
    c->parser.data = c;
    bg_list_insert_tail(&app->conns, &c->node);
    update_reading(c);
}
