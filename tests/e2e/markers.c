/* Marked processes (markers.h). */
#include "e2e/markers.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "support/support.h"

static bool marked(long pid, const char *want)
{
    static char env[256 * 1024];
    char path[64];
    ssize_t n, len = 0;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    while ((size_t)len + 1 < sizeof(env) && (n = read(fd, env + len, sizeof(env) - 1 - (size_t)len)) > 0)
        len += n;
    close(fd);
    env[len] = '\0';
    for (const char *p = env; p < env + len; p += strlen(p) + 1)
        if (strncmp(p, "BLUEGREEN_STATE_DIR=", 20) == 0 && strcmp(p + 20, want) == 0)
            return true;
    return false;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

int mk_pids(const char *state_dir, pid_t *pids, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int n = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL && n < max) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end != '\0' || pid <= 1)
            continue;
        if (marked(pid, state_dir) && dfx_alive((pid_t)pid))
            pids[n++] = (pid_t)pid;
    }
    closedir(d);
    qsort(pids, (size_t)n, sizeof(*pids), cmp_pid);
    return n;
}

static int listed(dfx_t *f, pid_t *pids, int max)
{
    char h[1024];
    int n;

    dfx_handles(f, "blue", h, sizeof(h));
    n = dfx_pids(h, pids, max);
    dfx_handles(f, "green", h, sizeof(h));
    n += dfx_pids(h, pids + n, max - n);
    qsort(pids, (size_t)n, sizeof(*pids), cmp_pid);
    return n;
}

static void join(char *out, size_t size, const pid_t *v, int n)
{
    size_t len = 0;

    out[0] = '\0';
    for (int i = 0; i < n && len + 12 < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s%d", i ? " " : "", (int)v[i]);
}

bool mk_wait_no_orphans(dfx_t *f, int timeout_ms, char *why, size_t why_size)
{
    char *state = bg_asprintf("%s/state", f->dir);
    uint64_t end = bg_now_ms() + (uint64_t)timeout_ms;
    pid_t a[64], b[64];
    int na = 0, nb = 0;
    bool same = false;

    while (!same) {
        na = mk_pids(state, a, 64);
        nb = listed(f, b, 64);
        same = na == nb && memcmp(a, b, (size_t)na * sizeof(*a)) == 0;
        if (same || bg_now_ms() >= end)
            break;
        usleep(20000);
    }
    if (!same) {
        char x[256], y[256];
        join(x, sizeof(x), a, na);
        join(y, sizeof(y), b, nb);
        snprintf(why, why_size, "marked processes [%s] but targets [%s]", x, y);
    }
    free(state);
    return same;
}

void mk_kill_all(const char *state_dir)
{
    pid_t p[64];
    int n = mk_pids(state_dir, p, 64);

    for (int i = 0; i < n; i++)
        kill(-p[i], SIGKILL);
}
