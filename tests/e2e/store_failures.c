/* e2e: state store failures are never acknowledged as success (issue 9, item 3), on a real
 * `bluegreen serve` with real sample-apps and real filesystem conditions: the database and
 * its WAL made immutable while the daemon runs (root ignores permission bits; the
 * immutable attribute binds it too), a -shm file made immutable, the database deleted
 * while running, a damaged database at start, and a full disk (a tmpfs of a few MiB
 * mounted on the state directory) while a deployment runs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "e2e/cli_run.h"
#include "e2e/deploy_fixture.h"
#include "support/support.h"

static dfx_t f;
static char immutable[4][512];
static int n_immutable;
static bool mounted;
static pid_t leftover[16];
static int n_leftover;

static void attr(const char *path, bool on)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "chattr %ci '%s'", on ? '+' : '-', path);
    cr_assert_eq(system(cmd), 0, "%s failed (needs root and a filesystem with attributes)",
                 cmd);
}

static void make_immutable(const char *name)
{
    char *p = bg_asprintf("%s/state/%s", f.dir, name);

    attr(p, true);
    snprintf(immutable[n_immutable++], sizeof(immutable[0]), "%s", p);
    free(p);
}

static void undo_immutable(void)
{
    for (int i = 0; i < n_immutable; i++)
        attr(immutable[i], false);
    n_immutable = 0;
}

static void teardown(void)
{
    char *state;

    undo_immutable();
    dfx_stop(&f);
    for (int i = 0; i < n_leftover; i++)
        if (dfx_alive(leftover[i]))
            kill(-leftover[i], SIGKILL);
    if (mounted) {
        state = bg_asprintf("%s/state", f.dir);
        umount2(state, MNT_DETACH);
        free(state);
        mounted = false;
    }
}

TestSuite(store_failures, .fini = teardown, .timeout = 180);

static cli_res_t traffic(const char *blue, const char *green)
{
    cli_res_t r;
    char *admin = bg_asprintf("unix:%s", f.sock);

    cli_run_in(&r, NULL, NULL, 30000,
               (const char *const[]){"--admin", admin, "traffic", "orders", blue, green, NULL});
    free(admin);
    return r;
}

/* Both slots with running targets: blue kept for the termination wait after green took
 * over. */
static void two_slots(void)
{
    dfx_start(&f, "    strategy: all-at-once\n    termination_wait: 60s\n");
    long long id = dfx_deploy(&f, "2.0.0", NULL, "");
    json_decref(dfx_wait_result(&f, id, DFX_WAIT_MS));
    cr_assert_eq(dfx_weight(&f, "green"), 100);
}

static const char *error_message(json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "error"), "message")) ?: "";
}

Test(store_failures, read_only_store_refuses_traffic)
{
    cli_res_t r;
    int st;
    json_t *j;

    two_slots();
    make_immutable("bluegreen.db");
    make_immutable("bluegreen.db-wal");
    j = dfx_api(&f, "PUT", "/v1/services/orders/traffic", "{\"blue\":50,\"green\":50}", &st);
    cr_expect_geq(st, 500, "a change that could not be stored answered %d", st);
    cr_expect(strstr(error_message(j), "state store") != NULL, "error: %s", error_message(j));
    json_decref(j);
    r = traffic("blue=50", "green=50");
    cr_expect_neq(r.code, 0, "the CLI exited 0: %s", r.out);
    cr_expect(strstr(r.err, "state store") != NULL, "stderr: %s", r.err);
    cli_res_fini(&r);
    cr_expect_eq(dfx_weight(&f, "green"), 100, "the refused split was applied");
    cr_expect_eq(dfx_weight(&f, "blue"), 0);

    /* Writable again: the change is accepted, stored and survives kill -9. */
    undo_immutable();
    r = traffic("blue=50", "green=50");
    cr_expect_eq(r.code, 0, "stderr: %s", r.err);
    cli_res_fini(&r);
    dfx_kill9(&f);
    dfx_restart(&f);
    cr_expect_eq(dfx_weight(&f, "blue"), 50);
    cr_expect_eq(dfx_weight(&f, "green"), 50);
    dfx_finish(&f);
}

