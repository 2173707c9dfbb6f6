/* e2e: every traffic strategy deploys a new revision of real sample-apps through a real
 * `bluegreen serve` under keep-alive load with 0 failed requests (docs/design.md §3, §5); a steps
 * strategy pauses until promote; the record holds the phases, switches and labels; a
 * manual rollback within the termination wait switches back with 0 failed requests.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "e2e/deploy_fixture.h"
#include "support/support.h"

static dfx_t f;

static void teardown(void)
{
    dfx_stop(&f);
}

TestSuite(deploy_strategies, .fini = teardown, .timeout = 120);

static void check_record(json_t *d, const char *result)
{
    cr_assert_str_eq(json_string_value(json_object_get(d, "result")), result, "reason: %s",
                     json_string_value(json_object_get(d, "reason")));
    cr_assert_str_eq(json_string_value(json_object_get(d, "actor")), "e2e");
    cr_assert(strncmp(json_string_value(json_object_get(d, "origin")), "unix:uid=", 9) == 0,
              "origin: %s", json_string_value(json_object_get(d, "origin")));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "labels"), "git.sha")),
                     "abc123");
    cr_assert_geq(json_array_size(json_object_get(d, "phases")), 6);
    cr_assert_geq(json_array_size(json_object_get(d, "switches")), 1);
}

static void deploy_under_load(const char *strategy_json, int min_switches)
{
    json_t *d;
    char v[32];
    long long id;

    dfx_start(&f, "    termination_wait: 1s\n");
    dfx_load_start(&f, 4);
    usleep(200000);
    id = dfx_deploy(&f, "2.0.0", NULL, strategy_json);
    d = dfx_wait_result(&f, id, DFX_WAIT_MS);
    check_record(d, "SUCCEEDED");
    cr_assert_geq(json_array_size(json_object_get(d, "switches")), (size_t)min_switches);
    json_decref(d);
    usleep(300000);
    cr_assert_eq(dfx_load_stop(&f), 0, "requests failed during the deployment: %s",
                 f.load.last_failure);
    dfx_version(&f, v, sizeof(v));
    cr_assert_str_eq(v, "2.0.0");
    cr_assert_eq(dfx_weight(&f, "green"), 100);
}

Test(deploy_strategies, all_at_once)
{
    deploy_under_load(",\"strategy\":\"all-at-once\"", 1);
    dfx_finish(&f);
}

Test(deploy_strategies, canary)
{
    deploy_under_load(",\"strategy\":\"canary:20%:500ms\"", 2);
    dfx_finish(&f);
}

Test(deploy_strategies, linear)
{
    deploy_under_load(",\"strategy\":\"linear:25%:200ms\"", 4);
    dfx_finish(&f);
}

Test(deploy_strategies, steps_pause_promote)
{
    json_t *d, *dep, *plan;
    long long id;
    int st;

    dfx_start(&f, "    termination_wait: 1s\n"
                  "    strategy: {steps: [10, {pause: true}, 50, 100]}\n");
    dfx_load_start(&f, 4);
    id = dfx_deploy(&f, "2.0.0", NULL, "");
    cr_assert(dfx_wait_phase(&f, id, "PRODUCTION_TRAFFIC_SHIFT", DFX_WAIT_MS));
    for (int i = 0; i < 200 && dfx_weight(&f, "green") != 10; i++)
        usleep(20000);
    cr_assert_eq(dfx_weight(&f, "green"), 10);
    usleep(500000); /* paused: it must stay at 10 */
    d = dfx_api(&f, "GET", "/v1/services/orders/deployments?limit=1", NULL, &st);
    dep = json_array_get(json_object_get(d, "deployments"), 0);
    cr_assert(json_is_true(json_object_get(dep, "paused")));
    /* the plan as the dashboard shows it; a paused deployment has no wait end */
    plan = json_object_get(dep, "plan");
    cr_assert_eq(json_array_size(plan), 4);
    cr_assert(json_is_true(json_object_get(json_array_get(plan, 1), "pause")));
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(plan, 2), "percent")), 50);
    cr_assert(json_is_null(json_object_get(dep, "wait_until")));
    json_decref(d);
    cr_assert_eq(dfx_weight(&f, "green"), 10);
    d = dfx_api(&f, "POST", "/v1/services/orders/promote", "", &st);
    cr_assert_eq(st, 200);
    json_decref(d);
    d = dfx_wait_result(&f, id, DFX_WAIT_MS);
    check_record(d, "SUCCEEDED");
    json_decref(d);
    cr_assert_eq(dfx_load_stop(&f), 0, "failed: %s", f.load.last_failure);
    cr_assert_eq(dfx_weight(&f, "green"), 100);
    dfx_finish(&f);
}

Test(deploy_strategies, manual_rollback_in_termination_wait)
{
    json_t *d;
    long long id;
    char v[32];
    int st;

    dfx_start(&f, "    termination_wait: 30s\n");
    dfx_load_start(&f, 4);
    id = dfx_deploy(&f, "2.0.0", NULL, ",\"strategy\":\"all-at-once\"");
    d = dfx_wait_result(&f, id, DFX_WAIT_MS);
    check_record(d, "SUCCEEDED");
    json_decref(d);
    d = dfx_api(&f, "POST", "/v1/services/orders/rollback", "{}", &st);
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(d, "result")), "ROLLED_BACK");
    json_decref(d);
    /* the switch is verified before the answer: the very next request sees blue */
    dfx_version(&f, v, sizeof(v));
    cr_assert_str_eq(v, "1.0.0");
    usleep(300000);
    cr_assert_eq(dfx_load_stop(&f), 0, "failed: %s", f.load.last_failure);
    cr_assert_eq(dfx_weight(&f, "blue"), 100);
    /* a second rollback has nothing to switch back to */
    d = dfx_api(&f, "POST", "/v1/services/orders/rollback", "{}", &st);
    cr_assert_eq(st, 409);
    json_decref(d);
    dfx_finish(&f);
}
