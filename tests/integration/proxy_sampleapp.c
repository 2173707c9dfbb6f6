/* Proxy integration against real processes: two build/sample-app instances as the blue
 * and green slots; traffic follows the weights, the WebSocket handshake and echo tunnel
 * work end to end, and a killed target is retried around then ejected passively. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"
#include "integration/proxy_fixture.h"

static pfx_t F;
static pid_t pids[2];
static int ports[2];

static void spawn_app(int i, const char *slot, const char *version)
{
    char port[16];
    ports[i] = bgt_free_port();
    snprintf(port, sizeof(port), "%d", ports[i]);
    const char *argv[] = {bgt_bin("sample-app"), "--service", "orders", "--version", version,
                          "--port", port, "--slot", slot, NULL};
    char bin[512];
    snprintf(bin, sizeof(bin), "%s", argv[0]);
    argv[0] = bin;
    pids[i] = bgt_spawn(argv, NULL, NULL);
    cr_assert(bgt_wait_port(ports[i], 10000), "sample-app %s did not listen", slot);
}

static void setup(void)
{
    spawn_app(0, "blue", "1.0.0");
    spawn_app(1, "green", "2.0.0");
    pfx_start(&F, NULL, false);
}

static void teardown(void)
{
    pfx_stop(&F);
    for (int i = 0; i < 2; i++)
        bgt_stop(pids[i], 3000);
}

TestSuite(proxy_sampleapp, .init = setup, .fini = teardown, .timeout = 60);

static void publish(uint32_t blue, uint32_t green)
{
    pfx_svc_t s = {.name = "orders", .host = "orders.local", .blue = {pfx_addr(ports[0])},
                   .green = {pfx_addr(ports[1])}, .blue_w = blue, .green_w = green,
                   .passive_failures = 2};
    pfx_publish(&F, &s, 1);
}

static int count_version(const char *version, int n)
{
    int hits = 0, fd = bgt_connect(F.port);
    for (int i = 0; i < n; i++) {
        bgt_resp_t r;
        cr_assert_eq(pfx_get_on(fd, "orders.local", "/", &r), 200);
        hits += strstr(r.body, version) != NULL;
        bgt_resp_fini(&r);
    }
    close(fd);
    return hits;
}

Test(proxy_sampleapp, traffic_follows_weights)
{
    publish(100, 0);
    cr_assert_eq(count_version("1.0.0", 50), 50);
    publish(0, 100);
    cr_assert_eq(count_version("2.0.0", 50), 50);
    publish(50, 50);
    int blue = count_version("1.0.0", 400);
    cr_assert(blue > 140 && blue < 260, "blue got %d of 400", blue);
}

Test(proxy_sampleapp, websocket_handshake_and_echo)
{
    publish(100, 0);
    const char *req = "GET /ws HTTP/1.1\r\nHost: orders.local\r\nConnection: Upgrade\r\n"
                      "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    int fd = bgt_connect(F.port);
    bgt_resp_t r;
    cr_assert(bgt_write_all(fd, req, strlen(req)));
    cr_assert(bgt_read_response(fd, &r, 5000));
    cr_assert_eq(r.status, 101, "%s", r.head);
    char accept[64];
    cr_assert(bgt_resp_header(&r, "Sec-WebSocket-Accept", accept, sizeof(accept)));
    cr_assert_str_eq(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    bgt_resp_fini(&r);
    char buf[32];
    cr_assert(bgt_write_all(fd, "\x81\x85" "abcdXXXXX", 11));
    size_t got = 0;
    while (got < 11) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - got, 0);
        cr_assert_gt(n, 0);
        got += (size_t)n;
    }
    cr_assert_eq(memcmp(buf, "\x81\x85" "abcdXXXXX", 11), 0);
    close(fd);
}

Test(proxy_sampleapp, dead_target_is_retried_then_ejected)
{
    pfx_svc_t s = {.name = "orders", .host = "orders.local",
                   .blue = {pfx_addr(ports[0]), pfx_addr(ports[1])}, .blue_w = 100,
                   .passive_failures = 2};
    pfx_publish(&F, &s, 1);
    bgt_stop(pids[1], 3000); /* the second target dies */
    for (int i = 0; i < 40; i++) {
        bgt_resp_t r;
        cr_assert(bgt_http_get(F.port, "orders.local", "/", &r, 5000));
        cr_assert_eq(r.status, 200, "request %d: %d", i, r.status);
        bgt_resp_fini(&r);
    }
    bg_target_t *dead = pfx_target(&F, "orders", 0, pfx_addr(ports[1]));
    cr_assert_eq(atomic_load(&dead->healthy), 0, "dead target was not ejected");
    cr_assert_eq(atomic_load(&dead->passive_ejected), 1);
}
