/* One data-plane worker: its own uv_loop on its own thread, SO_REUSEPORT listeners,
 * snapshot adoption (uv_async from the control thread), per-worker free lists for read
 * buffers and exchanges, and the graceful stop. Never blocks, never takes a lock on the
 * request path (bg_router_acquire's short lock is taken on adoption only). */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "proxy/internal.h"
#include "base/compat.h"

#define MAX_FREE_BUFS 16
#define HOUSEKEEP_MS 250
#define ACCEPT_BATCH 64      /* accepts per readiness event (then others get a turn) */
#define ACCEPT_RETRY_MS 50   /* while paused: how often the budget is re-checked */

/* Read buffers and exchanges are big (tens of KiB) and needed only while a connection is
 * busy. They come from page mappings, so a burst of concurrent requests gives its memory
 * back to the system afterwards instead of leaving it in the malloc heap (idle keep-alive
 * connections must stay cheap). Sanitizer builds use malloc so ASan still sees overruns. */
#if defined(__SANITIZE_ADDRESS__)
void *bg_worker_big_alloc(size_t size)
{
    return bg_xcalloc(1, size);
}

void bg_worker_big_free(void *p, size_t size)
{
    (void)size;
    free(p);
}
#else
void *bg_worker_big_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        bg_log(BG_LOG_ERROR, "proxy", "out of memory size=%zu", size);
        abort();
    }
    return p;
}

void bg_worker_big_free(void *p, size_t size)
{
    munmap(p, size);
}
#endif

static size_t buf_bytes(const bg_worker_t *w)
{
    return sizeof(bg_iobuf_t) + w->buf_size;
}

bg_iobuf_t *bg_worker_buf_get(bg_worker_t *w)
{
    bg_iobuf_t *b = w->free_bufs;

    w->busy_ticks++;
    if (++w->n_bufs_out > w->peak_bufs_out)
        w->peak_bufs_out = w->n_bufs_out;
    if (b) {
        w->free_bufs = b->next;
        w->n_free_bufs--;
        return b;
    }
    return bg_worker_big_alloc(buf_bytes(w));
}

void bg_worker_buf_put(bg_worker_t *w, bg_iobuf_t *b)
{
    if (!b)
        return;
    w->n_bufs_out--;
    /* Keep as many spare buffers as were in use at the peak of the last second (plus a
     * few): a steady load then never maps or unmaps, while housekeeping brings an idle
     * worker back to MAX_FREE_BUFS. */
    if (w->n_free_bufs >= MAX_FREE_BUFS + w->peak_bufs_out || w->stopping) {
        bg_worker_big_free(b, buf_bytes(w));
        return;
    }
    b->next = w->free_bufs;
    w->free_bufs = b;
    w->n_free_bufs++;
}

static void release_free_lists(bg_worker_t *w)
{
    while (w->free_bufs) {
        bg_iobuf_t *b = w->free_bufs;
        w->free_bufs = b->next;
        bg_worker_big_free(b, buf_bytes(w));
    }
    w->n_free_bufs = 0;
    while (w->free_ex) {
        bg_exchange_t *e = w->free_ex;
        w->free_ex = e->next_free;
        bg_exchange_free(e);
    }
    w->n_free_ex = 0;
}

/* Drops spare buffers and exchanges beyond the peak in use during the interval that just
 * ended (not beyond what happens to be in use at this instant: under a fluctuating load
 * that would free, every tick, the buffers the next burst maps again), then starts the
 * next interval's peak from what is in use now. */
static void trim_to_peak(bg_worker_t *w)
{
    unsigned keep_bufs = w->peak_bufs_out, keep_ex = w->peak_ex_out;

    w->peak_bufs_out = w->n_bufs_out;
    w->peak_ex_out = w->n_ex_out;
    while (w->n_free_bufs > MAX_FREE_BUFS + keep_bufs) {
        bg_iobuf_t *b = w->free_bufs;
        w->free_bufs = b->next;
        w->n_free_bufs--;
        bg_worker_big_free(b, buf_bytes(w));
    }
    while (w->n_free_ex > keep_ex + 8) {
        bg_exchange_t *e = w->free_ex;
        w->free_ex = e->next_free;
        w->n_free_ex--;
        bg_exchange_free(e);
    }
}

