/* `driver: process` services: serve starts `count` instances of the configured revision
 * (real sample-app processes) in the live slot; they get traffic once healthy; a crashed
 * instance is replaced on the same address and comes back. A stop as SIGTERM leaves them
 * running and the next server re-adopts them (same pids); a stop with stop_targets stops
 * them, and the server after that starts fresh ones.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "base/base.h"
#include "server_fixture.h"

static sfx_t f;

static char *process_services(void)
{
    const char *bin = bgt_bin("sample-app");

    cr_assert_eq(access(bin, X_OK), 0, "%s is not built", bin);
    return bg_asprintf("  orders:\n"
                       "    route: {host: orders.local}\n"
                       "    driver: process\n"
                       "    version: 1.4.0\n"
                       "    count: 2\n"
                       "    run: {command: [\"%s\", \"--service\", \"orders\"]}\n"
                       "    stop_timeout: 5s\n"
                       "    health: {format: actuator, interval: 100ms, timeout: 1s}\n",
                       bin);
}

/* The pids of the running instances of <svc> (from TARGET.instance.handle "pid:N:..."). */
static size_t instance_pids(json_t *svc, pid_t *pids, size_t max)
{
    size_t n = 0, i;
    json_t *t;

    json_array_foreach(
        json_object_get(json_object_get(json_object_get(svc, "slots"), "blue"), "targets"), i, t)
    {
        const char *h =
            json_string_value(json_object_get(json_object_get(t, "instance"), "handle"));
        int pid;
        cr_assert_not_null(h, "target without instance");
        cr_assert_eq(sscanf(h, "pid:%d:", &pid), 1, "%s", h);
        if (n < max)
            pids[n++] = (pid_t)pid;
    }
    return n;
}

static bool all_healthy(json_t *svc, size_t want)
{
    json_t *targets =
        json_object_get(json_object_get(json_object_get(svc, "slots"), "blue"), "targets");
    size_t i, healthy = 0;
    json_t *t;

    json_array_foreach(targets, i, t) healthy += json_is_true(json_object_get(t, "healthy"));
    return json_array_size(targets) == want && healthy == want;
}

static bool wait_all_healthy(size_t want, int timeout_ms)
{
    uint64_t deadline = bg_now_ms() + (uint64_t)timeout_ms;
    do {
        json_t *svc = sfx_service_json(&f);
        bool ok = all_healthy(svc, want);
        json_decref(svc);
        if (ok)
            return true;
        usleep(50 * 1000);
    } while (bg_now_ms() < deadline);
    return false;
}

Test(server_process, serve_runs_the_configured_revision, .timeout = 120)
{
    char *services = process_services();
    pid_t pids[4], after[4];
    json_t *svc, *t;
    char v[32];

    sfx_start(&f, &(sfx_opts_t){.services_yaml = services});
    svc = sfx_service_json(&f);
    cr_assert_str_eq(json_string_value(json_object_get(svc, "driver")), "process");
    t = json_array_get(
        json_object_get(json_object_get(json_object_get(svc, "slots"), "blue"), "targets"), 0);
    cr_assert_not_null(t);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(t, "instance"), "version")),
                     "1.4.0");
    cr_assert_eq(instance_pids(svc, pids, 4), 2);
    json_decref(svc);

    cr_assert(wait_all_healthy(2, 20000), "instances never became healthy");
    for (int i = 0; i < 10; i++)
        cr_assert_str_eq(sfx_version(&f, v, sizeof(v)), "1.4.0");

    /* A crash: the driver replaces it on the same address; health brings it back. */
    cr_assert_eq(kill(pids[0], SIGKILL), 0);
    {
        uint64_t deadline = bg_now_ms() + 30000;
        bool replaced = false;
        while (!replaced && bg_now_ms() < deadline) {
            svc = sfx_service_json(&f);
            replaced =
                instance_pids(svc, after, 4) == 2 && after[0] != pids[0] && all_healthy(svc, 2);
            json_decref(svc);
            if (!replaced)
                usleep(100 * 1000);
        }
        cr_assert(replaced, "the crashed instance was not replaced");
    }
    for (int i = 0; i < 10; i++)
        cr_assert_str_eq(sfx_version(&f, v, sizeof(v)), "1.4.0");

    sfx_stop(&f);
    /* Stopped with the daemon (stop_targets): no instance left running. */
    for (int i = 0; i < 2; i++) {
        errno = 0;
        cr_assert_eq(kill(after[i], 0), -1, "instance pid %d still running", (int)after[i]);
        cr_assert_eq(errno, ESRCH);
    }
    free(services);
}

static bool pid_alive(pid_t pid)
{
    char path[64], buf[512], *rp;
    FILE *fp;
    bool alive = false;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((fp = fopen(path, "re")) == NULL)
        return false;
    if (fgets(buf, sizeof(buf), fp) != NULL && (rp = strrchr(buf, ')')) != NULL)
        alive = rp[2] != 'Z' && rp[2] != 'X';
    fclose(fp);
    return alive;
}

static size_t start_and_pids(const char *dir, const char *services, pid_t *pids)
{
    json_t *svc;
    size_t n;
    char v[32];

    sfx_start(&f, &(sfx_opts_t){.services_yaml = services, .dir = dir});
    cr_assert(wait_all_healthy(2, 20000), "instances never became healthy");
    svc = sfx_service_json(&f);
    n = instance_pids(svc, pids, 4);
    json_decref(svc);
    cr_assert_str_eq(sfx_version(&f, v, sizeof(v)), "1.4.0");
    return n;
}

Test(server_process, stop_keeps_instances_for_the_next_server, .timeout = 120)
{
    char *services = process_services();
    char *dir = bgt_tmpdir("readopt");
    pid_t first[4], second[4], third[4];

    cr_assert_eq(start_and_pids(dir, services, first), 2);
    sfx_stop_with(&f, false); /* as SIGTERM: a restart of bluegreen */
    for (int i = 0; i < 2; i++)
        cr_assert(pid_alive(first[i]), "instance %d stopped with the server", (int)first[i]);

    cr_assert_eq(start_and_pids(dir, services, second), 2);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(second[i], first[i], "instance %d was not re-adopted", (int)first[i]);
    sfx_stop_with(&f, true); /* shutdown --stop-targets */
    for (int i = 0; i < 2; i++)
        cr_assert(!pid_alive(first[i]), "instance %d still runs after stop_targets", (int)first[i]);

    cr_assert_eq(start_and_pids(dir, services, third), 2);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2; k++)
            cr_assert_neq(third[i], first[k], "a stopped instance came back");
    sfx_stop(&f);
    for (int i = 0; i < 2; i++)
        cr_assert(!pid_alive(third[i]));
    free(dir);
    free(services);
}
