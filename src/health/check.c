/* One active check: a TCP connect, then for HTTP a `GET <path>` with `Connection: close`
 * whose response is parsed by llhttp (HTTP_RESPONSE mode) and judged by the status
 * matcher or the Actuator rules. One timer bounds connect and the whole check. Never
 * blocks. libuv ownership: the check owns its tcp handle and timer; its memory is released
 * in the last close callback, after every pending request callback has run (libuv calls
 * connect/write callbacks with UV_ECANCELED before the close callback).
 */
#include "health/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "base/base.h"
#include "health/health.h"
#include "base/compat.h"

typedef enum check_stage {
    STAGE_CONNECTING = 0,
    STAGE_WAITING = 1, /* request written or being written; reading the response */
    STAGE_DONE = 2,    /* result delivered or aborted; handles closing */
} check_stage_t;

struct bg_check {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect_req;
    uv_write_t write_req;
    int open_handles;
    check_stage_t stage;
    int sync_error; /* uv_tcp_connect() failed at once: reported by the timer */

    bg_health_type_t type;
    bg_health_format_t format;
    uint32_t timeout_ms;
    bg_status_range_t matcher[BG_MATCHER_MAX];
    size_t n_matcher;
    char *request; /* owned; the raw GET */

    llhttp_t parser;
    llhttp_settings_t settings;
    bool complete;
    bool body_truncated;
    bool in_content_type; /* the header whose value is arriving is Content-Type */
    char field[32];
    size_t field_len;
    char content_type[128];
    size_t content_type_len;
    bg_buf_t body;
    char read_buf[16 * 1024];

    bg_check_done_cb done;
    void *arg;
    void (*released)(void *arg2);
    void *arg2;
};

/* ---- lifecycle ---- */

static void on_handle_closed(uv_handle_t *handle)
{
    bg_check_t *c = handle->data;
    if (--c->open_handles > 0)
        return;
    void (*released)(void *) = c->released;
    void *arg2 = c->arg2;
    bg_buf_fini(&c->body);
    free(c->request);
    free(c);
    if (released)
        released(arg2);
}

static void close_handles(bg_check_t *c)
{
    c->stage = STAGE_DONE;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

/* Delivers the result once and starts closing. */
static void finish(bg_check_t *c, bool ok, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void finish(bg_check_t *c, bool ok, int status, const char *fmt, ...)
{
    if (c->stage == STAGE_DONE)
        return;
    bg_check_result_t res = {.ok = ok, .status = status};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res.reason, sizeof(res.reason), fmt, ap);
    va_end(ap);
    res.body = c->body.len ? c->body.data : "";
    res.body_len = c->body.len;
    close_handles(c);
    /* The body stays valid: memory is released only in the close callbacks. */
    c->done(c->arg, &res);
}

void bg_check_abort(bg_check_t *c)
{
    if (c->stage != STAGE_DONE)
        close_handles(c);
}

/* ---- judging ---- */

static void judge(bg_check_t *c)
{
    int status = c->parser.status_code;
    if (c->format == BG_HEALTH_FORMAT_STATUS) {
        bool ok = bg_matcher_match(c->matcher, c->n_matcher, status);
        finish(c, ok, status, "status %d", status);
        return;
    }
    if (c->body_truncated) {
        finish(c, false, status, "HTTP %d, body larger than %d bytes", status, BG_HEALTH_BODY_MAX);
        return;
    }
    char reason[256];
    bg_actuator_verdict_t v =
        bg_actuator_judge(status, c->body.data, c->body.len, reason, sizeof(reason));
    /* README: accept v3+json / v2+json / application/json; a 200 text/plain or HTML page
     * (a proxy's error page, a login redirect) is not Actuator. */
    if (v == BG_ACTUATOR_HEALTHY && !bg_actuator_content_type_ok(c->content_type)) {
        finish(c, false, status, "HTTP %d, Content-Type \"%s\" is not Actuator JSON", status,
               c->content_type);
        return;
    }
    finish(c, v == BG_ACTUATOR_HEALTHY, status, "%s", reason);
}

/* ---- llhttp callbacks ---- */

static bg_check_t *check_of(llhttp_t *p)
{
    return p->data;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    bg_check_t *c = check_of(p);
    size_t room = sizeof(c->field) - 1 - c->field_len;
    size_t n = len < room ? len : room;
    memcpy(c->field + c->field_len, at, n);
    c->field_len += n;
    c->field[c->field_len] = '\0';
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    bg_check_t *c = check_of(p);
    c->in_content_type = strcasecmp(c->field, "content-type") == 0;
    c->field_len = 0;
    c->field[0] = '\0';
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    bg_check_t *c = check_of(p);
    if (!c->in_content_type)
        return 0;
    size_t room = sizeof(c->content_type) - 1 - c->content_type_len;
    size_t n = len < room ? len : room;
    memcpy(c->content_type + c->content_type_len, at, n);
    c->content_type_len += n;
    c->content_type[c->content_type_len] = '\0';
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    check_of(p)->in_content_type = false;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    bg_check_t *c = check_of(p);
    size_t room = BG_HEALTH_BODY_MAX - c->body.len;
    if (len > room) {
        c->body_truncated = true;
        len = room;
    }
    if (len > 0)
        bg_buf_append(&c->body, at, len);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    /* RFC 9110 §15.2: an interim 1xx response (100 Continue, 103 Early Hints) precedes the
     * final one; skip it. (101 would be a protocol switch we never asked for.) */
    if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101) {
        check_of(p)->content_type_len = 0;
        check_of(p)->content_type[0] = '\0';
        return 0;
    }
    check_of(p)->complete = true;
    return HPE_PAUSED; /* one response is all we read; stop here */
}