Test(store_failures, immutable_shm_file_does_not_kill_the_daemon)
{
    char *shm;
    int fd, st;
    json_t *j;

    two_slots();
    shm = bg_asprintf("%s/state/bluegreen.db-shm", f.dir);
    fd = open(shm, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    cr_assert_geq(fd, 0);
    close(fd);
    free(shm);
    make_immutable("bluegreen.db-shm");
    for (int i = 0; i < 5; i++) {
        j = dfx_api(&f, "PUT", "/v1/services/orders/traffic",
                    i % 2 ? "{\"blue\":0,\"green\":100}" : "{\"blue\":50,\"green\":50}", &st);
        cr_assert_eq(st, 200, "traffic change %d answered %d: %s", i, st, error_message(j));
        json_decref(j);
    }
    cr_assert(!bgt_exited(f.serve, &st), "the daemon died (status 0x%x)", st);
    dfx_kill9(&f);
    dfx_restart(&f);
    cr_expect_eq(dfx_weight(&f, "blue"), 50, "the last stored split did not survive");
    dfx_finish(&f);
}

Test(store_failures, deleted_database_refuses_changes)
{
    char *db = NULL, log[256];
    int st;
    json_t *j;
    FILE *fp;
    bool logged = false;

    two_slots();
    db = bg_asprintf("%s/state/bluegreen.db", f.dir);
    cr_assert_eq(unlink(db), 0);
    free(db);
    j = dfx_api(&f, "PUT", "/v1/services/orders/traffic", "{\"blue\":50,\"green\":50}", &st);
    cr_expect_geq(st, 500);
    cr_expect(strstr(error_message(j), "deleted") != NULL, "error: %s", error_message(j));
    json_decref(j);
    cr_expect_eq(dfx_weight(&f, "green"), 100);
    j = dfx_api(&f, "POST", "/v1/services/orders/deployments",
                "{\"version\":\"3.0.0\",\"cmd\":\"/bin/true\"}", &st);
    cr_expect_geq(st, 500, "a deployment that cannot be recorded was accepted (%d)", st);
    json_decref(j);
    snprintf(log, sizeof(log), "%s/serve.log", f.dir);
    fp = fopen(log, "r");
    cr_assert_not_null(fp);
    while (fgets(log, sizeof(log), fp) != NULL)
        logged |= strstr(log, "level=error") != NULL && strstr(log, "was deleted") != NULL;
    fclose(fp);
    cr_expect(logged, "the daemon did not log the lost database at level error");
    dfx_finish(&f);
}

Test(store_failures, damaged_database_refused_at_start)
{
    char h[512], *db, *log, line[512];
    const char *argv[] = {bgt_bin("bluegreen"), "serve", "-c", NULL, NULL};
    unsigned char junk[16];
    uint64_t end;
    int st = 0;
    bool said = false;
    FILE *fp;

    dfx_start(&f, "");
    dfx_handles(&f, "blue", h, sizeof(h));
    n_leftover = dfx_pids(h, leftover, 16);
    /* A shutdown that leaves the instances running (the API's, so that no second signal
     * can cut the daemon's own clean-up short: the WAL is checkpointed at close). */
    json_decref(dfx_api(&f, "POST", "/v1/shutdown", "{}", &st));
    cr_assert_eq(st, 200);
    end = bg_now_ms() + 20000;
    while (!bgt_exited(f.serve, &st) && bg_now_ms() < end)
        usleep(10000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "serve status 0x%x", st);
    f.serve = 0;
    db = bg_asprintf("%s/state/bluegreen.db", f.dir);
    fp = fopen(db, "r+b");
    cr_assert_not_null(fp);
    memset(junk, 0xa5, sizeof(junk));
    for (long pg = 1; pg <= 4; pg++) {
        cr_assert_eq(fseek(fp, 4096 * pg, SEEK_SET), 0);
        cr_assert_eq(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
    }
    fclose(fp);
    free(db);
    argv[3] = f.cfg_path;
    log = bg_asprintf("%s/serve2.log", f.dir);
    f.serve = bgt_spawn(argv, NULL, log);
    end = bg_now_ms() + 20000;
    while (!bgt_exited(f.serve, &st) && bg_now_ms() < end)
        usleep(10000);
    cr_assert_lt(bg_now_ms(), end, "serve started on a damaged database");
    f.serve = 0;
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) != 0, "status 0x%x", st);
    fp = fopen(log, "r");
    cr_assert_not_null(fp);
    while (fgets(line, sizeof(line), fp) != NULL)
        said |= strstr(line, "damaged") != NULL;
    fclose(fp);
    cr_expect(said, "no clear message in %s", log);
    free(log);
    for (int i = 0; i < n_leftover; i++)
        cr_expect(dfx_alive(leftover[i]), "instance %d was killed by a refused start",
                  (int)leftover[i]);
}

