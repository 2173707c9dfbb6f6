/* Admin connections: keep-alive, pipelining, limits, garbage (400 + close) and that the
 * server keeps serving afterwards.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "base/base.h"
#include "fixture.h"

static fx_t fx;

static void assert_still_serving(void)
{
    cresp_t r;
    cr_assert(fx_call(&fx, "GET", "/v1/health", NULL, NULL, &r), "admin stopped serving");
    cr_assert_eq(r.status, 200);
    cresp_fini(&r);
}

Test(admin_conn, keep_alive_and_pipelining, .timeout = 20)
{
    int fd;
    cresp_t r;
    char conn[32];
    const char *two = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
                      "PUT /v1/services/orders/traffic HTTP/1.1\r\nHost: x\r\n"
                      "Content-Length: 22\r\n\r\n{\"blue\":60,\"green\":40}"
                      "GET /v1/services/orders HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    fx_start(&fx, "unix", NULL);
    fd = cl_connect_unix(fx.sock_path);
    cr_assert_geq(fd, 0);
    cr_assert(cl_exchange(fd, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n", 36, &r));
    cr_assert_eq(r.status, 200);
    cr_assert(cresp_header(&r, "Connection", conn, sizeof(conn)));
    cr_assert_str_eq(conn, "keep-alive");
    cresp_fini(&r);

    /* Three pipelined requests, the second answered later: answers come in order. */
    cr_assert(cl_exchange(fd, two, strlen(two), &r));
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"status\"") != NULL, "%s", r.body);
    cresp_fini(&r);
    cr_assert(cl_read(fd, &r));
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "switch_ms") != NULL, "%s", r.body);
    cresp_fini(&r);
    cr_assert(cl_read(fd, &r));
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"green\":40") != NULL, "%s", r.body);
    cr_assert(cresp_header(&r, "Connection", conn, sizeof(conn)));
    cr_assert_str_eq(conn, "close");
    cresp_fini(&r);
    cr_assert(cl_closed(fd));
    close(fd);
    fx_stop(&fx);
}

Test(admin_conn, garbage_gets_400_and_close, .timeout = 30)
{
    static const char *const garbage[] = {
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
        "GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "GET /v1/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /v1/health HTTP/1.1\nHost: x\n\n",
        "GET /v1/health HTTP/9.9\r\n\r\n",
        "BREW /pot HTCPCP/1.0\r\n\r\n",
    };

    fx_start(&fx, "unix", NULL);
    for (size_t i = 0; i < BG_ARRAY_LEN(garbage); i++) {
        cresp_t r;
        int fd = cl_connect_unix(fx.sock_path);
        cr_assert_geq(fd, 0);
        cr_assert(cl_exchange(fd, garbage[i], strlen(garbage[i]), &r), "case %zu", i);
        cr_assert_eq(r.status, 400, "case %zu: %d", i, r.status);
        cr_assert(strstr(r.body, "\"bad_request\"") != NULL, "%s", r.body);
        cresp_fini(&r);
        cr_assert(cl_closed(fd), "case %zu: connection left open", i);
        close(fd);
        assert_still_serving();
    }
    fx_stop(&fx);
    cr_assert_eq(fx.traffic_calls, 0);
}

