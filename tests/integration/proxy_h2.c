/* Proxy integration: HTTP/2 to clients (h2c, prior knowledge) with real clients — curl,
 * nghttp, and Python h2 / hyperframe (tests/integration/h2_probe.py) for the adversarial
 * frame sequences, each checked for the exact RST_STREAM / GOAWAY code while a second,
 * well-behaved connection keeps getting answers — plus flow control tied to backpressure
 * in both directions and the GOAWAY of a graceful stop. docs/http2.md describes them.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "base/base.h"
#include "integration/proxy_fixture.h"

#define PY "/usr/bin/python3"
#define PROBE "tests/integration/h2_probe.py"
#define MAX_STREAMS 50
#define BIG (64ull * 1024 * 1024)
#define BLOCK (64 * 1024)

static pfx_t F;
static bgt_backend_t *BE;

/* ---- backends ---- */

static uint32_t fnv(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

/* Answers with what arrived: body length and hash, framing, Via; /slow after 1.5 s. */
static char *app_handler(void *arg, const bgt_backend_req_t *req)
{
    char body[512], *out;
    const char *via = strcasestr(req->head, "\r\nvia:");
    int n;

    (void)arg;
    if (strcmp(req->path, "/slow") == 0)
        usleep(1500 * 1000);
    n = snprintf(body, sizeof(body),
                 "{\"len\":%zu,\"sum\":%u,\"chunked\":%s,\"via2\":%s,\"method\":\"%s\","
                 "\"cookie_joined\":%s,\"host_app\":%s}",
                 req->body_len, fnv(req->body, req->body_len),
                 strcasestr(req->head, "transfer-encoding: chunked") ? "true" : "false",
                 via && strncmp(via + 6, " 2 bluegreen", 12) == 0 ? "true" : "false", req->method,
                 strstr(req->head, "\r\ncookie: a=1; b=2\r\n") ? "true" : "false",
                 strstr(req->head, "\r\nHost: app.test\r\n") ? "true" : "false");
    out = bg_xmalloc((size_t)n + 128);
    snprintf(out, (size_t)n + 128,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
             "X-Backend: app\r\n\r\n%s", n, body);
    return out;
}

/* A raw target: /big writes a BIG body and counts what the kernel took; /sink reads the
 * head and then nothing. Both block on a peer that stopped reading, as a real one does. */
typedef struct raw_be {
    int lfd, port;
    bool download;
    _Atomic uint64_t sent;
    pthread_t th;
} raw_be_t;

static raw_be_t BIGBE, SINKBE;
static int HOLE_FD = -1, HOLE_PORT, HOLE_FILL[4];

static void *raw_main(void *arg)
{
    raw_be_t *b = arg;
    int fd = accept(b->lfd, NULL, NULL);
    char *buf = bg_xcalloc(1, BLOCK);
    size_t have = 0;

    while (fd >= 0 && !strstr(buf, "\r\n\r\n") && have < BLOCK - 1) {
        ssize_t n = recv(fd, buf + have, BLOCK - 1 - have, 0);
        if (n <= 0)
            goto out;
        have += (size_t)n;
    }
    if (b->download) {
        char head[128];
        int n = snprintf(head, sizeof(head),
                         "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n\r\n", (unsigned long long)BIG);
        if (send(fd, head, (size_t)n, MSG_NOSIGNAL) != n)
            goto out;
        memset(buf, 'b', BLOCK);
        for (uint64_t left = BIG; left > 0;) {
            ssize_t k = send(fd, buf, BLOCK, MSG_NOSIGNAL);
            if (k <= 0)
                break;
            atomic_fetch_add(&b->sent, (uint64_t)k);
            left -= (uint64_t)k > left ? left : (uint64_t)k;
        }
    } else {
        char c;
        (void)!recv(fd, &c, 1, MSG_PEEK); /* never reads the body; returns at close */
        while (recv(fd, buf, 0, 0) > 0)
            ;
        sleep(30);
    }
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

static int listen_port(int *fd_out, int backlog)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, backlog), 0);
    getsockname(fd, (struct sockaddr *)&a, &al);
    *fd_out = fd;
    return ntohs(a.sin_port);
}

