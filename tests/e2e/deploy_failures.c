/* e2e: each phase's failure path (docs/design.md §3, §5, §6) with real sample-apps misbehaving:
 * health never passes, startup too slow, a test hook exits 1 or runs past hooks.timeout
 * (killed with what it started), the error rate crosses
 * rollback_on, the compatibility gate refuses (API and CLI exit 3), a bad spec is refused
 * before anything starts, and abort. Each rolls back with the reason recorded, and the
 * live revision keeps serving with 0 failed requests.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

TestSuite(deploy_failures, .fini = teardown, .timeout = 120);

/* Deploys, waits for the result, checks it and that 1.0.0 still serves everything. */
static json_t *expect(const char *extra_args, const char *extra_json, const char *result,
                      const char *reason_part)
{
    long long id;
    json_t *d;
    const char *reason;
    char v[32];

    dfx_load_start(&f, 4);
    id = dfx_deploy(&f, "2.0.0", extra_args, extra_json);
    d = dfx_wait_result(&f, id, DFX_WAIT_MS);
    reason = json_string_value(json_object_get(d, "reason"));
    cr_assert_str_eq(json_string_value(json_object_get(d, "result")), result, "reason: %s", reason);
    cr_assert(reason != NULL && strstr(reason, reason_part) != NULL, "reason: %s", reason);
    usleep(200000);
    cr_assert_eq(dfx_load_stop(&f), 0, "failed: %s", f.load.last_failure);
    dfx_version(&f, v, sizeof(v));
    cr_assert_str_eq(v, "1.0.0");
    cr_assert_eq(dfx_weight(&f, "blue"), 100);
    return d;
}

/* A rolled-back deployment's record shows the routing after the rollback (blue 100%), as
 * its last switch does, also once it is read back from the store and in the history. */
static void assert_traffic_back(const json_t *d)
{
    const json_t *t = json_object_get(d, "traffic");
    const json_t *sw = json_object_get(d, "switches");
    const json_t *last = json_object_get(json_array_get(sw, json_array_size(sw) - 1), "traffic");
    long long id = (long long)json_integer_value(json_object_get(d, "id"));
    char path[64];
    int st;
    json_t *again, *hist;

    cr_assert_eq(json_integer_value(json_object_get(t, "blue")), 100, "traffic after rollback");
    cr_assert_eq(json_integer_value(json_object_get(t, "green")), 0, "traffic after rollback");
    cr_assert_eq(json_integer_value(json_object_get(last, "blue")), 100, "last switch");
    usleep(200000); /* the deployment has left memory: read from the store */
    snprintf(path, sizeof(path), "/v1/deployments/%lld", id);
    again = dfx_api(&f, "GET", path, NULL, &st);
    t = json_object_get(again, "traffic");
    cr_assert_eq(json_integer_value(json_object_get(t, "blue")), 100, "stored traffic");
    cr_assert_eq(json_integer_value(json_object_get(t, "green")), 0, "stored traffic");
    json_decref(again);
    hist = dfx_api(&f, "GET", "/v1/services/orders/deployments?limit=1", NULL, &st);
    t = json_object_get(json_array_get(json_object_get(hist, "deployments"), 0), "traffic");
    cr_assert_eq(json_integer_value(json_object_get(t, "blue")), 100, "history traffic");
    json_decref(hist);
}

static bool green_empty(void *arg)
{
    int st;
    json_t *j = dfx_api(arg, "GET", "/v1/services/orders", NULL, &st);
    size_t n = json_array_size(
        json_object_get(json_object_get(json_object_get(j, "slots"), "green"), "targets"));
    json_decref(j);
    return n == 0;
}

Test(deploy_failures, health_fails)
{
    json_t *d;

    dfx_start(&f, "");
    d = expect("--fail-health", "", "ROLLED_BACK", "startup timeout: 0 of 2");
    /* evidence: the failing targets' last health answer and log tail */
    json_t *ev = json_object_get(json_object_get(d, "evidence"), "targets");
    cr_assert_eq(json_array_size(ev), 2);
    cr_assert_neq(json_integer_value(json_object_get(
                      json_object_get(json_array_get(ev, 0), "health"), "last_status")),
                  200);
    cr_assert(json_is_string(json_object_get(json_array_get(ev, 0), "log_tail")));
    json_decref(d);
    cr_assert(bgt_wait_until(green_empty, &f, DFX_WAIT_MS));
    dfx_finish(&f);
}

Test(deploy_failures, startup_timeout)
{
    dfx_start(&f, "");
    json_decref(expect("--start-delay 10s", "", "ROLLED_BACK", "startup timeout"));
    cr_assert(bgt_wait_until(green_empty, &f, DFX_WAIT_MS));
    dfx_finish(&f);
}

