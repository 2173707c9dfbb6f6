/* See client.h. */
#include "client.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/base.h"

#define IO_TIMEOUT_MS 5000

void cresp_fini(cresp_t *r)
{
    free(r->body);
    r->body = NULL;
}

/* connect(2) interrupted by a signal goes on in the background; wait for it to finish. */
static int connect_retrying(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t elen = sizeof(err);

    if (connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINTR)
        return -1;
    while (poll(&p, 1, IO_TIMEOUT_MS) < 0 && errno == EINTR)
        ;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0)
        return -1;
    return 0;
}

int cl_connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect_retrying(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int cl_connect_tcp(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (connect_retrying(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A read that waits up to IO_TIMEOUT_MS. Signals do not end it: the tests that run a server
 * in-process get SIGCHLD whenever one of its instances exits, and poll() is never restarted. */
static ssize_t read_some(int fd, char *buf, size_t size)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    uint64_t deadline = bg_now_ms() + IO_TIMEOUT_MS;
    ssize_t n;
    int r;

    for (;;) {
        uint64_t now = bg_now_ms();
        if (now >= deadline)
            return -1;
        r = poll(&p, 1, (int)(deadline - now));
        if (r > 0)
            break;
        if (r == 0 || errno != EINTR)
            return -1;
    }
    while ((n = read(fd, buf, size)) < 0 && errno == EINTR)
        ;
    return n;
}

bool cresp_header(const cresp_t *r, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    const char *p = strstr(r->head, "\r\n");

    while (p != NULL && p[2] != '\r' && p[2] != '\0') {
        const char *line = p + 2;
        const char *end = strstr(line, "\r\n");
        if (end == NULL)
            break;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, size, "%.*s", (int)(end - v), v);
            return true;
        }
        p = end;
    }
    return false;
}

/* Bytes already read past the previous response on this connection (pipelining). */
static _Thread_local char pending[65536];
static _Thread_local size_t n_pending;
static _Thread_local int pending_fd = -1;

bool cl_read(int fd, cresp_t *out)
{
    char buf[65536 + 8192];
    size_t len = 0;
    char *end;
    char cl[32];
    size_t body_len, head_len;

    memset(out, 0, sizeof(*out));
    if (pending_fd == fd && n_pending > 0) {
        memcpy(buf, pending, n_pending);
        len = n_pending;
    }
    n_pending = 0;
    for (;;) {
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end != NULL)
            break;
        ssize_t n = read_some(fd, buf + len, sizeof(buf) - len - 1);
        if (n <= 0)
            return false;
        len += (size_t)n;
    }
    head_len = (size_t)(end - buf) + 4;
    snprintf(out->head, sizeof(out->head), "%.*s", (int)head_len, buf);
    if (sscanf(buf, "HTTP/1.1 %d", &out->status) != 1)
        return false;
    body_len = cresp_header(out, "Content-Length", cl, sizeof(cl)) ? strtoul(cl, NULL, 10) : 0;
    while (len < head_len + body_len) {
        ssize_t n = read_some(fd, buf + len, sizeof(buf) - len - 1);
        if (n <= 0)
            return false;
        len += (size_t)n;
    }
    out->body = bg_strndup(buf + head_len, body_len);
    out->body_len = body_len;
    n_pending = len - head_len - body_len;
    memcpy(pending, buf + head_len + body_len, n_pending);
    pending_fd = fd;
    return true;
}

bool cl_exchange(int fd, const char *raw, size_t len, cresp_t *out)
{
    size_t off = 0;

    while (raw != NULL && off < len) {
        ssize_t n = write(fd, raw + off, len - off);
        if (n <= 0)
            break; /* the server may answer (413) and close before reading everything */
        off += (size_t)n;
    }
    return cl_read(fd, out);
}

bool cl_closed(int fd)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read_some(fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n < 0)
            return false;
    }
}

bool cl_call(const char *path, int port, const char *method, const char *target, const char *body,
             const char *extra_headers, cresp_t *out)
{
    int fd = path != NULL ? cl_connect_unix(path) : cl_connect_tcp(port);
    char *raw;
    bool ok;

    if (fd < 0)
        return false;
    raw = bg_asprintf("%s %s HTTP/1.1\r\nHost: localhost\r\n%sContent-Length: %zu\r\n\r\n%s",
                      method, target, extra_headers ? extra_headers : "", body ? strlen(body) : 0,
                      body ? body : "");
    ok = cl_exchange(fd, raw, strlen(raw), out);
    free(raw);
    close(fd);
    return ok;
}

bool fx_wait_count(_Atomic unsigned *counter, unsigned want)
{
    for (int i = 0; i < 5000; i++) {
        if (*counter >= want)
            return true;
        usleep(1000);
    }
    return *counter >= want;
}
