/* The checker end to end on real loopback sockets: thresholds and transitions, reasons,
 * matcher ranges, timeouts, refused connections, TCP checks, the readiness fallback,
 * passive ejection, unwatch during a check, and closing with nothing left on the loop.
 * Servers run on the test's own loop (loopsrv.h); every test ends with uv_loop_close == 0.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "health/health.h"
#include "loopsrv.h"
#include "support/support.h"

#define WAIT_MS 5000

typedef struct event {
    bg_target_t *t;
    bool healthy;
    char reason[256];
    unsigned served; /* requests the test server had answered at that moment */
} event_t;

static uv_loop_t loop;
static bg_health_t *hc;
static loopsrv_t srv;
static event_t events[32];
static unsigned n_events;
static bool closed;
static int unwatch_in_cb; /* > 0: unwatch the target from inside the callback */

static void on_transition(void *ctx, bg_target_t *t, bool healthy, const char *reason)
{
    cr_assert_eq(ctx, &loop);
    cr_assert_lt(n_events, BG_ARRAY_LEN(events));
    event_t *e = &events[n_events++];
    e->t = t;
    e->healthy = healthy;
    snprintf(e->reason, sizeof(e->reason), "%s", reason);
    e->served = srv.requests;
    if (unwatch_in_cb > 0 && --unwatch_in_cb == 0)
        bg_health_unwatch(hc, t);
}

static void on_closed(void *arg)
{
    *(bool *)arg = true;
}

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    hc = bg_health_new(&loop, on_transition, &loop);
    memset(&srv, 0, sizeof(srv));
    n_events = 0;
    closed = false;
    unwatch_in_cb = 0;
}

static bool is_closed(void *arg)
{
    return *(bool *)arg;
}

/* Ends every test, inside the test body: Criterion does not fail a test whose .fini
 * asserts or crashes, so the close checks must run here. */
static void finish_test(void)
{
    bg_health_close(hc, on_closed, &closed);
    if (srv.port)
        loopsrv_stop(&srv);
    cr_assert(run_until(&loop, is_closed, &closed, WAIT_MS), "close callback never ran");
    cr_assert_eq(loop_finish(&loop), 0, "handles left open on the loop");
    cr_assert_eq(leak_check(), 0, "memory leaked");
}

TestSuite(health, .init = setup, .timeout = 30);

/* ---- helpers ---- */

static bg_health_config_t http_cfg(const char *path)
{
    bg_health_config_t c = {
        .type = BG_HEALTH_HTTP,
        .format = BG_HEALTH_FORMAT_STATUS,
        .path = (char *)path,
        .interval_ms = 30,
        .timeout_ms = 1000,
        .healthy_threshold = 2,
        .unhealthy_threshold = 2,
    };
    return c;
}

static bg_target_t *target_at(int port, bool healthy)
{
    char addr[64];
    bg_err_t err;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    bg_target_t *t = bg_target_new("orders", BG_SLOT_GREEN, addr, healthy, &err);
    cr_assert_not_null(t, "%s", err.msg);
    return t;
}

static unsigned want_events;
static bool have_events(void *arg)
{
    return n_events >= want_events;
}
static bool wait_events(unsigned n)
{
    want_events = n;
    return run_until(&loop, have_events, NULL, WAIT_MS);
}

static unsigned want_requests;
static bool have_requests(void *arg)
{
    return srv.requests >= want_requests;
}
static bool wait_requests(unsigned n)
{
    want_requests = n;
    return run_until(&loop, have_requests, NULL, WAIT_MS);
}

static int status_now = 200;
static const char *status_handler(loopsrv_t *s, const char *path)
{
    return http_response(status_now, "text/plain", "ok");
}

/* ---- thresholds ---- */

Test(health, thresholds_down_then_up)
{
    loopsrv_start(&srv, &loop, 0);
    srv.handler = status_handler;
    status_now = 200;
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/health");
    cfg.unhealthy_threshold = 3;
    cfg.healthy_threshold = 2;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);

    cr_assert(wait_requests(3));
    cr_expect_eq(n_events, 0, "a healthy target passing checks has no transition");
    unsigned before = srv.requests;
    status_now = 503;
    cr_assert(wait_events(1));
    cr_expect_not(events[0].healthy);
    cr_expect_str_eq(events[0].reason, "status 503");
    cr_expect_eq(events[0].served - before, 3, "went down after %u failures",
                 events[0].served - before);
    cr_expect_not(bg_target_is_healthy(t));

    before = srv.requests;
    status_now = 200;
    cr_assert(wait_events(2));
    cr_expect(events[1].healthy);
    cr_expect_str_eq(events[1].reason, "status 200");
    cr_expect_eq(events[1].served - before, 2);
    cr_expect(bg_target_is_healthy(t));

    /* No further transitions while the state holds. */
    cr_assert(wait_requests(srv.requests + 3));
    cr_expect_eq(n_events, 2);
    bg_target_unref(t);
    finish_test();
}

