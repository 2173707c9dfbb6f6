/* Self-test of the fake backend and the raw client in tests/support: answers, keep-alive,
 * framing (Content-Length, chunked, CL+TE refused), recorded bytes, handlers, tunnels. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/support.h"

#define T_MS 5000

static bgt_backend_t *be;

static void setup(void)
{
    be = bgt_backend_start("alpha", 0);
    cr_assert_not_null(be);
}

static void teardown(void)
{
    bgt_backend_stop(be);
}

TestSuite(support_backend, .init = setup, .fini = teardown, .timeout = 30);

Test(support_backend, answers_default_json)
{
    bgt_resp_t r;
    cr_assert(bgt_http_get(bgt_backend_port(be), NULL, "/x", &r, T_MS));
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "{\"backend\":\"alpha\",\"n\":1}");
    char ct[64];
    cr_assert(bgt_resp_header(&r, "content-type", ct, sizeof(ct)));
    cr_assert_str_eq(ct, "application/json");
    cr_assert(r.closed, "Connection: close was asked for");
    bgt_resp_fini(&r);
    cr_assert_eq(bgt_backend_requests(be), 1);
}

Test(support_backend, keep_alive_and_pipelining)
{
    int fd = bgt_connect(bgt_backend_port(be));
    cr_assert_geq(fd, 0);
    const char *two = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    cr_assert(bgt_write_all(fd, two, strlen(two)));
    for (int i = 1; i <= 3; i++) {
        bgt_resp_t r;
        if (i == 3) {
            const char *one = "GET /c HTTP/1.1\r\nHost: h\r\n\r\n";
            cr_assert(bgt_write_all(fd, one, strlen(one)));
        }
        cr_assert(bgt_read_response(fd, &r, T_MS), "response %d", i);
        cr_assert_eq(r.status, 200);
        cr_assert_not(r.closed);
        char want[64];
        snprintf(want, sizeof(want), "{\"backend\":\"alpha\",\"n\":%d}", i);
        cr_assert_str_eq(r.body, want);
        bgt_resp_fini(&r);
    }
    cr_assert_eq(bgt_backend_connections(be), 1);
    cr_assert_eq(bgt_backend_open_connections(be), 1);
    close(fd);
}

Test(support_backend, records_raw_bytes_with_bodies)
{
    const char *cl = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
    const char *ch = "POST /q HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: 1\r\n\r\n";
    int fd = bgt_connect(bgt_backend_port(be));
    bgt_resp_t r;
    cr_assert(bgt_write_all(fd, cl, strlen(cl)));
    cr_assert(bgt_read_response(fd, &r, T_MS));
    bgt_resp_fini(&r);
    cr_assert(bgt_write_all(fd, ch, strlen(ch)));
    cr_assert(bgt_read_response(fd, &r, T_MS));
    cr_assert_eq(r.status, 200);
    bgt_resp_fini(&r);
    close(fd);

    size_t len = 0;
    char *got = bgt_backend_received(be, &len);
    cr_assert_eq(len, strlen(cl) + strlen(ch));
    cr_assert(memcmp(got, cl, strlen(cl)) == 0);
    cr_assert(memcmp(got + strlen(cl), ch, strlen(ch)) == 0);
    free(got);
    cr_assert_eq(bgt_backend_requests(be), 2);
}

Test(support_backend, refuses_ambiguous_framing)
{
    const char *bad = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    int fd = bgt_connect(bgt_backend_port(be));
    bgt_resp_t r;
    cr_assert(bgt_write_all(fd, bad, strlen(bad)));
    cr_assert(bgt_read_response(fd, &r, T_MS));
    cr_assert_eq(r.status, 400);
    bgt_resp_fini(&r);
    cr_assert(bgt_wait_closed(fd, T_MS));
    close(fd);
    cr_assert_eq(bgt_backend_requests(be), 0);
}

static char *echo_body(void *arg, const bgt_backend_req_t *req)
{
    (void)arg;
    if (strcmp(req->path, "/drop") == 0)
        return strdup("");
    if (strcmp(req->path, "/ws") == 0)
        return strdup("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n"
                      "Connection: Upgrade\r\n\r\n");
    char *out = NULL;
    if (asprintf(&out,
                 "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "%zx\r\n%.*s\r\n0\r\n\r\n",
                 req->body_len, (int)req->body_len, req->body) < 0)
        return NULL;
    return out;
}

Test(support_backend, handler_chunked_response_drop_and_tunnel)
{
    bgt_backend_set_handler(be, echo_body, NULL);
    int port = bgt_backend_port(be);
    const char *post = "POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nping";
    bgt_resp_t r;
    cr_assert(bgt_http_raw(port, post, strlen(post), &r, T_MS));
    cr_assert_eq(r.status, 201);
    cr_assert_eq(r.body_len, 4);
    cr_assert_str_eq(r.body, "ping");
    bgt_resp_fini(&r);

    int fd = bgt_connect(port);
    const char *drop = "GET /drop HTTP/1.1\r\nHost: h\r\n\r\n";
    cr_assert(bgt_write_all(fd, drop, strlen(drop)));
    cr_assert(bgt_wait_closed(fd, T_MS));
    close(fd);

    fd = bgt_connect(port);
    const char *up = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n";
    cr_assert(bgt_write_all(fd, up, strlen(up)));
    cr_assert(bgt_read_response(fd, &r, T_MS));
    cr_assert_eq(r.status, 101);
    bgt_resp_fini(&r);
    cr_assert(bgt_write_all(fd, "raw!", 4));
    char buf[8] = {0};
    size_t got = 0;
    while (got < 4) {
        ssize_t n = read(fd, buf + got, 4 - got);
        cr_assert_gt(n, 0);
        got += (size_t)n;
    }
    cr_assert_str_eq(buf, "raw!");
    close(fd);
}

Test(support_backend, drop_connections_closes_idle_keepalive)
{
    int fd = bgt_connect(bgt_backend_port(be));
    const char *one = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    bgt_resp_t r;
    cr_assert(bgt_write_all(fd, one, strlen(one)));
    cr_assert(bgt_read_response(fd, &r, T_MS));
    bgt_resp_fini(&r);
    bgt_backend_drop_connections(be);
    cr_assert(bgt_wait_closed(fd, T_MS));
    close(fd);
}
