/* Proxy integration: timeouts (header, idle, connect, response), health (unhealthy
 * targets, passive ejection), retries, draining, preview routing and sticky sessions. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"
#include "integration/proxy_fixture.h"

static pfx_t F;
static bgt_backend_t *B1, *B2;

static void start(const bg_proxy_config_t *limits)
{
    B1 = bgt_backend_start("blue", 0);
    B2 = bgt_backend_start("green", 0);
    pfx_start(&F, limits, true);
}

static void teardown(void)
{
    pfx_stop(&F);
    bgt_backend_stop(B1);
    bgt_backend_stop(B2);
}

TestSuite(proxy_resilience, .fini = teardown, .timeout = 60);

static void sleep_ms(int ms)
{
    poll(NULL, 0, ms);
}

static char *slow_handler(void *arg, const bgt_backend_req_t *req)
{
    int ms = arg ? *(int *)arg : 1000;
    if (strncmp(req->path, "/slow", 5) == 0)
        sleep_ms(ms);
    return NULL;
}

static char *error_handler(void *arg, const bgt_backend_req_t *req)
{
    (void)arg;
    (void)req;
    return bg_strdup("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom");
}

/* A listener whose accept queue is full: connects to it hang (SYNs are dropped). */
static int blackhole(int *port, int fillers[2])
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 0), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    for (int i = 0; i < 2; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fillers[i], (struct sockaddr *)&a, sizeof(a));
    }
    sleep_ms(50);
    return fd;
}

static int dead_port(void)
{
    return bgt_free_port(); /* nothing listens there: connect is refused */
}

Test(proxy_resilience, header_timeout_408_and_silent_close)
{
    bg_proxy_config_t l = pfx_limits();
    l.header_timeout_ms = 300;
    start(&l);
    pfx_svc_t s = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B1))}, .blue_w = 100};
    pfx_publish(&F, &s, 1);
    int fd = bgt_connect(F.port);
    const char *partial = "GET / HTTP/1.1\r\nHost: a\r\n";
    cr_assert(bgt_write_all(fd, partial, strlen(partial)));
    bgt_resp_t r;
    cr_assert(bgt_read_response(fd, &r, 3000));
    cr_assert_eq(r.status, 408);
    cr_assert(r.closed || bgt_wait_closed(fd, 2000));
    bgt_resp_fini(&r);
    close(fd);
    /* no byte at all: closed without a response */
    fd = bgt_connect(F.port);
    char buf[64];
    uint64_t t0 = bg_now_ms();
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    cr_assert_eq(n, 0, "expected a plain close, got %zd bytes", n);
    cr_assert_lt(bg_now_ms() - t0, 3000);
    close(fd);
    cr_assert_eq(bgt_backend_requests(B1), 0);
}

Test(proxy_resilience, idle_keep_alive_connection_closed)
{
    bg_proxy_config_t l = pfx_limits();
    l.idle_timeout_ms = 300;
    start(&l);
    pfx_svc_t s = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B1))}, .blue_w = 100};
    pfx_publish(&F, &s, 1);
    int fd = bgt_connect(F.port);
    bgt_resp_t r;
    cr_assert_eq(pfx_get_on(fd, "a", "/", &r), 200);
    bgt_resp_fini(&r);
    cr_assert(bgt_wait_closed(fd, 3000), "idle connection not closed");
    close(fd);
}

Test(proxy_resilience, connect_timeout_retries_then_503)
{
    bg_proxy_config_t l = pfx_limits();
    l.connect_timeout_ms = 200;
    start(&l);
    int bh_port, fillers[2];
    int bh = blackhole(&bh_port, fillers);
    pfx_svc_t s = {.name = "app",
                   .blue = {pfx_addr(bh_port), pfx_addr(bgt_backend_port(B1))},
                   .blue_w = 100};
    pfx_publish(&F, &s, 1);
    for (int i = 0; i < 10; i++) {
        bgt_resp_t r;
        cr_assert(bgt_http_get(F.port, "a", "/", &r, 5000));
        cr_assert_eq(r.status, 200, "request %d: %d", i, r.status);
        bgt_resp_fini(&r);
    }
    /* only the black hole left: connect times out, no other target: 503 */
    pfx_svc_t only = {.name = "app", .blue = {pfx_addr(bh_port)}, .blue_w = 100};
    pfx_publish(&F, &only, 1);
    bgt_resp_t r;
    uint64_t t0 = bg_now_ms();
    cr_assert(bgt_http_get(F.port, "a", "/", &r, 5000));
    cr_assert_eq(r.status, 503, "%d %s", r.status, r.body);
    cr_assert_geq(bg_now_ms() - t0, 150);
    bgt_resp_fini(&r);
    close(fillers[0]);
    close(fillers[1]);
    close(bh);
}

