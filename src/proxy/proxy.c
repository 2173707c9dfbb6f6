/* The data plane's public face: creates the workers, binds their SO_REUSEPORT listeners
 * on the control thread (so bind errors come back to the caller), wakes them on a new
 * snapshot and reports which generation every worker serves. */
#include "proxy/proxy.h"

#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "net/net.h"
#include "proxy/internal.h"
#include "base/compat.h"

#define LISTEN_BACKLOG 1024

bg_proxy_t *bg_proxy_new(const bg_proxy_options_t *opts, bg_err_t *err)
{
    bg_proxy_t *p;
    struct sockaddr_storage ss;
    socklen_t len;

    if (!opts || !opts->listen || !opts->router) {
        bg_err_set(err, BG_EINVAL, "proxy: listen address and router are required");
        return NULL;
    }
    if (bg_net_addr_parse(opts->listen, &ss, &len, err) < 0)
        return NULL;
    if (opts->test_listen && bg_net_addr_parse(opts->test_listen, &ss, &len, err) < 0)
        return NULL;
    p = BG_NEW(bg_proxy_t);
    p->opts = *opts;
    p->listen = bg_strdup(opts->listen);
    p->test_listen = bg_strdup(opts->test_listen);
    p->opts.listen = p->listen;
    p->opts.test_listen = p->test_listen;
    bg_proxy_config_t *l = &p->opts.limits;
    if (l->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        l->workers = n > 0 ? (uint32_t)n : 1;
    }
    if (l->header_timeout_ms == 0)
        l->header_timeout_ms = 10000;
    if (l->idle_timeout_ms == 0)
        l->idle_timeout_ms = 60000;
    if (l->connect_timeout_ms == 0)
        l->connect_timeout_ms = 3000;
    if (l->response_timeout_ms == 0)
        l->response_timeout_ms = 60000;
    if (l->max_header_bytes == 0)
        l->max_header_bytes = 16 * 1024;
    if (l->pool_idle_timeout_ms == 0)
        l->pool_idle_timeout_ms = 30000;
    if (l->max_connections == 0)
        l->max_connections = 100000;
    p->n_workers = l->workers;
    return p;
}

/* Takes an inherited socket listening on <ss> (see bg_proxy_inherit), or -1. */
static int take_inherited(bg_proxy_t *p, int which, const struct sockaddr_storage *ss)
{
    for (size_t i = 0; i < p->n_inherited[which]; i++) {
        int fd = p->inherited[which][i];
        if (fd >= 0 && bg_net_listener_matches(fd, (const struct sockaddr *)ss)) {
            p->inherited[which][i] = -1;
            return fd;
        }
    }
    return -1;
}

static void close_inherited(bg_proxy_t *p)
{
    for (int k = 0; k < BG_LISTENERS; k++) {
        for (size_t i = 0; i < p->n_inherited[k]; i++)
            if (p->inherited[k][i] >= 0)
                close(p->inherited[k][i]);
        free(p->inherited[k]);
        p->inherited[k] = NULL;
        p->n_inherited[k] = 0;
    }
}

/* Binds one socket per worker on <addr>; with port 0 the first picks the port and the
 * others join it. Sockets inherited from a previous process come first: they keep the
 * port and whatever waits in their accept queues. Returns the bound port or a negative
 * code. */
static int bind_all(bg_proxy_t *p, const char *addr, int which, bg_err_t *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int port = -1;

    if (bg_net_addr_parse(addr, &ss, &len, err) < 0)
        return BG_EINVAL;
    for (unsigned i = 0; i < p->n_workers; i++) {
        int fd = take_inherited(p, which, &ss);
        if (fd < 0 && i == 0 &&
            (ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                      : ((struct sockaddr_in *)&ss)->sin_port) != 0) {
            int rc = bg_net_check_free((struct sockaddr *)&ss, len, addr, err);
            if (rc < 0)
                return rc;
        }
        if (fd < 0)
            fd = bg_net_listen((struct sockaddr *)&ss, len, LISTEN_BACKLOG, addr, err);
        if (fd < 0)
            return fd;
        p->workers[i].listen_fd[which] = fd;
        p->workers[i].has_listener[which] = true;
        p->listening[which][i] = fd;
        if (i == 0) {
            port = bg_net_local_port(fd);
            if (port < 0)
                return port;
            if (ss.ss_family == AF_INET6)
                ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
            else
                ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        }
    }
    return port;
}

