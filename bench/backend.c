/* bench-backend: a tiny, fast HTTP/1.1 keep-alive backend for the benchmarks in bench/.
 * Every proxy under test (bluegreen, nginx, HAProxy) and the direct-to-backend runs talk
 * to the same instances of this program, so the backend's cost is identical for all of
 * them and small next to theirs. It answers every request with 200 and a fixed JSON body
 * shaped like build/sample-app's ({"service","version","slot"}), and /actuator/health with
 * {"status":"UP"}. Single thread, epoll, level-triggered; bodies are skipped by
 * Content-Length (chunked request bodies are not supported: the benchmarks send GETs).
 *
 * Usage: bench-backend --port N [--slot blue|green] [--service NAME] [--version V]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BENCH_PROG "bench-backend"
#include "helpers.h"

enum { IN_CAP = 8192, MAX_EVENTS = 256 };

typedef struct conn {
    int fd;
    size_t in_len;
    size_t skip_body;   /* request body bytes still to discard */
    const char *out;    /* pending response bytes (points into a static response) */
    size_t out_len;
    bool close_after;   /* Connection: close or HTTP/1.0 */
    char in[IN_CAP];
} conn_t;

static char resp_main[512], resp_health[256];
static size_t resp_main_len, resp_health_len;
/* --stale 1: every response is `200 OK, Content-Length: 2, ok` on a keep-alive
 * connection that is then closed without notice (a server with a request limit or a short
 * idle timeout: the stale pooled connection race of issue 9). */
static bool stale;

static void build_responses(const char *service, const char *version, const char *slot)
{
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "{\"service\":\"%s\",\"version\":\"%s\",\"slot\":\"%s\",\"backend\":"
                     "\"bench\"}\n",
                     service, version, slot);
    resp_main_len = (size_t)snprintf(resp_main, sizeof(resp_main),
                                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     "Content-Length: %d\r\n\r\n%s",
                                     n, body);
    const char *hb = "{\"status\":\"UP\"}\n";
    resp_health_len = (size_t)snprintf(resp_health, sizeof(resp_health),
                                       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                       "Content-Length: %zu\r\n\r\n%s",
                                       strlen(hb), hb);
}

/* Consumes complete requests from c->in; queues one response per request. Returns false
 * if the connection must be closed now (malformed or oversized head). */
static bool parse_requests(conn_t *c)
{
    size_t off = 0;
    while (c->out_len == 0 && !c->close_after) {
        if (c->skip_body) {
            size_t take = c->in_len - off < c->skip_body ? c->in_len - off : c->skip_body;
            off += take;
            c->skip_body -= take;
            if (c->skip_body)
                break;
        }
        const char *start = c->in + off;
        size_t avail = c->in_len - off;
        const char *hend = memmem(start, avail, "\r\n\r\n", 4);
        if (!hend) {
            if (avail >= IN_CAP)
                return false;
            break;
        }
        const char *end = hend + 4;
        const char *eol = memchr(start, '\r', (size_t)(hend - start) + 1);
        bool health = memmem(start, (size_t)(eol - start), " /actuator/health", 17) != NULL;
        const char *cl = find_header(start, hend + 2, "Content-Length");
        if (cl)
            c->skip_body = (size_t)strtoul(cl, NULL, 10);
        const char *conn = find_header(start, hend + 2, "Connection");
        if ((conn && strncasecmp(conn, "close", 5) == 0) ||
            (eol - start >= 8 && memcmp(eol - 8, "HTTP/1.0", 8) == 0))
            c->close_after = true;
        if (stale)
            c->close_after = true;
        c->out = health ? resp_health : resp_main;
        c->out_len = health ? resp_health_len : resp_main_len;
        off = (size_t)(end - c->in);
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return true;
}

static void conn_close(int ep, conn_t *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Writes pending output; returns false on error. Leaves EPOLLOUT armed while blocked. */
static bool flush_out(int ep, conn_t *c)
{
    while (c->out_len) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            return true;
        }
        if (n <= 0)
            return false;
        c->out += n;
        c->out_len -= (size_t)n;
    }
    return true;
}

/* Level-triggered: one recv per readiness event (a second would only return EAGAIN). */
static void on_readable(int ep, conn_t *c)
{
    if (c->in_len == IN_CAP) {
        conn_close(ep, c);
        return;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(ep, c);
        return;
    }
    c->in_len += (size_t)n;
    /* Pipelined requests: queue one response, flush it, then parse the next. */
    for (;;) {
        if (!parse_requests(c)) {
            conn_close(ep, c);
            return;
        }
        if (c->out_len == 0)
            return; /* need more input */
        if (!flush_out(ep, c)) {
            conn_close(ep, c);
            return;
        }
        if (c->out_len)
            return; /* blocked on output; EPOLLOUT resumes */
        if (c->close_after) {
            conn_close(ep, c);
            return;
        }
    }
}

static void on_writable(int ep, conn_t *c)
{
    if (!flush_out(ep, c)) {
        conn_close(ep, c);
        return;
    }
    if (c->out_len)
        return;
    if (c->close_after) {
        conn_close(ep, c);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    if (!c->in_len)
        return;
    if (!parse_requests(c))
        conn_close(ep, c);
    else if (c->out_len)
        on_writable(ep, c);
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0) {
        perror("bench-backend: listen");
        exit(1);
    }
    return fd;
}

static void accept_all(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn_t *c = calloc(1, sizeof(*c));
        if (!c)
            abort();
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *slot = "blue", *service = "app", *version = "1.0.0";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = (int)parse_long(argv[i + 1], 1, 65535);
        else if (strcmp(argv[i], "--slot") == 0)
            slot = argv[i + 1];
        else if (strcmp(argv[i], "--service") == 0)
            service = argv[i + 1];
        else if (strcmp(argv[i], "--version") == 0)
            version = argv[i + 1];
        else if (strcmp(argv[i], "--stale") == 0)
            stale = parse_long(argv[i + 1], 0, 1) == 1;
    }
    if (!port) {
        fprintf(stderr, "usage: bench-backend --port N [--slot S] [--service N] [--version V] "
                        "[--stale 1]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    build_responses(service, version, slot);
    if (stale) {
        static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        memcpy(resp_main, ok, sizeof(ok));
        memcpy(resp_health, ok, sizeof(ok));
        resp_main_len = resp_health_len = sizeof(ok) - 1;
    }
    int lfd = listen_on(port);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    static int listener_tag;
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listener_tag};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listener_tag) {
                accept_all(ep, lfd);
                continue;
            }
            conn_t *c = evs[i].data.ptr;
            if (evs[i].events & EPOLLOUT)
                on_writable(ep, c);
            else
                on_readable(ep, c);
        }
    }
}
