/* Proxy integration: file-descriptor exhaustion and clients that never read (issue 9,
 * item 4).
 *
 * - `bluegreen serve` runs under a small RLIMIT_NOFILE (set by the shell right before
 *   exec: soft = hard = 256). More clients than its fd budget connect: the proxy accepts
 *   exactly its client limit (from its "fd budget" log line) and leaves the rest waiting
 *   in the backlog (accepting paused, not accept-and-close); the target stays healthy
 *   and the admin API answers all along; as clients close, the waiting ones are served;
 *   a new client is served once there is room.
 * - A client that never reads a large response is disconnected after the write timeout;
 *   one that reads slowly but steadily is not.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "base/base.h"
#include "integration/proxy_fixture.h"
#include "unit/admin/client.h"

#define N_CLIENTS 300

static pid_t SERVE = -1;
static bgt_backend_t *B;
static pfx_t F;
static bool pfx_on;

static void teardown(void)
{
    if (SERVE > 0)
        bgt_stop(SERVE, 5000);
    SERVE = -1;
    if (pfx_on)
        pfx_stop(&F);
    pfx_on = false;
    bgt_backend_stop(B);
    B = NULL;
}

TestSuite(proxy_limits, .fini = teardown, .timeout = 120);

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *s;
    long n;

    if (!f)
        return bg_strdup("");
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = bg_xcalloc(1, (size_t)n + 1);
    n = (long)fread(s, 1, (size_t)n, f);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* The "clients<=N" of serve's fd budget log line, or -1 when not (yet) logged. */
static long logged_client_max(const char *log)
{
    char *s = slurp(log);
    char *p = strstr(s, "fd budget");
    long n = -1;

    if (p && (p = strstr(p, "clients<=")))
        n = strtol(p + 9, NULL, 10);
    free(s);
    return n;
}

/* healthy flag of the only blue target of service app, via the admin socket (-1: no
 * answer). */
static int target_healthy(const char *sock)
{
    cresp_t r = {0};
    int healthy = -1;

    if (!cl_call(sock, 0, "GET", "/v1/services/app", NULL, NULL, &r))
        return -1;
    if (r.status == 200) {
        json_t *j = json_loads(r.body, 0, NULL);
        json_t *t = json_array_get(
            json_object_get(json_object_get(json_object_get(j, "slots"), "blue"), "targets"), 0);
        if (t)
            healthy = json_is_true(json_object_get(t, "healthy"));
        json_decref(j);
    }
    cresp_fini(&r);
    return healthy;
}

typedef struct cl {
    int fd;
    bool answered, failed;
} cl_t;

/* Polls the open clients for up to <ms>; marks those whose response arrived. Returns how
 * many are answered in all. */
static int collect(cl_t *c, int n, int ms)
{
    struct pollfd p[N_CLIENTS];
    int idx[N_CLIENTS], k = 0, answered = 0;
    uint64_t deadline = bg_now_ms() + (uint64_t)ms;

    for (;;) {
        k = 0;
        for (int i = 0; i < n; i++)
            if (c[i].fd >= 0 && !c[i].answered && !c[i].failed) {
                p[k] = (struct pollfd){.fd = c[i].fd, .events = POLLIN};
                idx[k++] = i;
            }
        int left = (int)(deadline > bg_now_ms() ? deadline - bg_now_ms() : 0);
        if (k == 0 || left == 0 || poll(p, (nfds_t)k, left) <= 0)
            break;
        for (int j = 0; j < k; j++) {
            if (!p[j].revents)
                continue;
            char buf[4096];
            ssize_t r = recv(p[j].fd, buf, sizeof(buf) - 1, 0);
            cl_t *x = &c[idx[j]];
            if (r <= 0) {
                x->failed = true;
                continue;
            }
            buf[r] = '\0';
            if (strncmp(buf, "HTTP/1.1 200", 12) == 0)
                x->answered = true;
            else
                x->failed = true;
        }
    }
    for (int i = 0; i < n; i++)
        answered += c[i].answered;
    return answered;
}