Test(deploy_failures, test_hook_fails)
{
    dfx_start(&f, "    hooks: {test: [\"curl -sf $BLUEGREEN_TEST_URL >/dev/null\", \"exit 1\"]}\n");
    json_decref(expect(NULL, "", "ROLLED_BACK", "test hook 'exit 1' exited with status 1"));
    dfx_finish(&f);
}

Test(deploy_failures, test_hook_sees_preview)
{
    /* The hook reaches the preview (2.0.0) on the test listener while 1.0.0 is live. */
    dfx_start(&f, "    hooks: {test: [\"curl -sf $BLUEGREEN_TEST_URL | grep -q 2.0.0\"]}\n"
                  "    strategy: all-at-once\n    termination_wait: 1s\n");
    dfx_load_start(&f, 2);
    long long id = dfx_deploy(&f, "2.0.0", NULL, "");
    json_t *d = dfx_wait_result(&f, id, DFX_WAIT_MS);
    cr_assert_str_eq(json_string_value(json_object_get(d, "result")), "SUCCEEDED", "reason: %s",
                     json_string_value(json_object_get(d, "reason")));
    json_decref(d);
    cr_assert_eq(dfx_load_stop(&f), 0, "failed: %s", f.load.last_failure);
    dfx_finish(&f);
}

Test(deploy_failures, error_rate)
{
    /* 50% of 2.0.0's answers are 500s: the canary step at 50% shows it at once. The load
     * then sees those 500s: they are what the judge is for, so only blue is checked. */
    dfx_start(&f, "    strategy: {canary: {percent: 50, wait: 20s}}\n"
                  "    rollback_on: {error_rate: 10%, min_requests: 20, window: 5s}\n");
    dfx_load_start(&f, 4);
    long long id = dfx_deploy(&f, "2.0.0", "--error-rate 0.5", "");
    json_t *d = dfx_wait_result(&f, id, DFX_WAIT_MS);
    dfx_load_stop(&f);
    cr_assert_str_eq(json_string_value(json_object_get(d, "result")), "ROLLED_BACK");
    cr_assert(strstr(json_string_value(json_object_get(d, "reason")), "error rate") != NULL,
              "reason: %s", json_string_value(json_object_get(d, "reason")));
    assert_traffic_back(d);
    json_decref(d);
    cr_assert_eq(dfx_weight(&f, "blue"), 100);
    dfx_load_start(&f, 2);
    usleep(300000);
    cr_assert_eq(dfx_load_stop(&f), 0, "failed after the rollback: %s", f.load.last_failure);
    dfx_finish(&f);
}

Test(deploy_failures, gate_refuses)
{
    cli_res_t r;
    char *admin;

    dfx_start(&f, "    api: {provides: {orders: 1.0.0}}\n");
    json_t *d =
        expect(NULL, ",\"api\":{\"requires\":{\"payments\":\"^2.0\"}}", "REFUSED", "payments");
    cr_assert_eq(json_array_size(json_object_get(d, "switches")), 0);
    json_decref(d);
    cr_assert(green_empty(&f), "nothing may start after a refusal");
    /* the CLI exits 3 */
    admin = bg_asprintf("unix:%s", f.sock);
    char *file = bg_asprintf("%s/rev.yaml", f.dir);
    FILE *fp = fopen(file, "w");
    fprintf(fp, "version: 3.0.0\nrun: {command: [\"%s\"]}\napi: {requires: {payments: \"^2.0\"}}\n",
            bgt_bin("sample-app"));
    fclose(fp);
    CLI_RUN(&r, "--admin", admin, "deploy", "orders", "-f", file, "--version", "3.0.0", "--wait");
    cr_assert_eq(r.code, 3, "exit %d, out: %s err: %s", r.code, r.out, r.err);
    cli_res_fini(&r);
    free(file);
    free(admin);
    dfx_finish(&f);
}

Test(deploy_failures, bad_spec_refused_before_start)
{
    int st;
    json_t *j;

    dfx_start(&f, "");
    j = dfx_api(&f, "POST", "/v1/services/orders/deployments",
                "{\"version\":\"2.0.0\",\"run\":{\"command\":[\"x\"]},\"count\":\"many\"}", &st);
    cr_assert_eq(st, 400);
    json_decref(j);
    j = dfx_api(&f, "POST", "/v1/services/orders/deployments", "{\"version\":\"2.0.0\"}", &st);
    cr_assert_eq(st, 400);
    json_decref(j);
    j = dfx_api(&f, "POST", "/v1/services/orders/deployments",
                "{\"version\":\"2.0.0\",\"cmd\":\"x\",\"strategy\":\"sideways\"}", &st);
    cr_assert_eq(st, 400);
    json_decref(j);
    j = dfx_api(&f, "GET", "/v1/services/orders/deployments", NULL, &st);
    cr_assert_eq(json_array_size(json_object_get(j, "deployments")), 0);
    json_decref(j);
    cr_assert(green_empty(&f));
    dfx_finish(&f);
}