static void raw_start(raw_be_t *b, bool download)
{
    b->download = download;
    b->port = listen_port(&b->lfd, 16);
    pthread_create(&b->th, NULL, raw_main, b);
    pthread_detach(b->th);
}

/* A target whose accept queue is full: connects hang (SYNs dropped) until the connect
 * timeout, so a request to it keeps its body unconsumed meanwhile. */
static void hole_start(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    HOLE_PORT = listen_port(&HOLE_FD, 0);
    a.sin_port = htons((uint16_t)HOLE_PORT);
    for (int i = 0; i < 4; i++) {
        HOLE_FILL[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        (void)!connect(HOLE_FILL[i], (struct sockaddr *)&a, sizeof(a));
    }
    usleep(100 * 1000); /* let the handshakes of the fillers complete (setup, not a sync) */
}

static void setup(void)
{
    bg_proxy_config_t l = pfx_limits();

    l.h2c = true;
    l.h2_max_streams = MAX_STREAMS;
    l.connect_timeout_ms = 3000;
    BE = bgt_backend_start("app", 0);
    bgt_backend_set_handler(BE, app_handler, NULL);
    raw_start(&BIGBE, true);
    raw_start(&SINKBE, false);
    hole_start();
    pfx_start(&F, &l, false);
    pfx_svc_t svcs[] = {
        {.name = "app", .host = "app.test", .prefix = "/",
         .blue = {pfx_addr(bgt_backend_port(BE))}, .blue_w = 100},
        {.name = "big", .host = "app.test", .prefix = "/big",
         .blue = {pfx_addr(BIGBE.port)}, .blue_w = 100},
        {.name = "sink", .host = "app.test", .prefix = "/sink",
         .blue = {pfx_addr(SINKBE.port)}, .blue_w = 100},
        {.name = "hole", .host = "app.test", .prefix = "/hole",
         .blue = {pfx_addr(HOLE_PORT)}, .blue_w = 100, .retries = 1},
    };
    pfx_publish(&F, svcs, 4);
}

static void teardown(void)
{
    pfx_stop(&F);
    bgt_backend_stop(BE);
}

TestSuite(proxy_h2, .init = setup, .fini = teardown, .timeout = 120);

/* ---- helpers ---- */

/* Runs <cmd> (a shell line) and returns its stdout (caller frees). */
static char *run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    bg_buf_t out;
    char chunk[4096];
    size_t n;
    FILE *p;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    bg_buf_init(&out);
    p = popen(cmd, "r");
    cr_assert(p, "popen %s", cmd);
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        bg_buf_append(&out, chunk, n);
    pclose(p);
    bg_buf_append(&out, "", 1);
    return bg_buf_steal(&out);
}

static json_t *probe(const char *scenario, int arg)
{
    char *out = run(PY " " PROBE " %d %s %d", F.port, scenario, arg);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);

    cr_assert(j, "%s: not JSON: %s", scenario, out);
    free(out);
    return j;
}

static long jint(json_t *j, const char *k)
{
    json_t *v = json_object_get(j, k);
    cr_assert(json_is_integer(v), "no integer %s in %s", k, json_dumps(j, 0));
    return (long)json_integer_value(v);
}

/* The attack hurt no one else: a connection opened before it answers after it, and so
 * does a new one. */
static void others_fine(json_t *j)
{
    cr_assert_eq(jint(j, "good_before"), 200);
    cr_assert_eq(jint(j, "good_after"), 200, "%s", json_dumps(j, 0));
    cr_assert_eq(jint(j, "fresh_after"), 200, "%s", json_dumps(j, 0));
}

/* ---- real clients ---- */