void bg_proxy_inherit(bg_proxy_t *p, bool test, const int *fds, size_t n)
{
    int k = test ? 1 : 0;

    BG_ASSERT(!p->started);
    p->inherited[k] = bg_xrealloc(p->inherited[k], (p->n_inherited[k] + n) * sizeof(int));
    memcpy(p->inherited[k] + p->n_inherited[k], fds, n * sizeof(int));
    p->n_inherited[k] += n;
    /* Every inherited socket keeps receiving connections from the kernel (SO_REUSEPORT
     * spreads them over the group): each needs a worker accepting on it. */
    if (p->n_inherited[k] > p->n_workers) {
        p->n_workers = (unsigned)p->n_inherited[k];
        p->opts.limits.workers = p->n_workers;
    }
}

size_t bg_proxy_listen_fds(const bg_proxy_t *p, bool test, int *out, size_t max)
{
    int k = test ? 1 : 0;
    size_t n = 0;

    if (!p->started || p->listening[k] == NULL)
        return 0;
    for (unsigned i = 0; i < p->n_workers && n < max; i++)
        if (p->listening[k][i] >= 0)
            out[n++] = p->listening[k][i];
    return n;
}

static void close_listen_fds(bg_proxy_t *p)
{
    for (unsigned i = 0; i < p->n_workers; i++)
        for (int k = 0; k < BG_LISTENERS; k++)
            if (p->workers[i].listen_fd[k] >= 0) {
                close(p->workers[i].listen_fd[k]);
                p->workers[i].listen_fd[k] = -1;
            }
}

/* fds open in this process right now (-1 if /proc is not there). */
static long fds_in_use(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;

    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own fd */
}

/* The fd budget (issue 9): raises RLIMIT_NOFILE's soft limit to the hard one, keeps a
 * reserve for the control thread (health checks, admin API, store, driver processes) and
 * each worker's loop, and splits the rest between client connections (at most half, so
 * every client can have an upstream connection at once) and upstream connections (the
 * other half; idle pooled ones are shed first at its end). max_connections (per worker)
 * can only lower the client part. Accepting pauses at the client limit, so a flood of
 * clients can never take the fds a health check needs. */
static void fd_budget(bg_proxy_t *p)
{
    struct rlimit rl;
    uint64_t nofile = 1024, reserve, used, budget, cfg_max;
    long open_now = fds_in_use();

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur != rl.rlim_max) {
            struct rlimit want = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};
            if (setrlimit(RLIMIT_NOFILE, &want) == 0)
                rl.rlim_cur = rl.rlim_max;
        }
        nofile = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 24) ? (1u << 24)
                                                                             : rl.rlim_cur;
    }
    reserve = 64 + nofile / 16;
    used = (uint64_t)(open_now > 0 ? open_now : 64) + 8ull * p->n_workers;
    budget = nofile > reserve + used + 16 ? nofile - reserve - used : 16;
    p->client_max = budget / 2;
    cfg_max = (uint64_t)p->opts.limits.max_connections * p->n_workers;
    if (cfg_max < p->client_max)
        p->client_max = cfg_max;
    p->upstream_max = budget - budget / 2;
    bg_log(budget <= 16 ? BG_LOG_WARN : BG_LOG_INFO, "proxy",
           "fd budget nofile=%" PRIu64 " in_use=%" PRIu64 " reserved=%" PRIu64
           " clients<=%" PRIu64 " upstream<=%" PRIu64, nofile, used, reserve, p->client_max,
           p->upstream_max);
}

static void worker_main(void *arg)
{
    bg_worker_t *w = arg;

    uv_run(&w->loop, UV_RUN_DEFAULT);
}