Test(proxy_limits, fd_budget_pauses_accepts_and_keeps_health)
{
    char *dir = bgt_tmpdir("fdlimit");
    char *cfg = bg_asprintf("%s/bluegreen.yaml", dir);
    char *log = bg_asprintf("%s/serve.log", dir);
    char *sock = bg_asprintf("%s/state/bluegreen.sock", dir);
    int port = bgt_free_port();
    static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    static cl_t c[N_CLIENTS];
    FILE *f;

    B = bgt_backend_start("blue", 0);
    f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "listen: 127.0.0.1:%d\n"
            "state_dir: %s/state\n"
            "proxy: {workers: 2}\n"
            "services:\n"
            "  app:\n"
            "    route: {path_prefix: /}\n"
            "    driver: static\n"
            "    targets: {blue: [\"127.0.0.1:%d\"]}\n"
            "    traffic: {blue: 100, green: 0}\n"
            "    health: {path: /healthz, interval: 100ms, timeout: 500ms, "
            "healthy_threshold: 1, unhealthy_threshold: 2}\n",
            port, dir, bgt_backend_port(B));
    fclose(f);
    /* the limit is set right before exec, as `ulimit -n` in a service unit would */
    const char *argv[] = {"/bin/sh", "-c", "ulimit -n 256 && exec \"$0\" serve -c \"$1\"",
                          bgt_bin("bluegreen"), cfg, NULL};
    SERVE = bgt_spawn(argv, NULL, log);
    cr_assert(bgt_wait_port(port, 10000), "serve did not listen");
    uint64_t deadline = bg_now_ms() + 10000;
    while (target_healthy(sock) != 1 && bg_now_ms() < deadline)
        poll(NULL, 0, 50);
    cr_assert_eq(target_healthy(sock), 1, "target never healthy");
    long max = logged_client_max(log);
    cr_assert_gt(max, 10, "no fd budget logged (log %s)", log);
    cr_assert_lt(max, N_CLIENTS - 20, "budget %ld leaves no client waiting", max);

    /* more clients than the budget, each with a request */
    for (int i = 0; i < N_CLIENTS; i++) {
        c[i] = (cl_t){.fd = bgt_connect(port)};
        cr_assert_geq(c[i].fd, 0, "connect %d: %s", i, strerror(errno));
        cr_assert(bgt_write_all(c[i].fd, req, sizeof(req) - 1));
    }
    int answered = 0;
    deadline = bg_now_ms() + 15000;
    while (answered < max && bg_now_ms() < deadline)
        answered = collect(c, N_CLIENTS, 500);
    answered = collect(c, N_CLIENTS, 500); /* nothing more may come */
    cr_assert_eq(answered, max, "answered %d with a client limit of %ld", answered, max);
    for (int i = 0; i < N_CLIENTS; i++)
        cr_assert(!c[i].failed, "client %d was closed or refused", i);

    /* at the limit for 1.5 s: health checks (every 100 ms) keep passing, admin answers */
    for (int k = 0; k < 15; k++) {
        cr_assert_eq(target_healthy(sock), 1, "target unhealthy at the fd limit (round %d)", k);
        poll(NULL, 0, 100);
    }

    /* as served clients leave, the waiting ones are accepted and served */
    deadline = bg_now_ms() + 30000;
    while (answered < N_CLIENTS && bg_now_ms() < deadline) {
        for (int i = 0; i < N_CLIENTS; i++)
            if (c[i].answered && c[i].fd >= 0) {
                close(c[i].fd);
                c[i].fd = -1;
            }
        answered = collect(c, N_CLIENTS, 1000);
    }
    cr_assert_eq(answered, N_CLIENTS, "only %d of %d clients served", answered, N_CLIENTS);
    for (int i = 0; i < N_CLIENTS; i++) {
        cr_assert(!c[i].failed, "client %d was closed or refused", i);
        if (c[i].fd >= 0)
            close(c[i].fd);
    }

    /* room again: a normal client is served at once, and health never failed */
    bgt_resp_t r;
    cr_assert(bgt_http_get(port, "a", "/", &r, 3000));
    cr_assert_eq(r.status, 200);
    bgt_resp_fini(&r);
    cr_assert_eq(target_healthy(sock), 1);
    char *text = slurp(log);
    cr_assert(strstr(text, "accepting paused"), "no pause logged");
    cr_assert_null(strstr(text, "Too many open files"), "fd exhaustion in the log");
    cr_assert_null(strstr(text, "healthy=false"), "a health check failed");
    free(text);
    free(sock);
    free(log);
    free(cfg);
    free(dir);
}

/* ---- write timeout ---- */

#define BIG (16 * 1024 * 1024) /* more than both kernel buffers hold */

static char *big_handler(void *arg, const bgt_backend_req_t *req)
{
    (void)arg;
    (void)req;
    char *r = bg_xmalloc(BIG + 128);
    int n = snprintf(r, 128, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", BIG);
    memset(r + n, 'x', BIG);
    r[n + BIG] = '\0';
    return r;
}

static int small_rcvbuf_connect(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int sz = 4096;

    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static bool no_clients(void *arg)
{
    return bg_proxy_client_connections(arg) == 0;
}

static bool one_client(void *arg)
{
    return bg_proxy_client_connections(arg) == 1;
}

Test(proxy_limits, client_that_never_reads_is_dropped_after_write_timeout)
{
    bg_proxy_config_t l = pfx_limits();
    l.write_timeout_ms = 1000;
    B = bgt_backend_start("blue", 0);
    bgt_backend_set_handler(B, big_handler, NULL);
    pfx_start(&F, &l, false);
    pfx_on = true;
    pfx_svc_t s = {.name = "app", .blue = {pfx_addr(bgt_backend_port(B))}, .blue_w = 100};
    pfx_publish(&F, &s, 1);

    /* reads 256 KiB every 20 ms: slow, but never a second without progress */
    int fd = bgt_connect(F.port);
    static const char req[] = "GET /big HTTP/1.1\r\nHost: a\r\n\r\n";
    cr_assert(bgt_write_all(fd, req, sizeof(req) - 1));
    size_t got = 0;
    char *buf = bg_xmalloc(256 * 1024);
    uint64_t deadline = bg_now_ms() + 30000;
    while (got < BIG && bg_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 2000) <= 0)
            break;
        ssize_t n = recv(fd, buf, 256 * 1024, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        poll(NULL, 0, 20);
    }
    free(buf);
    close(fd);
    cr_assert_gt(got, (size_t)BIG, "slow reader cut off after %zu bytes", got);

    /* never reads: dropped after about the write timeout */
    cr_assert(bgt_wait_until(no_clients, F.proxy, 5000));
    uint64_t t0 = bg_now_ms();
    fd = small_rcvbuf_connect(F.port);
    cr_assert(bgt_write_all(fd, req, sizeof(req) - 1));
    cr_assert(bgt_wait_until(one_client, F.proxy, 5000), "not accepted");
    cr_assert(bgt_wait_until(no_clients, F.proxy, 10000),
              "a client that never reads is still connected after 10 s");
    cr_assert_geq(bg_now_ms() - t0, 1000, "dropped before the write timeout");
    close(fd);
}
