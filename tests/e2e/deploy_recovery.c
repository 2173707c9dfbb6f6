/* e2e: `kill -9` (or SIGTERM) of bluegreen in each phase of a deployment, then a restart on
 * the same state (docs/internals/recovery.md): routing comes back from the store before
 * the listeners accept, running targets are re-adopted (same pids), and the interrupted
 * deployment is resolved — rolled back before and during the shift/bake while the old
 * slot lives; in its termination wait the wait goes on for the time left (rollback stays
 * instant). SIGTERM + restart under a reconnecting load fails no request; shutdown
 * --stop-targets leaves nothing running and the next start is fresh. Also: a crashed
 * target is replaced by the driver on the same address, recorded in the audit trail.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <stdlib.h>
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

TestSuite(deploy_recovery, .fini = teardown, .timeout = 120);

typedef struct slot_cond {
    const char *slot;
    int weight;
} slot_cond_t;

static bool weight_is(void *arg)
{
    slot_cond_t *c = arg;
    return dfx_weight(&f, c->slot) == c->weight;
}

static bool slot_empty(void *arg)
{
    char h[512];
    dfx_handles(&f, arg, h, sizeof(h));
    return h[0] == '\0';
}

/* Stops the daemon with kill -9 (<sigterm> false) or SIGTERM: either way the targets keep
 * running and the restart resolves the deployment the same way. */
static void restart_and_check_by(bool sigterm, long long id, const char *result, const char *live,
                                 const char *live_handles, const char *version)
{
    json_t *d;
    char h[512], v[32];
    slot_cond_t c = {live, 100};

    if (sigterm)
        dfx_sigterm(&f);
    else
        dfx_kill9(&f);
    dfx_restart(&f);
    d = dfx_wait_result(&f, id, DFX_WAIT_MS);
    cr_assert_str_eq(json_string_value(json_object_get(d, "result")), result, "reason: %s",
                     json_string_value(json_object_get(d, "reason")));
    json_decref(d);
    cr_assert(bgt_wait_until(weight_is, &c, DFX_WAIT_MS));
    dfx_handles(&f, live, h, sizeof(h));
    cr_assert_str_eq(h, live_handles, "the live targets were not re-adopted");
    cr_assert(bgt_wait_until(slot_empty, strcmp(live, "blue") == 0 ? "green" : "blue", DFX_WAIT_MS),
              "the other slot was not stopped");
    dfx_version(&f, v, sizeof(v));
    cr_assert_str_eq(v, version);
    dfx_load_start(&f, 2);
    usleep(300000);
    cr_assert_eq(dfx_load_stop(&f), 0, "failed after the restart: %s", f.load.last_failure);
}

static void restart_and_check(long long id, const char *result, const char *live,
                              const char *live_handles, const char *version)
{
    restart_and_check_by(false, id, result, live, live_handles, version);
}

Test(deploy_recovery, steady_state_readopted)
{
    char before[512], after[512], v[32];

    dfx_start(&f, "");
    dfx_handles(&f, "blue", before, sizeof(before));
    dfx_kill9(&f);
    dfx_restart(&f);
    dfx_handles(&f, "blue", after, sizeof(after));
    cr_assert_str_eq(after, before);
    dfx_version(&f, v, sizeof(v));
    cr_assert_str_eq(v, "1.0.0");
    dfx_finish(&f);
}

Test(deploy_recovery, kill_in_post_scale_up)
{
    char blue[512];

    dfx_start(&f, "    startup_timeout: 30s\n");
    dfx_handles(&f, "blue", blue, sizeof(blue));
    long long id = dfx_deploy(&f, "2.0.0", "--start-delay 20s", "");
    cr_assert(dfx_wait_phase(&f, id, "POST_SCALE_UP", DFX_WAIT_MS));
    restart_and_check(id, "ROLLED_BACK", "blue", blue, "1.0.0");
    dfx_finish(&f);
}

Test(deploy_recovery, kill_in_test_traffic)
{
    char blue[512];

    /* the hook holds the deployment in TEST_TRAFFIC (it ends by itself later) */
    dfx_start(&f, "    hooks: {test: [\"sleep 5\"]}\n");
    dfx_handles(&f, "blue", blue, sizeof(blue));
    long long id = dfx_deploy(&f, "2.0.0", NULL, "");
    cr_assert(dfx_wait_phase(&f, id, "TEST_TRAFFIC", DFX_WAIT_MS));
    restart_and_check(id, "ROLLED_BACK", "blue", blue, "1.0.0");
    dfx_finish(&f);
}

Test(deploy_recovery, kill_in_traffic_shift)
{
    char blue[512];
    slot_cond_t c = {"green", 50};

    dfx_start(&f, "    strategy: {canary: {percent: 50, wait: 30s}}\n");
    dfx_handles(&f, "blue", blue, sizeof(blue));
    long long id = dfx_deploy(&f, "2.0.0", NULL, "");
    cr_assert(bgt_wait_until(weight_is, &c, DFX_WAIT_MS));
    restart_and_check(id, "ROLLED_BACK", "blue", blue, "1.0.0");
    dfx_finish(&f);
}

