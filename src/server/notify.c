/* systemd's service notification protocol (sd_notify(3)), without libsystemd: when the
 * service manager sets $NOTIFY_SOCKET, `serve` sends "READY=1" once its listeners and admin
 * endpoint are bound, "STOPPING=1" when it begins to stop and "RELOADING=1" around a reload,
 * each as one datagram on that AF_UNIX socket ("@name" = abstract namespace). The variable is
 * removed from the environment when read, so the targets `serve` starts never inherit it
 * (they would otherwise be able to speak for the daemon). Outside systemd nothing is sent.
 */
#include "server/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/base.h"

void srv_notify_init(bg_server_t *s)
{
    const char *path = getenv("NOTIFY_SOCKET");
    size_t len;

    s->notify_len = 0;
    if (path == NULL || path[0] == '\0')
        return;
    len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(s->notify_path)) {
        bg_log(BG_LOG_WARN, "server", "msg=\"NOTIFY_SOCKET ignored: not a unix socket path\"");
        unsetenv("NOTIFY_SOCKET");
        return;
    }
    memcpy(s->notify_path, path, len);
    if (path[0] == '@')
        s->notify_path[0] = '\0'; /* abstract namespace: leading NUL, no terminator */
    s->notify_len = len;
    unsetenv("NOTIFY_SOCKET");
}

int srv_notify(bg_server_t *s, const char *state)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    socklen_t salen;
    ssize_t n;
    int fd = -1, rc = 0;

    if (s->notify_len == 0)
        return 0;
    memcpy(sa.sun_path, s->notify_path, s->notify_len);
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + s->notify_len);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    /* A datagram to a local socket is delivered whole or not at all, never blocks long. */
    n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    if (n < 0)
        rc = -errno;
out:
    if (rc != 0)
        bg_log(BG_LOG_WARN, "server", "msg=\"service manager notification failed\" state=\"%s\" "
               "error=\"%s\"", state, strerror(-rc));
    else
        bg_log(BG_LOG_DEBUG, "server", "msg=\"notified service manager\" state=\"%s\"", state);
    if (fd >= 0)
        close(fd);
    return rc;
}
