/* build/sample-app, spawned for real: every endpoint, every flag, bodies, keep-alive,
 * pipelining, WebSocket echo, dependency calls and graceful stop on SIGTERM. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/support.h"

#define T_MS 5000

typedef struct app {
    pid_t pid;
    int port;
} app_t;

static app_t cur = {-1, 0};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Spawns sample-app with <args> (NULL-terminated, after --port) and <env>; does not wait. */
static app_t spawn_app(const char *const args[], const char *const env[], bool with_port)
{
    const char *argv[32];
    char port[16];
    size_t n = 0;
    app_t a = {-1, bgt_free_port()};
    snprintf(port, sizeof(port), "%d", a.port);
    argv[n++] = bgt_bin("sample-app");
    if (with_port) {
        argv[n++] = "--port";
        argv[n++] = port;
    }
    for (size_t i = 0; args && args[i] && n < 30; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char *dir = bgt_tmpdir("sampleapp");
    char log[512];
    snprintf(log, sizeof(log), "%s/app.log", dir);
    free(dir);
    a.pid = bgt_spawn(argv, env, log);
    cur = a;
    return a;
}

static app_t start_app(const char *const args[])
{
    app_t a = spawn_app(args, NULL, true);
    cr_assert(bgt_wait_port(a.port, T_MS), "sample-app listens on %d", a.port);
    return a;
}

static void stop_current(void)
{
    if (cur.pid > 0)
        bgt_stop(cur.pid, 3000);
    cur.pid = -1;
}

TestSuite(sampleapp, .fini = stop_current, .timeout = 60);

/* Waits for <pid> to exit by itself (no signal sent); returns its wait status. */
static int wait_exit(pid_t pid)
{
    int st = -1;
    for (uint64_t end = now_ms() + T_MS; !bgt_exited(pid, &st) && now_ms() < end;)
        usleep(5000);
    cur.pid = -1;
    return st;
}

static json_t *body_json(const bgt_resp_t *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body, r->body_len, 0, &e);
    cr_assert_not_null(j, "JSON body: %s (%s)", r->body, e.text);
    return j;
}

static const char *jstr(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    cr_assert_not_null(s, "member %s", key);
    return s;
}

static void get(int port, const char *path, bgt_resp_t *r)
{
    cr_assert(bgt_http_get(port, NULL, path, r, T_MS), "GET %s", path);
}

/* One request with a body, raw, on a fresh connection. */
static void send_raw(int port, const char *raw, bgt_resp_t *r)
{
    cr_assert(bgt_http_raw(port, raw, strlen(raw), r, T_MS), "request: %s", raw);
}

Test(sampleapp, root_and_any_path_answer_identity_json)
{
    const char *args[] = {"--service", "orders", "--version", "2.3.0", "--slot", "green", NULL};
    app_t a = start_app(args);
    const char *paths[] = {"/", "/api/orders?x=1"};
    for (size_t i = 0; i < 2; i++) {
        bgt_resp_t r;
        get(a.port, paths[i], &r);
        cr_assert_eq(r.status, 200);
        json_t *j = body_json(&r);
        cr_assert_str_eq(jstr(j, "service"), "orders");
        cr_assert_str_eq(jstr(j, "version"), "2.3.0");
        cr_assert_str_eq(jstr(j, "slot"), "green");
        cr_assert_eq(json_integer_value(json_object_get(j, "pid")), a.pid);
        cr_assert_str_eq(jstr(j, "path"), i == 0 ? "/" : "/api/orders");
        json_decref(j);
        bgt_resp_fini(&r);
    }
}

Test(sampleapp, defaults_come_from_environment)
{
    int port = bgt_free_port();
    char penv[32];
    snprintf(penv, sizeof(penv), "PORT=%d", port);
    const char *env[] = {penv, "BLUEGREEN_SLOT=blue", "BLUEGREEN_VERSION=9.9.9",
                         "BLUEGREEN_SERVICE=payments", NULL};
    const char *argv[] = {bgt_bin("sample-app"), NULL};
    cur.pid = bgt_spawn(argv, env, NULL);
    cr_assert(bgt_wait_port(port, T_MS));
    bgt_resp_t r;
    get(port, "/", &r);
    json_t *j = body_json(&r);
    cr_assert_str_eq(jstr(j, "service"), "payments");
    cr_assert_str_eq(jstr(j, "version"), "9.9.9");
    cr_assert_str_eq(jstr(j, "slot"), "blue");
    json_decref(j);
    bgt_resp_fini(&r);
}