Test(health, initially_unhealthy_needs_threshold)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = http_response(200, "text/plain", "ok");
    bg_target_t *t = target_at(srv.port, false);
    bg_health_config_t cfg = http_cfg("/");
    cfg.healthy_threshold = 3;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_requests(2));
    cr_expect_not(bg_target_is_healthy(t), "healthy before the threshold");
    cr_assert(wait_events(1));
    cr_expect(events[0].healthy);
    cr_expect_eq(events[0].served, 3);
    cr_expect(bg_target_is_healthy(t));
    bg_target_unref(t);
    finish_test();
}

Test(health, failures_interrupted_by_a_pass_do_not_count)
{
    static const int seq[] = {503, 503, 200, 503, 503, 200, 503, 503, 503};
    loopsrv_start(&srv, &loop, 0);
    srv.handler = NULL;
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/");
    cfg.unhealthy_threshold = 3;
    /* Drive the sequence request by request. */
    srv.response = http_response(seq[0], "text/plain", "x");
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    for (unsigned i = 1; i < BG_ARRAY_LEN(seq); i++) {
        cr_assert(wait_requests(i));
        srv.response = http_response(seq[i], "text/plain", "x");
    }
    cr_assert(wait_events(1));
    cr_expect_not(events[0].healthy);
    cr_expect_eq(events[0].served, BG_ARRAY_LEN(seq));
    bg_target_unref(t);
    finish_test();
}

/* ---- reasons, matcher, request shape ---- */

static const char *actuator_db_down(loopsrv_t *s, const char *path)
{
    return http_response(503, "application/vnd.spring-boot.actuator.v3+json",
                         "{\"components\":{\"db\":{\"details\":{\"error\":\"x\"},"
                         "\"status\":\"DOWN\"},\"diskSpace\":{\"status\":\"UP\"}},"
                         "\"status\":\"DOWN\"}");
}

Test(health, actuator_reason_names_component)
{
    loopsrv_start(&srv, &loop, 0);
    srv.handler = actuator_db_down;
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/actuator/health");
    cfg.format = BG_HEALTH_FORMAT_ACTUATOR;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect_not(events[0].healthy);
    cr_expect(strstr(events[0].reason, "db: DOWN") != NULL, "%s", events[0].reason);
    cr_expect(strstr(events[0].reason, "diskSpace") == NULL, "%s", events[0].reason);

    bg_health_info_t info;
    bg_health_info(hc, t, &info);
    cr_expect(info.watched);
    cr_expect_not(info.healthy);
    cr_expect_eq(info.last_status, 503);
    cr_expect(strstr(info.reason, "db: DOWN") != NULL);
    cr_expect(strstr(info.last_body, "\"db\"") != NULL);
    cr_expect_geq(info.checks, 2);
    cr_expect_eq(info.failures, info.checks);
    cr_expect_eq(info.consecutive_ok, 0);
    cr_expect_gt(info.last_check_ms, 0);
    bg_target_unref(t);
    finish_test();
}

Test(health, matcher_ranges)
{
    loopsrv_start(&srv, &loop, 0);
    srv.handler = status_handler;
    status_now = 204;
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/");
    cfg.matcher[0] = (bg_status_range_t){200, 200};
    cfg.matcher[1] = (bg_status_range_t){300, 302};
    cfg.n_matcher = 2;
    cfg.unhealthy_threshold = 1;
    cfg.healthy_threshold = 1;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect_not(events[0].healthy);
    cr_expect_str_eq(events[0].reason, "status 204");
    status_now = 301;
    cr_assert(wait_events(2));
    cr_expect(events[1].healthy);
    status_now = 303;
    cr_assert(wait_events(3));
    cr_expect_not(events[2].healthy);
    status_now = 200;
    cr_assert(wait_events(4));
    cr_expect(events[3].healthy);
    bg_target_unref(t);
    finish_test();
}