/* Every 250 ms: trim spares to the recent peak; after a quiet period give everything
 * cached and the freed heap pages back, so the memory of a past burst does not stay
 * charged to idle connections. */
static void housekeep_cb(uv_timer_t *t)
{
    bg_worker_t *w = t->data;

    bg_access_flush(w);
    if (w->busy_ticks != 0) {
        w->busy_ticks = 0;
        w->trimmed = false;
        trim_to_peak(w);
        return;
    }
    if (w->trimmed)
        return;
    release_free_lists(w);
#if !defined(__SANITIZE_ADDRESS__)
    malloc_trim(0); /* glibc's heap only; under ASan its allocator owns memory */
#endif
    w->trimmed = true;
}

/* xorshift128+: slot picks, tie-breaks and request ids; no shared state. */
static uint64_t rand64(bg_worker_t *w)
{
    uint64_t s1 = w->rng[0];
    const uint64_t s0 = w->rng[1];

    w->rng[0] = s0;
    s1 ^= s1 << 23;
    w->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return w->rng[1] + s0;
}

uint32_t bg_worker_rand(bg_worker_t *w)
{
    return (uint32_t)(rand64(w) >> 16);
}

static void snapref_free(bg_snapref_t *s)
{
    bg_route_snapshot_unref(s->snap);
    free(s);
}

void bg_worker_snap_release(bg_worker_t *w, bg_snapref_t *sref)
{
    BG_ASSERT(sref->inflight > 0);
    if (--sref->inflight > 0 || sref == w->cur)
        return;
    for (bg_snapref_t **pp = &w->old; *pp; pp = &(*pp)->next) {
        if (*pp == sref) {
            *pp = sref->next;
            snapref_free(sref);
            return;
        }
    }
}

static void adopt(bg_worker_t *w)
{
    bg_route_snapshot_t *snap = bg_router_acquire(w->proxy->opts.router);
    bg_snapref_t *s;

    if (!snap)
        return;
    if (w->cur && w->cur->snap == snap) {
        bg_route_snapshot_unref(snap);
        return;
    }
    s = BG_NEW(bg_snapref_t);
    s->snap = snap;
    if (w->cur) {
        if (w->cur->inflight == 0) {
            snapref_free(w->cur);
        } else {
            w->cur->next = w->old;
            w->old = w->cur;
        }
    }
    w->cur = s;
    bg_pool_adopt(w, snap);
    atomic_store(&w->adopted, snap->generation);
}

static void close_cb_noop(uv_handle_t *h)
{
    (void)h;
}

static void close_listeners(bg_worker_t *w)
{
    for (int k = 0; k < BG_LISTENERS; k++) {
        if (!w->has_listener[k])
            continue;
        if (!uv_is_closing((uv_handle_t *)&w->listeners[k]))
            uv_close((uv_handle_t *)&w->listeners[k], close_cb_noop);
        if (w->listen_fd[k] >= 0) {
            close(w->listen_fd[k]); /* a poll handle does not own its fd */
            w->listen_fd[k] = -1;
        }
    }
}

static void finish_stop(bg_worker_t *w)
{
    bg_pool_close_all(w);
    bg_transport_worker_close(w);
    bg_access_flush(w); /* the last lines of this worker */
    if (!uv_is_closing((uv_handle_t *)&w->accept_timer))
        uv_close((uv_handle_t *)&w->accept_timer, close_cb_noop);
    if (!uv_is_closing((uv_handle_t *)&w->tq_timer))
        uv_close((uv_handle_t *)&w->tq_timer, close_cb_noop);
    if (!uv_is_closing((uv_handle_t *)&w->async))
        uv_close((uv_handle_t *)&w->async, close_cb_noop);
    if (!uv_is_closing((uv_handle_t *)&w->drain_timer))
        uv_close((uv_handle_t *)&w->drain_timer, close_cb_noop);
    if (!uv_is_closing((uv_handle_t *)&w->stop_timer))
        uv_close((uv_handle_t *)&w->stop_timer, close_cb_noop);
    if (!uv_is_closing((uv_handle_t *)&w->housekeep_timer))
        uv_close((uv_handle_t *)&w->housekeep_timer, close_cb_noop);
}