Test(sampleapp, bad_flags_exit_2)
{
    const char *bad[][4] = {{"--error-rate", "2", NULL},
                            {"--latency", "soon", NULL},
                            {"--call", "ftp://x", NULL},
                            {"--bogus", NULL}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        app_t a = spawn_app(bad[i], NULL, true);
        int st = wait_exit(a.pid);
        cr_assert(WIFEXITED(st), "case %zu exited", i);
        cr_assert_eq(WEXITSTATUS(st), 2, "case %zu", i);
    }
    const char *noport[] = {NULL};
    app_t a = spawn_app(noport, NULL, false);
    int st = wait_exit(a.pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "no port and no $PORT");
}

static void expect_health(int port, const char *path, int status, const char *word)
{
    bgt_resp_t r;
    char ct[128];
    get(port, path, &r);
    cr_assert_eq(r.status, status, "%s: %d", path, r.status);
    cr_assert(bgt_resp_header(&r, "Content-Type", ct, sizeof(ct)));
    cr_assert_str_eq(ct, "application/vnd.spring-boot.actuator.v3+json");
    json_t *j = body_json(&r);
    cr_assert_str_eq(jstr(j, "status"), word, "%s: %s", path, r.body);
    json_decref(j);
    bgt_resp_fini(&r);
}

Test(sampleapp, actuator_health_up_info_and_negotiation)
{
    const char *args[] = {"--service", "orders", "--version", "1.0.0", NULL};
    app_t a = start_app(args);
    expect_health(a.port, "/actuator/health", 200, "UP");
    expect_health(a.port, "/actuator/health/readiness", 200, "UP");
    expect_health(a.port, "/actuator/health/liveness", 200, "UP");

    bgt_resp_t r;
    get(a.port, "/actuator/health", &r);
    json_t *j = body_json(&r);
    json_t *ping = json_object_get(json_object_get(j, "components"), "ping");
    cr_assert_str_eq(jstr(ping, "status"), "UP");
    cr_assert(json_is_array(json_object_get(j, "groups")));
    json_decref(j);
    bgt_resp_fini(&r);

    get(a.port, "/actuator/info", &r);
    cr_assert_eq(r.status, 200);
    j = body_json(&r);
    cr_assert_str_eq(jstr(j, "service"), "orders");
    cr_assert_str_eq(jstr(j, "version"), "1.0.0");
    json_decref(j);
    bgt_resp_fini(&r);

    send_raw(a.port,
             "GET /actuator/health HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
             "Connection: close\r\n\r\n",
             &r);
    char ct[128];
    cr_assert(bgt_resp_header(&r, "Content-Type", ct, sizeof(ct)));
    cr_assert_str_eq(ct, "application/json");
    bgt_resp_fini(&r);

    get(a.port, "/actuator/nothing", &r);
    cr_assert_eq(r.status, 404);
    bgt_resp_fini(&r);
}