/* ---- I/O ---- */

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    bg_check_t *c = handle->data;
    *buf = uv_buf_init(c->read_buf, sizeof(c->read_buf));
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    bg_check_t *c = stream->data;
    if (c->stage == STAGE_DONE || nread == 0)
        return;
    llhttp_errno_t e;
    if (nread == UV_EOF)
        e = llhttp_finish(&c->parser); /* a body delimited by close completes here */
    else if (nread < 0) {
        finish(c, false, 0, "read: %s", uv_strerror((int)nread));
        return;
    } else
        e = llhttp_execute(&c->parser, buf->base, (size_t)nread);
    if (c->complete)
        judge(c);
    else if (nread == UV_EOF)
        finish(c, false, 0, "connection closed before a complete response");
    else if (e != HPE_OK)
        finish(c, false, 0, "bad HTTP response: %s", llhttp_errno_name(e));
}

static void write_cb(uv_write_t *req, int status)
{
    bg_check_t *c = req->data;
    if (status < 0 && status != UV_ECANCELED)
        finish(c, false, 0, "write: %s", uv_strerror(status));
}

static void send_request(bg_check_t *c)
{
    uv_buf_t b = uv_buf_init(c->request, (unsigned)strlen(c->request));
    c->write_req.data = c;
    int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    if (rc < 0)
        finish(c, false, 0, "write: %s", uv_strerror(rc));
}

static void connect_cb(uv_connect_t *req, int status)
{
    bg_check_t *c = req->data;
    if (c->stage == STAGE_DONE || status == UV_ECANCELED)
        return;
    if (status < 0) {
        finish(c, false, 0, "connect: %s", uv_strerror(status));
        return;
    }
    if (c->type == BG_HEALTH_TCP) {
        finish(c, true, 0, "tcp: connected");
        return;
    }
    c->stage = STAGE_WAITING;
    send_request(c);
}

static void timeout_cb(uv_timer_t *timer)
{
    bg_check_t *c = timer->data;
    if (c->stage == STAGE_CONNECTING)
        finish(c, false, 0, "connect: timed out after %ums", c->timeout_ms);
    else
        finish(c, false, 0, "timed out after %ums", c->timeout_ms);
}

/* Runs on the next loop iteration so a synchronous error never calls back from inside
 * bg_check_start(). */
static void deferred_fail_cb(uv_timer_t *timer)
{
    bg_check_t *c = timer->data;
    finish(c, false, 0, "connect: %s", uv_strerror(c->sync_error));
}

static void init_parser(bg_check_t *c)
{
    llhttp_settings_init(&c->settings);
    c->settings.on_header_field = on_header_field;
    c->settings.on_header_field_complete = on_header_field_complete;
    c->settings.on_header_value = on_header_value;
    c->settings.on_header_value_complete = on_header_value_complete;
    c->settings.on_body = on_body;
    c->settings.on_message_complete = on_message_complete;
    llhttp_init(&c->parser, HTTP_RESPONSE, &c->settings);
    c->parser.data = c;
}

static char *build_request(const bg_check_spec_t *spec)
{
    return bg_asprintf("GET %s HTTP/1.1\r\n"
                       "Host: %s\r\n"
                       "User-Agent: bluegreen-health\r\n"
                       "Accept: application/vnd.spring-boot.actuator.v3+json, application/json\r\n"
                       "Connection: close\r\n"
                       "\r\n",
                       spec->path && *spec->path ? spec->path : "/", spec->host);
}

bg_check_t *bg_check_start(uv_loop_t *loop, const bg_check_spec_t *spec, bg_check_done_cb done,
                           void *arg, void (*released)(void *arg2), void *arg2)
{
    bg_check_t *c = BG_NEW(bg_check_t);
    c->type = spec->type;
    c->format = spec->format;
    c->timeout_ms = spec->timeout_ms;
    c->n_matcher = spec->n_matcher < BG_MATCHER_MAX ? spec->n_matcher : BG_MATCHER_MAX;
    if (c->n_matcher)
        memcpy(c->matcher, spec->matcher, c->n_matcher * sizeof(c->matcher[0]));
    c->done = done;
    c->arg = arg;
    c->released = released;
    c->arg2 = arg2;
    bg_buf_init(&c->body);
    if (c->type == BG_HEALTH_HTTP)
        c->request = build_request(spec);
    init_parser(c);

    BG_ASSERT(uv_timer_init(loop, &c->timer) == 0);
    BG_ASSERT(uv_tcp_init(loop, &c->tcp) == 0);
    c->timer.data = c;
    c->tcp.data = c;
    c->connect_req.data = c;
    c->open_handles = 2;

    int rc = uv_tcp_connect(&c->connect_req, &c->tcp, spec->addr, connect_cb);
    if (rc < 0) {
        /* Report on the next iteration, through the timer, with the real error. */
        c->sync_error = rc;
        uv_timer_start(&c->timer, deferred_fail_cb, 0, 0);
        return c;
    }
    uv_timer_start(&c->timer, timeout_cb, spec->timeout_ms, 0);
    return c;
}
