/* Runs the bluegreen binary to completion for e2e tests (cli_run.h). */
#include "e2e/cli_run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "support/support.h"

static const char *const base_env[] = {"BLUEGREEN_ADMIN=", "BLUEGREEN_TOKEN=", "NO_COLOR=1", NULL};

static bool has_key(const char *const env[], const char *kv)
{
    size_t klen = strcspn(kv, "=") + 1;
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
        if (strncmp(env[i], kv, klen) == 0)
            return true;
    return false;
}

/* environ minus the keys set by base_env/<env>, plus those. Built before fork(). The
 * strings are borrowed; the caller frees the array. */
static char **make_env(const char *const env[])
{
    extern char **environ;
    size_t n = 0, k = 0;
    while (environ[n] != NULL)
        n++;
    char **out = bg_xcalloc(n + 32, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        if (!has_key(base_env, environ[i]) && !has_key(env, environ[i]))
            out[k++] = environ[i];
    for (size_t i = 0; base_env[i] != NULL; i++)
        if (!has_key(env, base_env[i]))
            out[k++] = (char *)base_env[i];
    for (size_t i = 0; env != NULL && env[i] != NULL && k < n + 31; i++)
        out[k++] = (char *)env[i];
    return out;
}

static int tmp_capture(void)
{
    char path[] = "/tmp/bgt-cli-out-XXXXXX";
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "cli_run: mkostemp: %s\n", strerror(errno));
        abort();
    }
    unlink(path);
    return fd;
}

static char *read_all(int fd)
{
    bg_buf_t b;
    char chunk[4096];
    ssize_t n;

    bg_buf_init(&b);
    bg_buf_append(&b, "", 0); /* an empty capture is "" too */
    /* pread: the file offset is shared with a child that may still be writing. */
    for (off_t at = 0; (n = pread(fd, chunk, sizeof(chunk), at)) > 0; at += n)
        bg_buf_append(&b, chunk, (size_t)n);
    return bg_buf_steal(&b);
}

typedef struct child {
    pid_t pid;
    int status;
} child_t;

static bool exited(void *arg)
{
    child_t *c = arg;
    return bgt_exited(c->pid, &c->status);
}

static void find_bin(char bin[PATH_MAX])
{
    if (realpath(bgt_bin("bluegreen"), bin) == NULL) {
        fprintf(stderr, "cli_run: %s: %s\n", bgt_bin("bluegreen"), strerror(errno));
        abort();
    }
}

/* Reads the pty master until the child closed its side (EIO) or <timeout_ms> passed. */
static char *read_pty(int master, int timeout_ms)
{
    uint64_t deadline = bg_now_ms() + (uint64_t)timeout_ms;
    char chunk[4096];
    bg_buf_t b;

    bg_buf_init(&b);
    bg_buf_append(&b, "", 0);
    for (;;) {
        uint64_t now = bg_now_ms();
        struct pollfd p = {.fd = master, .events = POLLIN};
        if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0)
            break;
        ssize_t n = read(master, chunk, sizeof(chunk));
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (chunk[i] != '\r')
                bg_buf_append(&b, &chunk[i], 1);
    }
    return bg_buf_steal(&b);
}

void cli_run_tty(cli_res_t *r, const char *const env[], int timeout_ms, const char *const args[])
{
    char bin[PATH_MAX];
    const char *argv[64];
    size_t n = 0;
    int master = -1;

    find_bin(bin);
    argv[n++] = bin;
    for (size_t i = 0; args[i] != NULL && n < BG_ARRAY_LEN(argv) - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char **envp = make_env(env);
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    if (pid < 0)
        abort();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execve(bin, (char *const *)argv, envp);
        _exit(127);
    }
    free(envp);
    r->out = read_pty(master, timeout_ms);
    r->err = bg_strdup("");
    close(master);

    child_t c = {pid, 0};
    r->code = -1;
    if (bgt_wait_until(exited, &c, 5000)) {
        if (WIFEXITED(c.status))
            r->code = WEXITSTATUS(c.status);
    } else {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

/* Forks and execs bluegreen with <args>, stdin /dev/null, stdout/stderr to <out>/<err>, in
 * its own process group. */
static pid_t launch(const char *cwd, const char *const env[], const char *const args[], int out,
                    int err)
{
    char bin[PATH_MAX];
    const char *argv[64];
    size_t n = 0;

    find_bin(bin);
    argv[n++] = bin;
    for (size_t i = 0; args[i] != NULL && n < BG_ARRAY_LEN(argv) - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;

    char **envp = make_env(env);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setpgid(0, 0);
        if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(126);
        if (cwd != NULL && chdir(cwd) != 0)
            _exit(126);
        execve(bin, (char *const *)argv, envp);
        _exit(127);
    }
    setpgid(pid, pid);
    free(envp);
    return pid;
}

void cli_run_in(cli_res_t *r, const char *cwd, const char *const env[], int timeout_ms,
                const char *const args[])
{
    int out = tmp_capture(), err = tmp_capture();
    pid_t pid = launch(cwd, env, args, out, err);

    child_t c = {pid, 0};
    r->code = -1;
    if (bgt_wait_until(exited, &c, timeout_ms)) {
        if (WIFEXITED(c.status))
            r->code = WEXITSTATUS(c.status);
    } else {
        bgt_stop(pid, 1000);
    }
    r->out = read_all(out);
    r->err = read_all(err);
    close(out);
    close(err);
}

void cli_start(cli_proc_t *p, const char *const env[], const char *const args[])
{
    p->out = tmp_capture();
    p->err = tmp_capture();
    p->pid = launch(NULL, env, args, p->out, p->err);
}

typedef struct out_has {
    cli_proc_t *p;
    const char *text;
} out_has_t;

static bool out_has(void *arg)
{
    out_has_t *o = arg;
    char *s = read_all(o->p->out);
    bool yes = strstr(s, o->text) != NULL;
    free(s);
    return yes;
}

bool cli_wait_out(cli_proc_t *p, const char *text, int timeout_ms)
{
    out_has_t o = {p, text};
    return bgt_wait_until(out_has, &o, timeout_ms);
}

void cli_finish(cli_proc_t *p, int sig, int timeout_ms, cli_res_t *r)
{
    child_t c = {p->pid, 0};

    if (sig != 0)
        kill(p->pid, sig);
    r->code = -1;
    if (bgt_wait_until(exited, &c, timeout_ms)) {
        if (WIFEXITED(c.status))
            r->code = WEXITSTATUS(c.status);
    } else {
        bgt_stop(p->pid, 1000);
    }
    r->out = read_all(p->out);
    r->err = read_all(p->err);
    close(p->out);
    close(p->err);
}

void cli_res_fini(cli_res_t *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

char *cli_write_file(const char *dir, const char *name, const char *text)
{
    char *path = bg_asprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cli_write_file %s: %s\n", path, strerror(errno));
        abort();
    }
    return path;
}
