/* `bluegreen dashboard`'s forwarding of the API: each request the page sends to /v1 or
 * /metrics (already authorised by its session and CSRF token in src/admin/dashboard.c)
 * is sent on a new connection to the daemon's admin Unix socket with `Connection: close`,
 * and the answer comes back — a Server-Sent Events answer as a stream, byte for byte, so
 * the page's EventSource (and its Last-Event-ID reconnects) work through it unchanged.
 * Runs on the command's loop; never blocks.
 */
#include "cli/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "base/base.h"
#include "base/list.h"
#include "base/compat.h"

/* Request headers the page may send that the daemon reads; everything else (the cookie
 * and CSRF token above all) stays here. */
static const char *const forwarded[] = {"Content-Type", "Last-Event-ID", "X-Bluegreen-Actor",
                                        "User-Agent",   "Accept",        NULL};

typedef struct fwd {
    bg_list_t link;
    bg_cli_forward_t *owner;
    uv_pipe_t pipe;
    uv_connect_t connect;
    uv_write_t write;
    char *out;               /* the request as sent */
    bg_admin_req_t *req;     /* NULL once answered */
    llhttp_t parser;
    bg_buf_t hname, hval, body;
    char content_type[128];
    bool streaming;
    bool closing;
} fwd_t;

struct bg_cli_forward {
    uv_loop_t *loop;
    char *socket_path;
    bg_list_t fwds;
};

bg_cli_forward_t *bg_cli_forward_new(uv_loop_t *loop, const char *socket_path)
{
    bg_cli_forward_t *f = BG_NEW(bg_cli_forward_t);

    f->loop = loop;
    f->socket_path = bg_strdup(socket_path);
    bg_list_init(&f->fwds);
    return f;
}

static void on_closed(uv_handle_t *h)
{
    fwd_t *w = h->data;

    bg_buf_fini(&w->hname);
    bg_buf_fini(&w->hval);
    bg_buf_fini(&w->body);
    free(w->out);
    free(w);
}

/* Ends <w>: answers its request if nobody did (<code>, <msg>), closes the connection. */
static void fwd_end(fwd_t *w, int code, const char *msg)
{
    if (w->closing)
        return;
    w->closing = true;
    if (w->req != NULL) {
        if (w->streaming)
            bg_admin_stream_end(w->req);
        else
            bg_admin_respond_errorf(w->req, code, "%s", msg);
        w->req = NULL;
    }
    bg_list_remove(&w->link);
    uv_close((uv_handle_t *)&w->pipe, on_closed);
}

void bg_cli_forward_free(bg_cli_forward_t *f)
{
    bg_list_t *pos, *tmp;

    if (f == NULL)
        return;
    bg_list_foreach_safe(pos, tmp, &f->fwds)
    {
        fwd_end(BG_CONTAINER_OF(pos, fwd_t, link), BG_EUNAVAIL, "the dashboard is stopping");
    }
    free(f->socket_path);
    free(f);
}