Test(sampleapp, fail_health_flag_and_runtime_toggle)
{
    const char *args[] = {"--service", "orders", "--version", "1", "--fail-health", NULL};
    app_t a = start_app(args);
    expect_health(a.port, "/actuator/health", 503, "DOWN");
    expect_health(a.port, "/actuator/health/readiness", 503, "DOWN");
    expect_health(a.port, "/actuator/health/liveness", 200, "UP");

    bgt_resp_t r;
    get(a.port, "/", &r); /* the app itself still answers */
    cr_assert_eq(r.status, 200);
    bgt_resp_fini(&r);

    send_raw(a.port, "POST /admin/recover HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r);
    cr_assert_eq(r.status, 200);
    bgt_resp_fini(&r);
    expect_health(a.port, "/actuator/health", 200, "UP");

    send_raw(a.port, "POST /admin/fail-health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
             &r);
    cr_assert_eq(r.status, 200);
    bgt_resp_fini(&r);
    expect_health(a.port, "/actuator/health", 503, "DOWN");

    get(a.port, "/admin/recover", &r);
    cr_assert_eq(r.status, 405, "GET does not toggle");
    bgt_resp_fini(&r);
    expect_health(a.port, "/actuator/health", 503, "DOWN");
}

Test(sampleapp, start_delay_postpones_listening)
{
    const char *args[] = {"--service", "s", "--version", "1", "--start-delay", "1s", NULL};
    uint64_t t0 = now_ms();
    app_t a = spawn_app(args, NULL, true);
    int fd = bgt_connect(a.port);
    cr_assert_lt(fd, 0, "not listening before the delay");
    cr_assert(bgt_wait_port(a.port, T_MS));
    cr_assert_geq(now_ms() - t0, 1000);
}

Test(sampleapp, error_rate_fails_that_share_of_app_requests_only)
{
    const char *args[] = {"--service", "s", "--version", "1", "--error-rate", "0.25", NULL};
    app_t a = start_app(args);
    int errors = 0;
    for (int i = 0; i < 20; i++) {
        bgt_resp_t r;
        get(a.port, "/", &r);
        cr_assert(r.status == 200 || r.status == 500);
        if (r.status == 500) {
            json_t *j = body_json(&r);
            cr_assert_str_eq(jstr(j, "slot"), "none");
            json_decref(j);
            errors++;
        }
        bgt_resp_fini(&r);
        expect_health(a.port, "/actuator/health", 200, "UP");
    }
    cr_assert_eq(errors, 5);
}

Test(sampleapp, latency_delays_app_responses)
{
    const char *args[] = {"--service", "s", "--version", "1", "--latency", "300ms", NULL};
    app_t a = start_app(args);
    uint64_t t0 = now_ms();
    bgt_resp_t r;
    get(a.port, "/", &r);
    cr_assert_eq(r.status, 200);
    bgt_resp_fini(&r);
    cr_assert_geq(now_ms() - t0, 300);
}

static char *dep_handler(void *arg, const bgt_backend_req_t *req)
{
    int status = strcmp(req->path, "/fail") == 0 ? 500 : 200;
    char *out = NULL;
    if (asprintf(&out, "HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\nok", status) < 0)
        return NULL;
    return out;
}

Test(sampleapp, call_dependencies_and_502_on_failure)
{
    bgt_backend_t *dep = bgt_backend_start("payments", 0);
    bgt_backend_set_handler(dep, dep_handler, NULL);
    char ok_url[64], fail_url[64], dead_url[64];
    snprintf(ok_url, sizeof(ok_url), "http://127.0.0.1:%d/v1/pay", bgt_backend_port(dep));
    snprintf(fail_url, sizeof(fail_url), "http://127.0.0.1:%d/fail", bgt_backend_port(dep));
    snprintf(dead_url, sizeof(dead_url), "http://127.0.0.1:%d/", bgt_free_port());

    const char *args[] = {"--service", "orders", "--version", "1", "--call", ok_url, NULL};
    app_t a = start_app(args);
    bgt_resp_t r;
    get(a.port, "/", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    bgt_resp_fini(&r);
    cr_assert_eq(bgt_backend_requests(dep), 1);
    char *seen = bgt_backend_received(dep, NULL);
    cr_assert(strncmp(seen, "GET /v1/pay HTTP/1.1\r\n", 22) == 0, "%s", seen);
    free(seen);
    expect_health(a.port, "/actuator/health", 200, "UP");
    cr_assert_eq(bgt_backend_requests(dep), 1, "health checks do not call dependencies");
    stop_current();

    const char *args2[] = {"--service", "orders", "--version", "1", "--call",
                           ok_url,      "--call", fail_url,    NULL};
    a = start_app(args2);
    get(a.port, "/", &r);
    cr_assert_eq(r.status, 502);
    json_t *j = body_json(&r);
    cr_assert_str_eq(jstr(j, "dependency"), fail_url);
    cr_assert_eq(json_integer_value(json_object_get(j, "dependency_status")), 500);
    json_decref(j);
    bgt_resp_fini(&r);
    stop_current();

    const char *args3[] = {"--service", "orders", "--version", "1", "--call", dead_url, NULL};
    a = start_app(args3);
    get(a.port, "/", &r);
    cr_assert_eq(r.status, 502);
    j = body_json(&r);
    cr_assert_str_eq(jstr(j, "dependency"), dead_url);
    cr_assert_str_eq(jstr(j, "dependency_error"), "ECONNREFUSED");
    json_decref(j);
    bgt_resp_fini(&r);
    bgt_backend_stop(dep);
}

static long received_bytes(const bgt_resp_t *r)
{
    json_t *j = body_json(r);
    long n = (long)json_integer_value(json_object_get(j, "received_bytes"));
    json_decref(j);
    return n;
}

Test(sampleapp, request_bodies_are_counted_streaming)
{
    const char *args[] = {"--service", "s", "--version", "1", NULL};
    app_t a = start_app(args);
    const size_t big = 8 * 1024 * 1024;
    char *chunk = malloc(65536);
    memset(chunk, 'z', 65536);

    int fd = bgt_connect(a.port);
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", big);
    cr_assert(bgt_write_all(fd, head, (size_t)n));
    for (size_t sent = 0; sent < big; sent += 65536)
        cr_assert(bgt_write_all(fd, chunk, 65536));
    bgt_resp_t r;
    cr_assert(bgt_read_response(fd, &r, T_MS));
    cr_assert_eq(r.status, 200);
    cr_assert_eq(received_bytes(&r), (long)big);
    bgt_resp_fini(&r);

    /* chunked on the same keep-alive connection, with Expect: 100-continue */
    const char *ch = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     "Expect: 100-continue\r\n\r\n";
    cr_assert(bgt_write_all(fd, ch, strlen(ch)));
    cr_assert(bgt_read_response(fd, &r, T_MS));
    cr_assert_eq(r.status, 100);
    bgt_resp_fini(&r);
    for (int i = 0; i < 16; i++) {
        cr_assert(bgt_write_all(fd, "10000\r\n", 7));
        cr_assert(bgt_write_all(fd, chunk, 65536));
        cr_assert(bgt_write_all(fd, "\r\n", 2));
    }
    cr_assert(bgt_write_all(fd, "0\r\n\r\n", 5));
    cr_assert(bgt_read_response(fd, &r, T_MS));
    cr_assert_eq(r.status, 200);
    cr_assert_eq(received_bytes(&r), 16 * 65536);
    cr_assert_not(r.closed);
    bgt_resp_fini(&r);
    close(fd);
    free(chunk);
}

Test(sampleapp, keep_alive_pipelining_in_order_with_latency)
{
    const char *args[] = {"--service", "s", "--version", "1", "--latency", "50ms", NULL};
    app_t a = start_app(args);
    int fd = bgt_connect(a.port);
    const char *three = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /actuator/health HTTP/1.1\r\n"
                        "Host: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert(bgt_write_all(fd, three, strlen(three)));
    const char *want[] = {"/a", NULL, "/c"};
    for (int i = 0; i < 3; i++) {
        bgt_resp_t r;
        cr_assert(bgt_read_response(fd, &r, T_MS), "response %d", i);
        cr_assert_eq(r.status, 200);
        json_t *j = body_json(&r);
        if (want[i])
            cr_assert_str_eq(jstr(j, "path"), want[i]);
        else
            cr_assert_str_eq(jstr(j, "status"), "UP");
        json_decref(j);
        cr_assert_not(r.closed);
        bgt_resp_fini(&r);
    }
    /* HTTP/1.0 without keep-alive: answered, then closed */
    const char *old = "GET /old HTTP/1.0\r\n\r\n";
    cr_assert(bgt_write_all(fd, old, strlen(old)));
    bgt_resp_t r;
    cr_assert(bgt_read_response(fd, &r, T_MS));
    cr_assert_eq(r.status, 200);
    cr_assert(r.closed);
    bgt_resp_fini(&r);
    cr_assert(bgt_wait_closed(fd, T_MS));
    close(fd);
}

Test(sampleapp, bad_request_gets_400_and_close)
{
    const char *args[] = {"--service", "s", "--version", "1", NULL};
    app_t a = start_app(args);
    int fd = bgt_connect(a.port);
    const char *bad = "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
    cr_assert(bgt_write_all(fd, bad, strlen(bad)));
    bgt_resp_t r;
    cr_assert(bgt_read_response(fd, &r, T_MS));
    cr_assert_eq(r.status, 400);
    bgt_resp_fini(&r);
    cr_assert(bgt_wait_closed(fd, T_MS));
    close(fd);
}

Test(sampleapp, bytes_endpoint_streams_n_bytes)
{
    const char *args[] = {"--service", "s", "--version", "1", NULL};
    app_t a = start_app(args);
    bgt_resp_t r;
    get(a.port, "/bytes/3000000", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 3000000);
    for (size_t i = 0; i < r.body_len; i += 99991)
        cr_assert_eq(r.body[i], 'a' + (int)(i % 26), "byte %zu", i);
    bgt_resp_fini(&r);
    get(a.port, "/bytes/0", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 0);
    bgt_resp_fini(&r);
    get(a.port, "/bytes/lots", &r);
    cr_assert_eq(r.status, 400);
    bgt_resp_fini(&r);
}

Test(sampleapp, websocket_upgrade_then_echo)
{
    const char *args[] = {"--service", "s", "--version", "1", NULL};
    app_t a = start_app(args);
    int fd = bgt_connect(a.port);
    /* RFC 6455 §1.3's example key and its accept value. */
    const char *up = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n";
    cr_assert(bgt_write_all(fd, up, strlen(up)));
    bgt_resp_t r;
    char acc[64];
    cr_assert(bgt_read_response(fd, &r, T_MS));
    cr_assert_eq(r.status, 101);
    cr_assert(bgt_resp_header(&r, "Sec-WebSocket-Accept", acc, sizeof(acc)));
    cr_assert_str_eq(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    bgt_resp_fini(&r);
    cr_assert(bgt_write_all(fd, "\x81\x02hi", 4));
    char buf[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t n = read(fd, buf + got, 4 - got);
        cr_assert_gt(n, 0);
        got += (size_t)n;
    }
    cr_assert(memcmp(buf, "\x81\x02hi", 4) == 0);
    close(fd);

    get(a.port, "/ws", &r);
    cr_assert_eq(r.status, 426, "plain GET /ws is not an upgrade");
    bgt_resp_fini(&r);
}

static atomic_bool released;

/* Holds the dependency call open until the test releases it: while it waits, the app has
 * exactly one request in flight, observable through bgt_backend_requests(). */
static char *held_handler(void *arg, const bgt_backend_req_t *req)
{
    for (int i = 0; i < 1000 && !atomic_load(&released); i++)
        usleep(5000);
    return strdup("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
}

static bool has_request(void *arg)
{
    return bgt_backend_requests(arg) >= 1;
}

Test(sampleapp, sigterm_finishes_in_flight_then_exits_0)
{
    bgt_backend_t *dep = bgt_backend_start("held", 0);
    bgt_backend_set_handler(dep, held_handler, NULL);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hold", bgt_backend_port(dep));
    const char *args[] = {"--service", "s", "--version", "1", "--call", url, NULL};
    app_t a = start_app(args);
    int idle = bgt_connect(a.port);
    bgt_resp_t r;
    const char *health = "GET /actuator/health HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert(bgt_write_all(idle, health, strlen(health)));
    cr_assert(bgt_read_response(idle, &r, T_MS));
    bgt_resp_fini(&r);

    int busy = bgt_connect(a.port);
    const char *slow = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert(bgt_write_all(busy, slow, strlen(slow)));
    cr_assert(bgt_wait_until(has_request, dep, T_MS), "the request is in flight");
    kill(a.pid, SIGTERM);
    cr_assert(bgt_wait_closed(idle, T_MS), "idle keep-alive connection closed at once");
    cr_assert(bgt_wait_port(a.port, 100) == false, "listener closed");
    atomic_store(&released, true);
    cr_assert(bgt_read_response(busy, &r, T_MS), "in-flight request finishes");
    cr_assert_eq(r.status, 200);
    cr_assert(r.closed, "with Connection: close");
    bgt_resp_fini(&r);
    int st = wait_exit(a.pid);
    cr_assert(WIFEXITED(st), "exited on its own");
    cr_assert_eq(WEXITSTATUS(st), 0);
    close(idle);
    close(busy);
    bgt_backend_stop(dep);
}

Test(sampleapp, sigterm_lets_a_streaming_body_finish)
{
    const char *args[] = {"--service", "s", "--version", "1", NULL};
    app_t a = start_app(args);
    const size_t total = 20 * 1000 * 1000;
    int fd = bgt_connect(a.port);
    const char *req = "GET /bytes/20000000 HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert(bgt_write_all(fd, req, strlen(req)));
    /* Read the first bytes: the response is under way before the signal. */
    static char buf[65536];
    ssize_t n = read(fd, buf, 4096);
    cr_assert_gt(n, 0);
    char *end = memmem(buf, (size_t)n, "\r\n\r\n", 4);
    cr_assert_not_null(end, "head in the first read");
    size_t body = (size_t)n - (size_t)(end + 4 - buf);
    kill(a.pid, SIGTERM);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        body += (size_t)n;
    cr_assert_eq(n, 0, "closed cleanly after the body");
    cr_assert_eq(body, total);
    close(fd);
    int st = wait_exit(a.pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