Test(proxy_resilience, response_timeout_504)
{
    bg_proxy_config_t l = pfx_limits();
    l.response_timeout_ms = 300;
    start(&l);
    int ms = 1500;
    bgt_backend_set_handler(B1, slow_handler, &ms);
    pfx_svc_t s = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B1))}, .blue_w = 100};
    pfx_publish(&F, &s, 1);
    bgt_resp_t r;
    uint64_t t0 = bg_now_ms();
    cr_assert(bgt_http_get(F.port, "a", "/slow", &r, 5000));
    cr_assert_eq(r.status, 504);
    cr_assert(strstr(r.body, "timeout"), "%s", r.body);
    cr_assert_lt(bg_now_ms() - t0, 1400);
    bgt_resp_fini(&r);
}

Test(proxy_resilience, unhealthy_targets_get_no_traffic)
{
    start(NULL);
    pfx_svc_t s = {.name = "app",
                   .blue = {pfx_addr(bgt_backend_port(B1)), pfx_addr(bgt_backend_port(B2))},
                   .blue_w = 100};
    pfx_publish(&F, &s, 1);
    bg_target_set_healthy(pfx_target(&F, "app", 0, pfx_addr(bgt_backend_port(B2))), false);
    for (int i = 0; i < 50; i++) {
        bgt_resp_t r;
        cr_assert(bgt_http_get(F.port, "a", "/", &r, 5000));
        cr_assert_eq(r.status, 200);
        bgt_resp_fini(&r);
    }
    cr_assert_eq(bgt_backend_requests(B2), 0);
    cr_assert_eq(bgt_backend_requests(B1), 50);
    bg_target_set_healthy(pfx_target(&F, "app", 0, pfx_addr(bgt_backend_port(B1))), false);
    bgt_resp_t r;
    cr_assert(bgt_http_get(F.port, "a", "/", &r, 5000));
    cr_assert_eq(r.status, 503);
    cr_assert(strstr(r.body, "\"error\":\"no healthy target\""), "%s", r.body);
    bgt_resp_fini(&r);
    cr_assert_eq(atomic_load(&F.stats[0]->no_target), 1);
}

static atomic_int notified;
static void notify_cb(uv_async_t *a)
{
    (void)a;
    atomic_store(&notified, 1);
}

Test(proxy_resilience, passive_ejection)
{
    uv_loop_t loop;
    uv_async_t async;
    uv_loop_init(&loop);
    uv_async_init(&loop, &async, notify_cb);
    F.notify = &async;
    B1 = bgt_backend_start("blue", 0);
    B2 = bgt_backend_start("green", 0);
    bg_proxy_config_t l = pfx_limits();
    pfx_start(&F, &l, false);
    bgt_backend_set_handler(B1, error_handler, NULL);
    pfx_svc_t s = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B1))}, .blue_w = 100,
                   .passive_failures = 3};
    pfx_publish(&F, &s, 1);
    bg_target_t *t = pfx_target(&F, "app", 0, pfx_addr(bgt_backend_port(B1)));
    for (int i = 0; i < 3; i++) {
        bgt_resp_t r;
        cr_assert(bgt_http_get(F.port, "a", "/", &r, 5000));
        cr_assert_eq(r.status, 500);
        bgt_resp_fini(&r);
    }
    cr_assert_eq(atomic_load(&t->healthy), 0);
    cr_assert_eq(atomic_load(&t->passive_ejected), 1);
    bgt_resp_t r;
    cr_assert(bgt_http_get(F.port, "a", "/", &r, 5000));
    cr_assert_eq(r.status, 503);
    bgt_resp_fini(&r);
    cr_assert_eq(bgt_backend_requests(B1), 3);
    uint64_t deadline = bg_now_ms() + 3000;
    while (!atomic_load(&notified) && bg_now_ms() < deadline)
        uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert(atomic_load(&notified), "passive_notify was not signalled");
    uv_close((uv_handle_t *)&async, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

Test(proxy_resilience, retries_hide_a_dead_target)
{
    start(NULL);
    pfx_svc_t s = {.name = "app",
                   .blue = {pfx_addr(dead_port()), pfx_addr(bgt_backend_port(B1)),
                            pfx_addr(bgt_backend_port(B2))},
                   .blue_w = 100};
    pfx_publish(&F, &s, 1);
    for (int i = 0; i < 100; i++) {
        bgt_resp_t r;
        cr_assert(bgt_http_get(F.port, "a", "/", &r, 5000));
        cr_assert_eq(r.status, 200, "request %d failed: %d", i, r.status);
        bgt_resp_fini(&r);
    }
    cr_assert_eq(bgt_backend_requests(B1) + bgt_backend_requests(B2), 100);
}

typedef struct slow_req {
    int port;
    const char *path;
    bgt_resp_t r;
    bool ok;
} slow_req_t;

static void *slow_main(void *arg)
{
    slow_req_t *s = arg;
    s->ok = bgt_http_get(s->port, "a", s->path, &s->r, 8000);
    return NULL;
}

static bool backend_busy(void *arg)
{
    return bgt_backend_requests(arg) > 0 || bgt_backend_open_connections(arg) > 0;
}

Test(proxy_resilience, draining_finishes_in_flight)
{
    start(NULL);
    int ms = 800;
    bgt_backend_set_handler(B1, slow_handler, &ms);
    pfx_svc_t s = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B1))},
                   .green = {pfx_addr(bgt_backend_port(B2))}, .blue_w = 100, .green_w = 0};
    pfx_publish(&F, &s, 1);
    slow_req_t sr = {.port = F.port, .path = "/slow"};
    pthread_t th;
    pthread_create(&th, NULL, slow_main, &sr);
    cr_assert(bgt_wait_until(backend_busy, B1, 3000));
    sleep_ms(100);
    s.blue_w = 0;
    s.green_w = 100;
    pfx_publish(&F, &s, 1);
    bgt_resp_t r;
    cr_assert(bgt_http_get(F.port, "a", "/new", &r, 5000));
    cr_assert(strstr(r.body, "green"), "%s", r.body);
    bgt_resp_fini(&r);
    pthread_join(th, NULL);
    cr_assert(sr.ok);
    cr_assert_eq(sr.r.status, 200, "in-flight request to the drained slot: %d", sr.r.status);
    cr_assert(strstr(sr.r.body, "blue"));
    bgt_resp_fini(&sr.r);
}

