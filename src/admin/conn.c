/* One admin connection: reads bytes, frames requests with llhttp, enforces the head/body
 * limits and the idle timeout, hands each complete request to routes.c and writes its
 * answer. Requests are served one at a time per connection: on_message_complete pauses
 * the parser, reading stops until the answer is written, and pipelined bytes wait in
 * `in`. Anything llhttp refuses gets 400 and the connection closed (a framing error leaves
 * the byte stream unsynchronised, so keeping it open would misparse what follows).
 */
#include "admin/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "http/http.h"
#include "base/compat.h"

typedef struct write_req {
    uv_write_t w;
    admin_conn_t *conn;
    char *data;
    bool close_after;
} write_req_t;

static void serve_next(admin_conn_t *c);

void admin_req_free(bg_admin_req_t *req)
{
    free(req->extra_headers);
    free(req);
}

static admin_conn_t *conn_of(llhttp_t *p)
{
    return p->data;
}

static int add_head_bytes(admin_conn_t *c, size_t n)
{
    c->head_bytes += n;
    if (c->head_bytes > BG_ADMIN_MAX_HEAD_BYTES) {
        c->limit_error = UV_EMSGSIZE;
        return -1;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    admin_conn_t *c = conn_of(p);

    bg_buf_reset(&c->url);
    bg_buf_reset(&c->hname);
    bg_buf_reset(&c->hval);
    bg_buf_reset(&c->body);
    free(c->authorization);
    c->authorization = NULL;
    bg_buf_reset(&c->headers);
    c->head_bytes = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    admin_conn_t *c = conn_of(p);
    if (add_head_bytes(c, len) != 0)
        return -1;
    bg_buf_append(&c->url, at, len);
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    admin_conn_t *c = conn_of(p);
    if (add_head_bytes(c, len) != 0)
        return -1;
    bg_buf_append(&c->hname, at, len);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    admin_conn_t *c = conn_of(p);
    if (add_head_bytes(c, len) != 0)
        return -1;
    bg_buf_append(&c->hval, at, len);
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    admin_conn_t *c = conn_of(p);

    if (c->hname.len > 0 &&
        bg_str_case_eq((bg_str_t){c->hname.data, c->hname.len}, BG_STR_LIT("authorization"))) {
        free(c->authorization);
        c->authorization = bg_strndup(c->hval.data ? c->hval.data : "", c->hval.len);
    }
    bg_buf_append(&c->headers, c->hname.data ? c->hname.data : "", c->hname.len);
    bg_buf_append(&c->headers, "", 1);
    bg_buf_append(&c->headers, c->hval.data ? c->hval.data : "", c->hval.len);
    bg_buf_append(&c->headers, "", 1);
    bg_buf_reset(&c->hname);
    bg_buf_reset(&c->hval);
    return 0;
}

static bool stream_queue(admin_conn_t *c, char *data, size_t len);

static bool expects_continue(const admin_conn_t *c)
{
    const char *p = c->headers.data, *end = p + c->headers.len;

    if (llhttp_get_http_major((llhttp_t *)&c->parser) != 1 ||
        llhttp_get_http_minor((llhttp_t *)&c->parser) < 1)
        return false;
    while (p != NULL && p < end) {
        const char *value = p + strlen(p) + 1;
        if (strcasecmp(p, "expect") == 0 && strcasecmp(value, "100-continue") == 0)
            return true;
        p = value + strlen(value) + 1;
    }
    return false;
}

static int on_headers_complete(llhttp_t *p)
{
    admin_conn_t *c = conn_of(p);

    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > BG_ADMIN_MAX_BODY_BYTES) {
        c->limit_error = UV_E2BIG;
        return -1;
    }
    if (expects_continue(c)) {
        /* RFC 9110 §10.1.1: a client waiting for 100 (curl does for larger bodies) would
         * otherwise sit out its timeout before sending the body. */
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        stream_queue(c, bg_strdup(cont), sizeof(cont) - 1);
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    admin_conn_t *c = conn_of(p);

    if (c->body.len + len > BG_ADMIN_MAX_BODY_BYTES) {
        c->limit_error = UV_E2BIG;
        return -1;
    }
    bg_buf_append(&c->body, at, len);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    admin_conn_t *c = conn_of(p);

    c->method = llhttp_get_method(p);
    c->keep_alive = llhttp_should_keep_alive(p) != 0;
    /* Stop right after this message: the request is served before the next is parsed. */
    return HPE_PAUSED;
}

static const llhttp_settings_t *settings(void)
{
    static llhttp_settings_t s;
    static bool inited;

    if (!inited) {
        llhttp_settings_init(&s);
        s.on_message_begin = on_message_begin;
        s.on_url = on_url;
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

static void on_handle_closed(uv_handle_t *h)
{
    admin_conn_t *c = h->data;
    bg_admin_t *a = c->admin;

    if (--c->open_handles > 0)
        return;
    bg_list_remove(&c->link);
    a->n_conns--;
    bg_buf_fini(&c->in);
    bg_buf_fini(&c->url);
    bg_buf_fini(&c->hname);
    bg_buf_fini(&c->hval);
    bg_buf_fini(&c->body);
    free(c->authorization);
    bg_buf_fini(&c->headers);
    free(c);
    admin_maybe_stopped(a);
}

void admin_conn_close(admin_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->req != NULL) {
        c->req->conn = NULL;
        c->req = NULL;
    }
    uv_close(&c->h.handle, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_timeout(uv_timer_t *t)
{
    admin_conn_close(t->data);
}

static void arm_idle_timer(admin_conn_t *c)
{
    uv_timer_start(&c->timer, on_timeout, c->admin->idle_timeout_ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    admin_conn_t *c = h->data;

    (void)suggested;
    bg_buf_reserve(&c->in, 64 * 1024);
    buf->base = c->in.data + c->in.len;
    buf->len = c->in.cap - c->in.len - 1;
}

/* Answers a request that never reached routes.c (framing error or limit) and closes. */
static void reject(admin_conn_t *c, int code, const char *msg)
{
    bg_admin_req_t *req = BG_NEW(bg_admin_req_t);

    req->conn = c;
    req->close_after = true;
    c->req = req;
    c->busy = true;
    uv_read_stop(&c->h.stream);
    bg_admin_respond_errorf(req, code, "%s", msg);
}

static void dispatch(admin_conn_t *c)
{
    bg_admin_req_t *req = BG_NEW(bg_admin_req_t);

    req->conn = c;
    req->close_after = !c->keep_alive;
    c->req = req;
    c->busy = true;
    uv_read_stop(&c->h.stream);
    uv_timer_stop(&c->timer);
    admin_dispatch(c, req);
}

/* Feeds buffered bytes to the parser until a request is complete (then serves it) or the
 * buffer is used up. */
static void parse(admin_conn_t *c)
{
    while (!c->busy && !c->closing && c->in.len > 0) {
        llhttp_errno_t e = llhttp_execute(&c->parser, c->in.data, c->in.len);
        if (e == HPE_OK) {
            bg_buf_reset(&c->in);
            return;
        }
        if (e == HPE_PAUSED) {
            bg_buf_consume(&c->in, (size_t)(llhttp_get_error_pos(&c->parser) - c->in.data));
            llhttp_resume(&c->parser);
            dispatch(c);
            return;
        }
        if (c->limit_error == UV_EMSGSIZE)
            reject(c, UV_EMSGSIZE, "request head larger than 16 KiB");
        else if (c->limit_error == UV_E2BIG)
            reject(c, UV_E2BIG, "request body larger than 1 MiB");
        else
            reject(c, BG_EPROTO, llhttp_get_error_reason(&c->parser));
        return;
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    admin_conn_t *c = s->data;

    (void)buf;
    if (n < 0) {
        admin_conn_close(c);
        return;
    }
    if (c->streaming)
        return; /* nothing more is parsed on a streaming connection; EOF closes it */
    c->in.len += (size_t)n;
    c->in.data[c->in.len] = '\0';
    arm_idle_timer(c);
    parse(c);
}

void admin_conn_accept(bg_admin_t *a)
{
    admin_conn_t *c = BG_NEW(admin_conn_t);
    int rc;

    c->admin = a;
    if (a->is_unix)
        uv_pipe_init(a->loop, &c->h.pipe, 0);
    else
        uv_tcp_init(a->loop, &c->h.tcp);
    uv_timer_init(a->loop, &c->timer);
    c->h.handle.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    bg_list_insert_tail(&a->conns, &c->link);
    a->n_conns++;
    llhttp_init(&c->parser, HTTP_REQUEST, settings());
    c->parser.data = c;

    rc = uv_accept(&a->listener.stream, &c->h.stream);
    if (rc != 0 || a->n_conns > a->max_conns || a->stopping) {
        if (rc == 0 && !a->stopping)
            bg_log(BG_LOG_WARN, "admin", "msg=\"too many connections\" max=%zu", a->max_conns);
        admin_conn_close(c);
        return;
    }
    if (!a->is_unix)
        uv_tcp_nodelay(&c->h.tcp, 1);
    uv_read_start(&c->h.stream, on_alloc, on_read);
    arm_idle_timer(c);
}

/* After an answer was written on a keep-alive connection: next request. */
static void serve_next(admin_conn_t *c)
{
    c->busy = false;
    if (c->closing)
        return;
    arm_idle_timer(c);
    parse(c);
    if (!c->busy && !c->closing)
        uv_read_start(&c->h.stream, on_alloc, on_read);
}

static void on_written(uv_write_t *w, int status)
{
    write_req_t *wr = (write_req_t *)w;
    admin_conn_t *c = wr->conn;

    free(wr->data);
    if (status < 0 || wr->close_after)
        admin_conn_close(c);
    else
        serve_next(c);
    free(wr);
}

void admin_req_write(bg_admin_req_t *req, int status, const char *content_type, char *body,
                     size_t len)
{
    admin_conn_t *c = req->conn;
    bg_buf_t out;
    write_req_t *wr;
    uv_buf_t b;

    if (c == NULL || c->closing) {
        free(body);
        admin_req_free(req);
        return;
    }
    bg_buf_init(&out);
    bg_buf_printf(&out, "HTTP/1.1 %d %s\r\n", status, bg_http_reason(status));
    /* RFC 9110 §15.4.5: a 304 carries no content and its length would describe the 200. */
    if (status != 304)
        bg_buf_printf(&out, "Content-Type: %s\r\nContent-Length: %zu\r\n", content_type, len);
    bg_buf_printf(&out, "Cache-Control: %s\r\nConnection: %s\r\n",
                  req->cache_control != NULL ? req->cache_control : "no-store",
                  req->close_after ? "close" : "keep-alive");
    if (req->allow != NULL)
        bg_buf_printf(&out, "Allow: %s\r\n", req->allow);
    if (status == 401)
        bg_buf_puts(&out, "WWW-Authenticate: Bearer realm=\"bluegreen\"\r\n");
    if (req->extra_headers != NULL)
        bg_buf_puts(&out, req->extra_headers);
    if (c->admin->dash != NULL)
        bg_buf_puts(&out, bg_dash_security_headers());
    bg_buf_puts(&out, "\r\n");
    bg_buf_append(&out, body, len);
    free(body);

    wr = BG_NEW(write_req_t);
    wr->conn = c;
    wr->close_after = req->close_after;
    b = uv_buf_init(out.data, (unsigned)out.len);
    wr->data = bg_buf_steal(&out);
    c->req = NULL;
    admin_req_free(req);
    if (uv_write(&wr->w, &c->h.stream, &b, 1, on_written) != 0) {
        free(wr->data);
        free(wr);
        admin_conn_close(c);
    }
}

int bg_admin_req_take_fd(bg_admin_req_t *req)
{
    admin_conn_t *c = req->conn;
    uv_os_fd_t fd;
    int dup_fd;

    if (c == NULL || c->closing || uv_fileno(&c->h.handle, &fd) != 0) {
        admin_req_free(req);
        return BG_EUNAVAIL;
    }
    dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dup_fd < 0) {
        int rc = -errno;
        bg_admin_respond_errorf(req, BG_EIO, "dup: %s", bg_strerror(rc));
        return rc;
    }
    c->req = NULL;
    admin_req_free(req);
    admin_conn_close(c); /* closes our fd; the socket lives on in <dup_fd> */
    return dup_fd;
}

/* ---- streaming answers ---- */

static void on_stream_written(uv_write_t *w, int status)
{
    write_req_t *wr = (write_req_t *)w;

    free(wr->data);
    if (status < 0)
        admin_conn_close(wr->conn);
    free(wr);
}

static bool stream_queue(admin_conn_t *c, char *data, size_t len)
{
    write_req_t *wr = BG_NEW(write_req_t);
    uv_buf_t b = uv_buf_init(data, (unsigned)len);

    wr->conn = c;
    wr->data = data;
    if (uv_write(&wr->w, &c->h.stream, &b, 1, on_stream_written) != 0) {
        free(data);
        free(wr);
        admin_conn_close(c);
        return false;
    }
    return true;
}

void admin_req_stream_head(bg_admin_req_t *req, int status, const char *content_type)
{
    admin_conn_t *c = req->conn;
    char *head;

    req->streaming = true;
    if (c == NULL || c->closing)
        return;
    head = bg_asprintf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\n"
                       "Connection: close\r\n%s\r\n",
                       status, bg_http_reason(status), content_type,
                       c->admin->dash != NULL ? bg_dash_security_headers() : "");
    c->streaming = true;
    if (stream_queue(c, head, strlen(head)))
        uv_read_start(&c->h.stream, on_alloc, on_read);
}

bool admin_req_stream_write(bg_admin_req_t *req, const char *data, size_t len)
{
    admin_conn_t *c = req->conn;

    BG_ASSERT(req->streaming);
    if (c == NULL || c->closing)
        return false;
    if (uv_stream_get_write_queue_size(&c->h.stream) > BG_ADMIN_MAX_STREAM_QUEUE) {
        bg_log(BG_LOG_WARN, "admin", "msg=\"stream client too slow, closing\" queued=%zu",
               uv_stream_get_write_queue_size(&c->h.stream));
        admin_conn_close(c);
        return false;
    }
    return stream_queue(c, bg_strndup(data, len), len);
}

static void on_stream_shutdown(uv_shutdown_t *sr, int status)
{
    admin_conn_t *c = sr->data;

    (void)status;
    free(sr);
    admin_conn_close(c);
}

void admin_req_stream_end(bg_admin_req_t *req)
{
    admin_conn_t *c = req->conn;
    uv_shutdown_t *sr;

    BG_ASSERT(req->streaming);
    admin_req_free(req);
    if (c == NULL || c->closing)
        return;
    c->req = NULL;
    /* Close once the queued bytes are out: shutdown completes after pending writes. */
    sr = BG_NEW(uv_shutdown_t);
    sr->data = c;
    if (uv_shutdown(sr, &c->h.stream, on_stream_shutdown) != 0) {
        free(sr);
        admin_conn_close(c);
    }
}
