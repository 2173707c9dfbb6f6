/* Self-test of the process and port helpers in tests/support. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/support.h"

TestSuite(support_proc, .timeout = 30);

struct exit_wait {
    pid_t pid;
    int status;
};

static bool has_exited(void *arg)
{
    struct exit_wait *w = arg;
    return bgt_exited(w->pid, &w->status);
}

Test(support_proc, spawn_env_log_and_exit_status)
{
    char *dir = bgt_tmpdir("proc");
    char log[512];
    snprintf(log, sizeof(log), "%s/out.log", dir);
    const char *argv[] = {"/bin/sh", "-c", "echo \"v=$BGT_X\"; exit 3", NULL};
    const char *env[] = {"BGT_X=42", NULL};
    pid_t pid = bgt_spawn(argv, env, log);
    struct exit_wait w = {pid, 0};
    cr_assert(bgt_wait_until(has_exited, &w, 5000));
    int st = w.status;
    cr_assert(WIFEXITED(st));
    cr_assert_eq(WEXITSTATUS(st), 3);
    FILE *f = fopen(log, "r");
    cr_assert_not_null(f);
    char line[64] = "";
    cr_assert_not_null(fgets(line, sizeof(line), f));
    fclose(f);
    cr_assert_str_eq(line, "v=42\n");
    cr_assert_eq(bgt_stop(pid, 100), -1, "already reaped");
    free(dir);
}

static bool file_nonempty(void *arg)
{
    struct stat st;
    return stat(arg, &st) == 0 && st.st_size > 0;
}

Test(support_proc, stop_terminates_then_kills)
{
    char *dir = bgt_tmpdir("proc");
    char *log = NULL;
    cr_assert(asprintf(&log, "%s/out.log", dir) > 0);
    const char *argv[] = {"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done",
                          NULL};
    pid_t pid = bgt_spawn(argv, NULL, log);
    cr_assert(bgt_wait_until(file_nonempty, log, 5000), "the trap is set before we stop it");
    int st = bgt_stop(pid, 200);
    free(log);
    free(dir);
    cr_assert(WIFSIGNALED(st));
    cr_assert_eq(WTERMSIG(st), SIGKILL);

    const char *argv2[] = {"/bin/sleep", "30", NULL};
    pid = bgt_spawn(argv2, NULL, NULL);
    st = bgt_stop(pid, 2000);
    cr_assert(WIFSIGNALED(st));
    cr_assert_eq(WTERMSIG(st), SIGTERM);
}

static bool port_open(void *arg)
{
    int fd = bgt_connect(*(int *)arg);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

Test(support_proc, free_port_and_wait_port)
{
    int port = bgt_free_port();
    cr_assert_gt(port, 0);
    cr_assert_not(bgt_wait_port(port, 50));
    bgt_backend_t *b = bgt_backend_start("p", port);
    cr_assert_not_null(b);
    cr_assert(bgt_wait_port(port, 2000));
    cr_assert(bgt_wait_until(port_open, &port, 2000));
    bgt_backend_stop(b);
}

Test(support_proc, build_paths)
{
    setenv("BG_BUILD_DIR", "/x/b", 1);
    const char *a = bgt_bin("one"), *b = bgt_bin("two");
    cr_assert_str_eq(a, "/x/b/one");
    cr_assert_str_eq(b, "/x/b/two");
    unsetenv("BG_BUILD_DIR");
    cr_assert_str_eq(bgt_build_dir(), "build");
}
