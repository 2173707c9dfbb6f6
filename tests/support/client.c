/* Test support: a raw, blocking HTTP/1.1 client. It reads exactly one response off a socket
 * and never past it (the head byte by byte, bodies by their framing), so a test can read
 * pipelined or keep-alive responses one after another on the same fd without a buffer.
 */
#include "support/support.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"

#define HEAD_MAX (64 * 1024)
#define WRITE_TIMEOUT_MS 10000

static int remaining_ms(uint64_t deadline)
{
    uint64_t now = bg_now_ms();
    return now >= deadline ? 0 : (int)(deadline - now);
}

/* Waits for <events> on <fd> until <deadline>: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 ? -1 : r;
    }
}

/* One recv() after waiting for data: >0 bytes, 0 peer closed, -1 error or timeout. */
static ssize_t recv_some(int fd, void *p, size_t len, uint64_t deadline)
{
    if (wait_fd(fd, POLLIN, deadline) <= 0)
        return -1;
    ssize_t n;
    do {
        n = recv(fd, p, len, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == ECONNRESET)
        return 0;
    return n;
}

int bgt_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

bool bgt_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    uint64_t deadline = bg_now_ms() + WRITE_TIMEOUT_MS;
    while (len > 0) {
        if (wait_fd(fd, POLLOUT, deadline) <= 0)
            return false;
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Appends exactly <n> bytes to <dst> (NULL: discard). */
static bool read_exact(int fd, bg_buf_t *dst, size_t n, uint64_t deadline)
{
    char tmp[16384];
    while (n > 0) {
        ssize_t r = recv_some(fd, tmp, n < sizeof(tmp) ? n : sizeof(tmp), deadline);
        if (r <= 0)
            return false;
        if (dst)
            bg_buf_append(dst, tmp, (size_t)r);
        n -= (size_t)r;
    }
    return true;
}

/* Appends one line (through its LF) to <dst>, byte by byte so nothing after it is taken. */
static bool read_line(int fd, bg_buf_t *dst, size_t max, uint64_t deadline)
{
    size_t start = dst->len;
    for (;;) {
        char c;
        if (recv_some(fd, &c, 1, deadline) != 1)
            return false;
        bg_buf_append(dst, &c, 1);
        if (c == '\n')
            return true;
        if (dst->len - start > max)
            return false;
    }
}

static bool read_head(int fd, bg_buf_t *head, uint64_t deadline)
{
    for (;;) {
        size_t before = head->len;
        if (!read_line(fd, head, HEAD_MAX, deadline))
            return false;
        size_t line_len = head->len - before;
        /* An empty line ends the head; a stray CRLF before the status line is skipped. */
        if (line_len <= 2 && (line_len == 1 || head->data[before] == '\r')) {
            if (before > 0)
                return true;
            bg_buf_reset(head);
        }
        if (head->len > HEAD_MAX)
            return false;
    }
}

/* RFC 9112 §7.1: size [; ext] CRLF data CRLF ... 0 CRLF [trailers] CRLF. */
static bool read_chunked(int fd, bg_buf_t *body, uint64_t deadline)
{
    bg_buf_t line;
    bool ok = false;
    bg_buf_init(&line);
    for (;;) {
        bg_buf_reset(&line);
        if (!read_line(fd, &line, 4096, deadline))
            goto out;
        char *end = NULL;
        errno = 0;
        unsigned long long size = strtoull(line.data, &end, 16);
        if (end == line.data || errno != 0)
            goto out;
        if (size == 0)
            break;
        if (!read_exact(fd, body, (size_t)size, deadline) || !read_exact(fd, NULL, 2, deadline))
            goto out;
    }
    do { /* trailers, up to the empty line */
        bg_buf_reset(&line);
        if (!read_line(fd, &line, 4096, deadline))
            goto out;
    } while (!(line.len == 1 || (line.len == 2 && line.data[0] == '\r')));
    ok = true;
out:
    bg_buf_fini(&line);
    return ok;
}

bool bgt_head_header(const char *head, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    const char *p = head ? strchr(head, '\n') : NULL;
    while (p) {
        p++;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1, *e = v;
            while (*v == ' ' || *v == '\t')
                v++;
            e = v + strcspn(v, "\r\n");
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (out && size > 0)
                snprintf(out, size, "%.*s", (int)(e - v), v);
            return true;
        }
        p = strchr(p, '\n');
    }
    return false;
}

bool bgt_head_has_token(const char *head, const char *name, const char *token)
{
    char v[1024];
    if (!bgt_head_header(head, name, v, sizeof(v)))
        return false;
    size_t tlen = strlen(token);
    for (char *p = v; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m == tlen && strncasecmp(p, token, tlen) == 0)
            return true;
        p += n;
    }
    return false;
}

