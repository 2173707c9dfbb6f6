/* Finding the process driver's instances from their markers (issue 9: no orphan after a
 * crash, no instance of a removed service left running, no first boot over live
 * instances). Every instance is started with BLUEGREEN_STATE_DIR=<the state_dir, absolute>
 * and BLUEGREEN_STORE_ID=<the state store's id> in its environment; this file walks /proc
 * for process-group leaders carrying this state_dir's marker, whoever started them and
 * whatever the store says. Reading /proc/PID/environ needs the same uid (or root), which
 * is how the daemon runs its instances. Runs at boot only (a /proc walk is milliseconds).
 */
#include "driver/driver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "driver/internal.h"
#include "base/compat.h"

#define ENVIRON_MAX (256 * 1024)

/* Reads /proc/<pid>/environ into <buf> (NUL-separated, NUL-terminated); its length or -1. */
static ssize_t read_environ(long pid, char *buf, size_t size)
{
    char path[64];
    ssize_t n, len = 0;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while ((size_t)len + 1 < size && (n = read(fd, buf + len, size - 1 - (size_t)len)) > 0)
        len += n;
    close(fd);
    buf[len] = '\0';
    return len;
}

/* Value of <key> in an environ block, or NULL. */
static const char *env_get(const char *env, size_t len, const char *key)
{
    size_t kl = strlen(key);

    for (const char *p = env; p < env + len; p += strlen(p) + 1)
        if (strncmp(p, key, kl) == 0 && p[kl] == '=')
            return p + kl + 1;
    return NULL;
}

/* Fields 5 (pgrp) and 22 (start time) of /proc/<pid>/stat; false if gone or a zombie. */
static bool read_stat(long pid, long *pgrp, unsigned long long *start)
{
    char path[64], buf[1024], state;
    FILE *f;
    char *rp;
    bool ok = false;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "re");
    if (f == NULL)
        return false;
    if (fgets(buf, sizeof(buf), f) != NULL && (rp = strrchr(buf, ')')) != NULL)
        ok = sscanf(rp + 2, "%c %*s %ld %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
                            "%*s %*s %llu",
                    &state, pgrp, start) == 3 &&
             state != 'Z' && state != 'X';
    fclose(f);
    return ok;
}

int bg_driver_proc_scan(bg_driver_t *d, const char *state_dir, bg_driver_found_cb cb, void *arg)
{
    DIR *dir = opendir("/proc");
    char *env = bg_xmalloc(ENVIRON_MAX);
    struct dirent *de;
    int rc = 0;

    if (dir == NULL) {
        free(env);
        return -errno;
    }
    while (rc == 0 && (de = readdir(dir)) != NULL) {
        bg_driver_found_t f;
        const char *v;
        long pgrp = 0;
        unsigned long long start = 0;
        ssize_t len;
        char *end;
        long pid = strtol(de->d_name, &end, 10);

        if (*end != '\0' || pid <= 1 || pid == (long)getpid())
            continue;
        if ((len = read_environ(pid, env, ENVIRON_MAX)) <= 0)
            continue;
        v = env_get(env, (size_t)len, "BLUEGREEN_STATE_DIR");
        if (v == NULL || strcmp(v, state_dir) != 0)
            continue;
        /* The instance is its group's leader (its own session); its children share the
         * marker and go with the group. */
        if (!read_stat(pid, &pgrp, &start) || pgrp != pid)
            continue;
        memset(&f, 0, sizeof(f));
        f.driver = d;
        f.pid = (int)pid;
        snprintf(f.handle, sizeof(f.handle), "pid:%ld:%llu", pid, start);
        if ((v = env_get(env, (size_t)len, "PORT")) != NULL)
            snprintf(f.address, sizeof(f.address), "127.0.0.1:%s", v);
        if ((v = env_get(env, (size_t)len, "BLUEGREEN_SERVICE")) != NULL)
            snprintf(f.service, sizeof(f.service), "%s", v);
        v = env_get(env, (size_t)len, "BLUEGREEN_SLOT");
        f.slot = v != NULL && strcmp(v, "green") == 0 ? 1 : 0;
        if ((v = env_get(env, (size_t)len, "BLUEGREEN_STORE_ID")) != NULL)
            snprintf(f.store_id, sizeof(f.store_id), "%s", v);
        rc = cb(arg, &f);
    }
    closedir(dir);
    free(env);
    return rc;
}
