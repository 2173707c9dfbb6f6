/* Per-worker keep-alive pools, one per target: idle connections are reused LIFO (the
 * warmest first), capped per target, retired after an idle timeout. On a new snapshot,
 * pools whose target left every weighted (or preview) slot, or is draining, close their
 * idle connections at once and whatever is still busy after the service's drain time. */
#include <string.h>

#include "base/base.h"
#include "proxy/internal.h"
#include "base/compat.h"

#define DRAIN_TICK_MS 100
#define DEFAULT_DRAIN_MS 30000

static void pool_free(bg_pool_t *pool)
{
    bg_list_remove(&pool->link);
    bg_target_unref(pool->target);
    free(pool);
}

bg_pool_t *bg_pool_get(bg_worker_t *w, bg_target_t *t)
{
    bg_list_t *pos;
    bg_pool_t *pool;

    bg_list_foreach(pos, &w->pools) {
        pool = BG_CONTAINER_OF(pos, bg_pool_t, link);
        if (pool->target == t)
            return pool;
    }
    pool = BG_NEW(bg_pool_t);
    pool->target = bg_target_ref(t);
    bg_list_init(&pool->conns);
    bg_list_init(&pool->idle);
    bg_list_insert_head(&w->pools, &pool->link);
    return pool;
}

void bg_pool_detach(bg_upstream_t *up)
{
    bg_pool_t *pool = up->pool;

    if (!pool)
        return;
    if (!bg_list_is_empty(&up->idle_link)) {
        bg_list_remove(&up->idle_link);
        pool->n_idle--;
    }
    bg_list_remove(&up->link);
    pool->n_conns--;
    atomic_fetch_sub_explicit(&pool->target->conns, 1, memory_order_relaxed);
    up->pool = NULL;
}

bg_upstream_t *bg_pool_take(bg_pool_t *pool)
{
    bg_upstream_t *up;

    if (pool->draining || bg_list_is_empty(&pool->idle))
        return NULL;
    up = BG_CONTAINER_OF(pool->idle.next, bg_upstream_t, idle_link);
    bg_list_remove(&up->idle_link);
    pool->n_idle--;
    bg_timer_stop(&up->tn);
    up->state = BG_UP_ACTIVE;
    up->reused = true;
    return up;
}

void bg_pool_put(bg_upstream_t *up)
{
    bg_worker_t *w = up->w;
    bg_pool_t *pool = up->pool;

    if (!pool || pool->draining || w->stopping || up->len != up->off ||
        atomic_load_explicit(&w->proxy->n_upstreams, memory_order_relaxed) >
            w->proxy->upstream_max ||
        pool->n_idle >= (w->cfg->pool_idle_per_target ? w->cfg->pool_idle_per_target : 256)) {
        bg_upstream_close(up);
        return;
    }
    up->ex = NULL;
    up->state = BG_UP_IDLE;
    bg_worker_buf_put(w, up->buf);
    up->buf = NULL;
    up->len = up->off = 0;
    bg_list_insert_head(&pool->idle, &up->idle_link);
    pool->n_idle++;
    up->idle_since_ms = uv_now(&w->loop);
    bg_timer_start(w, &up->tn, BG_UT_POOL_IDLE);
    bg_upstream_update_reading(up);
}

bool bg_pool_shed_idle(bg_worker_t *w)
{
    bg_upstream_t *oldest = NULL;
    bg_list_t *pos;

    bg_list_foreach(pos, &w->pools) {
        bg_pool_t *pool = BG_CONTAINER_OF(pos, bg_pool_t, link);
        bg_upstream_t *up;
        if (bg_list_is_empty(&pool->idle))
            continue;
        up = BG_CONTAINER_OF(pool->idle.prev, bg_upstream_t, idle_link); /* LIFO: tail */
        if (!oldest || up->idle_since_ms < oldest->idle_since_ms)
            oldest = up;
    }
    if (!oldest)
        return false;
    bg_upstream_close(oldest);
    return true;
}

static void close_idle(bg_pool_t *pool)
{
    while (!bg_list_is_empty(&pool->idle))
        bg_upstream_close(BG_CONTAINER_OF(pool->idle.next, bg_upstream_t, idle_link));
}

