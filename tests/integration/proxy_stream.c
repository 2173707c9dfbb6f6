/* Proxy integration: 64 MiB bodies streamed through the proxy both ways (Content-Length
 * and chunked) while the test process's peak RSS stays bounded: the proxy must never
 * buffer a whole body. The backend here is a raw socket thread that discards or
 * generates bytes without buffering them either. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"
#include "integration/proxy_fixture.h"

#define BIG (64ull * 1024 * 1024)
#define BLOCK (64 * 1024)

static pfx_t F;

typedef struct raw_be {
    int lfd, port;
    bool chunked_reply;  /* download: answer with a chunked BIG body */
    bool download;
    uint64_t got;        /* upload: body bytes received */
    pthread_t th;
} raw_be_t;

static long rss_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, strlen(field)) == 0)
            v = strtol(line + strlen(field) + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static bool write_all(int fd, const void *p, size_t n)
{
    return bgt_write_all(fd, p, n);
}

static void *be_main(void *arg)
{
    raw_be_t *b = arg;
    int fd = accept(b->lfd, NULL, NULL);
    char *buf = bg_xmalloc(BLOCK);
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        ssize_t n = recv(fd, buf + have, BLOCK - 1 - have, 0);
        if (n <= 0)
            goto out;
        have += (size_t)n;
        buf[have] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    if (!b->download) {
        char *cl = strcasestr(buf, "content-length:");
        /* chunked: the proxy re-frames with the client's chunk sizes, so the wire size is
         * known; the last 5 bytes must be the last-chunk */
        uint64_t want = cl ? strtoull(cl + 15, NULL, 10) : (BIG / BLOCK) * (7 + BLOCK + 2) + 5;
        char tail[5] = {0};
        b->got = have - (size_t)(end + 4 - buf);
        while (b->got < want) {
            ssize_t n = recv(fd, buf, BLOCK, 0);
            if (n <= 0)
                goto out;
            b->got += (uint64_t)n;
            if (n >= 5)
                memcpy(tail, buf + n - 5, 5);
        }
        if (!cl)
            b->got = memcmp(tail, "0\r\n\r\n", 5) == 0 ? BIG : 0;
        char reply[128];
        int n = snprintf(reply, sizeof(reply), "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n%020llu",
                         (unsigned long long)b->got);
        write_all(fd, reply, (size_t)n);
    } else {
        char head[128];
        int n = b->chunked_reply
                    ? snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    : snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n\r\n",
                               (unsigned long long)BIG);
        write_all(fd, head, (size_t)n);
        memset(buf, 'z', BLOCK);
        for (uint64_t sent = 0; sent < BIG; sent += BLOCK) {
            if (b->chunked_reply) {
                n = snprintf(head, sizeof(head), "%x\r\n", BLOCK);
                if (!write_all(fd, head, (size_t)n))
                    break;
            }
            if (!write_all(fd, buf, BLOCK))
                break;
            if (b->chunked_reply && !write_all(fd, "\r\n", 2))
                break;
        }
        if (b->chunked_reply)
            write_all(fd, "0\r\n\r\n", 5);
    }
    char tmp[64];
    recv(fd, tmp, sizeof(tmp), 0); /* wait for the proxy to close or reuse */
out:
    free(buf);
    close(fd);
    return NULL;
}

static void be_start(raw_be_t *b)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    b->lfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(bind(b->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(b->lfd, 8), 0);
    getsockname(b->lfd, (struct sockaddr *)&a, &len);
    b->port = ntohs(a.sin_port);
    pthread_create(&b->th, NULL, be_main, b);
    pfx_start(&F, NULL, false);
    pfx_svc_t s = {.name = "big", .blue = {pfx_addr(b->port)}, .blue_w = 100};
    pfx_publish(&F, &s, 1);
}

static void be_stop(raw_be_t *b)
{
    pfx_stop(&F);
    shutdown(b->lfd, SHUT_RDWR);
    pthread_join(b->th, NULL);
    close(b->lfd);
}

TestSuite(proxy_stream, .timeout = 120);

static void upload(bool chunked)
{
    raw_be_t b = {0};
    be_start(&b);
    long before = rss_kb("VmRSS:");
    int fd = bgt_connect(F.port);
    char head[256];
    int n = chunked ? snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: a\r\n"
                                                   "Transfer-Encoding: chunked\r\n\r\n")
                    : snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: a\r\n"
                                                   "Content-Length: %llu\r\n\r\n",
                               (unsigned long long)BIG);
    char *block = bg_xmalloc(BLOCK);
    memset(block, 'u', BLOCK);
    cr_assert(bgt_write_all(fd, head, (size_t)n));
    for (uint64_t sent = 0; sent < BIG; sent += BLOCK) {
        if (chunked) {
            n = snprintf(head, sizeof(head), "%x\r\n", BLOCK);
            cr_assert(bgt_write_all(fd, head, (size_t)n));
        }
        cr_assert(bgt_write_all(fd, block, BLOCK));
        if (chunked)
            cr_assert(bgt_write_all(fd, "\r\n", 2));
    }
    if (chunked)
        cr_assert(bgt_write_all(fd, "0\r\n\r\n", 5));
    bgt_resp_t r;
    cr_assert(bgt_read_response(fd, &r, 30000));
    cr_assert_eq(r.status, 200, "%s%s", r.head, r.body);
    cr_assert_eq(strtoull(r.body, NULL, 10), BIG, "backend got %s", r.body);
    bgt_resp_fini(&r);
    close(fd);
    long peak = rss_kb("VmHWM:");
    cr_assert_lt(peak - before, 32 * 1024, "RSS grew by %ld KiB while streaming 64 MiB",
                 peak - before);
    free(block);
    be_stop(&b);
}

static void download(bool chunked)
{
    raw_be_t b = {.download = true, .chunked_reply = chunked};
    be_start(&b);
    long before = rss_kb("VmRSS:");
    int fd = bgt_connect(F.port);
    const char *req = "GET /down HTTP/1.1\r\nHost: a\r\n\r\n";
    cr_assert(bgt_write_all(fd, req, strlen(req)));
    /* read raw: count body bytes after the head (chunk framing included when chunked) */
    char *buf = bg_xmalloc(BLOCK);
    uint64_t total = 0;
    bool done = false;
    while (!done) {
        ssize_t n = recv(fd, buf, BLOCK, 0);
        cr_assert_gt(n, 0, "connection ended after %llu bytes", (unsigned long long)total);
        total += (uint64_t)n;
        if (!chunked)
            done = total >= BIG;
        else
            done = n >= 5 && memcmp(buf + n - 5, "0\r\n\r\n", 5) == 0;
    }
    cr_assert_geq(total, BIG);
    close(fd);
    long peak = rss_kb("VmHWM:");
    cr_assert_lt(peak - before, 32 * 1024, "RSS grew by %ld KiB while streaming 64 MiB",
                 peak - before);
    free(buf);
    be_stop(&b);
}

Test(proxy_stream, upload_64mib_content_length)
{
    upload(false);
}

Test(proxy_stream, upload_64mib_chunked)
{
    upload(true);
}

Test(proxy_stream, download_64mib_content_length)
{
    download(false);
}

Test(proxy_stream, download_64mib_chunked)
{
    download(true);
}
