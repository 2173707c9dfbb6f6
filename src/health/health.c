/* The health checker (docs/design.md §4): a set of watched targets on the control loop, one timer
 * each, one check in flight per target at most. Results go through the thresholds; only a
 * transition writes target->healthy and calls the callback, once, with a reason. Passive
 * ejections (set by workers, announced by uv_async) are turned into transitions here.
 * Nothing here blocks. Every handle is closed with uv_close and memory is released in the
 * close callbacks; the checker itself goes away when the last one has run.
 */
#include "health/health.h"

#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "health/internal.h"
#include "base/compat.h"

/* Which path an HTTP check asks for. */
typedef enum path_mode {
    PATH_CONFIGURED = 0,    /* cfg.path (or "/") */
    PATH_TRY_READINESS = 1, /* actuator, no path: readiness group not yet seen */
    PATH_READINESS = 2,     /* the readiness group answered: keep it */
    PATH_ACTUATOR = 3,      /* readiness was 404: whole-system /actuator/health */
} path_mode_t;

typedef struct watch {
    bg_list_t link; /* in bg_health.watches while watched */
    bg_health_t *h;
    bg_target_t *t;         /* one ref, dropped at unwatch */
    bg_health_config_t cfg; /* cfg.path owned */
    path_mode_t path_mode;
    uv_timer_t timer;
    bg_check_t *check;         /* in flight, or NULL */
    uint64_t check_started_ms; /* monotonic */
    bool jittered;             /* the one-off offset after the first check was applied */
    bool healthy;              /* the checker's verdict (mirrors t->healthy) */
    bool passive_hold;         /* passively ejected: reset passive_failures on recovery */
    bool stale_check;          /* the check in flight began before a passive ejection */
    bg_health_info_t info;
} watch_t;

struct bg_health {
    uv_loop_t *loop;
    bg_health_cb cb;
    void *ctx;
    uv_async_t passive;
    bg_list_t watches;
    unsigned pending; /* async + watches + checks whose memory is not released */
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
    uint64_t rnd; /* xorshift state for jitter */
};

/* ---- memory release (close callbacks) ---- */

static void released(void *arg)
{
    bg_health_t *h = arg;
    BG_ASSERT(h->pending > 0);
    if (--h->pending > 0 || !h->closing)
        return;
    void (*cb)(void *) = h->close_cb;
    void *cb_arg = h->close_arg;
    free(h);
    if (cb)
        cb(cb_arg);
}

static void on_watch_timer_closed(uv_handle_t *handle)
{
    watch_t *w = handle->data;
    bg_health_t *h = w->h;
    free(w->cfg.path);
    free(w);
    released(h);
}

static void on_async_closed(uv_handle_t *handle)
{
    released(handle->data);
}

/* ---- helpers ---- */

static uint32_t next_rand(bg_health_t *h)
{
    h->rnd ^= h->rnd << 13;
    h->rnd ^= h->rnd >> 7;
    h->rnd ^= h->rnd << 17;
    return (uint32_t)(h->rnd >> 32);
}

static watch_t *find_watch(bg_health_t *h, const bg_target_t *t)
{
    bg_list_t *pos;
    bg_list_foreach(pos, &h->watches)
    {
        watch_t *w = BG_CONTAINER_OF(pos, watch_t, link);
        if (w->t == t)
            return w;
    }
    return NULL;
}

static const char *watch_path(const watch_t *w)
{
    switch (w->path_mode) {
    case PATH_CONFIGURED:
        return w->cfg.path ? w->cfg.path : "/";
    case PATH_TRY_READINESS:
    case PATH_READINESS:
        return BG_HEALTH_PATH_READINESS;
    case PATH_ACTUATOR:
        return BG_HEALTH_PATH_ACTUATOR;
    }
    return "/";
}

static void set_reason(watch_t *w, const char *reason)
{
    snprintf(w->info.reason, sizeof(w->info.reason), "%s", reason);
}

/* Applies a transition once: target flag, log, callback. */
static void transition(watch_t *w, bool healthy, const char *reason)
{
    w->healthy = healthy;
    w->info.healthy = healthy;
    set_reason(w, reason);
    bg_target_set_healthy(w->t, healthy);
    bg_log(BG_LOG_INFO, "health", "transition service=%s target=%s healthy=%s reason=\"%s\"",
           w->t->service ? w->t->service : "-", w->t->addr_str, healthy ? "true" : "false", reason);
    if (w->h->cb)
        w->h->cb(w->h->ctx, w->t, healthy, reason);
}

