/* Who is on the other end of an admin request, for the audit trail (docs/design.md §3 "who started
 * it and from where"): the Unix socket peer's credentials (SO_PEERCRED) or the TCP peer's
 * address. */
#include "admin/admin.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>

#include "admin/internal.h"
#include "base/compat.h"

static void tcp_peer(admin_conn_t *c, char *out, size_t size)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char host[64] = "?";
    int port = 0;

    if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            uv_ip4_name(in, host, sizeof(host));
            port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(in6, host, sizeof(host));
            port = ntohs(in6->sin6_port);
        }
    }
    snprintf(out, size, "tcp:%s:%d", host, port);
}

static void unix_peer(admin_conn_t *c, char *out, size_t size)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    uv_os_fd_t fd;

    if (uv_fileno(&c->h.handle, &fd) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
        snprintf(out, size, "unix:uid=%u pid=%d", (unsigned)cred.uid, (int)cred.pid);
    else
        snprintf(out, size, "unix");
}

void bg_admin_req_peer(const bg_admin_req_t *req, char *out, size_t size)
{
    admin_conn_t *c = req->conn;

    if (size == 0)
        return;
    out[0] = '\0';
    if (c == NULL)
        return;
    if (c->admin->path != NULL)
        unix_peer(c, out, size);
    else
        tcp_peer(c, out, size);
}
