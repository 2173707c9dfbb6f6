/* Proxy side of the zero-downtime restart (docs/internals/server.md "Hand-over"): a proxy
 * listening on sockets inherited from another one serves the connections that waited in
 * their accept queues, and a stopping proxy loses no request that a keep-alive client
 * sends at the moment it stops: the answer comes with `Connection: close`, and an idle
 * connection is closed only after BG_PROXY_STOP_IDLE_MS. Real worker threads, real
 * loopback sockets, fake backends. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "integration/proxy_fixture.h"

static pfx_t F;
static bgt_backend_t *B1;

static void start(void)
{
    B1 = bgt_backend_start("blue", 0);
    pfx_start(&F, NULL, false);
    pfx_svc_t s = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B1))}, .blue_w = 100};
    pfx_publish(&F, &s, 1);
}

static void teardown(void)
{
    pfx_stop(&F);
    bgt_backend_stop(B1);
}

TestSuite(proxy_handover, .fini = teardown, .timeout = 60);

/* A request written just before the proxy stops, on a connection that was idle between
 * two requests, is answered (200), not dropped with the connection. Before the fix the
 * stop closed every idle connection at once and this lost requests. */
Test(proxy_handover, request_racing_the_stop_is_answered)
{
    bgt_resp_t r;
    int fd;
    const char req[] = "GET /two HTTP/1.1\r\nHost: a\r\n\r\n";

    B1 = bgt_backend_start("blue", 0);
    for (int i = 0; i < 20; i++) {
        pfx_start(&F, NULL, false);
        pfx_svc_t s = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B1))}, .blue_w = 100};
        pfx_publish(&F, &s, 1);
        fd = bgt_connect(F.port);
        cr_assert_geq(fd, 0);
        cr_assert_eq(pfx_get_on(fd, "a", "/one", &r), 200, "round %d: first request", i);
        bgt_resp_fini(&r);
        cr_assert(bgt_write_all(fd, req, strlen(req)));
        bg_proxy_stop(F.proxy, 3000);
        cr_assert(bgt_read_response(fd, &r, 5000), "round %d: the racing request was lost", i);
        cr_assert_eq(r.status, 200, "round %d", i);
        bgt_resp_fini(&r);
        cr_assert(bgt_wait_closed(fd, 5000), "round %d: connection left open", i);
        close(fd);
        if (i + 1 < 20) {
            bg_proxy_free(F.proxy);
            bg_router_free(F.router);
            for (size_t k = 0; k < F.n_targets; k++)
                bg_target_unref(F.targets[k]);
            for (int k = 0; k < PFX_MAX_SERVICES; k++)
                bg_service_stats_unref(F.stats[k]);
        }
    }
}

typedef struct stopper {
    bg_proxy_t *p;
    uint64_t took_ms;
} stopper_t;

static void *stop_main(void *arg)
{
    stopper_t *st = arg;
    uint64_t t0 = bg_now_ms();

    bg_proxy_stop(st->p, 10000);
    st->took_ms = bg_now_ms() - t0;
    return NULL;
}

static atomic_bool slow_seen;

static char *slow_handler(void *arg, const bgt_backend_req_t *req)
{
    (void)arg;
    if (strncmp(req->path, "/slow", 5) == 0) {
        atomic_store(&slow_seen, true);
        usleep(500 * 1000);
    }
    return NULL;
}

static bool slow_arrived(void *arg)
{
    (void)arg;
    return atomic_load(&slow_seen);
}

static bool listener_closed(void *arg)
{
    int c = bgt_connect(*(int *)arg);

    if (c < 0)
        return true;
    close(c);
    return false;
}

/* A response that is still on its way when the proxy stops carries `Connection: close`
 * and the connection ends after it; an idle keep-alive connection is closed after
 * BG_PROXY_STOP_IDLE_MS, so the stop waits for in-flight requests, not for the grace
 * period because of idle clients. */
Test(proxy_handover, stop_answers_with_connection_close_and_closes_idle)
{
    bgt_resp_t r;
    char conn[32] = "";
    const char slow[] = "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n";
    int busy, idle;
    pthread_t th;
    stopper_t st = {0};
    uint64_t t0;

    start();
    bgt_backend_set_handler(B1, slow_handler, NULL);
    busy = bgt_connect(F.port);
    idle = bgt_connect(F.port);
    cr_assert(busy >= 0 && idle >= 0);
    cr_assert_eq(pfx_get_on(idle, "a", "/", &r), 200);
    bgt_resp_fini(&r);
    cr_assert(bgt_write_all(busy, slow, strlen(slow)));
    cr_assert(bgt_wait_until(slow_arrived, NULL, 5000));
    st.p = F.proxy;
    t0 = bg_now_ms();
    pthread_create(&th, NULL, stop_main, &st);
    cr_assert(bgt_wait_until(listener_closed, &F.port, 5000), "the listeners stay open");
    cr_assert(bgt_wait_closed(idle, 5000), "idle keep-alive connection not closed");
    cr_assert_geq(bg_now_ms() - t0, BG_PROXY_STOP_IDLE_MS - 50,
                  "idle connection closed before BG_PROXY_STOP_IDLE_MS");
    cr_assert(bgt_read_response(busy, &r, 5000), "the in-flight request was lost");
    cr_assert_eq(r.status, 200);
    cr_assert(bgt_resp_header(&r, "Connection", conn, sizeof(conn)));
    cr_assert_str_eq(conn, "close");
    bgt_resp_fini(&r);
    cr_assert(bgt_wait_closed(busy, 5000));
    pthread_join(th, NULL);
    cr_assert_lt(st.took_ms, 5000, "stop waited %llu ms", (unsigned long long)st.took_ms);
    close(busy);
    close(idle);
}

/* A second proxy given the first one's listening sockets (as `serve --takeover` gets them)
 * listens on the same port, and a connection that waited in the accept queue while the
 * first one stopped is served by the second. */
Test(proxy_handover, inherited_sockets_serve_the_queued_connections)
{
    int fds[16], dups[16];
    size_t n;
    bg_proxy_options_t o = {.listen = "127.0.0.1:0", .limits = pfx_limits(), .router = NULL};
    bg_err_t err = {0};
    bg_proxy_t *next;
    bgt_resp_t r;
    int fd;

    start();
    n = bg_proxy_listen_fds(F.proxy, false, fds, 16);
    cr_assert_eq(n, 2, "one listening socket per worker");
    for (size_t i = 0; i < n; i++)
        dups[i] = dup(fds[i]);
    o.router = F.router;
    o.limits.workers = 1; /* fewer than inherited: raised so every socket has a worker */
    next = bg_proxy_new(&o, &err);
    cr_assert(next, "%s", err.msg);
    bg_proxy_inherit(next, false, dups, n);
    bg_proxy_stop(F.proxy, 1000); /* the old one lets go of its copies */
    fd = bgt_connect(F.port);     /* queued: nobody accepts yet */
    cr_assert_geq(fd, 0, "the port refused a connection during the hand-over");
    cr_assert(bgt_write_all(fd, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27));
    cr_assert_eq(bg_proxy_start(next, &err), 0, "%s", err.msg);
    cr_assert_eq(bg_proxy_port(next), F.port);
    cr_assert(bgt_read_response(fd, &r, 5000), "the queued connection was not served");
    cr_assert_eq(r.status, 200);
    bgt_resp_fini(&r);
    close(fd);
    cr_assert_eq(bg_proxy_listen_fds(next, false, fds, 16), 2);
    bg_proxy_stop(next, 1000);
    bg_proxy_free(next);
}
