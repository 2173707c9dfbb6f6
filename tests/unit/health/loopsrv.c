/* Health tests: the test loop's HTTP server and run helpers (see loopsrv.h). */
#include "loopsrv.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"

typedef struct conn {
    bg_list_t link;
    uv_tcp_t tcp;
    uv_write_t wr;
    loopsrv_t *s;
    char buf[8192];
    size_t len;
    bool answered;
} conn_t;

static void conn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void conn_close(conn_t *c)
{
    if (uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    bg_list_remove(&c->link);
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void wrote(uv_write_t *req, int status)
{
    conn_t *c = req->data;
    if (!c->s->keep_open || status < 0)
        conn_close(c);
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 - c->len));
}

static void note_request(loopsrv_t *s, conn_t *c, char *path, size_t size)
{
    size_t head_len = (size_t)(strstr(c->buf, "\r\n\r\n") - c->buf) + 4;
    snprintf(s->last_head, sizeof(s->last_head), "%.*s", (int)head_len, c->buf);
    path[0] = '\0';
    const char *sp = strchr(c->buf, ' ');
    if (sp) {
        const char *end = strchr(sp + 1, ' ');
        if (end)
            snprintf(path, size, "%.*s", (int)(end - sp - 1), sp + 1);
    }
    if (s->requests < 64)
        snprintf(s->paths[s->requests], sizeof(s->paths[0]), "%s", path);
    s->requests++;
}

static void answer(conn_t *c)
{
    loopsrv_t *s = c->s;
    char path[128];
    c->answered = true;
    note_request(s, c, path, sizeof(path));
    if (s->close_without_answer) {
        conn_close(c);
        return;
    }
    const char *resp = s->handler ? s->handler(s, path) : s->response;
    if (!resp)
        return; /* hang */
    uv_buf_t b = uv_buf_init((char *)resp, (unsigned)strlen(resp));
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, wrote) != 0)
        conn_close(c);
}

static void conn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    conn_t *c = st->data;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    if (!c->answered && strstr(c->buf, "\r\n\r\n"))
        answer(c);
    else if (c->len + 1 >= sizeof(c->buf))
        conn_close(c);
}

static void on_conn(uv_stream_t *server, int status)
{
    loopsrv_t *s = server->data;
    cr_assert_eq(status, 0);
    conn_t *c = BG_NEW(conn_t);
    c->s = s;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    cr_assert_eq(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
    bg_list_insert_tail(&s->conns, &c->link);
    s->connections++;
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

void loopsrv_start(loopsrv_t *s, uv_loop_t *loop, int port)
{
    struct sockaddr_in sa;
    bg_list_init(&s->conns);
    cr_assert_eq(uv_tcp_init(loop, &s->listener), 0);
    s->listener.data = s;
    uv_ip4_addr("127.0.0.1", port, &sa);
    cr_assert_eq(uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0), 0);
    cr_assert_eq(uv_listen((uv_stream_t *)&s->listener, 64, on_conn), 0);
    int len = sizeof(sa);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&sa, &len);
    s->port = ntohs(sa.sin_port);
}

void loopsrv_stop(loopsrv_t *s)
{
    if (s->stopped)
        return;
    s->stopped = true;
    uv_close((uv_handle_t *)&s->listener, NULL);
    while (!bg_list_is_empty(&s->conns))
        conn_close(BG_CONTAINER_OF(s->conns.next, conn_t, link));
}

/* ---- running the loop ---- */

static void heartbeat(uv_timer_t *t)
{
}

bool run_until(uv_loop_t *loop, bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    uv_timer_t hb;
    uv_timer_init(loop, &hb);
    uv_timer_start(&hb, heartbeat, 5, 5);
    uint64_t deadline = bg_now_ms() + (uint64_t)timeout_ms;
    bool ok;
    while (!(ok = cond(arg)) && bg_now_ms() < deadline)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&hb, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static bool never(void *arg)
{
    return false;
}

void run_for(uv_loop_t *loop, int ms)
{
    run_until(loop, never, NULL, ms);
}

int loop_finish(uv_loop_t *loop)
{
    uint64_t deadline = bg_now_ms() + 5000;
    /* NOWAIT + a short sleep: a handle leaked open must fail the test, not hang it. */
    while (uv_run(loop, UV_RUN_NOWAIT) != 0 && bg_now_ms() < deadline)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    return uv_loop_close(loop);
}

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
int leak_check(void)
{
    return __lsan_do_recoverable_leak_check();
}
#else
int leak_check(void)
{
    return 0;
}
#endif

const char *http_response(int status, const char *ctype, const char *body)
{
    static char slots[8][96 * 1024];
    static unsigned next;
    char *out = slots[next++ % 8];
    snprintf(out, sizeof(slots[0]),
             "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n%s", status, ctype,
             strlen(body), body);
    return out;
}