bool bgt_resp_header(const bgt_resp_t *r, const char *name, char *out, size_t size)
{
    return bgt_head_header(r->head, name, out, size);
}

void bgt_resp_fini(bgt_resp_t *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static bool read_body(int fd, bgt_resp_t *out, bg_buf_t *body, uint64_t deadline)
{
    char v[64];
    if (out->status < 200 || out->status == 204 || out->status == 304)
        return true;
    if (bgt_head_has_token(out->head, "Transfer-Encoding", "chunked"))
        return read_chunked(fd, body, deadline);
    if (bgt_head_header(out->head, "Content-Length", v, sizeof(v))) {
        uint64_t n;
        if (!bg_str_to_u64(bg_str(v), SIZE_MAX / 2, &n))
            return false;
        return read_exact(fd, body, (size_t)n, deadline);
    }
    /* No framing: the body runs until the peer closes (RFC 9112 §6.3 rule 8). */
    char tmp[16384];
    for (;;) {
        ssize_t r = recv_some(fd, tmp, sizeof(tmp), deadline);
        if (r < 0)
            return false;
        if (r == 0)
            break;
        bg_buf_append(body, tmp, (size_t)r);
    }
    out->closed = true;
    return true;
}

bool bgt_read_response(int fd, bgt_resp_t *out, int timeout_ms)
{
    uint64_t deadline = bg_now_ms() + (uint64_t)timeout_ms;
    bg_buf_t head, body;
    bool ok = false;
    memset(out, 0, sizeof(*out));
    bg_buf_init(&head);
    bg_buf_init(&body);
    if (!read_head(fd, &head, deadline))
        goto out;
    int minor = 0, status = 0;
    if (sscanf(head.data, "HTTP/1.%d %3d", &minor, &status) != 2)
        goto out;
    out->status = status;
    out->head = bg_buf_steal(&head);
    if (!read_body(fd, out, &body, deadline))
        goto out;
    out->body_len = body.len;
    out->body = bg_buf_steal(&body);
    if (bgt_head_has_token(out->head, "Connection", "close") ||
        (minor == 0 && !bgt_head_has_token(out->head, "Connection", "keep-alive")))
        out->closed = true;
    ok = true;
out:
    bg_buf_fini(&head);
    bg_buf_fini(&body);
    if (!ok)
        bgt_resp_fini(out);
    return ok;
}

bool bgt_wait_closed(int fd, int timeout_ms)
{
    uint64_t deadline = bg_now_ms() + (uint64_t)timeout_ms;
    char tmp[4096];
    for (;;) {
        ssize_t r = recv_some(fd, tmp, sizeof(tmp), deadline);
        if (r == 0)
            return true;
        if (r < 0)
            return false;
    }
}

bool bgt_http_raw(int port, const char *raw, size_t len, bgt_resp_t *out, int timeout_ms)
{
    bool ok = false;
    memset(out, 0, sizeof(*out));
    int fd = bgt_connect(port);
    if (fd < 0)
        return false;
    if (bgt_write_all(fd, raw, len))
        ok = bgt_read_response(fd, out, timeout_ms);
    close(fd);
    return ok;
}

bool bgt_http_get(int port, const char *host, const char *path, bgt_resp_t *out, int timeout_ms)
{
    char *req = bg_asprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bgtest\r\n"
                            "Connection: close\r\n\r\n",
                            path, host ? host : "localhost");
    bool ok = bgt_http_raw(port, req, strlen(req), out, timeout_ms);
    free(req);
    return ok;
}