void bg_worker_maybe_finish_stop(bg_worker_t *w)
{
    if (w->stopping && bg_list_is_empty(&w->clients))
        finish_stop(w);
}

static void stop_timer_cb(uv_timer_t *t)
{
    bg_worker_t *w = t->data;
    bg_list_t *pos, *tmp;

    bg_list_foreach_safe(pos, tmp, &w->clients)
        bg_client_close(BG_CONTAINER_OF(pos, bg_client_t, link));
    bg_worker_maybe_finish_stop(w);
}

static void begin_stop(bg_worker_t *w)
{
    bg_list_t *pos, *tmp;

    w->stopping = true;
    close_listeners(w);
    /* An idle keep-alive connection is not closed at once: its client may be sending the
     * next request right now (a load generator's connection is idle for microseconds
     * between requests), and a close would then lose that request. It gets
     * BG_PROXY_STOP_IDLE_MS to send one, which is answered with `Connection: close`. */
    if (w->tq_ms[BG_CT_IDLE] > BG_PROXY_STOP_IDLE_MS)
        w->tq_ms[BG_CT_IDLE] = BG_PROXY_STOP_IDLE_MS;
    bg_list_foreach_safe(pos, tmp, &w->clients) {
        bg_client_t *c = BG_CONTAINER_OF(pos, bg_client_t, link);
        if (c->state == BG_CLIENT_IDLE && c->len == c->off)
            bg_client_close_idle_in(c);
        else if (c->state == BG_CLIENT_H2)
            bg_h2_shutdown(c); /* GOAWAY: streams in flight finish within the grace */
    }
    if (bg_list_is_empty(&w->clients)) {
        finish_stop(w);
        return;
    }
    uv_timer_start(&w->stop_timer, stop_timer_cb, w->grace_ms, 0);
}

static void async_cb(uv_async_t *a)
{
    bg_worker_t *w = a->data;

    if (atomic_load(&w->stop_requested)) {
        if (!w->stopping)
            begin_stop(w);
        return;
    }
    adopt(w);
}

/* ---- timer lists ---- */

static void tq_cb(uv_timer_t *t);

static void tq_arm(bg_worker_t *w, uint64_t due)
{
    uint64_t now = uv_now(&w->loop);

    if (w->tq_due != 0 && w->tq_due <= due)
        return;
    w->tq_due = due;
    uv_timer_start(&w->tq_timer, tq_cb, due > now ? due - now : 0, 0);
}

void bg_timer_start(bg_worker_t *w, bg_tnode_t *n, bg_tkind_t kind)
{
    if (!bg_list_is_empty(&n->link))
        bg_list_remove(&n->link);
    n->deadline_ms = uv_now(&w->loop) + w->tq_ms[kind];
    bg_list_insert_tail(&w->tq[kind], &n->link);
    tq_arm(w, n->deadline_ms);
}

void bg_timer_stop(bg_tnode_t *n)
{
    if (!bg_list_is_empty(&n->link)) {
        bg_list_remove(&n->link);
        bg_list_init(&n->link);
    }
}

