/* e2e: no instance outlives what the state store knows (issue 9, item 2), on a real
 * `bluegreen serve` with real sample-apps. Every instance carries a marker (its state_dir
 * and store id in its environment); the tests find processes by that marker the way an
 * operator's `ps` would, and require every one of them to be a target the daemon lists:
 *   - the daemon dies between a start and the commit of its row (fault point
 *     deploy.crash_after_start: SIGKILL in that window): the restart stops the orphan;
 *   - a service removed from the config: its instances are stopped at the next start,
 *     and `shutdown --stop-targets` leaves no marked process;
 *   - the database deleted under live instances: the next start is refused with a clear
 *     message, the instances keep running (nothing orphaned, nothing killed).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "e2e/deploy_fixture.h"
#include "e2e/markers.h"
#include "support/support.h"

static dfx_t f;

static void teardown(void)
{
    char *state;

    unsetenv("BLUEGREEN_FAULTS");
    dfx_stop(&f);
    if (f.dir != NULL) {
        state = bg_asprintf("%s/state", f.dir);
        mk_kill_all(state);
        free(state);
    }
}

TestSuite(crash_safety, .fini = teardown, .timeout = 180);

static bool serve_exited(void *arg)
{
    int st;
    (void)arg;
    return bgt_exited(f.serve, &st);
}

/* POST a deployment of sample-app <version> without waiting for the answer's status (the
 * daemon may die while handling it). */
static void deploy_nowait(const char *version)
{
    char *body = bg_asprintf("{\"version\":\"%s\",\"cmd\":\"%s --service orders --version %s\"}",
                             version, bgt_bin("sample-app"), version);
    int st;

    json_decref(dfx_api(&f, "POST", "/v1/services/orders/deployments", body, &st));
    free(body);
}

Test(crash_safety, crash_between_start_and_its_row_leaves_no_orphan)
{
    char why[600];
    json_t *j;
    int st;

    /* This daemon dies (SIGKILL) right after spawning the deployment's first instance,
     * before the row that would let a restart find it is committed. */
    setenv("BLUEGREEN_FAULTS", "deploy.crash_after_start:1", 1);
    dfx_start(&f, "");
    unsetenv("BLUEGREEN_FAULTS");
    cr_assert(mk_wait_no_orphans(&f, 5000, why, sizeof(why)), "%s", why);
    deploy_nowait("2.0.0");
    cr_assert(bgt_wait_until(serve_exited, NULL, DFX_WAIT_MS), "the fault did not kill serve");
    f.serve = 0;
    dfx_restart(&f);
    cr_assert(mk_wait_no_orphans(&f, DFX_WAIT_MS, why, sizeof(why)), "%s", why);
    j = dfx_api(&f, "GET", "/v1/deployments/1", NULL, &st);
    cr_expect_str_eq(json_string_value(json_object_get(j, "result")), "ROLLED_BACK");
    json_decref(j);
    dfx_finish(&f);
    cr_assert(mk_wait_no_orphans(&f, 5000, why, sizeof(why)), "after shutdown: %s", why);
}

static void write_config(const char *yaml)
{
    FILE *fp = fopen(f.cfg_path, "w");

    cr_assert_not_null(fp);
    fputs(yaml, fp);
    fclose(fp);
}

Test(crash_safety, removed_service_instances_are_stopped)
{
    char why[600], *two, *state;
    pid_t p[16];
    int n;

    dfx_start(&f, "");
    state = bg_asprintf("%s/state", f.dir);
    /* a second service, `extra`, runs two instances of its own */
    two = bg_asprintf("%s  extra:\n    route: {host: extra.local}\n    version: 1.0.0\n    count: 2\n"
                      "    run: {command: [\"%s\", \"--service\", \"extra\"]}\n"
                      "    health: {path: /actuator/health, interval: 100ms}\n",
                      f.yaml, bgt_bin("sample-app"));
    dfx_sigterm(&f);
    write_config(two);
    dfx_restart(&f);
    cr_assert_eq(mk_pids(state, p, 16), 4, "orders and extra should run 2 instances each");
    /* `extra` leaves the config; bluegreen is killed (no clean-up of its own). */
    dfx_kill9(&f);
    write_config(f.yaml);
    dfx_restart(&f);
    cr_assert(mk_wait_no_orphans(&f, DFX_WAIT_MS, why, sizeof(why)), "%s", why);
    n = mk_pids(state, p, 16);
    cr_expect_eq(n, 2, "only orders' instances should run, %d do", n);
    dfx_finish(&f);
    cr_expect_eq(mk_pids(state, p, 16), 0, "shutdown --stop-targets left marked processes");
    free(two);
    free(state);
}

Test(crash_safety, lost_database_under_live_instances_refuses_to_start)
{
    char *db, *log, line[1024], h[512];
    const char *argv[] = {bgt_bin("bluegreen"), "serve", "-c", NULL, NULL};
    pid_t before[16];
    int n;
    bool said = false;
    FILE *fp;

    dfx_start(&f, "");
    dfx_handles(&f, "blue", h, sizeof(h));
    n = dfx_pids(h, before, 16);
    cr_assert_eq(n, 2);
    dfx_kill9(&f); /* the instances keep running */
    db = bg_asprintf("%s/state/bluegreen.db", f.dir);
    cr_assert_eq(unlink(db), 0);
    free(db);
    argv[3] = f.cfg_path;
    log = bg_asprintf("%s/serve2.log", f.dir);
    f.serve = bgt_spawn(argv, NULL, log);
    cr_assert(bgt_wait_until(serve_exited, NULL, DFX_WAIT_MS),
              "serve started over live instances of a lost database");
    f.serve = 0;
    fp = fopen(log, "r");
    cr_assert_not_null(fp);
    while (fgets(line, sizeof(line), fp) != NULL)
        said |= strstr(line, "missing or was replaced") != NULL;
    fclose(fp);
    cr_expect(said, "no clear message in %s", log);
    free(log);
    for (int i = 0; i < n; i++)
        cr_expect(dfx_alive(before[i]), "instance %d was killed", (int)before[i]);
}