static fwd_t *fwd_of(llhttp_t *p)
{
    return p->data;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    bg_buf_append(&fwd_of(p)->hname, at, len);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    bg_buf_append(&fwd_of(p)->hval, at, len);
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    fwd_t *w = fwd_of(p);

    if (w->hname.len == 12 && strncasecmp(w->hname.data, "Content-Type", 12) == 0)
        snprintf(w->content_type, sizeof(w->content_type), "%.*s", (int)w->hval.len,
                 w->hval.data != NULL ? w->hval.data : "");
    bg_buf_reset(&w->hname);
    bg_buf_reset(&w->hval);
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    fwd_t *w = fwd_of(p);

    if (w->content_type[0] == '\0')
        snprintf(w->content_type, sizeof(w->content_type), "%s", "application/octet-stream");
    /* An event stream is passed on as it comes; anything else once complete. */
    if (strncasecmp(w->content_type, "text/event-stream", 17) == 0 && w->req != NULL) {
        w->streaming = true;
        bg_admin_stream_begin(w->req, (int)p->status_code, w->content_type);
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    fwd_t *w = fwd_of(p);

    if (!w->streaming) {
        bg_buf_append(&w->body, at, len);
        return 0;
    }
    if (w->req != NULL && !bg_admin_stream_write(w->req, at, len)) {
        /* The browser left: stop reading the daemon's stream too. */
        bg_admin_stream_end(w->req);
        w->req = NULL;
        return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    fwd_t *w = fwd_of(p);

    if (w->req != NULL && !w->streaming) {
        bg_admin_respond_text(w->req, (int)p->status_code, w->content_type,
                              w->body.data != NULL ? w->body.data : "", w->body.len);
        w->req = NULL;
    }
    return 0;
}

static const llhttp_settings_t *settings(void)
{
    static llhttp_settings_t s;
    static bool inited;

    if (!inited) {
        llhttp_settings_init(&s);
        s.on_header_field = on_header_field;
        s.on_header_value = on_header_value;
        s.on_header_value_complete = on_header_value_complete;
        s.on_headers_complete = on_headers_complete;
        s.on_body = on_body;
        s.on_message_complete = on_message_complete;
        inited = true;
    }
    return &s;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = bg_xmalloc(suggested);
    buf->len = suggested;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    fwd_t *w = s->data;

    if (n > 0 && !w->closing) {
        llhttp_errno_t e = llhttp_execute(&w->parser, buf->base, (size_t)n);
        if (e != HPE_OK)
            fwd_end(w, BG_EUNAVAIL, "the daemon's answer could not be read");
    } else if (n < 0 && !w->closing) {
        /* EOF: a stream ended, or a close-delimited answer is complete. */
        if (n == UV_EOF)
            llhttp_finish(&w->parser);
        fwd_end(w, BG_EUNAVAIL, "the daemon closed the connection without an answer");
    }
    free(buf->base);
}

static void on_written(uv_write_t *wr, int status)
{
    fwd_t *w = wr->data;

    if (status < 0 && !w->closing)
        fwd_end(w, BG_EUNAVAIL, "the daemon closed the connection");
}

static void on_connect(uv_connect_t *c, int status)
{
    fwd_t *w = c->data;
    uv_buf_t b;

    if (w->closing)
        return;
    if (status < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "the daemon is not reachable at unix:%s: %s",
                 w->owner->socket_path, uv_strerror(status));
        fwd_end(w, BG_EUNAVAIL, msg);
        return;
    }
    b = uv_buf_init(w->out, (unsigned)strlen(w->out));
    w->write.data = w;
    if (uv_write(&w->write, (uv_stream_t *)&w->pipe, &b, 1, on_written) != 0 ||
        uv_read_start((uv_stream_t *)&w->pipe, on_alloc, on_read) != 0)
        fwd_end(w, BG_EUNAVAIL, "cannot write to the daemon");
}

/* The request line, the forwarded headers and the body, as sent to the daemon. */
static char *request_text(bg_admin_req_t *req, const bg_admin_http_t *http)
{
    bg_buf_t b;

    bg_buf_init(&b);
    bg_buf_printf(&b, "%s %s%s%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n",
                  http->method, http->path, http->query[0] ? "?" : "", http->query);
    for (size_t i = 0; forwarded[i] != NULL; i++) {
        const char *v = bg_admin_req_header(req, forwarded[i]);
        if (v != NULL)
            bg_buf_printf(&b, "%s: %s\r\n", forwarded[i], v);
    }
    /* The audit trail says the change came through the dashboard. */
    bg_buf_printf(&b, "X-Bluegreen-Origin: dashboard\r\nContent-Length: %zu\r\n\r\n",
                  http->body_len);
    bg_buf_append(&b, http->body, http->body_len);
    bg_buf_append(&b, "", 1);
    return bg_buf_steal(&b);
}

void bg_cli_forward(bg_cli_forward_t *f, bg_admin_req_t *req, const bg_admin_http_t *http)
{
    fwd_t *w = BG_NEW(fwd_t);

    w->owner = f;
    w->req = req;
    w->out = request_text(req, http);
    llhttp_init(&w->parser, HTTP_RESPONSE, settings());
    w->parser.data = w;
    uv_pipe_init(f->loop, &w->pipe, 0);
    w->pipe.data = w;
    w->connect.data = w;
    bg_list_insert_tail(&f->fwds, &w->link);
    uv_pipe_connect(&w->connect, &w->pipe, f->socket_path, on_connect);
}