static void tq_cb(uv_timer_t *t)
{
    bg_worker_t *w = t->data;
    uint64_t now = uv_now(&w->loop), next = 0;

    w->tq_due = 0;
    for (int k = 0; k < BG_T_KINDS; k++) {
        while (!bg_list_is_empty(&w->tq[k])) {
            bg_tnode_t *n = BG_CONTAINER_OF(w->tq[k].next, bg_tnode_t, link);
            if (n->deadline_ms > now)
                break;
            bg_timer_stop(n);
            if (k < BG_UT_CONNECT)
                bg_client_on_timer(BG_CONTAINER_OF(n, bg_client_t, tn), (bg_tkind_t)k);
            else
                bg_upstream_on_timer(BG_CONTAINER_OF(n, bg_upstream_t, tn), (bg_tkind_t)k);
        }
    }
    for (int k = 0; k < BG_T_KINDS; k++) {
        if (bg_list_is_empty(&w->tq[k]))
            continue;
        bg_tnode_t *n = BG_CONTAINER_OF(w->tq[k].next, bg_tnode_t, link);
        if (next == 0 || n->deadline_ms < next)
            next = n->deadline_ms;
    }
    if (next)
        tq_arm(w, next);
}

/* ---- accepting ---- */

static void on_listen_readable(uv_poll_t *h, int status, int events);

static bool over_budget(const bg_worker_t *w)
{
    return atomic_load_explicit(&w->proxy->n_clients, memory_order_relaxed) >=
           w->proxy->client_max;
}

/* Takes one client place of the process-wide budget (workers race for the last one). */
static bool reserve_client(bg_worker_t *w)
{
    if (atomic_fetch_add_explicit(&w->proxy->n_clients, 1, memory_order_relaxed) <
        w->proxy->client_max)
        return true;
    atomic_fetch_sub_explicit(&w->proxy->n_clients, 1, memory_order_relaxed);
    return false;
}

static void accept_retry_cb(uv_timer_t *t)
{
    bg_worker_accept_resume(t->data);
}

/* Stops reading the listeners: new connections wait in the kernel's backlog (and past it
 * the client's SYN retries) instead of being accepted and closed. */
static void accept_pause(bg_worker_t *w, const char *why)
{
    if (w->accept_paused)
        return;
    w->accept_paused = true;
    for (int k = 0; k < BG_LISTENERS; k++)
        if (w->has_listener[k])
            uv_poll_stop(&w->listeners[k]);
    uv_timer_start(&w->accept_timer, accept_retry_cb, ACCEPT_RETRY_MS, ACCEPT_RETRY_MS);
    bg_log(BG_LOG_WARN, "proxy", "accepting paused worker=%u reason=%s clients=%" PRIu64
           " max=%" PRIu64, w->index, why,
           atomic_load_explicit(&w->proxy->n_clients, memory_order_relaxed),
           w->proxy->client_max);
}

void bg_worker_accept_resume(bg_worker_t *w)
{
    if (!w->accept_paused || w->stopping || over_budget(w))
        return;
    w->accept_paused = false;
    uv_timer_stop(&w->accept_timer);
    for (int k = 0; k < BG_LISTENERS; k++)
        if (w->has_listener[k])
            uv_poll_start(&w->listeners[k], UV_READABLE, on_listen_readable);
    bg_log(BG_LOG_INFO, "proxy", "accepting resumed worker=%u clients=%" PRIu64, w->index,
           atomic_load_explicit(&w->proxy->n_clients, memory_order_relaxed));
}

static void on_listen_readable(uv_poll_t *h, int status, int events)
{
    bg_worker_t *w = h->data;
    uint8_t k = h == &w->listeners[0] ? 0 : 1;
    struct sockaddr_storage ss;

    (void)events;
    if (status < 0) {
        bg_log(BG_LOG_WARN, "proxy", "listener poll failed err=%s", uv_strerror(status));
        return;
    }
    for (int i = 0; i < ACCEPT_BATCH && !w->stopping; i++) {
        socklen_t len = sizeof(ss);
        int fd;
        if (!reserve_client(w)) {
            accept_pause(w, "connection limit");
            return;
        }
        fd = accept4(w->listen_fd[k], (struct sockaddr *)&ss, &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            atomic_fetch_sub_explicit(&w->proxy->n_clients, 1, memory_order_relaxed);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                accept_pause(w, bg_strerror(-errno)); /* retried every ACCEPT_RETRY_MS */
                return;
            }
            bg_log(BG_LOG_WARN, "proxy", "accept failed err=%s", bg_strerror(-errno));
            return;
        }
        bg_client_accept(w, fd, (struct sockaddr *)&ss, k); /* owns the place now */
    }
}