Test(health, default_matcher_is_200_to_399)
{
    loopsrv_start(&srv, &loop, 0);
    srv.handler = status_handler;
    status_now = 399;
    bg_target_t *t = target_at(srv.port, false);
    bg_health_config_t cfg = http_cfg("/");
    cfg.healthy_threshold = 1;
    cfg.unhealthy_threshold = 1;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect(events[0].healthy);
    status_now = 400;
    cr_assert(wait_events(2));
    cr_expect_not(events[1].healthy);
    cr_expect_str_eq(events[1].reason, "status 400");
    bg_target_unref(t);
    finish_test();
}

Test(health, request_headers)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = http_response(200, "text/plain", "ok");
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/healthz?full=1");
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_requests(1));
    char host[96];
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", srv.port);
    cr_expect(strncmp(srv.last_head, "GET /healthz?full=1 HTTP/1.1\r\n", 30) == 0, "%s",
              srv.last_head);
    cr_expect(strstr(srv.last_head, host) != NULL, "%s", srv.last_head);
    cr_expect(strstr(srv.last_head, "\r\nUser-Agent: bluegreen-health\r\n") != NULL);
    cr_expect(strstr(srv.last_head, "\r\nAccept: application/vnd.spring-boot.actuator.v3+json, "
                                    "application/json\r\n") != NULL);
    cr_expect(strstr(srv.last_head, "\r\nConnection: close\r\n") != NULL);
    bg_target_unref(t);
    finish_test();
}

Test(health, first_check_runs_at_once_then_per_interval)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = http_response(200, "text/plain", "ok");
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/");
    cfg.interval_ms = 60000;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_requests(1));
    /* With a one-minute interval nothing else may happen for a while. */
    run_for(&loop, 300);
    cr_expect_eq(srv.requests, 1);
    cr_expect_eq(srv.connections, 1);
    bg_target_unref(t);
    finish_test();
}

/* ---- failures: timeout, refused, broken responses ---- */

Test(health, timeout_when_server_never_answers)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = NULL; /* accept, read, never answer */
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/");
    cfg.timeout_ms = 150;
    cfg.unhealthy_threshold = 2;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect_not(events[0].healthy);
    cr_expect_str_eq(events[0].reason, "timed out after 150ms");
    cr_expect_geq(srv.requests, 2, "the request reached the server");
    bg_target_unref(t);
    finish_test();
}

Test(health, connection_refused)
{
    int port = bgt_free_port();
    bg_target_t *t = target_at(port, true);
    bg_health_config_t cfg = http_cfg("/");
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect_not(events[0].healthy);
    cr_expect_str_eq(events[0].reason, "connect: connection refused");
    bg_health_info_t info;
    bg_health_info(hc, t, &info);
    cr_expect_eq(info.last_status, 0);
    cr_expect_geq(info.consecutive_fail, 2);
    bg_target_unref(t);
    finish_test();
}

Test(health, closed_without_response)
{
    loopsrv_start(&srv, &loop, 0);
    srv.close_without_answer = true;
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/");
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect_str_eq(events[0].reason, "connection closed before a complete response");
    bg_target_unref(t);
    finish_test();
}

Test(health, eof_in_the_middle_of_the_body)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   "Content-Length: 100\r\n\r\n{\"status\":\"UP\"}";
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/");
    cfg.unhealthy_threshold = 1;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect_str_eq(events[0].reason, "connection closed before a complete response");
    bg_target_unref(t);
    finish_test();
}

Test(health, garbage_response)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = "SSH-2.0-OpenSSH_9.6\r\n\r\n";
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/");
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect(strncmp(events[0].reason, "bad HTTP response", 17) == 0, "%s", events[0].reason);
    bg_target_unref(t);
    finish_test();
}

Test(health, body_delimited_by_close)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"status\":\"UP\"}";
    bg_target_t *t = target_at(srv.port, false);
    bg_health_config_t cfg = http_cfg("/actuator/health");
    cfg.format = BG_HEALTH_FORMAT_ACTUATOR;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect(events[0].healthy, "%s", events[0].reason);
    cr_expect_str_eq(events[0].reason, "UP");
    bg_target_unref(t);
    finish_test();
}

Test(health, actuator_rejects_non_json_content_type)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = http_response(200, "text/plain", "{\"status\":\"UP\"}");
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/actuator/health");
    cfg.format = BG_HEALTH_FORMAT_ACTUATOR;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect_not(events[0].healthy);
    cr_expect(strstr(events[0].reason, "text/plain") != NULL, "%s", events[0].reason);
    bg_target_unref(t);
    finish_test();
}