/* Is <t> still in a weighted slot of <snap>? */
static bool target_in_use(const bg_route_snapshot_t *snap, const bg_target_t *t,
                          uint32_t *drain_ms)
{
    *drain_ms = DEFAULT_DRAIN_MS;
    if (atomic_load(&((bg_target_t *)t)->draining))
        return false;
    for (size_t i = 0; i < snap->n_services; i++) {
        const bg_route_service_t *svc = &snap->services[i];
        if (strcmp(svc->name, t->service) != 0)
            continue;
        if (svc->drain_ms)
            *drain_ms = svc->drain_ms;
        for (int s = 0; s < 2; s++) {
            const bg_route_slot_t *sl = &svc->slot[s];
            if (sl->weight == 0)
                continue; /* docs/design.md §7: a slot at weight 0 drains (even as preview) */
            for (size_t k = 0; k < sl->n_targets; k++)
                if (sl->targets[k] == t)
                    return true;
        }
    }
    return false;
}

void bg_pool_adopt(bg_worker_t *w, const bg_route_snapshot_t *snap)
{
    bg_list_t *pos, *tmp;
    uint64_t now = uv_now(&w->loop);

    bg_list_foreach_safe(pos, tmp, &w->pools) {
        bg_pool_t *pool = BG_CONTAINER_OF(pos, bg_pool_t, link);
        uint32_t drain_ms;
        if (target_in_use(snap, pool->target, &drain_ms)) {
            pool->draining = false;
            continue;
        }
        if (!pool->draining) {
            pool->draining = true;
            pool->drain_deadline_ms = now + drain_ms;
        }
        close_idle(pool);
        if (pool->n_conns == 0) {
            pool_free(pool);
            continue;
        }
        if (!w->drain_timer_on) {
            w->drain_timer_on = true;
            uv_timer_start(&w->drain_timer, bg_pool_drain_tick, DRAIN_TICK_MS, DRAIN_TICK_MS);
        }
    }
}

static void abort_conn(bg_upstream_t *up)
{
    bg_exchange_t *ex = up->ex;

    if (!ex) {
        bg_upstream_close(up);
        return;
    }
    bg_log(BG_LOG_INFO, "proxy", "drain deadline: closing in-flight request target=%s",
           up->pool ? up->pool->target->addr_str : "?");
    bg_exchange_fail(ex, 502, "target drained");
}

void bg_pool_drain_tick(uv_timer_t *t)
{
    bg_worker_t *w = t->data;
    bg_list_t *pos, *tmp;
    uint64_t now = uv_now(&w->loop);
    bool any = false;

    bg_list_foreach_safe(pos, tmp, &w->pools) {
        bg_pool_t *pool = BG_CONTAINER_OF(pos, bg_pool_t, link);
        if (!pool->draining)
            continue;
        if (now >= pool->drain_deadline_ms) {
            while (!bg_list_is_empty(&pool->conns))
                abort_conn(BG_CONTAINER_OF(pool->conns.next, bg_upstream_t, link));
        }
        if (pool->n_conns == 0)
            pool_free(pool);
        else
            any = true;
    }
    if (!any) {
        uv_timer_stop(&w->drain_timer);
        w->drain_timer_on = false;
    }
}

void bg_pool_close_all(bg_worker_t *w)
{
    while (!bg_list_is_empty(&w->pools)) {
        bg_pool_t *pool = BG_CONTAINER_OF(w->pools.next, bg_pool_t, link);
        while (!bg_list_is_empty(&pool->conns)) {
            bg_upstream_t *up = BG_CONTAINER_OF(pool->conns.next, bg_upstream_t, link);
            if (up->ex)
                bg_exchange_fail(up->ex, 502, "proxy stopping");
            else
                bg_upstream_close(up);
            if (!bg_list_is_empty(&pool->conns) &&
                BG_CONTAINER_OF(pool->conns.next, bg_upstream_t, link) == up)
                bg_pool_detach(up);
        }
        pool_free(pool);
    }
}
