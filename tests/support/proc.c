/* Test support: build paths, temporary directories, ephemeral ports, child processes and
 * wait-until helpers. Children run in their own process group so bgt_stop() can end
 * everything they started; a failed exec aborts the calling test instead of leaving a
 * silent zombie behind.
 */
#include "support/support.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "support/internal.h"

#define BIN_SLOTS 8

const char *bgt_build_dir(void)
{
    const char *d = getenv("BG_BUILD_DIR");
    return d && *d ? d : "build";
}

const char *bgt_bin(const char *name)
{
    /* A small ring so that several bgt_bin() results can sit in one argv array. */
    static _Thread_local char bufs[BIN_SLOTS][PATH_MAX];
    static _Thread_local unsigned next;
    char *out = bufs[next++ % BIN_SLOTS];
    snprintf(out, PATH_MAX, "%s/%s", bgt_build_dir(), name);
    return out;
}

char *bgt_tmpdir(const char *tag)
{
    char *path = bg_asprintf("/tmp/bgt-%s-XXXXXX", tag ? tag : "test");
    if (mkdtemp(path) == NULL) {
        fprintf(stderr, "bgt_tmpdir: mkdtemp %s: %s\n", path, strerror(errno));
        abort();
    }
    return path;
}

int bgt_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int port = -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto out;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        goto out;
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        goto out;
    port = ntohs(sa.sin_port);
out:
    if (fd >= 0)
        close(fd);
    if (port < 0) {
        fprintf(stderr, "bgt_free_port: %s\n", strerror(errno));
        abort();
    }
    return port;
}

/* environ with each "K=V" of <env> replacing or adding K. Built before fork(): the child
 * of a threaded process may only call async-signal-safe functions. Caller frees the array
 * (the strings are borrowed). */
static char **merge_env(const char *const env[])
{
    extern char **environ;
    size_t n = 0, m = 0, k = 0;
    while (environ[n])
        n++;
    while (env && env[m])
        m++;
    char **out = bg_xcalloc(n + m + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t klen = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
        bool replaced = false;
        for (size_t j = 0; j < m && !replaced; j++)
            replaced = strncmp(env[j], environ[i], klen) == 0;
        if (!replaced)
            out[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        if (strchr(env[j], '='))
            out[k++] = (char *)env[j];
    return out;
}

/* Runs in the forked child: never returns. Reports exec failure as an errno on <errfd>. */
static void child_exec(const char *const argv[], char **envp, const char *log_path, int errfd)
{
    int err = 0;
    setpgid(0, 0);
    /* If the test process dies, do not leave the child running forever. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    int in = open("/dev/null", O_RDONLY);
    if (in >= 0 && in != 0) {
        dup2(in, 0);
        close(in);
    }
    if (log_path) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0)
            goto fail;
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    /* Keep only stdio and the error pipe: test runners hold pipes a child must not pin. */
    if (errfd > 3)
        close_range(3, (unsigned)errfd - 1, 0);
    close_range((unsigned)errfd + 1, ~0U, 0);
    execvpe(argv[0], (char *const *)argv, envp);
fail:
    err = errno;
    if (write(errfd, &err, sizeof(err)) < 0)
        _exit(126);
    _exit(127);
}

pid_t bgt_spawn(const char *const argv[], const char *const env[], const char *log_path)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        fprintf(stderr, "bgt_spawn: pipe: %s\n", strerror(errno));
        abort();
    }
    char **envp = merge_env(env);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bgt_spawn: fork: %s\n", strerror(errno));
        abort();
    }
    if (pid == 0) {
        close(pfd[0]);
        child_exec(argv, envp, log_path, pfd[1]);
    }
    free(envp);
    setpgid(pid, pid); /* also in the parent: no race with an early bgt_stop() */
    close(pfd[1]);
    int err = 0;
    ssize_t n;
    do {
        n = read(pfd[0], &err, sizeof(err));
    } while (n < 0 && errno == EINTR);
    close(pfd[0]);
    if (n > 0) {
        waitpid(pid, NULL, 0);
        fprintf(stderr, "bgt_spawn: cannot run %s: %s\n", argv[0], strerror(err));
        abort();
    }
    return pid;
}

void bgt_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

bool bgt_exited(pid_t pid, int *status)
{
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
        if (status)
            *status = st;
        return true;
    }
    if (r < 0 && errno == ECHILD) {
        if (status)
            *status = -1;
        return true;
    }
    return false;
}

int bgt_stop(pid_t pid, int timeout_ms)
{
    int st = 0;
    if (pid <= 0)
        return -1;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r < 0)
        return -1; /* already reaped: its pgid may belong to someone else now */
    if (r == 0) {
        kill(-pid, SIGTERM);
        uint64_t deadline = bg_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
        while ((r = waitpid(pid, &st, WNOHANG)) == 0 && bg_now_ms() < deadline)
            bgt_sleep_ms(5);
        if (r == 0) {
            kill(-pid, SIGKILL);
            while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
                ;
        }
    }
    /* Anything the child left in its group goes with it. */
    kill(-pid, SIGKILL);
    return r == pid ? st : -1;
}

bool bgt_wait_port(int port, int timeout_ms)
{
    uint64_t deadline = bg_now_ms() + (uint64_t)timeout_ms;
    do {
        int fd = bgt_connect(port);
        if (fd >= 0) {
            close(fd);
            return true;
        }
        bgt_sleep_ms(10);
    } while (bg_now_ms() < deadline);
    return false;
}

bool bgt_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    uint64_t deadline = bg_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (cond(arg))
            return true;
        if (bg_now_ms() >= deadline)
            return false;
        bgt_sleep_ms(5);
    }
}