Test(deploy_failures, abort_during_shift)
{
    int st;

    dfx_start(&f, "    strategy: {canary: {percent: 20, wait: 30s}}\n");
    dfx_load_start(&f, 4);
    long long id = dfx_deploy(&f, "2.0.0", NULL, "");
    for (int i = 0; i < 500 && dfx_weight(&f, "green") != 20; i++)
        usleep(20000);
    cr_assert_eq(dfx_weight(&f, "green"), 20);
    json_decref(dfx_api(&f, "POST", "/v1/services/orders/abort", "", &st));
    cr_assert_eq(st, 200);
    json_t *d = dfx_wait_result(&f, id, DFX_WAIT_MS);
    cr_assert_str_eq(json_string_value(json_object_get(d, "result")), "ABORTED");
    json_decref(d);
    cr_assert_eq(dfx_load_stop(&f), 0, "failed: %s", f.load.last_failure);
    cr_assert_eq(dfx_weight(&f, "blue"), 100);
    cr_assert(bgt_wait_until(green_empty, &f, DFX_WAIT_MS));
    dfx_finish(&f);
}

Test(deploy_failures, scale_up_fails)
{
    int st;
    json_t *j;

    dfx_start(&f, "");
    dfx_load_start(&f, 2);
    j = dfx_api(&f, "POST", "/v1/services/orders/deployments",
                "{\"version\":\"2.0.0\",\"cmd\":\"/nonexistent/app\"}", &st);
    cr_assert_eq(st, 201);
    long long id = (long long)json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    j = dfx_wait_result(&f, id, DFX_WAIT_MS);
    cr_assert_str_eq(json_string_value(json_object_get(j, "result")), "FAILED");
    cr_assert(strstr(json_string_value(json_object_get(j, "reason")), "scale-up") != NULL);
    json_decref(j);
    cr_assert_eq(dfx_load_stop(&f), 0, "failed: %s", f.load.last_failure);
    cr_assert_eq(dfx_weight(&f, "blue"), 100);
    dfx_finish(&f);
}

Test(deploy_failures, check_hook_fails)
{
    dfx_start(&f, "    strategy: {canary: {percent: 20, wait: 5s}}\n"
                  "    hooks: {check: [\"exit 4\"]}\n");
    json_t *d = expect(NULL, "", "ROLLED_BACK", "check hook 'exit 4' exited with status 4");
    cr_assert_eq(json_array_size(json_object_get(d, "switches")), 2, "step, then back");
    assert_traffic_back(d);
    json_decref(d);
    dfx_finish(&f);
}

Test(deploy_failures, p99_latency)
{
    /* 2.0.0 answers in 300 ms; rollback_on p99 100ms sees it at the 50% step */
    dfx_start(&f, "    strategy: {canary: {percent: 50, wait: 20s}}\n"
                  "    rollback_on: {p99: 100ms, min_requests: 5, window: 5s}\n");
    json_t *d = expect("--latency 300ms", "", "ROLLED_BACK", "p99");
    assert_traffic_back(d);
    json_decref(d);
    dfx_finish(&f);
}

static bool pid_gone(void *arg)
{
    return !dfx_alive(*(pid_t *)arg);
}

Test(deploy_failures, test_hook_timeout_kills_its_process_group)
{
    char *dir = bgt_tmpdir("hook");
    char *pidfile = bg_asprintf("%s/child.pid", dir);
    char *extra = bg_asprintf("    hooks: {test: [\"sleep 60 & echo $! > %s; wait\"], "
                              "timeout: 1s}\n",
                              pidfile);
    uint64_t t0;
    pid_t child = 0;
    FILE *fp;
    json_t *d;

    dfx_start(&f, extra);
    t0 = bg_now_ms();
    d = expect(NULL, "", "ROLLED_BACK", "timed out after 1s (killed)");
    cr_assert_lt(bg_now_ms() - t0, 15000, "the hook was not cut at its timeout");
    cr_assert(strstr(json_string_value(json_object_get(d, "reason")), "test hook 'sleep 60") ==
                  json_string_value(json_object_get(d, "reason")),
              "reason: %s", json_string_value(json_object_get(d, "reason")));
    json_decref(d);
    /* what the hook started went with it: the whole process group was killed */
    fp = fopen(pidfile, "r");
    cr_assert_not_null(fp, "the hook did not run");
    cr_assert_eq(fscanf(fp, "%d", &child), 1);
    fclose(fp);
    cr_assert(bgt_wait_until(pid_gone, &child, 5000), "the hook's child %d still runs", (int)child);
    dfx_finish(&f);
    free(extra);
    free(pidfile);
    free(dir);
}