static bool no_open(void *arg)
{
    return bgt_backend_open_connections(arg) == 0;
}

Test(proxy_resilience, drain_deadline_closes_leftovers)
{
    start(NULL);
    int ms = 3000;
    bgt_backend_set_handler(B1, slow_handler, &ms);
    pfx_svc_t s = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B1))},
                   .green = {pfx_addr(bgt_backend_port(B2))}, .blue_w = 100, .drain_ms = 300};
    pfx_publish(&F, &s, 1);
    slow_req_t sr = {.port = F.port, .path = "/slow"};
    pthread_t th;
    pthread_create(&th, NULL, slow_main, &sr);
    cr_assert(bgt_wait_until(backend_busy, B1, 3000));
    uint64_t t0 = bg_now_ms();
    s.blue_w = 0;
    s.green_w = 100;
    pfx_publish(&F, &s, 1);
    pthread_join(th, NULL);
    cr_assert_lt(bg_now_ms() - t0, 2000, "drain deadline not enforced");
    cr_assert(!sr.ok || sr.r.status == 502);
    if (sr.ok)
        bgt_resp_fini(&sr.r);
    cr_assert(bgt_wait_until(no_open, B1, 5000));
}

Test(proxy_resilience, preview_header_and_test_listener)
{
    start(NULL);
    pfx_svc_t s = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B1))},
                   .green = {pfx_addr(bgt_backend_port(B2))}, .blue_w = 100};
    pfx_publish(&F, &s, 1);
    bgt_resp_t r;
    cr_assert(bgt_http_get(F.port, "a", "/", &r, 5000));
    cr_assert(strstr(r.body, "blue"));
    bgt_resp_fini(&r);
    const char *req = "GET / HTTP/1.1\r\nHost: a\r\nX-Bluegreen-Slot: preview\r\n\r\n";
    cr_assert(bgt_http_raw(F.port, req, strlen(req), &r, 5000));
    cr_assert(strstr(r.body, "green"), "%s", r.body);
    bgt_resp_fini(&r);
    cr_assert(bgt_http_get(F.test_port, "a", "/", &r, 5000));
    cr_assert(strstr(r.body, "green"), "%s", r.body);
    bgt_resp_fini(&r);
    size_t len;
    char *got = bgt_backend_received(B2, &len);
    cr_assert_null(strstr(got, "X-Bluegreen-Slot"), "routing header must not be forwarded");
    free(got);
    /* no preview slot: the test listener answers 503 */
    pfx_svc_t live_only = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B1))}, .blue_w = 100};
    pfx_publish(&F, &live_only, 1);
    cr_assert(bgt_http_get(F.test_port, "a", "/", &r, 5000));
    cr_assert_eq(r.status, 503);
    bgt_resp_fini(&r);
}

