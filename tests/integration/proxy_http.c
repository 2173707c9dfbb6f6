/* Proxy integration: forwarding, header rewriting, routing, weights, keep-alive,
 * pipelining, chunked and large streamed bodies, 100-continue and Upgrade tunnels. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"
#include "integration/proxy_fixture.h"

static pfx_t F;
static bgt_backend_t *B1, *B2;

static void one_service(uint32_t blue_w, uint32_t green_w)
{
    pfx_svc_t s = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B1))},
                   .green = {pfx_addr(bgt_backend_port(B2))}, .blue_w = blue_w,
                   .green_w = green_w};
    pfx_publish(&F, &s, 1);
}

static void setup(void)
{
    B1 = bgt_backend_start("blue", 0);
    B2 = bgt_backend_start("green", 0);
    pfx_start(&F, NULL, true);
    one_service(100, 0);
}

static void teardown(void)
{
    pfx_stop(&F);
    bgt_backend_stop(B1);
    bgt_backend_stop(B2);
}

TestSuite(proxy_http, .init = setup, .fini = teardown, .timeout = 60);

static char *received(bgt_backend_t *b)
{
    size_t len;
    return bgt_backend_received(b, &len);
}

Test(proxy_http, forwards_and_rewrites_headers)
{
    const char *req = "GET /hello?x=1 HTTP/1.1\r\nHost: shop.example\r\n"
                      "Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: 5\r\n"
                      "TE: trailers\r\nProxy-Connection: close\r\nX-Forwarded-For: 10.0.0.1\r\n"
                      "X-Request-Id: abc-123\r\nX-End: kept\r\n\r\n";
    bgt_resp_t r;
    cr_assert(bgt_http_raw(F.port, req, strlen(req), &r, 5000));
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "\"backend\":\"blue\""));
    cr_assert(bgt_resp_header(&r, "Via", NULL, 0));
    char *got = received(B1);
    cr_assert(strstr(got, "GET /hello?x=1 HTTP/1.1\r\n"), "%s", got);
    cr_assert(strstr(got, "\r\nHost: shop.example\r\n"));
    cr_assert(strstr(got, "\r\nVia: 1.1 bluegreen\r\n"));
    cr_assert(strstr(got, "\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n"), "%s", got);
    cr_assert(strstr(got, "\r\nX-Forwarded-Proto: http\r\n"));
    cr_assert(strstr(got, "\r\nX-Forwarded-Host: shop.example\r\n"));
    cr_assert(strstr(got, "\r\nX-Request-Id: abc-123\r\n"));
    cr_assert(strstr(got, "\r\nX-End: kept\r\n"));
    cr_assert_null(strstr(got, "X-Hop"), "header named in Connection leaked: %s", got);
    cr_assert_null(strstr(got, "Keep-Alive"));
    cr_assert_null(strstr(got, "TE:"));
    cr_assert_null(strstr(got, "Proxy-Connection"));
    cr_assert_null(strstr(got, "Connection:"));
    free(got);
    bgt_resp_fini(&r);
}

Test(proxy_http, generates_request_id_when_invalid)
{
    const char *req = "GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: bad id with spaces\r\n\r\n";
    bgt_resp_t r;
    cr_assert(bgt_http_raw(F.port, req, strlen(req), &r, 5000));
    cr_assert_eq(r.status, 200);
    char *got = received(B1);
    char *id = strstr(got, "X-Request-Id: ");
    cr_assert(id);
    cr_assert_null(strstr(got, "bad id"));
    id += strlen("X-Request-Id: ");
    cr_assert_eq(strspn(id, "0123456789abcdef"), 32);
    free(got);
    bgt_resp_fini(&r);
}

Test(proxy_http, routes_by_host_and_longest_prefix)
{
    pfx_svc_t s[3] = {
        {.name = "api", .host = "shop.example", .prefix = "/api",
         .blue = {pfx_addr(bgt_backend_port(B1))}, .blue_w = 100},
        {.name = "web", .host = "shop.example", .prefix = "/",
         .blue = {pfx_addr(bgt_backend_port(B2))}, .blue_w = 100},
    };
    bgt_resp_t r;
    pfx_publish(&F, s, 2);
    cr_assert(bgt_http_get(F.port, "shop.example:8080", "/api/items?q=1", &r, 5000));
    cr_assert(strstr(r.body, "blue"), "%s", r.body);
    bgt_resp_fini(&r);
    cr_assert(bgt_http_get(F.port, "SHOP.example", "/apix", &r, 5000));
    cr_assert(strstr(r.body, "green"), "%s", r.body);
    bgt_resp_fini(&r);
    cr_assert(bgt_http_get(F.port, "other.example", "/api", &r, 5000));
    cr_assert_eq(r.status, 404);
    char rid[64];
    cr_assert(bgt_resp_header(&r, "X-Request-Id", rid, sizeof(rid)), "no X-Request-Id on a 404");
    cr_assert_eq(strlen(rid), 32, "%s", rid);
    cr_assert_str_eq(r.body, "{\"error\":\"no route\",\"host\":\"other.example\",\"path\":\"/api\"}");
    bgt_resp_fini(&r);
}

Test(proxy_http, weights_30_70_within_3_percent, .timeout = 120)
{
    int fd = bgt_connect(F.port);
    unsigned blue = 0, green = 0, n = 10000;
    one_service(30, 70);
    for (unsigned i = 0; i < n; i++) {
        bgt_resp_t r;
        cr_assert_eq(pfx_get_on(fd, "a", "/", &r), 200);
        if (strstr(r.body, "blue"))
            blue++;
        else if (strstr(r.body, "green"))
            green++;
        bgt_resp_fini(&r);
    }
    close(fd);
    cr_assert_eq(blue + green, n);
    double pb = 100.0 * blue / n;
    cr_assert(pb > 27.0 && pb < 33.0, "blue got %.2f%%", pb);
}

static bool stats_settled(void *arg)
{
    bg_target_t *t = arg;
    return atomic_load(&t->stats.responses[2]) == 1000 && atomic_load(&t->stats.active) == 0 &&
           atomic_load(&F.stats[0]->slot[0].responses[2]) == 1000;
}

Test(proxy_http, keep_alive_reuses_backend_connections)
{
    int fd = bgt_connect(F.port);
    for (int i = 0; i < 1000; i++) {
        bgt_resp_t r;
        cr_assert_eq(pfx_get_on(fd, "a", "/k", &r), 200);
        cr_assert(!r.closed);
        bgt_resp_fini(&r);
    }
    close(fd);
    cr_assert_eq(bgt_backend_requests(B1), 1000);
    bg_target_t *t = pfx_target(&F, "app", 0, pfx_addr(bgt_backend_port(B1)));
    /* counters are recorded just after the response's last byte is written */
    cr_assert(bgt_wait_until(stats_settled, t, 2000), "target 2xx counter %lu",
              (unsigned long)atomic_load(&t->stats.responses[2]));
    cr_assert_eq(atomic_load(&F.stats[0]->slot[0].responses[2]), 1000, "slot 2xx counter");
    cr_assert_eq(atomic_load(&t->stats.active), 0);
    cr_assert_gt(atomic_load(&t->stats.bytes_out), 0);
    cr_assert_leq(bgt_backend_connections(B1), 2, "backend saw %u connections",
                  bgt_backend_connections(B1));
}