Test(health, actuator_body_over_cap_is_unhealthy)
{
    static char body[80 * 1024];
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"status\":\"UP\",\"pad\":\"");
    memset(body + n, 'a', 70 * 1024);
    n += 70 * 1024;
    snprintf(body + n, sizeof(body) - n, "\"}");
    loopsrv_start(&srv, &loop, 0);
    srv.response = http_response(200, "application/json", body);
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/actuator/health");
    cfg.format = BG_HEALTH_FORMAT_ACTUATOR;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect_not(events[0].healthy);
    cr_expect(strstr(events[0].reason, "body larger than") != NULL, "%s", events[0].reason);
    bg_health_info_t info;
    bg_health_info(hc, t, &info);
    cr_expect_eq(strlen(info.last_body), sizeof(info.last_body) - 1);
    bg_target_unref(t);
    finish_test();
}

Test(health, slow_body_times_out)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   "Content-Length: 100\r\n\r\n{\"status\":";
    srv.keep_open = true;
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/actuator/health");
    cfg.format = BG_HEALTH_FORMAT_ACTUATOR;
    cfg.timeout_ms = 150;
    cfg.unhealthy_threshold = 1;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect_str_eq(events[0].reason, "timed out after 150ms");
    bg_target_unref(t);
    finish_test();
}

Test(health, interim_1xx_response_is_skipped)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   "Content-Length: 15\r\n\r\n{\"status\":\"UP\"}";
    bg_target_t *t = target_at(srv.port, false);
    bg_health_config_t cfg = http_cfg("/actuator/health");
    cfg.format = BG_HEALTH_FORMAT_ACTUATOR;
    cfg.healthy_threshold = 1;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect(events[0].healthy, "%s", events[0].reason);
    bg_health_info_t info;
    bg_health_info(hc, t, &info);
    cr_expect_eq(info.last_status, 200);
    bg_target_unref(t);
    finish_test();
}

Test(health, connect_error_reported_later_not_inline)
{
    bg_target_t *t = target_at(bgt_free_port(), true);
    /* An address family no socket supports: uv_tcp_connect fails synchronously. */
    t->addr.ss_family = AF_UNSPEC;
    bg_health_config_t cfg = http_cfg("/");
    cfg.unhealthy_threshold = 1;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_expect_eq(n_events, 0, "no callback from inside watch");
    cr_assert(wait_events(1));
    cr_expect(strncmp(events[0].reason, "connect: ", 9) == 0, "%s", events[0].reason);
    bg_target_unref(t);
    finish_test();
}

/* ---- TCP checks ---- */

Test(health, tcp_check)
{
    loopsrv_start(&srv, &loop, 0);
    bg_target_t *t = target_at(srv.port, false);
    bg_health_config_t cfg = http_cfg(NULL);
    cfg.type = BG_HEALTH_TCP;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect(events[0].healthy);
    cr_expect_str_eq(events[0].reason, "tcp: connected");
    cr_expect_eq(srv.requests, 0, "a TCP check sends no request");
    cr_expect_geq(srv.connections, 2);
    bg_health_info_t info;
    bg_health_info(hc, t, &info);
    cr_expect_eq(info.last_status, 0);

    loopsrv_stop(&srv);
    cr_assert(wait_events(2));
    cr_expect_not(events[1].healthy);
    cr_expect_str_eq(events[1].reason, "connect: connection refused");
    bg_target_unref(t);
    finish_test();
}

/* ---- readiness fallback ---- */

static const char *no_readiness(loopsrv_t *s, const char *path)
{
    if (strcmp(path, "/actuator/health/readiness") == 0)
        return http_response(404, "application/json", "{\"status\":404}");
    if (strcmp(path, "/actuator/health") == 0)
        return http_response(200, "application/vnd.spring-boot.actuator.v3+json",
                             "{\"status\":\"UP\"}");
    return http_response(500, "text/plain", "unexpected path");
}