Test(proxy_resilience, sticky_cookie_pins_slot)
{
    start(NULL);
    pfx_svc_t s = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B1))},
                   .green = {pfx_addr(bgt_backend_port(B2))}, .blue_w = 50, .green_w = 50,
                   .sticky = true};
    pfx_publish(&F, &s, 1);
    bgt_resp_t r;
    char cookie[128];
    cr_assert(bgt_http_get(F.port, "a", "/", &r, 5000));
    cr_assert(bgt_resp_header(&r, "Set-Cookie", cookie, sizeof(cookie)));
    bool blue = strstr(cookie, "bg_slot=blue") != NULL;
    cr_assert(blue || strstr(cookie, "bg_slot=green"), "%s", cookie);
    cr_assert(strstr(r.body, blue ? "blue" : "green"));
    bgt_resp_fini(&r);
    for (int i = 0; i < 30; i++) {
        char req[256];
        snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\nCookie: x=1; bg_slot=%s\r\n\r\n",
                 blue ? "blue" : "green");
        cr_assert(bgt_http_raw(F.port, req, strlen(req), &r, 5000));
        cr_assert(strstr(r.body, blue ? "blue" : "green"), "request %d: %s", i, r.body);
        cr_assert(!bgt_resp_header(&r, "Set-Cookie", NULL, 0));
        bgt_resp_fini(&r);
    }
}

Test(proxy_resilience, stop_waits_for_in_flight)
{
    start(NULL);
    int ms = 400;
    bgt_backend_set_handler(B1, slow_handler, &ms);
    pfx_svc_t s = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B1))}, .blue_w = 100};
    pfx_publish(&F, &s, 1);
    slow_req_t sr = {.port = F.port, .path = "/slow"};
    pthread_t th;
    pthread_create(&th, NULL, slow_main, &sr);
    cr_assert(bgt_wait_until(backend_busy, B1, 3000));
    bg_proxy_stop(F.proxy, 3000);
    pthread_join(th, NULL);
    cr_assert(sr.ok);
    cr_assert_eq(sr.r.status, 200);
    bgt_resp_fini(&sr.r);
    cr_assert_neq(bgt_connect(F.port), -2);
}

Test(proxy_resilience, bind_error_names_the_address)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 4), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(a.sin_port));
    bg_router_t *r = bg_router_new();
    bg_proxy_options_t o = {.listen = addr, .limits = pfx_limits(), .router = r};
    bg_err_t err = {0};
    bg_proxy_t *p = bg_proxy_new(&o, &err);
    cr_assert(p);
    cr_assert_lt(bg_proxy_start(p, &err), 0);
    cr_assert(strstr(err.msg, addr), "%s", err.msg);
    cr_assert(strstr(err.msg, "in use") || strstr(err.msg, "EADDRINUSE"), "%s", err.msg);
    bg_proxy_free(p);
    bg_router_free(r);
    close(fd);
    /* keep the suite's teardown happy: a proxy and backends it can stop */
    start(NULL);
}

/* A second proxy on the port of a running one (whose sockets carry SO_REUSEPORT) must be
 * refused, not join it and silently take half of its traffic. */
Test(proxy_resilience, second_proxy_on_a_busy_port_is_refused)
{
    start(NULL);
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", F.port);
    bg_router_t *r = bg_router_new();
    bg_proxy_options_t o = {.listen = addr, .limits = pfx_limits(), .router = r};
    bg_err_t err = {0};
    bg_proxy_t *p = bg_proxy_new(&o, &err);
    cr_assert(p);
    cr_assert_lt(bg_proxy_start(p, &err), 0, "a second proxy bound %s", addr);
    cr_assert(strstr(err.msg, addr), "%s", err.msg);
    cr_assert(strstr(err.msg, "another process listens there"), "%s", err.msg);
    bg_proxy_free(p);
    bg_router_free(r);
}

Test(proxy_resilience, chunked_body_over_limit_413)
{
    bg_proxy_config_t l = pfx_limits();
    l.max_body_bytes = 1024;
    start(&l);
    pfx_svc_t s = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B1))}, .blue_w = 100};
    pfx_publish(&F, &s, 1);
    bg_buf_t b;
    bg_buf_init(&b);
    bg_buf_puts(&b, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 4; i++) {
        bg_buf_puts(&b, "200\r\n");
        for (int k = 0; k < 512; k++)
            bg_buf_append(&b, "x", 1);
        bg_buf_puts(&b, "\r\n");
    }
    bg_buf_puts(&b, "0\r\n\r\n");
    bgt_resp_t r;
    cr_assert(bgt_http_raw(F.port, b.data, b.len, &r, 5000));
    cr_assert_eq(r.status, 413);
    cr_assert(r.closed);
    bgt_resp_fini(&r);
    bg_buf_fini(&b);
    cr_assert_eq(bgt_backend_requests(B1), 0, "a truncated body must not be answered");
    /* within the limit it goes through */
    const char *ok = "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n0\r\n\r\n";
    cr_assert(bgt_http_raw(F.port, ok, strlen(ok), &r, 5000));
    cr_assert_eq(r.status, 200);
    bgt_resp_fini(&r);
}
