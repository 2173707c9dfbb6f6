/* e2e (slow): kill -9 of bluegreen at random points of every phase of a deployment, many
 * times over, on a real daemon with real sample-apps (issue 9, item 2). Each round starts a
 * canary deployment (SCALE_UP .. POST_SCALE_UP .. TEST_TRAFFIC .. shift .. BAKE ..
 * CLEAN_UP take about 3 s), kills the daemon after a random delay (half of the rounds
 * within 20 ms of sending the request, while the daemon creates the deployment and starts
 * its instances: the window between a start and its row), restarts it and checks:
 *   - 0 orphans: every process carrying this state_dir's marker is a target the daemon
 *     lists (and nothing else runs);
 *   - a consistent store: no deployment left running, the weights sum to 100 and the live
 *     slot serves, the deployment has a result.
 * Seeded from BG_CRASH_SEED (default: time) and printed, so a failing round can be replayed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "e2e/deploy_fixture.h"
#include "e2e/markers.h"
#include "support/support.h"

#define ROUNDS 52

static dfx_t f;

static void teardown(void)
{
    char *state;

    dfx_stop(&f);
    if (f.dir != NULL) {
        state = bg_asprintf("%s/state", f.dir);
        mk_kill_all(state);
        free(state);
    }
}

TestSuite(crash_random, .fini = teardown, .timeout = 880);

/* POST a deployment; the id, or 0 when it was not created (409 while one still runs). */
static long long deploy(int round)
{
    char *body = bg_asprintf("{\"version\":\"2.0.%d\",\"cmd\":\"%s --service orders --version "
                             "2.0.%d\"}",
                             round, bgt_bin("sample-app"), round);
    int st;
    json_t *j = dfx_api(&f, "POST", "/v1/services/orders/deployments", body, &st);
    long long id = st == 201 ? (long long)json_integer_value(json_object_get(j, "id")) : 0;

    json_decref(j);
    free(body);
    return id;
}

/* Sends the POST of a deployment and returns at once (the connection's fd; the answer is
 * never read): the kill that follows lands while the daemon handles it, between the
 * deployment's rows, its starts and their handles. */
static int deploy_nowait(int round)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char *body = bg_asprintf("{\"version\":\"2.0.%d\",\"cmd\":\"%s --service orders --version "
                             "2.0.%d\"}",
                             round, bgt_bin("sample-app"), round);
    char *req = bg_asprintf("POST /v1/services/orders/deployments HTTP/1.1\r\nHost: bluegreen\r\n"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                            strlen(body), body);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f.sock);
    cr_assert_geq(fd, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert(bgt_write_all(fd, req, strlen(req)));
    free(req);
    free(body);
    return fd;
}

/* The newest deployment's id (0: none). */
static long long newest(void)
{
    int st;
    json_t *j = dfx_api(&f, "GET", "/v1/services/orders/deployments?limit=1", NULL, &st);
    long long id = (long long)json_integer_value(
        json_object_get(json_array_get(json_object_get(j, "deployments"), 0), "id"));

    json_decref(j);
    return id;
}

static void check_consistent(int round, long long id)
{
    char path[64], v[32];
    int st;
    json_t *j;
    const char *res;

    if (id == 0)
        id = newest(); /* killed before or while it was created */
    if (id == 0)
        return;
    snprintf(path, sizeof(path), "/v1/deployments/%lld", id);
    j = dfx_api(&f, "GET", path, NULL, &st);
    cr_assert_eq(st, 200, "round %d: deployment %lld is gone from the store", round, id);
    res = json_string_value(json_object_get(j, "result"));
    /* Resolved at boot; SUCCEEDED may still be in its termination wait (CLEAN_UP). */
    cr_assert(res != NULL && res[0] != '\0', "round %d: deployment %lld still runs (%s)", round,
              id, json_string_value(json_object_get(j, "phase")));
    json_decref(j);
    cr_assert_eq(dfx_weight(&f, "blue") + dfx_weight(&f, "green"), 100, "round %d", round);
    dfx_version(&f, v, sizeof(v));
    cr_assert_neq(v[0], '\0', "round %d: the live slot does not answer", round);
}

Test(crash_random, kill9_at_random_points_leaves_no_orphan)
{
    const char *seed_env = getenv("BG_CRASH_SEED");
    unsigned seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 10) : (unsigned)time(NULL);
    char why[600];
    int early = 0;

    cr_log_info("BG_CRASH_SEED=%u", seed);
    srand(seed);
    dfx_start(&f, "    strategy: {canary: {percent: 50, wait: 500ms}}\n"
                  "    bake: 500ms\n    termination_wait: 1s\n");
    for (int round = 0; round < ROUNDS; round++) {
        /* Half of the rounds: killed 0-20 ms after the request was sent, while the
         * daemon creates the deployment and starts its instances. */
        bool quick = rand() % 2 == 0;
        unsigned delay_ms = quick ? (unsigned)(rand() % 20) : (unsigned)(rand() % 3500);
        long long id = 0;
        int fd = -1;

        if (quick) {
            fd = deploy_nowait(round);
        } else {
            id = deploy(round);
            cr_assert_gt(id, 0, "round %d: the deployment was not created", round);
        }
        early += quick;
        usleep(delay_ms * 1000);
        dfx_kill9(&f);
        if (fd >= 0)
            close(fd);
        dfx_restart(&f);
        cr_assert(mk_wait_no_orphans(&f, DFX_WAIT_MS, why, sizeof(why)),
                  "round %d (kill after %u ms, seed %u): %s", round, delay_ms, seed, why);
        check_consistent(round, id);
    }
    cr_log_info("%d rounds, %d killed within 20 ms of sending the deploy", ROUNDS, early);
    dfx_finish(&f);
    {
        char *state = bg_asprintf("%s/state", f.dir);
        pid_t p[8];
        cr_expect_eq(mk_pids(state, p, 8), 0, "shutdown --stop-targets left marked processes");
        free(state);
    }
}
