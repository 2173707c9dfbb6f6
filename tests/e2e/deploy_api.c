/* e2e: the rest of the deployments API against a real daemon (docs/admin-api.md):
 * dry run changes nothing, the events stream (SSE) shows a deployment as it happens, logs
 * of the live slot, keep_failed leaves the failed targets up, a manual traffic change is
 * refused while a deployment runs, a rollback that would break a consumer is refused by
 * the gate (error.gate + broken) unless forced, and a release runs its planned order.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/base.h"
#include "e2e/cli_run.h"
#include "e2e/deploy_fixture.h"
#include "support/support.h"

static dfx_t f;

static void teardown(void)
{
    dfx_stop(&f);
}

TestSuite(deploy_api, .fini = teardown, .timeout = 120);

static size_t history_len(void)
{
    int st;
    json_t *j = dfx_api(&f, "GET", "/v1/services/orders/deployments", NULL, &st);
    size_t n = json_array_size(json_object_get(j, "deployments"));
    json_decref(j);
    return n;
}

Test(deploy_api, dry_run_changes_nothing)
{
    int st;
    json_t *j;
    char *body;

    dfx_start(&f, "    strategy: {canary: {percent: 10, wait: 5m}}\n");
    body = bg_asprintf("{\"version\":\"2.0.0\",\"cmd\":\"%s\",\"dry_run\":true}",
                       bgt_bin("sample-app"));
    j = dfx_api(&f, "POST", "/v1/services/orders/deployments", body, &st);
    free(body);
    cr_assert_eq(st, 200);
    cr_assert(json_is_true(json_object_get(json_object_get(j, "gate"), "ok")));
    cr_assert_eq(json_array_size(json_object_get(j, "steps")), 2);
    cr_assert_eq(json_integer_value(
                     json_object_get(json_array_get(json_object_get(j, "steps"), 0), "percent")),
                 10);
    cr_assert_str_eq(json_string_value(json_object_get(j, "slot")), "green");
    json_decref(j);
    cr_assert_eq(history_len(), 0);
    dfx_finish(&f);
}

static int stream_open(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    static const char req[] = "GET /v1/events/stream?service=orders HTTP/1.1\r\nHost: b\r\n\r\n";

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f.sock);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert(bgt_write_all(fd, req, sizeof(req) - 1));
    return fd;
}

/* Reads the stream until <text> shows up or the deadline passes. */
static bool stream_wait(int fd, const char *text, char *buf, size_t size)
{
    size_t len = 0;
    uint64_t end = bg_now_ms() + DFX_WAIT_MS;

    buf[0] = '\0';
    while (bg_now_ms() < end && strstr(buf, text) == NULL && len + 1 < size) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
    return strstr(buf, text) != NULL;
}

Test(deploy_api, events_stream_and_logs)
{
    static char buf[256 * 1024];
    int st, fd;
    json_t *j;

    dfx_start(&f, "    strategy: all-at-once\n");
    fd = stream_open();
    long long id = dfx_deploy(&f, "2.0.0", NULL, "");
    cr_assert(stream_wait(fd, "event: deploy.result", buf, sizeof(buf)), "stream: %s", buf);
    cr_assert(strstr(buf, "text/event-stream") != NULL);
    cr_assert(strstr(buf, "event: deploy.phase") != NULL);
    cr_assert(strstr(buf, "\"actor\":\"e2e\"") != NULL, "the audit trail names the actor");
    close(fd);
    json_decref(dfx_wait_result(&f, id, DFX_WAIT_MS));
    j = dfx_api(&f, "GET", "/v1/events?service=orders&limit=5", NULL, &st);
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "events")), 5);
    json_decref(j);
    /* logs answer text; dfx_api parses JSON only, so read them raw */
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    bgt_resp_t r = {0};
    static const char req[] =
        "GET /v1/services/orders/logs?slot=live HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f.sock);
    cr_assert_eq(connect(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert(bgt_write_all(lfd, req, sizeof(req) - 1));
    cr_assert(bgt_read_response(lfd, &r, 5000));
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "==> target 127.0.0.1:") != NULL, "logs: %s", r.body);
    cr_assert(strstr(r.body, "version=2.0.0") != NULL, "logs: %s", r.body);
    bgt_resp_fini(&r);
    close(lfd);
    dfx_finish(&f);
}