Test(proxy_h2, curl_prior_knowledge_and_http1_on_the_same_listener)
{
    char *out = run("curl -sS --http2-prior-knowledge -D - -H 'Host: app.test' "
                    "http://127.0.0.1:%d/hello", F.port);
    cr_assert(strstr(out, "HTTP/2 200"), "%s", out);
    cr_assert(strstr(out, "x-request-id: "), "%s", out);
    cr_assert(strstr(out, "x-backend: app"), "%s", out);
    cr_assert(strstr(out, "via: 1.1 bluegreen"), "%s", out);
    cr_assert(strstr(out, "\"via2\":true"), "target must see Via: 2 bluegreen: %s", out);
    free(out);
    out = run("curl -sS --http1.1 -D - -H 'Host: app.test' http://127.0.0.1:%d/hello", F.port);
    cr_assert(strstr(out, "HTTP/1.1 200"), "%s", out);
    cr_assert(strstr(out, "\"via2\":false"), "%s", out);
    free(out);
}

Test(proxy_h2, request_bodies_reach_the_target_whole)
{
    char *dir = bgt_tmpdir("h2body");
    char path[512], *data = bg_xmalloc(1 << 20), *out, want[128];
    FILE *f;

    for (size_t i = 0; i < (1u << 20); i++)
        data[i] = (char)(i * 7 + (i >> 9));
    snprintf(path, sizeof(path), "%s/body", dir);
    f = fopen(path, "w");
    fwrite(data, 1, 1 << 20, f);
    fclose(f);
    snprintf(want, sizeof(want), "{\"len\":1048576,\"sum\":%u,", fnv(data, 1 << 20));
    /* with content-length */
    out = run("curl -sS --http2-prior-knowledge -H 'Host: app.test' --data-binary @%s "
              "http://127.0.0.1:%d/up", path, F.port);
    cr_assert(strstr(out, want) && strstr(out, "\"chunked\":false"), "%s", out);
    free(out);
    /* without (stdin of unknown size): chunked to the target */
    out = run("curl -sS --http2-prior-knowledge -H 'Host: app.test' -T - -X POST "
              "http://127.0.0.1:%d/up < %s", F.port, path);
    cr_assert(strstr(out, want) && strstr(out, "\"chunked\":true"), "%s", out);
    free(out);
    free(data);
    free(dir);
}

Test(proxy_h2, nghttp_multiplexes_streams_on_one_connection)
{
    unsigned before = bgt_backend_requests(BE);
    char *out = run("nghttp -nv -m 40 -H ':authority: app.test' http://127.0.0.1:%d/m", F.port);
    int ok = 0;

    for (const char *p = out; (p = strstr(p, ":status: 200")); p++)
        ok++;
    cr_assert_eq(ok, 40, "%d of 40 streams answered 200:\n%.2000s", ok, out);
    cr_assert_eq(bgt_backend_requests(BE) - before, 40);
    free(out);
}

Test(proxy_h2, unknown_route_is_404_on_the_stream)
{
    char *out = run("curl -sS --http2-prior-knowledge -D - -H 'Host: nowhere.test' "
                    "http://127.0.0.1:%d/x", F.port);
    cr_assert(strstr(out, "HTTP/2 404"), "%s", out);
    cr_assert(strstr(out, "\"error\":\"no route\""), "%s", out);
    free(out);
}

/* Request heads: the common one goes to the target from its fields, the others as parsed
 * HTTP/1.1 text, and each check of docs/design.md §7 answers the same as over HTTP/1.1
 * (nghttp2's own RFC 9113 §8.2/§8.3 checks reset some first: PROTOCOL_ERROR, -1). */
