/* Passing listening sockets between two bluegreen processes (zero-downtime restart and
 * upgrade, as HAProxy's `-x` and Envoy's hot restart): descriptors travel as SCM_RIGHTS
 * ancillary data over a connected Unix socket (unix(7), cmsg(3)). The kernel keeps a
 * socket alive while any process holds a descriptor to it, so connections waiting in a
 * listener's accept queue survive the old process closing its copy. Control thread only;
 * these calls block for at most their timeout.
 */
#include "net/net.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "base/base.h"
#include "base/clock.h"
#include "base/compat.h"

/* Waits until <fd> is ready for <events> or the deadline passed (BG_ETIMEDOUT). */
static int wait_ready(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = bg_now_ms();
        struct pollfd pfd = {.fd = fd, .events = events};
        int n;

        if (now >= deadline_ms)
            return BG_ETIMEDOUT;
        n = poll(&pfd, 1, (int)(deadline_ms - now));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

int bg_net_send_fds(int sock, const void *data, size_t len, const int *fds, size_t n_fds,
                    uint32_t timeout_ms)
{
    uint64_t deadline = bg_now_ms() + timeout_ms;
    union {
        char buf[CMSG_SPACE(sizeof(int) * BG_NET_MAX_FDS)];
        struct cmsghdr align;
    } u;
    const char *p = data;
    bool fds_sent = n_fds == 0;

    if (n_fds > BG_NET_MAX_FDS || len == 0)
        return BG_EINVAL;
    while (len > 0) {
        struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n;
        int rc;

        if (!fds_sent) {
            struct cmsghdr *cm;
            memset(&u, 0, sizeof(u));
            msg.msg_control = u.buf;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
            cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
            memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
        }
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (n > 0) {
            /* The descriptors ride on the first byte that was sent. */
            fds_sent = true;
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        if ((rc = wait_ready(sock, POLLOUT, deadline)) != 0)
            return rc;
    }
    return 0;
}

/* Keeps the descriptors of one control message, closing those beyond <max_fds>. */
static void take_fds(struct msghdr *msg, int *fds, size_t max_fds, size_t *n_fds)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
        size_t n;
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (*n_fds < max_fds)
                fds[(*n_fds)++] = fd;
            else
                close(fd);
        }
    }
}

ssize_t bg_net_recv_fds(int sock, void *buf, size_t size, int *fds, size_t max_fds, size_t *n_fds,
                        uint32_t timeout_ms)
{
    uint64_t deadline = bg_now_ms() + timeout_ms;
    union {
        char buf[CMSG_SPACE(sizeof(int) * BG_NET_MAX_FDS)];
        struct cmsghdr align;
    } u;

    for (;;) {
        struct iovec iov = {.iov_base = buf, .iov_len = size};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = u.buf,
                             .msg_controllen = sizeof(u.buf)};
        ssize_t n;
        int rc;

        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n >= 0) {
            take_fds(&msg, fds, max_fds, n_fds);
            if (msg.msg_flags & MSG_CTRUNC)
                return UV_E2BIG;
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        if ((rc = wait_ready(sock, POLLIN, deadline)) != 0)
            return rc;
    }
}

int bg_net_unix_connect(const char *path, bg_err_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, rc;

    if (strlen(path) >= sizeof(sa.sun_path))
        return bg_err_set(err, BG_EINVAL, "unix socket path too long: %s", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        return bg_err_set(err, rc, "socket: %s", bg_strerror(rc));
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        rc = -errno;
        close(fd);
        return bg_err_set(err, rc, "connect %s: %s", path, bg_strerror(rc));
    }
    return fd;
}

/* The port of <sa> (network order), or 0. */
static in_port_t port_of(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_port;
    if (sa->sa_family == AF_INET6)
        return ((const struct sockaddr_in6 *)sa)->sin6_port;
    return 0;
}

bool bg_net_listener_matches(int fd, const struct sockaddr *want)
{
    struct sockaddr_storage have;
    socklen_t len = sizeof(have);
    int type = 0, listening = 0;
    socklen_t olen = sizeof(type);

    memset(&have, 0, sizeof(have)); /* the analyzer does not model what getsockname() writes */
    if (getsockname(fd, (struct sockaddr *)&have, &len) != 0 || have.ss_family != want->sa_family)
        return false;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) != 0 || type != SOCK_STREAM)
        return false;
    olen = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) != 0 || !listening)
        return false;
    if (port_of(want) != 0 && port_of(want) != port_of((struct sockaddr *)&have))
        return false;
    if (want->sa_family == AF_INET)
        return ((const struct sockaddr_in *)want)->sin_addr.s_addr ==
               ((struct sockaddr_in *)&have)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)want)->sin6_addr,
                  &((struct sockaddr_in6 *)&have)->sin6_addr, sizeof(struct in6_addr)) == 0;
}