int bg_worker_init(bg_worker_t *w, bg_proxy_t *p, unsigned index)
{
    int rc;

    w->proxy = p;
    w->index = index;
    w->cfg = &p->opts.limits;
    w->buf_size = 32 * 1024;
    if (w->buf_size < w->cfg->max_header_bytes + 4096)
        w->buf_size = w->cfg->max_header_bytes + 4096;
    bg_list_init(&w->clients);
    bg_list_init(&w->pools);
    bg_buf_init(&w->alog_buf);
    w->rng[0] = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)w << 17) ^ 0x9e3779b97f4a7c15ULL;
    w->rng[1] = bg_now_us() * 0xbf58476d1ce4e5b9ULL + index + 1;
    if ((rc = uv_loop_init(&w->loop)) < 0)
        return rc;
    uv_async_init(&w->loop, &w->async, async_cb);
    w->async.data = w;
    uv_timer_init(&w->loop, &w->drain_timer);
    w->drain_timer.data = w;
    uv_timer_init(&w->loop, &w->stop_timer);
    w->stop_timer.data = w;
    uv_timer_init(&w->loop, &w->housekeep_timer);
    w->housekeep_timer.data = w;
    uv_timer_init(&w->loop, &w->accept_timer);
    w->accept_timer.data = w;
    uv_timer_init(&w->loop, &w->tq_timer);
    w->tq_timer.data = w;
    bg_transport_worker_init(w);
    for (int k = 0; k < BG_T_KINDS; k++)
        bg_list_init(&w->tq[k]);
    w->tq_ms[BG_CT_HEADER] = w->cfg->header_timeout_ms;
    w->tq_ms[BG_CT_IDLE] = w->cfg->idle_timeout_ms;
    w->tq_ms[BG_CT_LINGER] = BG_LINGER_MS;
    w->tq_ms[BG_CT_WRITE] = w->cfg->write_timeout_ms ? w->cfg->write_timeout_ms : 60000;
    w->tq_ms[BG_UT_CONNECT] = w->cfg->connect_timeout_ms;
    w->tq_ms[BG_UT_RESPONSE] = w->cfg->response_timeout_ms;
    w->tq_ms[BG_UT_POOL_IDLE] = w->cfg->pool_idle_timeout_ms;
    uv_timer_start(&w->housekeep_timer, housekeep_cb, HOUSEKEEP_MS, HOUSEKEEP_MS);
    for (int k = 0; k < BG_LISTENERS; k++) {
        if (!w->has_listener[k])
            continue;
        if ((rc = uv_poll_init_socket(&w->loop, &w->listeners[k], w->listen_fd[k])) < 0) {
            w->has_listener[k] = false;
            return rc;
        }
        w->listeners[k].data = w;
        if ((rc = uv_poll_start(&w->listeners[k], UV_READABLE, on_listen_readable)) < 0)
            return rc;
    }
    adopt(w);
    return 0;
}

void bg_worker_fini(bg_worker_t *w)
{
    bg_snapref_t *s, *n;

    if (uv_loop_alive(&w->loop)) {
        /* never started: close what init opened */
        finish_stop(w);
        close_listeners(w);
        uv_run(&w->loop, UV_RUN_DEFAULT);
    }
    if (uv_loop_close(&w->loop) != 0)
        bg_log(BG_LOG_ERROR, "proxy", "worker=%u loop closed with live handles", w->index);
    release_free_lists(w);
    bg_access_flush(w); /* lines of exchanges released while the loop closed */
    bg_buf_fini(&w->alog_buf);
    bg_transport_worker_fini(w);
    for (s = w->old; s; s = n) {
        n = s->next;
        snapref_free(s);
    }
    w->old = NULL;
    if (w->cur)
        snapref_free(w->cur);
    w->cur = NULL;
}