Test(proxy_h2, request_heads_checked_as_over_http1)
{
    json_t *j = probe("heads", 0);
    json_t *h = json_object_get(j, "heads"), *b = json_object_get(j, "bodies");
    static const struct {
        const char *name;
        int status;
    } want[] = {
        {"plain", 200}, {"cookies", 200}, {"query_method", 200}, {"te_trailers", 200},
        {"host_field_only", 200}, {"expect_bad", 417}, {"fragment", 400},
        /* nghttp2 (RFC 9113 §8.3.1) */
        {"two_host_fields", -1}, {"no_host", -1}, {"asterisk_get", -1}, {"ctl_in_value", -1},
        {"del_in_path", -1}, {"bad_authority", -1}, {"space_in_authority", -1},
    };

    for (size_t i = 0; i < BG_ARRAY_LEN(want); i++)
        cr_expect_eq(jint(h, want[i].name), want[i].status, "%s: %s", want[i].name,
                     json_dumps(j, 0));
    others_fine(j);
    const char *plain = json_string_value(json_object_get(b, "plain"));
    const char *cookies = json_string_value(json_object_get(b, "cookies"));
    cr_assert(plain && strstr(plain, "\"method\":\"GET\"") && strstr(plain, "\"host_app\":true") &&
              strstr(plain, "\"via2\":true"), "%s", plain ? plain : "?");
    cr_assert(cookies && strstr(cookies, "\"cookie_joined\":true"), "%s", cookies ? cookies : "?");
    json_decref(j);
}

/* ---- limits and defences (RFC 9113 §10.5; codes of §7) ---- */

Test(proxy_h2, streams_over_the_limit_are_refused)
{
    json_t *j = probe("refuse", MAX_STREAMS);
    json_t *rst = json_object_get(j, "rst");
    char id[16];

    snprintf(id, sizeof(id), "%ld", jint(j, "last"));
    cr_assert(json_is_null(json_object_get(j, "goaway")), "%s", json_dumps(j, 0));
    cr_assert_eq(json_integer_value(json_object_get(rst, id)), 7 /* REFUSED_STREAM */, "%s",
                 json_dumps(j, 0));
    cr_assert_eq(json_object_size(rst), 1, "only the extra stream: %s", json_dumps(j, 0));
    others_fine(j);
    json_decref(j);
}

Test(proxy_h2, header_list_over_the_limit_is_431_on_the_stream)
{
    json_t *j = probe("big_headers", 20000);

    cr_assert_eq(jint(j, "status"), 431);
    cr_assert_eq(jint(j, "after"), 200, "the same connection goes on");
    others_fine(j);
    json_decref(j);
}

static void expect_calm(const char *scenario, int n)
{
    json_t *j = probe(scenario, n);

    cr_assert_eq(jint(j, "goaway"), 11 /* ENHANCE_YOUR_CALM */, "%s: %s", scenario,
                 json_dumps(j, 0));
    others_fine(j);
    json_decref(j);
}

Test(proxy_h2, rapid_reset_gets_enhance_your_calm) { expect_calm("rapid_reset", 3000); }
Test(proxy_h2, continuation_flood_gets_enhance_your_calm) { expect_calm("continuation", 300); }
Test(proxy_h2, ping_flood_gets_enhance_your_calm) { expect_calm("ping_flood", 3000); }
Test(proxy_h2, settings_flood_gets_enhance_your_calm) { expect_calm("settings_flood", 3000); }
Test(proxy_h2, empty_data_flood_gets_enhance_your_calm) { expect_calm("empty_data", 3000); }

Test(proxy_h2, connection_window_overflow_is_flow_control_error)
{
    json_t *j = probe("window_conn", 0);

    cr_assert_eq(jint(j, "goaway"), 3 /* FLOW_CONTROL_ERROR */, "%s", json_dumps(j, 0));
    others_fine(j);
    json_decref(j);
}

Test(proxy_h2, stream_window_overflow_resets_only_that_stream)
{
    json_t *j = probe("window_stream", 0);

    cr_assert(json_is_null(json_object_get(j, "goaway")), "%s", json_dumps(j, 0));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "rst"), "1")), 3);
    cr_assert(json_is_true(json_object_get(j, "after")), "%s", json_dumps(j, 0));
    others_fine(j);
    json_decref(j);
}

