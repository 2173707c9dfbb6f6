/* bench-client: the load client shared by every proxy in the instruction, syscall and
 * memory benchmarks, so all peers see exactly the same byte stream.
 *
 *   bench-client seq  PORT N [PATH]      one keep-alive connection, N sequential GETs;
 *                                        prints "requests=N ok=K errors=E elapsed_ms=T"
 *   bench-client hold PORT C [PATH]      opens C connections, sends one GET on each (at
 *                                        most 64 in flight), reads every response, prints
 *                                        "ready C" and keeps them open idle until stdin
 *                                        reaches EOF or SIGTERM/SIGINT arrives
 *
 * Responses are framed by Content-Length or chunked encoding. Any non-2xx status, early
 * close or timeout (10 s per response) counts as an error; exit status 1 if any occurred.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PROG "bench-client"
#include "helpers.h"

enum { BUF_CAP = 65536, WINDOW = 64, TIMEOUT_MS = 10000 };

static char request[512];
static size_t request_len;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Length of the chunked body starting at <p> (through the last CRLF), 0 if incomplete,
 * -1 if malformed. Trailers are not expected. */
static long chunked_len(const char *p, size_t avail)
{
    size_t off = 0;
    for (;;) {
        const char *eol = memmem(p + off, avail - off, "\r\n", 2);
        if (!eol)
            return 0;
        char *end = NULL;
        unsigned long sz = strtoul(p + off, &end, 16);
        if (end == p + off)
            return -1;
        off = (size_t)(eol - p) + 2;
        if (sz == 0) {
            if (avail - off < 2)
                return 0;
            return memcmp(p + off, "\r\n", 2) == 0 ? (long)(off + 2) : -1;
        }
        if (avail - off < sz + 2)
            return 0;
        off += sz + 2;
    }
}

/* Complete response length in <buf> (>0), 0 if more bytes are needed, -1 if malformed.
 * Stores the status code in <status>. */
static long response_len(const char *buf, size_t len, int *status)
{
    const char *hend = memmem(buf, len, "\r\n\r\n", 4);
    if (!hend)
        return len >= BUF_CAP ? -1 : 0;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0)
        return -1;
    *status = (int)strtol(buf + 9, NULL, 10);
    size_t head = (size_t)(hend - buf) + 4;
    const char *te = find_header(buf, hend + 2, "Transfer-Encoding");
    if (te && strncasecmp(te, "chunked", 7) == 0) {
        long b = chunked_len(buf + head, len - head);
        return b <= 0 ? b : (long)head + b;
    }
    const char *cl = find_header(buf, hend + 2, "Content-Length");
    size_t body = cl ? (size_t)strtoul(cl, NULL, 10) : 0;
    if (len - head < body)
        return 0;
    return (long)(head + body);
}

/* Reads one response on blocking <fd> into <buf> (which may already hold <*have> bytes
 * of a pipelined response). Returns the status, or -1 on error/close/timeout. */
static int read_response(int fd, char *buf, size_t *have)
{
    int status = 0;
    for (;;) {
        long n = response_len(buf, *have, &status);
        if (n < 0)
            return -1;
        if (n > 0) {
            memmove(buf, buf + n, *have - (size_t)n);
            *have -= (size_t)n;
            return status;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, TIMEOUT_MS) <= 0)
            return -1;
        ssize_t r = recv(fd, buf + *have, BUF_CAP - *have, 0);
        if (r <= 0)
            return -1;
        *have += (size_t)r;
    }
}

static int run_seq(int port, long n)
{
    static char buf[BUF_CAP];
    size_t have = 0;
    long ok = 0, errors = 0;
    double t0 = now_ms();
    int fd = connect_to(port);
    for (long i = 0; i < n; i++) {
        if (fd < 0) {
            errors++;
            fd = connect_to(port);
            continue;
        }
        int st = send(fd, request, request_len, MSG_NOSIGNAL) == (ssize_t)request_len
                     ? read_response(fd, buf, &have)
                     : -1;
        if (st >= 200 && st < 300) {
            ok++;
            continue;
        }
        errors++;
        if (st < 0) {
            close(fd);
            have = 0;
            fd = connect_to(port);
        }
    }
    if (fd >= 0)
        close(fd);
    printf("requests=%ld ok=%ld errors=%ld elapsed_ms=%.0f\n", n, ok, errors, now_ms() - t0);
    return errors ? 1 : 0;
}

static volatile sig_atomic_t stop_flag;
static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* Opens <count> connections; each gets one request, WINDOW at a time. */
static int run_hold(int port, long count)
{
    int *fds = calloc((size_t)count, sizeof(int));
    static char buf[BUF_CAP];
    long errors = 0;
    if (!fds)
        abort();
    for (long base = 0; base < count; base += WINDOW) {
        long end = base + WINDOW < count ? base + WINDOW : count;
        for (long i = base; i < end; i++) {
            fds[i] = connect_to(port);
            if (fds[i] < 0 ||
                send(fds[i], request, request_len, MSG_NOSIGNAL) != (ssize_t)request_len) {
                fprintf(stderr, "bench-client: connection %ld: %s\n", i, strerror(errno));
                return 1;
            }
        }
        for (long i = base; i < end; i++) {
            size_t have = 0;
            int st = read_response(fds[i], buf, &have);
            if (st < 200 || st > 299)
                errors++;
        }
    }
    printf("ready %ld errors=%ld\n", count, errors);
    fflush(stdout);
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    char c;
    while (!stop_flag && read(0, &c, 1) > 0)
        ;
    for (long i = 0; i < count; i++)
        close(fds[i]);
    free(fds);
    return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench-client seq|hold PORT N [PATH]\n");
        return 2;
    }
    int port = (int)parse_long(argv[2], 1, 65535);
    long n = parse_long(argv[3], 0, 100000000);
    const char *path = argc > 4 ? argv[4] : "/";
    request_len = (size_t)snprintf(request, sizeof(request),
                                   "GET %s HTTP/1.1\r\nHost: app.local\r\nUser-Agent: "
                                   "bench-client\r\nAccept: */*\r\n\r\n",
                                   path);
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(argv[1], "seq") == 0)
        return run_seq(port, n);
    if (strcmp(argv[1], "hold") == 0)
        return run_hold(port, n);
    fprintf(stderr, "bench-client: unknown mode '%s'\n", argv[1]);
    return 2;
}
