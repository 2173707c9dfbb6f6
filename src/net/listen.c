/* Listening sockets: one per worker on the same address (SO_REUSEPORT), so the kernel
 * balances accepted connections across workers without a shared accept lock. */
#include "net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <uv.h>

#include "base/base.h"
#include "base/compat.h"

int bg_net_listen(const struct sockaddr *addr, socklen_t addr_len, int backlog,
                  const char *name, bg_err_t *err)
{
    int fd = -1, one = 1, rc;

    fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        bg_err_set(err, rc, "listen %s: socket: %s", name, bg_strerror(rc));
        goto fail;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        rc = -errno;
        bg_err_set(err, rc, "listen %s: setsockopt: %s", name, bg_strerror(rc));
        goto fail;
    }
    if (addr->sa_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, addr, addr_len) != 0) {
        rc = -errno;
        bg_err_set(err, rc, "listen %s: bind: %s", name, bg_strerror(rc));
        goto fail;
    }
    if (listen(fd, backlog) != 0) {
        rc = -errno;
        bg_err_set(err, rc, "listen %s: listen: %s", name, bg_strerror(rc));
        goto fail;
    }
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    return rc;
}

int bg_net_check_free(const struct sockaddr *addr, socklen_t addr_len, const char *name,
                      bg_err_t *err)
{
    int fd, one = 1, rc = 0;

    fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        return bg_err_set(err, rc, "listen %s: socket: %s", name, bg_strerror(rc));
    }
    /* SO_REUSEADDR only, so TIME_WAIT leftovers do not count as "in use", but a listener
     * (even one with SO_REUSEPORT) does. */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (addr->sa_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, addr, addr_len) != 0) {
        rc = -errno;
        bg_err_set(err, rc, "listen %s: %s%s", name, bg_strerror(rc),
                   rc == UV_EADDRINUSE ? " (another process listens there)" : "");
    }
    close(fd);
    return rc;
}
