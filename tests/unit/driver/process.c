/* Process driver against real processes: environment, logs, graceful and forced stop of
 * the whole group, crash replacement with backoff, re-adoption after the driver is gone. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "driver/driver.h"

static uv_loop_t loop;
static char dir[64];
static int exited_n, replaced_n, stopped_n;

static void on_exited(void *ctx, bg_instance_t *inst)
{
    exited_n++;
}

static void on_replaced(void *ctx, bg_instance_t *inst)
{
    replaced_n++;
}

static const bg_driver_events_t events = {on_exited, on_replaced, NULL};

static void setup(void)
{
    uv_loop_init(&loop);
    snprintf(dir, sizeof(dir), "/tmp/bg-driver-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    exited_n = replaced_n = stopped_n = 0;
}

TestSuite(process, .init = setup, .timeout = 60);

/* Runs the loop until <flag> reaches <want> or <ms> pass. */
/* Gone = no such process, or a zombie waiting for a parent that is not us to reap it. */
static bool gone(int pid)
{
    char path[64], buf[512];
    FILE *f;
    char *rp;

    waitpid(pid, NULL, WNOHANG);
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return true;
    rp = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
    fclose(f);
    return rp != NULL && rp[2] == 'Z';
}

static bool run_until(int *flag, int want, unsigned ms)
{
    uint64_t end = bg_now_ms() + ms;
    while (*flag < want && bg_now_ms() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(2000);
    }
    return *flag >= want;
}

static bool log_contains(bg_driver_t *d, bg_instance_t *i, const char *needle, unsigned ms)
{
    uint64_t end = bg_now_ms() + ms;
    bool found = false;
    while (!found && bg_now_ms() < end) {
        bg_buf_t b;
        bg_buf_init(&b);
        bg_driver_logs(d, i, 65536, &b);
        found = b.data != NULL && strstr(b.data, needle) != NULL;
        bg_buf_fini(&b);
        if (!found) {
            uv_run(&loop, UV_RUN_NOWAIT);
            usleep(5000);
        }
    }
    return found;
}

static void on_stopped(void *arg, bg_instance_t *inst, int status)
{
    stopped_n++;
}

static bg_instance_t *start_sh(bg_driver_t *d, const char *script, bg_revision_config_t *rev,
                               uint32_t stop_timeout_ms)
{
    static char *argv[4];
    bg_instance_spec_t spec = {.service = "orders", .slot = 1, .revision = 7, .index = 0,
                               .rev = rev, .stop_timeout_ms = stop_timeout_ms};
    bg_instance_t *inst = NULL;
    bg_err_t err;

    argv[0] = "/bin/sh";
    argv[1] = "-c";
    argv[2] = (char *)script;
    argv[3] = NULL;
    rev->command = argv;
    rev->version = "2.3.0";
    cr_assert_eq(bg_driver_start(d, &spec, NULL, NULL, &inst, &err), 0, "%s", err.msg);
    return inst;
}

static void close_driver(bg_driver_t *d)
{
    bg_driver_close(d, NULL, NULL);
}

/* Ends a test: every handle closed, so the loop closes cleanly. In the test body, not in a
 * .fini: Criterion does not count assertions that fail in .fini. */
static void finish(bg_driver_t *d)
{
    close_driver(d);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0, "handles left open");
}

Test(process, environment_address_and_logs)
{
    bg_err_t err;
    bg_driver_t *d = bg_process_driver_new(&loop, dir, &events, &err);
    bg_revision_config_t rev = {0};
    bg_kv_t env[] = {{"GREETING", "hello"}, {"PORT", "1"}};
    rev.env = env;
    rev.n_env = 2;
    bg_instance_t *i = start_sh(d, "echo port=$PORT slot=$BLUEGREEN_SLOT svc=$BLUEGREEN_SERVICE "
                                   "ver=$BLUEGREEN_VERSION g=$GREETING; exec sleep 30",
                                &rev, 2000);
    char want[128];
    snprintf(want, sizeof(want), "port=%s slot=green svc=orders ver=2.3.0 g=hello",
             strchr(i->address, ':') + 1);
    cr_expect(strncmp(i->address, "127.0.0.1:", 10) == 0);
    cr_expect(strncmp(i->handle, "pid:", 4) == 0);
    cr_expect(strstr(i->log_path, "/logs/orders-green-r7-0.log") != NULL, "%s", i->log_path);
    cr_expect(log_contains(d, i, want, 5000), "log lacks '%s'", want);
    bg_driver_stop(d, i, on_stopped, NULL);
    cr_expect(run_until(&stopped_n, 1, 5000));
    cr_expect_eq(i->state, BG_INSTANCE_STOPPED);
    cr_expect_eq(exited_n, 0, "a requested stop is not a crash");
    bg_instance_free(i);
    finish(d);
}

Test(process, stop_escalates_to_sigkill_for_the_whole_group)
{
    bg_err_t err;
    bg_driver_t *d = bg_process_driver_new(&loop, dir, &events, &err);
    bg_revision_config_t rev = {0};
    /* ignores SIGTERM and has a child in the same group */
    bg_instance_t *i = start_sh(d, "trap '' TERM; sleep 30 & echo child=$!; wait; wait", &rev,
                                300);
    cr_assert(log_contains(d, i, "child=", 5000));
    bg_buf_t b;
    bg_buf_init(&b);
    bg_driver_logs(d, i, 4096, &b);
    int child = atoi(strstr(b.data, "child=") + 6);
    bg_buf_fini(&b);
    cr_assert_gt(child, 1);
    uint64_t t0 = bg_now_ms();
    bg_driver_stop(d, i, on_stopped, NULL);
    cr_expect(run_until(&stopped_n, 1, 5000));
    cr_expect_geq(bg_now_ms() - t0, 250, "SIGKILL came before stop_timeout");
    cr_expect_eq(i->last_term_signal, SIGKILL);
    usleep(50000);
    cr_expect(gone(child), "the group's child %d survived", child);
    bg_instance_free(i);
    finish(d);
}