int bg_proxy_start(bg_proxy_t *p, bg_err_t *err)
{
    int rc;
    unsigned started = 0;

    BG_ASSERT(!p->started);
    /* libuv writes with write(2)/writev(2): a peer that reset its connection must give
     * EPIPE, not kill the process (process-wide, as nginx and HAProxy do). */
    signal(SIGPIPE, SIG_IGN);
    p->workers = bg_xcalloc(p->n_workers, sizeof(bg_worker_t));
    for (int k = 0; k < BG_LISTENERS; k++) {
        p->listening[k] = bg_xcalloc(p->n_workers, sizeof(int));
        for (unsigned i = 0; i < p->n_workers; i++)
            p->listening[k][i] = p->workers[i].listen_fd[k] = -1;
    }
    rc = bind_all(p, p->listen, 0, err);
    if (rc < 0)
        goto fail;
    p->port = rc;
    if (p->test_listen) {
        rc = bind_all(p, p->test_listen, 1, err);
        if (rc < 0)
            goto fail;
        p->test_port = rc;
    }
    fd_budget(p);
    for (unsigned i = 0; i < p->n_workers; i++) {
        rc = bg_worker_init(&p->workers[i], p, i);
        if (rc < 0) {
            bg_err_set(err, rc, "proxy: worker %u: %s", i, bg_strerror(rc));
            goto fail_workers;
        }
        started++;
    }
    for (unsigned i = 0; i < p->n_workers; i++) {
        rc = uv_thread_create(&p->workers[i].thread, worker_main, &p->workers[i]);
        BG_ASSERT(rc == 0);
    }
    p->started = true;
    close_inherited(p); /* those that matched no configured listener */
    bg_log(BG_LOG_INFO, "proxy", "started listen=%s port=%d test_port=%d workers=%u", p->listen,
           p->port, p->test_port, p->n_workers);
    return 0;
fail_workers:
    for (unsigned i = 0; i < started; i++)
        bg_worker_fini(&p->workers[i]);
fail:
    close_listen_fds(p);
    free(p->workers);
    p->workers = NULL;
    for (int k = 0; k < BG_LISTENERS; k++) {
        free(p->listening[k]);
        p->listening[k] = NULL;
    }
    return rc;
}

int bg_proxy_port(const bg_proxy_t *p)
{
    return p->port;
}

int bg_proxy_test_port(const bg_proxy_t *p)
{
    return p->test_port;
}

void bg_proxy_notify(bg_proxy_t *p)
{
    if (!p->started)
        return;
    for (unsigned i = 0; i < p->n_workers; i++)
        uv_async_send(&p->workers[i].async);
}

bool bg_proxy_adopted(const bg_proxy_t *p, uint64_t generation)
{
    if (!p->started)
        return false;
    for (unsigned i = 0; i < p->n_workers; i++)
        if (atomic_load(&p->workers[i].adopted) < generation)
            return false;
    return true;
}

void bg_proxy_stop(bg_proxy_t *p, uint32_t grace_ms)
{
    if (!p || !p->started)
        return;
    for (unsigned i = 0; i < p->n_workers; i++) {
        p->workers[i].grace_ms = grace_ms;
        atomic_store(&p->workers[i].stop_requested, true);
        uv_async_send(&p->workers[i].async);
    }
    for (unsigned i = 0; i < p->n_workers; i++) {
        uv_thread_join(&p->workers[i].thread);
        bg_worker_fini(&p->workers[i]);
    }
    p->started = false;
    for (int k = 0; k < BG_LISTENERS; k++) {
        free(p->listening[k]);
        p->listening[k] = NULL;
    }
    bg_log(BG_LOG_INFO, "proxy", "stopped");
}

void bg_proxy_free(bg_proxy_t *p)
{
    if (!p)
        return;
    bg_proxy_stop(p, 0);
    close_inherited(p);
    free(p->workers);
    free(p->listen);
    free(p->test_listen);
    free(p);
}

void bg_proxy_h2_counts(const bg_proxy_t *p, uint64_t out[4])
{
    out[0] = out[1] = out[2] = out[3] = 0;
    for (unsigned i = 0; p->workers && i < p->n_workers; i++) {
        const bg_proxy_h2_counts_t *c = &p->workers[i].h2;
        out[0] += atomic_load_explicit(&c->connections, memory_order_relaxed);
        out[1] += atomic_load_explicit(&c->streams, memory_order_relaxed);
        out[2] += atomic_load_explicit(&c->conn_errors, memory_order_relaxed);
        out[3] += atomic_load_explicit(&c->stream_resets, memory_order_relaxed);
    }
}

uint64_t bg_proxy_client_connections(const bg_proxy_t *p)
{
    uint64_t n = 0;

    if (!p->workers)
        return 0;
    for (unsigned i = 0; i < p->n_workers; i++)
        n += atomic_load_explicit(&p->workers[i].n_clients, memory_order_relaxed);
    return n;
}
