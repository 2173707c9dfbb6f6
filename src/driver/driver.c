/* Code shared by the drivers: the factory by kind (the one place that maps a kind to its
 * implementation), enum names, directories, log tails. */
#include "driver/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "driver/internal.h"
#include "base/compat.h"

const char *bg_instance_state_str(bg_instance_state_t s)
{
    switch (s) {
    case BG_INSTANCE_RUNNING: return "running";
    case BG_INSTANCE_RESTARTING: return "restarting";
    case BG_INSTANCE_STOPPING: return "stopping";
    case BG_INSTANCE_STOPPED: return "stopped";
    case BG_INSTANCE_STARTING: return "starting";
    }
    return "?";
}

bg_driver_t *bg_driver_new(bg_driver_kind_t kind, uv_loop_t *loop, const char *state_dir,
                           const bg_config_t *cfg, const bg_driver_events_t *events,
                           bg_err_t *err)
{
    switch (kind) {
    case BG_DRIVER_PROCESS: return bg_process_driver_new(loop, state_dir, events, err);
    case BG_DRIVER_STATIC: return bg_static_driver_new(loop, err);
    case BG_DRIVER_DOCKER: return bg_docker_driver_new(loop, state_dir, events, err);
    case BG_DRIVER_ECS: return bg_ecs_driver_new(loop, cfg, events, err);
    }
    bg_err_set(err, BG_EINVAL, "driver %s is not in this build", bg_driver_kind_str(kind));
    return NULL;
}

int bg_driver_mkdirs(const char *path, bg_err_t *err)
{
    char *p = bg_strdup(path);
    int rc = 0;

    for (char *s = p + 1; rc == 0; s++) {
        bool end = *s == '\0';
        if (*s != '/' && !end)
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            rc = bg_err_set(err, -errno, "creating directory %s: %s", p, strerror(errno));
        if (end)
            break;
        *s = '/';
    }
    free(p);
    return rc;
}

int bg_driver_tail_file(const char *path, size_t max_bytes, bg_buf_t *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    off_t from;
    char chunk[8192];
    ssize_t n;

    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    from = st.st_size > (off_t)max_bytes ? st.st_size - (off_t)max_bytes : 0;
    while ((n = pread(fd, chunk, sizeof(chunk), from)) > 0) {
        bg_buf_append(out, chunk, (size_t)n);
        from += n;
        if (out->len >= max_bytes)
            break;
    }
    close(fd);
    return 0;
}

int bg_driver_pick_port(uint16_t *port, bg_err_t *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = 0;

    if (fd < 0)
        return bg_err_set(err, -errno, "socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        rc = bg_err_set(err, -errno, "picking a port on 127.0.0.1: %s", strerror(errno));
    else
        *port = ntohs(sa.sin_port);
    close(fd);
    return rc;
}