Test(health, readiness_404_falls_back_to_health)
{
    loopsrv_start(&srv, &loop, 0);
    srv.handler = no_readiness;
    bg_target_t *t = target_at(srv.port, false);
    bg_health_config_t cfg = http_cfg(NULL);
    cfg.format = BG_HEALTH_FORMAT_ACTUATOR;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect(events[0].healthy, "%s", events[0].reason);
    cr_expect_eq(events[0].served, 3, "the 404 probe does not count as a check");
    cr_assert(wait_requests(6));
    cr_expect_str_eq(srv.paths[0], "/actuator/health/readiness");
    for (unsigned i = 1; i < 6; i++)
        cr_expect_str_eq(srv.paths[i], "/actuator/health", "request %u went to %s", i,
                         srv.paths[i]);
    bg_health_info_t info;
    bg_health_info(hc, t, &info);
    cr_expect_eq(info.failures, 0);
    bg_target_unref(t);
    finish_test();
}

static const char *with_readiness(loopsrv_t *s, const char *path)
{
    if (strcmp(path, "/actuator/health/readiness") == 0)
        return http_response(503, "application/vnd.spring-boot.actuator.v3+json",
                             "{\"status\":\"OUT_OF_SERVICE\"}");
    return http_response(200, "application/vnd.spring-boot.actuator.v3+json",
                         "{\"status\":\"UP\"}");
}

Test(health, readiness_group_is_used_when_present)
{
    loopsrv_start(&srv, &loop, 0);
    srv.handler = with_readiness;
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg(NULL);
    cfg.format = BG_HEALTH_FORMAT_ACTUATOR;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect_not(events[0].healthy);
    cr_expect_str_eq(events[0].reason, "OUT_OF_SERVICE");
    cr_assert(wait_requests(4));
    for (unsigned i = 0; i < 4; i++)
        cr_expect_str_eq(srv.paths[i], "/actuator/health/readiness");
    bg_target_unref(t);
    finish_test();
}

/* ---- passive ejection ---- */

Test(health, passive_ejection_and_recovery)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = http_response(200, "text/plain", "ok");
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/");
    cfg.healthy_threshold = 3;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_requests(2));
    cr_expect_eq(n_events, 0);

    /* What a worker does when it ejects (proxy.h passive_notify). */
    atomic_store(&t->passive_failures, 5);
    bg_target_set_healthy(t, false);
    atomic_store(&t->passive_ejected, 1);
    cr_assert_eq(uv_async_send(bg_health_passive_async(hc)), 0);

    cr_assert(wait_events(1));
    cr_expect_not(events[0].healthy);
    cr_expect_str_eq(events[0].reason, "passive: 5 consecutive failures");
    cr_expect_eq(atomic_load(&t->passive_ejected), 0);
    cr_expect_not(bg_target_is_healthy(t));
    unsigned at_ejection = events[0].served;

    cr_assert(wait_events(2));
    cr_expect(events[1].healthy);
    cr_expect_geq(events[1].served - at_ejection, 3, "back after %u passes",
                  events[1].served - at_ejection);
    cr_expect(bg_target_is_healthy(t));
    cr_expect_eq(atomic_load(&t->passive_failures), 0);
    bg_health_info_t info;
    bg_health_info(hc, t, &info);
    cr_expect(info.healthy);
    bg_target_unref(t);
    finish_test();
}

Test(health, passive_wake_without_ejection_changes_nothing)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = http_response(200, "text/plain", "ok");
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/");
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    atomic_store(&t->passive_failures, 2);
    cr_assert_eq(uv_async_send(bg_health_passive_async(hc)), 0);
    cr_assert(wait_requests(3));
    cr_expect_eq(n_events, 0);
    cr_expect(bg_target_is_healthy(t));
    cr_expect_eq(atomic_load(&t->passive_failures), 2);
    bg_target_unref(t);
    finish_test();
}

static bool close_in_cb;
static void closing_cb(void *ctx, bg_target_t *t, bool healthy, const char *reason)
{
    on_transition(ctx, t, healthy, reason);
    if (close_in_cb) {
        close_in_cb = false;
        bg_health_close(hc, on_closed, &closed);
    }
}

Test(health, passive_callback_may_close_the_checker)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = http_response(200, "text/plain", "ok");
    bg_health_close(hc, NULL, NULL); /* replace the fixture's checker */
    run_for(&loop, 10);
    hc = bg_health_new(&loop, closing_cb, &loop);
    bg_target_t *a = target_at(srv.port, true), *b = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/");
    cr_assert_eq(bg_health_watch(hc, a, &cfg), 0);
    cr_assert_eq(bg_health_watch(hc, b, &cfg), 0);
    cr_assert(wait_requests(2));
    atomic_store(&a->passive_ejected, 1);
    atomic_store(&b->passive_ejected, 1);
    close_in_cb = true;
    uv_async_send(bg_health_passive_async(hc));
    cr_assert(run_until(&loop, is_closed, &closed, WAIT_MS));
    cr_expect_eq(n_events, 1, "closed after the first transition");
    loopsrv_stop(&srv);
    cr_assert_eq(loop_finish(&loop), 0);
    cr_expect_eq(atomic_load(&a->refs), 1);
    cr_expect_eq(atomic_load(&b->refs), 1);
    bg_target_unref(a);
    bg_target_unref(b);
    cr_assert_eq(leak_check(), 0);
}