Test(proxy_http, pipelined_requests_answered_in_order)
{
    char req[4096] = "";
    size_t len = 0;
    int fd = bgt_connect(F.port);
    for (int i = 0; i < 20; i++)
        len += (size_t)snprintf(req + len, sizeof(req) - len,
                                "GET /p%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
    cr_assert(bgt_write_all(fd, req, len));
    for (int i = 0; i < 20; i++) {
        bgt_resp_t r;
        char want[32];
        cr_assert(bgt_read_response(fd, &r, 5000), "response %d", i);
        snprintf(want, sizeof(want), "\"n\":%d}", i + 1);
        cr_assert(strstr(r.body, want), "response %d: %s", i, r.body);
        bgt_resp_fini(&r);
    }
    close(fd);
    char *got = received(B1);
    char *p = got;
    for (int i = 0; i < 20; i++) {
        char want[32];
        snprintf(want, sizeof(want), "GET /p%d HTTP/1.1", i);
        p = strstr(p, want);
        cr_assert(p, "request %d missing or out of order", i);
    }
    free(got);
}

static char *chunked_handler(void *arg, const bgt_backend_req_t *req)
{
    (void)arg;
    bg_buf_t b;
    bg_buf_init(&b);
    bg_buf_printf(&b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    bg_buf_printf(&b, "%zx\r\n", req->body_len + 5);
    bg_buf_puts(&b, "echo:");
    bg_buf_append(&b, req->body, req->body_len);
    bg_buf_puts(&b, "\r\n3\r\nend\r\n0\r\n\r\n");
    return bg_buf_steal(&b);
}

Test(proxy_http, chunked_both_ways)
{
    const char *req = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    bgt_resp_t r;
    bgt_backend_set_handler(B1, chunked_handler, NULL);
    cr_assert(bgt_http_raw(F.port, req, strlen(req), &r, 5000));
    cr_assert_eq(r.status, 200, "%s%s", r.head, r.body);
    cr_assert(bgt_head_has_token(r.head, "Transfer-Encoding", "chunked"));
    cr_assert_str_eq(r.body, "echo:hello worldend");
    char *got = received(B1);
    cr_assert(strstr(got, "Transfer-Encoding: chunked\r\n"));
    cr_assert_null(strstr(got, "ext=1"), "chunk extensions are re-framed away");
    cr_assert_null(strstr(got, "X-Trailer"), "trailers never become header fields");
    free(got);
    bgt_resp_fini(&r);
}

Test(proxy_http, expect_100_continue)
{
    const char *head = "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                       "Expect: 100-continue\r\n\r\n";
    int fd = bgt_connect(F.port);
    bgt_resp_t r;
    cr_assert(bgt_write_all(fd, head, strlen(head)));
    cr_assert(bgt_read_response(fd, &r, 5000));
    cr_assert_eq(r.status, 100, "interim response relayed, got %d", r.status);
    bgt_resp_fini(&r);
    cr_assert(bgt_write_all(fd, "hello", 5));
    cr_assert(bgt_read_response(fd, &r, 5000));
    cr_assert_eq(r.status, 200);
    bgt_resp_fini(&r);
    close(fd);
}

static char *ws_handler(void *arg, const bgt_backend_req_t *req)
{
    (void)arg;
    if (!bgt_head_has_token(req->head, "Connection", "upgrade"))
        return bg_strdup("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    return bg_strdup("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\n\r\n");
}

Test(proxy_http, upgrade_tunnel_echo)
{
    const char *req = "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                      "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    char buf[64];
    int fd = bgt_connect(F.port);
    bgt_resp_t r;
    bgt_backend_set_handler(B1, ws_handler, NULL);
    cr_assert(bgt_write_all(fd, req, strlen(req)));
    cr_assert(bgt_read_response(fd, &r, 5000));
    cr_assert_eq(r.status, 101);
    cr_assert(bgt_head_has_token(r.head, "Upgrade", "websocket"));
    bgt_resp_fini(&r);
    for (int i = 0; i < 3; i++) {
        cr_assert(bgt_write_all(fd, "ping-frame", 10));
        size_t got = 0;
        while (got < 10) {
            ssize_t n = recv(fd, buf + got, sizeof(buf) - got, 0);
            cr_assert_gt(n, 0);
            got += (size_t)n;
        }
        cr_assert_eq(memcmp(buf, "ping-frame", 10), 0);
    }
    close(fd);
}

Test(proxy_http, http10_without_host_gets_empty_host)
{
    const char *req = "GET /old HTTP/1.0\r\n\r\n";
    bgt_resp_t r;
    cr_assert(bgt_http_raw(F.port, req, strlen(req), &r, 5000));
    cr_assert_eq(r.status, 200);
    cr_assert(r.closed);
    bgt_resp_fini(&r);
    char *got = received(B1);
    cr_assert(strstr(got, "GET /old HTTP/1.1\r\nHost: \r\n"), "%s", got);
    free(got);
}

Test(proxy_http, head_and_204_are_bodiless)
{
    int fd = bgt_connect(F.port);
    const char *req = "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n";
    char buf[4096];
    size_t got = 0;
    cr_assert(bgt_write_all(fd, req, strlen(req)));
    /* the HEAD response carries Content-Length but no body; the GET answer follows */
    uint64_t deadline = bg_now_ms() + 5000;
    while (bg_now_ms() < deadline && !strstr(buf, "\"n\":2}")) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, MSG_DONTWAIT);
        if (n > 0) {
            got += (size_t)n;
            buf[got] = 0;
        } else {
            usleep(2000);
        }
    }
    cr_assert(strstr(buf, "\"n\":2}"), "%s", buf);
    cr_assert_null(strstr(buf, "\"n\":1}"), "HEAD response must have no body: %s", buf);
    close(fd);
}