Test(process, crash_is_replaced_with_backoff)
{
    bg_err_t err;
    bg_driver_t *d = bg_process_driver_new(&loop, dir, &events, &err);
    bg_revision_config_t rev = {0};
    bg_instance_t *i = start_sh(d, "echo run; exit 3", &rev, 1000);
    char addr[80];
    snprintf(addr, sizeof(addr), "%s", i->address);

    cr_expect(run_until(&exited_n, 1, 5000));
    cr_expect_eq(i->last_exit_status, 3);
    cr_expect_eq(i->state, BG_INSTANCE_RESTARTING);
    uint64_t t0 = bg_now_ms();
    cr_expect(run_until(&replaced_n, 1, 5000));
    cr_expect_geq(bg_now_ms() - t0, 800, "first backoff is about 1s");
    cr_expect_str_eq(i->address, addr, "a replacement keeps the address");
    cr_expect_eq(i->restarts, 1);
    /* second crash waits longer (2s) */
    cr_expect(run_until(&exited_n, 2, 5000));
    t0 = bg_now_ms();
    cr_expect(run_until(&replaced_n, 2, 6000));
    cr_expect_geq(bg_now_ms() - t0, 1700);
    bg_driver_stop(d, i, on_stopped, NULL);
    cr_expect(run_until(&stopped_n, 1, 5000));
    bg_instance_free(i);
    finish(d);
}

Test(process, readoption_after_the_driver_is_gone)
{
    bg_err_t err;
    bg_driver_t *d = bg_process_driver_new(&loop, dir, &events, &err);
    bg_revision_config_t rev = {0};
    bg_instance_t *i = start_sh(d, "exec sleep 30", &rev, 1000);
    char handle[128], addr[80];
    snprintf(handle, sizeof(handle), "%s", i->handle);
    snprintf(addr, sizeof(addr), "%s", i->address);
    int pid;
    cr_assert_eq(sscanf(handle, "pid:%d:", &pid), 1);
    close_driver(d); /* like bluegreen exiting: the process keeps running */
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_expect_eq(kill(pid, 0), 0, "the process must survive its driver");

    d = bg_process_driver_new(&loop, dir, &events, &err);
    bg_instance_spec_t spec = {.service = "orders", .slot = 1, .revision = 7, .rev = &rev,
                               .stop_timeout_ms = 1000};
    bg_instance_t *a = NULL;
    cr_assert_eq(bg_driver_adopt(d, &spec, addr, handle, &a, &err), 0, "%s", err.msg);
    cr_expect_str_eq(a->address, addr);
    cr_expect_eq(a->state, BG_INSTANCE_RUNNING);
    /* a stale handle (pid reuse guard) is refused */
    char stale[128];
    snprintf(stale, sizeof(stale), "pid:%d:1", pid);
    bg_instance_t *b = NULL;
    cr_expect_eq(bg_driver_adopt(d, &spec, addr, stale, &b, &err), BG_ENOTFOUND);
    cr_expect_eq(bg_driver_adopt(d, &spec, addr, "garbage", &b, &err), BG_EINVAL);
    /* the adopted process's exit is observed (pidfd), and stop works */
    bg_driver_stop(d, a, on_stopped, NULL);
    cr_expect(run_until(&stopped_n, 1, 5000));
    cr_expect(gone(pid));
    bg_instance_free(a);
    finish(d);
}

Test(process, adopted_crash_is_reported)
{
    bg_err_t err;
    bg_driver_t *d = bg_process_driver_new(&loop, dir, &events, &err);
    bg_revision_config_t rev = {0};
    bg_instance_t *i = start_sh(d, "exec sleep 30", &rev, 1000);
    char handle[128], addr[80];
    snprintf(handle, sizeof(handle), "%s", i->handle);
    snprintf(addr, sizeof(addr), "%s", i->address);
    int pid;
    cr_assert_eq(sscanf(handle, "pid:%d:", &pid), 1);
    close_driver(d);
    uv_run(&loop, UV_RUN_NOWAIT);

    d = bg_process_driver_new(&loop, dir, &events, &err);
    bg_revision_config_t norun = {0};
    bg_instance_spec_t spec = {.service = "orders", .slot = 1, .revision = 7, .rev = &norun};
    bg_instance_t *a = NULL;
    cr_assert_eq(bg_driver_adopt(d, &spec, addr, handle, &a, &err), 0, "%s", err.msg);
    kill(pid, SIGKILL);
    cr_expect(run_until(&exited_n, 1, 5000), "exit of an adopted process went unnoticed");
    cr_expect_eq(a->state, BG_INSTANCE_STOPPED, "no command to replace it with");
    bg_instance_free(a);
    finish(d);
}

Test(process, bad_command_is_an_error)
{
    bg_err_t err;
    bg_driver_t *d = bg_process_driver_new(&loop, dir, &events, &err);
    bg_revision_config_t rev = {0};
    char *argv[] = {"/nonexistent/app", NULL};
    rev.command = argv;
    bg_instance_spec_t spec = {.service = "orders", .rev = &rev};
    bg_instance_t *i = NULL;
    cr_expect_lt(bg_driver_start(d, &spec, NULL, NULL, &i, &err), 0);
    cr_expect(strstr(err.msg, "/nonexistent/app") != NULL, "%s", err.msg);
    cr_expect_null(i);
    rev.command = NULL;
    cr_expect_eq(bg_driver_start(d, &spec, NULL, NULL, &i, &err), BG_EINVAL);
    finish(d);
}
