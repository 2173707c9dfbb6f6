/* The checker against the real build/sample-app process (Actuator V3 JSON, readiness
 * group, runtime health toggle): healthy, then "db: DOWN" after /admin/fail-health, healthy
 * again after /admin/recover, and "connect: connection refused" once the process is gone.
 * Label: integration. */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "health/health.h"
#include "loopsrv.h"
#include "support/support.h"

typedef struct seen {
    unsigned n;
    bool healthy[16];
    char reason[16][256];
} seen_t;

static seen_t seen;
static unsigned want;

static void on_transition(void *ctx, bg_target_t *t, bool healthy, const char *reason)
{
    cr_assert_lt(seen.n, 16);
    seen.healthy[seen.n] = healthy;
    snprintf(seen.reason[seen.n], sizeof(seen.reason[0]), "%s", reason);
    seen.n++;
}

static bool have(void *arg)
{
    return seen.n >= want;
}

static bool is_true(void *arg)
{
    return *(bool *)arg;
}

static void set_true(void *arg)
{
    *(bool *)arg = true;
}

static void post(int port, const char *path)
{
    char raw[256];
    bgt_resp_t r = {0};
    snprintf(raw, sizeof(raw),
             "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n",
             path);
    cr_assert(bgt_http_raw(port, raw, strlen(raw), &r, 5000), "POST %s failed", path);
    cr_assert_eq(r.status, 200);
    bgt_resp_fini(&r);
}

Test(sampleapp, actuator_lifecycle, .timeout = 60)
{
    const char *bin = bgt_bin("sample-app");
    cr_assert_eq(access(bin, X_OK), 0, "%s not built", bin);
    int port = bgt_free_port();
    char port_s[16];
    snprintf(port_s, sizeof(port_s), "%d", port);
    const char *argv[] = {bin, "--service", "orders", "--version", "1.0.0", "--port", port_s, NULL};
    pid_t pid = bgt_spawn(argv, NULL, NULL);
    cr_assert(bgt_wait_port(port, 10000), "sample-app did not listen");

    uv_loop_t loop;
    bool closed = false;
    cr_assert_eq(uv_loop_init(&loop), 0);
    bg_health_t *h = bg_health_new(&loop, on_transition, NULL);
    char addr[32];
    bg_err_t err;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    bg_target_t *t = bg_target_new("orders", BG_SLOT_BLUE, addr, false, &err);
    cr_assert_not_null(t);
    bg_health_config_t cfg = {.type = BG_HEALTH_HTTP,
                              .format = BG_HEALTH_FORMAT_ACTUATOR,
                              .interval_ms = 50,
                              .timeout_ms = 2000,
                              .healthy_threshold = 2,
                              .unhealthy_threshold = 2};
    cr_assert_eq(bg_health_watch(h, t, &cfg), 0);

    want = 1;
    cr_assert(run_until(&loop, have, NULL, 10000));
    cr_expect(seen.healthy[0], "%s", seen.reason[0]);
    cr_expect_str_eq(seen.reason[0], "UP");

    post(port, "/admin/fail-health");
    want = 2;
    cr_assert(run_until(&loop, have, NULL, 10000));
    cr_expect_not(seen.healthy[1]);
    cr_expect(strstr(seen.reason[1], "db: DOWN") != NULL, "%s", seen.reason[1]);
    bg_health_info_t info;
    bg_health_info(h, t, &info);
    cr_expect_eq(info.last_status, 503);
    cr_expect(strstr(info.last_body, "--fail-health") != NULL, "%s", info.last_body);

    post(port, "/admin/recover");
    want = 3;
    cr_assert(run_until(&loop, have, NULL, 10000));
    cr_expect(seen.healthy[2]);

    bgt_stop(pid, 5000);
    want = 4;
    cr_assert(run_until(&loop, have, NULL, 10000));
    cr_expect_not(seen.healthy[3]);
    cr_expect_str_eq(seen.reason[3], "connect: connection refused");

    bg_health_close(h, set_true, &closed);
    cr_assert(run_until(&loop, is_true, &closed, 5000));
    bg_target_unref(t);
    cr_assert_eq(loop_finish(&loop), 0);
    cr_assert_eq(leak_check(), 0);
}