/* ---- a full disk ---- */

static void mount_small_tmpfs(dfx_t *fx)
{
    char *state = bg_asprintf("%s/state", fx->dir);

    cr_assert_eq(mkdir(state, 0700), 0);
    cr_assert_eq(mount("tmpfs", state, "tmpfs", 0, "size=6m,mode=0700"), 0,
                 "mount tmpfs on %s: %s (the disk-full test needs root)", state,
                 strerror(errno));
    mounted = true;
    free(state);
}

/* Writes zeros into <dir>/state/filler until the filesystem is full. */
static void fill_disk(void)
{
    char *path = bg_asprintf("%s/state/filler", f.dir);
    static char zeros[65536];
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ssize_t n;

    cr_assert_geq(fd, 0);
    do
        n = write(fd, zeros, sizeof(zeros));
    while (n > 0);
    cr_assert_eq(errno, ENOSPC, "filling the disk: %s", strerror(errno));
    /* the last partial pages too */
    while (write(fd, zeros, 512) > 0)
        ;
    close(fd);
    free(path);
}

static void free_disk(void)
{
    char *path = bg_asprintf("%s/state/filler", f.dir);
    unlink(path);
    free(path);
}

Test(store_failures, deployment_on_a_full_disk_keeps_its_result)
{
    json_t *j;
    const char *reason;
    char path[64];
    int st;

    dfx_start_with(&f, "    startup_timeout: 3s\n", mount_small_tmpfs);
    cr_log_info("state on tmpfs: %s/state", f.dir);
    long long id = dfx_deploy(&f, "2.0.0", "--start-delay 30s", "");
    cr_assert(dfx_wait_phase(&f, id, "POST_SCALE_UP", DFX_WAIT_MS));
    fill_disk();
    /* The startup timeout rolls it back while the disk is full. */
    j = dfx_wait_result(&f, id, DFX_WAIT_MS);
    cr_expect_str_eq(json_string_value(json_object_get(j, "result")), "ROLLED_BACK");
    json_decref(j);
    /* New changes are refused while the disk stays full. */
    j = dfx_api(&f, "PUT", "/v1/services/orders/traffic", "{\"blue\":100,\"green\":0}", &st);
    cr_expect_geq(st, 500, "a change was accepted on a full disk (%d)", st);
    cr_expect(strstr(error_message(j), "full") != NULL, "error: %s", error_message(j));
    json_decref(j);
    /* What was stored survives a crash: the result, not "interrupted by a restart". */
    dfx_kill9(&f);
    free_disk();
    dfx_restart(&f);
    snprintf(path, sizeof(path), "/v1/deployments/%lld", id);
    j = dfx_api(&f, "GET", path, NULL, &st);
    cr_assert_eq(st, 200);
    reason = json_string_value(json_object_get(j, "reason")) ?: "";
    cr_expect_str_eq(json_string_value(json_object_get(j, "result")), "ROLLED_BACK");
    cr_expect(strstr(reason, "startup timeout") != NULL, "reason: %s", reason);
    json_decref(j);
    j = dfx_api(&f, "GET", "/v1/services/orders/deployments", NULL, &st);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "deployments"), 0), "id")),
                 id, "the deployment is missing from history");
    json_decref(j);
    dfx_finish(&f);
}