Test(admin_conn, limits_413_and_431, .timeout = 30)
{
    cresp_t r;
    int fd;
    bg_buf_t b;

    fx_start(&fx, "unix", NULL);
    /* Declared body over the limit: refused before reading it. */
    fd = cl_connect_unix(fx.sock_path);
    {
        const char *raw = "PUT /v1/services/orders/traffic HTTP/1.1\r\nHost: x\r\n"
                          "Content-Length: 99999999\r\n\r\n";
        cr_assert(cl_exchange(fd, raw, strlen(raw), &r));
    }
    cr_assert_eq(r.status, 413);
    cr_assert(strstr(r.body, "too_large") != NULL);
    cresp_fini(&r);
    cr_assert(cl_closed(fd));
    close(fd);

    /* A head over 16 KiB. */
    bg_buf_init(&b);
    bg_buf_puts(&b, "GET /v1/health HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 400; i++)
        bg_buf_printf(&b, "X-Filler-%d: %064d\r\n", i, i);
    bg_buf_puts(&b, "\r\n");
    fd = cl_connect_unix(fx.sock_path);
    cr_assert(cl_exchange(fd, b.data, b.len, &r));
    cr_assert_eq(r.status, 431);
    cr_assert(strstr(r.body, "too_large") != NULL);
    cresp_fini(&r);
    close(fd);
    bg_buf_fini(&b);

    /* Chunked body over the limit. */
    bg_buf_init(&b);
    bg_buf_puts(&b, "PUT /v1/services/orders/traffic HTTP/1.1\r\nHost: x\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 20; i++) {
        bg_buf_printf(&b, "10000\r\n");
        for (int k = 0; k < 0x10000; k++)
            bg_buf_append(&b, " ", 1);
        bg_buf_puts(&b, "\r\n");
    }
    fd = cl_connect_unix(fx.sock_path);
    cr_assert(cl_exchange(fd, b.data, b.len, &r));
    cr_assert_eq(r.status, 413);
    cresp_fini(&r);
    close(fd);
    bg_buf_fini(&b);

    assert_still_serving();
    fx_stop(&fx);
    cr_assert_eq(fx.traffic_calls, 0);
}

Test(admin_conn, client_gone_before_deferred_answer, .timeout = 20)
{
    const char *raw = "PUT /v1/services/orders/traffic HTTP/1.1\r\nHost: x\r\n"
                      "Content-Length: 22\r\n\r\n{\"blue\":10,\"green\":90}";
    int fd;

    fx_start(&fx, "unix", NULL);
    fd = cl_connect_unix(fx.sock_path);
    cr_assert_eq(write(fd, raw, strlen(raw)), (ssize_t)strlen(raw));
    close(fd); /* gone before the op answers (20 ms later) */
    /* The op's late answer is dropped; the server keeps serving. */
    for (int i = 0; i < 5; i++)
        assert_still_serving();
    fx_stop(&fx);
    cr_assert_eq(fx.traffic_calls, 1);
}

Test(admin_conn, idle_and_slow_clients_are_closed, .timeout = 20)
{
    int idle, slow;
    uint64_t t0;

    fx_start_limits(&fx, "unix", NULL, 200, 0);
    idle = cl_connect_unix(fx.sock_path);
    slow = cl_connect_unix(fx.sock_path);
    cr_assert_geq(idle, 0);
    cr_assert_geq(slow, 0);
    /* A head that never ends (slowloris) must not hold the connection forever. */
    cr_assert_eq(write(slow, "GET /v1/health HTTP/1.1\r\nHost:", 31), 31);
    t0 = bg_now_ms();
    cr_assert(cl_closed(idle), "idle connection not closed");
    cr_assert(cl_closed(slow), "slow connection not closed");
    cr_assert_lt(bg_now_ms() - t0, 3000);
    close(idle);
    close(slow);
    assert_still_serving();
    fx_stop(&fx);
}

Test(admin_conn, connection_cap, .timeout = 20)
{
    int fds[4];
    int extra;

    fx_start_limits(&fx, "unix", NULL, 0, 4);
    for (int i = 0; i < 4; i++) {
        cresp_t r;
        fds[i] = cl_connect_unix(fx.sock_path);
        cr_assert_geq(fds[i], 0);
        /* A served request proves the connection was accepted and counted. */
        cr_assert(cl_exchange(fds[i], "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n", 36, &r));
        cr_assert_eq(r.status, 200);
        cresp_fini(&r);
    }
    extra = cl_connect_unix(fx.sock_path);
    cr_assert_geq(extra, 0);
    cr_assert(cl_closed(extra), "connection over the cap was kept");
    close(extra);
    close(fds[0]);
    /* A slot frees up once a client leaves. */
    {
        cresp_t r;
        bool ok = false;
        for (int i = 0; i < 100 && !ok; i++) {
            ok = fx_call(&fx, "GET", "/v1/health", NULL, NULL, &r);
            if (ok)
                cresp_fini(&r);
            else
                usleep(10000);
        }
        cr_assert(ok, "no connection accepted after one was closed");
    }
    for (int i = 1; i < 4; i++)
        close(fds[i]);
    fx_stop(&fx);
}

Test(admin_conn, expect_100_continue, .timeout = 20)
{
    const char *head = "PUT /v1/services/orders/traffic HTTP/1.1\r\nHost: x\r\n"
                       "Expect: 100-continue\r\nContent-Length: 22\r\n\r\n";
    char buf[64];
    size_t got = 0;
    cresp_t r;
    int fd;

    fx_start(&fx, "unix", NULL);
    fd = cl_connect_unix(fx.sock_path);
    cr_assert_eq(write(fd, head, strlen(head)), (ssize_t)strlen(head));
    /* The interim answer comes before we send the body. */
    while (got < 25) {
        ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
        cr_assert_gt(n, 0);
        got += (size_t)n;
    }
    buf[got] = '\0';
    cr_assert(strncmp(buf, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0, "%s", buf);
    cr_assert(cl_exchange(fd, "{\"blue\":40,\"green\":60}", 22, &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    cresp_fini(&r);
    close(fd);
    fx_stop(&fx);
    cr_assert_eq(fx.weight[1], 60);
}