Test(deploy_api, keep_failed_and_traffic_refused)
{
    int st;
    json_t *j;

    dfx_start(&f, "    keep_failed: true\n    startup_timeout: 1s\n");
    long long id = dfx_deploy(&f, "2.0.0", "--fail-health", "");
    cr_assert(dfx_wait_phase(&f, id, "POST_SCALE_UP", DFX_WAIT_MS));
    j = dfx_api(&f, "PUT", "/v1/services/orders/traffic", "{\"blue\":0,\"green\":100}", &st);
    cr_assert_eq(st, 409, "a traffic change during a deployment must be refused");
    json_decref(j);
    j = dfx_wait_result(&f, id, DFX_WAIT_MS);
    cr_assert_str_eq(json_string_value(json_object_get(j, "result")), "ROLLED_BACK");
    json_decref(j);
    char h[512];
    dfx_handles(&f, "green", h, sizeof(h));
    cr_assert(strchr(h, ' ') != NULL, "keep_failed: both failed targets stay: '%s'", h);
    cr_assert_eq(dfx_weight(&f, "blue"), 100);
    /* the next deployment clears the kept targets out of its slot first */
    char kept[512];
    snprintf(kept, sizeof(kept), "%s", h);
    j = dfx_wait_result(&f, dfx_deploy(&f, "3.0.0", NULL, ""), DFX_WAIT_MS);
    cr_assert_str_eq(json_string_value(json_object_get(j, "result")), "SUCCEEDED");
    json_decref(j);
    dfx_handles(&f, "green", h, sizeof(h));
    cr_assert(strstr(h, strtok(kept, " ")) == NULL, "a kept target is still there: %s", h);
    dfx_finish(&f);
}

#define PAYMENTS                                                                                   \
    "  payments:\n"                                                                                \
    "    route: {host: payments.local}\n"                                                          \
    "    version: 1.0.0\n"                                                                         \
    "    run: {command: [\"%s\", \"--service\", \"payments\", \"--version\", \"1.0.0\"]}\n"        \
    "    health: {path: /actuator/health, format: actuator, interval: 100ms,\n"                    \
    "             healthy_threshold: 1, unhealthy_threshold: 1}\n"                                 \
    "    api: {requires: {orders: \"^1.0\"}}\n"                                                    \
    "    strategy: all-at-once\n"                                                                  \
    "    termination_wait: 1m\n"

Test(deploy_api, rollback_gated_then_forced)
{
    char *extra = bg_asprintf("    api: {provides: {orders: 1.0.0}}\n"
                              "    strategy: all-at-once\n    termination_wait: 1m\n" PAYMENTS,
                              bgt_bin("sample-app"));
    char *body;
    json_t *j;
    int st;

    dfx_start(&f, extra);
    free(extra);
    /* orders 2.0.0 serves 1.x and 2.x; then payments starts to require 2.x */
    json_decref(dfx_wait_result(
        &f,
        dfx_deploy(&f, "2.0.0", NULL, ",\"api\":{\"provides\":{\"orders\":[\"1.5.0\",\"2.0.0\"]}}"),
        DFX_WAIT_MS));
    body = bg_asprintf("{\"version\":\"2.0.0\",\"cmd\":\"%s --service payments --version 2.0.0\","
                       "\"api\":{\"requires\":{\"orders\":\"^2.0\"}}}",
                       bgt_bin("sample-app"));
    j = dfx_api(&f, "POST", "/v1/services/payments/deployments", body, &st);
    free(body);
    cr_assert_eq(st, 201);
    json_decref(dfx_wait_result(&f, json_integer_value(json_object_get(j, "id")), DFX_WAIT_MS));
    json_decref(j);
    j = dfx_api(&f, "POST", "/v1/services/orders/rollback", "{}", &st);
    cr_assert_eq(st, 409);
    json_t *e = json_object_get(j, "error");
    cr_assert(json_is_true(json_object_get(e, "gate")));
    cr_assert_gt(json_array_size(json_object_get(e, "broken")), 0);
    cr_assert(strstr(json_string_value(json_object_get(e, "message")), "payments") != NULL);
    json_decref(j);
    /* the forced rollback through the CLI: recorded with the CLI's actor, not "admin" */
    {
        cli_res_t r;
        char *admin = bg_asprintf("unix:%s", f.sock);
        const char *const env[] = {"BLUEGREEN_ACTOR=alice", NULL};
        cli_run_in(&r, NULL, env, 30000,
                   (const char *const[]){"--admin", admin, "rollback", "orders", "--force", NULL});
        cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
        cli_res_fini(&r);
        free(admin);
    }
    j = dfx_api(&f, "GET", "/v1/services/orders/deployments?limit=1", NULL, &st);
    json_t *dep = json_array_get(json_object_get(j, "deployments"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(dep, "result")), "ROLLED_BACK");
    cr_assert_str_eq(json_string_value(json_object_get(dep, "reason")),
                     "manual rollback by alice (forced past the gate)");
    json_decref(j);
    j = dfx_api(&f, "GET", "/v1/events?service=orders", NULL, &st);
    bool manual_by_alice = false;
    for (size_t i = 0; i < json_array_size(json_object_get(j, "events")); i++) {
        json_t *ev = json_array_get(json_object_get(j, "events"), i);
        if (strcmp(json_string_value(json_object_get(ev, "kind")), "deploy.manual") == 0)
            manual_by_alice =
                strcmp(json_string_value(json_object_get(ev, "actor")), "alice") == 0 &&
                strstr(json_string_value(json_object_get(ev, "origin")), "ua=") != NULL;
    }
    json_decref(j);
    cr_assert(manual_by_alice, "the manual rollback event is not alice's");
    dfx_finish(&f);
}