Test(deploy_recovery, kill_in_bake)
{
    char blue[512];

    dfx_start(&f, "    strategy: all-at-once\n    bake: 30s\n");
    dfx_handles(&f, "blue", blue, sizeof(blue));
    long long id = dfx_deploy(&f, "2.0.0", NULL, "");
    cr_assert(dfx_wait_phase(&f, id, "BAKE", DFX_WAIT_MS));
    restart_and_check(id, "ROLLED_BACK", "blue", blue, "1.0.0");
    dfx_finish(&f);
}

static const char *phase_of(long long id, char *out, size_t size)
{
    char path[64];
    int st;
    json_t *j;

    snprintf(path, sizeof(path), "/v1/deployments/%lld", id);
    j = dfx_api(&f, "GET", path, NULL, &st);
    snprintf(out, size, "%s", json_string_value(json_object_get(j, "phase")) ?: "");
    json_decref(j);
    return out;
}

/* A restart in the termination wait keeps the old slot (re-adopted, same pids) for the
 * rest of the wait: `rollback` is still one instant switch back. */
Test(deploy_recovery, kill_in_clean_up_rearms_the_termination_wait)
{
    char blue[512], after[512], v[32];
    int st;
    json_t *j;

    dfx_start(&f, "    strategy: all-at-once\n    termination_wait: 30s\n");
    dfx_handles(&f, "blue", blue, sizeof(blue));
    long long id = dfx_deploy(&f, "2.0.0", NULL, "");
    json_decref(dfx_wait_result(&f, id, DFX_WAIT_MS));
    cr_assert(dfx_wait_phase(&f, id, "CLEAN_UP", DFX_WAIT_MS));
    dfx_kill9(&f);
    dfx_restart(&f);
    j = dfx_wait_result(&f, id, DFX_WAIT_MS);
    cr_assert_str_eq(json_string_value(json_object_get(j, "result")), "SUCCEEDED");
    cr_assert_str_eq(json_string_value(json_object_get(j, "phase")), "CLEAN_UP");
    cr_assert(json_is_true(json_object_get(j, "rollback_available")));
    json_decref(j);
    dfx_handles(&f, "blue", after, sizeof(after));
    cr_assert_str_eq(after, blue, "the old slot was not kept (re-adopted) for the wait");
    dfx_version(&f, v, sizeof(v));
    cr_assert_str_eq(v, "2.0.0");

    dfx_load_start(&f, 2);
    j = dfx_api(&f, "POST", "/v1/services/orders/rollback", "{}", &st);
    cr_assert_eq(st, 200, "rollback after the restart answered %d", st);
    cr_assert_str_eq(json_string_value(json_object_get(j, "result")), "ROLLED_BACK");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "traffic"), "blue")), 100);
    json_decref(j);
    dfx_version(&f, v, sizeof(v));
    cr_assert_str_eq(v, "1.0.0");
    usleep(300000);
    cr_assert_eq(dfx_load_stop(&f), 0, "failed around the rollback: %s", f.load.last_failure);
    dfx_handles(&f, "blue", after, sizeof(after));
    cr_assert_str_eq(after, blue, "the rollback went to other targets than the old ones");
    cr_assert(bgt_wait_until(slot_empty, "green", DFX_WAIT_MS), "green was not stopped");
    dfx_finish(&f);
}

/* ... and when the rest of the wait is over, the old slot is drained and stopped. */
Test(deploy_recovery, sigterm_in_clean_up_finishes_the_rest_of_the_wait)
{
    char blue[512], after[512], ph[32];
    long long id;

    dfx_start(&f, "    strategy: all-at-once\n    termination_wait: 6s\n");
    dfx_handles(&f, "blue", blue, sizeof(blue));
    id = dfx_deploy(&f, "2.0.0", NULL, "");
    json_decref(dfx_wait_result(&f, id, DFX_WAIT_MS));
    cr_assert(dfx_wait_phase(&f, id, "CLEAN_UP", DFX_WAIT_MS));
    dfx_sigterm(&f);
    dfx_restart(&f);
    dfx_handles(&f, "blue", after, sizeof(after));
    cr_assert_str_eq(after, blue, "the old slot was stopped at boot");
    cr_assert_str_eq(phase_of(id, ph, sizeof(ph)), "CLEAN_UP");
    cr_assert(bgt_wait_until(slot_empty, "blue", DFX_WAIT_MS), "blue never stopped");
    cr_assert(dfx_wait_phase(&f, id, "DONE", DFX_WAIT_MS));
    dfx_finish(&f);
}