/* ---- scheduling ---- */

static void tick(uv_timer_t *timer);

static void schedule_next(watch_t *w)
{
    uint64_t elapsed = bg_now_ms() - w->check_started_ms;
    uint64_t delay = elapsed < w->cfg.interval_ms ? w->cfg.interval_ms - elapsed : 0;
    if (!w->jittered) {
        /* Targets watched together would otherwise stay in lockstep forever. */
        uint32_t span = w->cfg.interval_ms / 10;
        if (span > 1000)
            span = 1000;
        delay += span ? next_rand(w->h) % (span + 1) : 0;
        w->jittered = true;
    }
    uv_timer_start(&w->timer, tick, delay, 0);
}

static void record_result(watch_t *w, const bg_check_result_t *res)
{
    bg_health_info_t *in = &w->info;
    in->checks++;
    in->last_status = res->status;
    in->last_check_ms = bg_wall_ms();
    size_t n =
        res->body_len < sizeof(in->last_body) - 1 ? res->body_len : sizeof(in->last_body) - 1;
    memcpy(in->last_body, res->body, n);
    in->last_body[n] = '\0';
    if (res->ok) {
        in->consecutive_ok++;
        in->consecutive_fail = 0;
    } else {
        in->failures++;
        in->consecutive_fail++;
        in->consecutive_ok = 0;
        set_reason(w, res->reason);
    }
}

static void apply_thresholds(watch_t *w, const char *reason)
{
    bg_health_info_t *in = &w->info;
    if (!w->healthy && in->consecutive_ok >= w->cfg.healthy_threshold) {
        if (w->passive_hold) {
            atomic_store_explicit(&w->t->passive_failures, 0, memory_order_relaxed);
            w->passive_hold = false;
        }
        transition(w, true, reason);
    } else if (w->healthy && in->consecutive_fail >= w->cfg.unhealthy_threshold) {
        transition(w, false, reason);
    }
}

/* Readiness fallback: a 404 on the readiness group means the app has none; switch to the
 * whole-system endpoint for good and check again at once (the 404 is not a failure). */
static bool handle_readiness_probe(watch_t *w, const bg_check_result_t *res)
{
    if (w->path_mode != PATH_TRY_READINESS || res->status == 0)
        return false;
    if (res->status != 404) {
        w->path_mode = PATH_READINESS;
        return false;
    }
    w->path_mode = PATH_ACTUATOR;
    bg_log(BG_LOG_INFO, "health", "readiness-fallback target=%s path=%s", w->t->addr_str,
           BG_HEALTH_PATH_ACTUATOR);
    uv_timer_start(&w->timer, tick, 0, 0);
    return true;
}

static void check_done(void *arg, const bg_check_result_t *res)
{
    watch_t *w = arg;
    bool stale = w->stale_check;
    w->check = NULL;
    w->stale_check = false;
    if (handle_readiness_probe(w, res))
        return;
    if (stale && res->ok) {
        /* It passed before the worker saw failures: not evidence of recovery. */
        schedule_next(w);
        return;
    }
    record_result(w, res);
    apply_thresholds(w, res->reason);
    /* The callback may have unwatched <w> or closed the checker; the timer is then closing
     * and must not be restarted. */
    if (!uv_is_closing((uv_handle_t *)&w->timer))
        schedule_next(w);
}

static void tick(uv_timer_t *timer)
{
    watch_t *w = timer->data;
    if (w->check)
        return;
    bg_check_spec_t spec = {
        .type = w->cfg.type,
        .format = w->cfg.format,
        .path = watch_path(w),
        .host = w->t->addr_str,
        .addr = (const struct sockaddr *)&w->t->addr,
        .timeout_ms = w->cfg.timeout_ms,
        .matcher = w->cfg.matcher,
        .n_matcher = w->cfg.n_matcher,
    };
    w->check_started_ms = bg_now_ms();
    w->h->pending++;
    w->check = bg_check_start(w->h->loop, &spec, check_done, w, released, w->h);
}

/* ---- passive ejection ---- */

/* Handles one ejected watch; returns true if the callback ran (it may have changed the
 * watch list). */