Test(deploy_api, release_runs_the_planned_order)
{
    char *extra = bg_asprintf("    api: {provides: {orders: 1.0.0}}\n"
                              "    strategy: all-at-once\n    termination_wait: 1m\n" PAYMENTS,
                              bgt_bin("sample-app"));
    const char *app = bgt_bin("sample-app");
    char *yaml, *body;
    json_t *j, *steps;
    int st;

    dfx_start(&f, extra);
    free(extra);
    /* payments 2.0.0 needs orders ^2.0: orders must go first */
    yaml = bg_asprintf("services:\n"
                       "  payments:\n    version: 2.0.0\n"
                       "    run: {command: [\"%s\", \"--service\", \"payments\"]}\n"
                       "    api: {requires: {orders: \"^2.0\"}}\n"
                       "  orders:\n    version: 2.0.0\n"
                       "    run: {command: [\"%s\", \"--service\", \"orders\"]}\n"
                       "    api: {provides: {orders: [1.9.0, 2.0.0]}}\n",
                       app, app);
    j = json_pack("{s:{s:s,s:s},s:s,s:{s:s}}", "release_file", "name", "release.yaml", "yaml", yaml,
                  "actor", "ci-release", "labels", "git.sha", "rel123");
    body = json_dumps(j, 0);
    json_decref(j);
    free(yaml);
    j = dfx_api(&f, "POST", "/v1/plan", body, &st);
    cr_assert_eq(st, 200);
    cr_assert(json_is_true(json_object_get(j, "ok")));
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(j, "order"), 0), "service")),
                     "orders");
    json_decref(j);
    j = dfx_api(&f, "POST", "/v1/releases", body, &st);
    free(body);
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "result")), "SUCCEEDED");
    steps = json_object_get(j, "steps");
    cr_assert_eq(json_array_size(steps), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(steps, 0), "service")),
                     "orders");
    /* each deployment of the release carries the release's actor and labels */
    for (size_t i = 0; i < 2; i++) {
        json_t *dep = json_object_get(json_array_get(steps, i), "deployment");
        cr_assert_str_eq(json_string_value(json_object_get(dep, "actor")), "ci-release");
        cr_assert_str_eq(
            json_string_value(json_object_get(json_object_get(dep, "labels"), "git.sha")),
            "rel123");
        json_t *stored =
            dfx_wait_result(&f, json_integer_value(json_object_get(dep, "id")), DFX_WAIT_MS);
        cr_assert_str_eq(json_string_value(json_object_get(stored, "actor")), "ci-release");
        json_decref(stored);
    }
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(j, "live"), "payments"), "version")),
                     "2.0.0");
    json_decref(j);
    dfx_finish(&f);
}