Test(health, transition_callback_may_close_the_checker)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = http_response(503, "text/plain", "no");
    bg_health_close(hc, NULL, NULL);
    run_for(&loop, 10);
    hc = bg_health_new(&loop, closing_cb, &loop);
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/");
    cfg.unhealthy_threshold = 1;
    close_in_cb = true;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(run_until(&loop, is_closed, &closed, WAIT_MS));
    cr_expect_eq(n_events, 1);
    loopsrv_stop(&srv);
    cr_assert_eq(loop_finish(&loop), 0);
    cr_expect_eq(atomic_load(&t->refs), 1);
    bg_target_unref(t);
    cr_assert_eq(leak_check(), 0);
}

/* ---- watch set ---- */

Test(health, watch_twice_and_info_of_unknown)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = http_response(200, "text/plain", "ok");
    bg_target_t *t = target_at(srv.port, true);
    bg_target_t *other = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/");
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_expect_eq(bg_health_watch(hc, t, &cfg), BG_EEXIST);
    bg_health_info_t info;
    memset(&info, 0x5a, sizeof(info));
    bg_health_info(hc, other, &info);
    cr_expect_not(info.watched);
    cr_expect_eq(info.checks, 0);
    bg_health_unwatch(hc, other); /* no-op */
    cr_assert(wait_requests(1));
    bg_target_unref(other);
    bg_target_unref(t);
    finish_test();
}

Test(health, unwatch_during_inflight_check)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = NULL; /* hang: the check stays in flight */
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/");
    cfg.timeout_ms = 10000;
    cfg.unhealthy_threshold = 1;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_expect_eq(atomic_load(&t->refs), 2, "watch takes a ref");
    cr_assert(wait_requests(1));
    bg_health_unwatch(hc, t);
    cr_expect_eq(atomic_load(&t->refs), 1, "unwatch drops it");
    bg_health_info_t info;
    bg_health_info(hc, t, &info);
    cr_expect_not(info.watched);
    run_for(&loop, 100);
    cr_expect_eq(n_events, 0);
    cr_expect(bg_target_is_healthy(t));

    /* Watching again starts afresh. */
    srv.response = http_response(503, "text/plain", "no");
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    cr_expect_not(events[0].healthy);
    bg_target_unref(t);
    finish_test();
}

Test(health, unwatch_from_inside_the_callback)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = http_response(503, "text/plain", "no");
    bg_target_t *t = target_at(srv.port, true);
    bg_health_config_t cfg = http_cfg("/");
    cfg.unhealthy_threshold = 1;
    unwatch_in_cb = 1;
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    cr_assert(wait_events(1));
    unsigned served = srv.requests;
    run_for(&loop, 150);
    cr_expect_eq(srv.requests, served, "no checks after unwatch");
    cr_expect_eq(atomic_load(&t->refs), 1);
    bg_target_unref(t);
    finish_test();
}

Test(health, many_targets_close_with_checks_in_flight)
{
    loopsrv_start(&srv, &loop, 0);
    srv.response = NULL;
    bg_target_t *ts[8];
    bg_health_config_t cfg = http_cfg("/");
    for (unsigned i = 0; i < BG_ARRAY_LEN(ts); i++) {
        ts[i] = target_at(srv.port, true);
        cr_assert_eq(bg_health_watch(hc, ts[i], &cfg), 0);
    }
    cr_assert(wait_requests(BG_ARRAY_LEN(ts)));
    /* teardown closes the checker with 8 checks hanging: nothing may stay open. */
    for (unsigned i = 0; i < BG_ARRAY_LEN(ts); i++)
        bg_target_unref(ts[i]);
    finish_test();
}

Test(health, close_before_any_check_ran)
{
    bg_target_t *t = target_at(bgt_free_port(), true);
    bg_health_config_t cfg = http_cfg("/");
    cr_assert_eq(bg_health_watch(hc, t, &cfg), 0);
    bg_target_unref(t); /* the checker's ref keeps it alive until close */
    finish_test();
}