Test(proxy_h2, data_past_the_window_is_flow_control_error)
{
    /* the target never accepts: nothing of the body is consumed, no window reopens */
    json_t *j = probe("data_overflow", 0);
    json_t *g = json_object_get(j, "goaway");
    json_t *r = json_object_get(json_object_get(j, "rst"), "1");

    cr_assert((json_is_integer(r) && json_integer_value(r) == 3) ||
                  (json_is_integer(g) && json_integer_value(g) == 3),
              "%s", json_dumps(j, 0));
    others_fine(j);
    json_decref(j);
}

/* ---- flow control is backpressure ---- */

Test(proxy_h2, a_client_that_opens_no_window_stops_the_target)
{
    json_t *j = probe("stall_download", 3);
    uint64_t sent = atomic_load(&BIGBE.sent);

    cr_assert(json_is_true(json_object_get(j, "status_seen")), "%s", json_dumps(j, 0));
    cr_assert_leq(jint(j, "received"), 65535, "%s", json_dumps(j, 0));
    /* what the target could write: socket buffers and one read buffer, not the body */
    cr_assert_lt(sent, 16ull * 1024 * 1024, "target wrote %llu of %llu bytes",
                 (unsigned long long)sent, (unsigned long long)BIG);
    others_fine(j);
    json_decref(j);
}

Test(proxy_h2, a_target_that_reads_nothing_stops_the_client)
{
    json_t *j = probe("upload", 64);

    cr_assert_lt(jint(j, "sent"), 16l * 1024 * 1024, "%s", json_dumps(j, 0));
    cr_assert_gt(jint(j, "sent"), 0);
    others_fine(j);
    json_decref(j);
}

/* ---- graceful stop ---- */

typedef struct graceful_run {
    char *out;
} graceful_run_t;

static void *graceful_client(void *arg)
{
    graceful_run_t *g = arg;
    g->out = run(PY " " PROBE " %d graceful 2>/dev/null", F.port);
    return NULL;
}

static bool slow_arrived(void *arg)
{
    (void)arg;
    return bgt_backend_connections(BE) > 0;
}

TestSuite(proxy_h2_stop, .init = setup, .timeout = 120);

Test(proxy_h2_stop, stop_sends_goaway_and_lets_the_stream_finish)
{
    graceful_run_t g = {0};
    pthread_t th;
    json_error_t e;
    json_t *j, *gw;

    pthread_create(&th, NULL, graceful_client, &g);
    /* the slow request reached the target (its handler answers after 1.5 s) */
    cr_assert(bgt_wait_until(slow_arrived, NULL, 10000), "the slow request never arrived");
    bg_proxy_stop(F.proxy, 10000);
    pthread_join(th, NULL);
    j = json_loads(g.out, 0, &e);
    cr_assert(j, "not JSON: %s", g.out);
    gw = json_object_get(j, "goaways");
    cr_assert_geq(json_array_size(gw), 1, "%s", g.out);
    for (size_t i = 0; i < json_array_size(gw); i++)
        cr_assert_eq(json_integer_value(json_array_get(json_array_get(gw, i), 1)), 0,
                     "NO_ERROR: %s", g.out);
    cr_assert_geq(json_integer_value(json_array_get(json_array_get(gw, json_array_size(gw) - 1), 0)),
                  1, "the final GOAWAY covers stream 1: %s", g.out);
    cr_assert(json_is_true(json_object_get(j, "done")), "stream 1 completed: %s", g.out);
    json_decref(j);
    free(g.out);
    bg_proxy_free(F.proxy);
    bg_router_free(F.router);
    for (size_t i = 0; i < F.n_targets; i++)
        bg_target_unref(F.targets[i]);
    for (int i = 0; i < PFX_MAX_SERVICES; i++)
        bg_service_stats_unref(F.stats[i]);
    bgt_backend_stop(BE);
}