static bool passive_eject(watch_t *w)
{
    w->passive_hold = true;
    w->info.consecutive_ok = 0;
    w->stale_check = w->check != NULL;
    if (!w->healthy) {
        bg_target_set_healthy(w->t, false);
        return false;
    }
    char reason[96];
    snprintf(reason, sizeof(reason), "passive: %u consecutive failures",
             atomic_load_explicit(&w->t->passive_failures, memory_order_relaxed));
    transition(w, false, reason);
    return true;
}

static void passive_cb(uv_async_t *async)
{
    bg_health_t *h = async->data;
    bg_list_t *pos;
    bool rescan = true;
    /* The callback may unwatch any target or close the checker, so after it ran the scan
     * starts over; handled targets have passive_ejected cleared and are skipped. */
    while (rescan) {
        rescan = false;
        bg_list_foreach(pos, &h->watches)
        {
            watch_t *w = BG_CONTAINER_OF(pos, watch_t, link);
            if (atomic_exchange_explicit(&w->t->passive_ejected, 0, memory_order_relaxed) &&
                passive_eject(w)) {
                rescan = true;
                break;
            }
        }
    }
}

/* ---- public API ---- */

bg_health_t *bg_health_new(uv_loop_t *loop, bg_health_cb cb, void *ctx)
{
    bg_health_t *h = BG_NEW(bg_health_t);
    h->loop = loop;
    h->cb = cb;
    h->ctx = ctx;
    bg_list_init(&h->watches);
    BG_ASSERT(uv_async_init(loop, &h->passive, passive_cb) == 0);
    h->passive.data = h;
    h->pending = 1;
    h->rnd = bg_now_us() | 1;
    return h;
}

uv_async_t *bg_health_passive_async(bg_health_t *h)
{
    return &h->passive;
}

static void config_copy(bg_health_config_t *dst, const bg_health_config_t *src)
{
    *dst = *src;
    dst->path = src->path && *src->path ? bg_strdup(src->path) : NULL;
    if (dst->interval_ms == 0)
        dst->interval_ms = 5000;
    if (dst->timeout_ms == 0)
        dst->timeout_ms = 2000;
    if (dst->healthy_threshold == 0)
        dst->healthy_threshold = 1;
    if (dst->unhealthy_threshold == 0)
        dst->unhealthy_threshold = 1;
    if (dst->n_matcher > BG_MATCHER_MAX)
        dst->n_matcher = BG_MATCHER_MAX;
}

int bg_health_watch(bg_health_t *h, bg_target_t *t, const bg_health_config_t *cfg)
{
    if (h->closing)
        return BG_ECONFLICT; /* between bg_health_close() and its callback */
    if (find_watch(h, t))
        return BG_EEXIST;
    watch_t *w = BG_NEW(watch_t);
    w->h = h;
    w->t = bg_target_ref(t);
    config_copy(&w->cfg, cfg);
    if (w->cfg.type == BG_HEALTH_HTTP && w->cfg.format == BG_HEALTH_FORMAT_ACTUATOR && !w->cfg.path)
        w->path_mode = PATH_TRY_READINESS;
    w->healthy = bg_target_is_healthy(t);
    w->info.watched = true;
    w->info.healthy = w->healthy;
    BG_ASSERT(uv_timer_init(h->loop, &w->timer) == 0);
    w->timer.data = w;
    h->pending++;
    bg_list_insert_tail(&h->watches, &w->link);
    uv_timer_start(&w->timer, tick, 0, 0);
    return 0;
}

static void unwatch(watch_t *w)
{
    bg_list_remove(&w->link);
    if (w->check) {
        bg_check_abort(w->check);
        w->check = NULL;
    }
    bg_target_unref(w->t);
    w->t = NULL;
    uv_close((uv_handle_t *)&w->timer, on_watch_timer_closed);
}

void bg_health_unwatch(bg_health_t *h, bg_target_t *t)
{
    watch_t *w = find_watch(h, t);
    if (w)
        unwatch(w);
}

void bg_health_info(bg_health_t *h, const bg_target_t *t, bg_health_info_t *out)
{
    watch_t *w = find_watch(h, t);
    if (!w) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = w->info;
}

void bg_health_close(bg_health_t *h, void (*cb)(void *arg), void *arg)
{
    BG_ASSERT(!h->closing);
    h->closing = true;
    h->close_cb = cb;
    h->close_arg = arg;
    while (!bg_list_is_empty(&h->watches))
        unwatch(BG_CONTAINER_OF(h->watches.next, watch_t, link));
    uv_close((uv_handle_t *)&h->passive, on_async_closed);
}