Test(deploy_recovery, sigterm_in_traffic_shift)
{
    char blue[512];
    slot_cond_t c = {"green", 50};

    /* SIGTERM is a restart of bluegreen: the targets keep running, and the interrupted
     * deployment is resolved as after kill -9 (blue re-adopted, same pids). */
    dfx_start(&f, "    strategy: {canary: {percent: 50, wait: 30s}}\n");
    dfx_handles(&f, "blue", blue, sizeof(blue));
    long long id = dfx_deploy(&f, "2.0.0", NULL, "");
    cr_assert(bgt_wait_until(weight_is, &c, DFX_WAIT_MS));
    restart_and_check_by(true, id, "ROLLED_BACK", "blue", blue, "1.0.0");
    dfx_finish(&f);
}

Test(deploy_recovery, sigterm_restart_readopts_without_failures)
{
    char before[512], after[512], again[512];
    pid_t pids[8];
    int n, st;

    dfx_start(&f, "");
    dfx_handles(&f, "blue", before, sizeof(before));
    n = dfx_pids(before, pids, 8);
    cr_assert_eq(n, 2, "handles: %s", before);
    /* clients that connect again when the daemon is briefly away (as after a service
     * manager's restart) see no failed request */
    dfx_load_start_retrying(&f, 2);
    usleep(300000);
    st = dfx_sigterm(&f);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "serve did not exit cleanly (0x%x)", st);
    for (int i = 0; i < n; i++)
        cr_assert(dfx_alive(pids[i]), "instance %d was stopped by SIGTERM", (int)pids[i]);
    dfx_restart(&f);
    dfx_handles(&f, "blue", after, sizeof(after));
    cr_assert_str_eq(after, before, "the targets were not re-adopted");
    usleep(500000);
    /* and a second SIGTERM + restart re-adopts them again */
    dfx_sigterm(&f);
    dfx_restart(&f);
    dfx_handles(&f, "blue", again, sizeof(again));
    cr_assert_str_eq(again, before);
    usleep(300000);
    cr_assert_eq(dfx_load_stop(&f), 0, "failed across the restarts: %s", f.load.last_failure);
    cr_assert_gt(atomic_load(&f.load.ok), 100);
    cr_assert_gt(atomic_load(&f.load.by_version[0]), 0);
    cr_assert_str_eq(f.load.versions[0], "1.0.0");
    dfx_finish(&f);
}

Test(deploy_recovery, shutdown_stop_targets_then_fresh_start)
{
    char before[512], after[512];
    pid_t pids[8], fresh[8];
    int n, m, st;
    json_t *j;
    bool seen = false;

    dfx_start(&f, "");
    dfx_handles(&f, "blue", before, sizeof(before));
    n = dfx_pids(before, pids, 8);
    cr_assert_eq(n, 2);
    st = dfx_shutdown_all(&f);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "serve did not exit cleanly (0x%x)", st);
    for (int i = 0; i < n; i++)
        cr_assert(!dfx_alive(pids[i]), "instance %d still runs after shutdown --stop-targets",
                  (int)pids[i]);
    /* the next start finds them stopped in the store and starts fresh instances */
    dfx_restart(&f);
    dfx_handles(&f, "blue", after, sizeof(after));
    m = dfx_pids(after, fresh, 8);
    cr_assert_eq(m, 2, "handles: %s", after);
    for (int i = 0; i < m; i++)
        for (int k = 0; k < n; k++)
            cr_assert_neq(fresh[i], pids[k], "a stopped instance came back: %s", after);
    j = dfx_api(&f, "GET", "/v1/events?service=orders", NULL, &st);
    for (size_t i = 0; i < json_array_size(json_object_get(j, "events")); i++) {
        json_t *e = json_array_get(json_object_get(j, "events"), i);
        seen = seen || strcmp(json_string_value(json_object_get(e, "kind")), "shutdown") == 0;
        cr_assert_neq(strcmp(json_string_value(json_object_get(e, "kind")), "target.adopted"), 0,
                      "a stopped instance was adopted");
    }
    json_decref(j);
    cr_assert(seen, "no shutdown event");
    dfx_finish(&f);
}

static bool replaced(void *arg)
{
    char h[512];
    dfx_handles(&f, "blue", h, sizeof(h));
    return strcmp(h, arg) != 0 && strchr(h, ' ') != NULL && strstr(h, "?") == NULL;
}

Test(deploy_recovery, crashed_target_replaced)
{
    char before[512];
    int st;
    long pid;

    dfx_start(&f, "");
    dfx_handles(&f, "blue", before, sizeof(before));
    pid = strtol(before + 4, NULL, 10); /* "pid:N:START ..." */
    cr_assert_gt(pid, 1);
    kill((pid_t)pid, SIGKILL);
    cr_assert(bgt_wait_until(replaced, before, DFX_WAIT_MS), "no replacement");
    json_t *j = dfx_api(&f, "GET", "/v1/events?service=orders", NULL, &st);
    bool seen = false;
    for (size_t i = 0; i < json_array_size(json_object_get(j, "events")); i++)
        seen = seen || strcmp(json_string_value(json_object_get(
                                  json_array_get(json_object_get(j, "events"), i), "kind")),
                              "target.replaced") == 0;
    json_decref(j);
    cr_assert(seen, "no target.replaced event");
    dfx_finish(&f);
}
